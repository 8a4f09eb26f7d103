"""Covered-call approvals: a CC opportunity becomes a ``sell_call`` intent, never for more contracts
than the uncovered shares (positions − short calls − active sell_call intents) or the scan's
``max_contracts``; a refusal writes nothing."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import requests
from dashboard_seed import OPP_AAPL_CC, OPP_T_CC, OPP_T_CC2, Live
from sqlalchemy import Engine, func, select

from dashboard import actions
from dashboard.actions import ActionError, approve_opportunity
from shared import schema as s


def _token(live: Live, http: requests.Session) -> str:
    return str(http.get(f"{live.url}/api/v1/csrf", timeout=5).json()["csrf_token"])


def _approve(live: Live, http: requests.Session, token: str, opp_id: int, qty: int | None = None) -> Any:
    body = {"quantity": qty} if qty is not None else None
    url = f"{live.url}/api/v1/opportunities/{opp_id}/approve"
    return http.post(url, json=body, headers={"X-CSRFToken": token}, timeout=5)


def _intents(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(s.intents).order_by(s.intents.c.id))]


def _refused(resp: Any, message: str, live: Live, before: list[dict[str, Any]]) -> None:
    assert resp.status_code == 409, resp.text
    assert resp.json() == {"error": message, "field": "quantity"}
    assert _intents(live.engine) == before  # nothing written
    with live.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.intent_legs)).scalar_one() == 0


def test_cc_approval_creates_a_sell_call_intent(live: Live, http: requests.Session) -> None:
    resp = _approve(live, http, _token(live, http), OPP_T_CC)
    assert resp.status_code == 201, resp.text
    intent = resp.json()["intent"]
    assert intent["key"] == f"TW-CC-T-20261218-26C-O{OPP_T_CC}"
    row = next(r for r in _intents(live.engine) if r["key"] == intent["key"])
    assert (row["kind"], row["action"], row["right"], row["sec_type"]) == ("sell_call", "SELL", "C", "OPT")
    assert (row["status"], row["con_id"], row["strike"], row["limit_floor"]) == (
        "approved",
        700301,
        26.0,
        0.42,
    )
    assert row["quantity"] == 1  # min(orders.contracts = 1, max_contracts = 3)


def test_cc_default_quantity_is_capped_by_max_contracts(engine: Engine) -> None:
    created = approve_opportunity(engine, OPP_T_CC2, None, contracts=5)
    assert created["quantity"] == 2 and created["kind"] == "sell_call"  # max_contracts 2


def test_oversized_covered_calls_are_refused(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    before = _intents(live.engine)
    _refused(
        _approve(live, http, token, OPP_T_CC, 4),
        "T: 3 contract(s) of uncovered shares (300 shares held, 0 covered), asked for 4",
        live,
        before,
    )
    _refused(
        _approve(live, http, token, OPP_T_CC2, 3),
        f"T: opportunity {OPP_T_CC2} is sized for 2 contract(s) of uncovered shares (max_contracts when "
        "scanned), asked for 3",
        live,
        before,
    )
    # AAPL's 100 shares are covered by the short 210 call in the positions, whatever the scan said
    _refused(
        _approve(live, http, token, OPP_AAPL_CC),
        "AAPL: 0 contract(s) of uncovered shares (100 shares held, 100 covered), asked for 1",
        live,
        before,
    )

    assert _approve(live, http, token, OPP_T_CC, 2).status_code == 201
    after_first = _intents(live.engine)
    # the approved (not yet placed) intent covers 200 of the 300 shares
    _refused(
        _approve(live, http, token, OPP_T_CC2, 2),
        "T: 1 contract(s) of uncovered shares (300 shares held, 200 covered), asked for 2",
        live,
        after_first,
    )
    assert _approve(live, http, token, OPP_T_CC2, 1).status_code == 201
    assert sum(r["quantity"] for r in _intents(live.engine) if r["kind"] == "sell_call") == 3


def test_finished_call_intents_no_longer_cover(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    assert _approve(live, http, token, OPP_T_CC, 3).status_code == 201
    assert _approve(live, http, token, OPP_T_CC2, 1).status_code == 409
    with live.engine.begin() as conn:
        conn.execute(s.intents.update().where(s.intents.c.kind == "sell_call").values(status="cancelled"))
    assert _approve(live, http, token, OPP_T_CC2, 2).status_code == 201


def test_sql_guard_holds_when_the_checks_are_raced(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conditional INSERT alone refuses what the Python checks would (as when two requests pass the
    checks before either commits)."""
    assert approve_opportunity(engine, OPP_T_CC, 2)["quantity"] == 2
    monkeypatch.setattr(actions, "_check_call_size", lambda *_a: None)
    before = _intents(engine)
    for qty in (2, 3):  # more than the uncovered shares; more than max_contracts
        with pytest.raises(ActionError) as err:
            approve_opportunity(engine, OPP_T_CC2, qty)
        assert err.value.status == 409 and "changed while it was being approved" in err.value.message
    assert _intents(engine) == before


def test_simultaneous_calls_never_oversell_the_shares(engine: Engine) -> None:
    """Two calls on T's 300 shares, 2 contracts each, approved at the same instant: one wins."""
    barrier = threading.Barrier(2)
    results: list[int] = []

    def click(opp_id: int) -> None:
        barrier.wait()
        try:
            approve_opportunity(engine, opp_id, 2)
            results.append(201)
        except ActionError as err:
            results.append(err.status)

    threads = [threading.Thread(target=click, args=(o,)) for o in (OPP_T_CC, OPP_T_CC2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(results) == [201, 409]
    assert sum(r["quantity"] for r in _intents(engine) if r["kind"] == "sell_call") == 2


def test_opportunities_page_shows_calls_beside_puts(live: Live, http: requests.Session) -> None:
    html = http.get(f"{live.url}/opportunities", timeout=5).text
    for header in (
        "Strategy",
        "Credit ($/share)",
        "Premium ($/contract)",
        "Cost basis ($/share)",
        "Max contracts",
    ):
        assert f">{header}</th>" in html, header
    row = re.search(rf'<tr data-opportunity-id="{OPP_T_CC}" data-strategy="CC">(.*?)</tr>', html, re.S)
    assert row, "no T covered-call row"
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    ]
    assert cells[1:8] == ["CC", "T", "2026-12-18", "35", "26&nbsp;C", "25.40", "0.42 / 0.46"]
    assert cells[12:17] == [
        "$0.44",
        "$44.00",
        "$2,410",
        "$24.10",
        "3",
    ]  # credit, premium, collateral, basis, max
    assert 'name="quantity" value="1" min="1" max="3"' in row.group(1)

    form = re.search(
        rf'<form method="post" action="(/opportunities/{OPP_T_CC2}/approve)"'
        r'.*?name="csrf_token" value="([^"]+)"',
        html,
        re.S,
    )
    assert form
    action, token = form.groups()
    resp = http.post(f"{live.url}{action}", data={"csrf_token": token, "quantity": "3"}, timeout=5)
    assert "flash-error" in resp.text and "sized for 2 contract(s)" in resp.text
    resp = http.post(f"{live.url}{action}", data={"csrf_token": token, "quantity": "2"}, timeout=5)
    assert "flash-success" in resp.text and f"TW-CC-T-20261218-27C-O{OPP_T_CC2}" in resp.text


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"right": "P"}, "a CC sells right C"), ({"strategy": "PMCC"}, "only CSP and CC can be approved")],
)
def test_strategy_and_right_must_match(engine: Engine, change: dict[str, str], reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(s.opportunities.update().where(s.opportunities.c.id == OPP_T_CC).values(**change))
    before = _intents(engine)
    with pytest.raises(ActionError) as err:
        approve_opportunity(engine, OPP_T_CC, 1)
    assert err.value.status == 409 and reason in err.value.message
    assert _intents(engine) == before
