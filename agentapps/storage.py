"""Where package bytes live: ``default_storage`` (django-storages S3 when a bucket is configured,
``MEDIA_ROOT`` otherwise), and the download links of docs/CONTRACT.md §4.

- The SHA-256 is computed in the pass that stores the bytes: while the upload arrives
  (agentapps.uploads; the temporary file is then renamed into MEDIA_ROOT or read once for S3), or
  else while the storage backend reads it. A 100 MiB package is never in memory, never read twice.
- ``s3_url`` is a presigned S3 URL, or for local storage a link to our own download endpoint signed
  with an HMAC under ``SECRET_KEY`` and carrying its expiry. The endpoint checks that the package is
  not deleted, so a deleted package's link stops working at once.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.urls import Resolver404, resolve, reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from pixell.storage import storage_is_s3

logger = logging.getLogger(__name__)

# Same lifetime as the S3 presigned URLs (settings: querystring_expire).
DOWNLOAD_URL_SECONDS = 3600
_DOWNLOAD_SALT = "pixell.agentapps.package-download"
_COPY_CHUNK = 1024 * 1024


def package_storage_key(*, organization_id, agent_app_id, version: str, package_id) -> str:
    # docs/CONTRACT.md §4: packages/<org>/<app>/<version>/<file>; the package id makes every upload,
    # including a force-overwritten version, a distinct object.
    return f"packages/{organization_id}/{agent_app_id}/{version}/{package_id}.apkg"


class _HashingReader:
    """Read-once view of an upload that hashes and counts what the storage backend reads.

    Deliberately not seekable: S3 then uploads it part by part in order (s3transfer's non-seekable
    path), so no byte is read, hashed or buffered twice, and FileSystemStorage streams its chunks.
    """

    closed = False

    def __init__(self, fileobj):
        self._fileobj = fileobj
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fileobj.read(size)
        if data:
            self._digest.update(data)
            self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        pass  # the upload belongs to the request, which closes (and deletes) it

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class _StreamFile(File):
    DEFAULT_CHUNK_SIZE = _COPY_CHUNK


def storage_save_hashed(*, key: str, fileobj) -> tuple[str, str, int]:
    """Store ``fileobj`` (from its start) at ``key``; returns (stored name, sha256 hex, size).

    An upload received through agentapps.uploads.PackageUploadHandler was hashed as it arrived
    (``pixell_sha256``): it is handed to the storage as it is, so FileSystemStorage renames its
    temporary file into place (no copy) and S3 reads it once. Anything else is hashed while the
    storage reads it. Slow I/O: call outside any transaction. On failure nothing is left at ``key``.
    """
    if hasattr(fileobj, "seek"):
        fileobj.seek(0)
    precomputed = getattr(fileobj, "pixell_sha256", None)
    reader = None if precomputed else _HashingReader(fileobj)
    try:
        name = default_storage.save(key, fileobj if precomputed else _StreamFile(reader, name=key))
    except BaseException:
        storage_delete_quietly([key])
        raise
    if precomputed:
        return name, precomputed, fileobj.size
    return name, reader.hexdigest(), reader.size


def storage_delete_quietly(names) -> None:
    """Delete stored objects, logging (not raising) failures: used after commit, where the database
    change already happened and an exception could only turn a success into a 500."""
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except Exception:
            logger.exception("Could not delete stored package file %s", name)


def storage_open(name: str):
    """A readable binary file from storage. S3 reads spool to disk past max_memory_size (8 MiB)."""
    return default_storage.open(name, "rb")


# --- download links ----------------------------------------------------------------------------


def download_signature(package_id, expires: int) -> str:
    return salted_hmac(_DOWNLOAD_SALT, f"{package_id}:{expires}", algorithm="sha256").hexdigest()


def signed_download_request(request) -> bool:
    """A GET of a package download link with a valid signature: it carries its own authorization
    (expiring HMAC), so the anonymous rate limit does not apply (a runtime fetching packages from a
    development server must not be throttled)."""
    if request.method not in ("GET", "HEAD") or not request.path.endswith("/download"):
        return False
    try:
        match = resolve(request.path)
    except Resolver404:
        return False
    if match.url_name != "agentapps-package-download":
        return False
    return download_signature_valid(
        match.kwargs.get("package_id"), request.GET.get("expires"), request.GET.get("sig")
    )


def download_signature_valid(
    package_id, expires_raw: str | None, sig: str | None, *, now: float | None = None
) -> bool:
    try:
        expires = int(expires_raw or "")
    except ValueError:
        return False
    if not sig or expires < int(now if now is not None else time.time()):
        return False
    return constant_time_compare(download_signature(package_id, expires), sig)


def package_filename(package) -> str:
    """<manifest name>-<version>.apkg, as ``pixell build`` names it; names are ^[a-z][a-z0-9-]*$."""
    name = (package.manifest or {}).get("name")
    if not isinstance(name, str) or not name:
        name = "package"
    return f"{name}-{package.version}.apkg"


def download_url(*, package, request=None) -> str:
    """The package's ``s3_url``: presigned on S3, else our signed, expiring download link."""
    filename = package_filename(package)
    if storage_is_s3():
        return default_storage.url(
            package.file.name,
            parameters={"ResponseContentDisposition": f'attachment; filename="{filename}"'},
            expire=DOWNLOAD_URL_SECONDS,
        )
    expires = int(time.time()) + DOWNLOAD_URL_SECONDS
    path = reverse("agentapps-package-download", args=[str(package.pk)])
    query = f"?expires={expires}&sig={download_signature(package.pk, expires)}"
    if request is not None:
        return request.build_absolute_uri(path) + query
    return f"{settings.PIXELL_PUBLIC_URL}{path}{query}"
