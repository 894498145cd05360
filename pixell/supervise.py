"""Run every process of a Procfile and keep them running: what `make run` starts.

honcho (what `make run` used before) stops every process as soon as one exits, so one crashed
worker took the web server down with it. Here a process that exits is restarted, with a delay
that grows while it keeps failing fast (1 s, 2 s, 4 s … 30 s) and resets once it has run a
while; the exit and the restart are printed plainly, and the others keep serving. Ctrl-C (or
SIGTERM/SIGHUP) stops them all: SIGTERM to each program, then SIGTERM to whatever of its group is
left once it has exited, SIGKILL to the group after a grace period.

Generic over the Procfile: every ``name: command`` line is one process, run with ``sh -c`` in its
own process group (so a stop reaches the children a command starts) and told to stop if this
supervisor dies. Output is prefixed ``HH:MM:SS name | line``. No Django here.

Usage: ``python -m pixell.supervise [Procfile]``.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

NAME = "supervise"
FAST_FAILURE_SECONDS = 30.0  # an exit sooner than this counts as failing fast
MAX_DELAY_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0
COLORS = ("36", "33", "32", "35", "34", "31")
_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def parse_procfile(text: str) -> list[tuple[str, str]]:
    """``[(name, command), …]`` in file order; comments and blank lines skipped."""
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"not a Procfile line: {raw!r}")
        entries.append((match.group(1), match.group(2)))
    names = [name for name, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"a process name appears twice: {names}")
    return entries


_SHELL_SYNTAX = re.compile(r"[;&|<>()`\n]|\$\(")


def shell_command(command: str) -> str:
    """``exec`` a simple command so the process we watch is the program itself, not a shell that
    would outlive it (or leave it behind when only the shell is killed)."""
    return command if _SHELL_SYNTAX.search(command) else f"exec {command}"


def restart_delay(fast_failures: int) -> float:
    """Seconds to wait before the next start after ``fast_failures`` quick exits in a row."""
    if fast_failures <= 0:
        return 1.0
    return min(MAX_DELAY_SECONDS, 2.0 ** (fast_failures - 1))


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setpgrp()
    try:  # Linux: SIGTERM when the supervisor dies, even by SIGKILL (no orphaned servers)
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Printer:
    def __init__(self, names: list[str], stream=None):
        self.stream = stream or sys.stdout
        self.width = max([len(NAME), *map(len, names)])
        self.color = self.stream.isatty()
        self.colors = {name: COLORS[i % len(COLORS)] for i, name in enumerate(names)}
        self.lock = threading.Lock()

    def line(self, name: str, text: str) -> None:
        prefix = f"{time.strftime('%H:%M:%S')} {name:<{self.width}} |"
        if self.color:
            prefix = f"\033[{self.colors.get(name, '1')}m{prefix}\033[0m"
        with self.lock:
            self.stream.write(f"{prefix} {text}\n")
            self.stream.flush()


@dataclass
class Process:
    name: str
    command: str
    popen: subprocess.Popen | None = None
    started_at: float = 0.0
    fast_failures: int = 0
    restart_at: float | None = None
    restarts: int = 0
    reader: threading.Thread | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, entries: list[tuple[str, str]], *, env=None, cwd=None, stream=None):
        self.processes = [Process(name, command) for name, command in entries]
        self.env = env  # None: inherited (`make run` exports PYTHONUNBUFFERED=1 for prompt lines)
        self.cwd = cwd
        self.printer = Printer([p.name for p in self.processes], stream)
        self.stopping = threading.Event()

    def say(self, text: str) -> None:
        self.printer.line(NAME, text)

    def _pump(self, process: Process, popen: subprocess.Popen) -> None:
        for raw in iter(popen.stdout.readline, b""):
            self.printer.line(process.name, raw.decode("utf-8", "replace").rstrip("\n"))
        popen.stdout.close()

    def start(self, process: Process) -> None:
        popen = subprocess.Popen(
            ["/bin/sh", "-c", shell_command(process.command)],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        process.popen, process.started_at, process.restart_at = popen, time.monotonic(), None
        process.reader = threading.Thread(target=self._pump, args=(process, popen), daemon=True)
        process.reader.start()
        self.say(f"{process.name} started (pid {popen.pid}): {process.command}")

    def _reap(self, process: Process, now: float) -> None:
        code = process.popen.returncode
        ran = now - process.started_at
        # Whatever it started and left behind (its group) goes too, so a restart never runs twice.
        self._signal(process, signal.SIGTERM)
        if process.reader is not None:
            process.reader.join(timeout=2)  # its last lines first, then the verdict
        process.popen = None
        if self.stopping.is_set():
            return
        process.fast_failures = process.fast_failures + 1 if ran < FAST_FAILURE_SECONDS else 0
        delay = restart_delay(process.fast_failures)
        process.restart_at = now + delay
        process.restarts += 1
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        self.say(
            f"{process.name} {how} after {ran:.1f} s; restarting in {delay:.0f} s "
            f"(restart {process.restarts}); the other processes keep running"
        )

    def tick(self) -> None:
        """One round of supervision: reap what exited, start what is due."""
        now = time.monotonic()
        for process in self.processes:
            if process.popen is not None and process.popen.poll() is not None:
                self._reap(process, now)
            if (
                process.popen is None
                and process.restart_at is not None
                and now >= process.restart_at
                and not self.stopping.is_set()
            ):
                self.start(process)

    def stop(self) -> None:
        self.stopping.set()
        running = [p for p in self.processes if p.popen is not None and p.popen.poll() is None]
        # The program first, not its whole group: a program that manages children (celery's prefork
        # pool and embedded beat, gunicorn's workers) shuts them down itself. SIGTERM sent straight
        # to celery's pool children kills one while it holds the pool's queue lock, and the main
        # process then waits for that lock forever (it never stopped: killed after the grace).
        for process in running:
            try:
                process.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline and any(p.popen.poll() is None for p in running):
            time.sleep(0.1)
        for process in running:
            if process.popen.poll() is None:
                self.say(f"{process.name} did not stop in {STOP_GRACE_SECONDS:.0f} s: killed")
                self._signal(process, signal.SIGKILL)
                process.popen.wait(timeout=5)
            else:
                # What the program left behind in its group (a shell's children) goes too.
                self._signal(process, signal.SIGTERM)
        for process in running:
            if process.reader is not None:
                process.reader.join(timeout=2)

    @staticmethod
    def _signal(process: Process, signum: int) -> None:
        try:
            os.killpg(process.popen.pid, signum)
        except ProcessLookupError:
            pass

    def run(self) -> int:
        def on_signal(signum, frame):
            self.stopping.set()

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, on_signal)
        for process in self.processes:
            self.start(process)
        while not self.stopping.is_set():
            self.tick()
            self.stopping.wait(0.2)
        self.say("stopping every process")
        self.stop()
        self.say("stopped")
        return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    procfile = Path(args[0] if args else "Procfile")
    entries = parse_procfile(procfile.read_text())
    if not entries:
        print(f"{procfile}: no processes", file=sys.stderr)
        return 2
    return Supervisor(entries, cwd=procfile.resolve().parent).run()


if __name__ == "__main__":
    sys.exit(main())
