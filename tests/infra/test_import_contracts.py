"""The dependency direction's contracts (.importlinter) cover every package and ignore nothing, and
they would fail on an import that breaks the direction: a contract that passes vacuously would let
the house rot unnoticed (docs/ARCHITECTURE.md)."""

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _config() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return config


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _first_party_packages() -> set[str]:
    return {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in {"tests", "benchmarks"}
    }


def test_no_import_is_ignored():
    config = _config()
    for section in config.sections():
        assert "ignore_imports" not in config[section], section


def test_every_package_is_checked_and_every_app_is_on_a_floor():
    config = _config()
    roots = set(_lines(config["importlinter"]["root_packages"]))
    assert roots == _first_party_packages()
    floors = {
        name.strip()
        for layer in _lines(config["importlinter:contract:floors"]["layers"])
        for name in layer.replace("|", ":").split(":")
    }
    # pixell is the plumbing under every floor (an app only for its management command), checked by
    # its own contracts.
    assert roots - floors == {"pixell"}
    assert {app for app in settings.INSTALLED_APPS if app in roots} <= floors | {"pixell"}


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # usage sits below billing: the runtime's invocation report lives in billing for this reason.
        ("usage/selectors.py", "import billing.services", "Domain floors"),
        ("organizations/services.py", "import agentapps.models", "Domain floors"),
        ("pixell/api/tenancy.py", "import usage.services", "pixell.api knows identity"),
        ("pixell/errors.py", "import django.db", "errors' base class is free of Django"),
        ("pixell/crypto.py", "import organizations.models", "core modules of pixell"),
        ("pixell/observability/metrics.py", "import deployments.models", "core modules of pixell"),
        # runtime and deployments share a floor and know nothing of each other.
        ("runtime/services.py", "import deployments.models", "Domain floors"),
    ],
)
def test_an_import_against_the_direction_breaks_a_contract(tmp_path, module, line, contract):
    if not LINT_IMPORTS.exists():
        pytest.skip("lint-imports is not installed (requirements-dev.txt)")
    for package in _first_party_packages():
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "migrations"),
        )
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # against the direction\n")

    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0, result.stdout
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout
