"""A real headless Chromium clicks Halt on the System page and sees the halt banner (marker ``browser``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chromium_cdp import Chromium
from dashboard_seed import Live
from sqlalchemy import select

from shared import schema as s

pytestmark = pytest.mark.browser


def test_click_halt_shows_the_banner(live: Live, tmp_path: Path) -> None:
    with Chromium(tmp_path / "chromium-profile") as browser:
        browser.navigate(f"{live.url}/system")
        assert browser.evaluate("document.getElementById('halt-state').textContent") == "trading"
        assert browser.evaluate("document.getElementById('halt-banner')") is None
        browser.evaluate(
            "document.querySelector('#halt-form input[name=reason]').value = 'clicked in Chromium'"
        )
        browser.events.clear()
        browser.click("#halt-button")  # the form posts (CSRF token, session cookie) and redirects back here
        browser.wait_event("Page.loadEventFired")
        banner = browser.evaluate("document.getElementById('halt-banner').innerText")
        assert banner.startswith("Trading halted by dashboard 127.0.0.1 at ")
        assert "clicked in Chromium" in banner
        assert browser.evaluate("document.getElementById('halt-state').textContent") == "HALTED"
        assert browser.evaluate("location.pathname") == "/system"
        history = browser.evaluate("document.querySelector('#halt-history tbody tr').dataset.kind")
        assert history == "halt"
        # the banner follows the user to every page
        browser.navigate(f"{live.url}/opportunities")
        assert "Trading halted" in browser.evaluate("document.getElementById('halt-banner').innerText")
    with live.engine.connect() as conn:
        rows = conn.execute(select(s.commands.c.kind, s.commands.c.actor, s.commands.c.reason)).all()
    assert [tuple(r) for r in rows] == [("halt", "dashboard 127.0.0.1", "clicked in Chromium")]
