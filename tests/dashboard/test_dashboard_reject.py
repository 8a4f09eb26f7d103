"""Reject on opportunities: a ``reject_opportunity`` command (who, when, why) hides the contract from the
list — in later scans too — until its expiry; a rejected contract cannot be approved."""

from __future__ import annotations

import re
from typing import Any

import requests
from dashboard_seed import OPP_AAPL, OPP_KO, OPP_SPY, OPP_T_CC, OPP_T_CC2, Live, _opportunity
from sqlalchemy import insert, select

from shared import schema as s
from shared.db import utcnow_iso

KO_CON = 700003


def _token(live: Live, http: requests.Session) -> str:
    return str(http.get(f"{live.url}/api/v1/csrf", timeout=5).json()["csrf_token"])


def _post(live: Live, http: requests.Session, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    return http.post(f"{live.url}{path}", json=body, headers=headers, timeout=5)


def _commands(live: Live) -> list[dict[str, Any]]:
    with live.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(s.commands).order_by(s.commands.c.id))]


def _listed(live: Live, http: requests.Session) -> tuple[list[int], int]:
    body = http.get(f"{live.url}/api/v1/opportunities", timeout=5).json()
    return [o["id"] for o in body["opportunities"]], body["hidden_rejected"]


def test_api_reject_hides_the_contract_until_expiry(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    resp = _post(
        live, http, f"/api/v1/opportunities/{OPP_KO}/reject", {"reason": "  earnings\nnext week "}, token
    )
    assert resp.status_code == 201, resp.text
    command = resp.json()["command"]
    (row,) = _commands(live)
    assert row == command
    assert (row["kind"], row["con_id"], row["opportunity_id"], row["expiry"]) == (
        "reject_opportunity",
        KO_CON,
        OPP_KO,
        "20261218",
    )
    assert (row["actor"], row["reason"], row["status"]) == (
        "dashboard 127.0.0.1",
        "earnings next week",
        "done",
    )
    assert row["created_at"] and row["done_at"] == row["created_at"]

    ids, hidden = _listed(live, http)
    assert OPP_KO not in ids and ids[:2] == [OPP_SPY, OPP_AAPL] and hidden == 1
    page = http.get(f"{live.url}/opportunities", timeout=5).text
    assert f'data-opportunity-id="{OPP_KO}"' not in page
    assert "1 rejected contract hidden (until its expiry)." in page

    # a later scan offers the same contract again: still hidden
    with live.engine.begin() as conn:
        now = utcnow_iso()
        conn.execute(
            insert(s.scans).values(id=9, started_at=now, finished_at=now, status="done", symbols=1,
                                   contracts_checked=10, candidates=2, detail="")
        )  # fmt: skip
        conn.execute(
            insert(s.opportunities),
            [
                _opportunity(91, 9, 1, "KO", KO_CON, 62.5, bid=0.80, ask=0.84),
                _opportunity(92, 9, 2, "KO", 700009, 60.0, bid=0.40, ask=0.44),
            ],
        )
    assert _listed(live, http) == ([92], 1)

    again = _post(live, http, "/api/v1/opportunities/91/reject", None, token)
    assert again.status_code == 409 and "rejected already (by dashboard 127.0.0.1" in again.json()["error"]
    approve = _post(live, http, "/api/v1/opportunities/91/approve", None, token)
    assert approve.status_code == 409 and "was rejected by dashboard 127.0.0.1" in approve.json()["error"]
    assert len(_commands(live)) == 1
    with live.engine.connect() as conn:
        assert conn.execute(select(s.intents).where(s.intents.c.con_id == KO_CON)).first() is None


def test_expired_rejection_no_longer_hides(live: Live, http: requests.Session) -> None:
    with live.engine.begin() as conn:
        conn.execute(
            insert(s.commands).values(kind="reject_opportunity", con_id=700002, opportunity_id=1,
                                      expiry="20200117", reason="", actor="dashboard 127.0.0.1",
                                      created_at=utcnow_iso(), status="done", done_at=utcnow_iso())
        )  # fmt: skip
    ids, hidden = _listed(live, http)
    assert OPP_SPY in ids and hidden == 0


def test_reject_errors_write_nothing(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    assert _post(live, http, "/api/v1/opportunities/9999/reject", None, token).status_code == 404
    bad = _post(live, http, f"/api/v1/opportunities/{OPP_KO}/reject", {"reason": 5}, token)
    assert bad.status_code == 400 and bad.json()["field"] == "reason"
    extra = _post(live, http, f"/api/v1/opportunities/{OPP_KO}/reject", {"why": "x"}, token)
    assert extra.status_code == 400 and extra.json()["field"] == "why"
    no_csrf = _post(live, http, f"/api/v1/opportunities/{OPP_KO}/reject", None)
    assert no_csrf.status_code == 400 and no_csrf.json()["field"] == "csrf_token"
    form = http.post(f"{live.url}/opportunities/{OPP_KO}/reject", data={}, timeout=5)
    assert form.status_code == 400 and "CSRF token is missing" in form.text
    # an approved contract cannot be rejected (its row shows the intent instead of the buttons)
    assert _post(live, http, f"/api/v1/opportunities/{OPP_T_CC}/approve", None, token).status_code == 201
    busy = _post(live, http, f"/api/v1/opportunities/{OPP_T_CC}/reject", None, token)
    assert busy.status_code == 409 and "has an active intent TW-CC-T-" in busy.json()["error"]
    assert _commands(live) == []


def test_reject_form_flow(live: Live, http: requests.Session) -> None:
    page = http.get(f"{live.url}/opportunities", timeout=5).text
    assert page.count(">Reject</button>") == 6  # every row without an active intent
    form = re.search(
        rf'<form method="post" action="(/opportunities/{OPP_T_CC2}/reject)" class="reject">\s*'
        r'<input type="hidden" name="csrf_token" value="([^"]+)">',
        page,
    )
    assert form, "no Reject form for T's second call"
    action, token = form.groups()
    resp = http.post(f"{live.url}{action}", data={"csrf_token": token}, timeout=5)
    assert resp.status_code == 200 and resp.history[0].status_code == 303
    assert "flash-success" in resp.text and f"Rejected opportunity {OPP_T_CC2}" in resp.text
    assert f'data-opportunity-id="{OPP_T_CC2}"' not in resp.text
    assert "1 rejected contract hidden" in resp.text
    assert [c["kind"] for c in _commands(live)] == ["reject_opportunity"]
