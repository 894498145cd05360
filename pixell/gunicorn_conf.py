"""Where the web process listens (gunicorn ``-c python:pixell.gunicorn_conf``, the Procfile's web).

Both generations of the Pixell CLI must reach `make run` unchanged: pixell-kit 0.4 deploys to
http://localhost:4000, pixell-sdk 0.5 to http://localhost:3000 (docs/DECISIONS.md). So the web
process listens on ``PORT`` (default 4000) and on ``PIXELL_SECOND_PORT`` (default 3000; ``off``
turns it off; ``HOST:PORT`` picks the interface). A busy second port is reported on one line and
left out, so something else on 3000 never keeps the product from starting on ``PORT``.
"""

from __future__ import annotations

import errno
import socket
import sys

from django.core.exceptions import ImproperlyConfigured
from gunicorn.glogging import Logger

from pixell import env
from pixell.observability.logs import ContextFilter, PixellJsonFormatter, log_format
from pixell.observability.metrics import clean_dead_processes, process_dead
from pixell.observability.redaction import redact_path, redact_url

DEFAULT_HOST = "0.0.0.0"
OFF = {"off", "false", "no", "none", "0"}


def _address(value: str, variable: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise ImproperlyConfigured(f"{variable} must be a port or HOST:PORT, not {value!r}")
    return host.strip("[]") or DEFAULT_HOST, number


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _busy(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def listen_addresses() -> list[str]:
    """gunicorn ``bind`` values: the main port, then the second one unless off or busy."""
    main = _address(env.get_str("PORT", "4000"), "PORT")
    binds = [_bind(*main)]
    second_value = env.get_str("PIXELL_SECOND_PORT", "3000").strip()
    if second_value.lower() in OFF:
        return binds
    second = _address(second_value, "PIXELL_SECOND_PORT")
    if second[1] == main[1]:
        return binds
    if _busy(*second):
        print(
            f"web: port {second[1]} is busy, listening on {main[1]} only "
            f"(pixell-sdk's `--env local` needs {second[1]}; set PIXELL_SECOND_PORT to move or "
            f"turn off the second port)",
            file=sys.stderr,
        )
        return binds
    binds.append(_bind(*second))
    return binds


bind = listen_addresses()


def trusted_proxies() -> str:
    """gunicorn's ``forwarded_allow_ips``: exactly PIXELL_TRUSTED_PROXIES (unset: nobody).

    gunicorn sets the request's scheme from X-Forwarded-Proto, -Protocol and -Ssl sent by the peers
    it trusts (by default 127.0.0.1, or FORWARDED_ALLOW_IPS), and Django falls back to that scheme
    when TrustedProxyMiddleware has dropped X-Forwarded-Proto: a client gunicorn trusted but we do
    not could still claim https. One list decides for both (docs/DECISIONS.md "Client address
    behind reverse proxies"); a config file value wins over the FORWARDED_ALLOW_IPS variable.
    """
    return ",".join(str(network) for network in env.get_networks("PIXELL_TRUSTED_PROXIES"))


forwarded_allow_ips = trusted_proxies()


# --- Operating it (docs/OPERATIONS.md) ------------------------------------------------------------
# prometheus-client's multiprocess mode: the master removes the metric files of processes that no
# longer run when it starts (the Celery worker shares the folder, so it is never wiped whole), and
# drops a dead worker's live gauges. pixell.observability.metrics needs no Django settings.


def on_starting(server):
    clean_dead_processes()


def child_exit(server, worker):
    process_dead(worker.pid)


def _logger_class():
    json_lines = log_format(debug=env.get_bool("DEBUG", False)) == "json"

    class PixellGunicornLogger(Logger):
        """gunicorn's logs like the application's: credentials of mailed links (reset,
        verification, invitation, export) replaced by the same function the request's line uses,
        and one JSON object per line when the application logs JSON."""

        def setup(self, cfg):
            super().setup(cfg)
            if json_lines:
                for log in (self.error_log, self.access_log):
                    for handler in log.handlers:
                        handler.setFormatter(PixellJsonFormatter())
                        handler.addFilter(ContextFilter())

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            # Each atom that can hold the request's target, in the default format or a custom one
            # (``{name}e`` are environ values, ``{name}i`` request headers).
            for key in ("U", "{raw_uri}e", "{path_info}e"):
                if atoms.get(key):
                    atoms[key] = redact_path(atoms[key])
            for key in ("q", "{query_string}e"):
                if atoms.get(key):
                    atoms[key] = redact_path("?" + atoms[key])[1:]
            if atoms.get("r"):
                method, _, rest = atoms["r"].partition(" ")
                target, _, protocol = rest.partition(" ")
                atoms["r"] = f"{method} {redact_path(target)} {protocol}".rstrip()
            # The default format logs the Referer: a page opened from a mailed link (reset,
            # invitation) names that link in the requests it makes next.
            for key in ("f", "{referer}i", "{http_referer}e"):
                if atoms.get(key) and atoms[key] != "-":
                    atoms[key] = redact_url(atoms[key])
            return atoms

    return PixellGunicornLogger


logger_class = _logger_class()
