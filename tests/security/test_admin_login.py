"""/admin/login/ shares the API's per-account and per-address throttle and lock."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _admin_login(email, password, address="10.7.0.1"):
    return Client(REMOTE_ADDR=address).post(
        "/admin/login/?next=/admin/", {"username": email, "password": password}
    )


def test_admin_login_is_locked_with_the_api(settings):
    settings.PIXELL_LOGIN_MAX_FAILURES = 3
    staff = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    for n in range(3):
        response = _admin_login(staff.email, "wrong-password", f"10.7.1.{n}")
        assert response.status_code == 200  # the form again, with an error
    # The right password no longer signs in, on the admin or the API.
    locked = _admin_login(staff.email, PASSWORD, "10.7.2.1")
    assert locked.status_code == 200 and "_auth_user_id" not in locked.wsgi_request.session
    assert b"Too many failed login attempts" in locked.content
    api = APIClient(REMOTE_ADDR="10.7.2.2").post(
        "/api/auth/login", {"email": staff.email, "password": PASSWORD}, format="json"
    )
    assert api.status_code == 429


def test_admin_failures_count_per_address(settings):
    settings.PIXELL_LOGIN_MAX_FAILURES = 3
    staff = UserFactory(email="staff2@example.com", is_staff=True, is_superuser=True)
    for n in range(3):
        _admin_login(f"nobody{n}@example.com", "wrong-password", "10.7.3.1")
    response = _admin_login(staff.email, PASSWORD, "10.7.3.1")
    assert "_auth_user_id" not in response.wsgi_request.session
    ok = _admin_login(staff.email, PASSWORD, "10.7.3.2")
    assert ok.status_code == 302
