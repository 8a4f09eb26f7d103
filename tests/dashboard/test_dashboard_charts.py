"""The chart endpoints (``/api/v1/charts/...``) over HTTP against the real app and a seeded SQLite file.

Besides the common seed (the wheel ledger of AAPL and KO), each test adds account snapshots in early
November 2026 with figures a user can check by hand, and a KO buy-to-close.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from dashboard_seed import CYCLE_KO, Live
from sqlalchemy import insert

from shared import schema as s
from shared.db import utcnow
from shared.marketcal import trading_day

#: (ts UTC, net liquidation, available funds, maintenance margin). November 2026 is EST (UTC−5).
SNAPSHOTS = [
    ("2026-11-02T20:00:00+00:00", 100_000.0, 80_000.0, 20_000.0),  # the close before 3 Nov
    ("2026-11-03T14:00:10+00:00", 100_100.0, 80_100.0, 20_000.0),
    ("2026-11-03T14:30:00+00:00", 100_200.0, 80_200.0, 20_000.0),  # last of the 14:00 UTC hour
    ("2026-11-03T15:10:00+00:00", 100_500.0, 80_500.0, 20_100.0),  # last of 3 Nov
    ("2026-11-04T15:00:00+00:00", 100_400.0, 80_000.0, 20_400.0),
    ("2026-11-05T03:00:00+00:00", 99_900.0, 79_000.0, 20_900.0),  # 22:00 New York: still 4 Nov
]


def _seed_charts(live: Live) -> None:
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.account_snapshots),
            [
                {"ts": ts, "account": "DU1234567", "net_liquidation": nlv, "total_cash": nlv,
                 "buying_power": nlv, "excess_liquidity": avail, "available_funds": avail,
                 "maint_margin": margin, "unrealized_pnl": 0.0, "realized_pnl": 0.0}
                for ts, nlv, avail, margin in SNAPSHOTS
            ],
        )  # fmt: skip
        # KO: bought back 2 of the 60 puts at 0.30 at 22:00 New York on 30 Nov (1 Dec UTC): a $60 debit in
        # November; then the put expired (no premium).
        legs = [
            ("buy_put", "2026-12-01T03:00:00+00:00", 2, 0.30, -60.0, 1.31),
            ("put_expired", "2026-12-01T21:00:00+00:00", 2, 0.0, 0.0, 0.0),
        ]
        conn.execute(
            insert(s.cycle_legs),
            [
                {"cycle_id": CYCLE_KO, "seq": 2 + n, "kind": kind, "exec_id": f"charts.{n}", "time": ts,
                 "con_id": 700099, "local_symbol": "KO    261120P00060000", "expiry": "20261120",
                 "strike": 60.0, "right": "P", "quantity": qty, "price": price, "premium": premium,
                 "commission": commission}
                for n, (kind, ts, qty, price, premium, commission) in enumerate(legs)
            ],
        )  # fmt: skip


def _get(live: Live, http: requests.Session, chart: str, **params: str) -> Any:
    resp = http.get(f"{live.url}/api/v1/charts/{chart}", params=params, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_net_liquidation_last_snapshot_per_hour_or_new_york_day(live: Live, http: requests.Session) -> None:
    _seed_charts(live)
    week = _get(live, http, "net-liquidation", **{"from": "2026-11-03", "to": "2026-11-06"})
    assert week["range"] == {"from_day": "2026-11-03", "to_day": "2026-11-06", "days": 4}
    assert week["bucket"] == "hour"
    assert [(p["ts"], p["net_liquidation_usd"]) for p in week["points"]] == [
        ("2026-11-03T14:30:00+00:00", 100_200.0),
        ("2026-11-03T15:10:00+00:00", 100_500.0),
        ("2026-11-04T15:00:00+00:00", 100_400.0),
        ("2026-11-05T03:00:00+00:00", 99_900.0),
    ]
    month = _get(live, http, "net-liquidation", **{"from": "2026-11-01", "to": "2026-11-30"})
    assert month["bucket"] == "day"
    assert [p["net_liquidation_usd"] for p in month["points"]] == [100_000.0, 100_500.0, 99_900.0]
    years = _get(live, http, "net-liquidation", **{"from": "2025-01-01", "to": "2026-11-30"})
    assert years["bucket"] == "week" and years["points"][-1]["net_liquidation_usd"] == 99_900.0


def test_daily_pnl_from_previous_close(live: Live, http: requests.Session) -> None:
    _seed_charts(live)
    body = _get(live, http, "daily-pnl", **{"from": "2026-11-03", "to": "2026-11-06"})
    assert [(d["trading_day"], d["pnl_usd"], d["start_basis"]) for d in body["days"]] == [
        ("2026-11-03", 500.0, "previous_close"),  # 100,500 − the 2 Nov close 100,000
        ("2026-11-04", -600.0, "previous_close"),  # 99,900 at 22:00 New York − 100,500
    ]
    assert body["total_pnl_usd"] == -100.0
    first = _get(live, http, "daily-pnl", **{"from": "2026-11-02", "to": "2026-11-02"})["days"]
    assert first == [
        {"trading_day": "2026-11-02", "start_net_liquidation_usd": 100_000.0,
         "end_net_liquidation_usd": 100_000.0, "pnl_usd": 0.0, "start_basis": "day_open"},
    ]  # fmt: skip


def test_premium_by_month_and_symbol_is_credits_less_debits(live: Live, http: requests.Session) -> None:
    _seed_charts(live)
    body = _get(live, http, "premium", **{"from": "2026-07-01", "to": "2026-12-31"})
    months = {m["month"]: m for m in body["months"]}
    assert list(months) == ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11", "2026-12"]
    # AAPL: put 1 × 1.50 × 100 (Jul), call 1 × 1.20 × 100 (Aug), put 1 × 2.10 × 100 (Oct), call 1 × 1.85 ×
    # 100 (Nov); KO: puts 2 × 0.715 × 100 sold (Nov), bought back 2 × 0.30 × 100 on 30 Nov New York time.
    net = {m: v["net_premium_usd"] for m, v in months.items()}
    assert net == {"2026-07": 150.0, "2026-08": 120.0, "2026-09": 0.0, "2026-10": 210.0,
                   "2026-11": 185.0 + 143.0 - 60.0, "2026-12": 0.0}  # fmt: skip
    assert months["2026-11"]["credits_usd"] == 328.0 and months["2026-11"]["debits_usd"] == 60.0
    assert months["2026-11"]["legs"] == 3
    assert months["2026-11"]["commissions_usd"] == 3.67  # 1.05 + 1.31 + 1.31
    symbols = {v["symbol"]: v["net_premium_usd"] for v in body["symbols"]}
    assert symbols == {"AAPL": 665.0, "KO": 83.0}
    assert [v["symbol"] for v in body["symbols"]] == ["AAPL", "KO"]
    assert body["total"]["net_premium_usd"] == 748.0 and body["total"]["credits_usd"] == 808.0


def test_default_range_is_the_last_90_new_york_days(live: Live, http: requests.Session) -> None:
    body = _get(live, http, "premium")
    today = trading_day(utcnow())
    assert body["range"]["to_day"] == today and body["range"]["days"] == 90
    assert body["months"][-1]["month"] == today[:7]


def test_collateral_now_and_history(live: Live, http: requests.Session) -> None:
    _seed_charts(live)
    now_iso = utcnow().isoformat()
    with live.engine.begin() as conn:  # the monitor's newest snapshot, and an approved SPY put not yet placed
        conn.execute(
            insert(s.account_snapshots),
            {"ts": now_iso, "account": "DU1234567", "net_liquidation": 1_000_000.0, "total_cash": 900_000.0,
             "buying_power": 2_000_000.0, "excess_liquidity": 600_000.0, "available_funds": 500_000.0,
             "maint_margin": 100_000.0, "unrealized_pnl": 0.0, "realized_pnl": 0.0},
        )  # fmt: skip
        conn.execute(
            insert(s.intents),
            {"key": "TW-CSP-SPY-20261218-600P-O2", "source": "dashboard", "opportunity_id": None,
             "kind": "sell_put", "action": "SELL", "sec_type": "OPT", "symbol": "SPY", "con_id": 700002,
             "local_symbol": "SPY   261218P00600000", "expiry": "20261218", "strike": 600.0, "right": "P",
             "quantity": 1, "limit_floor": 6.40, "status": "approved", "status_reason": "",
             "created_at": now_iso, "updated_at": now_iso},
        )  # fmt: skip
    body = _get(live, http, "collateral", **{"from": "2026-11-03", "to": "2026-11-04"})
    now = body["now"]
    assert now["account_ts"] == now_iso and now["net_liquidation_usd"] == 1_000_000.0
    assert now["csp_held_usd"] == 12_000.0  # KO: 60 strike × 100 × 2 contracts
    assert now["csp_pending_usd"] == 60_000.0  # SPY: 600 × 100 × 1
    assert now["csp_total_usd"] == 72_000.0
    assert now["available_funds_usd"] == 500_000.0 and now["free_usd"] == 440_000.0
    assert now["csp_limit_fraction"] == 0.6 and now["csp_limit_usd"] == pytest.approx(600_000.0)
    assert [(p["maint_margin_usd"], p["available_funds_usd"]) for p in body["history"]] == [
        (20_000.0, 80_200.0),
        (20_100.0, 80_500.0),
        (20_400.0, 80_000.0),
        (20_900.0, 79_000.0),
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"to": "12/01/2026"}, "to"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "١٢٣٤-01-01"}, "from"),
        ({"from": "1999-12-31"}, "from"),
        ({"from": "2026-11-05", "to": "2026-11-04"}, "from"),
        ({"from": "2020-01-01", "to": "2026-11-04"}, "from"),
    ],
)
def test_bad_range_is_refused_naming_the_field(
    live: Live, http: requests.Session, params: dict[str, str], field: str
) -> None:
    for chart in ("net-liquidation", "daily-pnl", "premium", "collateral"):
        resp = http.get(f"{live.url}/api/v1/charts/{chart}", params=params, timeout=10)
        assert resp.status_code == 400, (chart, resp.text)
        assert resp.json()["field"] == field, (chart, resp.json())
