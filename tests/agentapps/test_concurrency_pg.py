"""Concurrent uploads of one version (PostgreSQL): exactly one wins, the others answer 409 and leave
no stored file behind."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from agentapps import services
from agentapps.errors import VersionExists
from agentapps.models import Package
from tests.agentapps.packages import apkg_bytes, upload

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks); set DATABASE_URL=postgres://…")


def test_concurrent_uploads_of_one_version_store_exactly_one(app, org, stored):
    count = 6
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index):
        try:
            barrier.wait()
            # Distinct bytes, same version: every one of them passes validation and is stored.
            data = apkg_bytes("1.0.0", extra=((f"n{index}.txt", str(index)),))
            results[index] = services.package_upload(
                organization=org, agent_app=app, actor=None, upload=upload(data)
            )
        except Exception as exc:  # asserted below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    winners = [r for r in results if isinstance(r, Package)]
    assert len(winners) == 1, results
    assert all(isinstance(r, VersionExists) for r in results if r not in winners), results
    assert Package.all_orgs.filter(agent_app=app).count() == 1
    assert stored.keys() == [winners[0].file.name]
