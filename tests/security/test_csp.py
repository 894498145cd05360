"""Content-Security-Policy (docs/DECISIONS.md "Content-Security-Policy"): dashboard, admin and API
docs pages allow scripts from our own origin only, and no page we render carries an inline script
(which the policy would block)."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.dashboard.conftest import (  # noqa: F401 - fixtures
    anon_page,
    app,
    deployment,
    owner_page,
    session_client,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DASHBOARD_PAGES = [
    "/dashboard/",
    "/dashboard/apps/",
    "/dashboard/apps/{app}/",
    "/dashboard/deployments/",
    "/dashboard/deployments/{deployment}/",
    "/dashboard/credits/",
    "/dashboard/usage/",
    "/dashboard/api-keys/",
    "/dashboard/members/",
    "/dashboard/settings/",
]
SIGNED_OUT_PAGES = ["/login/", "/signup/", "/password-reset/", "/resend-verification/"]
ADMIN_PAGES = [
    "/admin/",
    "/admin/accounts/user/",
    "/admin/accounts/user/{staff}/change/",
    "/admin/agentapps/agentapp/{app}/change/",
    "/admin/organizations/organization/add/",
]


class _Scripts(HTMLParser):
    """Collects every <script> element's src and body, and every inline event handler."""

    def __init__(self):
        super().__init__()
        self.scripts: list[tuple[str | None, str]] = []
        self.handlers: list[str] = []
        self._open: list[str | None] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.handlers += [f"{tag}[{name}]" for name in attributes if name.startswith("on")]
        self.handlers += [
            f"{tag}[{name}]"
            for name, value in attributes.items()
            if name in ("href", "src", "action") and (value or "").strip().startswith("javascript:")
        ]
        if tag == "script":
            self._open = [attributes.get("src"), attributes.get("type")]
            self.scripts.append((attributes.get("src"), ""))

    def handle_data(self, data):
        if self._open is not None and self.scripts:
            src, body = self.scripts[-1]
            self.scripts[-1] = (src, body + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._open = None


def _inline_scripts(html: str) -> list[str]:
    parser = _Scripts()
    parser.feed(html)
    inline = [body.strip()[:80] for src, body in parser.scripts if not src]
    # A JSON data block (type="application/json") is not executed; none is rendered today, and
    # one would still need no exception: the check is on src alone.
    return inline + parser.handlers


def _directives(response) -> dict[str, list[str]]:
    header = response.get("Content-Security-Policy")
    assert header, f"{response.wsgi_request.path} sends no Content-Security-Policy"
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_own_scripts_only(response):
    directives = _directives(response)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts == ["'self'"], directives
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


def _check(client, path):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    _assert_own_scripts_only(response)
    assert _inline_scripts(response.content.decode()) == [], path
    return response


@pytest.fixture
def staff_page():
    return session_client(UserFactory(email="ops@example.com", is_staff=True, is_superuser=True))


@pytest.mark.parametrize("path", DASHBOARD_PAGES)
def test_dashboard_pages(owner_page, app, deployment, path):
    _check(owner_page, path.format(app=app.id, deployment=deployment.id))


@pytest.mark.parametrize("path", SIGNED_OUT_PAGES)
def test_signed_out_pages(anon_page, path):
    _check(anon_page, path)


@pytest.mark.parametrize("path", [*ADMIN_PAGES, "/admin/login/"])
def test_admin_pages(staff_page, app, path):
    staff = UserFactory(email="staff-target@example.com", is_staff=True)
    client = session_client() if path == "/admin/login/" else staff_page
    _check(client, path.format(staff=staff.pk, app=app.id))


def test_api_docs_page_and_its_script(anon_page):
    response = _check(anon_page, "/api/docs/")
    parser = _Scripts()
    parser.feed(response.content.decode())
    sources = [src for src, _ in parser.scripts]
    # Swagger UI's start-up script is a same-origin request of its own, not inline code.
    (init,) = [src for src in sources if "script" in src and "static" not in src]
    script = anon_page.get(init)
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content
    assert all(src.startswith("/") and not src.startswith("//") for src in sources), sources


def test_error_and_api_responses_carry_the_policy_too(anon_page):
    _assert_own_scripts_only(anon_page.get("/dashboard/apps/not-a-uuid/", follow=False))
    _assert_own_scripts_only(anon_page.get("/api/health"))


_SCRIPT_TAG = re.compile(r"<script\b[^>]*>", re.IGNORECASE)
_EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


def _template_files():
    for directory in django_settings.TEMPLATES[0]["DIRS"]:
        yield from sorted(p for p in Path(directory).rglob("*.html"))


def test_no_template_of_ours_holds_an_inline_script():
    files = list(_template_files())
    assert files, "no template found"
    offenders = []
    for path in files:
        text = path.read_text()
        offenders += [f"{path}: {tag}" for tag in _SCRIPT_TAG.findall(text) if "src=" not in tag]
        offenders += [f"{path}: {m}" for m in _EVENT_HANDLER.findall(text)]
        offenders += [f"{path}: javascript: URL" for _ in re.findall(r"javascript:", text)]
    assert offenders == []
