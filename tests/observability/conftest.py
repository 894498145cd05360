import pytest

from tests.s3 import local_storage  # noqa: F401 - fixture


@pytest.fixture(autouse=True)
def _local_media(local_storage):
    """Packages the factories store go to a per-test MEDIA_ROOT, not the session's shared one."""
    return local_storage
