"""Which kind of storage holds the files, for the domains that hand out links to them."""

from django.core.files.storage import default_storage


def storage_is_s3() -> bool:
    """Whether default storage is S3 (links are then presigned S3 URLs, else our signed links)."""
    # Imported at call time, not with this module: it loads boto3 (about half a second), which
    # processes that never hand out a link (workers, beat, management commands) need not pay.
    from storages.backends.s3 import S3Storage

    # default_storage is a LazyObject; isinstance sees the wrapped backend.
    return isinstance(default_storage, S3Storage)
