"""The real Pixell CLI, both generations, for tests that must prove we work with them unchanged.

Two releases install the same ``pixell`` command and clash in one virtualenv, so each lives in its
own, found or created once per machine and reused:

- pixell-kit 0.4.12 (``KIT``): ``--env local`` = http://localhost:4000 (docs/pixell-kit.md);
- pixell-sdk 0.5.4 (``SDK``), its successor: ``pixell init``, a ``build`` that requires a ``.env``,
  ``deploy --runtime-env``, ``secrets get``. Its deployment client's ``local`` is
  http://localhost:3000, its secrets client's is still http://localhost:4000.

Where the venv comes from, per CLI:

1. ``$PIXELL_KIT_VENV`` / ``$PIXELL_SDK_VENV`` if set (must hold that exact release);
2. ``$PIXELL_DATA_DIR/<name>venv-<version>``, else ``/tmp/pixell-<name>venv-<version>``, created on
   first use with ``python3 -m venv`` + ``pip install <package>==<version>`` (under a file lock, so
   parallel test workers build it once).

No Django here.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cli:
    """One release of the Pixell CLI and where its virtualenv may be found."""

    package: str  # the PyPI distribution
    version: str
    venv_variable: str  # environment variable naming a ready venv
    short: str  # "kit" / "sdk": cached venv names

    @property
    def label(self) -> str:
        return f"{self.package}=={self.version}"


KIT = Cli("pixell-kit", "0.4.12", "PIXELL_KIT_VENV", "kit")
SDK = Cli("pixell-sdk", "0.5.4", "PIXELL_SDK_VENV", "sdk")
KIT_VERSION = KIT.version
SDK_VERSION = SDK.version

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

# Run the unmodified CLI, but let tests aim `--env local` at any server: both releases hard-code
# their local URLs in two class attributes (deployments, secrets), rewritten here before the CLI
# starts. Without PIXELL_CLI_LOCAL_URL the CLI runs exactly as shipped.
_BOOT = textwrap.dedent(
    """\
    import os, sys
    from pixell.core.deployment import DeploymentClient
    from pixell.core.secrets import SecretsClient
    url = os.environ.get("PIXELL_CLI_LOCAL_URL")
    if url:
        for client in (DeploymentClient, SecretsClient):
            client.ENVIRONMENTS["local"]["base_url"] = url.rstrip("/")
    from pixell.cli.main import cli
    cli(prog_name="pixell")
    """
)


class KitUnavailable(RuntimeError):
    """A CLI venv is missing and could not be created (e.g. no package index reachable)."""


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _holds(venv: Path, cli: Cli) -> bool:
    python = _venv_python(venv)
    if not python.exists():
        return False
    probe = subprocess.run(
        [
            str(python),
            "-c",
            f"from importlib.metadata import version; print(version({cli.package!r}))",
        ],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0 and probe.stdout.strip() == cli.version


def _cache_venv(cli: Cli) -> Path:
    data_dir = os.environ.get("PIXELL_DATA_DIR")
    if data_dir:
        return Path(data_dir) / f"{cli.short}venv-{cli.version}"
    return Path("/tmp") / f"pixell-{cli.short}venv-{cli.version}"


@functools.cache
def cli_venv(cli: Cli) -> Path:
    """Return a venv holding exactly ``cli``, creating the cached one if needed."""
    explicit = os.environ.get(cli.venv_variable)
    if explicit:
        if not _holds(Path(explicit), cli):
            raise KitUnavailable(f"{cli.venv_variable}={explicit} has no {cli.label}")
        return Path(explicit)
    venv = _cache_venv(cli)
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Parallel test workers must not build the same venv at once: one builds, the others wait.
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _holds(venv, cli):
            return venv
        # Built in place: a half-built venv (killed run) fails _holds and is rebuilt from scratch.
        shutil.rmtree(venv, ignore_errors=True)
        python3 = shutil.which("python3") or sys.executable
        steps = (
            [python3, "-m", "venv", str(venv)],
            [str(_venv_python(venv)), "-m", "pip", "install", "-q", cli.label],
        )
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                raise KitUnavailable(
                    f"could not install {cli.label} ({' '.join(step)}):\n{done.stderr[-2000:]}"
                )
    return venv


def kit_venv() -> Path:
    return cli_venv(KIT)


def kit_python() -> Path:
    return _venv_python(kit_venv())


def sdk_venv() -> Path:
    return cli_venv(SDK)


def run_cli(
    cli: Cli,
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
    """Run `pixell <args>` from ``cli``'s venv; returns the finished process (text stdout/stderr).

    base_url: where `--env local` goes, deployments and secrets alike (default: the release's own).
    api_key / app_id: exported as PIXELL_API_KEY / PIXELL_APP_ID (flags in args work too).
    home: $HOME for the CLI (default: cwd), so no ~/.pixell/config.json leaks in.
    """
    cwd = Path(cwd) if cwd else Path.cwd()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXELL_")}
    env["HOME"] = str(home or cwd)
    env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1"
    env["PYTHONIOENCODING"] = "utf-8"  # the sdk prints ✓ and ⚠️
    if base_url:
        env["PIXELL_CLI_LOCAL_URL"] = base_url
    if api_key:
        env["PIXELL_API_KEY"] = api_key
    if app_id:
        env["PIXELL_APP_ID"] = app_id
    return subprocess.run(
        # -P: don't put cwd on sys.path, where this project's own `pixell` package would shadow the CLI's.
        [str(_venv_python(cli_venv(cli))), "-P", "-c", _BOOT, *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_kit(args: list[str], **options) -> subprocess.CompletedProcess[str]:
    """`pixell <args>` of pixell-kit 0.4.12 (see run_cli for the options)."""
    return run_cli(KIT, args, **options)


def run_sdk(args: list[str], **options) -> subprocess.CompletedProcess[str]:
    """`pixell <args>` of pixell-sdk 0.5.4 (see run_cli for the options)."""
    return run_cli(SDK, args, **options)


def _check(done: subprocess.CompletedProcess[str], what: str) -> subprocess.CompletedProcess[str]:
    if done.returncode != 0:
        raise AssertionError(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


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


def _one_package(out: Path) -> Path:
    packages = sorted(out.glob("*.apkg"))
    assert len(packages) == 1, packages
    return packages[0]


def build_kit_package(tmp_path: Path, agent_yaml: str = MINIMAL_AGENT_YAML) -> Path:
    """Build the minimal agent project with pixell-kit's real `pixell build`; return the .apkg."""
    project = write_agent_project(tmp_path, agent_yaml)
    out = tmp_path / "kit-dist"
    _check(run_kit(["build", "-p", str(project), "-o", str(out)], cwd=tmp_path), "pixell build")
    return _one_package(out)


# --- pixell-sdk 0.5: init → .env → build → deploy → secrets ------------------------------------


def sdk_init(root: Path, name: str = "sdk-agent") -> Path:
    """`pixell init NAME` in root (an agent with a2a, rest and ui surfaces); returns the project."""
    _check(run_sdk(["init", name], cwd=root), "pixell init")
    return root / name


def sdk_write_env(project: Path, values: dict[str, str] | None = None) -> Path:
    """Write the `.env` that pixell-sdk's build requires (it is packaged with the agent)."""
    values = {"LOG_LEVEL": "info"} if values is None else values
    env_file = project / ".env"
    env_file.write_text(
        "# packaged with the agent\n" + "".join(f"{k}={v}\n" for k, v in values.items())
    )
    return env_file


def sdk_build(project: Path, out: Path | None = None) -> Path:
    """`pixell build -p project -o out`; returns the one .apkg built."""
    out = out or project.parent / "sdk-dist"
    _check(
        run_sdk(["build", "-p", str(project), "-o", str(out)], cwd=project.parent), "pixell build"
    )
    return _one_package(out)


def build_sdk_package(tmp_path: Path, name: str = "sdk-agent", env: dict | None = None) -> Path:
    """The whole pixell-sdk build journey in tmp_path: init, write .env, build; returns the .apkg."""
    project = sdk_init(tmp_path, name)
    sdk_write_env(project, env)
    return sdk_build(project)


def sdk_deploy(
    package: Path,
    *,
    app_id: str,
    api_key: str,
    base_url: str | None = None,
    runtime_env: dict[str, str] | None = None,
    wait: bool = True,
    timeout: int = 60,
    extra: tuple[str, ...] = (),
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`pixell deploy -f package --env local [--wait] [--runtime-env K=V …]` of pixell-sdk."""
    args = ["deploy", "-f", str(package), "--env", "local", "-a", str(app_id), "-k", api_key]
    if wait:
        args += ["--wait", "--timeout", str(timeout)]
    for key, value in (runtime_env or {}).items():
        args += ["--runtime-env", f"{key}={value}"]
    return run_sdk(
        [*args, *extra], base_url=base_url, cwd=cwd or package.parent, timeout=timeout + 60
    )


def sdk_secrets(
    action: str,
    *args: str,
    app_id: str,
    api_key: str,
    base_url: str | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """`pixell secrets <action> <args> -a APP -k KEY --env local` of pixell-sdk.

    action: list / get KEY / set -s K=V … / update KEY VALUE / delete KEY [--force] /
    delete-all --confirm.
    """
    return run_sdk(
        ["secrets", action, *args, "-a", str(app_id), "-k", api_key, "--env", "local"],
        base_url=base_url,
        cwd=cwd,
        stdin=stdin,
        timeout=60,
    )
