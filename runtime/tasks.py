"""The runtime app's Celery tasks: metering an answer the web process could not meter."""

import logging

from celery import shared_task
from django.db import DatabaseError

# runtime.services enqueues this task and the task calls back into it; modules are bound whichever
# of the two Python imports first (as in accounts).
from runtime import services

logger = logging.getLogger(__name__)

MAX_RETRIES = 12


@shared_task(
    bind=True,
    ignore_result=True,
    autoretry_for=(DatabaseError, OSError),  # transient: the database or the network
    retry_backoff=30,
    retry_backoff_max=3600,
    max_retries=MAX_RETRIES,
)
def invocation_meter_retry_task(self, **fields) -> None:
    """Charge an answered invocation (``services.invocation_meter_retried``), keyed by its id."""
    try:
        services.invocation_meter_retried(**fields)
    except (DatabaseError, OSError):
        if self.request.retries >= MAX_RETRIES:
            # Out of retries: say everything an operator needs to charge it by hand.
            logger.error("invocation could not be metered, giving up: %s", fields)
        raise
    except Exception:
        # Not transient (payer or app deleted, a bug): retrying cannot help.
        logger.exception("invocation could not be metered: %s", fields)
