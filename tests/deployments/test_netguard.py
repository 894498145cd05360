"""The SSRF guard: refused targets, no DNS for literals, pinned connections, bounded answers."""

import datetime
import http.server
import socket
import ssl
import threading
import time

import pytest
import requests

from deployments import netguard
from deployments.netguard import UnresolvableHostError, UnsafeURLError

REAL_GETADDRINFO = socket.getaddrinfo


class FakeDNS:
    """``dns[name] = [addresses]`` makes *name* resolve to them ([] makes it unresolvable); other
    names go to the real resolver (urllib3 still calls getaddrinfo on the IP literals it is given).
    ``lookups`` lists the faked names looked up, in order."""

    def __init__(self):
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    def __setitem__(self, name, addresses):
        self.answers[name] = addresses

    def getaddrinfo(self, host, port, *args, **kwargs):
        if host not in self.answers:
            return REAL_GETADDRINFO(host, port, *args, **kwargs)
        self.lookups.append(host)
        if not self.answers[host]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in self.answers[host]
        ]


@pytest.fixture
def fake_dns(monkeypatch):
    dns = FakeDNS()
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


# --- check_url ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.8.9.10/",
        "https://10.0.0.1/hook",
        "https://172.16.5.4/",
        "https://192.168.1.1/",
        "https://169.254.169.254/latest/meta-data/",
        "https://169.254.1.1/",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://localhost./hook",
        "https://LOCALHOST:8443/hook",
        "https://0.0.0.0/",
        "https://[::]/",
        "https://100.64.0.1/",
        "https://224.0.0.1/",
        "https://[ff02::1]/",
        "https://240.0.0.1/",
        "https://[fc00::1]/",
        "https://[fd12:3456::1]/",
        "https://[fe80::1]/",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[::ffff:10.0.0.1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://[2002:a00:1::]/",  # 6to4 wrapping 10.0.0.1
        "https://[64:ff9b::7f00:1]/",  # NAT64 wrapping 127.0.0.1
        "https://2130706433/",  # 127.0.0.1 as one number
        "https://127.1/",
        "https://0x7f.0.0.1/",
        "https://user:pw@127.0.0.1/",
    ],
)
def test_non_public_targets_are_refused(url):
    with pytest.raises(UnsafeURLError) as excinfo:
        netguard.check_url(url, allow_private=False)

    assert excinfo.value.reason == "blocked_address"


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hook",
        "https://93.184.216.34:8443/x?y=1",
        "https://[2606:2800:220:1::]/",
    ],
)
def test_public_literals_pass_without_any_dns_lookup(url, monkeypatch):
    def no_dns(*args, **kwargs):
        raise AssertionError("an IP literal must not be resolved")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)

    netguard.check_url(url, allow_private=False)


def test_public_name_passes(fake_dns):
    fake_dns["hooks.example.com"] = ["93.184.216.34", "2606:2800:220:1::"]

    netguard.check_url("https://hooks.example.com/in", allow_private=False)

    assert fake_dns.lookups == ["hooks.example.com"]


def test_a_name_with_any_private_address_is_refused(fake_dns):
    fake_dns["mixed.example.com"] = ["93.184.216.34", "10.1.2.3"]

    with pytest.raises(UnsafeURLError, match="private network address"):
        netguard.check_url("https://mixed.example.com/", allow_private=False)


def test_refusal_message_does_not_reveal_the_internal_address(fake_dns):
    fake_dns["db.internal.example.com"] = ["10.20.30.40"]

    with pytest.raises(UnsafeURLError) as excinfo:
        netguard.check_url("https://db.internal.example.com/", allow_private=False)

    assert "10.20.30.40" not in str(excinfo.value)


def test_unresolvable_host_is_refused(fake_dns):
    fake_dns["nowhere.example.com"] = []

    with pytest.raises(UnresolvableHostError) as excinfo:
        netguard.check_url("https://nowhere.example.com/", allow_private=False)

    assert excinfo.value.reason == "unresolvable"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://93.184.216.34/",
        "//93.184.216.34/",
    ],
)
def test_other_schemes_are_refused(url):
    for allow_private in (False, True):
        with pytest.raises(UnsafeURLError) as excinfo:
            netguard.check_url(url, allow_private=allow_private)
        assert excinfo.value.reason == "scheme"


@pytest.mark.parametrize(
    "url", ["", "   ", "https://", "https:///path", "https://93.184.216.34:99999/"]
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(UnsafeURLError):
        netguard.check_url(url, allow_private=True)


def test_plain_http_needs_allow_private():
    with pytest.raises(UnsafeURLError) as excinfo:
        netguard.check_url("http://93.184.216.34/", allow_private=False)

    assert excinfo.value.reason == "insecure_scheme"
    netguard.check_url("http://93.184.216.34/", allow_private=True)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000/", "http://10.0.0.1/", "http://[::1]/", "http://localhost/"]
)
def test_allow_private_allows_private_targets(url):
    netguard.check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://169.254.170.2/",
    ],
)
def test_metadata_is_refused_even_when_private_networks_are_allowed(url):
    with pytest.raises(UnsafeURLError, match="metadata"):
        netguard.check_url(url, allow_private=True)


# --- safe_request / safe_post against a real local server ------------------------------------


class _Recorder(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self._handle()

    def do_GET(self):
        self._handle()

    def _handle(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append(
            {"path": self.path, "headers": dict(self.headers), "body": body}
        )
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/target")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            payload = b"x" * (1024 * 1024)
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                self.wfile.write(payload)
            except OSError:
                pass
        elif self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            try:
                for _ in range(40):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")


def _serve(server):
    server.received = []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    return server


@pytest.fixture
def server():
    srv = _serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder))
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def test_safe_post_delivers_body_and_headers(server):
    response = netguard.safe_post(
        f"{server.base}/hook?x=1",
        data=b'{"a":1}',
        headers={"Content-Type": "application/json", "X-Test": "yes"},
        timeout=5,
        allow_private=True,
    )

    assert response.status_code == 200
    assert response.content == b"ok"
    [received] = server.received
    assert received["path"] == "/hook?x=1"
    assert received["body"] == b'{"a":1}'
    assert received["headers"]["X-Test"] == "yes"
    assert received["headers"]["Host"] == f"127.0.0.1:{server.server_address[1]}"


def test_safe_post_refuses_private_target_before_sending(server):
    with pytest.raises(UnsafeURLError):
        netguard.safe_post(
            f"{server.base}/hook", data=b"{}", headers={}, timeout=5, allow_private=False
        )

    assert server.received == []


def test_redirects_are_not_followed(server):
    response = netguard.safe_post(
        f"{server.base}/redirect", data=b"{}", headers={}, timeout=5, allow_private=True
    )

    assert response.status_code == 302
    assert [r["path"] for r in server.received] == ["/redirect"]


def test_connection_is_pinned_to_the_checked_address(server, fake_dns):
    # A rebinding name answers 127.0.0.1 now; were it resolved again for the connection, it could
    # answer anything. It must be looked up exactly once, and the Host header must keep the name.
    fake_dns["rebind.example.com"] = ["127.0.0.1"]
    port = server.server_address[1]

    response = netguard.safe_post(
        f"http://rebind.example.com:{port}/hook",
        data=b"{}",
        headers={},
        timeout=5,
        allow_private=True,
    )

    assert response.status_code == 200
    assert fake_dns.lookups == ["rebind.example.com"]
    assert server.received[0]["headers"]["Host"] == f"rebind.example.com:{port}"


def test_credentials_in_the_url_are_sent_as_basic_auth(server, fake_dns):
    fake_dns["auth.example.com"] = ["127.0.0.1"]

    netguard.safe_post(
        f"http://us%40er:p%3Ass@auth.example.com:{server.server_address[1]}/hook",
        data=b"{}",
        headers={},
        timeout=5,
        allow_private=True,
    )

    import base64

    assert (
        server.received[0]["headers"]["Authorization"]
        == "Basic " + base64.b64encode(b"us@er:p:ss").decode()
    )


def _ipv6_loopback_usable():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_usable(), reason="no IPv6 loopback")
def test_a_dead_first_address_falls_back_to_the_next(server, fake_dns):
    # The server listens on 127.0.0.1 only, so ::1 refuses the connection, as a dead AAAA would.
    fake_dns["dual.example.com"] = ["::1", "127.0.0.1"]

    response = netguard.safe_post(
        f"http://dual.example.com:{server.server_address[1]}/hook",
        data=b"{}",
        headers={},
        timeout=5,
        allow_private=True,
    )

    assert response.status_code == 200
    assert len(server.received) == 1


def test_a_large_answer_is_truncated(server):
    response = netguard.safe_request(
        "GET", f"{server.base}/big", timeout=5, allow_private=True, max_response_bytes=1000
    )

    assert response.content == b"x" * 1000


def test_a_dripping_answer_times_out(server):
    started = time.monotonic()

    with pytest.raises(requests.Timeout):
        netguard.safe_request("GET", f"{server.base}/drip", timeout=0.3, allow_private=True)

    assert time.monotonic() - started < 1.5


# --- HTTPS: SNI and certificate checks use the original name, not the pinned IP --------------


def _tls_files(tmp_path, name):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "netguard test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(ca_path), str(cert_path), str(key_path)


@pytest.fixture
def tls_server(tmp_path):
    ca_path, cert_path, key_path = _tls_files(tmp_path, "pinned.example.com")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    sni_seen = []
    context.sni_callback = lambda sock, name, ctx: sni_seen.append(name)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.handle_error = lambda request, address: None  # failed handshakes are expected in one test
    _serve(srv)
    srv.ca_path = ca_path
    srv.sni_seen = sni_seen
    yield srv
    srv.shutdown()
    srv.server_close()


def test_https_to_a_pinned_address_verifies_the_original_name(tls_server, fake_dns):
    fake_dns["pinned.example.com"] = ["127.0.0.1"]
    port = tls_server.server_address[1]

    response = netguard.safe_request(
        "POST",
        f"https://pinned.example.com:{port}/hook",
        data=b"{}",
        headers={},
        timeout=5,
        allow_private=True,
        _verify=tls_server.ca_path,
    )

    assert response.status_code == 200
    assert tls_server.sni_seen == ["pinned.example.com"]
    assert tls_server.received[0]["headers"]["Host"] == f"pinned.example.com:{port}"
    assert fake_dns.lookups == ["pinned.example.com"]


def test_https_certificate_for_another_name_is_rejected(tls_server, fake_dns):
    fake_dns["other.example.com"] = ["127.0.0.1"]

    with pytest.raises(requests.exceptions.SSLError):
        netguard.safe_request(
            "POST",
            f"https://other.example.com:{tls_server.server_address[1]}/hook",
            data=b"{}",
            headers={},
            timeout=5,
            allow_private=True,
            _verify=tls_server.ca_path,
        )

    assert tls_server.received == []


def test_an_internationalized_host_is_sent_in_its_ascii_form(server, fake_dns):
    # An IDN URL passes the creation check; the Host header (latin-1 on the wire) and SNI need the
    # IDNA form, or every delivery died on a UnicodeEncodeError reported as a permanent failure.
    fake_dns["xn--r8jz45g.jp"] = ["127.0.0.1"]
    port = server.server_address[1]

    response = netguard.safe_post(
        f"http://例え.jp:{port}/hook", data=b"{}", headers={}, timeout=5, allow_private=True
    )

    assert response.status_code == 200
    assert fake_dns.lookups == ["xn--r8jz45g.jp"]
    assert server.received[0]["headers"]["Host"] == f"xn--r8jz45g.jp:{port}"
