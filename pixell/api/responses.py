"""A DRF response that runs follow-up work once the server has sent it.

The WSGI server calls ``close()`` after the last byte is written (gunicorn, and Django's test client
too), so the caller's latency does not include the work, while it still runs in the request's
worker before that worker takes the next request on the connection. Work that must not be lost to a
killed worker belongs in a transaction before the answer instead (docs/DECISIONS.md, "Local agent
runtime and invocations").
"""

import logging
from collections.abc import Callable

from rest_framework.response import Response

from pixell.observability.context import request_id_var

logger = logging.getLogger(__name__)


class ResponseThen(Response):
    def __init__(self, data=None, *, then: Callable[[], object], label: str, **kwargs):
        """``label`` names the work in the error logged if it fails, for an operator to redo it."""
        super().__init__(data, **kwargs)
        self._then = then
        self._label = label
        # close() runs after the request middleware has reset the request's id: keep it for the
        # work's log lines.
        self._request_id = request_id_var.get()

    def close(self):
        then, self._then = self._then, None
        token = request_id_var.set(self._request_id)
        try:
            if then is not None:
                then()  # before super().close(): its request_finished tidies the DB connection
        except Exception:
            logger.exception("work after the response failed: %s", self._label)
        finally:
            request_id_var.reset(token)
            super().close()
