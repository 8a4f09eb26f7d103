"""A real headless Chromium opens the Overview and sees the charts drawn with data (marker ``browser``):
Chart.js from the vendored copy, every chart with values, the range buttons, a redraw through
``window.thetawheelCharts.refresh()`` that shows a new snapshot without a reload, and the charts fitting a
390 px wide phone. Screenshots are saved in the test's temp folder."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from chromium_cdp import Chromium
from dashboard_seed import CYCLE_KO, Live
from sqlalchemy import insert
from waiting import wait_for

from shared import schema as s
from shared.db import utcnow

pytestmark = pytest.mark.browser

CHARTS = [
    "net-liquidation", "daily-pnl", "premium-month", "premium-symbol", "collateral-now", "collateral-history"
]  # fmt: skip


def _snapshot(ago: timedelta, nlv: float) -> dict[str, Any]:
    return {"ts": (utcnow() - ago).isoformat(), "account": "DU1234567", "net_liquidation": nlv,
            "total_cash": nlv, "buying_power": nlv, "excess_liquidity": nlv / 2, "available_funds": nlv / 2,
            "maint_margin": nlv / 10, "unrealized_pnl": 0.0, "realized_pnl": 0.0}  # fmt: skip


def _seed_recent(live: Live) -> None:
    """Ten days of snapshots (every 6 hours) and a KO put sold two days ago, relative to the test's clock."""
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.account_snapshots),
            [_snapshot(timedelta(hours=h), 1_000_000.0 + 500.0 * (40 - h // 6)) for h in range(240, 0, -6)],
        )
        conn.execute(
            insert(s.cycle_legs),
            {"cycle_id": CYCLE_KO, "seq": 9, "kind": "sell_put", "exec_id": "charts-browser.1",
             "time": (utcnow() - timedelta(days=2)).isoformat(), "con_id": 700099,
             "local_symbol": "KO    261120P00060000", "expiry": "20261120", "strike": 60.0, "right": "P",
             "quantity": 1, "price": 0.50, "premium": 50.0, "commission": 0.65},
        )  # fmt: skip


def _charts(browser: Chromium) -> dict[str, Any]:
    """Per chart: the canvas's drawn size, Chart.js's values of its first series, and its x labels."""
    expression = """(() => { const out = {};
      for (const name of NAMES) {
        const canvas = document.getElementById('chart-' + name);
        const chart = window.Chart && window.Chart.getChart(canvas);
        out[name] = {width: canvas.clientWidth, height: canvas.clientHeight, pixels: canvas.width,
                     values: chart ? chart.data.datasets[0].data : null,
                     labels: chart ? chart.data.labels : null,
                     points: canvas.closest('.chart-card').dataset.points};
      }
      return out; })()""".replace("NAMES", json.dumps(CHARTS))
    result: dict[str, Any] = browser.evaluate(expression)
    return result


def _draws(browser: Chromium) -> int:
    return int(browser.evaluate("document.getElementById('charts').dataset.draws || '0'"))


def _screenshot(browser: Chromium, path: Path) -> None:
    """The charts section as a PNG at ``path``."""
    box = browser.evaluate(
        "(() => { const r = document.getElementById('charts').getBoundingClientRect();"
        " return {x: r.x + scrollX, y: r.y + scrollY, width: r.width, height: r.height, scale: 1}; })()"
    )
    params = {"format": "png", "captureBeyondViewport": True, "clip": box}
    shot = browser.page("Page.captureScreenshot", params)
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_overview_charts_drawn_with_data(live: Live, tmp_path: Path) -> None:
    _seed_recent(live)
    with Chromium(tmp_path / "chromium-profile") as browser:
        browser.page("Emulation.setDeviceMetricsOverride",
                     {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        browser.navigate(f"{live.url}/")
        wait_for("the charts drawn", lambda: _draws(browser) >= 1, timeout=20)
        assert browser.evaluate("document.getElementById('charts').dataset.state") == "drawn"
        assert browser.evaluate("typeof window.Chart.version") == "string"  # the vendored library, no CDN
        drawn = _charts(browser)
        for name, chart in drawn.items():
            assert chart["width"] > 200 and chart["height"] > 100 and chart["pixels"] > 0, (name, chart)
            assert chart["values"], (name, chart)
        # 3 months by day: the last point is the newest snapshot (the common seed's, 20 s ago)
        assert drawn["net-liquidation"]["values"][-1] == 1_043_215.55
        # premium by symbol: what the endpoint says for the same range (KO's put of two days ago included)
        api = requests.get(f"{live.url}/api/v1/charts/premium", timeout=10).json()["symbols"]
        assert drawn["premium-symbol"]["labels"] == [row["symbol"] for row in api]
        assert drawn["premium-symbol"]["values"] == [row["net_premium_usd"] for row in api]
        assert "KO" in drawn["premium-symbol"]["labels"]
        assert drawn["collateral-now"]["values"] == [12_000.0]  # KO's 60 put × 100 × 2 held
        status = browser.evaluate("document.getElementById('charts-status').textContent")
        assert "(90 days)" in status
        _screenshot(browser, tmp_path / "overview-charts.png")

        # 1W: hourly points, labelled with the time of day in New York
        before = _draws(browser)
        week_button = '#charts button[data-range-days="7"]'
        browser.evaluate(f"document.querySelector('{week_button}').scrollIntoView({{block: 'center'}})")
        browser.click(week_button)
        wait_for("the 1W charts", lambda: _draws(browser) > before, timeout=20)
        week = _charts(browser)["net-liquidation"]
        assert len(week["values"]) >= 24  # hourly points, labelled [day, time of day]
        assert all(len(label) == 2 and ":" in label[1] for label in week["labels"]), week["labels"]
        assert "(7 days)" in browser.evaluate("document.getElementById('charts-status').textContent")

        # the live update redraws in place: a new snapshot shows up without a page reload
        browser.evaluate("window.__sameDocument = true")
        with live.engine.begin() as conn:
            conn.execute(insert(s.account_snapshots), _snapshot(timedelta(0), 1_050_000.0))
        browser.evaluate("window.thetawheelCharts.refresh()")
        wait_for(
            "the new net liquidation drawn",
            lambda: _charts(browser)["net-liquidation"]["values"][-1] == 1_050_000.0,
            timeout=20,
        )
        assert browser.evaluate("window.__sameDocument") is True
        # the page's live update (app.js) keeps a data-static section as it is and calls refresh()
        assert browser.evaluate("document.getElementById('charts').hasAttribute('data-static')") is True

        # a phone: the charts shrink to the screen
        browser.page("Emulation.setDeviceMetricsOverride",
                     {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})  # fmt: skip
        wait_for(
            "the charts resized to 390 px",
            lambda: all(0 < c["width"] <= 370 for c in _charts(browser).values()),
            timeout=20,
        )
        overflow = browser.evaluate(
            "(() => { const s = document.getElementById('charts'); return s.scrollWidth - s.clientWidth; })()"
        )
        assert overflow <= 0
        _screenshot(browser, tmp_path / "overview-charts-390.png")
