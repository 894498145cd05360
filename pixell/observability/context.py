"""Request and task context carried by context variables, so every log line can name them.

The request id travels to the worker in the Celery message's headers (``before_task_publish``)
and is restored around the task (``task_prerun``/``task_postrun``), so the worker's lines for work
a request enqueued carry that request's id.
"""

import re
import uuid
from contextvars import ContextVar

REQUEST_ID_HEADER = "X-Request-ID"
CELERY_HEADER = "pixell_request_id"

# At most 128 characters that are safe in a header and a log line: no spaces, quotes or controls.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")

request_id_var: ContextVar[str | None] = ContextVar("pixell_request_id", default=None)
task_name_var: ContextVar[str | None] = ContextVar("pixell_task_name", default=None)
deployment_id_var: ContextVar[str | None] = ContextVar("pixell_deployment_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(incoming: str | None) -> str:
    """The caller's id when well formed (a proxy or client can then follow a request through),
    otherwise a new one: never a value that could forge or break a log line."""
    if incoming and _SAFE_REQUEST_ID.match(incoming):
        return incoming
    return new_request_id()
