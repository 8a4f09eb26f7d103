"""Real headless Chromium on the Opportunities table (marker ``browser``): sorting by a header click,
filtering by symbol and right, the underlying price, and contracts already held or pending marked with no
Approve — also when the mark arrives by a live update. Screenshots go to the test's tmp folder."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium_cdp import Chromium
from dashboard_seed import OPP_AAPL, OPP_KO, OPP_SPY, Live
from sqlalchemy import insert
from waiting import wait_for

from shared import schema as s
from shared.db import utcnow_iso

pytestmark = pytest.mark.browser

ROWS = "[...document.querySelectorAll('#opportunities tbody tr')]"
VISIBLE = f"{ROWS}.filter(r => !r.hidden)"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    with Chromium(tmp_path / "chromium-profile") as chromium:
        chromium.page(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        )
        yield chromium


def screenshot(browser: Chromium, path: Path) -> None:
    data = browser.page("Page.captureScreenshot", {"format": "png"})["data"]
    path.write_bytes(base64.b64decode(data))


def column(browser: Chromium, header: str) -> list[str]:
    """The visible rows' texts in the column headed ``header``."""
    index = browser.evaluate(
        "[...document.querySelectorAll('#opportunities thead th')].findIndex(th => th.textContent.trim() === "
        f"'{header}')"
    )
    assert index >= 0, header
    return browser.evaluate(f"{VISIBLE}.map(r => r.cells[{index}].textContent.trim())")


def type_filter(browser: Chromium, text: str) -> None:
    browser.evaluate(
        "(() => { const f = document.getElementById('opportunity-filter'); f.focus(); f.select(); })()"
    )
    browser.page("Input.insertText", {"text": text})


def test_sort_and_filter_the_opportunities(live: Live, browser: Chromium, tmp_path: Path) -> None:
    browser.navigate(f"{live.url}/opportunities")
    assert column(browser, "Symbol") == ["SPY", "KO", "AAPL", "T", "T", "AAPL"]  # by rank
    assert column(browser, "Underlying ($/share)")[3] == "25.40"
    browser.click("#opportunities thead th:nth-child(3)")  # Symbol, ascending
    assert column(browser, "Symbol") == ["AAPL", "AAPL", "KO", "SPY", "T", "T"]
    browser.click("#opportunities thead th:nth-child(3)")  # again: descending
    assert column(browser, "Symbol") == ["T", "T", "SPY", "KO", "AAPL", "AAPL"]
    assert (
        browser.evaluate("document.querySelector('#opportunities thead th:nth-child(3)').ariaSort")
        == "descending"
    )
    strike = browser.evaluate(
        "[...document.querySelectorAll('#opportunities thead th')].findIndex(th => th.textContent.trim() === "
        "'Strike ($/share)') + 1"
    )
    browser.click(f"#opportunities thead th:nth-child({strike})")  # numbers sort as numbers
    strikes = [float(v.split("\xa0")[0]) for v in column(browser, "Strike ($/share)")]
    assert strikes == sorted(strikes)

    type_filter(browser, "aapl")
    assert column(browser, "Symbol")[0].startswith("AAPL") and len(column(browser, "Symbol")) == 2
    type_filter(browser, "call")
    assert column(browser, "Strategy") == ["CC", "CC", "CC"]
    type_filter(browser, "aapl put")
    assert column(browser, "Symbol") == ["AAPL"] and column(browser, "Strategy") == ["CSP"]
    assert "1 of 6 shown" in browser.evaluate("document.getElementById('filter-count').textContent")
    screenshot(browser, tmp_path / "opportunities-filtered.png")
    # the sort and filter outlive a reload (a form's redirect) in this tab
    browser.navigate(f"{live.url}/opportunities")
    assert browser.evaluate("document.getElementById('opportunity-filter').value") == "aapl put"
    assert column(browser, "Symbol") == ["AAPL"]


def test_held_and_pending_contracts_offer_no_approve(
    fast_updates: None, live: Live, browser: Chromium, tmp_path: Path
) -> None:
    now = utcnow_iso()
    with live.engine.begin() as conn:  # an intent for the AAPL put is working at TWS
        conn.execute(
            insert(s.intents).values(
                key="TW-CSP-AAPL-20261218-210P-O13", source="dashboard", opportunity_id=OPP_AAPL,
                kind="sell_put", action="SELL", sec_type="OPT", symbol="AAPL", con_id=700004,
                local_symbol="AAPL  261218P00210000", quantity=1, limit_floor=2.98, status="working",
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    browser.navigate(f"{live.url}/opportunities")
    browser.evaluate("window.__noReload = 1")

    def row(opportunity: int) -> str:
        return f"document.querySelector('#opportunities tr[data-opportunity-id=\"{opportunity}\"]')"

    assert browser.evaluate(f"{row(OPP_AAPL)}.querySelector('.mark').textContent") == "pending"
    assert browser.evaluate(f"{row(OPP_AAPL)}.querySelector('form.approve')") is None
    assert browser.evaluate(f"{row(OPP_KO)}.querySelector('form.approve') !== null")
    # the KO put fills: the monitor records the position; the page marks it held, with no Approve, live
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.positions).values(
                con_id=700003, account="DU1234567", symbol="KO", sec_type="OPT",
                local_symbol="KO    261218P00062500", expiry="20261218", strike=62.5, right="P",
                multiplier=100, quantity=-1, avg_cost=72.0,
                market_price=0.70, market_value=-70.0, unrealized_pnl=2.0, realized_pnl=0.0, updated_at=now,
            )
        )  # fmt: skip
    wait_for(
        "the KO put marked held",
        lambda: browser.evaluate(f"{row(OPP_KO)}.querySelector('.mark')?.textContent") == "held",
        timeout=15,
    )
    assert browser.evaluate(f"{row(OPP_KO)}.querySelector('form.approve')") is None
    assert "already held" in browser.evaluate(f"{row(OPP_KO)}.innerText")
    assert browser.evaluate(f"{row(OPP_SPY)}.querySelector('form.approve') !== null")
    assert browser.evaluate("window.__noReload") == 1
    screenshot(browser, tmp_path / "opportunities-marks.png")
