"""S3 for tests: moto's server mode (a real HTTP endpoint; boto3 and django-storages unchanged).

Import the fixtures into a conftest to use them::

    from tests.s3 import moto_s3_endpoint, s3_storage  # noqa: F401

- ``moto_s3_endpoint`` (session): starts ``ThreadedMotoServer`` on a free loopback port once.
- ``s3_storage``: a fresh bucket, and ``settings.STORAGES["default"]`` pointed at it for one test
  (the same S3Storage options as production settings, plus endpoint and path addressing). Yields an
  ``S3Bucket`` with ``keys()`` / ``get(key)`` helpers for assertions.
- ``local_storage``: FileSystemStorage in a temporary MEDIA_ROOT; yields its root ``Path``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


def reset_default_storage() -> None:
    """Forget the storage instances built from the previous STORAGES setting."""
    from django.core.files.storage import default_storage, storages
    from django.utils.functional import empty

    storages._storages = {}
    default_storage._wrapped = empty


def _client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )


@dataclass
class S3Bucket:
    endpoint: str
    name: str

    def keys(self, prefix: str = "") -> list[str]:
        pages = (
            _client(self.endpoint)
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.name, Prefix=prefix)
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        return _client(self.endpoint).get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture(scope="session")
def moto_s3_endpoint():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per S3 request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_storage_setting(*, endpoint: str, bucket: str) -> dict:
    from pixell.settings import _s3_transfer_config

    # Mirrors pixell/settings.py's S3 options, aimed at moto.
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "region_name": REGION,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "querystring_auth": True,
            "querystring_expire": 3600,
            "file_overwrite": True,
            "default_acl": None,
            "max_memory_size": 8 * 1024 * 1024,
            "transfer_config": _s3_transfer_config(),
        },
    }


@pytest.fixture
def s3_storage(moto_s3_endpoint, settings):
    bucket = f"pixell-test-{uuid.uuid4().hex[:12]}"
    _client(moto_s3_endpoint).create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage_setting(endpoint=moto_s3_endpoint, bucket=bucket),
    }
    reset_default_storage()
    yield S3Bucket(endpoint=moto_s3_endpoint, name=bucket)
    reset_default_storage()


@pytest.fixture
def local_storage(settings, tmp_path):
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    reset_default_storage()
    yield root
    reset_default_storage()
