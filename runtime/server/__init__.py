"""The local agent runtime process (docs/runtime.md). No Django: ``manage.py runtime`` reads the
settings and calls :func:`serve`."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from runtime.server.agents import Limits
from runtime.server.http import RuntimeServer
from runtime.server.supervisor import Supervisor

logger = logging.getLogger("pixell.runtime")


def build(
    *,
    port: int,
    secret: str,
    data_dir: Path,
    limits: Limits,
    venvs_dir: Path | None = None,
    installer_env: dict[str, str] | None = None,
):
    """A bound server (not yet serving) on 127.0.0.1 only: it runs uploaded code."""
    supervisor = Supervisor(
        data_dir=data_dir, limits=limits, venvs_dir=venvs_dir, installer_env=installer_env
    )
    return RuntimeServer(("127.0.0.1", port), supervisor=supervisor, secret=secret)


def serve(server: RuntimeServer) -> None:
    """Bring back the running versions, then serve until SIGTERM/SIGINT, then stop every agent."""

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    threading.Thread(target=server.supervisor.restore, daemon=True).start()
    host, port = server.server_address[:2]
    logger.info("local agent runtime on http://%s:%s", host, port)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.supervisor.shutdown()
        server.server_close()
