"""The simulator as a real subprocess (``python -m simulator --port 0``) for tests of any folder.

By default the simulator fills around the clock and does not enforce IB's message-rate and historical-pacing
limits (``--hours always --no-limits``), so tests of other features do not depend on the time of day; pass
``hours="rth"`` / ``limits=True`` to get the realistic behaviour. ``control=True`` (or ``--control-port`` in
``extra``) starts the HTTP control interface: :meth:`Sim.post` and :meth:`Sim.state` drive it.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    control_port: int | None = None

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

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """One HTTP request to the control interface: (status, JSON answer)."""
        if self.control_port is None:
            raise RuntimeError("the simulator was started without --control-port")
        data = json.dumps(body).encode() if body is not None else (b"{}" if method == "POST" else None)
        req = urllib.request.Request(
            f"http://{self.host}:{self.control_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST to the control interface; raises on an error status; returns the new state view."""
        status, answer = self.request("POST", path, body)
        if status != 200:
            raise RuntimeError(f"POST {path} {body}: {status} {answer}")
        return answer

    def state(self) -> dict[str, Any]:
        """``GET /state`` of the control interface."""
        status, answer = self.request("GET", "/state")
        if status != 200:
            raise RuntimeError(f"GET /state: {status} {answer}")
        return answer


def start_sim(
    max_version: int, *extra: str, hours: str = "always", limits: bool = False, control: bool = False
) -> Sim:
    """Start ``python -m simulator`` on a free port and parse the port from its stdout line (and the control
    port from the next line when the control interface is on)."""
    options: list[str] = []
    if "--hours" not in extra:
        options += ["--hours", hours]
    if not limits and "--no-limits" not in extra:
        options.append("--no-limits")
    if control and "--control-port" not in extra:
        options += ["--control-port", "0"]
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
        *options,
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
    if "--control-port" in cmd:
        line = proc.stdout.readline()
        if "control on" not in line:
            proc.kill()
            raise RuntimeError(f"simulator control interface did not start: {line!r}")
        sim.control_port = int(line.rsplit(":", 1)[1])
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


def stop_clean(sim: Sim) -> None:
    """Stop the simulator (:func:`stop_sim`); assert it exited 0 and logged no traceback or ERROR line."""
    code = stop_sim(sim)
    assert code == 0, f"the simulator exited with {code}"
    problems = [line for line in sim.log_lines if "Traceback" in line or " ERROR " in line]
    assert not problems, "\n".join(problems)
