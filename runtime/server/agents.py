"""Preparing and running one agent version: fetch, verify, unpack, environment, process. No Django.

The unpack reuses the upload validator's rules (``agentapps.apkg``, Django-free): a package the
validator refuses is never extracted, and extraction writes regular files only, each inside the
target directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from agentapps import apkg

HOST_SCRIPT = Path(__file__).with_name("agent_host.py")
LOG_TAIL_LINES = 20


class AgentStartError(Exception):
    """The version cannot run; ``str()`` is the reason the deployment fails with."""

    def __init__(self, message: str, log_tail: list[str] | None = None):
        super().__init__(message)
        self.log_tail = log_tail or []


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 1024  # RLIMIT_AS: address space, which a uvicorn agent needs ~300 MB of
    cpu_seconds: int = 3600  # RLIMIT_CPU: a runaway guard over the process's whole life
    open_files: int = 256  # RLIMIT_NOFILE
    start_timeout_s: float = 60
    max_package_bytes: int = 100 * 1024 * 1024


# --- fetch, verify, unpack ----------------------------------------------------------------------


def fetch_package(url: str, dest: Path, *, max_bytes: int, timeout: float = 60) -> str:
    """Download to dest; returns the sha256 hex digest. No proxies: the URL is the platform's."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    digest = hashlib.sha256()
    size = 0
    try:
        with opener.open(url, timeout=timeout) as response, open(dest, "wb") as out:
            while chunk := response.read(256 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    raise AgentStartError(f"package is larger than {max_bytes:,} bytes")
                digest.update(chunk)
                out.write(chunk)
    except OSError as exc:  # URLError, HTTPError and socket errors are all OSErrors
        raise AgentStartError(f"could not fetch the package: {exc}") from None
    return digest.hexdigest()


def unpack(package: Path, target: Path, *, max_bytes: int) -> dict:
    """Validate with the upload validator's rules, then extract; returns the manifest."""
    result = apkg.validate_apkg(package, max_bytes=max_bytes)
    if not result.valid:
        raise AgentStartError("package refused: " + "; ".join(result.errors[:5]))
    root = target.resolve()
    with zipfile.ZipFile(package) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = (root / info.filename).resolve()
            # The validator refused '..' and absolute names already; this is the belt to its braces.
            if root not in path.parents:
                raise AgentStartError(f"unsafe member path {info.filename!r}")
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, open(path, "wb") as out:
                shutil.copyfileobj(src, out)
    return result.manifest or {}


# --- environments: one venv per distinct requirements --------------------------------------------


def requirements_key(package_dir: Path) -> str:
    requirements = package_dir / "requirements.txt"
    text = requirements.read_text() if requirements.is_file() else ""
    lines = sorted(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
    basis = f"{sys.version_info[:2]}\n" + "\n".join(lines)
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


def _uv() -> str:
    try:
        # The pinned wheel (requirements.txt), else a uv on PATH: a missing one is an answer,
        # not an import error at startup.
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if not found:
            raise AgentStartError("uv is not installed (requirements.txt pins it)") from None
        return found


def ensure_venv(
    package_dir: Path, venvs_dir: Path, cache_dir: Path, *, installer_env: dict[str, str]
) -> Path:
    """The venv for this package's requirements, built once (under a lock) and reused after.

    ``installer_env``: what uv needs from the machine (certificates, proxies, UV_*), nothing else
    of the platform's environment: package builds run code too."""
    key = requirements_key(package_dir)
    venv = venvs_dir / key
    ready = venv / ".pixell-ready"
    if ready.exists():
        return venv
    venvs_dir.mkdir(parents=True, exist_ok=True)
    with open(venvs_dir / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ready.exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)  # a half-built one (killed runtime) starts over
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            **installer_env,
            "HOME": str(cache_dir),
            "UV_CACHE_DIR": str(cache_dir),
            "UV_NO_PROGRESS": "1",
        }
        base_python = getattr(sys, "_base_executable", sys.executable)
        commands = [[_uv(), "venv", "-q", "--python", base_python, str(venv)]]
        requirements = package_dir / "requirements.txt"
        if requirements.is_file():
            commands.append(
                [_uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                 "-r", str(requirements)]
            )  # fmt: skip
        for command in commands:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-LOG_TAIL_LINES:]
                raise AgentStartError(
                    "installing requirements.txt failed: " + (tail[-1] if tail else "?"), tail
                )
        ready.touch()
    return venv


# --- environment ------------------------------------------------------------------------------


def parse_dotenv(text: str) -> dict[str, str]:
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[7:]
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def agent_environment(package_dir: Path, environment: dict, venv: Path) -> dict[str, str]:
    """Built from nothing: the packaged .env, overlaid by the deploy's environment, plus the
    minimum a process needs. Nothing of the platform's own environment (its secrets) leaks in."""
    env_file = package_dir / ".env"
    env = parse_dotenv(env_file.read_text(errors="replace")) if env_file.is_file() else {}
    env.update({str(k): str(v) for k, v in (environment or {}).items()})
    env.update(
        {
            "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(package_dir),
            "LANG": "C.UTF-8",
            "VIRTUAL_ENV": str(venv),
            "PYTHONUNBUFFERED": "1",  # output reaches the log as it is written
        }
    )
    return env


# --- the process ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _limiter(limits: Limits):
    memory = limits.memory_mb * 1024 * 1024

    def apply() -> None:  # runs in the child between fork and exec
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))

    return apply


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with open(path, "rb") as fp:
            fp.seek(0, os.SEEK_END)
            fp.seek(max(0, fp.tell() - 16 * 1024))
            text = fp.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


@dataclass
class Agent:
    """One running agent version: its process, its port, and the invocations in flight on it."""

    app_id: str
    deployment_id: str
    version: str
    directory: Path
    port: int
    started_at: str
    process: subprocess.Popen | None = None
    pid: int | None = None
    in_flight: int = 0
    idle: threading.Condition = field(default_factory=threading.Condition)

    @property
    def log_path(self) -> Path:
        return self.directory.parent / f"{self.directory.name}.log"

    def to_state(self) -> dict:
        return {
            "app_id": self.app_id,
            "deployment_id": self.deployment_id,
            "version": self.version,
            "directory": str(self.directory),
            "port": self.port,
            "started_at": self.started_at,
            "pid": self.pid,
        }

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, *, manifest: dict, venv: Path, env: dict, limits: Limits) -> None:
        """Start the host and wait until it answers ``GET /``; AgentStartError otherwise."""
        # -I (isolated): no PYTHONPATH, user site or script folder; the boot puts the package first.
        command = [
            str(venv / "bin" / "python"), "-I", "-c", _ISOLATED_BOOT, "--port", str(self.port),
            "--entrypoint", str(manifest.get("entrypoint") or ""),
            "--name", str(manifest.get("name") or ""), "--version", self.version,
        ]  # fmt: skip
        rest = (
            (manifest.get("rest") or {}).get("entry")
            if isinstance(manifest.get("rest"), dict)
            else None
        )
        ui = (
            (manifest.get("ui") or {}).get("path") if isinstance(manifest.get("ui"), dict) else None
        )
        if rest:
            command += ["--rest", str(rest)]
        if ui:
            command += ["--ui", str(ui)]
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_limiter(limits),
                start_new_session=True,  # its own group: stopping it stops whatever it started
            )
        self.pid = self.process.pid
        self._await_ready(limits.start_timeout_s)

    def _await_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                tail = log_tail(self.log_path)
                raise AgentStartError(
                    f"agent exited with code {code} before answering: "
                    + (tail[-1] if tail else "no output"),
                    tail,
                )
            if self.ping(timeout=1):
                return
            if time.monotonic() > deadline:
                self.stop(grace_s=0)
                tail = log_tail(self.log_path)
                raise AgentStartError(f"agent did not answer within {timeout:g} s", tail)
            time.sleep(0.05)

    def ping(self, timeout: float = 1) -> bool:
        try:
            status, body = self.request("GET", "/", None, timeout=timeout)
        except OSError:
            return False
        return status == 200 and b"ready" in body

    def request(self, method: str, path: str, body: bytes | None, *, timeout: float):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self, *, grace_s: float = 5) -> None:
        pid = self.process.pid if self.process else self.pid
        if not pid:
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return
            time.sleep(0.05)
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.process is not None:
            self.process.wait(timeout=5)


# Runs the host script by path with only the package directory in front of sys.path.
_ISOLATED_BOOT = (
    "import os,sys,runpy;sys.path.insert(0,os.getcwd());"
    f"sys.argv=[{str(HOST_SCRIPT)!r}]+sys.argv[1:];runpy.run_path(sys.argv[0],run_name='__main__')"
)


def dump_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
