"""Management decisions on the dashboard: the pending ones with their numbers and Approve / Reject, the
JSON list, and the guarded transitions (decision pending → approved | rejected with its intent proposed →
approved | cancelled; a second click or a lapsed decision is a 409 and changes nothing)."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
import requests
from dashboard_seed import KO_PUT, Live
from management_seed import (
    D_ALERT,
    D_CLOSE,
    D_LAPSED,
    D_ROLL,
    KEY_CLOSE,
    KEY_ROLL,
    ROLL_TO,
    seed_decisions,
    seed_risk_state,
)
from sqlalchemy import Engine, insert, select

from dashboard.decisions import approve_decision, reject_decision
from dashboard.errors import ActionError
from dashboard.riskcheck import RiskGate
from shared import schema as s
from shared.db import utcnow, utcnow_iso
from shared.settings import Settings
from shared.strategy import RiskRules

ACTOR = "dashboard 127.0.0.1"


@pytest.fixture(autouse=True)
def _decisions(engine: Engine) -> None:
    seed_decisions(engine)


def _token(live: Live, http: requests.Session) -> str:
    return str(http.get(f"{live.url}/api/v1/csrf", timeout=5).json()["csrf_token"])


def _post(live: Live, http: requests.Session, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    return http.post(f"{live.url}{path}", json=body, headers=headers, timeout=5)


def _state(engine: Engine, decision_id: int) -> tuple[str, str, str, str]:
    """(decision status, decided_by, intent status, intent status_reason)."""
    d, i = s.decisions.c, s.intents.c
    with engine.connect() as conn:
        row = conn.execute(
            select(d.status, d.decided_by, i.status, i.status_reason)
            .select_from(s.decisions.join(s.intents, i.key == d.intent_key))
            .where(d.id == decision_id)
        ).one()
    return tuple(row)  # type: ignore[return-value]


def test_decisions_api_lists_every_status_with_figures(live: Live, http: requests.Session) -> None:
    body = http.get(f"{live.url}/api/v1/decisions", timeout=5).json()["decisions"]
    assert [d["id"] for d in body] == [D_ALERT, D_LAPSED, D_ROLL, D_CLOSE]
    by_id = {d["id"]: d for d in body}
    close = by_id[D_CLOSE]
    assert (close["status"], close["intent_status"], close["intent_kind"]) == (
        "pending",
        "proposed",
        "buy_to_close",
    )
    assert close["credit_per_contract"] == pytest.approx(71.5)
    assert close["profit_dollars"] == pytest.approx((0.715 - 0.30) * 100 * 2)
    roll = by_id[D_ROLL]
    assert (roll["new_local_symbol"], roll["net_credit"], roll["intent_kind"]) == (ROLL_TO, 0.55, "roll")
    assert by_id[D_ALERT]["intent_status"] is None
    pending = http.get(f"{live.url}/api/v1/decisions?status=pending", timeout=5).json()["decisions"]
    assert [d["id"] for d in pending] == [D_ROLL, D_CLOSE]
    assert http.get(f"{live.url}/api/v1/decisions?status=nope", timeout=5).json()["field"] == "status"
    one = http.get(f"{live.url}/api/v1/decisions/{D_ROLL}", timeout=5).json()["decision"]
    assert one["reason"].startswith("AAPL 210 C: 8 DTE")
    assert http.get(f"{live.url}/api/v1/decisions/99", timeout=5).status_code == 404


def test_overview_shows_pending_decisions_with_their_numbers(live: Live, http: requests.Session) -> None:
    html = http.get(f"{live.url}/", timeout=5).text
    section = html[html.index('id="pending-decisions"') : html.index('id="risk"')]
    assert re.findall(r'<tr data-decision-id="(\d+)" data-status="(\w+)"', section) == [
        (str(D_CLOSE), "pending"),
        (str(D_ROLL), "pending"),
    ]
    for text in (
        "profit take", "KO    261120P00060000", "0.715", "0.30", "58.0 %", "$83.00", "-0.120", "66.00",
        "KO 60 P: profit 58.0 % of the 0.715 credit ≥ profit_take_fraction 50 %",  # the reason line
        "dte roll", ROLL_TO, "60.0 %",  # the roll's new leg and net credit:
        f"roll to {ROLL_TO} (2027-01-15 · strike 215) for a net credit of 0.55 $/share",
        "Credit ($/share)", "Profit ($ total)", "Net credit ($/share)",
    ):  # fmt: skip
        assert text in section, text
    assert section.count(">Approve</button>") == 2 and section.count(">Reject</button>") == 2
    wheel = http.get(f"{live.url}/wheel", timeout=5).text
    recent = wheel[wheel.index('id="decisions-recent"') :]
    assert re.findall(r'<tr data-decision-id="(\d+)" data-status="(\w+)"', recent) == [
        (str(D_ALERT), "alerted"),
        (str(D_LAPSED), "lapsed"),
        (str(D_ROLL), "pending"),
        (str(D_CLOSE), "pending"),
    ]


def test_api_approve_then_second_click_conflicts(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    resp = _post(live, http, f"/api/v1/decisions/{D_CLOSE}/approve", None, token)
    assert resp.status_code == 200, resp.text
    assert resp.json()["decision"]["status"] == "approved"
    assert _state(live.engine, D_CLOSE) == (
        "approved",
        ACTOR,
        "approved",
        f"approved on the dashboard by {ACTOR}",
    )
    again = _post(live, http, f"/api/v1/decisions/{D_CLOSE}/approve", None, token)
    assert again.status_code == 409
    assert again.json()["error"].startswith(
        f"decision {D_CLOSE} (profit_take → close KO    261120P00060000) is approved by {ACTOR} since "
    )
    reject = _post(live, http, f"/api/v1/decisions/{D_CLOSE}/reject", None, token)
    assert reject.status_code == 409 and "not pending: nothing to reject" in reject.json()["error"]
    assert _state(live.engine, D_CLOSE)[:3] == ("approved", ACTOR, "approved")


def test_api_reject_cancels_the_proposed_intent(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    resp = _post(live, http, f"/api/v1/decisions/{D_ROLL}/reject", {"reason": "keep the call"}, token)
    assert resp.status_code == 200, resp.text
    assert _state(live.engine, D_ROLL) == (
        "rejected",
        ACTOR,
        "cancelled",
        f"rejected on the dashboard by {ACTOR}: keep the call",
    )
    again = _post(live, http, f"/api/v1/decisions/{D_ROLL}/approve", None, token)
    assert again.status_code == 409 and f"is rejected by {ACTOR}" in again.json()["error"]


def test_lapsed_missing_and_unsafe_requests_change_nothing(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    lapsed = _post(live, http, f"/api/v1/decisions/{D_LAPSED}/approve", None, token)
    assert lapsed.status_code == 409
    assert "is lapsed by monitor since" in lapsed.json()["error"]
    assert "its intent: cancelled: no longer held" in lapsed.json()["error"]
    alert = _post(live, http, f"/api/v1/decisions/{D_ALERT}/approve", None, token)
    assert alert.status_code == 409 and "is alerted" in alert.json()["error"]
    assert _post(live, http, "/api/v1/decisions/99/approve", None, token).status_code == 404
    assert _post(live, http, f"/api/v1/decisions/{D_CLOSE}/approve", {"x": 1}, token).status_code == 400
    no_csrf = _post(live, http, f"/api/v1/decisions/{D_CLOSE}/approve")
    assert no_csrf.status_code == 400 and no_csrf.json()["field"] == "csrf_token"
    form = http.post(f"{live.url}/decisions/{D_CLOSE}/reject", data={"return_to": "overview"}, timeout=5)
    assert form.status_code == 400
    assert _state(live.engine, D_CLOSE) == (
        "pending",
        "monitor",
        "proposed",
        "profit take: 58 % of the credit",
    )


def test_another_active_intent_on_the_contract_blocks_approval(live: Live, http: requests.Session) -> None:
    with live.engine.begin() as conn:
        now = utcnow_iso()
        conn.execute(
            insert(s.intents).values(
                key="TW-MANUAL-KO", source="dashboard", kind="buy_to_close", action="BUY", sec_type="OPT",
                symbol="KO", con_id=KO_PUT, local_symbol="KO    261120P00060000", quantity=2,
                status="working", status_reason="", created_at=now, updated_at=now,
            )
        )  # fmt: skip
    resp = _post(live, http, f"/api/v1/decisions/{D_CLOSE}/approve", None, _token(live, http))
    assert resp.status_code == 409 and resp.json()["intent_key"] == "TW-MANUAL-KO"
    assert "already has an active intent TW-MANUAL-KO (working)" in resp.json()["error"]
    assert _state(live.engine, D_CLOSE)[0::2] == ("pending", "proposed")


def test_form_approve_and_reject_return_to_their_page(live: Live, http: requests.Session) -> None:
    page = http.get(f"{live.url}/", timeout=5).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token and f'action="/decisions/{D_CLOSE}/approve"' in page
    done = http.post(
        f"{live.url}/decisions/{D_CLOSE}/approve",
        data={"csrf_token": token.group(1), "return_to": "overview"},
        timeout=5,
    )
    assert done.status_code == 200 and done.history[0].headers["Location"].endswith("/")
    assert f"Approved close of KO    261120P00060000: intent {KEY_CLOSE}" in done.text
    assert f'action="/decisions/{D_CLOSE}/approve"' not in done.text  # no longer pending
    rejected = http.post(
        f"{live.url}/decisions/{D_ROLL}/reject",
        data={"csrf_token": token.group(1), "return_to": "wheel"},
        timeout=5,
    )
    assert rejected.history[0].headers["Location"].endswith("/wheel")
    assert "Rejected roll of AAPL  261218C00210000" in rejected.text
    assert re.search(rf'<tr data-decision-id="{D_ROLL}" data-status="rejected"', rejected.text)
    twice = http.post(f"{live.url}/decisions/{D_ROLL}/reject", data={"csrf_token": token.group(1)}, timeout=5)
    assert "flash-error" in twice.text and "Not rejected: decision 2" in twice.text
    assert 'id="pending-decisions"' not in twice.text  # nothing pending any more


def test_two_simultaneous_approvals_one_wins(engine: Engine) -> None:
    barrier = threading.Barrier(2)
    results: list[str] = []

    def click(who: str) -> None:
        barrier.wait()
        try:
            approve_decision(engine, D_ROLL, who)
            results.append("ok")
        except ActionError as err:
            results.append(f"{err.status}")

    threads = [threading.Thread(target=click, args=(f"dashboard 10.0.0.{n}",)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(results) == ["409", "ok"]
    status, by, intent, _ = _state(engine, D_ROLL)
    assert (status, intent) == ("approved", "approved") and by in {"dashboard 10.0.0.1", "dashboard 10.0.0.2"}


def test_market_checks_apply_but_a_halt_does_not_block_a_close(engine: Engine) -> None:
    saturday = utcnow().replace(year=2026, month=12, day=12, hour=15, minute=0, second=0, microsecond=0)
    seed_risk_state(engine, offset_seconds=(saturday - utcnow()).total_seconds())
    gate = RiskGate(Settings(_env_file=None, TWS_RESTART_WINDOWS=""), RiskRules())  # type: ignore[call-arg]
    with pytest.raises(ActionError) as closed:
        approve_decision(engine, D_CLOSE, ACTOR, gate)
    assert closed.value.check == "market_hours" and "NYSE closed" in closed.value.message
    assert _state(engine, D_CLOSE)[0::2] == ("pending", "proposed")
    with engine.begin() as conn:
        conn.execute(
            insert(s.commands).values(
                kind="halt", reason="", actor=ACTOR, created_at=utcnow_iso(), status="done"
            )
        )
    always = RiskGate(
        Settings(_env_file=None, TWS_RESTART_WINDOWS="", MARKET_HOURS="always"),  # type: ignore[call-arg]
        RiskRules(),
    )
    assert approve_decision(engine, D_CLOSE, ACTOR, always)["status"] == "approved"  # closing under a halt
    assert reject_decision(engine, D_ROLL, ACTOR)["status"] == "rejected"
    assert _state(engine, D_ROLL)[2:] == ("cancelled", f"rejected on the dashboard by {ACTOR}")
    with engine.connect() as conn:
        keys = set(conn.execute(select(s.intents.c.key).where(s.intents.c.status == "approved")).scalars())
    assert keys == {KEY_CLOSE} and KEY_ROLL not in keys
