"""gunicorn's settings read from this file by default (the Procfile's flags still apply).

Hooks for prometheus-client's multiprocess mode (docs/OPERATIONS.md): the master removes metric
files of processes that no longer run when it starts, and drops a dead worker's live gauges."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pixell.settings")


def on_starting(server):
    import django

    django.setup()  # settings export PROMETHEUS_MULTIPROC_DIR
    from pixell.observability.metrics import clean_dead_processes

    clean_dead_processes()


def child_exit(server, worker):
    from pixell.observability.metrics import process_dead

    process_dead(worker.pid)
