"""The Celery app and the one beat schedule.

Messages are only nudges: the database is the queue of record (CONTRACT §5), so beat's sweeps
pick up whatever a lost message or a killed worker left behind.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixell.settings")

app = Celery("pixell")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every periodic job of the product, in one place. Apps register their entries here.
app.conf.beat_schedule = {}
