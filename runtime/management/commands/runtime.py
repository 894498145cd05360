"""``manage.py runtime``: the local agent runtime process (the Procfile's ``runtime`` line).

It runs uploaded code, so it starts only with PIXELL_LOCAL_RUNTIME=true (``make run`` sets it); and
it listens on 127.0.0.1 only. Disabled, it idles instead of exiting, so a supervisor that restarts
exited processes (pixell/supervise.py) does not restart it in a loop.
"""

import logging
import signal
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from runtime.server import build, serve
from runtime.server.agents import Limits


class Command(BaseCommand):
    help = "Run the local agent runtime (only with PIXELL_LOCAL_RUNTIME=true)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=None)

    def handle(self, *args, port=None, **options):
        if not settings.PIXELL_LOCAL_RUNTIME:
            self.stdout.write(
                "PIXELL_LOCAL_RUNTIME is not true: the local agent runtime stays off."
            )
            self.stdout.flush()
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
            signal.sigwait({signal.SIGTERM, signal.SIGINT})
            return
        secret = settings.PIXELL_RUNTIME_SECRET or ""
        if len(secret) < 16:
            raise CommandError("PIXELL_RUNTIME_SECRET must be set (at least 16 characters)")
        logging.basicConfig(
            level=logging.INFO, stream=sys.stdout, format="%(asctime)s %(levelname)s %(message)s"
        )
        server = build(
            port=port or settings.PIXELL_RUNTIME_PORT,
            secret=secret,
            data_dir=Path(settings.PIXELL_DATA_DIR) / "runtime",
            venvs_dir=Path(settings.PIXELL_RUNTIME_VENV_DIR)
            if settings.PIXELL_RUNTIME_VENV_DIR
            else None,
            limits=runtime_limits(),
            installer_env=settings.PIXELL_RUNTIME_INSTALLER_ENV,
        )
        serve(server)


def runtime_limits() -> Limits:
    return Limits(
        memory_mb=settings.PIXELL_RUNTIME_AGENT_MEMORY_MB,
        cpu_seconds=settings.PIXELL_RUNTIME_AGENT_CPU_SECONDS,
        open_files=settings.PIXELL_RUNTIME_AGENT_OPEN_FILES,
        start_timeout_s=settings.PIXELL_RUNTIME_AGENT_START_TIMEOUT_SECONDS,
        max_package_bytes=settings.PIXELL_MAX_PACKAGE_BYTES,
    )
