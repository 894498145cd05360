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


def test_gunicorn_trusts_exactly_the_same_proxies(monkeypatch):
    from pixell import gunicorn_conf

    monkeypatch.setenv("PIXELL_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7")
    assert gunicorn_conf.trusted_proxies() == "10.0.0.0/8,192.0.2.7/32"
    monkeypatch.delenv("PIXELL_TRUSTED_PROXIES")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # gunicorn's own variable does not widen it
    assert gunicorn_conf.trusted_proxies() == ""


def _gunicorn_answer(tmp_path, trusted: str | None) -> int:
    """Status of a plain-http request from 127.0.0.1 claiming https in every header gunicorn
    believes (X-Forwarded-Proto, -Protocol, -Ssl), with PIXELL_HTTPS redirecting plain http."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("PIXELL_", "DJANGO"))
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="pixell.settings",
        DEBUG="false",
        SECRET_KEY="gunicorn-proxy-test-" + "x" * 40,
        PIXELL_HTTPS="true",
        PIXELL_DATA_DIR=str(tmp_path),
        PORT=f"127.0.0.1:{port}",
        PIXELL_SECOND_PORT="off",
        ALLOWED_HOSTS="*",
        FORWARDED_ALLOW_IPS="*",
    )
    if trusted is not None:
        environment["PIXELL_TRUSTED_PROXIES"] = trusted
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "pixell.wsgi:application", "-c", "python:pixell.gunicorn_conf",
         "--workers", "1", "--no-control-socket"],
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/not-a-route",
            headers={
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Protocol": "ssl",
                "X-Forwarded-Ssl": "on",
            },
        )

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(NoRedirect)
        deadline = time.monotonic() + 30
        while True:
            try:
                return opener.open(request, timeout=5).status
            except urllib.error.HTTPError as exc:
                return exc.code
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_gunicorn_believes_https_only_from_a_trusted_proxy(tmp_path):
    # Not trusted (even with FORWARDED_ALLOW_IPS=*): still plain http, redirected to https.
    assert _gunicorn_answer(tmp_path, trusted=None) == 301
    # 127.0.0.1 is a trusted proxy: its https claim stands, the request reaches the API (404).
    assert _gunicorn_answer(tmp_path, trusted="127.0.0.1") == 404
