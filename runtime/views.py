"""Dashboard: the app page's runtime panel (status, output, "Try it") and the Try-it action.

The app page lives in the composition package above this app (dashboard/app_pages.py), which asks
``app_page_runtime`` for the panel's context.
"""

import json

from django.conf import settings
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.dateparse import parse_datetime

from agentapps.selectors import agent_app_get
from pixell.api.viewsets import dashboard_view
from pixell.errors import PixellError
from runtime import selectors, services

_SESSION_KEY = "runtime-try-it"


def app_page_runtime(*, request, tenancy, app) -> dict:
    state = selectors.app_runtime_get(agent_app=app)
    state["started_at_dt"] = parse_datetime(state["started_at"]) if state["started_at"] else None
    try_it = request.session.pop(_SESSION_KEY, None) if hasattr(request, "session") else None
    if try_it and try_it.get("app_id") != str(app.id):
        try_it = None
    return {
        "agent_runtime": state,
        "try_it": try_it,
        "invocation_credits": settings.PIXELL_INVOCATION_CREDITS,
    }


@dashboard_view(methods=["POST"])
def app_try(request, tenancy, app_id):
    """Invoke the app's agent with the form's action and data; the answer is shown on the app page."""
    app = agent_app_get(organization=tenancy.organization, app_id=app_id)
    action = request.POST.get("action", "")[:200]
    data_text = request.POST.get("data", "").strip()
    outcome = {"app_id": str(app.id), "action": action, "data_text": data_text}
    try:
        data = json.loads(data_text) if data_text else {}
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        outcome["error"] = "Data must be a JSON object."
    else:
        try:
            result = services.invocation_run(
                organization=tenancy.organization, agent_app=app, action=action, data=data
            )
        except PixellError as exc:
            outcome["error"] = exc.message
        else:
            result = {**result, "id": str(result["id"])}
            result["data_json"] = json.dumps(result["data"], indent=2, ensure_ascii=False)
            outcome["result"] = result
    request.session[_SESSION_KEY] = outcome
    return HttpResponseRedirect(reverse("dashboard-app", args=[app.id]) + "#runtime")
