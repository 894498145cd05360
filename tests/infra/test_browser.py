"""In a real browser (Debian's Chromium through Playwright, whose own browser download needs the
network): the API docs render with every outside request blocked, and an organization member signs
in to the dashboard."""

import os
from pathlib import Path

import pytest

from billing.models import TransactionType
from billing.services import credits_apply
from tests.factories import PASSWORD
from tests.infra.helpers import is_routed

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run",
]  # fmt: skip

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's Chromium is not installed at /usr/bin/chromium (`make test` installs it when run as root)",
    ),
]


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls of fixtures and tests
    # are still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.outside_requests = []
    # Anything the Content-Security-Policy blocked (an inline script, a foreign source) is reported
    # on the console; every test asserts there is none.
    page.csp_violations = []
    page.on(
        "console",
        lambda message: (
            page.csp_violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )

    def only_our_server(route):
        url = route.request.url
        if url.startswith(live_server.url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            page.outside_requests.append(url)
            route.abort()

    page.route("**/*", only_our_server)
    yield page
    context.close()


def test_api_docs_render_with_the_internet_blocked(page, live_server):
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Pixell Agent Cloud API" in page.inner_text(".swagger-ui .info .title")
    # Swagger UI works under the policy: an operation expands (its own script, not inline code).
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".opblock-body")
    assert page.outside_requests == []
    assert page.csp_violations == []


def test_admin_works_under_the_content_security_policy(page, live_server, db):
    from tests.factories import UserFactory

    staff = UserFactory(email="ops@example.com", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("input[name=username]", staff.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/accounts/user/")
    # The changelist's scripts run: selecting every row reveals the action counter.
    page.click("#action-toggle")
    page.wait_for_selector(".action-counter:has-text('selected')")
    page.goto(f"{live_server.url}/admin/accounts/user/{staff.pk}/change/")
    page.wait_for_selector("#user_form")
    assert page.outside_requests == []
    assert page.csp_violations == []


def test_member_signs_in_and_sees_the_overview_with_credits(page, live_server, owner, org):
    if not (is_routed("/login/") and is_routed("/dashboard/")):
        pytest.skip("the dashboard's /login/ and /dashboard/ pages are not routed in this build")
    credits_apply(
        organization=org, amount=1234, type=TransactionType.BONUS, description="Browser test"
    )
    org.refresh_from_db()

    page.goto(f"{live_server.url}/dashboard/")
    assert "/login/" in page.url  # signed-out visitors are sent to sign in
    page.locator("input[type=email], input[name=email], input[name=username]").first.fill(
        owner.email
    )
    page.locator("input[type=password]").first.fill(PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_url("**/dashboard/")

    text = page.inner_text("main")
    assert org.name in page.content()
    assert f"{org.credits}" in text or f"{org.credits:,}" in text, text
    assert page.locator('nav[aria-label="Dashboard"] >> text=Overview').count() == 1
    assert page.outside_requests == []
    assert page.csp_violations == []
