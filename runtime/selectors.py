"""Reads: what the runtime runs for an app (docs/CONTRACT.md §11's ``GET /api/agent-apps/:id/runtime``)."""

from runtime import client


def app_runtime_get(*, agent_app) -> dict:
    return client.app_status(agent_app.pk)
