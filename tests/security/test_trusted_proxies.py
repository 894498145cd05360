"""PIXELL_TRUSTED_PROXIES (docs/DECISIONS.md "Client address behind reverse proxies")."""

import ipaddress

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory
from rest_framework.test import APIClient

from pixell import env
from pixell.api.client import client_address

pytestmark = pytest.mark.django_db

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.0.2.7/32"))


def _request(peer, xff=None, **meta):
    extra = {"REMOTE_ADDR": peer, **meta}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().get("/api/x", **extra)


def test_unset_means_no_proxy_is_trusted(settings):
    settings.PIXELL_TRUSTED_PROXIES = ()
    assert client_address(_request("10.1.1.1", "203.0.113.5")) == "10.1.1.1"


def test_from_an_untrusted_peer_the_header_is_ignored(settings):
    settings.PIXELL_TRUSTED_PROXIES = PROXIES
    assert client_address(_request("198.51.100.9", "203.0.113.5")) == "198.51.100.9"


def test_right_most_untrusted_entry_is_the_client(settings):
    settings.PIXELL_TRUSTED_PROXIES = PROXIES
    # The left entry was written by the client itself: never believed.
    request = _request("10.1.1.1", "1.2.3.4, 203.0.113.5, 192.0.2.7,10.9.9.9")
    assert client_address(request) == "203.0.113.5"
    # Several headers are joined in order.
    assert client_address(_request("10.1.1.1", " 203.0.113.6 ")) == "203.0.113.6"


def test_all_entries_trusted_or_garbage_falls_back(settings):
    settings.PIXELL_TRUSTED_PROXIES = PROXIES
    assert client_address(_request("10.1.1.1", "10.2.2.2")) == "10.2.2.2"
    assert client_address(_request("10.1.1.1")) == "10.1.1.1"
    # A malformed entry is not an address to count under: the last believable hop is used.
    assert client_address(_request("10.1.1.1", "203.0.113.5, not-an-ip")) == "10.1.1.1"


def test_rate_limit_counts_the_forwarded_client(settings):
    settings.PIXELL_TRUSTED_PROXIES = PROXIES
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "2/m"
    proxy = APIClient(REMOTE_ADDR="10.0.0.1")
    for _ in range(2):
        proxy.get("/api/unknown", HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert proxy.get("/api/unknown", HTTP_X_FORWARDED_FOR="203.0.113.10").status_code == 429
    # Another client behind the same proxy has its own bucket.
    assert proxy.get("/api/unknown", HTTP_X_FORWARDED_FOR="203.0.113.11").status_code == 404


def test_login_lock_is_per_forwarded_client(settings, db):
    settings.PIXELL_TRUSTED_PROXIES = PROXIES
    settings.PIXELL_LOGIN_MAX_FAILURES = 2
    settings.PIXELL_RATE_LIMIT_ANONYMOUS = "1000/m"
    proxy = APIClient(REMOTE_ADDR="10.0.0.1")
    for n in range(3):
        response = proxy.post(
            "/api/auth/login",
            {"email": f"nobody{n}@example.com", "password": "wrong-password"},
            format="json",
            HTTP_X_FORWARDED_FOR="203.0.113.20",
        )
    assert response.status_code == 429
    other = proxy.post(
        "/api/auth/login",
        {"email": "nobody9@example.com", "password": "wrong-password"},
        format="json",
        HTTP_X_FORWARDED_FOR="203.0.113.21",
    )
    assert other.status_code == 401


def test_forwarded_proto_only_from_a_trusted_proxy(settings):
    settings.PIXELL_TRUSTED_PROXIES = PROXIES
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["*"]
    spoofed = APIClient(REMOTE_ADDR="198.51.100.9").get(
        "/api/unknown", HTTP_X_FORWARDED_PROTO="https"
    )
    assert spoofed.status_code == 301  # the header was ignored: still plain http
    proxied = APIClient(REMOTE_ADDR="10.0.0.1").get("/api/unknown", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 404


@pytest.mark.parametrize("raw", ["10.0.0.0/33", "proxy.internal", "10.0.0.1,,x", "1.2.3.4/8/9"])
def test_malformed_value_refuses_to_boot(monkeypatch, raw):
    monkeypatch.setenv("PIXELL_TRUSTED_PROXIES", raw)
    with pytest.raises(ImproperlyConfigured, match="PIXELL_TRUSTED_PROXIES"):
        env.get_networks("PIXELL_TRUSTED_PROXIES")


def test_networks_are_parsed(monkeypatch):
    monkeypatch.setenv("PIXELL_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 ,2001:db8::/32")
    nets = env.get_networks("PIXELL_TRUSTED_PROXIES")
    assert [str(n) for n in nets] == ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
    monkeypatch.delenv("PIXELL_TRUSTED_PROXIES")
    assert env.get_networks("PIXELL_TRUSTED_PROXIES") == ()
