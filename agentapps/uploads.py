"""Receiving package uploads: bounded disk use, whatever the client sends.

Django streams file parts larger than FILE_UPLOAD_MAX_MEMORY_SIZE (2 MiB) to a temporary file, which
it deletes when the request ends; DATA_UPLOAD_MAX_MEMORY_SIZE applies to non-file fields only, so a
100 MiB package is accepted. What Django does not do is stop writing: a client could fill the disk
with a 10 GiB "package". ``PackageSizeLimitHandler`` sits first in the handler chain and drops every
chunk of a file part past its limit (the rest of the body is still read and discarded, so the client
gets a proper answer), and records the refusal; the view then answers 400 PACKAGE_VALIDATION_FAILED.

Views that accept packages call ``install_package_upload_handlers`` before the body is parsed
(``initialize_request``), and ``raise_if_upload_too_large`` before using the upload.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler

from pixell.api.exceptions import PackageValidationFailed

# Signature files are 64 bytes (or ~90 as base64); anything else attached is not ours to store.
OTHER_FILE_LIMIT = 64 * 1024
_FLAG = "_pixell_upload_too_large"


def _human(n: int) -> str:
    mib = 1024 * 1024
    return f"{n // mib} MiB" if n % mib == 0 else f"{n:,} bytes"


def package_too_large_message(limit: int) -> str:
    return f"Package is larger than the {_human(limit)} limit ({limit:,} bytes)"


class PackageSizeLimitHandler(FileUploadHandler):
    def __init__(self, request=None, *, package_field: str = "file"):
        super().__init__(request)
        self.package_field = package_field
        self._received = 0
        self._limit = 0

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        self._received = 0
        self._limit = settings.PIXELL_MAX_PACKAGE_BYTES if field_name == self.package_field else OTHER_FILE_LIMIT

    def receive_data_chunk(self, raw_data, start):
        self._received += len(raw_data)
        if self._received > self._limit:
            too_large = getattr(self.request, _FLAG, None) or {}
            too_large[self.field_name] = self._limit
            setattr(self.request, _FLAG, too_large)
            return None  # later handlers (memory, temporary file) never see the excess
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the uploaded file


def install_package_upload_handlers(request) -> None:
    """Put the size limit first in the handler chain of a Django request not yet parsed."""
    request.upload_handlers.insert(0, PackageSizeLimitHandler(request))


def raise_if_upload_too_large(request) -> None:
    too_large = getattr(getattr(request, "_request", request), _FLAG, None)
    if not too_large:
        return
    details = []
    for field, limit in too_large.items():
        if field == "file":
            details.append(package_too_large_message(limit))
        else:
            details.append(f"{field}: larger than {_human(limit)}")
    raise PackageValidationFailed(details=details)
