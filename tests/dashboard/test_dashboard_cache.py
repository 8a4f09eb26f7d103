"""The JSON API's answer cache (:mod:`dashboard.bodycache`) as a user sees it, over HTTP against the real app
under waitress and a real SQLite file: a write by another process shows on the next request, and different
query strings get their own answers."""

from __future__ import annotations

import logging
import re
import sqlite3

import requests
from dashboard_seed import NEW_SCAN, OLD_SCAN, OPP_KO, OPP_OLD, Live
from served import serve
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from dashboard import create_app
from dashboard.__main__ import QueueWarnings
from shared.config import Config
from shared.settings import Settings
from shared.strategy import Strategy

TOKEN = "correct-horse-battery-staple-42"


def _get(live: Live, http: requests.Session, path: str) -> dict:
    resp = http.get(f"{live.url}{path}", timeout=5)
    assert resp.status_code == 200, (path, resp.status_code, resp.text)
    return dict(resp.json())


def _other_process_connection(live: Live) -> sqlite3.Connection:
    """A plain sqlite3 connection to the dashboard's file, as the monitor's would be (not the app's pool)."""
    path = make_url(str(live.engine.url)).database
    assert path
    return sqlite3.connect(path, timeout=5)


def test_a_new_account_snapshot_shows_on_the_next_request(live: Live, http: requests.Session) -> None:
    """The monitor writes a snapshot between two refreshes: the next answer has it, not the cached one."""
    first = _get(live, http, "/api/v1/account")["account"]
    assert first["net_liquidation"] == 1043215.55
    assert _get(live, http, "/api/v1/account")["account"] == first  # answered again (from the cache)
    for net_liquidation in (1050000.25, 1049000.75):  # twice: the cache refills after each write
        conn = _other_process_connection(live)
        with conn:
            conn.execute(
                "INSERT INTO account_snapshots (ts, account, net_liquidation, total_cash, buying_power,"
                " excess_liquidity, available_funds, maint_margin, unrealized_pnl, realized_pnl)"
                " VALUES (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), 'DU1234567', ?, 1, 1, 1, 1, 0, 0, 0)",
                (net_liquidation,),
            )
        conn.close()
        shown = _get(live, http, "/api/v1/account")["account"]
        assert shown["net_liquidation"] == net_liquidation
        assert shown["id"] > first["id"]


def test_positions_follow_a_write_by_another_process(live: Live, http: requests.Session) -> None:
    """A position the monitor deletes disappears from the next answer."""
    before = _get(live, http, "/api/v1/positions")["positions"]
    gone = before[0]["con_id"]
    conn = _other_process_connection(live)
    with conn:
        conn.execute("DELETE FROM positions WHERE con_id = ?", (gone,))
    conn.close()
    after = _get(live, http, "/api/v1/positions")["positions"]
    assert gone not in {row["con_id"] for row in after}
    assert len(after) == len(before) - 1


def test_each_query_string_gets_its_own_answer(live: Live, http: requests.Session) -> None:
    """``?scan_id=`` answers for that scan, the bare path for the newest, in any order and repeated; a refused
    query string is refused every time and never answered from another one's body."""
    for _ in range(2):
        newest = _get(live, http, "/api/v1/opportunities")
        old = _get(live, http, f"/api/v1/opportunities?scan_id={OLD_SCAN}")
        assert newest["scan"]["id"] == NEW_SCAN and old["scan"]["id"] == OLD_SCAN
        assert [o["id"] for o in old["opportunities"]] == [OPP_OLD]
        assert OPP_OLD not in {o["id"] for o in newest["opportunities"]}
        assert _get(live, http, f"/api/v1/opportunities?scan_id={NEW_SCAN}") == newest
        for refused, status in ((f"?scan_id={NEW_SCAN + 100}", 404), ("?scan_id=abc", 400)):
            resp = http.get(f"{live.url}/api/v1/opportunities{refused}", timeout=5)
            assert resp.status_code == status, (refused, resp.text)
            assert "error" in resp.json()


def test_an_approval_through_the_dashboard_shows_at_once(live: Live, http: requests.Session) -> None:
    """The dashboard's own write (Approve) marks the contract as pending on the very next refresh."""
    row = next(o for o in _get(live, http, "/api/v1/opportunities")["opportunities"] if o["id"] == OPP_KO)
    assert row["active_intent"] is None
    token = _get(live, http, "/api/v1/csrf")["csrf_token"]
    resp = http.post(
        f"{live.url}/api/v1/opportunities/{OPP_KO}/approve",
        json={},
        headers={"X-CSRFToken": token},
        timeout=5,
    )
    assert resp.status_code == 201, resp.text
    row = next(o for o in _get(live, http, "/api/v1/opportunities")["opportunities"] if o["id"] == OPP_KO)
    assert row["active_intent"] is not None
    assert row["active_intent"]["id"] == resp.json()["intent"]["id"]


def test_a_cached_answer_is_never_served_without_the_login(engine: Engine, db_url: str) -> None:
    """Beyond loopback: a logged-in user's answer is cached, and a stranger still gets 401, not that body."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=db_url,
        MARKET_HOURS="always",
        TWS_RESTART_WINDOWS="",
        DASHBOARD_HOST="0.0.0.0",
        DASHBOARD_TOKEN=TOKEN,
    )
    config = Config(settings=settings, strategy=Strategy())
    with serve(create_app(config, engine), engine, config) as live, requests.Session() as user:
        page = user.get(f"{live.url}/login", timeout=5)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"token": TOKEN, "csrf_token": csrf.group(1), "next": "/"}
        assert user.post(f"{live.url}/login", data=form, allow_redirects=False, timeout=5).status_code == 303
        for _ in range(2):
            assert user.get(f"{live.url}/api/v1/account", timeout=5).json()["account"]["net_liquidation"]
            stranger = requests.get(f"{live.url}/api/v1/account", timeout=5)
            assert stranger.status_code == 401
            assert "account" not in stranger.json()


def test_waitress_queue_warnings_are_summarised_not_repeated() -> None:
    """An overload writes one "Task queue depth" warning a minute with the count held back, not one per
    request."""
    now = [0.0]
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    logger = logging.getLogger("test.waitress.queue")
    logger.propagate = False
    logger.addFilter(QueueWarnings(every=60.0, clock=lambda: now[0]))
    logger.addHandler(Keep())
    for depth in range(1, 101):
        now[0] = depth * 0.1
        logger.warning("Task queue depth is %d", depth)
    assert records == ["Task queue depth is 1"]
    now[0] = 61.0
    logger.warning("Task queue depth is %d", 3)
    assert records[1] == "Task queue depth is 3 (99 more such warnings held back)"
