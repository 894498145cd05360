"""A live server for the real Pixell Agent Kit CLI, on the kit's own ``http://localhost:4000``.

The kit hard-codes its ``local`` environment as http://localhost:4000 (docs/pixell-kit.md §2), so
the server is Django's ``LiveServerThread`` bound to port 4000: the kit runs exactly as a user runs
it. When port 4000 is busy (a dev server, another test run) the server takes a free port instead and
``kit_server.kit_base_url`` tells ``run_kit`` to aim ``--env local`` there — the kit's requests are
unchanged, only its base URL constant is rewritten (tests/agentapps/kit.py) — so the tests never
collide and never skip; ``kit_server.on_kit_port`` says which case ran.

Use it from any test package's conftest::

    from tests.kit_server import kit_live_server, kit_server  # noqa: F401

and in a test::

    def test_x(kit_server, ...):
        done = run_kit([...], base_url=kit_server.kit_base_url, cwd=tmp_path)

``kit_server`` gives the test transactional database access (the server thread sees committed
rows only), and settings overridden in the test apply to the server too (same process).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

import pytest

KIT_HOST = "localhost"
KIT_PORT = 4000


@dataclass
class KitServer:
    url: str  # http://localhost:<port>
    on_kit_port: bool  # True when the kit's own http://localhost:4000 is served

    @property
    def kit_base_url(self) -> str | None:
        """``run_kit(base_url=…)``: None (the kit's own URL) on port 4000, else this server's URL."""
        return None if self.on_kit_port else self.url

    @property
    def sdk_base_url(self) -> str:
        """``run_sdk(base_url=…)``: always this server. pixell-sdk 0.5 deploys to port 3000 but
        still sends secrets to 4000; this one server answers both (``make run`` serves both ports)."""
        return self.url


def _start(addr: str):
    from pytest_django.live_server_helper import LiveServer

    return LiveServer(addr)


def _port_busy(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.EADDRINUSE, errno.EACCES)


@pytest.fixture(scope="session")
def kit_live_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        try:
            server = _start(f"{KIT_HOST}:{KIT_PORT}")
            on_kit_port = True
        except OSError as exc:
            if not _port_busy(exc):
                raise
            server = _start(f"{KIT_HOST}:0")
            on_kit_port = False
    yield server, KitServer(url=server.url, on_kit_port=on_kit_port)
    server.stop()


@pytest.fixture
def kit_server(kit_live_server, transactional_db):
    server, info = kit_live_server
    server._live_server_modified_settings.enable()
    try:
        yield info
    finally:
        server._live_server_modified_settings.disable()
