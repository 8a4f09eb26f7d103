"""The whole service as ``make run`` starts it (``honcho -f Procfile.demo start``) in a scratch folder with
its own ``.env``, and a browser-like HTTP client for its dashboard. Used by the end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from realparts import free_port
from waiting import wait_for as _wait

REPO = Path(__file__).resolve().parents[2]


class Client:
    """A browser-like HTTP client: keeps the session cookie, sends JSON."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def get(self, path: str) -> Any:
        status, payload = self.request("GET", path)
        assert status == 200, (path, status, payload)
        return payload

    def approve(self, opportunity_id: int) -> tuple[int, Any]:
        """Approve an opportunity the way the page does (CSRF token in a header)."""
        token = self.get("/api/v1/csrf")["csrf_token"]
        return self.request(
            "POST", f"/api/v1/opportunities/{opportunity_id}/approve", {}, {"X-CSRFToken": token}
        )


class Service:
    """``honcho -f Procfile.demo start`` in ``root``; its output goes to ``root/honcho.out``."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.log = root / "honcho.out"
        self._fh = self.log.open("w")
        honcho = Path(sys.executable).with_name("honcho")
        self.proc = subprocess.Popen(
            # as make run starts it: honcho loads no .env itself, each process reads it (shell wins)
            [str(honcho), "--env", "/dev/null", "-f", str(REPO / "Procfile.demo"), "-d", str(root), "start"],
            cwd=root,
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def poll(self) -> int | None:
        return self.proc.poll()

    def output(self) -> str:
        if not self._fh.closed:
            self._fh.flush()
        return self.log.read_text()[-8000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._fh.close()
        return self.proc.returncode


def start_demo(
    root: Path, strategy: str, values: dict[str, Any], extra_env: dict[str, str] | None = None
) -> tuple[Service, str]:
    """Write ``root/.env`` (``values`` plus a free dashboard port) and the strategy, start the demo;
    return the service and the dashboard's base URL. The simulator's control port is
    ``service.env["THETAWHEEL_DEMO_CONTROL_PORT"]``."""
    dash_port = free_port()
    (root / "thetawheel.toml").write_text(strategy)
    values = {"TWS_RESTART_WINDOWS": "", **values}  # no restart windows unless a test gives them
    values = values | {
        "DASHBOARD_PORT": dash_port,
        "THETAWHEEL_CONFIG": root / "thetawheel.toml",
        "LOG_DIR": "logs",
    }
    (root / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(root),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "THETAWHEEL_DEMO_PORT": str(free_port()),
        "THETAWHEEL_DEMO_CONTROL_PORT": str(free_port()),
        "THETAWHEEL_DEMO_DB": f"sqlite:///{root / 'data' / 'demo.db'}",
    } | (extra_env or {})
    return Service(root, env), f"http://127.0.0.1:{dash_port}"


def wait_for(what: str, probe: Callable[[], Any], timeout: float, service: Service) -> Any:
    """Wait while the service runs; on failure show its output."""
    return _wait(
        what, probe, timeout, interval=0.5, alive=lambda: service.poll() is None, context=service.output
    )


def all_up(client: Client) -> Any:
    """The health payload once monitor, scanner, executor and dashboard are all up, else ``None``."""
    health = client.get("/api/v1/health")
    up = {c["component"] for c in health["components"] if c.get("up")}
    return health if up >= {"monitor", "scanner", "executor", "dashboard"} else None
