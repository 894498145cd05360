"""Validation of uploaded agent packages (``.apkg``), docs/CONTRACT.md §4. Pure Python: no Django here.

An ``.apkg`` is a zip archive as the Pixell Agent Kit builds it (docs/pixell-kit.md §1): the manifest
is ``agent.yaml`` at the root, else the ``manifest`` object of ``.pixell/package.json``, else
``manifest.json``.

``validate_apkg`` never reads the archive into memory. It reads the end-of-central-directory record
first and refuses to parse a central directory with too many entries or too many bytes; then
``zipfile`` parses the central directory (names and sizes, no member data); every member is checked
from that metadata plus its 30-byte local header; member *data* is read, in chunks and under a byte
budget, only for the manifest, packaged ``.env`` files and a bounded number of small text files.

Every broken rule adds one message to ``errors`` (all reasons are collected, none stops the others,
except that an archive which cannot be opened at all has nothing further to check). Per-member rules
report at most ``ApkgLimits.max_messages_per_rule`` members each, then a count of the rest, so a
hostile archive cannot produce a 10,000-line answer.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import math
import os
import posixpath
import re
import stat
import struct
import zipfile
import zlib
from collections import defaultdict
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Union

import yaml

__all__ = [
    "DEFAULT_LIMITS",
    "INVALID_FORMAT",
    "KNOWN_MANIFEST_KEYS",
    "MANIFEST_SOURCES",
    "MISSING_MANIFEST",
    "RUNTIMES",
    "SURFACES",
    "ApkgLimits",
    "ApkgResult",
    "validate_apkg",
]

KiB = 1024
MiB = 1024 * KiB

INVALID_FORMAT = "Invalid APKG format"
MISSING_MANIFEST = "Missing required manifest (agent.yaml, .pixell/package.json or manifest.json)"

# In order of precedence (docs/CONTRACT.md §4).
MANIFEST_SOURCES = ("agent.yaml", ".pixell/package.json", "manifest.json")
RUNTIMES = ("node18", "node20", "python3.9", "python3.11", "go1.21")
SURFACES = ("a2a", "rest", "ui")
REQUIRED_TEXT_FIELDS = ("name", "display_name", "description", "author", "license")
# Every key of the kit's AgentManifest (models/agent_manifest.py); anything else is only warned about.
KNOWN_MANIFEST_KEYS = frozenset(
    {
        "version",
        "name",
        "display_name",
        "description",
        "author",
        "license",
        "entrypoint",
        "capabilities",
        "runtime",
        "environment",
        "dependencies",
        "mcp",
        "metadata",
        "a2a",
        "rest",
        "ui",
        "ui_spec_version",
        "required_ui_capabilities",
    }
)

NAME_RE = re.compile(r"[a-z][a-z0-9-]*")
# semver.org's own expression: MAJOR.MINOR.PATCH[-pre][+build], no leading zeros.
SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
# module:function. The module is dotted (Python, the kit's form: src.main) or a slash path (node).
_IDENT = r"[A-Za-z_$][A-Za-z0-9_$]*"
ENTRYPOINT_RE = re.compile(rf"(?P<module>{_IDENT}(?:[./]{_IDENT})*):(?P<function>{_IDENT})")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Where an entrypoint module may live in the archive, by runtime (src.main → src/main<suffix>).
_MODULE_SUFFIXES = {
    "python": (".py", "/__init__.py"),
    "node": (".js", ".mjs", ".cjs", ".ts", "/index.js", "/index.ts"),
    "go": (".go",),
}
_ALL_MODULE_SUFFIXES = tuple(s for suffixes in _MODULE_SUFFIXES.values() for s in suffixes)

# Zip compression methods a runtime can extract: stored, deflated, bzip2, lzma.
_SUPPORTED_COMPRESSION = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)

# Small text files worth scanning for absolute local paths.
_TEXT_SUFFIXES = frozenset(
    {
        ".py",
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".go",
        ".json",
        ".yaml",
        ".yml",
        ".toml",
        ".cfg",
        ".ini",
        ".txt",
        ".md",
        ".sh",
        ".env",
        ".conf",
        ".properties",
        ".html",
        ".css",
    }
)
_TEXT_NAMES = frozenset({"Dockerfile", "Procfile", "Makefile", ".env"})

# A local absolute path (a home directory or a drive), starting where a token starts: /home/alice,
# /Users/bob/project, C:\\Users\\x, C:/work. "/home/{id}" (a REST route) does not match.
_ABS_PATH_RE = re.compile(
    r"""(?:^|(?<=[\s"'=(\[,:;`]))"""
    r"""(?P<path>/(?:Users|home)/[A-Za-z0-9._-]+(?=[/\s"'`,;)\]]|$)|[A-Za-z]:(?:\\{1,2}|/)[A-Za-z0-9._-]+)"""
)

_SECRET_PATTERNS = (
    ("an API secret key (sk-…)", re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{10,}")),
    ("a Stripe secret key", re.compile(r"(?<![A-Za-z0-9])[rs]k_(?:live|test)_[A-Za-z0-9]{10,}")),
    (
        "an AWS access key id (AKIA…)",
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"),
    ),
    ("a PEM private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
    (
        "a GitHub token",
        re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ),
    ("a Slack token", re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}")),
)
_AWS_SECRET_KEY_RE = re.compile(r"aws_secret(?:_access)?_key", re.IGNORECASE)
_AWS_SECRET_VALUE_RE = re.compile(r"[A-Za-z0-9/+=]{40}")
_ENV_LINE_RE = re.compile(
    r"\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(?P<value>.*)"
)

_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
_READ_CHUNK = 64 * KiB


@dataclass(frozen=True)
class ApkgLimits:
    """Bounds on what an archive may contain and on how much of it the validator reads."""

    max_members: int = 10_000
    # A member whose uncompressed size is more than this many times its compressed size.
    max_compression_ratio: float = 100.0
    # Total uncompressed size allowed, as a multiple of the package size limit.
    uncompressed_factor: int = 4
    # The central directory is parsed into memory by zipfile: refuse absurd ones unparsed.
    max_central_directory_bytes: int = 32 * MiB
    max_manifest_bytes: int = 1 * MiB
    max_env_bytes: int = 256 * KiB
    max_env_files: int = 20
    # Absolute-path scan: only text members up to this size, up to these totals.
    max_scanned_file_bytes: int = 64 * KiB
    max_scanned_files: int = 500
    max_scanned_total_bytes: int = 4 * MiB
    max_manifest_depth: int = 64
    max_messages_per_rule: int = 10


DEFAULT_LIMITS = ApkgLimits()


@dataclass(frozen=True)
class ApkgResult:
    valid: bool
    errors: list[str]
    warnings: list[str]
    # The manifest as JSON-compatible data (string keys, dates as ISO strings), or None.
    manifest: dict[str, Any] | None
    # metadata.version, else the top-level version (as found, even when it is not semver).
    version: str | None
    name: str | None
    size: int
    # Which file the manifest came from (one of MANIFEST_SOURCES), or None.
    manifest_source: str | None = None
    # Members in the archive; past ApkgLimits.max_members counting stops at max_members + 1.
    member_count: int = 0
    uncompressed_size: int = 0


class _MemberTooLarge(Exception):
    pass


class _ManifestError(Exception):
    pass


class _Report:
    """Collects messages; per-member rules are capped, with a count of what was left out."""

    def __init__(self, cap: int) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self._cap = cap
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._overflow: dict[tuple[str, str], str] = {}

    def error(self, message: str) -> None:
        self.errors.append(message)

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def capped(self, kind: str, rule: str, message: str, overflow: str) -> None:
        """Record a per-member message; past the cap only count it ("… and N more <overflow>")."""
        key = (kind, rule)
        self._counts[key] += 1
        if self._counts[key] <= self._cap:
            (self.errors if kind == "error" else self.warnings).append(message)
        else:
            self._overflow[key] = overflow

    def finish(self) -> tuple[list[str], list[str]]:
        for (kind, rule), overflow in self._overflow.items():
            extra = self._counts[(kind, rule)] - self._cap
            (self.errors if kind == "error" else self.warnings).append(
                f"… and {extra} more {overflow}"
            )
        return self.errors, self.warnings


Source = Union[str, "os.PathLike[str]", BinaryIO, IO[bytes]]


def validate_apkg(
    src: Source,
    *,
    max_bytes: int,
    form_version: str | None = None,
    limits: ApkgLimits = DEFAULT_LIMITS,
) -> ApkgResult:
    """Validate a package given as a path or a seekable binary file object (an open file, a Django
    UploadedFile or storage File, BytesIO).

    A file object is read from its start and left at the position it had on entry.
    ``form_version``: the deploy/upload form's ``version``; ``None`` or ``""`` means not given.
    """
    if isinstance(src, (str, os.PathLike)):
        with open(src, "rb") as fp:
            return _validate(fp, max_bytes=max_bytes, form_version=form_version, limits=limits)
    position = src.tell()
    try:
        return _validate(src, max_bytes=max_bytes, form_version=form_version, limits=limits)
    finally:
        src.seek(position)


def _validate(
    fp: IO[bytes], *, max_bytes: int, form_version: str | None, limits: ApkgLimits
) -> ApkgResult:
    report = _Report(limits.max_messages_per_rule)
    # tell() rather than seek()'s return value: some file proxies (Django's File) drop it.
    fp.seek(0, io.SEEK_END)
    size = fp.tell()
    fp.seek(0)
    if size > max_bytes:
        report.error(f"Package is {size:,} bytes, over the size limit of {_bytes(max_bytes)}")

    def result(**found: Any) -> ApkgResult:
        errors, warnings = report.finish()
        return ApkgResult(valid=not errors, errors=errors, warnings=warnings, size=size, **found)

    empty = dict(manifest=None, version=None, name=None)
    end = _end_record(fp)
    if end is None:
        report.error(INVALID_FORMAT)
        return result(**empty)
    directory_start, directory_bytes = end
    if directory_bytes > limits.max_central_directory_bytes:
        report.error(
            f"Package's central directory is {directory_bytes:,} bytes, "
            f"more than the limit of {limits.max_central_directory_bytes:,}"
        )
        return result(**empty)
    # zipfile builds one object per central-directory entry, whatever the end record claims:
    # count the entries ourselves first and refuse to let it parse too many.
    entries = _count_entries(fp, directory_start, directory_bytes, stop_after=limits.max_members)
    if entries > limits.max_members:
        report.error(f"Package has more than {limits.max_members:,} members (the limit)")
        return result(**empty, member_count=entries)

    fp.seek(0)
    try:
        archive = zipfile.ZipFile(fp)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        ValueError,
        OSError,
        EOFError,
        UnicodeDecodeError,
        struct.error,
        NotImplementedError,
    ):
        report.error(INVALID_FORMAT)
        return result(**empty)

    with archive:
        infos = archive.infolist()
        total, broken = _check_members(
            fp, size, infos, max_bytes=max_bytes, limits=limits, report=report
        )
        by_name = {
            info.filename: info for info in infos
        }  # duplicates: the last one, as extractors do
        manifest, source = _load_manifest(archive, by_name, infos, limits=limits, report=report)
        version = name = None
        if manifest is not None:
            version, name = _check_manifest(
                manifest, source, by_name, form_version=form_version, report=report
            )
            _compare_kit_metadata(archive, by_name, manifest, source, limits=limits, report=report)
            _warn_manifest_paths_and_secrets(manifest, source, report=report)
        _scan_members(
            archive,
            [i for i in infos if i.orig_filename not in broken],
            limits=limits,
            report=report,
        )
        return result(
            manifest=manifest,
            version=version,
            name=name,
            manifest_source=source,
            member_count=len(infos),
            uncompressed_size=total,
        )


# --- the archive itself ----------------------------------------------------------------------


def _end_record(fp: IO[bytes]) -> tuple[int, int] | None:
    """(offset, size) of the central directory from the end record, or None when this is no zip."""
    try:
        end = zipfile._EndRecData(fp)  # stable since Python 2; reads zip64 too
    except (OSError, struct.error, ValueError, EOFError):
        return None
    if not end:
        return None
    size = int(end[zipfile._ECD_SIZE])
    # Where the directory really is, as zipfile computes it (data may be prepended to the archive).
    location = int(end[zipfile._ECD_LOCATION])
    if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
        location -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    start = location - size
    if start < 0:
        return None
    return start, size


_DIRECTORY_ENTRY = struct.Struct("<4s24xHHH12x")  # signature, then name/extra/comment lengths
_DIRECTORY_SIGNATURE = b"PK\x01\x02"


def _count_entries(fp: IO[bytes], start: int, size: int, *, stop_after: int) -> int:
    """Entries in the central directory, counted from their fixed headers; stops past `stop_after`."""
    count = 0
    position = start
    end = start + size
    while position + _DIRECTORY_ENTRY.size <= end and count <= stop_after:
        fp.seek(position)
        header = fp.read(_DIRECTORY_ENTRY.size)
        if len(header) < _DIRECTORY_ENTRY.size:
            break
        signature, name_length, extra_length, comment_length = _DIRECTORY_ENTRY.unpack(header)
        if signature != _DIRECTORY_SIGNATURE:
            break  # zipfile will refuse it as a bad archive
        count += 1
        position += _DIRECTORY_ENTRY.size + name_length + extra_length + comment_length
    return count


def _check_members(
    fp: IO[bytes],
    size: int,
    infos: list[zipfile.ZipInfo],
    *,
    max_bytes: int,
    limits: ApkgLimits,
    report: _Report,
) -> tuple[int, set[str]]:
    """Every rule that needs only the central directory and local headers.

    Returns the total uncompressed size and the names of members whose local header is broken
    (reading them would only repeat the error).
    """
    seen: dict[str, str] = {}
    total = 0
    for info in infos:
        raw = info.orig_filename
        name = info.filename
        total += info.file_size

        problem = _unsafe_name(raw)
        if problem:
            report.capped(
                "error",
                "unsafe-name",
                f"Unsafe member path ({problem}): {raw!r}",
                "unsafe member paths",
            )

        key = posixpath.normpath(name.rstrip("/")) if name.strip("/") else name
        if key in seen:
            report.capped(
                "error", "duplicate", f"Duplicate member name: {name!r}", "duplicate member names"
            )
        else:
            seen[key] = name

        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            report.capped(
                "error", "symlink", f"Symbolic link not allowed: {name!r}", "symbolic links"
            )
        elif mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            report.capped(
                "error", "special", f"Special file not allowed: {name!r}", "special files"
            )

        if info.flag_bits & 0x1:
            report.capped(
                "error", "encrypted", f"Encrypted member not allowed: {name!r}", "encrypted members"
            )
        if info.compress_type not in _SUPPORTED_COMPRESSION:
            report.capped(
                "error",
                "compression",
                f"Unsupported compression method {info.compress_type} for {name!r}",
                "members with unsupported compression",
            )

        if info.file_size and (
            info.compress_size == 0
            or info.file_size / info.compress_size > limits.max_compression_ratio
        ):
            ratio = (
                "∞" if info.compress_size == 0 else f"{info.file_size / info.compress_size:,.0f}"
            )
            report.capped(
                "error",
                "ratio",
                f"Member {name!r} is compressed {ratio}:1, more than "
                f"{limits.max_compression_ratio:g}:1 allowed (zip bomb)",
                "over-compressed members",
            )

    allowed = limits.uncompressed_factor * max_bytes
    if total > allowed:
        report.error(
            f"Package uncompresses to {total:,} bytes, more than {limits.uncompressed_factor} × the "
            f"package limit ({allowed:,} bytes)"
        )
    return total, _check_local_headers(fp, size, infos, report)


# One pass over the name decides the common case (a safe name); the rest only runs for hits.
_SUSPICIOUS_NAME_RE = re.compile(r"[\x00-\x1f\\]|^/|^[A-Za-z]:|(?:^|/)\.\.(?:/|$)|^$")


def _unsafe_name(name: str) -> str | None:
    if not _SUSPICIOUS_NAME_RE.search(name):
        return None
    if "\x00" in name:
        return "NUL byte"
    if "\\" in name:
        return "backslash"
    if not name:
        return "empty name"
    if name.startswith("/"):
        return "absolute"
    if re.match(r"[A-Za-z]:", name):
        return "drive letter"
    if ".." in name.split("/"):
        return "'..' component"
    return "control character"


def _check_local_headers(
    fp: IO[bytes], size: int, infos: list[zipfile.ZipInfo], report: _Report
) -> set[str]:
    """Each member's local header must name what the central directory names, and data must not overlap.

    Extractors differ on which of the two names they trust, and overlapping entries are how
    "non-recursive" zip bombs reuse one compressed block many times.
    """
    spans: list[tuple[int, int, str]] = []
    broken: set[str] = set()
    for info in infos:
        name = info.filename
        try:
            fp.seek(info.header_offset)
            header = fp.read(_LOCAL_HEADER.size)
            if len(header) != _LOCAL_HEADER.size or header[:4] != _LOCAL_HEADER_SIGNATURE:
                raise ValueError
            fields = _LOCAL_HEADER.unpack(header)
            flags, name_length, extra_length = fields[2], fields[9], fields[10]
            local_raw = fp.read(name_length)
            local_name = local_raw.decode("utf-8" if flags & 0x800 else "cp437")
        except (ValueError, OSError, UnicodeDecodeError, struct.error):
            report.capped(
                "error", "header", f"Corrupt local header for {name!r}", "corrupt local headers"
            )
            broken.add(info.orig_filename)
            continue
        if local_name != info.orig_filename:
            report.capped(
                "error",
                "header-name",
                f"Member name {info.orig_filename!r} differs from its local header name {local_name!r}",
                "members whose local header names differ",
            )
            broken.add(info.orig_filename)
        data_end = (
            info.header_offset
            + _LOCAL_HEADER.size
            + name_length
            + extra_length
            + info.compress_size
        )
        if data_end > size:
            report.capped(
                "error",
                "truncated",
                f"Member {name!r} extends past the end of the package",
                "truncated members",
            )
        spans.append((info.header_offset, data_end, name))
    spans.sort()
    reach, reach_name = -1, ""  # the furthest end so far, and whose it is
    for start, end, name in spans:
        if start < reach:
            report.capped(
                "error",
                "overlap",
                f"Members {reach_name!r} and {name!r} overlap in the archive",
                "overlapping members",
            )
        if end > reach:
            reach, reach_name = end, name
    return broken


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes, read in chunks; _MemberTooLarge past `limit` (declared or actual)."""
    if info.file_size > limit:
        raise _MemberTooLarge
    data = bytearray()
    with archive.open(info) as member:
        while True:
            chunk = member.read(min(_READ_CHUNK, limit + 1 - len(data)))
            if not chunk:
                break
            data += chunk
            if len(data) > limit:
                raise _MemberTooLarge
    return bytes(data)


_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,
    NotImplementedError,
    ValueError,
)


# --- the manifest --------------------------------------------------------------------------------


def _load_manifest(
    archive: zipfile.ZipFile,
    by_name: dict[str, zipfile.ZipInfo],
    infos: list[zipfile.ZipInfo],
    *,
    limits: ApkgLimits,
    report: _Report,
) -> tuple[dict[str, Any] | None, str | None]:
    for source in MANIFEST_SOURCES:
        info = by_name.get(source)
        if info is None or info.is_dir():
            continue
        try:
            document = _parse_document(archive, info, limits)
        except _ManifestError as exc:
            report.error(f"{source}: {exc}")
            return None, source
        if source == ".pixell/package.json":
            if not isinstance(document, dict):
                report.error(f"{source}: must hold a JSON object")
                return None, source
            if document.get("manifest") is None:
                continue  # no manifest in it: fall through to manifest.json
            document = document["manifest"]
        if not isinstance(document, dict):
            report.error(f"{source}: the manifest must be a mapping of fields")
            return None, source
        return document, source

    nested = [
        info.filename
        for info in infos
        if posixpath.basename(info.filename) in ("agent.yaml", "manifest.json")
        and "/" in info.filename
    ]
    hint = f"; found {nested[0]} — package the project's contents, not its folder" if nested else ""
    report.error(MISSING_MANIFEST + hint)
    return None, None


def _parse_document(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ApkgLimits) -> Any:
    try:
        raw = _read_member(archive, info, limits.max_manifest_bytes)
    except _MemberTooLarge:
        raise _ManifestError(
            f"larger than the {_human(limits.max_manifest_bytes)} manifest limit"
        ) from None
    except _READ_ERRORS as exc:
        raise _ManifestError(f"cannot be read ({exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _ManifestError("is not UTF-8 text") from None
    try:
        if info.filename.endswith(".json"):
            document = json.loads(text)
        else:
            # The C loader when available. Anchors and aliases are refused from the parse events,
            # before anything is constructed: an alias of a long string costs nothing in memory
            # but expands to its full length in every copy of the manifest (the stored JSON, the
            # API answers), so a 100 KB package could store gigabytes (docs/DECISIONS.md).
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            _refuse_anchors(text, loader)
            document = yaml.load(text, Loader=loader)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        kind = "JSON" if info.filename.endswith(".json") else "YAML"
        raise _ManifestError(f"invalid {kind}: {_one_line(exc)}") from None
    except (RecursionError, ValueError) as exc:
        raise _ManifestError(f"cannot be parsed ({_one_line(exc)})") from None
    return _to_json(document, limits.max_manifest_depth, set())


def _refuse_anchors(text: str, loader: Any) -> None:
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _ManifestError("must not use YAML aliases or anchors (*name, &name)")


def _to_json(value: Any, depth: int, seen: set[int]) -> Any:
    """JSON-compatible copy: string keys, ISO dates, lists; refuses aliases, cycles, deep nesting."""
    if depth < 0:
        raise _ManifestError("is nested too deeply")
    if isinstance(value, (dict, list, tuple, set)):
        if id(value) in seen:
            raise _ManifestError("must not use YAML aliases or anchors")
        seen.add(id(value))
    if isinstance(value, dict):
        return {
            str(k) if not isinstance(k, bool) else str(k).lower(): _to_json(v, depth - 1, seen)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_to_json(v, depth - 1, seen) for v in value]
    if isinstance(value, set):
        return sorted((_to_json(v, depth - 1, seen) for v in value), key=repr)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        raise _ManifestError("must not hold binary values")
    return value


@dataclass
class _ManifestCheck:
    """What every manifest rule reads, plus the version the version rule finds."""

    manifest: dict[str, Any]
    by_name: dict[str, zipfile.ZipInfo]
    form_version: str | None
    where: str
    report: _Report
    version: str | None = None

    def present(self, key: str) -> bool:
        # The kit writes every optional key into .pixell/package.json, null when unset.
        return self.manifest.get(key) is not None

    @property
    def name(self) -> str | None:
        name = self.manifest.get("name")
        return name if isinstance(name, str) else None

    @property
    def surfaces(self) -> list[str]:
        return [s for s in SURFACES if self.present(s)]


def _rule_required_text(check: _ManifestCheck) -> None:
    for key in REQUIRED_TEXT_FIELDS:
        value = check.manifest.get(key)
        if value is None:
            check.report.error(f"Missing required field: {key}")
        elif not isinstance(value, str) or not value.strip():
            check.report.error(f"{key} must be a non-empty string")


def _rule_name(check: _ManifestCheck) -> None:
    if check.name is not None and not NAME_RE.fullmatch(check.name):
        check.report.error(
            f"name {check.name!r} is invalid: lowercase letters, digits and hyphens, starting with "
            "a letter (^[a-z][a-z0-9-]*$)"
        )


def _rule_version(check: _ManifestCheck) -> None:
    check.version = _check_version(check.manifest, check.report)


def _rule_form_version(check: _ManifestCheck) -> None:
    form_version, version = check.form_version, check.version
    if form_version not in (None, "") and version is not None and form_version != version:
        check.report.error(
            f"Form version {form_version!r} does not match the package version {version!r}"
        )


def _rule_surfaces(check: _ManifestCheck) -> None:
    for surface in check.surfaces:
        _check_surface(
            surface, check.manifest[surface], check.by_name, check.manifest, check.report
        )


def _rule_entrypoint(check: _ManifestCheck) -> None:
    if not check.present("entrypoint"):
        if not check.surfaces:
            check.report.error(
                "Missing required field: entrypoint (required unless a2a, rest or ui is configured)"
            )
        return
    entrypoint = check.manifest["entrypoint"]
    match = ENTRYPOINT_RE.fullmatch(entrypoint) if isinstance(entrypoint, str) else None
    if match is None:
        check.report.error(
            f"entrypoint {entrypoint!r} must be 'module:function' (e.g. src.main:handler)"
        )
        return
    candidates = _module_files(match["module"], check.manifest.get("runtime"))
    if not any(c in check.by_name for c in candidates):
        check.report.error(
            f"Entrypoint module not found in the package: {candidates[0]} (from {entrypoint!r})"
        )


def _rule_capabilities(check: _ManifestCheck) -> None:
    capabilities = check.manifest.get("capabilities")
    if capabilities is None:
        return
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        check.report.error("capabilities must be a list of strings")


def _rule_runtime(check: _ManifestCheck) -> None:
    runtime = check.manifest.get("runtime")
    if runtime is not None and runtime not in RUNTIMES:
        check.report.error(
            f"runtime {runtime!r} is not supported; use one of: {', '.join(RUNTIMES)}"
        )


def _rule_environment(check: _ManifestCheck) -> None:
    environment = check.manifest.get("environment")
    if environment is None:
        return
    if not isinstance(environment, dict):
        check.report.error("environment must be a mapping of variable names to string values")
        return
    bad_names = [k for k in environment if not ENV_NAME_RE.fullmatch(k)]
    bad_values = [k for k, v in environment.items() if not isinstance(v, str)]
    if bad_names:
        check.report.error(
            f"environment has invalid variable names: {', '.join(map(repr, bad_names[:10]))}"
        )
    if bad_values:
        check.report.error(
            f"environment values must be strings (quote them in YAML): {', '.join(bad_values[:10])}"
        )


def _rule_dependencies(check: _ManifestCheck) -> None:
    dependencies = check.manifest.get("dependencies")
    if dependencies is None:
        return
    as_list = isinstance(dependencies, list) and all(isinstance(d, str) for d in dependencies)
    as_map = isinstance(dependencies, dict) and all(
        isinstance(v, str) for v in dependencies.values()
    )
    if not (as_list or as_map):
        check.report.error(
            "dependencies must be a list of requirement strings (or a name → version map)"
        )


def _rule_mcp(check: _ManifestCheck) -> None:
    mcp = check.manifest.get("mcp")
    if mcp is None:
        return
    if not isinstance(mcp, dict):
        check.report.error("mcp must be a mapping (enabled, config_file)")
        return
    config_file = mcp.get("config_file")
    if mcp.get("enabled") and isinstance(config_file, str) and config_file not in check.by_name:
        check.report.warning(f"mcp.config_file {config_file!r} is not in the package")


def _rule_metadata(check: _ManifestCheck) -> None:
    if check.present("metadata") and not isinstance(check.manifest["metadata"], dict):
        check.report.error("metadata must be a mapping")


def _rule_unknown_keys(check: _ManifestCheck) -> None:
    for key in check.manifest:
        if key not in KNOWN_MANIFEST_KEYS:
            check.report.capped(
                "warning",
                "unknown-key",
                f"Unknown manifest field {key!r} in {check.where} (ignored)",
                "unknown manifest fields",
            )


# The manifest rules, in the order their messages are reported. Each reads the manifest and adds
# its own messages; none stops the others. The version rule runs before the form-version rule,
# which compares with what it found.
_MANIFEST_RULES = (
    _rule_required_text,
    _rule_name,
    _rule_version,
    _rule_form_version,
    _rule_surfaces,
    _rule_entrypoint,
    _rule_capabilities,
    _rule_runtime,
    _rule_environment,
    _rule_dependencies,
    _rule_mcp,
    _rule_metadata,
    _rule_unknown_keys,
)


def _check_manifest(
    manifest: dict[str, Any],
    source: str | None,
    by_name: dict[str, zipfile.ZipInfo],
    *,
    form_version: str | None,
    report: _Report,
) -> tuple[str | None, str | None]:
    """Report every broken manifest rule; return (version, name) as found."""
    check = _ManifestCheck(
        manifest=manifest,
        by_name=by_name,
        form_version=form_version,
        where=source or "manifest",
        report=report,
    )
    for rule in _MANIFEST_RULES:
        rule(check)
    return check.version, check.name


def _check_version(manifest: dict[str, Any], report: _Report) -> str | None:
    metadata = manifest.get("metadata")
    if isinstance(metadata, dict) and metadata.get("version") is not None:
        raw, field_name = metadata["version"], "metadata.version"
    elif manifest.get("version") is not None:
        raw, field_name = manifest["version"], "version"
    else:
        report.error("Missing required field: metadata.version")
        return None
    if not isinstance(raw, str):
        report.error(
            f"{field_name} must be a semantic version string MAJOR.MINOR.PATCH[-pre][+build] (got {raw!r}; "
            "quote it in YAML)"
        )
        return str(raw)
    if not SEMVER_RE.fullmatch(raw):
        hint = (
            " (top-level version is the manifest format; put the package version in metadata.version)"
            if field_name == "version"
            else ""
        )
        report.error(
            f"{field_name} {raw!r} is not a semantic version MAJOR.MINOR.PATCH[-pre][+build]{hint}"
        )
    return raw


def _check_surface(
    surface: str,
    config: Any,
    by_name: dict[str, zipfile.ZipInfo],
    manifest: dict[str, Any],
    report: _Report,
) -> None:
    if not isinstance(config, dict):
        report.error(f"{surface} must be a mapping")
        return
    key = {"a2a": "service", "rest": "entry", "ui": "path"}[surface]
    value = config.get(key)
    if surface == "ui":
        if not isinstance(value, str) or not value:
            report.error("ui.path must be a non-empty string")
        return  # the kit packages ui.path as dist/ui/, not under its own name
    match = ENTRYPOINT_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        report.error(f"{surface}.{key} must be 'module:function' (got {value!r})")
        return
    candidates = _module_files(match["module"], manifest.get("runtime"))
    if not any(c in by_name for c in candidates):
        report.warning(f"{surface}.{key} module {candidates[0]} is not in the package")


def _module_files(module: str, runtime: Any) -> list[str]:
    base = module.replace(".", "/") if "/" not in module else module
    family = next(
        (f for f in _MODULE_SUFFIXES if isinstance(runtime, str) and runtime.startswith(f)), None
    )
    if runtime is None:
        family = "python"  # the kit's default runtime
    suffixes = _MODULE_SUFFIXES[family] if family else _ALL_MODULE_SUFFIXES
    return [base + suffix for suffix in suffixes]


def _compare_kit_metadata(
    archive: zipfile.ZipFile,
    by_name: dict[str, zipfile.ZipInfo],
    manifest: dict[str, Any],
    source: str | None,
    *,
    limits: ApkgLimits,
    report: _Report,
) -> None:
    """The kit writes agent.yaml and .pixell/package.json together; say so when they disagree."""
    info = by_name.get(".pixell/package.json")
    if source != "agent.yaml" or info is None:
        return
    try:
        document = _parse_document(archive, info, limits)
    except _ManifestError as exc:
        report.warning(f".pixell/package.json is ignored: {exc}")
        return
    other = document.get("manifest") if isinstance(document, dict) else None
    if not isinstance(other, dict):
        return
    for label, ours, theirs in (
        ("name", manifest.get("name"), other.get("name")),
        (
            "metadata.version",
            _get(manifest, "metadata", "version"),
            _get(other, "metadata", "version"),
        ),
    ):
        if ours != theirs:
            report.warning(
                f"agent.yaml and .pixell/package.json disagree on {label} ({ours!r} vs {theirs!r}); "
                "agent.yaml is used"
            )


def _get(mapping: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


# --- warnings: secrets and local paths ---------------------------------------------------------------


def _warn_manifest_paths_and_secrets(
    manifest: dict[str, Any], source: str | None, *, report: _Report
) -> None:
    where = source or "manifest"
    for path, value in _strings(manifest, ()):
        dotted = ".".join(path)
        for found in _ABS_PATH_RE.finditer(value):
            report.capped(
                "warning",
                "abs-path",
                f"Absolute local path in {where} ({dotted}): {found['path']}… — it will not exist in the runtime",
                "absolute local paths",
            )
            break
        if path[:1] == ("environment",):
            description = _secret_description(path[-1], value)
            if description:
                report.capped(
                    "warning",
                    "secret",
                    f"{where} environment.{path[-1]} looks like {description}; anyone who can download the "
                    "package can read it — store it as an app secret (pixell secrets) instead",
                    "secret-looking values",
                )


def _strings(value: Any, path: tuple[str, ...]):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, path + (str(key),))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, path + (str(index),))
    elif isinstance(value, str):
        yield path, value


def _secret_description(key: str, value: str) -> str | None:
    for description, pattern in _SECRET_PATTERNS:
        if pattern.search(value):
            return description
    if _AWS_SECRET_KEY_RE.search(key) and _AWS_SECRET_VALUE_RE.search(value):
        return "an AWS secret access key"
    return None


def _is_env_file(name: str) -> bool:
    base = posixpath.basename(name)
    return base == ".env" or base.startswith(".env.")


def _is_text_file(name: str) -> bool:
    base = posixpath.basename(name)
    return (
        base in _TEXT_NAMES
        or posixpath.splitext(base)[1].lower() in _TEXT_SUFFIXES
        or _is_env_file(name)
    )


def _scan_members(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], *, limits: ApkgLimits, report: _Report
) -> None:
    """Warn about secrets in packaged .env files and local absolute paths in small text files.

    Bounded: .env files up to max_env_bytes (at most max_env_files of them); other text files only
    when no larger than max_scanned_file_bytes, up to max_scanned_files / max_scanned_total_bytes.
    """
    env_files = 0
    scanned_files = 0
    scanned_bytes = 0
    for info in infos:
        name = info.filename
        if info.is_dir() or name in MANIFEST_SOURCES or _unsafe_name(info.orig_filename):
            continue
        is_env = _is_env_file(name)
        if is_env:
            if env_files >= limits.max_env_files:
                continue
            env_files += 1
            limit = limits.max_env_bytes
        elif _is_text_file(name):
            if (
                info.file_size > limits.max_scanned_file_bytes
                or scanned_files >= limits.max_scanned_files
                or scanned_bytes + info.file_size > limits.max_scanned_total_bytes
            ):
                continue
            scanned_files += 1
            scanned_bytes += info.file_size
            limit = limits.max_scanned_file_bytes
        else:
            continue
        if info.flag_bits & 0x1 or info.compress_type not in _SUPPORTED_COMPRESSION:
            continue  # already an error; nothing readable
        try:
            text = _read_member(archive, info, limit).decode("utf-8", errors="replace")
        except _MemberTooLarge:
            if is_env:
                report.warning(
                    f"{name} is larger than {_human(limit)} and was not checked for secrets"
                )
            continue
        except _READ_ERRORS as exc:
            report.capped(
                "error",
                "unreadable",
                f"Member {name!r} cannot be read ({_one_line(exc)})",
                "unreadable members",
            )
            continue
        _scan_text(name, text, is_env=is_env, report=report)


def _scan_text(name: str, text: str, *, is_env: bool, report: _Report) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        found = _ABS_PATH_RE.search(line)
        if found:
            report.capped(
                "warning",
                "abs-path",
                f"Absolute local path in {name} line {number}: {found['path']}… — it will not exist in the runtime",
                "absolute local paths",
            )
        if not is_env or line.lstrip().startswith("#"):
            continue
        parsed = _ENV_LINE_RE.match(line)
        key = parsed["key"] if parsed else ""
        description = _secret_description(key, line)
        if description:
            label = f" ({key})" if key else ""
            # Never echo the value itself: warnings are stored and shown in the dashboard.
            report.capped(
                "warning",
                "secret",
                f"{name} line {number}{label} looks like {description}; anyone who can download the package "
                "can read it — store it as an app secret (pixell secrets) instead",
                "secret-looking values",
            )


# --- hashing while storing -----------------------------------------------------------------------------


def _open(target: Source, mode: str) -> tuple[IO[bytes], bool]:
    if isinstance(target, (str, os.PathLike)):
        return open(target, mode), True
    return target, False


# --- small helpers ------------------------------------------------------------------------------------


def _human(n: int) -> str:
    if n >= MiB and n % MiB == 0:
        return f"{n // MiB} MiB"
    if n >= KiB and n % KiB == 0:
        return f"{n // KiB} KiB"
    return f"{n:,} bytes"


def _bytes(n: int) -> str:
    exact = f"{n:,} bytes"
    human = _human(n)
    return exact if human == exact else f"{exact} ({human})"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
