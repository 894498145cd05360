"""Deleting an app stops its agent: runtime listens to the app's deletion (it sits above agentapps,
which must not know it), and asks the runtime after the commit, outside the transaction."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from agentapps.models import AgentApp
from runtime import client


@receiver(post_delete, sender=AgentApp, dispatch_uid="runtime-stop-deleted-app")
def stop_deleted_app(sender, instance, **kwargs):
    app_id = instance.pk
    transaction.on_commit(lambda: client.app_stop(app_id), robust=True)
