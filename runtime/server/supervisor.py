"""The local runtime's state: which version of each app runs, and every deployment's health. No Django.

Deploys run on their own thread each (the HTTP answer is 202 at once, as the runtime contract in
docs/runtime.md says). A healthy version replaces the app's running one under the lock, so an
invocation picks either the old or the new agent, never none; the old agent is stopped only after
its in-flight invocations have finished (a rolling replace that drops nothing).

State survives a restart: ``state.json`` under the data folder names each app's running version,
and the environment it was started with is kept beside its files (mode 0600, like the packaged
``.env`` it extends), so a restarted runtime starts the same versions again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import threading
from pathlib import Path

from runtime.server import agents
from runtime.server.agents import Agent, AgentStartError, Limits

logger = logging.getLogger("pixell.runtime")
_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,100}")
DRAIN_TIMEOUT_S = 30


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


class Supervisor:
    def __init__(
        self,
        *,
        data_dir: Path,
        limits: Limits,
        venvs_dir: Path | None = None,
        installer_env: dict[str, str] | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.apps_dir = self.data_dir / "apps"
        self.venvs_dir = Path(venvs_dir) if venvs_dir else self.data_dir / "venvs"
        self.cache_dir = self.data_dir / "uv-cache"
        self.state_path = self.data_dir / "state.json"
        self.limits = limits
        self.installer_env = dict(installer_env or {})
        self.lock = threading.RLock()
        self.agents: dict[str, Agent] = {}
        self.deployments: dict[str, dict] = {}
        self.apps_dir.mkdir(parents=True, exist_ok=True)

    # --- the contract: deploy + health ------------------------------------------------------

    def deploy(self, payload: dict) -> dict:
        deployment_id = payload["deploymentId"]
        with self.lock:
            known = self.deployments.get(deployment_id)
            if known is not None:  # a retried POST (same Idempotency-Key): the first answer
                return {"deploymentId": deployment_id, "status": known["status"]}
            self.deployments[deployment_id] = {
                "status": "starting",
                "app_id": payload["agentAppId"],
                "version": payload["version"],
                "reason": None,
                "log_tail": [],
                "created_at": _now(),
            }
        threading.Thread(
            target=self._deploy, args=(payload,), name=f"deploy-{deployment_id}", daemon=True
        ).start()
        return {"deploymentId": deployment_id, "status": "starting"}

    def health(self, deployment_id: str) -> dict | None:
        with self.lock:
            record = self.deployments.get(deployment_id)
            if record is None:
                return None
            return {
                "deploymentId": deployment_id,
                "healthy": record["status"] == "healthy",
                "status": record["status"],
                "error": record["reason"],
                "log_tail": list(record["log_tail"]),
            }

    def _deploy(self, payload: dict) -> None:
        deployment_id, app_id = payload["deploymentId"], payload["agentAppId"]
        directory = self.apps_dir / app_id / deployment_id
        agent = None
        try:
            agent = self._prepare_and_start(payload, directory)
        except AgentStartError as exc:
            logger.warning("deployment %s of app %s cannot run: %s", deployment_id, app_id, exc)
            self._record(deployment_id, "unhealthy", str(exc), exc.log_tail)
            shutil.rmtree(directory, ignore_errors=True)
            return
        except Exception as exc:  # a bug here must still end the deployment, not leave it starting
            logger.exception("deployment %s crashed the runtime's deploy thread", deployment_id)
            self._record(deployment_id, "unhealthy", f"runtime error: {type(exc).__name__}", [])
            shutil.rmtree(directory, ignore_errors=True)
            return
        with self.lock:
            old = self.agents.get(app_id)
            self.agents[app_id] = agent
            self.deployments[deployment_id].update(status="healthy")
            self._save()
        logger.info("app %s now runs %s (deployment %s)", app_id, agent.version, deployment_id)
        if old is not None:
            threading.Thread(target=self._retire, args=(old,), daemon=True).start()

    def _prepare_and_start(self, payload: dict, directory: Path) -> Agent:
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        archive = directory.parent / f"{directory.name}.apkg"
        try:
            digest = agents.fetch_package(
                payload["packageUrl"], archive, max_bytes=self.limits.max_package_bytes
            )
            expected = str(payload.get("packageSha256") or "").lower()
            if expected and digest != expected:
                raise AgentStartError(f"package sha256 is {digest}, expected {expected}")
            manifest = agents.unpack(archive, directory, max_bytes=self.limits.max_package_bytes)
        finally:
            archive.unlink(missing_ok=True)
        if not manifest.get("entrypoint"):
            raise AgentStartError("the manifest has no entrypoint to run")
        venv = agents.ensure_venv(
            directory, self.venvs_dir, self.cache_dir, installer_env=self.installer_env
        )
        env = agents.agent_environment(directory, payload.get("environment") or {}, venv)
        env_path = directory.parent / f"{directory.name}.run.json"
        fd = os.open(env_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fp:
            json.dump({"manifest": manifest, "venv": str(venv), "env": env}, fp)
        return self._start(
            app_id=payload["agentAppId"],
            deployment_id=payload["deploymentId"],
            version=str(payload["version"]),
            directory=directory,
        )

    def _start(self, *, app_id: str, deployment_id: str, version: str, directory: Path) -> Agent:
        run = json.loads((directory.parent / f"{directory.name}.run.json").read_text())
        agent = Agent(
            app_id=app_id,
            deployment_id=deployment_id,
            version=version,
            directory=directory,
            port=agents.free_port(),
            started_at=_now(),
        )
        agent.log_path.unlink(missing_ok=True)
        agent.start(
            manifest=run["manifest"], venv=Path(run["venv"]), env=run["env"], limits=self.limits
        )
        return agent

    def _record(self, deployment_id: str, status: str, reason: str | None, tail: list[str]) -> None:
        with self.lock:
            self.deployments[deployment_id].update(status=status, reason=reason, log_tail=tail)

    def _retire(self, agent: Agent) -> None:
        with agent.idle:
            agent.idle.wait_for(lambda: agent.in_flight == 0, timeout=DRAIN_TIMEOUT_S)
        agent.stop()
        self._remove_files(agent)

    @staticmethod
    def _remove_files(agent: Agent) -> None:
        shutil.rmtree(agent.directory, ignore_errors=True)
        for suffix in (".run.json", ".log"):
            (agent.directory.parent / f"{agent.directory.name}{suffix}").unlink(missing_ok=True)

    # --- what the platform asks beyond the contract ----------------------------------------

    def app_status(self, app_id: str) -> dict:
        with self.lock:
            agent = self.agents.get(app_id)
            latest = max(
                (d for d in self.deployments.values() if d["app_id"] == app_id),
                key=lambda d: d["created_at"],
                default=None,
            )
        if agent is not None:
            return {
                "status": "running" if agent.alive() else "failed",
                "version": agent.version,
                "deployment_id": agent.deployment_id,
                "started_at": agent.started_at,
                "log_tail": agents.log_tail(agent.log_path),
            }
        if latest is not None and latest["status"] in ("starting", "unhealthy"):
            return {
                "status": "starting" if latest["status"] == "starting" else "failed",
                "version": latest["version"],
                "deployment_id": None,
                "started_at": None,
                "log_tail": list(latest["log_tail"]),
            }
        return {
            "status": "stopped",
            "version": None,
            "deployment_id": None,
            "started_at": None,
            "log_tail": [],
        }

    def invoke(
        self, app_id: str, body: bytes, *, timeout: float
    ) -> tuple[int, bytes, Agent | None]:
        """Forward one invocation to the app's running agent.

        Returns (status, body, agent): 200 with the agent's answer; 409 nothing runs; 504 no answer
        in time; 502 the agent broke the connection or answered something else.
        """
        with self.lock:
            agent = self.agents.get(app_id)
            if agent is None:
                return 409, agents.dump_json({"error": "No version of this app is running"}), None
            with agent.idle:
                agent.in_flight += 1  # taken under the lock: a replace cannot retire it now
        try:
            status, answer = agent.request("POST", "/invoke", body, timeout=timeout)
        except TimeoutError:
            return 504, agents.dump_json({"error": f"no answer within {timeout:g} s"}), agent
        except OSError as exc:
            return 502, agents.dump_json({"error": f"the agent is unreachable: {exc}"}), agent
        finally:
            with agent.idle:
                agent.in_flight -= 1
                agent.idle.notify_all()
        if status != 200:
            return 502, agents.dump_json({"error": f"the agent answered HTTP {status}"}), agent
        return 200, answer, agent

    def stop_app(self, app_id: str) -> bool:
        with self.lock:
            agent = self.agents.pop(app_id, None)
            self._save()
        if agent is None:
            return False
        agent.stop()
        self._remove_files(agent)
        shutil.rmtree(self.apps_dir / app_id, ignore_errors=True)
        return True

    # --- persistence ---------------------------------------------------------------------------

    def _save(self) -> None:
        state = {"agents": {app: agent.to_state() for app, agent in self.agents.items()}}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, self.state_path)  # atomic: a crash leaves the old or the new state

    def restore(self) -> None:
        """Start again every version that ran when the runtime stopped."""
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return
        for app_id, saved in (state.get("agents") or {}).items():
            _kill_stale(saved.get("pid"))
            directory = Path(saved["directory"])
            try:
                agent = self._start(
                    app_id=app_id,
                    deployment_id=saved["deployment_id"],
                    version=saved["version"],
                    directory=directory,
                )
            except (AgentStartError, OSError, ValueError, KeyError) as exc:
                logger.warning("could not bring back app %s: %s", app_id, exc)
                continue
            with self.lock:
                if app_id in self.agents:  # a deploy finished while we restored: it wins
                    agent.stop()
                    continue
                self.agents[app_id] = agent
                self.deployments[agent.deployment_id] = {
                    "status": "healthy",
                    "app_id": app_id,
                    "version": agent.version,
                    "reason": None,
                    "log_tail": [],
                    "created_at": agent.started_at,
                }
            logger.info("brought back app %s version %s", app_id, agent.version)
        with self.lock:
            self._save()

    def shutdown(self) -> None:
        """Stop every agent, all at once: the supervisor that stops us waits only so long."""
        with self.lock:
            running = list(self.agents.values())
        stoppers = [threading.Thread(target=a.stop, kwargs={"grace_s": 3}) for a in running]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()


def _kill_stale(pid) -> None:
    """An agent left running by a runtime that was killed outright still holds its port."""
    if not isinstance(pid, int) or pid <= 1:
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fp:
            if b"agent_host.py" not in fp.read():
                return  # the pid was reused by something else: not ours to kill
        os.killpg(pid, 9)
    except (OSError, ProcessLookupError):
        pass


def valid_id(value) -> bool:
    return isinstance(value, str) and bool(_ID_RE.fullmatch(value))
