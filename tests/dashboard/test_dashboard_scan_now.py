"""Scan now: the Opportunities page's button and ``POST /api/v1/scan`` write a ``scan_now`` command
(pending, who and when) that the scanner claims; a second request while one waits is a 409; CSRF required.
The page shows the running scan's progress and labels a preview scan."""

from __future__ import annotations

import re
from typing import Any

import requests
from dashboard_seed import NEW_SCAN, RUNNING_SCAN, Live
from sqlalchemy import Engine, select, update

from shared import schema as s

ACTOR = "dashboard 127.0.0.1"


def _token(live: Live, http: requests.Session) -> str:
    return str(http.get(f"{live.url}/api/v1/csrf", timeout=5).json()["csrf_token"])


def _scan_commands(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        stmt = select(s.commands).where(s.commands.c.kind == "scan_now").order_by(s.commands.c.id)
        return [dict(r._mapping) for r in conn.execute(stmt)]


def test_api_scan_now_writes_one_pending_command(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    resp = http.post(f"{live.url}/api/v1/scan", headers={"X-CSRFToken": token}, timeout=5)
    assert resp.status_code == 201, resp.text
    (cmd,) = _scan_commands(live.engine)
    assert resp.json()["command"] == cmd
    assert (cmd["status"], cmd["actor"], cmd["done_at"]) == ("pending", ACTOR, None) and cmd["created_at"]
    again = http.post(f"{live.url}/api/v1/scan", headers={"X-CSRFToken": token}, timeout=5)
    assert again.status_code == 409 and "requested already" in again.json()["error"]
    with live.engine.begin() as conn:  # the scanner claims it, scans, marks it done
        conn.execute(update(s.commands).values(status="done"))
    assert http.post(f"{live.url}/api/v1/scan", headers={"X-CSRFToken": token}, timeout=5).status_code == 201
    assert len(_scan_commands(live.engine)) == 2


def test_scan_now_needs_csrf(live: Live, http: requests.Session) -> None:
    assert http.post(f"{live.url}/api/v1/scan", timeout=5).status_code == 400
    assert http.post(f"{live.url}/scan", data={}, timeout=5).status_code == 400
    assert _scan_commands(live.engine) == []


def test_scan_now_button_progress_and_preview(live: Live, http: requests.Session) -> None:
    with live.engine.begin() as conn:
        conn.execute(
            update(s.scans).where(s.scans.c.id == RUNNING_SCAN).values(progress="symbol 3 of 13: KO")
        )
        conn.execute(update(s.scans).where(s.scans.c.id == NEW_SCAN).values(preview=True))
    page = http.get(f"{live.url}/opportunities", timeout=5).text
    assert f"Scan {RUNNING_SCAN} running: symbol 3 of 13: KO" in page
    assert 'id="preview-badge"' in page and 'id="preview-note"' in page
    token = re.search(r'id="scan-now-form">\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    done = http.post(f"{live.url}/scan", data={"csrf_token": token.group(1)}, timeout=5)
    assert done.status_code == 200 and done.history[0].status_code == 303
    assert "Scan requested" in done.text
    twice = http.post(f"{live.url}/scan", data={"csrf_token": token.group(1)}, timeout=5)
    assert "flash-error" in twice.text and "requested already" in twice.text
    assert [c["status"] for c in _scan_commands(live.engine)] == ["pending"]
    api = http.get(f"{live.url}/api/v1/opportunities", timeout=5).json()
    assert api["scan"]["preview"] is True and api["running_scan"]["progress"] == "symbol 3 of 13: KO"
