"""The Wheel page and ``GET /api/v1/wheel`` over HTTP, plus the positions' option columns, against the
seeded ledger (``dashboard_seed.seed_cycles``) in a real migrated SQLite file."""

from __future__ import annotations

import re
from datetime import date

import pytest
import requests
from dashboard_seed import AAPL_CALL, AAPL_STK, CYCLE_AAPL_1, CYCLE_AAPL_2, KO_PUT, T_STK, Live
from sqlalchemy import delete, insert, update

from dashboard.wheel import CYCLE_KEYS, LEG_KEYS
from shared import schema as s
from shared.db import utcnow_iso
from shared.optionmath import calendar_dte

#: The date of the seeded ledger's TWS clock (dashboard_seed.AS_OF): the base of every DTE shown.
TODAY = date(2026, 12, 10)


def _wheel(live: Live, http: requests.Session) -> dict:
    resp = http.get(f"{live.url}/api/v1/wheel", timeout=5)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    return dict(resp.json())


def test_wheel_api_cards(live: Live, http: requests.Session) -> None:
    body = _wheel(live, http)
    assert body["today"] == TODAY.isoformat()
    cards = {c["symbol"]: c for c in body["symbols"]}
    assert [c["symbol"] for c in body["symbols"]] == ["AAPL", "KO", "T"]

    aapl = cards["AAPL"]
    cur = aapl["current"]
    # every column of the table, under its unit-bearing name where the column's name has none
    for column in s.cycles.columns:
        assert CYCLE_KEYS.get(column.name, column.name) in cur, column.name
    assert (cur["id"], cur["seq"], cur["stage"], cur["is_open"]) == (CYCLE_AAPL_2, 2, "shares+call", True)
    assert cur["premiums_total"] == 395.0 and cur["adjusted_cost_basis_per_share"] == 191.071
    assert cur["shares"] == 100.0 and cur["realized_pnl_total"] == 207.90 and cur["days_open"] == 63
    assert cur["annualized_return_fraction"] == pytest.approx(207.90 / 19500 * 365 / 63)
    assert cur["preexisting"] is False and cur["preexisting_note"] is None
    assert [leg["kind"] for leg in cur["legs"]] == [
        "sell_put",
        "put_assigned",
        "shares_assigned",
        "sell_call",
    ]
    sell_put, _, shares, _ = cur["legs"]
    for column in s.cycle_legs.columns:
        if column.name != "cycle_id":
            assert LEG_KEYS.get(column.name, column.name) in sell_put, column.name
    assert sell_put["premium_total"] == pytest.approx(210.0) and sell_put["premium_per_contract"] == 210.0
    assert sell_put["price_per_share"] == 2.10 and sell_put["commission_total"] == 1.05
    assert shares["is_option"] is False and shares["premium_per_contract"] is None

    leg = cur["open_leg"]
    assert (leg["source"], leg["con_id"], leg["right"], leg["strike"]) == ("ledger", AAPL_CALL, "C", 210.0)
    assert leg["expiry"] == "20261218" and leg["dte"] == calendar_dte("20261218", TODAY)
    assert leg["quantity"] == 1 and leg["premium_per_share"] == 1.85
    assert leg["premium_per_contract"] == pytest.approx(185.0)
    assert leg["market_value_per_contract"] == pytest.approx(74.0)
    assert leg["underlying_price_per_share"] == 203.25
    assert leg["otm_fraction"] == pytest.approx((210 - 203.25) / 203.25)  # a call: (strike − spot) ÷ spot
    assert leg["max_profit_captured_fraction"] == pytest.approx(0.6)  # (185 − 74) ÷ 185

    [old] = aapl["history"]
    assert (old["id"], old["stage"], old["is_open"], old["open_leg"]) == (CYCLE_AAPL_1, "closed", False, None)
    assert old["realized_pnl_total"] == 767.90 and old["closed_at"].startswith("2026-09-18")
    assert [leg["kind"] for leg in old["legs"]][-2:] == ["call_assigned", "shares_called_away"]

    ko = cards["KO"]["current"]["open_leg"]
    assert (
        ko["con_id"] == KO_PUT and ko["quantity"] == 2 and ko["premium_per_contract"] == pytest.approx(71.5)
    )
    assert ko["otm_fraction"] == pytest.approx((66 - 60) / 66)  # a put: (spot − strike) ÷ spot
    assert ko["max_profit_captured_fraction"] == pytest.approx((71.5 - 95) / 71.5)  # worth more than sold for
    assert cards["KO"]["history"] == []

    t = cards["T"]["current"]
    assert t["stage"] == "shares" and t["open_leg"] is None and t["preexisting"] is True
    assert t["preexisting_note"] == "shares held before thetawheel, at TWS average cost"
    assert t["legs"][0]["kind"] == "shares_opening" and t["legs"][0]["con_id"] == T_STK


def test_wheel_open_leg_falls_back_to_positions(live: Live, http: requests.Session) -> None:
    """A short call the ledger has not booked (and no option greeks): premium from IB's average cost,
    the underlying from the stock position."""
    now = utcnow_iso()
    with live.engine.begin() as conn:
        conn.execute(update(s.cycles).where(s.cycles.c.symbol == "T").values(stage="shares+call"))
        conn.execute(
            insert(s.positions).values(
                con_id=700399, account="DU1234567", symbol="T", sec_type="OPT",
                local_symbol="T     261218C00026000", expiry="20261218", strike=26.0, right="C",
                multiplier=100, quantity=-3, avg_cost=43.7, market_price=0.30, market_value=-90.0,
                updated_at=now,
            )
        )  # fmt: skip
    leg = {c["symbol"]: c for c in _wheel(live, http)["symbols"]}["T"]["current"]["open_leg"]
    assert (leg["source"], leg["con_id"], leg["quantity"]) == ("position", 700399, 3)
    assert leg["premium_per_contract"] == 43.7 and leg["premium_per_share"] == pytest.approx(0.437)
    assert leg["premium_total"] == pytest.approx(131.1)
    assert leg["underlying_price_per_share"] == 25.40  # the T stock position's market price
    assert leg["otm_fraction"] == pytest.approx((26 - 25.40) / 25.40)
    assert leg["max_profit_captured_fraction"] == pytest.approx((43.7 - 30) / 43.7)


def test_wheel_page(live: Live, http: requests.Session) -> None:
    resp = http.get(f"{live.url}/wheel", timeout=5)
    assert resp.status_code == 200
    html = resp.text
    assert '<a href="/wheel" class="active" aria-current="page">Wheel</a>' in html
    cards = re.findall(
        r'<section class="card" id="wheel-(\w+)" data-symbol="\w+" data-stage="([\w+]+)"', html
    )
    assert cards == [("AAPL", "shares+call"), ("KO", "put"), ("T", "shares")]
    aapl = html[html.index('id="wheel-AAPL"') : html.index('id="wheel-KO"')]
    for text in (
        "Total premium ($)", "$395.00", "Adj. cost basis ($/share)", "$191.07", "$207.90", "63",
        "Annualized return", "Premium ($/contract)", "$185.00", "$74.00", "60.0 %", "3.3 %", "$203.25",
        "AAPL  261218C00210000", "2026-12-18", "Legs of cycle 2 (4)",
        "Cycle 1 · closed", "$767.90", "shares called away", "AAPL  260918C00195000",
    ):  # fmt: skip
        assert text in aapl, text
    dte = calendar_dte("20261218", TODAY)
    assert f'<td class="num">{dte}</td>' in aapl
    assert '<th class="num">Premium ($/contract)</th><th class="num">Premium ($ total)</th>' in aapl
    ko = html[html.index('id="wheel-KO"') : html.index('id="wheel-T"')]
    assert "9.1 %" in ko and "$71.50" in ko and '<td class="num neg">-32.9 %</td>' in ko
    t = html[html.index('id="wheel-T"') :]
    assert "preexisting" in t and "shares held before thetawheel, at TWS average cost" in t
    assert "the shares wait for a covered call" in t


def test_wheel_without_cycles(live: Live, http: requests.Session) -> None:
    with live.engine.begin() as conn:
        conn.execute(delete(s.cycle_legs))
        conn.execute(delete(s.cycles))
    assert _wheel(live, http)["symbols"] == []
    assert "No wheel cycles yet" in http.get(f"{live.url}/wheel", timeout=5).text


def test_positions_api_option_columns(live: Live, http: requests.Session) -> None:
    rows = {p["con_id"]: p for p in http.get(f"{live.url}/api/v1/positions", timeout=5).json()["positions"]}
    today = TODAY
    ko = rows[KO_PUT]
    assert (ko["strike"], ko["expiry"], ko["dte"]) == (60.0, "20261120", calendar_dte("20261120", today))
    assert ko["otm_fraction"] == pytest.approx((66 - 60) / 66)
    assert ko["premium_per_contract"] == pytest.approx(71.5) and ko["premium_source"] == "ledger"
    assert ko["avg_cost_per_contract"] == 71.3 and ko["avg_cost_per_share"] is None
    assert ko["market_value_per_contract"] == pytest.approx(95.0)
    assert ko["max_profit_captured_fraction"] == pytest.approx((71.5 - 95) / 71.5)
    call = rows[AAPL_CALL]
    assert call["dte"] == calendar_dte("20261218", today) and call["underlying_price_per_share"] == 203.25
    assert call["otm_fraction"] == pytest.approx((210 - 203.25) / 203.25)
    stock = rows[AAPL_STK]
    assert stock["avg_cost_per_share"] == 195.5 and stock["avg_cost_per_contract"] is None
    assert stock["dte"] is None and stock["otm_fraction"] is None and stock["premium_per_contract"] is None

    # no greeks yet: the underlying is the stock position's market price
    with live.engine.begin() as conn:
        conn.execute(
            update(s.positions).where(s.positions.c.con_id == AAPL_CALL).values(underlying_price=None)
        )
    rows = {p["con_id"]: p for p in http.get(f"{live.url}/api/v1/positions", timeout=5).json()["positions"]}
    assert rows[AAPL_CALL]["underlying_price_per_share"] == 203.25  # AAPL stock's market price
    assert rows[AAPL_CALL]["underlying_price"] is None  # the stored column is left as the monitor wrote it


def test_overview_positions_say_their_units(live: Live, http: requests.Session) -> None:
    html = http.get(f"{live.url}/", timeout=5).text
    stock = html[html.index('id="positions-stock"') : html.index('id="positions-options"')]
    options = html[html.index('id="positions-options"') :]
    assert "Avg cost ($/share)" in stock and "Market price ($/share)" in stock and "$/contract" not in stock
    for header in (
        "Strike ($/share)", "Expiry", "DTE (days)", "Qty (contracts)", "Underlying ($/share)", "OTM",
        "Avg cost ($/contract)", "Premium ($/contract)", "Market price ($/contract)",
        "Market value ($ total)", "Break-even ($/share)",
    ):  # fmt: skip
        assert f">{header}</th>" in options, header
    ko = re.search(rf'<tr data-con-id="{KO_PUT}">(.*?)</tr>', options, re.S)
    assert ko, "no KO put row"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", ko.group(1), re.S)
    dte = calendar_dte("20261120", TODAY)
    assert cells[:11] == [
        "<strong>KO</strong>", "KO    261120P00060000", "P", "60", "2026-11-20", str(dte), "-2", "$66.00",
        "9.1 %", "$71.30", "$71.50",
    ]  # fmt: skip
    # the market price in the unit of the average cost beside it (0.95 $/share × 100); the put's break-even
    # at expiry is its strike less the premium per share (60 − 0.715)
    assert cells[11] == "$95.00" and cells[15] == "59.285"
    assert "Market price ($/share)" not in options
