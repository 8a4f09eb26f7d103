"""No secret ever reaches a log: a full run of the service (honcho + Procfile.demo, real SMTP with
STARTTLS and AUTH, the real twilio client against a local HTTP server, DEBUG logging, JSON log files)
goes from approve to fill to email and SMS; then every file under ``logs/`` and honcho's output are
searched for each secret and for the base64 forms that go over the wire (HTTP basic auth ``sid:token``,
SMTP AUTH PLAIN ``\\0user\\0password``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from demo import Client, all_up, start_demo, wait_for
from realparts import (
    SMTP_PASSWORD,
    SMTP_USER,
    TWILIO_SID,
    TWILIO_TOKEN,
    SmtpServer,
    TwilioApi,
    settings_values,
)

DASHBOARD_SECRET = "dash-" + "5ecret-K3y-" * 4
STRATEGY = """
[universe]
symbols = ["KO", "SPY"]
[schedule]
monitor_interval_seconds = 2
scan_interval_seconds = 600
executor_poll_seconds = 0.5
heartbeat_seconds = 2
"""


def forms(secret: str) -> set[str]:
    raw = secret.encode()
    return {secret, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}


@pytest.mark.timeout(240)
def test_a_full_run_logs_no_secret(tmp_path: Path, smtp_server: SmtpServer, twilio_api: TwilioApi) -> None:
    values = settings_values(smtp=smtp_server, twilio=twilio_api) | {
        "DASHBOARD_SECRET_KEY": DASHBOARD_SECRET,
        "LOG_LEVEL": "DEBUG",
        "LOG_JSON": "true",
    }
    # a SPY put needs ~$70,000 of collateral: an account large enough for the per-symbol risk limit (20 %)
    svc, base = start_demo(tmp_path, STRATEGY, values, {"THETAWHEEL_DEMO_CASH": "1000000"})
    try:
        client = Client(base)
        wait_for("all components up", lambda: all_up(client), 90, svc)
        opps = wait_for(
            "opportunities", lambda: client.get("/api/v1/opportunities")["opportunities"], 90, svc
        )
        status, created = client.approve(opps[0]["id"])
        assert status == 201, created
        key = created["intent"]["key"]

        def fill_email() -> bool:
            return any(key in m.content.decode() for m in smtp_server.messages)

        wait_for("the fill email", fill_email, 60, svc)
        wait_for(
            "the fill SMS", lambda: any("Sold 1" in r["form"]["Body"] for r in twilio_api.requests), 30, svc
        )
        assert all(m.authenticated and m.tls for m in smtp_server.messages)  # the password was used
        assert twilio_api.requests[0]["password"] == TWILIO_TOKEN  # and the token
    finally:
        svc.stop()
    out = (tmp_path / "honcho.out").read_text()
    for name in ("monitor", "scanner", "executor", "dashboard", "simulator"):
        assert f"{name}.1 stopped (rc=0)" in out, out[-3000:]

    secrets = {
        "EMAIL_PASSWORD": forms(SMTP_PASSWORD) | forms(f"\0{SMTP_USER}\0{SMTP_PASSWORD}"),
        "TWILIO_AUTH_TOKEN": forms(TWILIO_TOKEN) | forms(f"{TWILIO_SID}:{TWILIO_TOKEN}"),
        "DASHBOARD_SECRET_KEY": forms(DASHBOARD_SECRET),
    }
    files = sorted(p for p in (tmp_path / "logs").rglob("*") if p.is_file()) + [tmp_path / "honcho.out"]
    names = {p.name for p in files}
    assert {f"{c}.jsonl" for c in ("monitor", "scanner", "executor", "dashboard")} <= names, names
    leaks = [
        f"{path.name}: {setting} ({form[:6]}…)"
        for path in files
        for setting, variants in secrets.items()
        for form in variants
        if form in path.read_text(errors="replace")
    ]
    assert not leaks, leaks

    for path in files:
        if path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                record = json.loads(line)
                assert {"ts", "level", "component", "logger", "message"} <= set(record), line
    executor = [json.loads(x) for x in (tmp_path / "logs" / "executor.jsonl").read_text().splitlines()]
    assert any(r["component"] == "executor" and key in r["message"] for r in executor)
