"""The transaction the deployment queue and pipeline record progress in (claims, step transitions)."""

from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def progress_transaction():
    """A transaction for progress bookkeeping (claims, step transitions) whose COMMIT does not wait
    for the WAL flush on PostgreSQL (``SET LOCAL synchronous_commit TO OFF``).

    Why: a job commits once per step; waiting for each flush made fsync the bottleneck of the
    queue (two workers barely beat one). What it risks: only a PostgreSQL crash can lose such a
    commit (the last fraction of a second of them), which rewinds a claim or a step transition — a
    state the queue already handles (recovery re-runs a job's unfinished steps; steps are
    idempotent; the runtime dedupes on the deployment id; a lost finalize is re-run whole). Money
    moves (acceptance, failure with its refund, cancel) keep synchronous commits. A worker crash
    loses nothing.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
