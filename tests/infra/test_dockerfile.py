"""The Docker image runs the Procfile's web line: the same gunicorn config (metrics hooks, JSON
error lines, no access log: the application logs each request once), with the second port off
unless asked for."""

import json
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def _image_command() -> list[str]:
    text = _dockerfile().replace("\\\n", " ")
    return json.loads(re.search(r"^CMD (\[.*\])\s*$", text, re.M).group(1))


def _procfile_web() -> list[str]:
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    return shlex.split(line.removeprefix("web:"))


def test_image_command_is_the_procfile_web_line():
    assert _image_command() == _procfile_web()
    assert "python:pixell.gunicorn_conf" in _image_command()


def test_image_serves_one_port_by_default():
    assert re.search(r"^\s+PIXELL_SECOND_PORT=off \\$", _dockerfile(), re.M)


def test_compose_web_logs_like_the_procfile():
    """deploy/compose.yaml's web differs from the Procfile only in sizing (workers, port): the
    same gunicorn config, and no access log repeating the application's request lines."""
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    command = compose["services"]["web"]["command"]
    sizing = re.compile(r"^--(workers|threads)(=|$)")
    flags = {arg.split("=")[0] for arg in command if arg.startswith("--") and not sizing.match(arg)}
    procfile = {arg for arg in _procfile_web() if arg.startswith("--") and not sizing.match(arg)}
    assert "--access-logfile" not in flags
    assert flags == procfile
    assert "python:pixell.gunicorn_conf" in command
