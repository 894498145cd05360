"""Receiving package uploads: hashed while they arrive, bounded on disk whatever the client sends.

Views that accept packages replace Django's upload handlers with ``PackageUploadHandler``
(``install_package_upload_handlers``, called from ``initialize_request`` before the body is parsed)
and call ``raise_if_upload_too_large`` before using the upload. The handler:

- keeps small requests in memory and streams others to a temporary file, exactly like Django's two
  default handlers (FILE_UPLOAD_MAX_MEMORY_SIZE, 2 MiB); Django deletes the temporary file when the
  request ends. DATA_UPLOAD_MAX_MEMORY_SIZE applies to non-file fields only, so 100 MiB packages pass;
- computes the SHA-256 of each file part in the same pass that writes it (``upload.pixell_sha256``),
  so storing needs no second read: on local storage the temporary file is then just renamed into
  MEDIA_ROOT (FileSystemStorage moves uploads that have a temporary path), on S3 it is read once;
- stops writing a file part past its limit (PIXELL_MAX_PACKAGE_BYTES for ``file``, 64 KiB for any
  other file part such as ``signature``): the rest of the body is read and dropped, so a client
  sending 10 GiB cannot fill the disk, and still gets a proper 400 PACKAGE_VALIDATION_FAILED.
"""

from __future__ import annotations

import hashlib
import io
import os

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, TemporaryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler

from agentapps.errors import PackageValidationFailed

# Signature files are 64 bytes (or ~90 as base64); anything else attached is not ours to store.
OTHER_FILE_LIMIT = 64 * 1024
PACKAGE_FIELD = "file"
_FLAG = "_pixell_upload_too_large"


def _human(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n:,} bytes"


def package_too_large_message(limit: int) -> str:
    return f"Package is larger than the {_human(limit)} limit ({limit:,} bytes)"


class PackageUploadHandler(FileUploadHandler):
    """Django's memory-or-temporary-file handling, plus hashing and a per-part size limit."""

    def __init__(self, request=None):
        super().__init__(request)
        self.in_memory = False
        self._limit = 0
        self._received = 0
        self._written = 0
        self._digest = None

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # Same rule as MemoryFileUploadHandler: decided once, from the whole request's length.
        self.in_memory = content_length <= settings.FILE_UPLOAD_MAX_MEMORY_SIZE

    def new_file(
        self,
        field_name,
        file_name,
        content_type,
        content_length,
        charset=None,
        content_type_extra=None,
    ):
        super().new_file(
            field_name, file_name, content_type, content_length, charset, content_type_extra
        )
        self._limit = (
            settings.PIXELL_MAX_PACKAGE_BYTES if field_name == PACKAGE_FIELD else OTHER_FILE_LIMIT
        )
        self._received = self._written = 0
        self._digest = hashlib.sha256()
        if self.in_memory:
            self.file = io.BytesIO()
        else:
            self.file = TemporaryUploadedFile(
                self.file_name, self.content_type, 0, self.charset, self.content_type_extra
            )

    def receive_data_chunk(self, raw_data, start):
        self._received += len(raw_data)
        if self._received > self._limit:
            too_large = getattr(self.request, _FLAG, None) or {}
            too_large[self.field_name] = self._limit
            setattr(self.request, _FLAG, too_large)
            return None  # dropped: nothing past the limit is kept
        self._digest.update(raw_data)
        self.file.write(raw_data)
        self._written += len(raw_data)
        return None

    def file_complete(self, file_size):
        self.file.seek(0)
        if self.in_memory:
            uploaded = InMemoryUploadedFile(
                file=self.file,
                field_name=self.field_name,
                name=self.file_name,
                content_type=self.content_type,
                size=self._written,
                charset=self.charset,
                content_type_extra=self.content_type_extra,
            )
        else:
            uploaded = self.file
            uploaded.size = self._written
        # The digest of exactly the bytes kept; agentapps.storage uses it instead of re-reading.
        uploaded.pixell_sha256 = self._digest.hexdigest()
        return uploaded

    def upload_interrupted(self):
        # As TemporaryFileUploadHandler: an aborted parse must not leave its temporary file behind.
        if not self.in_memory and hasattr(self, "file"):
            path = self.file.temporary_file_path()
            try:
                self.file.close()
                os.remove(path)
            except FileNotFoundError:
                pass


def install_package_upload_handlers(request) -> None:
    """Use ``PackageUploadHandler`` for a Django request whose body is not parsed yet."""
    request.upload_handlers = [PackageUploadHandler(request)]


def raise_if_upload_too_large(request) -> None:
    too_large = getattr(getattr(request, "_request", request), _FLAG, None)
    if not too_large:
        return
    details = []
    for field, limit in too_large.items():
        if field == PACKAGE_FIELD:
            details.append(package_too_large_message(limit))
        else:
            details.append(f"{field}: larger than {_human(limit)}")
    raise PackageValidationFailed(details=details)
