"""The System page and the halt switch: heartbeats against ``HEARTBEAT_STALE_SECONDS``, TWS's clock offset,
halt / resume commands with who and when (a repeat is a 409), the banner on every page, CSRF required; and
the Overview's collateral, limits and daily P&L."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests
from dashboard_seed import OPP_KO, OPP_SPY, Live
from management_seed import seed_risk_state
from sqlalchemy import Engine, insert, select

from dashboard import create_app
from shared import schema as s
from shared.config import Config
from shared.db import utcnow_iso
from shared.settings import Settings
from shared.strategy import Strategy

ACTOR = "dashboard 127.0.0.1"


def _token(live: Live, http: requests.Session) -> str:
    return str(http.get(f"{live.url}/api/v1/csrf", timeout=5).json()["csrf_token"])


def _post(live: Live, http: requests.Session, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    return http.post(f"{live.url}{path}", json=body, headers=headers, timeout=5)


def _commands(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(s.commands).order_by(s.commands.c.id))]


def test_system_page_shows_heartbeats_clock_and_switch(live: Live, http: requests.Session) -> None:
    seed_risk_state(live.engine, offset_seconds=2.5)
    resp = http.get(f"{live.url}/system", timeout=5)
    assert resp.status_code == 200
    html = resp.text
    assert re.search(r'<a href="/system" class="active" aria-current="page">System</a>', html)
    rows = re.findall(r'<tr data-component="(\w+)" class="(up|down)">(.*?)</tr>', html, re.S)
    assert [(name, up) for name, up, _ in rows] == [
        ("monitor", "up"),
        ("scanner", "up"),
        ("executor", "down"),  # its beat is 300 s old, over HEARTBEAT_STALE_SECONDS 60
        ("dashboard", "down"),  # no heartbeat row
    ]
    monitor = rows[0][2]
    for text in ("connected", "10000", "4101"):
        assert text in monitor, text
    assert "(no TWS connection)" in rows[3][2] and "missing" in rows[3][2]
    assert "over 60 s old (HEARTBEAT_STALE_SECONDS)" in html
    assert re.search(r'id="clock-offset">\+2\.5 s<', html)
    assert 'id="halt-state">trading<' in html and 'id="halt-form"' in html and "Never halted." in html

    body = http.get(f"{live.url}/api/v1/system", timeout=5).json()
    assert body["stale_after_seconds"] == 60
    assert body["clock"]["offset_seconds"] == pytest.approx(2.5) and body["clock"]["measured"] is True
    assert [c["component"] for c in body["components"] if c["up"]] == ["monitor", "scanner"]
    assert body["market"]["always_open"] is True and body["halt"]["halted"] is False


def test_heartbeat_threshold_comes_from_settings(engine: Engine, db_url: str) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=db_url, MARKET_HOURS="always", HEARTBEAT_STALE_SECONDS=400
    )
    app = create_app(Config(settings=settings, strategy=Strategy()), engine, secret_key="x" * 32)
    body = app.test_client().get("/api/v1/system").get_json()
    assert body["stale_after_seconds"] == 400
    assert {c["component"]: c["up"] for c in body["components"]}["executor"] is True  # 300 s < 400 s


def test_api_halt_and_resume_record_who_and_when(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    resp = _post(live, http, "/api/v1/halt", {"reason": "FOMC day"}, token)
    assert resp.status_code == 201, resp.text
    (halt,) = _commands(live.engine)
    assert resp.json()["command"] == halt
    assert (halt["kind"], halt["actor"], halt["reason"], halt["status"]) == (
        "halt",
        ACTOR,
        "FOMC day",
        "pending",
    )
    assert halt["created_at"] and halt["done_at"] is None

    again = _post(live, http, "/api/v1/halt", None, token)
    assert again.status_code == 409 and again.json()["error"].startswith(
        f"trading is already halted (by {ACTOR} at "
    )
    system = http.get(f"{live.url}/api/v1/system", timeout=5).json()
    assert system["halt"] == {"halted": True, "by": ACTOR, "at": halt["created_at"], "reason": "FOMC day"}
    for page in ("/", "/opportunities", "/system"):  # the banner on every page
        html = http.get(f"{live.url}{page}", timeout=5).text
        assert 'id="halt-banner"' in html and f"<strong>Trading halted</strong> by {ACTOR} at " in html, page
        assert "— FOMC day." in html
    approve = _post(live, http, f"/api/v1/opportunities/{OPP_KO}/approve", None, token)
    assert approve.status_code == 409 and approve.json()["check"] == "halt"

    resumed = _post(live, http, "/api/v1/resume", {}, token)
    assert resumed.status_code == 201 and resumed.json()["command"]["kind"] == "resume"
    assert _post(live, http, "/api/v1/resume", None, token).status_code == 409
    assert 'id="halt-banner"' not in http.get(f"{live.url}/", timeout=5).text
    assert [c["kind"] for c in _commands(live.engine)] == ["halt", "resume"]
    history = http.get(f"{live.url}/api/v1/system", timeout=5).json()["halt_history"]
    assert [(c["kind"], c["actor"]) for c in history] == [("resume", ACTOR), ("halt", ACTOR)]
    assert _post(live, http, f"/api/v1/opportunities/{OPP_KO}/approve", None, token).status_code == 201


def test_halt_without_csrf_changes_nothing(live: Live, http: requests.Session) -> None:
    for path in ("/api/v1/halt", "/api/v1/resume"):
        resp = _post(live, http, path, {"reason": "x"})
        assert resp.status_code == 400 and resp.json()["field"] == "csrf_token"
    bad = _post(live, http, "/api/v1/halt", None, "forged")
    assert bad.status_code == 400
    form = http.post(f"{live.url}/system/halt", data={"reason": "x"}, timeout=5)
    assert form.status_code == 400 and "CSRF token is missing" in form.text
    bad_reason = _post(live, http, "/api/v1/halt", {"reason": "x" * 501}, _token(live, http))
    assert bad_reason.status_code == 400 and bad_reason.json()["field"] == "reason"
    assert _commands(live.engine) == []


def test_halt_and_resume_forms(live: Live, http: requests.Session) -> None:
    page = http.get(f"{live.url}/system", timeout=5).text
    token = re.search(r'id="halt-form">\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page)
    assert token
    halted = http.post(
        f"{live.url}/system/halt",
        data={"csrf_token": token.group(1), "reason": "going on holiday"},
        timeout=5,
    )
    assert halted.status_code == 200 and halted.history[0].status_code == 303
    html = halted.text
    assert "flash-success" in html and "Halted: no new positions until Resume" in html
    assert 'id="halt-state">HALTED<' in html and 'id="resume-form"' in html and 'id="halt-form"' not in html
    history = re.findall(
        r'<tr data-command-id="\d+" data-kind="(\w+)">\s*<td>[^<]+</td>.*?<td>([^<]+)</td>', html, re.S
    )
    assert history == [("halt", ACTOR)]
    assert "going on holiday" in html
    resumed = http.post(f"{live.url}/system/resume", data={"csrf_token": token.group(1)}, timeout=5)
    assert (
        "Resumed: new positions allowed again" in resumed.text and 'id="halt-state">trading<' in resumed.text
    )
    twice = http.post(f"{live.url}/system/resume", data={"csrf_token": token.group(1)}, timeout=5)
    assert "flash-error" in twice.text and "trading is not halted" in twice.text
    assert [(c["kind"], c["actor"]) for c in _commands(live.engine)] == [("halt", ACTOR), ("resume", ACTOR)]


def test_overview_collateral_limits_and_daily_pnl(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    assert (
        _post(live, http, f"/api/v1/opportunities/{OPP_SPY}/approve", {"quantity": 1}, token).status_code
        == 201
    )
    seed_risk_state(live.engine)  # today: −$1,784.45 from $1,045,000
    risk = http.get(f"{live.url}/api/v1/risk", timeout=5).json()
    nlv = 1_043_215.55
    figures = {f["key"]: f for f in risk["figures"]}
    assert figures["csp_held"]["dollars"] == 12_000  # KO 60 P × 2
    assert figures["csp_pending"]["dollars"] == 60_000  # the approved SPY 600 P
    total = figures["csp_total"]
    assert total["dollars"] == 72_000 and total["fraction"] == pytest.approx(72_000 / nlv)
    assert (total["limit_fraction"], total["limit_kind"], total["ok"]) == (0.60, "max", True)
    assert figures["available_funds"]["dollars"] == 870_000
    assert figures["free"]["dollars"] == 810_000
    assert figures["cash_reserve"]["dollars"] == pytest.approx(987_654.43 - 72_000)
    assert figures["cash_reserve"]["limit_kind"] == "min"
    assert figures["margin_cushion"]["fraction"] == pytest.approx(876_543.32 / nlv)
    symbols = {x["symbol"]: x for x in risk["symbols"]}
    assert symbols["SPY"]["pending_collateral"] == 60_000 and symbols["SPY"]["limit_fraction"] == 0.20
    assert symbols["AAPL"]["share_value"] == 20_325 and symbols["KO"]["csp_collateral"] == 12_000
    daily = risk["daily"]
    assert daily["known"] is True and daily["daily_pnl"] == -1_784.45 and daily["halted"] is False
    assert daily["fraction"] == pytest.approx(-1_784.45 / 1_045_000)

    html = http.get(f"{live.url}/", timeout=5).text
    section = html[html.index('id="risk"') : html.index("Component health")]
    for text in (
        "Total CSP collateral ($)", "$72,000", "6.9 %", "max 60 %", "$625,929",
        "Free = available − pending ($)", "$810,000", "77.6 %",
        "Cash reserve = cash − CSP collateral ($)", "min 10 %",
        "Margin cushion = excess liquidity ($)", "84.0 %", "min 25 %",
        "-$1,784.45", "-0.17 %", "halt at -3.0 % = -$31,350",
    ):  # fmt: skip
        assert text in section, text
    assert 'id="daily-loss-halt">off<' in section and 'id="halt-switch">off<' in section
    assert re.search(r'<tr data-symbol="SPY">\s*<td><strong>SPY</strong></td>', section)


def test_daily_loss_halt_shows_on_the_overview(live: Live, http: requests.Session) -> None:
    seed_risk_state(
        live.engine, daily_pnl=-40_000.0, daily_loss_halt=True, daily_loss_reason="daily loss $40,000 ≥ 3 %"
    )
    with live.engine.begin() as conn:  # and a halt switched on by another user
        conn.execute(
            insert(s.commands).values(
                kind="halt", reason="", actor="alice", created_at=utcnow_iso(), status="done"
            )
        )
    html = http.get(f"{live.url}/", timeout=5).text
    assert 'id="daily-loss-halt"><span class="neg">ON</span>' in html
    assert "<strong>Daily-loss halt:</strong> daily loss $40,000 ≥ 3 %" in html
    assert "<strong>Trading halted</strong> by alice at " in html
