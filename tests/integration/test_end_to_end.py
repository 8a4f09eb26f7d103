"""The whole service end to end, started the way ``make run`` starts it (honcho + Procfile.demo):
simulator, monitor, scanner, executor and dashboard on free loopback ports with a temporary database.

A user waits for opportunities, approves one through the dashboard's HTTP endpoint, and then sees the
fill in the orders table, the short put in the monitor's positions, and the alert by email (a real
STARTTLS SMTP server) and SMS (the real twilio client against a local HTTP server).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from realparts import SmtpServer, TwilioApi, free_port, settings_values
from waiting import wait_for as _wait

REPO = Path(__file__).resolve().parents[2]
UNKNOWN_SYMBOL = "ZZZQ"

STRATEGY = f"""
[universe]
symbols = ["SPY", "{UNKNOWN_SYMBOL}", "KO", "AAPL"]

[schedule]
monitor_interval_seconds = 2
scan_interval_seconds = 600
executor_poll_seconds = 1
heartbeat_seconds = 2
"""


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


def wait_for(what: str, probe: Callable[[], Any], timeout: float, service: Service) -> Any:
    """Wait while the service runs; on failure show its output."""
    return _wait(
        what, probe, timeout, interval=0.5, alive=lambda: service.poll() is None, context=service.output
    )


class Service:
    """``honcho -f Procfile.demo start`` in a scratch folder with its own .env."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.log = root / "honcho.out"
        self._fh = self.log.open("w")
        honcho = Path(sys.executable).with_name("honcho")
        self.proc = subprocess.Popen(
            [str(honcho), "-f", str(REPO / "Procfile.demo"), "-d", str(root), "start"],
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


@pytest.fixture
def service(tmp_path: Path, smtp_server: SmtpServer, twilio_api: TwilioApi) -> Iterator[tuple[Service, str]]:
    sim_port, dash_port = free_port(), free_port()
    (tmp_path / "thetawheel.toml").write_text(STRATEGY)
    values = settings_values(smtp=smtp_server, twilio=twilio_api)
    values |= {
        "DASHBOARD_PORT": dash_port,
        "THETAWHEEL_CONFIG": tmp_path / "thetawheel.toml",
        "LOG_DIR": "logs",
    }
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "THETAWHEEL_DEMO_PORT": str(sim_port),
        "THETAWHEEL_DEMO_DB": f"sqlite:///{tmp_path / 'data' / 'demo.db'}",
    }
    svc = Service(tmp_path, env)
    try:
        yield svc, f"http://127.0.0.1:{dash_port}"
    finally:
        svc.stop()


@pytest.mark.timeout(300)
def test_approve_an_opportunity_and_see_fill_position_and_alerts(
    service: tuple[Service, str], smtp_server: SmtpServer, twilio_api: TwilioApi, tmp_path: Path
) -> None:
    svc, base = service
    started = time.monotonic()
    client = Client(base)

    health = wait_for("the dashboard and all components up", lambda: _all_up(client), 90, svc)
    assert {c["component"] for c in health["components"]} >= {"monitor", "scanner", "executor", "dashboard"}

    opps = wait_for(
        "the first ranked opportunities",
        lambda: client.get("/api/v1/opportunities")["opportunities"],
        120,
        svc,
    )
    first_opportunity_after = time.monotonic() - started
    print(f"first opportunity {first_opportunity_after:.1f} s after start")
    ranks = [o["rank"] for o in opps]
    assert ranks == sorted(ranks) and ranks[0] == 1
    best = opps[0]
    assert best["right"] == "P" and best["symbol"] in {"SPY", "KO", "AAPL"}
    assert 0.15 <= -best["delta"] <= 0.30 and 21 <= best["dte"] <= 45 and best["annualized_return"] >= 0.12

    token = client.get("/api/v1/csrf")["csrf_token"]
    status, created = client.request(
        "POST", f"/api/v1/opportunities/{best['id']}/approve", {}, {"X-CSRFToken": token}
    )
    assert status == 201, created
    key = created["intent"]["key"]

    def filled_order() -> Any:
        orders = [o for o in client.get("/api/v1/orders")["orders"] if o["intent_key"] == key]
        return orders[0] if orders and orders[0]["status"] == "Filled" else None

    order = wait_for("the order to fill", filled_order, 60, svc)
    assert order["action"] == "SELL" and order["filled"] == 1
    fills = wait_for(
        "the fill with its commission",
        lambda: [
            f for f in client.get("/api/v1/fills")["fills"] if f["intent_key"] == key and f["commission"]
        ],
        30,
        svc,
    )
    assert fills[0]["side"] == "SLD" and fills[0]["commission"] >= 1.0  # IB: $0.65/contract, $1.00 minimum

    position = wait_for(
        "the short put in the monitor's positions",
        lambda: [
            p
            for p in client.get("/api/v1/positions")["positions"]
            if p["con_id"] == best["con_id"] and p["delta"] is not None
        ],
        30,
        svc,
    )[0]
    assert position["quantity"] == -1 and position["sec_type"] == "OPT" and position["delta"] < 0

    email = wait_for("the fill email", lambda: smtp_server.messages, 60, svc)[0]
    text = email.content.decode()
    assert email.tls and email.authenticated
    assert best["local_symbol"].split()[0] in text and key in text
    sms = wait_for("the fill SMS", lambda: twilio_api.requests, 30, svc)[0]
    assert "Sold 1" in sms["form"]["Body"]

    scanner_log = (tmp_path / "logs" / "scanner.log").read_text()
    assert UNKNOWN_SYMBOL in scanner_log and "200" in scanner_log

    svc.stop()
    out = svc.output()
    for name in ("monitor", "scanner", "executor", "dashboard", "simulator"):
        assert f"{name}.1 stopped (rc=0)" in out, out[-3000:]  # SIGTERM → clean exit 0
    assert "Traceback" not in out, out[-3000:]


def _all_up(client: Client) -> Any:
    health = client.get("/api/v1/health")
    up = {c["component"] for c in health["components"] if c.get("up")}
    return health if up >= {"monitor", "scanner", "executor", "dashboard"} else None
