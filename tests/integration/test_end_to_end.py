"""The whole service end to end, started the way ``make run`` starts it (honcho + Procfile.demo):
simulator, monitor, scanner, executor and dashboard on free loopback ports with a temporary database.

A user waits for opportunities, approves one through the dashboard's HTTP endpoint, and then sees the
fill in the orders table, the short put in the monitor's positions, and the alert by email (a real
STARTTLS SMTP server) and SMS (the real twilio client against a local HTTP server).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from demo import Client, Service, all_up, start_demo, wait_for
from realparts import SmtpServer, TwilioApi, settings_values

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


@pytest.fixture
def service(tmp_path: Path, smtp_server: SmtpServer, twilio_api: TwilioApi) -> Iterator[tuple[Service, str]]:
    svc, base = start_demo(tmp_path, STRATEGY, settings_values(smtp=smtp_server, twilio=twilio_api))
    try:
        yield svc, base
    finally:
        svc.stop()


@pytest.mark.timeout(300)
def test_approve_an_opportunity_and_see_fill_position_and_alerts(
    service: tuple[Service, str], smtp_server: SmtpServer, twilio_api: TwilioApi, tmp_path: Path
) -> None:
    svc, base = service
    started = time.monotonic()
    client = Client(base)

    health = wait_for("the dashboard and all components up", lambda: all_up(client), 90, svc)
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

    status, created = client.approve(best["id"])
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

    # the first email may be the monitor's "cannot reach TWS" warning (honcho starts it before the simulator)
    email = wait_for(
        "the fill email", lambda: [m for m in smtp_server.messages if key in m.content.decode()], 60, svc
    )[0]
    text = email.content.decode()
    assert email.tls and email.authenticated
    assert best["local_symbol"].split()[0] in text and key in text
    sms = wait_for(
        "the fill SMS", lambda: [r for r in twilio_api.requests if "Sold" in r["form"]["Body"]], 30, svc
    )[0]
    assert "Sold 1" in sms["form"]["Body"]

    scanner_log = (tmp_path / "logs" / "scanner.log").read_text()
    assert UNKNOWN_SYMBOL in scanner_log and "200" in scanner_log

    svc.stop()
    out = svc.output()
    for name in ("monitor", "scanner", "executor", "dashboard", "simulator"):
        assert f"{name}.1 stopped (rc=0)" in out, out[-3000:]  # SIGTERM → clean exit 0
    assert "Traceback" not in out, out[-3000:]
