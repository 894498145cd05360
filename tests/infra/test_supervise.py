"""`make run`'s supervisor (pixell/supervise.py): a process that exits is restarted and said so,
the others keep running; stopping stops all; the supervisor's death takes its processes along."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from pixell import gunicorn_conf, supervise

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[1][0] != "Z"


def _wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_procfile_lines_in_order_comments_skipped_mistakes_refused():
    text = "# comment\n\nweb: gunicorn x --bind 0.0.0.0:${PORT:-4000}\nworker:celery -A pixell worker\n"
    assert supervise.parse_procfile(text) == [
        ("web", "gunicorn x --bind 0.0.0.0:${PORT:-4000}"),
        ("worker", "celery -A pixell worker"),
    ]
    with pytest.raises(ValueError, match="twice"):
        supervise.parse_procfile("a: x\na: y\n")
    with pytest.raises(ValueError, match="not a Procfile line"):
        supervise.parse_procfile("just words\n")
    # The project's own Procfile parses, every process named once.
    names = [name for name, _ in supervise.parse_procfile((ROOT / "Procfile").read_text())]
    assert {"web", "worker"} <= set(names)


def test_restart_delay_grows_while_failing_fast_and_is_capped():
    assert [supervise.restart_delay(n) for n in range(7)] == [1, 1, 2, 4, 8, 16, 30]
    assert supervise.restart_delay(50) == supervise.MAX_DELAY_SECONDS


def test_simple_commands_are_execed_compound_ones_left_to_the_shell():
    assert supervise.shell_command("celery -A pixell worker") == "exec celery -A pixell worker"
    assert supervise.shell_command("gunicorn --bind 0.0.0.0:${PORT:-4000}").startswith("exec ")
    for compound in ("a && b", "a; b", "a | b", "x=$(date) a"):
        assert supervise.shell_command(compound) == compound


def test_an_exiting_process_is_restarted_and_reported_while_the_others_run(tmp_path):
    out = io.StringIO()
    sup = supervise.Supervisor(
        [("steady", "sleep 60"), ("flaky", "echo flaky says hi; exit 3")],
        cwd=tmp_path,
        stream=out,
    )
    steady, flaky = sup.processes
    try:
        for process in sup.processes:
            sup.start(process)
        steady_pid = steady.popen.pid
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and flaky.restarts < 2:
            sup.tick()
            time.sleep(0.05)
        assert flaky.restarts >= 2, out.getvalue()
        assert steady.popen is not None and steady.popen.pid == steady_pid and steady.restarts == 0
        assert _alive(steady_pid)
        text = out.getvalue()
        assert re.search(r"flaky +\| flaky says hi", text)
        assert "flaky exited with code 3 after" in text and "restarting in 1 s" in text
        assert "the other processes keep running" in text
    finally:
        sup.stop()
    assert not _alive(steady_pid)


def _supervise(procfile):
    """``python -m pixell.supervise <procfile>`` with its output readable line by line."""
    return subprocess.Popen(
        [sys.executable, "-m", "pixell.supervise", str(procfile)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_stops_every_process_and_the_supervisors_death_takes_them_along(tmp_path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("one: sleep 60\ntwo: sleep 61\n")

    def start():
        process = _supervise(procfile)
        pids = []
        for line in process.stdout:
            if "started (pid" in line:
                pids.append(int(line.split("(pid ")[1].split(")")[0]))
            if len(pids) == 2:
                return process, pids
        raise AssertionError("supervisor did not start its processes")

    process, pids = start()
    assert all(_alive(pid) for pid in pids)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    assert not any(_alive(pid) for pid in pids)

    process, pids = start()
    process.kill()  # SIGKILL: no chance to clean up; the children are told by the kernel
    process.wait(timeout=5)
    assert _wait_until(lambda: not any(_alive(pid) for pid in pids)), pids


_MANAGING_PARENT = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, sys.argv[1], sys.argv[2]])  # same process group
def on_term(*_):
    time.sleep(0.5)  # a warm shutdown takes a moment before it reaches the children
    child.send_signal(signal.SIGUSR1)  # its own way of stopping its children, as celery's pool
    child.wait()
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
while True:
    time.sleep(1)
"""

_MANAGED_CHILD = """
import signal, sys, time
marker = sys.argv[1]
def note(text, code):
    with open(marker, "a") as f:
        f.write(text + "\\n")
    sys.exit(code)
signal.signal(signal.SIGTERM, lambda *_: note("child got SIGTERM", 1))
signal.signal(signal.SIGUSR1, lambda *_: note("child stopped by its parent", 0))
note_ready = open(marker, "a"); note_ready.write("child ready\\n"); note_ready.close()
while True:
    time.sleep(1)
"""


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


def test_a_stop_lets_a_program_stop_its_own_children_and_clears_what_a_shell_left(tmp_path):
    # celery's prefork main process stops its pool itself; SIGTERM sent to the pool children
    # directly (the whole group) left the worker hanging on its pool lock until SIGKILL.
    (tmp_path / "parent.py").write_text(_MANAGING_PARENT)
    (tmp_path / "child.py").write_text(_MANAGED_CHILD)
    marker = tmp_path / "marker"
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"managed: {sys.executable} {tmp_path / 'parent.py'} {tmp_path / 'child.py'} {marker}\n"
        "shelly: sleep 62 & sleep 63\n"
    )
    process = _supervise(procfile)
    leaders = {}
    for line in process.stdout:
        if "started (pid" in line:
            name = line.split("| ")[1].split(" started")[0]
            leaders[name] = int(line.split("(pid ")[1].split(")")[0])
        if len(leaders) == 2:
            break
    assert _wait_until(lambda: marker.exists() and "child ready" in marker.read_text())
    assert _wait_until(lambda: len(_group_members(leaders["shelly"])) >= 2)
    shell_group = _group_members(leaders["shelly"])

    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=20)[0]
    assert process.returncode == 0
    assert "killed" not in output, output
    assert marker.read_text().splitlines() == ["child ready", "child stopped by its parent"]
    assert _wait_until(lambda: not any(_alive(pid) for pid in shell_group)), shell_group


# --- where the web process listens (pixell/gunicorn_conf.py) -----------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def test_web_listens_on_port_and_on_the_second_port(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("PIXELL_SECOND_PORT", raising=False)
    monkeypatch.setattr(gunicorn_conf, "_busy", lambda host, port: False)
    assert gunicorn_conf.listen_addresses() == ["0.0.0.0:4000", "0.0.0.0:3000"]

    monkeypatch.setenv("PORT", "4800")
    monkeypatch.setenv("PIXELL_SECOND_PORT", "127.0.0.1:3800")
    assert gunicorn_conf.listen_addresses() == ["0.0.0.0:4800", "127.0.0.1:3800"]
    monkeypatch.setenv("PIXELL_SECOND_PORT", "[::1]:3800")
    assert gunicorn_conf.listen_addresses() == ["0.0.0.0:4800", "[::1]:3800"]

    for off in ("off", "OFF", "false", "0"):
        monkeypatch.setenv("PIXELL_SECOND_PORT", off)
        assert gunicorn_conf.listen_addresses() == ["0.0.0.0:4800"]
    monkeypatch.setenv("PIXELL_SECOND_PORT", "4800")  # the same port once
    assert gunicorn_conf.listen_addresses() == ["0.0.0.0:4800"]

    for bad in ("three-thousand", "70000", "host:"):
        monkeypatch.setenv("PIXELL_SECOND_PORT", bad)
        with pytest.raises(ImproperlyConfigured, match="PIXELL_SECOND_PORT"):
            gunicorn_conf.listen_addresses()


def test_a_busy_second_port_is_reported_and_left_out(monkeypatch, capsys):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        main = _free_port()
        monkeypatch.setenv("PORT", str(main))
        monkeypatch.setenv("PIXELL_SECOND_PORT", str(busy))
        assert gunicorn_conf.listen_addresses() == [f"0.0.0.0:{main}"]
    assert f"port {busy} is busy" in capsys.readouterr().err
