"""agentapps.apkg: the package validator (docs/CONTRACT.md §4), against hand-made hostile archives and a
package built by the real Pixell Agent Kit. No database, no Django."""

from __future__ import annotations

import io
import json
import os
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
import yaml

from agentapps.apkg import (
    INVALID_FORMAT,
    MISSING_MANIFEST,
    ApkgLimits,
    ApkgResult,
    validate_apkg,
)
from tests.agentapps.kit import KitUnavailable, build_kit_package

MAX = 100 * 1024 * 1024  # the default PIXELL_MAX_PACKAGE_BYTES

MANIFEST = {
    "version": "1.0",
    "name": "my-agent",
    "display_name": "My Agent",
    "description": "Does things",
    "author": "Ada",
    "license": "MIT",
    "entrypoint": "src.main:handler",
    "runtime": "python3.11",
    "capabilities": ["text-generation"],
    "environment": {"LOG_LEVEL": "info"},
    "dependencies": ["requests>=2.28.0"],
    "metadata": {"version": "1.2.3"},
}
HANDLER = b"def handler(context):\n    return {'ok': True}\n"


def write_zip(path: Path, members) -> Path:
    """members: (name or ZipInfo, bytes | str) pairs, written in order, duplicates allowed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some tests need
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return path


def manifest(**changes) -> dict:
    """MANIFEST with changes; a value of ... removes the key."""
    result = json.loads(json.dumps(MANIFEST))
    for key, value in changes.items():
        if value is ...:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def package(
    tmp_path: Path, manifest_data=None, *, extra=(), source="agent.yaml", name="pkg.apkg"
) -> Path:
    """A package laid out as the kit lays it out, with `extra` members appended."""
    data = MANIFEST if manifest_data is None else manifest_data
    if source == "agent.yaml":
        manifest_member = ("agent.yaml", yaml.safe_dump(data, sort_keys=False))
    elif source == ".pixell/package.json":
        manifest_member = (source, json.dumps({"format_version": "1.0", "manifest": data}))
    else:
        manifest_member = (source, json.dumps(data))
    members = [
        ("src/", b""),
        manifest_member,
        (".env", "LOG_LEVEL=info\n"),
        ("src/__init__.py", b""),
        ("src/main.py", HANDLER),
        *extra,
    ]
    return write_zip(tmp_path / name, members)


def check(path, **kwargs) -> ApkgResult:
    kwargs.setdefault("max_bytes", MAX)
    return validate_apkg(path, **kwargs)


def assert_error(result: ApkgResult, fragment: str) -> None:
    assert not result.valid
    assert any(fragment in e for e in result.errors), result.errors


def assert_warning(result: ApkgResult, fragment: str) -> None:
    assert any(fragment in w for w in result.warnings), result.warnings


# --- a good package ----------------------------------------------------------------------------------


def test_kit_layout_package_is_valid(tmp_path):
    result = check(package(tmp_path))

    assert result.valid, result.errors
    assert result.errors == [] and result.warnings == []
    assert result.version == "1.2.3"
    assert result.name == "my-agent"
    assert result.manifest == MANIFEST
    assert result.manifest_source == "agent.yaml"
    assert result.size == (tmp_path / "pkg.apkg").stat().st_size
    assert result.member_count == 5


def test_result_is_frozen(tmp_path):
    result = check(package(tmp_path))
    with pytest.raises(AttributeError):
        result.valid = False


def test_file_object_is_read_and_left_where_it_was(tmp_path):
    data = package(tmp_path).read_bytes()
    fileobj = io.BytesIO(data)
    fileobj.seek(7)

    result = check(fileobj)

    assert result.valid and result.size == len(data)
    assert fileobj.tell() == 7


def test_django_file_wrappers_work(tmp_path):
    # What the services pass: a request's UploadedFile, a storage File.
    from django.core.files import File
    from django.core.files.uploadedfile import SimpleUploadedFile

    path = package(tmp_path)
    upload = SimpleUploadedFile(
        "agent.apkg", path.read_bytes(), content_type="application/octet-stream"
    )
    with open(path, "rb") as handle:
        stored = File(handle, name="agent.apkg")
        stored_result = check(stored)

    upload_result = check(upload)

    assert upload_result.valid and stored_result.valid
    assert upload_result.size == stored_result.size == path.stat().st_size
    assert upload.tell() == 0


# --- not a zip, no manifest ------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"hello, not a zip", b"PK\x03\x04" + b"\0" * 100])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "bad.apkg"
    path.write_bytes(content)

    result = check(path)

    assert not result.valid
    assert result.errors == [INVALID_FORMAT]
    assert result.manifest is None and result.version is None


def test_truncated_zip_is_invalid_format(tmp_path):
    path = package(tmp_path)
    path.write_bytes(path.read_bytes()[:-30])  # the end record is gone

    assert check(path).errors == [INVALID_FORMAT]


def test_missing_manifest(tmp_path):
    path = write_zip(tmp_path / "p.apkg", [("src/main.py", HANDLER)])

    result = check(path)

    assert not result.valid
    assert result.errors == [MISSING_MANIFEST]
    assert result.errors[0].startswith("Missing required manifest")


def test_missing_manifest_points_at_a_zipped_folder(tmp_path):
    path = write_zip(
        tmp_path / "p.apkg",
        [("my-agent/agent.yaml", yaml.safe_dump(MANIFEST)), ("my-agent/src/main.py", HANDLER)],
    )

    (error,) = check(path).errors

    assert error.startswith("Missing required manifest") and "my-agent/agent.yaml" in error


def test_package_json_alone_is_accepted(tmp_path):
    result = check(package(tmp_path, source=".pixell/package.json"))

    assert result.valid, result.errors
    assert result.manifest_source == ".pixell/package.json"
    assert result.version == "1.2.3"


def test_manifest_json_alone_is_accepted(tmp_path):
    result = check(package(tmp_path, source="manifest.json"))

    assert result.valid, result.errors
    assert result.manifest_source == "manifest.json"


def test_agent_yaml_wins_over_the_others(tmp_path):
    other = manifest(metadata={"version": "9.9.9"})
    path = package(tmp_path, extra=[("manifest.json", json.dumps(other))])

    result = check(path)

    assert result.version == "1.2.3" and result.manifest_source == "agent.yaml"


def test_package_json_without_manifest_falls_through_to_manifest_json(tmp_path):
    path = package(
        tmp_path,
        source="manifest.json",
        extra=[(".pixell/package.json", json.dumps({"format_version": "1.0"}))],
    )

    result = check(path)

    assert result.valid, result.errors
    assert result.manifest_source == "manifest.json"


def test_kit_style_nulls_in_package_json_mean_absent(tmp_path):
    # The kit's model_dump writes every optional key, null when unset.
    data = manifest(
        mcp=None, a2a=None, rest=None, ui=None, ui_spec_version=None, required_ui_capabilities=None
    )
    data["metadata"] = {"version": "1.2.3", "homepage": None, "repository": None, "tags": []}

    result = check(package(tmp_path, data, source=".pixell/package.json"))

    assert result.valid, result.errors
    assert result.warnings == []


def test_agent_yaml_and_package_json_disagreeing_is_a_warning(tmp_path):
    kit_copy = {"manifest": manifest(metadata={"version": "1.2.4"})}
    result = check(package(tmp_path, extra=[(".pixell/package.json", json.dumps(kit_copy))]))

    assert result.valid
    assert_warning(result, "disagree on metadata.version")


@pytest.mark.parametrize(
    "source, content, fragment",
    [
        ("agent.yaml", "name: [unclosed", "invalid YAML"),
        ("agent.yaml", "- just\n- a list\n", "must be a mapping"),
        ("agent.yaml", b"\xff\xfe\x00bad", "not UTF-8"),
        (".pixell/package.json", "{not json", "invalid JSON"),
        (".pixell/package.json", "[1, 2]", "must hold a JSON object"),
        ("manifest.json", '"a string"', "must be a mapping"),
    ],
)
def test_unparseable_manifest(tmp_path, source, content, fragment):
    path = write_zip(tmp_path / "p.apkg", [(source, content), ("src/main.py", HANDLER)])

    result = check(path)

    assert_error(result, fragment)
    assert result.errors[0].startswith(source)


def test_yaml_alias_bomb_is_refused_without_expanding_it(tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 30):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]")
    path = write_zip(
        tmp_path / "p.apkg", [("agent.yaml", "\n".join(lines)), ("src/main.py", HANDLER)]
    )

    assert_error(check(path), "must not use YAML aliases")


def test_oversized_manifest_is_refused_unread(tmp_path):
    big = yaml.safe_dump(manifest(description="x" * (2 * 1024 * 1024)))
    result = check(write_zip(tmp_path / "p.apkg", [("agent.yaml", big), ("src/main.py", HANDLER)]))

    assert_error(result, "larger than the 1 MiB manifest limit")


def test_manifest_dates_are_normalised_to_json(tmp_path):
    text = yaml.safe_dump(MANIFEST) + "released: 2024-01-02\n"
    path = write_zip(tmp_path / "p.apkg", [("agent.yaml", text), ("src/main.py", HANDLER)])

    result = check(path)

    assert result.manifest["released"] == "2024-01-02"
    json.dumps(result.manifest)  # storable as JSON


# --- manifest fields -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["name", "display_name", "description", "author", "license"])
def test_required_field_missing(tmp_path, key):
    result = check(package(tmp_path, manifest(**{key: ...})))

    assert_error(result, f"Missing required field: {key}")


@pytest.mark.parametrize("key", ["display_name", "description", "author", "license"])
@pytest.mark.parametrize("value", ["", "   ", 42, ["a"]])
def test_required_field_must_be_a_non_empty_string(tmp_path, key, value):
    assert_error(
        check(package(tmp_path, manifest(**{key: value}))), f"{key} must be a non-empty string"
    )


@pytest.mark.parametrize(
    "name", ["My_Agent", "1agent", "agent.v1", "-agent", "AGENT", "agent name", ""]
)
def test_name_pattern(tmp_path, name):
    result = check(package(tmp_path, manifest(name=name)))

    assert not result.valid
    assert any("name" in e for e in result.errors), result.errors


@pytest.mark.parametrize(
    "version",
    ["0.0.1", "1.2.3", "10.20.30", "1.0.0-alpha.1", "1.0.0+build.5", "1.0.0-rc.1+sha.abc"],
)
def test_semantic_versions_accepted(tmp_path, version):
    result = check(package(tmp_path, manifest(metadata={"version": version})))

    assert result.valid, result.errors
    assert result.version == version


@pytest.mark.parametrize(
    "version",
    ["1.0", "1", "01.2.3", "1.02.3", "v1.2.3", "1.2.3-", "1.2.3+", "1.2.3\n", "1.2.3.4", "latest"],
)
def test_non_semantic_versions_refused(tmp_path, version):
    assert_error(
        check(package(tmp_path, manifest(metadata={"version": version}))),
        "is not a semantic version",
    )


def test_unquoted_yaml_number_version_is_refused(tmp_path):
    text = yaml.safe_dump(manifest(metadata=...)) + "metadata:\n  version: 1.5\n"
    path = write_zip(tmp_path / "p.apkg", [("agent.yaml", text), ("src/main.py", HANDLER)])

    assert_error(check(path), "metadata.version must be a semantic version string")


def test_top_level_version_is_used_only_without_metadata_version(tmp_path):
    with_both = check(
        package(tmp_path, manifest(version="1.0", metadata={"version": "2.0.0"}), name="a.apkg")
    )
    top_only = check(package(tmp_path, manifest(version="3.1.4", metadata=...), name="b.apkg"))
    format_only = check(package(tmp_path, manifest(version="1.0", metadata=...), name="c.apkg"))
    neither = check(package(tmp_path, manifest(version=..., metadata=...), name="d.apkg"))

    assert with_both.valid and with_both.version == "2.0.0"
    assert top_only.valid and top_only.version == "3.1.4"
    assert_error(format_only, "version '1.0' is not a semantic version")
    assert_error(neither, "Missing required field: metadata.version")


def test_form_version_must_match(tmp_path):
    path = package(tmp_path)

    assert check(path, form_version="1.2.3").valid
    assert check(path, form_version=None).valid
    assert check(path, form_version="").valid  # an empty form field counts as not given
    assert_error(
        check(path, form_version="1.2.4"),
        "Form version '1.2.4' does not match the package version '1.2.3'",
    )


def test_entrypoint_required_without_surfaces(tmp_path):
    result = check(package(tmp_path, manifest(entrypoint=...)))

    assert_error(result, "Missing required field: entrypoint")


@pytest.mark.parametrize(
    "surface, config, extra",
    [
        (
            "rest",
            {"entry": "src.rest.index:mount"},
            [("src/rest/index.py", "def mount(app): pass\n")],
        ),
        (
            "a2a",
            {"service": "src.a2a.server:serve"},
            [("src/a2a/server.py", "def serve(): pass\n")],
        ),
        ("ui", {"path": "ui"}, [("dist/ui/index.html", "<html></html>")]),
    ],
)
def test_entrypoint_optional_with_a_surface(tmp_path, surface, config, extra):
    result = check(package(tmp_path, manifest(entrypoint=..., **{surface: config}), extra=extra))

    assert result.valid, result.errors
    assert result.warnings == []


def test_null_surfaces_do_not_count(tmp_path):
    result = check(package(tmp_path, manifest(entrypoint=None, a2a=None, rest=None, ui=None)))

    assert_error(result, "Missing required field: entrypoint")


@pytest.mark.parametrize(
    "entrypoint",
    ["src.main", "src.main:", ":handler", "src.main:handler:x", "src..main:handler", 42],
)
def test_entrypoint_format(tmp_path, entrypoint):
    assert_error(
        check(package(tmp_path, manifest(entrypoint=entrypoint))), "must be 'module:function'"
    )


def test_entrypoint_module_must_be_in_the_archive(tmp_path):
    result = check(package(tmp_path, manifest(entrypoint="src.agent:run")))

    assert_error(result, "Entrypoint module not found in the package: src/agent.py")


def test_entrypoint_module_may_be_a_package(tmp_path):
    path = package(
        tmp_path,
        manifest(entrypoint="src.agent:run"),
        extra=[("src/agent/__init__.py", "def run(c): pass\n")],
    )

    assert check(path).valid


def test_entrypoint_module_for_node_runtime(tmp_path):
    path = package(
        tmp_path,
        manifest(runtime="node20", entrypoint="src/index:handler"),
        extra=[("src/index.js", "exports.handler = () => 1\n")],
    )

    assert check(path).valid


def test_malformed_surface(tmp_path):
    result = check(package(tmp_path, manifest(rest={"entry": "no-colon"}, a2a="yes")))

    assert_error(result, "rest.entry must be 'module:function'")
    assert_error(result, "a2a must be a mapping")


@pytest.mark.parametrize("capabilities", ["text", [1, 2], [["nested"]], {"a": "b"}, True])
def test_capabilities_must_be_a_list_of_strings(tmp_path, capabilities):
    assert_error(
        check(package(tmp_path, manifest(capabilities=capabilities))),
        "capabilities must be a list of strings",
    )


@pytest.mark.parametrize("runtime", ["python3.11", "python3.9", "node18", "node20", "go1.21"])
def test_supported_runtimes(tmp_path, runtime):
    extra = [("src/main.js", "x"), ("src/main.go", "x")]
    assert check(package(tmp_path, manifest(runtime=runtime), extra=extra)).valid


@pytest.mark.parametrize("runtime", ["python3.12", "ruby", "", 3.11])
def test_unsupported_runtime(tmp_path, runtime):
    assert_error(check(package(tmp_path, manifest(runtime=runtime))), "is not supported")


def test_environment_must_map_names_to_strings(tmp_path):
    not_a_map = check(package(tmp_path, manifest(environment=["A=1"]), name="a.apkg"))
    bad_values = check(
        package(tmp_path, manifest(environment={"DEBUG": False, "PORT": 8080}), name="b.apkg")
    )
    bad_names = check(
        package(tmp_path, manifest(environment={"1BAD": "x", "has space": "y"}), name="c.apkg")
    )

    assert_error(not_a_map, "environment must be a mapping")
    assert_error(bad_values, "environment values must be strings")
    assert "DEBUG" in bad_values.errors[0] and "PORT" in bad_values.errors[0]
    assert_error(bad_names, "environment has invalid variable names")


def test_dependencies_and_mcp_shapes(tmp_path):
    good = check(
        package(
            tmp_path,
            manifest(dependencies={"express": "^4.0.0"}, mcp={"enabled": False}),
            name="a.apkg",
        )
    )
    bad = check(package(tmp_path, manifest(dependencies="requests", mcp=["x"]), name="b.apkg"))

    assert good.valid, good.errors
    assert_error(bad, "dependencies must be a list")
    assert_error(bad, "mcp must be a mapping")


def test_metadata_extra_fields_are_free(tmp_path):
    data = manifest(
        metadata={"version": "1.2.3", "homepage": "https://x", "tags": ["a"], "anything": {"x": 1}}
    )

    result = check(package(tmp_path, data))

    assert result.valid and result.warnings == []


def test_unknown_top_level_keys_are_warnings_not_errors(tmp_path):
    result = check(package(tmp_path, manifest(colour="blue", pricing={"tier": "free"})))

    assert result.valid, result.errors
    assert_warning(result, "Unknown manifest field 'colour'")
    assert_warning(result, "Unknown manifest field 'pricing'")


# --- hostile archives ------------------------------------------------------------------------------------


def test_package_over_the_size_limit(tmp_path):
    path = package(tmp_path)
    size = path.stat().st_size

    result = check(path, max_bytes=size - 1)

    assert_error(result, f"Package is {size:,} bytes, over the size limit of {size - 1:,} bytes")
    assert check(path, max_bytes=size).valid


@pytest.mark.parametrize(
    "member, problem",
    [
        ("/etc/cron.d/evil", "absolute"),
        ("../../etc/passwd", "'..' component"),
        ("src/../../escape.py", "'..' component"),
        ("..", "'..' component"),
        ("src\\..\\..\\evil.py", "backslash"),
        ("C:/Windows/evil.dll", "drive letter"),
        ("src/\x07bell.py", "control character"),
    ],
)
def test_unsafe_member_names(tmp_path, member, problem):
    result = check(package(tmp_path, extra=[(member, "x")]))

    assert_error(result, f"Unsafe member path ({problem})")


def test_duplicate_member_names(tmp_path):
    result = check(package(tmp_path, extra=[("src/main.py", b"print('shadow')\n")]))

    assert_error(result, "Duplicate member name: 'src/main.py'")


def test_file_and_directory_with_one_name_are_duplicates(tmp_path):
    result = check(package(tmp_path, extra=[("src", b"a file")]))

    assert_error(result, "Duplicate member name")


def test_symlink_member(tmp_path):
    link = zipfile.ZipInfo("src/passwd")
    link.create_system = 3
    link.external_attr = 0o120777 << 16

    result = check(package(tmp_path, extra=[(link, "/etc/passwd")]))

    assert_error(result, "Symbolic link not allowed: 'src/passwd'")


def test_device_or_fifo_member(tmp_path):
    fifo = zipfile.ZipInfo("src/pipe")
    fifo.external_attr = (stat.S_IFIFO | 0o644) << 16

    assert_error(check(package(tmp_path, extra=[(fifo, "")])), "Special file not allowed")


def test_too_many_members(tmp_path):
    extra = [(f"data/{i}.txt", b"") for i in range(10_000)]  # + 5 kit members = 10,005

    result = check(package(tmp_path, extra=extra))

    assert_error(result, "more than 10,000 members")


def test_member_limit_is_checked_before_zipfile_parses_the_directory(tmp_path, monkeypatch):
    path = package(tmp_path, extra=[(f"d/{i}", b"") for i in range(20)])

    def refuse(*args, **kwargs):
        raise AssertionError("the central directory must not be parsed")

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", refuse)
    result = check(path, limits=ApkgLimits(max_members=10))

    assert_error(result, "more than 10 members")


def test_exactly_the_member_limit_is_fine(tmp_path):
    extra = [(f"data/{i}.txt", b"") for i in range(10_000 - 5)]

    assert check(package(tmp_path, extra=extra)).valid


def test_total_uncompressed_size_over_four_times_the_limit(tmp_path):
    noise = os.urandom(5000)  # incompressible, so only the total rule trips, not the ratio rule
    path = package(tmp_path, extra=[("data/noise.bin", noise)])

    result = check(path, max_bytes=1200)

    assert_error(result, "uncompresses to")
    assert_error(result, "more than 4 × the package limit (4,800 bytes)")
    assert not any("compressed" in e and ":1" in e for e in result.errors)


def test_zip_bomb_member(tmp_path):
    result = check(package(tmp_path, extra=[("data/zeros.bin", b"\0" * (10 * 1024 * 1024))]))

    assert_error(result, "Member 'data/zeros.bin' is compressed")
    assert_error(result, "more than 100:1 allowed (zip bomb)")


def test_zip_bomb_is_detected_without_inflating_it(tmp_path, monkeypatch):
    path = package(tmp_path, extra=[("data/zeros.bin", b"\0" * (10 * 1024 * 1024))])
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    check(path)

    assert "data/zeros.bin" not in opened


def test_encrypted_member(tmp_path):
    # zipfile cannot write encrypted members: set the "encrypted" flag bit in both headers by hand.
    path = package(tmp_path, extra=[("src/secret.py", "x = 1\n")])
    data = bytearray(path.read_bytes())
    local = data.rindex(b"PK\x03\x04", 0, data.index(b"src/secret.py"))
    central = data.rindex(b"PK\x01\x02", 0, data.rindex(b"src/secret.py"))
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    path.write_bytes(bytes(data))

    result = check(path)

    assert_error(result, "Encrypted member not allowed: 'src/secret.py'")


def test_local_header_name_differing_from_the_directory(tmp_path):
    path = package(tmp_path, extra=[("aaaa.txt", "harmless\n")])
    data = path.read_bytes()
    header_at = data.index(b"aaaa.txt")  # the local header comes before the central directory
    path.write_bytes(data[:header_at] + b"../x.txt" + data[header_at + 8 :])

    result = check(path)

    assert_error(result, "differs from its local header name '../x.txt'")


def test_overlapping_members(tmp_path):
    # Two directory entries pointing at one local header: the "non-recursive zip bomb" shape.
    path = package(tmp_path)
    with zipfile.ZipFile(path) as zf:
        target = zf.getinfo("src/main.py").header_offset
    data = bytearray(path.read_bytes())
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"src/__init__.py"))
    data[entry + 42 : entry + 46] = target.to_bytes(4, "little")  # its local header offset
    path.write_bytes(bytes(data))

    result = check(path)

    assert_error(result, "overlap in the archive")


def test_many_errors_are_all_reported(tmp_path):
    link = zipfile.ZipInfo("src/link")
    link.external_attr = 0o120777 << 16
    data = manifest(
        name="Bad_Name",
        license=...,
        metadata={"version": "one"},
        entrypoint=...,
        runtime="cobol",
        capabilities="all",
    )
    path = package(
        tmp_path,
        data,
        extra=[
            ("/abs/path.py", "x"),
            ("../up.py", "x"),
            ("src/main.py", "duplicate"),
            (link, "/etc/passwd"),
            ("bomb.bin", b"\0" * (2 * 1024 * 1024)),
        ],
    )

    result = check(path, form_version="2.0.0", max_bytes=2000)

    expected = [
        "over the size limit",
        "Unsafe member path (absolute): '/abs/path.py'",
        "Unsafe member path ('..' component): '../up.py'",
        "Duplicate member name: 'src/main.py'",
        "Symbolic link not allowed: 'src/link'",
        "Member 'bomb.bin' is compressed",
        "uncompresses to",
        "name 'Bad_Name' is invalid",
        "Missing required field: license",
        "metadata.version 'one' is not a semantic version",
        "Form version '2.0.0' does not match the package version 'one'",
        "Missing required field: entrypoint",
        "capabilities must be a list of strings",
        "runtime 'cobol' is not supported",
    ]
    for fragment in expected:
        assert_error(result, fragment)
    assert len(result.errors) == len(expected)


def test_per_member_messages_are_capped(tmp_path):
    links = []
    for i in range(30):
        info = zipfile.ZipInfo(f"links/{i}")
        info.external_attr = 0o120777 << 16
        links.append((info, "/etc/passwd"))

    result = check(package(tmp_path, extra=links))

    assert sum("Symbolic link not allowed" in e for e in result.errors) == 10
    assert "… and 20 more symbolic links" in result.errors


# --- warnings: secrets and local paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    "line, kind",
    [
        ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123", "sk-"),
        ("ANTHROPIC_API_KEY='sk-ant-api03-abcdefghijklmnop'", "sk-"),
        ("AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AWS access key"),
        ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS secret access key"),
        ("TLS_KEY=-----BEGIN RSA PRIVATE KEY-----", "PEM private key"),
        ("KEY=-----BEGIN PRIVATE KEY-----", "PEM private key"),
        ("STRIPE_KEY=sk_live_abcdefghijklmnop", "Stripe"),
    ],
)
def test_secret_looking_values_in_env_are_warnings(tmp_path, line, kind):
    env = f"# settings\nLOG_LEVEL=info\n{line}\n"
    path = package(tmp_path, extra=[(".env.production", env)])

    result = check(path)

    assert result.valid, result.errors
    assert_warning(result, ".env.production line 3")
    assert_warning(result, kind)
    secret = line.split("=", 1)[1].strip("'")
    assert not any(secret in w for w in result.warnings), "a warning must never echo the secret"


def test_root_env_is_scanned_and_comments_are_not(tmp_path):
    members = [
        ("agent.yaml", yaml.safe_dump(MANIFEST)),
        ("src/main.py", HANDLER),
        (
            ".env",
            "# OPENAI_API_KEY=sk-commentedoutvalue123\nOPENAI_API_KEY=sk-realvalue1234567890\n",
        ),
    ]
    result = check(write_zip(tmp_path / "p.apkg", members))

    assert [w for w in result.warnings if "looks like" in w] == [
        w for w in result.warnings if ".env line 2 (OPENAI_API_KEY)" in w
    ]
    assert len(result.warnings) == 1


def test_placeholders_are_not_secrets(tmp_path):
    env = "OPENAI_API_KEY=your-api-key-here\nAWS_ACCESS_KEY_ID=\nKEY=${KEY}\n"
    assert check(package(tmp_path, extra=[("src/.env", env)])).warnings == []


def test_secret_in_manifest_environment_is_a_warning(tmp_path):
    result = check(
        package(tmp_path, manifest(environment={"OPENAI_API_KEY": "sk-abcdefghijklmnopqrstuv"}))
    )

    assert result.valid
    assert_warning(result, "agent.yaml environment.OPENAI_API_KEY looks like an API secret key")


@pytest.mark.parametrize(
    "content, shown",
    [
        ("DATA_DIR = '/Users/alice/projects/agent/data'\n", "/Users/alice"),
        ('CACHE = "/home/bob/.cache"\n', "/home/bob"),
        ('MODEL = "C:\\\\Users\\\\carol\\\\model.bin"\n', "C:\\\\Users"),
    ],
)
def test_absolute_local_paths_in_text_files_are_warnings(tmp_path, content, shown):
    result = check(package(tmp_path, extra=[("src/config.py", "import os\n" + content)]))

    assert result.valid
    assert_warning(result, f"Absolute local path in src/config.py line 2: {shown}")


def test_absolute_local_path_in_the_manifest_is_a_warning(tmp_path):
    result = check(package(tmp_path, manifest(environment={"DATA_DIR": "/home/dave/data"})))

    assert result.valid
    assert_warning(result, "Absolute local path in agent.yaml (environment.DATA_DIR): /home/dave")


def test_routes_and_urls_are_not_local_paths(tmp_path):
    code = '@app.get("/home/{item}")\nURL = "https://example.com/Users/x"\n'
    assert check(package(tmp_path, extra=[("src/routes.py", code)])).warnings == []


def test_large_text_files_are_not_read(tmp_path):
    big = "x = 1\n" * 20_000 + "PATH = '/home/eve/data'\n"  # > 64 KiB: skipped, not read
    small = "PATH = '/home/frank/data'\n"

    result = check(package(tmp_path, extra=[("src/big.py", big), ("src/small.py", small)]))

    assert any("/home/frank" in w for w in result.warnings)
    assert not any("/home/eve" in w for w in result.warnings)


def test_oversized_env_is_reported_unchecked(tmp_path):
    env = "".join(f"K{i}={os.urandom(8).hex()}\n" for i in range(12_000))  # ~300 KB > 256 KiB

    result = check(package(tmp_path, extra=[("config/.env", env)]))

    assert result.valid
    assert_warning(result, "config/.env is larger than 256 KiB and was not checked for secrets")


# --- streaming: what is read --------------------------------------------------------------------------


class CountingFile(io.FileIO):
    def __init__(self, path):
        super().__init__(path, "rb")
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer):
        n = super().readinto(buffer)
        self.bytes_read += n or 0
        return n


def test_large_members_are_never_read(tmp_path):
    payload = os.urandom(20 * 1024 * 1024)
    path = tmp_path / "big.apkg"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("agent.yaml", yaml.safe_dump(MANIFEST))
        zf.writestr("src/main.py", HANDLER)
        zf.writestr("model/weights.bin", payload)
        zf.writestr("src/notes.txt", "x" * (10 * 1024 * 1024))

    with CountingFile(path) as fileobj:
        result = validate_apkg(fileobj, max_bytes=MAX)
        read = fileobj.bytes_read

    assert result.valid, result.errors
    assert read < 1024 * 1024, f"read {read:,} bytes of a {path.stat().st_size:,}-byte package"


# --- the real kit ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit_package(tmp_path_factory):
    try:
        return build_kit_package(tmp_path_factory.mktemp("kit"))
    except KitUnavailable as exc:
        pytest.skip(
            f"the Pixell Agent Kit could not be installed, so no real package can be built: {exc}"
        )


@pytest.mark.kit
def test_package_built_by_the_real_kit_is_valid(kit_package):
    result = check(kit_package)

    assert result.valid, result.errors
    assert result.errors == []
    assert result.warnings == []
    assert result.version == "1.2.3"
    assert result.name == "mini-agent"
    assert result.manifest_source == "agent.yaml"
    assert result.manifest["entrypoint"] == "src.main:handler"
    assert check(kit_package, form_version="1.2.3").valid


@pytest.mark.kit
def test_real_kit_package_without_agent_yaml_validates_from_package_json(kit_package, tmp_path):
    stripped = tmp_path / "stripped.apkg"
    with (
        zipfile.ZipFile(kit_package) as src,
        zipfile.ZipFile(stripped, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            if info.filename != "agent.yaml":
                dst.writestr(info, src.read(info))

    result = check(stripped)

    assert result.valid, result.errors
    assert result.manifest_source == ".pixell/package.json"
    assert result.version == "1.2.3"
    assert result.warnings == []  # the kit's nulls and defaults are all known, optional fields
