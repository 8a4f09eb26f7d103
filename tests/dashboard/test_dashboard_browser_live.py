"""Real headless Chromium on the real dashboard (waitress, SQLite): pages update in place without a reload, a
failed update says so and keeps the page, an error page never refreshes, a working order is cancelled from
the Orders page, and every page fits a 390 px phone (marker ``browser``). Screenshots go to the test's tmp
folder."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium_cdp import Chromium
from dashboard_seed import Live
from sqlalchemy import insert, select, text
from waiting import wait_for

from shared import schema as s
from shared.db import utcnow_iso

pytestmark = pytest.mark.browser

PAGES = ("/", "/wheel", "/opportunities", "/orders", "/alerts", "/system")
WORKING_KEY = "TW-CSP-SPY-20261218-600P-O21"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    with Chromium(tmp_path / "chromium-profile") as chromium:
        yield chromium


def screenshot(browser: Chromium, path: Path) -> None:
    data = browser.page("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
    path.write_bytes(base64.b64decode(data))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def js(value: str) -> str:
    return json.dumps(value)


def test_a_new_account_snapshot_shows_without_a_reload(
    fast_updates: None, live: Live, browser: Chromium, tmp_path: Path
) -> None:
    browser.navigate(f"{live.url}/")
    browser.evaluate("window.__noReload = 'still here'")
    has_charts = browser.evaluate("!!document.getElementById('charts')")
    browser.evaluate("document.getElementById('charts') && (document.getElementById('charts').__kept = 1)")
    clock = browser.evaluate("document.getElementById('clock').innerText")
    assert " UTC" in clock and " ET" in clock
    session = browser.evaluate("document.getElementById('market-session').textContent")
    labels = ("pre-market", "market open", "market open, early close", "after-hours", "market closed")
    assert session in labels
    assert "$9,876,543.21" not in browser.evaluate("document.getElementById('account-metrics').innerText")
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.account_snapshots).values(
                ts=utcnow_iso(), account="DU1234567", net_liquidation=9876543.21, total_cash=1.0,
                buying_power=1.0, excess_liquidity=1.0, available_funds=1.0, maint_margin=0.0,
                unrealized_pnl=0.0, realized_pnl=0.0,
            )
        )  # fmt: skip
    wait_for(
        "the new net liquidation on the page",
        lambda: "$9,876,543.21" in browser.evaluate("document.getElementById('account-metrics').innerText"),
        timeout=15,
    )
    assert browser.evaluate("window.__noReload") == "still here"  # the same document: no reload
    assert int(browser.evaluate("document.body.dataset.liveUpdates")) >= 1
    if has_charts:  # the charts section (data-static) is kept as it is, not redrawn from scratch
        assert browser.evaluate("document.getElementById('charts').__kept") == 1
    note = browser.evaluate("document.getElementById('refresh-note').textContent")
    assert "next update in" in note or "updating" in note
    screenshot(browser, tmp_path / "live-update.png")


def test_a_failed_update_keeps_the_page_and_says_so(
    fast_updates: None, live: Live, browser: Chromium, tmp_path: Path
) -> None:
    browser.navigate(f"{live.url}/orders")
    browser.evaluate("window.__noReload = 1")
    with live.engine.begin() as conn:  # the page now fails on the server (500)
        conn.execute(text("ALTER TABLE fills RENAME TO fills_away"))
    try:
        wait_for(
            "the failure note",
            lambda: (
                "update failed" in browser.evaluate("document.getElementById('refresh-note').textContent")
            ),
            timeout=15,
        )
        note = browser.evaluate("document.getElementById('refresh-note').textContent")
        assert "HTTP 500" in note and "retrying" in note
        assert browser.evaluate("document.getElementById('orders') !== null")  # the page is still there
        assert browser.evaluate("window.__noReload") == 1
        screenshot(browser, tmp_path / "update-failed.png")
    finally:
        with live.engine.begin() as conn:
            conn.execute(text("ALTER TABLE fills_away RENAME TO fills"))
    wait_for(
        "updates again",
        lambda: "next update in" in browser.evaluate("document.getElementById('refresh-note').textContent"),
        timeout=15,
    )


def test_an_error_page_never_refreshes(fast_updates: None, live: Live, browser: Chromium) -> None:
    browser.navigate(f"{live.url}/system")
    browser.events.clear()
    # a form without its CSRF token, as from a stale tab: the server refuses it with an error page
    browser.evaluate(
        "(() => { const f = document.createElement('form'); f.method = 'post'; f.action = '/system/halt';"
        " document.body.appendChild(f); f.submit(); })()"
    )
    browser.wait_event("Page.loadEventFired")
    assert "Request refused" in browser.evaluate("document.title")
    html = browser.evaluate("document.documentElement.outerHTML")
    assert 'http-equiv="refresh"' not in html  # no meta refresh, not even in <noscript>
    assert browser.evaluate("document.body.dataset.refreshSeconds") == "0"
    assert browser.evaluate("document.getElementById('refresh-note').textContent") == ""
    with live.engine.connect() as conn:
        assert conn.execute(select(s.commands)).first() is None


def _working_order(live: Live) -> int:
    now = utcnow_iso()
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.intents).values(
                key=WORKING_KEY, source="dashboard", kind="sell_put", action="SELL", sec_type="OPT",
                symbol="SPY", con_id=700002, local_symbol="SPY   261218P00600000", expiry="20261218",
                strike=600.0, right="P", quantity=1, limit_floor=6.40, status="working",
                status_reason="", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        return int(
            conn.execute(
                insert(s.orders)
                .values(
                    intent_key=WORKING_KEY, order_id=91, client_id=12000, account="DU1234567", action="SELL",
                    order_type="LMT", quantity=1, limit_price=6.50, con_id=700002, symbol="SPY",
                    local_symbol="SPY   261218P00600000", status="Submitted", filled=0, remaining=1,
                    created_at=now, updated_at=now,
                )
                .returning(s.orders.c.id)
            ).scalar_one()
        )  # fmt: skip


def test_cancel_a_working_order_from_the_page(live: Live, browser: Chromium, tmp_path: Path) -> None:
    order_id = _working_order(live)
    browser.navigate(f"{live.url}/orders")
    row = f"#orders tr[data-order-id='{order_id}']"
    cells = browser.evaluate(
        f"[...document.querySelectorAll({js(row + ' td')})].map(c => c.textContent.trim())"
    )
    assert cells[4:10] == ["600\xa0P", "2026-12-18", cells[6], "1", "6.50", "$650.00"]  # premium per contract
    assert cells[13] == "593.50"  # break-even: strike − the limit per share
    # the filled order of the seed offers no Cancel
    assert browser.evaluate("document.querySelectorAll('#orders form.cancel-order').length") == 1
    button = f"{row} form.cancel-order button"
    browser.evaluate(
        f"document.querySelector({js(button)}).scrollIntoView({{block: 'center', inline: 'center'}})"
    )
    browser.events.clear()
    browser.click(button)
    browser.wait_event("Page.loadEventFired")
    flash = browser.evaluate("document.querySelector('.flash-success').innerText")
    assert f"Cancel of order {WORKING_KEY} requested" in flash
    assert browser.evaluate(f"document.querySelector({js(row)}).innerText").count("cancel requested") == 1
    screenshot(browser, tmp_path / "cancel-requested.png")
    with live.engine.connect() as conn:
        command = conn.execute(select(s.commands)).one()
    assert (command.kind, command.intent_key, command.status) == ("cancel_order", WORKING_KEY, "pending")
    assert command.actor == "dashboard 127.0.0.1"


@pytest.mark.parametrize("path", PAGES)
def test_every_page_fits_a_phone(path: str, live: Live, browser: Chromium, tmp_path: Path) -> None:
    _working_order(live)  # the widest Orders page: a Cancel button too
    browser.page(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
    )
    browser.navigate(f"{live.url}{path}")
    width = browser.evaluate("document.documentElement.scrollWidth")
    screenshot(browser, tmp_path / f"phone{path.replace('/', '-') or '-'}.png")
    assert width <= 390, f"{path} is {width} px wide at 390 px"
    # wide tables scroll inside their own box instead
    assert browser.evaluate("window.innerWidth") == 390
