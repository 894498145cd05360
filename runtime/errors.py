"""Invocation errors on top of the shared envelope (pixell.api.exceptions)."""

from pixell.errors import Conflict, PixellError

__all__ = ["InvocationTimeout", "NotRunning", "RuntimeUnavailable"]


class NotRunning(Conflict):
    code = "NOT_RUNNING"
    default_message = "No version of this agent app is running; deploy one first"


class InvocationTimeout(PixellError):
    status_code = 504
    code = "INVOCATION_TIMEOUT"
    default_message = "The agent did not answer in time"


class RuntimeUnavailable(PixellError):
    status_code = 503
    code = "RUNTIME_UNAVAILABLE"
    default_message = "The agent runtime could not be reached"
