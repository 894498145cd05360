"""How long agentapps.apkg.validate_apkg takes on a 5,000-member package beside a 5-member one.

    .venv/bin/python benchmarks/apkg_validate.py [--repeat N]

Both packages are generated in a temp dir with the kit's layout (agent.yaml, .pixell/package.json,
.env, src/...); the large one adds 4,995 small source files. Prints the best and median of N runs,
per member, and the bytes the validator read from each file. Validation cost should grow with the
member count (one central-directory entry and one local header each, plus bounded text scans), not
with the package's byte size.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agentapps.apkg import validate_apkg

MAX_BYTES = 100 * 1024 * 1024
AGENT_YAML = """\
version: "1.0"
name: bench-agent
display_name: Bench Agent
description: Benchmark package
author: Pixell
license: MIT
entrypoint: src.main:handler
runtime: python3.11
metadata:
  version: 1.0.0
"""


def build(path: Path, members: int) -> Path:
    manifest = {
        "version": "1.0",
        "name": "bench-agent",
        "display_name": "Bench Agent",
        "description": "Benchmark package",
        "author": "Pixell",
        "license": "MIT",
        "entrypoint": "src.main:handler",
        "runtime": "python3.11",
        "metadata": {"version": "1.0.0"},
    }
    fixed = [
        ("agent.yaml", AGENT_YAML),
        (".pixell/package.json", json.dumps({"format_version": "1.0", "manifest": manifest})),
        (".env", "LOG_LEVEL=info\n"),
        ("src/__init__.py", ""),
        ("src/main.py", "def handler(context):\n    return {'ok': True}\n"),
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in fixed[:members]:
            zf.writestr(name, data)
        for i in range(members - len(fixed)):
            body = f"# module {i}\nVALUE = {i}\n\n\ndef f{i}(x):\n    return x + VALUE  # {os.urandom(8).hex()}\n"
            zf.writestr(f"src/pkg{i // 100}/mod{i}.py", body)
    return path


class CountingFile(io.FileIO):
    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer):
        n = super().readinto(buffer) or 0
        self.bytes_read += n
        return n


def measure(path: Path, repeat: int) -> tuple[list[float], int, object]:
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = validate_apkg(path, max_bytes=MAX_BYTES)
        times.append(time.perf_counter() - start)
    with CountingFile(path, "rb") as fp:
        validate_apkg(fp, max_bytes=MAX_BYTES)
        read = fp.bytes_read
    return times, read, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for members in (5, 5000):
            path = build(Path(tmp) / f"bench-{members}.apkg", members)
            times, read, result = measure(path, args.repeat)
            assert result.valid, result.errors
            rows.append((members, path.stat().st_size, min(times), statistics.median(times), read))

        print(f"validate_apkg, best and median of {args.repeat} runs")
        print(
            f"{'members':>8} {'package':>12} {'best ms':>9} {'median ms':>10} {'µs/member':>10} {'bytes read':>11}"
        )
        for members, size, best, median, read in rows:
            print(
                f"{members:>8,} {size:>12,} {best * 1000:>9.2f} {median * 1000:>10.2f} "
                f"{best * 1e6 / members:>10.1f} {read:>11,}"
            )
        ratio = rows[1][2] / rows[0][2]
        print(
            f"5,000 members take {ratio:.0f}× as long as 5 ({rows[1][0] // rows[0][0]}× the members)"
        )


if __name__ == "__main__":
    main()
