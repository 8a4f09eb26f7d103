"""Issue 11 over HTTP against the real app and a real SQLite file: cancelling a working order through the
API, the clock with the market session, the alert channels in plain words, the orders' trader figures, and
the held / pending marks of the opportunities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests
from dashboard_seed import OPP_AAPL, OPP_KO, Live
from sqlalchemy import insert, select

from dashboard.channels import channel_status
from dashboard.clock import market_clock
from shared import schema as s
from shared.db import utcnow_iso
from shared.settings import Settings

KEY = "TW-CSP-SPY-20261218-600P-O21"


def _working_order(live: Live, status: str = "Submitted") -> int:
    now = utcnow_iso()
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.intents).values(
                key=KEY, source="dashboard", kind="sell_put", action="SELL", sec_type="OPT", symbol="SPY",
                con_id=700002, local_symbol="SPY   261218P00600000", expiry="20261218", strike=600.0,
                right="P", quantity=1, limit_floor=6.40, status="working", status_reason="",
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
        return int(
            conn.execute(
                insert(s.orders)
                .values(
                    intent_key=KEY, order_id=91, client_id=12000, account="DU1234567", action="SELL",
                    order_type="LMT", quantity=1, limit_price=6.50, con_id=700002, symbol="SPY",
                    local_symbol="SPY   261218P00600000", status=status, filled=0, remaining=1,
                    created_at=now, updated_at=now,
                )
                .returning(s.orders.c.id)
            ).scalar_one()
        )  # fmt: skip


def _token(live: Live, http: requests.Session) -> str:
    return str(http.get(f"{live.url}/api/v1/csrf", timeout=5).json()["csrf_token"])


def test_cancel_a_working_order_through_the_api(live: Live, http: requests.Session) -> None:
    order_id = _working_order(live)
    url = f"{live.url}/api/v1/orders/{order_id}/cancel"
    assert http.post(url, json={}, timeout=5).status_code == 400  # no CSRF token
    headers = {"X-CSRFToken": _token(live, http)}
    done = http.post(url, json={"reason": "too far from the bid"}, headers=headers, timeout=5)
    assert done.status_code == 201, done.text
    command = done.json()["command"]
    assert (command["kind"], command["intent_key"], command["status"]) == ("cancel_order", KEY, "pending")
    again = http.post(url, json={}, headers=headers, timeout=5)
    assert again.status_code == 409 and "already requested" in again.json()["error"]
    orders = {o["intent_key"]: o for o in http.get(f"{live.url}/api/v1/orders", timeout=5).json()["orders"]}
    assert orders[KEY]["cancel_requested"] is True
    filled = orders["TW-CSP-KO-20261120-60P-O3"]
    assert filled["cancellable"] is False  # the seed's filled order
    refused = http.post(
        f"{live.url}/api/v1/orders/{filled['id']}/cancel", json={}, headers=headers, timeout=5
    )
    assert refused.status_code == 409 and "not working" in refused.json()["error"]
    missing = http.post(f"{live.url}/api/v1/orders/9999/cancel", json={}, headers=headers, timeout=5)
    assert missing.status_code == 404
    with live.engine.connect() as conn:
        assert conn.execute(select(s.commands.c.reason)).scalars().all() == ["too far from the bid"]


def test_orders_carry_the_figures_a_trader_reads(live: Live, http: requests.Session) -> None:
    _working_order(live)
    orders = {o["intent_key"]: o for o in http.get(f"{live.url}/api/v1/orders", timeout=5).json()["orders"]}
    spy = orders[KEY]
    assert (spy["strike"], spy["right"], spy["expiry"], spy["cancellable"]) == (600.0, "P", "20261218", True)
    assert spy["premium_per_contract"] == 650.0 and spy["break_even"] == 593.5
    assert spy["underlying"] == 648.0 and round(spy["otm_fraction"], 4) == round((648 - 600) / 648, 4)
    assert isinstance(spy["dte"], int)
    ko = orders["TW-CSP-KO-20261120-60P-O3"]  # filled at 0.715: premium from the fill, not the limit
    assert ko["premium_per_contract"] == 71.5 and ko["break_even"] == 60 - 0.715


def test_opportunities_mark_held_and_pending(live: Live, http: requests.Session) -> None:
    now = utcnow_iso()
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.intents).values(
                key="TW-CSP-AAPL-20261218-210P-O13", source="dashboard", opportunity_id=OPP_AAPL,
                kind="sell_put", action="SELL", sec_type="OPT", symbol="AAPL", con_id=700004,
                local_symbol="AAPL", quantity=1, limit_floor=2.98, status="approved", created_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(s.positions).values(
                con_id=700003, account="DU1234567", symbol="KO", sec_type="OPT",
                local_symbol="KO    261218P00062500", expiry="20261218", strike=62.5, right="P",
                multiplier=100, quantity=-1, avg_cost=72.0, market_price=0.70, updated_at=now,
            )
        )  # fmt: skip
    rows = {
        o["id"]: o for o in http.get(f"{live.url}/api/v1/opportunities", timeout=5).json()["opportunities"]
    }
    assert (rows[OPP_KO]["mark"], rows[OPP_KO]["held_quantity"]) == ("held", -1.0)
    assert rows[OPP_AAPL]["mark"] == "pending"
    html = http.get(f"{live.url}/opportunities", timeout=5).text
    assert (
        f'/opportunities/{OPP_KO}/approve"' not in html and f'/opportunities/{OPP_AAPL}/approve"' not in html
    )


def test_the_clock_says_the_market_session(live: Live, http: requests.Session) -> None:
    body = http.get(f"{live.url}/api/v1/clock", timeout=5).json()
    assert body["clock"]["session"] in ("pre-market", "open", "early close", "after-hours", "closed")
    assert body["refresh_seconds"] == 30
    et = lambda day, hm: datetime.fromisoformat(f"{day}T{hm}-05:00").astimezone(UTC)  # noqa: E731
    assert market_clock(et("2026-12-03", "09:00")).session == "pre-market"
    assert market_clock(et("2026-12-03", "10:00")).session == "open"
    assert market_clock(et("2026-12-03", "17:00")).session == "after-hours"
    assert market_clock(et("2026-12-03", "21:00")).session == "closed"
    assert market_clock(et("2026-12-05", "11:00")).session == "closed"  # a Saturday
    assert market_clock(et("2026-12-25", "11:00")).session == "closed"  # Christmas
    friday = market_clock(et("2026-11-27", "12:00"))  # the day after Thanksgiving closes at 13:00
    assert (friday.session, friday.detail) == ("early close", "closes 13:00 ET")
    assert market_clock(et("2026-11-27", "14:00")).session == "after-hours"


def test_alert_channels_in_plain_words(live: Live, http: requests.Session) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, SMTP_SERVER="smtp.example.com", EMAIL_FROM="a@example.com", EMAIL_TO="b@example.com",
        TWILIO_ACCOUNT_SID="AC1", TWILIO_AUTH_TOKEN="t", TWILIO_FROM_NUMBER="+15550000001",
        TWILIO_TO_NUMBER="+15550000002",
    )  # fmt: skip
    now = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    opened = (now - timedelta(seconds=20)).isoformat()
    breakers = [{"name": "sms", "state": "open", "fail_counter": 3, "opened_at": opened}]
    texts = [c["text"] for c in channel_status(settings, breakers, now)]
    assert texts == ["email: healthy", "SMS: failing, retrying at 14:00 UTC"]
    body = http.get(f"{live.url}/api/v1/alerts", timeout=5).json()
    assert [c["text"] for c in body["channels"]] == ["email: not configured", "SMS: not configured"]
