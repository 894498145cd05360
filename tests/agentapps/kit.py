"""The real Pixell Agent Kit CLI, for tests that must prove we work with it unchanged.

The kit is installed into its own virtualenv (its fastapi/pydantic/uvicorn stay out of ours), found
or created once per machine and reused:

1. ``$PIXELL_KIT_VENV`` if set;
2. ``/work/kitvenv`` when it holds ``KIT_VERSION`` (the development machine);
3. ``$PIXELL_DATA_DIR/kitvenv-<version>``, else ``/tmp/pixell-kitvenv-<version>``, created on first
   use with ``python3 -m venv`` + ``pip install pixell-kit==<version>`` (a clean CI machine).

What the kit sends and expects is written down in ``docs/pixell-kit.md``. No Django here.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

KIT_VERSION = "0.4.12"
DEV_KIT_VENV = Path("/work/kitvenv")

# The minimal project that `pixell build` accepts (docs/pixell-kit.md §1.1).
MINIMAL_AGENT_YAML = textwrap.dedent(
    """\
    version: "1.0"
    name: mini-agent
    display_name: Mini Agent
    description: Minimal test agent
    author: Pixell Tests
    license: MIT
    entrypoint: src.main:handler
    capabilities:
      - text-generation
    runtime: python3.11
    environment:
      LOG_LEVEL: info
    metadata:
      version: 1.2.3
    """
)

# Run the unmodified CLI, but let tests aim `--env local` at any server: the kit hard-codes
# http://localhost:4000 in two class attributes, rewritten here before the CLI starts.
_BOOT = textwrap.dedent(
    """\
    import os, sys
    from pixell.core.deployment import DeploymentClient
    from pixell.core.secrets import SecretsClient
    url = os.environ.get("PIXELL_KIT_LOCAL_URL")
    if url:
        for client in (DeploymentClient, SecretsClient):
            client.ENVIRONMENTS["local"]["base_url"] = url.rstrip("/")
    from pixell.cli.main import cli
    cli(prog_name="pixell")
    """
)


class KitUnavailable(RuntimeError):
    """The kit venv is missing and could not be created (e.g. no package index reachable)."""


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _has_kit(venv: Path) -> bool:
    python = _venv_python(venv)
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "from importlib.metadata import version; print(version('pixell-kit'))"],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0 and probe.stdout.strip() == KIT_VERSION


def _cache_venv() -> Path:
    data_dir = os.environ.get("PIXELL_DATA_DIR")
    if data_dir:
        return Path(data_dir) / f"kitvenv-{KIT_VERSION}"
    return Path("/tmp") / f"pixell-kitvenv-{KIT_VERSION}"


@functools.cache
def kit_venv() -> Path:
    """Return a venv holding pixell-kit==KIT_VERSION, creating the cached one if needed."""
    explicit = os.environ.get("PIXELL_KIT_VENV")
    if explicit:
        if not _has_kit(Path(explicit)):
            raise KitUnavailable(f"PIXELL_KIT_VENV={explicit} has no pixell-kit=={KIT_VERSION}")
        return Path(explicit)
    if _has_kit(DEV_KIT_VENV):
        return DEV_KIT_VENV
    venv = _cache_venv()
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Parallel test workers must not build the same venv at once: one builds, the others wait.
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _has_kit(venv):
            return venv
        # Built in place: a half-built venv (killed run) fails _has_kit and is rebuilt from scratch.
        shutil.rmtree(venv, ignore_errors=True)
        python3 = shutil.which("python3") or sys.executable
        steps = (
            [python3, "-m", "venv", str(venv)],
            [str(_venv_python(venv)), "-m", "pip", "install", "-q", f"pixell-kit=={KIT_VERSION}"],
        )
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                raise KitUnavailable(
                    f"could not install pixell-kit=={KIT_VERSION} ({' '.join(step)}):\n{done.stderr[-2000:]}"
                )
    return venv


def kit_python() -> Path:
    return _venv_python(kit_venv())


def write_agent_project(root: Path, agent_yaml: str = MINIMAL_AGENT_YAML) -> Path:
    """Write the minimal buildable agent project (agent.yaml, src/main.py, .env) under root."""
    project = root / "agent-project"
    (project / "src").mkdir(parents=True, exist_ok=True)
    (project / "agent.yaml").write_text(agent_yaml)
    (project / "src" / "main.py").write_text(
        'def handler(context):\n    """Example entrypoint."""\n    return {"ok": True, "context": context}\n'
    )
    (project / ".env").write_text("# packaged with the agent\nLOG_LEVEL=info\n")
    (project / "requirements.txt").write_text("requests>=2.28.0\n")
    return project


def run_kit(
    args: list[str],
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    app_id: str | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
    timeout: float = 120,
    home: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `pixell <args>` from the kit venv; returns the finished process (text stdout/stderr).

    base_url: where `--env local` goes (default: the kit's own http://localhost:4000).
    api_key / app_id: exported as PIXELL_API_KEY / PIXELL_APP_ID (flags in args work too).
    home: $HOME for the kit (default: cwd), so no ~/.pixell/config.json leaks in.
    """
    cwd = Path(cwd) if cwd else Path.cwd()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELL_")}
    env["HOME"] = str(home or cwd)
    env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1"
    if base_url:
        env["PIXELL_KIT_LOCAL_URL"] = base_url
    if api_key:
        env["PIXELL_API_KEY"] = api_key
    if app_id:
        env["PIXELL_APP_ID"] = app_id
    return subprocess.run(
        [str(kit_python()), "-c", _BOOT, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def build_kit_package(tmp_path: Path, agent_yaml: str = MINIMAL_AGENT_YAML) -> Path:
    """Build the minimal agent project with the real `pixell build`; return the .apkg path."""
    project = write_agent_project(tmp_path, agent_yaml)
    out = tmp_path / "kit-dist"
    done = run_kit(["build", "-p", str(project), "-o", str(out)], cwd=tmp_path)
    if done.returncode != 0:
        raise AssertionError(
            f"pixell build failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    packages = sorted(out.glob("*.apkg"))
    assert len(packages) == 1, packages
    return packages[0]
