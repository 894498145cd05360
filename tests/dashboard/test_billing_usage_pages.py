"""Credits (balance, history, top-up through the checkout service and the sandbox page) and usage
(metrics, the server-rendered chart, activity, export)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CheckoutSession, TransactionType
from billing.services import credits_apply
from usage.models import UsageEventType, UsageExport
from usage.services import usage_event_record
from usage.views import bar_chart


@pytest.fixture
def sandbox(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.PIXELL_BILLING_SANDBOX = True


# --- credits ---------------------------------------------------------------------------------------------


def test_credits_page_shows_balance_history_and_packages_to_admins(admin_page, org):
    html = admin_page.get("/dashboard/credits/").content.decode()
    assert 'data-testid="credits-balance">100<' in html and "Signup credits" in html
    for package in ("starter", "growth", "scale"):
        assert f'data-package="{package}"' in html
    assert "25,000" in html and "200.00 USD" in html


def test_top_up_redirects_to_the_sandbox_checkout_and_paying_credits(
    admin_page, org, admin_user, sandbox
):
    response = admin_page.post("/dashboard/credits/", {"package": "growth"})
    checkout = CheckoutSession.objects.for_org(org).get()
    assert (checkout.package, checkout.credits, checkout.user, checkout.status) == (
        "growth",
        5000,
        admin_user,
        "pending",
    )
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"http://localhost:4000/billing/sandbox-checkout/{checkout.session_id}/"
    )
    # The sandbox page (the link's path on this server) pays through the webhook's fulfilment.
    page = admin_page.post(f"/billing/sandbox-checkout/{checkout.session_id}/", {"action": "pay"})
    assert page.status_code == 302
    html = admin_page.get("/dashboard/credits/").content.decode()
    assert 'data-testid="credits-balance">5,100<' in html and "Credit top-up" in html


def test_members_see_credits_but_cannot_top_up(member_page, org, sandbox):
    html = member_page.get("/dashboard/credits/").content.decode()
    assert "data-package=" not in html and "needs the admin role" in html
    assert member_page.post("/dashboard/credits/", {"package": "starter"}).status_code == 403
    assert not CheckoutSession.objects.for_org(org).exists()


def test_an_unknown_package_is_a_form_error(admin_page, org, sandbox):
    response = admin_page.post("/dashboard/credits/", {"package": "huge"})
    assert response.status_code == 400 and "Unknown package" in response.content.decode()


def test_no_payment_provider_is_explained_not_a_500(admin_page, org, settings):
    settings.STRIPE_SECRET_KEY, settings.PIXELL_BILLING_SANDBOX = "", False
    response = admin_page.post("/dashboard/credits/", {"package": "starter"})
    assert (
        response.status_code == 503
        and "no payment provider is configured" in response.content.decode()
    )


def test_history_is_paginated(member_page, org):
    from billing.views import HISTORY_PAGE

    for i in range(HISTORY_PAGE):
        credits_apply(
            organization=org, amount=1, type=TransactionType.BONUS, description=f"Gift {i}"
        )
    html = member_page.get("/dashboard/credits/").content.decode()
    assert "Gift 24" in html and "Signup credits" not in html
    cursor = re.search(r'href="\?cursor=([^"]+)"', html).group(1)
    older = member_page.get(f"/dashboard/credits/?cursor={cursor}").content.decode()
    assert "Signup credits" in older and "Gift 24" not in older


# --- usage ------------------------------------------------------------------------------------------------


def test_usage_page_shows_metrics_chart_and_activity(member_page, org, app):
    now = timezone.now()
    usage_event_record(
        organization=org,
        type=UsageEventType.INVOCATION,
        description="Agent 'x' invoked 7 times",
        value=7,
        credits=3,
        agent_app_id=app.id,
    )
    usage_event_record(
        organization=org,
        type=UsageEventType.INVOCATION,
        description="Older",
        value=2,
        credits=1,
        occurred_at=now - timedelta(days=3),
    )
    html = member_page.get("/dashboard/usage/").content.decode()
    assert "Agent &#x27;x&#x27; invoked 7 times" in html
    assert html.count("<svg") == 2 and html.count('<rect class="bar"') == 60  # 30 days × 2 charts
    assert "<title>" in html and "<script" not in html
    assert "9 in 30 days" in html  # invocations total
    assert "▲ +100.0%" in html


def test_usage_period_and_bad_days(member_page, org):
    html = member_page.get("/dashboard/usage/?days=7").content.decode()
    assert html.count('<rect class="bar"') == 14
    assert member_page.get("/dashboard/usage/?days=0").status_code == 400
    assert member_page.get("/dashboard/usage/?days=abc").status_code == 400


def test_admins_export_and_get_a_working_link(admin_page, org, app):
    today = timezone.now().date()
    response = admin_page.post(
        "/dashboard/usage/",
        {
            "format": "csv",
            "startDate": (today - timedelta(days=5)).isoformat(),
            "endDate": today.isoformat(),
        },
    )
    assert response.status_code == 200
    export = UsageExport.objects.for_org(org).get()
    link = re.search(r'href="([^"]+)" data-testid="export-link"', response.content.decode()).group(
        1
    )
    download = admin_page.get(link.replace("http://localhost:4000", ""))
    assert download.status_code == 200 and export.rows >= 1
    assert b"Created agent app" in b"".join(download.streaming_content)


def test_export_errors_and_roles(admin_page, member_page, org):
    response = admin_page.post(
        "/dashboard/usage/", {"format": "csv", "startDate": "2026-02-01", "endDate": "2026-01-01"}
    )
    assert response.status_code == 400 and "endDate" in response.content.decode()
    assert 'id="export-start"' not in member_page.get("/dashboard/usage/").content.decode()
    assert (
        member_page.post(
            "/dashboard/usage/",
            {"format": "csv", "startDate": "2026-01-01", "endDate": "2026-01-02"},
        ).status_code
        == 403
    )
    assert not UsageExport.objects.for_org(org).exists()


def test_bar_chart_geometry():
    points = [
        {"date": f"Jan {i:02d}", "credits": value}
        for i, value in enumerate([0, 5, 10, -3], start=1)
    ]
    chart = bar_chart(points, "credits")
    heights = [bar["height"] for bar in chart["bars"]]
    assert heights == [
        0,
        chart["plot_height"] / 2,
        chart["plot_height"],
        0,
    ]  # refunds (negative) draw as 0
    assert [bar["y"] + bar["height"] for bar in chart["bars"]] == [
        chart["plot_height"]
    ] * 4  # bars stand on the axis
    assert chart["max"] == 10 and chart["total"] == 15
    assert chart["bars"][-1]["label"] == "Jan 04"  # today is always labelled
    assert (
        bar_chart([{"date": "Jan 01", "credits": 0}], "credits")["bars"][0]["height"] == 0
    )  # no division by zero


def test_bar_chart_labels_are_at_most_eight():
    points = [{"date": f"D{i}", "invocations": i} for i in range(365)]
    assert sum(1 for bar in bar_chart(points, "invocations")["bars"] if bar["label"]) <= 8
