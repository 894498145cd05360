"""Who the client is, behind reverse proxies (docs/DECISIONS.md "Client address behind reverse
proxies"): the one place that decides which address rate limits, login throttling, audit and logs
count under.

``PIXELL_TRUSTED_PROXIES`` lists the proxies' addresses/CIDRs. Only when the TCP peer is one of them
is ``X-Forwarded-For`` read, right to left, skipping entries that are themselves trusted proxies: the
first other entry is the client. Entries left of it were written by whoever connected to the first
proxy, i.e. possibly the client itself, so they are never believed. Unset: no proxy is trusted and
``X-Forwarded-For`` is ignored.
"""

import ipaddress
from functools import lru_cache

from django.conf import settings


@lru_cache(maxsize=4096)
def _parse(value: str):
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


def is_trusted_proxy(address: str) -> bool:
    proxies = settings.PIXELL_TRUSTED_PROXIES
    if not proxies or not address:
        return False
    parsed = _parse(address)
    if parsed is None:
        return False
    return any(parsed in network for network in proxies if network.version == parsed.version)


def peer_is_trusted_proxy(request) -> bool:
    """True when the request's TCP peer (REMOTE_ADDR) is a trusted reverse proxy."""
    return is_trusted_proxy(request.META.get("REMOTE_ADDR") or "")


def client_address(request) -> str:
    """The client's address: the peer, or behind trusted proxies the forwarded client."""
    peer = request.META.get("REMOTE_ADDR") or "unknown"
    if not is_trusted_proxy(peer):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    client = peer
    for entry in reversed([item.strip() for item in forwarded.split(",") if item.strip()]):
        parsed = _parse(entry)
        if parsed is None:
            # Something that is no address: nothing at or left of it can be believed.
            return client
        client = str(parsed)
        if not is_trusted_proxy(entry):
            return client
    # Every hop is a trusted proxy (e.g. an internal caller): the furthest one is the client.
    return client


class TrustedProxyMiddleware:
    """Drops ``X-Forwarded-Proto`` unless a trusted proxy sent it, so ``SECURE_PROXY_SSL_HEADER`` (and
    with it ``request.is_secure()``, secure redirects and CSRF's origin check) cannot be spoofed by
    a client talking to the server directly. First in the middleware chain."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "HTTP_X_FORWARDED_PROTO" in request.META and not peer_is_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)
