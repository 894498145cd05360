"""SSRF guard for URLs the platform calls on somebody's behalf (docs/CONTRACT.md §7).

Outgoing webhooks POST to URLs chosen by customers, and the runtime client calls a URL from settings.
Either could point the platform at itself, at the private network it runs in, or at the cloud metadata
service that hands out credentials. This module refuses such targets.

No Django here: settings (``PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS``, ...) are passed in as arguments.

Public API
----------
``check_url(url, *, allow_private)``
    Raise :class:`UnsafeURLError` unless *url* is safe to call. Used when a webhook is created and,
    through :func:`safe_request`, again at every delivery.
``safe_request(method, url, *, data, headers, timeout, allow_private, max_response_bytes)``
``safe_post(url, *, data, headers, timeout, allow_private, max_response_bytes)``
    Check, then send with ``requests``, connected to an address that was checked.

Choices
-------
* **Every address counts.** A host is refused if *any* of the addresses it resolves to is refused:
  an attacker controlling DNS can return one public and one private address and hope the client
  picks the second.
* **DNS rebinding.** Checking a name and then letting ``requests`` resolve it again leaves a window in
  which the answer can change (TTL 0). :func:`safe_request` therefore resolves once, checks, and
  connects to the checked IP address itself: the URL is rewritten to the IP literal, the ``Host``
  header carries the original host, and for HTTPS the original host is used for SNI and certificate
  verification (urllib3's ``server_hostname``/``assert_hostname``, set through
  ``HTTPAdapter.build_connection_pool_key_attributes``, the override point requests documents).
* **IP literals never reach DNS.** A literal such as ``93.184.216.34`` or ``[2001:db8::1]`` is parsed
  with :mod:`ipaddress`; only names go to :func:`socket.getaddrinfo`. Odd numeric spellings that
  ``ipaddress`` rejects (``2130706433``, ``127.1``) are still numeric to ``getaddrinfo`` (no DNS
  query) and come back as the address they spell, which is then checked like any other.
* **Embedded IPv4.** IPv4-mapped (``::ffff:127.0.0.1``), 6to4 (``2002::/16``) and NAT64
  (``64:ff9b::/96``) addresses are judged by the IPv4 address they carry.
* **allow_private** (``PIXELL_WEBHOOK_ALLOW_PRIVATE_NETWORKS``, for development and on-premises
  installs) allows plain ``http`` and loopback/private/link-local/... targets. Cloud metadata
  endpoints stay refused even then: no legitimate webhook or runtime lives there, and reaching one
  leaks the machine's cloud credentials. The host must still resolve.
* **No redirects** are followed: a 3xx answer is returned as it is (and counts as a failed delivery for
  the caller). Following one would send the request to an unchecked URL.
* **No environment proxies or .netrc** (``Session.trust_env = False``): a proxy would resolve the name
  itself, defeating the pinning, and .netrc credentials must never go to a customer's URL.
* **Bounded answers.** The body is read with ``Accept-Encoding: identity`` (no decompression bombs),
  up to ``max_response_bytes`` (the rest is dropped and the connection closed), and must arrive
  within the read timeout counted from the start of the request, so an endpoint that drips one byte
  every few seconds cannot hold a worker. (Headers are bounded by the per-read timeout and
  http.client's own header limits only.)
* Ports are not restricted: customers run receivers on any port, and with private targets refused a
  port scan of the platform's network is not possible through this path.
* Name resolution uses the system resolver, whose own timeout bounds it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProtocolError, ReadTimeoutError

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = ("http", "https")

# Cloud metadata and credential endpoints, refused even when private networks are allowed.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, DigitalOcean instance metadata
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "169.254.170.2",  # AWS ECS task role credentials
        "169.254.170.23",  # AWS EKS Pod Identity agent
        "fd00:ec2::23",  # AWS EKS Pod Identity agent over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
    )
)

# Not covered by ipaddress' is_private/is_global on every Python 3.11 patch level; named explicitly.
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))

# How many resolved addresses to try, in resolver order, when connecting fails (e.g. an AAAA record
# first on a machine without IPv6). Bounded so a name with many dead addresses cannot multiply the
# time a worker spends on it without limit.
MAX_ADDRESSES_TRIED = 3

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024


class UnsafeURLError(ValueError):
    """The URL must not be called. ``str(error)`` is a message fit to show to the URL's owner.

    ``reason`` is a stable code: ``invalid``, ``scheme``, ``insecure_scheme``, ``blocked_address``
    or ``unresolvable``. Messages name the kind of address, not the address itself, so that the guard
    does not become an oracle for the platform's internal DNS.
    """

    def __init__(self, message: str, *, reason: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.reason = reason


class UnresolvableHostError(UnsafeURLError):
    """The host did not resolve. Unlike the other refusals this may be temporary (a DNS outage), so
    callers that retry may treat it as a transient failure."""

    def __init__(self, message: str):
        super().__init__(message, reason="unresolvable")


@dataclass(frozen=True)
class _Target:
    parts: SplitResult
    host: str  # lower-case name or IP literal, without brackets
    port: int
    addresses: tuple[IPAddress, ...]


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise :class:`UnsafeURLError` unless *url* may be called.

    Refused: a scheme other than http/https; plain http unless *allow_private*; a host that does not
    resolve; a host any of whose addresses is loopback, private (RFC 1918, ULA ``fc00::/7``),
    link-local, unspecified, multicast, reserved, shared (CGNAT ``100.64.0.0/10``) or otherwise not
    globally routable, including such IPv4 addresses wrapped in IPv6 — unless *allow_private*;
    and a cloud metadata address, always.
    """
    _resolve_checked(url, allow_private=allow_private)


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why *address* must not be connected to (a phrase such as ``"a loopback address"``), or None."""
    address = _embedded_ipv4(address) or address
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if allow_private:
        return None
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private network address"
    if address.is_reserved or (
        isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    ):
        return "a reserved address"
    if not address.is_global:
        return "a non-public address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _resolve_checked(url: str, *, allow_private: bool) -> _Target:
    if not isinstance(url, str) or not url.strip():
        raise UnsafeURLError("URL is empty.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURLError(f"URL is not valid: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        allowed = "http:// or https://" if allow_private else "https://"
        raise UnsafeURLError(f"URL must start with {allowed}.", reason="scheme")
    if scheme == "http" and not allow_private:
        raise UnsafeURLError("URL must use https://, not plain http://.", reason="insecure_scheme")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURLError("URL has no host.")
    if not host.isascii():
        # An internationalized name goes on the wire (Host header, SNI, DNS) in its IDNA form:
        # http.client cannot encode the Unicode one, so every call to it would fail.
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UnsafeURLError("URL host is not a valid domain name.") from None
    if port is None:
        port = 443 if scheme == "https" else 80

    addresses = _resolve(host, port)
    for address in addresses:
        refusal = address_refusal(address, allow_private=allow_private)
        if refusal:
            verb = "is" if _is_ip_literal(host) else "resolves to"
            raise UnsafeURLError(
                f"URL host {host} {verb} {refusal}, which is not allowed.", reason="blocked_address"
            )
    return _Target(parts=parts._replace(scheme=scheme), host=host, port=port, addresses=addresses)


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        # A literal is its own answer; it must not become a DNS query.
        return (ipaddress.ip_address(host),)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnresolvableHostError(f"URL host {host} could not be resolved.") from None
    addresses: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        # Scoped IPv6 answers come back as "fe80::1%eth0"; the scope does not change the verdict.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnresolvableHostError(f"URL host {host} could not be resolved.")
    return tuple(addresses)


class _PinnedAdapter(HTTPAdapter):
    """Connects to an IP literal URL while presenting *hostname* for SNI and certificate checks."""

    def __init__(self, hostname: str | None):
        self._hostname = hostname
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if self._hostname and host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._hostname
            pool_kwargs["assert_hostname"] = self._hostname
        return host_params, pool_kwargs


def _url_for_address(target: _Target, address: IPAddress) -> tuple[str, str]:
    """The URL with its host replaced by *address*, and the Host header naming the original host."""
    literal = f"[{address}]" if address.version == 6 else str(address)
    host = f"[{target.host}]" if ":" in target.host else target.host
    explicit_port = target.parts.port is not None
    netloc = f"{literal}:{target.port}" if explicit_port else literal
    host_header = f"{host}:{target.port}" if explicit_port else host
    url = urlunsplit(
        (target.parts.scheme, netloc, target.parts.path or "/", target.parts.query, "")
    )
    return url, host_header


def _read_timeout(timeout: float | tuple[float, float]) -> float:
    return timeout[1] if isinstance(timeout, tuple) else timeout


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    """True when nothing was sent, so trying the next address cannot deliver twice."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    # urllib3's NewConnectionError (refused, unreachable) is a subclass of ConnectTimeoutError.
    return isinstance(reason, ConnectTimeoutError)


def safe_request(
    method: str,
    url: str,
    *,
    data: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | tuple[float, float],
    allow_private: bool,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    _verify: bool | str = True,
) -> requests.Response:
    """Check *url* now, then send one request to an address that passed the check.

    Raises :class:`UnsafeURLError` (:class:`UnresolvableHostError` when the name does not resolve)
    or a ``requests.RequestException`` (``requests.Timeout`` also when the body takes longer than the
    read timeout). Redirects are not followed; a 3xx answer is returned. ``response.content`` holds at
    most *max_response_bytes*. ``_verify`` exists for tests with a private CA only.
    """
    target = _resolve_checked(url, allow_private=allow_private)
    send_headers = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
    send_headers["Accept-Encoding"] = "identity"
    auth = None
    if target.parts.username is not None:
        auth = (unquote(target.parts.username), unquote(target.parts.password or ""))
    # For an IP literal URL the default TLS handling is already right; a name needs pinning.
    sni_hostname = None if _is_ip_literal(target.host) else target.host

    started = time.monotonic()
    deadline = started + _read_timeout(timeout)
    candidates = target.addresses[:MAX_ADDRESSES_TRIED]
    for index, address in enumerate(candidates):
        pinned_url, host_header = _url_for_address(target, address)
        with requests.Session() as session:
            session.trust_env = False
            session.mount("https://", _PinnedAdapter(sni_hostname))
            session.mount("http://", _PinnedAdapter(None))
            try:
                response = session.request(
                    method,
                    pinned_url,
                    data=data,
                    headers={**send_headers, "Host": host_header},
                    auth=auth,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                    verify=_verify,
                )
            except requests.ConnectionError as exc:
                if index + 1 < len(candidates) and _is_connect_failure(exc):
                    logger.info("connect to %s failed, trying its next address", target.host)
                    continue
                raise
            _read_bounded(response, max_bytes=max_response_bytes, deadline=deadline)
            return response
    raise AssertionError("unreachable: the loop returns or raises")


def _read_bounded(response: requests.Response, *, max_bytes: int, deadline: float) -> None:
    # read1 returns what one socket read brings, so the deadline is checked as bytes trickle in;
    # iter_content would block until a whole chunk or the end arrived. No decoding: we asked for
    # identity, and decompressing what a server sends anyway could inflate it past the cap.
    chunks: list[bytes] = []
    size = 0
    try:
        while size < max_bytes:
            if time.monotonic() > deadline:
                raise requests.ReadTimeout(
                    f"response body not received in time from {response.url}"
                )
            chunk = response.raw.read1(min(8192, max_bytes - size), decode_content=False)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except ReadTimeoutError as exc:
        raise requests.ReadTimeout(exc, response=response) from exc
    except ProtocolError as exc:
        raise requests.ConnectionError(exc, response=response) from exc
    except HTTPError as exc:
        raise requests.RequestException(exc, response=response) from exc
    finally:
        response.close()
    # requests keeps a consumed body in _content; setting it is how requests itself fills it in.
    response._content = b"".join(chunks)
    response._content_consumed = True


def safe_post(
    url: str,
    *,
    data: bytes,
    headers: Mapping[str, str],
    timeout: float | tuple[float, float],
    allow_private: bool,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> requests.Response:
    """POST *data* to *url* through :func:`safe_request` (checked at delivery, pinned, no redirects)."""
    return safe_request(
        "POST",
        url,
        data=data,
        headers=headers,
        timeout=timeout,
        allow_private=allow_private,
        max_response_bytes=max_response_bytes,
    )
