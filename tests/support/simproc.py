"""The simulator as a real subprocess (``python -m simulator --port 0``) for tests of any folder."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ib_async import IB

ROOT = Path(__file__).resolve().parents[2]
_client_ids = itertools.count(100)


@dataclass
class Sim:
    """A running simulator process and the lines it logged to stderr."""

    proc: subprocess.Popen[str]
    host: str
    port: int
    version: int
    log_lines: list[str] = field(default_factory=list)

    def connect(self, client_id: int | None = None, timeout: float = 4.0) -> IB:
        """Connect a fresh ib_async IB to the simulator."""
        ib = IB()
        ib.RaiseRequestErrors = False
        ib.connect(
            self.host,
            self.port,
            clientId=client_id if client_id is not None else next(_client_ids),
            timeout=timeout,
        )
        return ib


def start_sim(max_version: int, *extra: str) -> Sim:
    """Start ``python -m simulator`` on a free port and parse the port from its one stdout line."""
    cmd = [
        sys.executable,
        "-m",
        "simulator",
        "--port",
        "0",
        "--max-version",
        str(max_version),
        "--fill-delay",
        "0.3",
        "--tick-interval",
        "0.25",
        "--account-interval",
        "2",
        *extra,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r} {proc.stderr.read()}")
    address = line.split("listening on ", 1)[1].split(" ", 1)[0]
    host, port = address.rsplit(":", 1)
    sim = Sim(proc, host, int(port), max_version)
    stderr = proc.stderr

    def pump() -> None:
        for text in stderr:
            sim.log_lines.append(text.rstrip())

    threading.Thread(target=pump, daemon=True).start()
    return sim


def stop_sim(sim: Sim) -> int:
    """SIGTERM the simulator and return its exit code."""
    sim.proc.send_signal(signal.SIGTERM)
    try:
        return sim.proc.wait(10)
    except subprocess.TimeoutExpired:
        sim.proc.kill()
        return sim.proc.wait(5)
