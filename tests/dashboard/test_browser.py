"""The dashboard end to end in a real browser (Debian's Chromium through Playwright, as
tests/infra/test_browser.py): sign in, create an app, create an API key, top up through the sandbox
checkout and see the balance grow. Nothing is loaded from outside the server."""

import os
import re
from pathlib import Path

import pytest

from organizations.keys import api_key_hash
from organizations.models import ApiKey
from tests.factories import PASSWORD
from tests.infra.test_browser import CHROMIUM, browser, page  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"
    ),
]


def _balance(page) -> int:
    return int(page.inner_text('[data-testid="credits-balance"]').replace(",", ""))


def test_sign_in_create_app_and_key_then_top_up_through_the_sandbox(
    page, live_server, settings, owner, org, tmp_path
):
    # The sandbox checkout URL is built on PIXELL_PUBLIC_URL: point it at this live server.
    settings.PIXELL_PUBLIC_URL = live_server.url
    settings.PIXELL_BILLING_SANDBOX = True
    settings.STRIPE_SECRET_KEY = ""

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=email]", owner.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_url("**/dashboard/")
    before = _balance(page)

    # An agent app.
    page.click('nav[aria-label="Dashboard"] >> text=Agent apps')
    page.fill("#app-name", "Browser Bot")
    page.fill("#app-description", "Made in Chromium")
    page.click("form[action='/dashboard/apps/'] button[type=submit]")
    page.wait_for_url(re.compile(r".*/dashboard/apps/[0-9a-f-]{36}/$"))
    assert "Browser Bot" in page.inner_text("h1")
    assert "created" in page.inner_text(".messages")

    # An API key, shown once.
    page.click('nav[aria-label="Dashboard"] >> text=API keys')
    page.fill("#key-name", "CI")
    page.click("form[action='/dashboard/api-keys/'] button[type=submit]")
    raw = page.inner_text('[data-testid="new-api-key"]').strip()
    assert raw.startswith("pac_")
    assert ApiKey.objects.for_org(org).get(name="CI").key_hash == api_key_hash(raw)
    page.goto(f"{live_server.url}/dashboard/api-keys/")
    assert raw not in page.content() and raw[:12] in page.content()  # the preview only, from now on

    # A top-up through the sandbox checkout.
    page.click('nav[aria-label="Dashboard"] >> text=Credits')
    page.click('button[data-package="starter"]')
    page.wait_for_url("**/billing/sandbox-checkout/**")
    assert page.inner_text('[data-testid="credits"]').strip() == "1000"
    page.click("button[value=pay]")
    page.wait_for_url("**/billing/checkout/success/**")
    page.goto(f"{live_server.url}/dashboard/")
    assert _balance(page) == before + 1000
    assert "Purchased 1,000 credits" in page.inner_text("main")

    page.set_viewport_size({"width": 1280, "height": 900})
    shots = Path(os.environ.get("PIXELL_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    assert page.outside_requests == []
    assert page.csp_violations == []
