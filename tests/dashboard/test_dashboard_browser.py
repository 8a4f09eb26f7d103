"""A real headless Chromium loads the Opportunities page served by waitress (marker ``browser``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from dashboard_seed import OPP_AAPL, OPP_AAPL_CC, OPP_KO, OPP_SPY, OPP_T_CC, OPP_T_CC2, Live

pytestmark = pytest.mark.browser


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run `make browser-deps` (or apt-get install chromium)")
    return path


def _run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_opportunities_dom_in_chromium(live: Live, tmp_path: Path) -> None:
    done = _run_chromium(tmp_path, "--dump-dom", f"{live.url}/opportunities")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    ranked = [OPP_SPY, OPP_KO, OPP_AAPL, OPP_T_CC, OPP_T_CC2, OPP_AAPL_CC]
    assert re.findall(r'data-opportunity-id="(\d+)"', dom) == [str(i) for i in ranked]
    assert dom.count(">Approve</button>") == 5  # AAPL's covered call: its shares are covered already
    assert 'name="csrf_token"' in dom
    # app.js ran: the live-update countdown is filled in next to the "updated" clock
    assert re.search(r'id="refresh-note"[^>]*>· next update in \d+ s<', dom), "live-update script did not run"


def test_overview_screenshot(live: Live, tmp_path: Path) -> None:
    shot = tmp_path / "overview.png"
    done = _run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,900", f"{live.url}/")
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_wheel_cards_in_chromium(live: Live, tmp_path: Path) -> None:
    done = _run_chromium(tmp_path, "--dump-dom", f"{live.url}/wheel")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    cards = re.findall(r'<section class="card" id="wheel-(\w+)" data-symbol="\w+" data-stage="([\w+]+)"', dom)
    assert cards == [("AAPL", "shares+call"), ("KO", "put"), ("T", "shares")]
    assert re.search(r'<a href="/wheel" class="active" aria-current="page">Wheel</a>', dom)
    assert "AAPL  261218C00210000" in dom and "Cycle 1 · closed" in dom
