"""``python -m dashboard`` as a real process: waits for the schema, serves, beats, stops on SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import select

from shared import schema as s
from shared.db import make_engine
from shared.migrate import upgrade

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(lines: queue.Queue[str], needle: str, seen: list[str], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"{needle!r} not logged; got:\n{''.join(seen)}")


def test_process_waits_for_schema_serves_and_stops_cleanly(tmp_path: Path) -> None:
    db = tmp_path / "data" / "thetawheel.db"
    strategy = tmp_path / "thetawheel.toml"
    strategy.write_text("[orders]\ncontracts = 2\n", encoding="utf-8")
    port = _free_port()
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{db}",
        "THETAWHEEL_CONFIG": str(strategy),
        "DASHBOARD_PORT": str(port),
        "PYTHONPATH": str(REPO),
    }
    env.pop("DASHBOARD_SECRET_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stderr is not None
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
    seen: list[str] = []
    engine = make_engine(f"sqlite:///{db}")
    try:
        _wait_for(lines, "waiting for the monitor to create the database schema", seen)
        upgrade(engine)  # what the monitor does on start-up
        _wait_for(lines, f"dashboard on http://127.0.0.1:{port}", seen)
        health = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5).json()
        dash = next(c for c in health["components"] if c["component"] == "dashboard")
        assert dash["up"] and dash["state"] == "running" and dash["pid"] == proc.pid
        assert (tmp_path / "data" / "dashboard-secret.key").exists()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        with engine.connect() as conn:
            state = conn.execute(select(s.heartbeats.c.state).where(s.heartbeats.c.component == "dashboard"))
            assert state.scalar() == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.dispose()


def test_refuses_to_bind_beyond_loopback_without_a_login_token(tmp_path: Path) -> None:
    """Beyond loopback the dashboard asks for a token login; without ``DASHBOARD_TOKEN`` (or with a short
    one) it does not start, and says so in one line naming the key."""
    strategy = tmp_path / "thetawheel.toml"
    strategy.write_text("", encoding="utf-8")
    env = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "THETAWHEEL_CONFIG": str(strategy),
        "DASHBOARD_HOST": "0.0.0.0",
        "PYTHONPATH": str(REPO),
    }
    env.pop("DASHBOARD_TOKEN", None)
    for token, reason in ((None, "required because DASHBOARD_HOST=0.0.0.0"), ("short", "at least 16")):
        run_env = env | ({"DASHBOARD_TOKEN": token} if token else {})
        done = subprocess.run(
            [sys.executable, "-m", "dashboard"],
            cwd=tmp_path,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 2
        errors = [line for line in done.stderr.splitlines() if "config error" in line]
        assert len(errors) == 1 and "DASHBOARD_TOKEN: " in errors[0] and reason in errors[0], done.stderr
