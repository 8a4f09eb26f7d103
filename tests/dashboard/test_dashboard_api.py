"""The JSON API over HTTP against the real app under waitress and a real migrated SQLite file."""

from __future__ import annotations

import requests
from dashboard_seed import (
    NEW_SCAN,
    OLD_SCAN,
    OPP_AAPL,
    OPP_AAPL_CC,
    OPP_KO,
    OPP_OLD,
    OPP_SPY,
    OPP_T_CC,
    OPP_T_CC2,
    Live,
)
from sqlalchemy import func, select

from shared import schema as s


def _token(live: Live, http: requests.Session) -> str:
    resp = http.get(f"{live.url}/api/v1/csrf", timeout=5)
    assert resp.status_code == 200
    token = resp.json()["csrf_token"]
    assert token and "thetawheel_session" in http.cookies
    return str(token)


def _intent_count(live: Live) -> int:
    with live.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(s.intents)).scalar_one())


def _approve(live: Live, http: requests.Session, opp_id: int, body: object = None, token: str | None = None):
    headers = {"X-CSRFToken": token} if token else {}
    url = f"{live.url}/api/v1/opportunities/{opp_id}/approve"
    return http.post(url, json=body, headers=headers, timeout=5)


def test_health_marks_stale_and_missing_components_down(live: Live, http: requests.Session) -> None:
    body = http.get(f"{live.url}/api/v1/health", timeout=5).json()
    by_name = {c["component"]: c for c in body["components"]}
    assert body["status"] == "degraded"
    assert by_name["monitor"]["up"] is True and by_name["monitor"]["client_id"] == 10000
    assert by_name["scanner"]["status"] == "UP"
    assert by_name["executor"]["status"] == "DOWN" and by_name["executor"]["age_seconds"] >= 299
    assert by_name["dashboard"]["status"] == "DOWN" and by_name["dashboard"]["age_seconds"] is None


def test_read_endpoints_return_seeded_rows(live: Live, http: requests.Session) -> None:
    account = http.get(f"{live.url}/api/v1/account", timeout=5).json()["account"]
    assert account["net_liquidation"] == 1043215.55  # the newest snapshot, not the hour-old one
    positions = http.get(f"{live.url}/api/v1/positions", timeout=5).json()["positions"]
    assert {p["symbol"] for p in positions} == {"AAPL", "KO", "T"}
    opps = http.get(f"{live.url}/api/v1/opportunities", timeout=5).json()
    assert opps["scan"]["id"] == NEW_SCAN  # the newest *completed* scan, not the running one
    ranked = [OPP_SPY, OPP_KO, OPP_AAPL, OPP_T_CC, OPP_T_CC2, OPP_AAPL_CC]
    assert [o["id"] for o in opps["opportunities"]] == ranked
    old = http.get(f"{live.url}/api/v1/opportunities?scan_id={OLD_SCAN}", timeout=5).json()
    assert [o["id"] for o in old["opportunities"]] == [OPP_OLD]
    assert http.get(f"{live.url}/api/v1/opportunities?scan_id=99", timeout=5).status_code == 404
    orders = http.get(f"{live.url}/api/v1/orders", timeout=5).json()["orders"]
    assert orders[0]["intent_key"] == "TW-CSP-KO-20261120-60P-O3" and orders[0]["order_id"] == 57
    fills = http.get(f"{live.url}/api/v1/fills", timeout=5).json()["fills"]
    assert fills[0]["exec_id"] == "0000e0d5.6571b9a2.01.01" and fills[0]["commission"] == 1.31
    alerts = http.get(f"{live.url}/api/v1/alerts", timeout=5).json()
    assert {d["channel"]: d["status"] for d in alerts["alerts"][0]["deliveries"]} == {
        "email": "sent",
        "sms": "pending",
    }
    assert alerts["breakers"][0]["state"] == "open"
    assert http.get(f"{live.url}/api/v1/intents?limit=0", timeout=5).json()["field"] == "limit"
    assert http.get(f"{live.url}/api/v1/nope", timeout=5).json()["error"]


def test_approve_creates_intent_then_conflicts(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    resp = _approve(live, http, OPP_SPY, {"quantity": 2}, token)
    assert resp.status_code == 201, resp.text
    intent = resp.json()["intent"]
    assert intent["key"] == f"TW-CSP-SPY-20261218-600P-O{OPP_SPY}"
    assert resp.headers["Location"].endswith(f"/api/v1/intents/{intent['id']}")
    with live.engine.connect() as conn:
        row = conn.execute(select(s.intents).where(s.intents.c.key == intent["key"])).one()._mapping
    assert row["quantity"] == 2 and row["limit_floor"] == 6.45  # the bid: never sell below it
    assert (row["status"], row["source"], row["kind"], row["action"], row["sec_type"]) == (
        "approved",
        "dashboard",
        "sell_put",
        "SELL",
        "OPT",
    )
    assert (row["con_id"], row["strike"], row["right"], row["opportunity_id"]) == (
        700002,
        600.0,
        "P",
        OPP_SPY,
    )

    again = _approve(live, http, OPP_SPY, None, token)
    assert again.status_code == 409
    assert intent["key"] in again.json()["error"] and again.json()["intent_key"] == intent["key"]
    assert _intent_count(live) == 2  # the seeded filled intent + this one


def test_default_quantity_and_strike_with_decimals(live: Live, http: requests.Session) -> None:
    resp = _approve(live, http, OPP_KO, None, _token(live, http))
    assert resp.status_code == 201, resp.text
    intent = resp.json()["intent"]
    assert intent["key"] == f"TW-CSP-KO-20261218-62.5P-O{OPP_KO}"
    assert intent["quantity"] == live.config.strategy.orders.contracts


def test_approve_without_csrf_token_is_refused(live: Live, http: requests.Session) -> None:
    before = _intent_count(live)
    resp = _approve(live, http, OPP_SPY, {"quantity": 1})
    assert resp.status_code == 400
    assert "CSRF" in resp.json()["error"] and resp.json()["field"] == "csrf_token"
    bad = _approve(live, http, OPP_SPY, {"quantity": 1}, "not-a-token")
    assert bad.status_code == 400 and "CSRF" in bad.json()["error"]
    assert _intent_count(live) == before


def test_approve_errors(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    before = _intent_count(live)
    unknown = _approve(live, http, 9999, None, token)
    assert unknown.status_code == 404 and unknown.json()["field"] == "opportunity_id"
    for bad in (0, 101, "2", 1.5, True, None):
        resp = _approve(live, http, OPP_SPY, {"quantity": bad} if bad is not None else [1], token)
        assert resp.status_code == 400, bad
        assert resp.json()["field"] == ("quantity" if bad is not None else None)
    extra = _approve(live, http, OPP_SPY, {"quantity": 1, "limit": 9}, token)
    assert extra.status_code == 400 and extra.json()["field"] == "limit"
    stale = _approve(live, http, OPP_OLD, None, token)
    assert stale.status_code == 409 and "newest scan" in stale.json()["error"]
    assert _intent_count(live) == before


def test_form_string_quantity_is_accepted_via_json_only_as_int(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    resp = http.post(
        f"{live.url}/api/v1/opportunities/{OPP_AAPL}/approve",
        data=b"{not json",
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
        timeout=5,
    )
    assert resp.status_code == 400 and "JSON object" in resp.json()["error"]


def test_opportunities_explain_the_symbols_passed_over(live: Live, http: requests.Session) -> None:
    """``symbols`` (API) and the Per symbol table (page): the scan_symbols rows, passed-over first."""
    with live.engine.begin() as conn:
        conn.execute(
            s.scan_symbols.insert(),
            [
                {
                    "scan_id": NEW_SCAN,
                    "symbol": "NVDA",
                    "right": "P",
                    "expiries": 4,
                    "contracts_checked": 30,
                    "candidates": 0,
                    "removed": "earnings 30, iv_rank 30",
                    "note": "no candidate: earnings 30, iv_rank 30",
                    "iv_rank": 0.12,
                    "iv_hv_ratio": 1.2,
                    "next_earnings": "2026-12-20",
                },
                {
                    "scan_id": NEW_SCAN,
                    "symbol": "SPY",
                    "right": "P",
                    "expiries": 4,
                    "contracts_checked": 40,
                    "candidates": 3,
                    "removed": "delta 20",
                    "note": "",
                    "iv_rank": 0.45,
                    "iv_hv_ratio": 1.1,
                    "next_earnings": None,
                },
            ],
        )
    body = http.get(f"{live.url}/api/v1/opportunities", timeout=5).json()
    assert [(r["symbol"], r["candidates"]) for r in body["symbols"]] == [("NVDA", 0), ("SPY", 3)]
    assert body["symbols"][0]["removed"] == "earnings 30, iv_rank 30"
    assert body["symbols"][0]["next_earnings"] == "2026-12-20"
    page = http.get(f"{live.url}/opportunities", timeout=5).text
    assert 'id="scan-symbols"' in page and "no candidate: earnings 30, iv_rank 30" in page


def test_a_contract_already_held_is_not_approved_again(live: Live, http: requests.Session) -> None:
    """The page shows no Approve on a contract in the positions; a stale page or a script posting the
    approval anyway gets a 409 naming it, and nothing is written."""
    with live.engine.begin() as conn:
        conn.execute(
            s.positions.insert().values(
                con_id=700003, account="DU1234567", symbol="KO", sec_type="OPT",
                local_symbol="KO    261218P00062500", expiry="20261218", strike=62.5, right="P",
                multiplier=100, quantity=-1, avg_cost=72.0, updated_at="2026-12-03T15:00:00+00:00",
            )
        )  # fmt: skip
    before = _intent_count(live)
    resp = _approve(live, http, OPP_KO, {"quantity": 1}, _token(live, http))
    assert resp.status_code == 409 and resp.json()["field"] == "opportunity_id"
    assert "KO    261218P00062500 is already held (-1 contracts)" in resp.json()["error"]
    assert _intent_count(live) == before
