"""templates/base.html, the dashboard shell every page extends."""

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import engines
from django.test import RequestFactory

from tests.factories import UserFactory

NAV = [
    "Overview",
    "Agent apps",
    "Deployments",
    "Credits",
    "Usage",
    "API keys",
    "Members",
    "Settings",
]


def _render(user, path="/dashboard/", **context):
    request = RequestFactory().get(path)
    request.user = user
    template = engines["django"].from_string(
        '{% extends "base.html" %}{% block content %}<p id="page">page body</p>{% endblock %}'
    )
    return template.render({"user": user, **context}, request)


def test_anonymous_pages_get_the_content_without_the_dashboard_nav():
    html = _render(AnonymousUser(), path="/verify-email/abc/")
    assert '<p id="page">page body</p>' in html
    assert 'aria-label="Dashboard"' not in html and "Sign out" not in html


@pytest.mark.django_db
def test_signed_in_users_get_the_nav_and_a_csrf_protected_sign_out():
    user = UserFactory(email="ann@example.com")
    html = _render(
        user, path="/dashboard/deployments/", organization=type("Org", (), {"name": "Acme"})()
    )
    assert '<p id="page">page body</p>' in html
    labels = re.findall(r'<a href="/dashboard/[^"]*"[^>]*>([^<]+)</a>', html)
    assert labels == NAV
    assert re.search(r'<a href="/dashboard/deployments/" aria-current="page">Deployments</a>', html)
    assert re.search(
        r'<form method="post" action="/logout/"><input type="hidden" name="csrfmiddlewaretoken"',
        html,
    )
    assert "Acme · ann@example.com" in html
    assert 'href="/admin/"' not in html  # only staff see the admin link


@pytest.mark.django_db
def test_staff_see_the_admin_link():
    assert 'href="/admin/">Admin</a>' in _render(UserFactory(is_staff=True))


@pytest.mark.django_db
def test_the_shell_loads_nothing_from_elsewhere():
    html = _render(UserFactory())
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html)
    assert "<link" not in html and "<script" not in html  # styles are inline, no fonts or CDNs
