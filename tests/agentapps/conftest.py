"""Fixtures of the agent-app tests: storage backends (local and moto S3), an app per organization."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from agentapps.models import AgentApp
from tests.kit_server import kit_live_server, kit_server  # noqa: F401 - fixtures
from tests.s3 import S3Bucket, local_storage, moto_s3_endpoint, s3_storage  # noqa: F401 - fixtures


@dataclass
class StoredFiles:
    """What a storage backend holds, the same way for both backends."""

    kind: str
    local_root: Path | None = None
    bucket: S3Bucket | None = None

    def keys(self, prefix: str = "") -> list[str]:
        if self.bucket is not None:
            return self.bucket.keys(prefix)
        root = self.local_root
        return sorted(
            str(p.relative_to(root))
            for p in root.rglob("*")
            if p.is_file() and str(p.relative_to(root)).startswith(prefix)
        )

    def read(self, key: str) -> bytes:
        if self.bucket is not None:
            return self.bucket.get(key)
        return (self.local_root / key).read_bytes()


@pytest.fixture(autouse=True)
def _local_media(local_storage):
    """Every test stores into its own temporary MEDIA_ROOT unless it asks for S3."""
    return local_storage


@pytest.fixture(params=["local", "s3"])
def stored(request, local_storage) -> StoredFiles:
    """Parametrizes a test over both storage backends (docs/CONTRACT.md §4: tests run both)."""
    if request.param == "s3":
        bucket = request.getfixturevalue("s3_storage")
        return StoredFiles(kind="s3", bucket=bucket)
    return StoredFiles(kind="local", local_root=local_storage)


@pytest.fixture
def app(org, owner):
    return AgentApp.objects.for_org(org).create(
        organization=org, name="Support Bot", description="Helps", created_by=owner
    )


@pytest.fixture
def other_app(other_org):
    return AgentApp.objects.for_org(other_org).create(organization=other_org, name="Foreign Bot")


@pytest.fixture
def public_other_app(other_org):
    return AgentApp.objects.for_org(other_org).create(
        organization=other_org, name="Public Bot", is_public=True
    )
