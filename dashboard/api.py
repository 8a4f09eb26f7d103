"""JSON API under ``/api/v1``. Reads mirror the pages; the writes approve or reject an opportunity, approve
or reject a management decision, switch the halt on or off, and ask the scanner for a scan at once.

State-changing requests need a CSRF token: fetch one from ``GET /api/v1/csrf``, keep the session
cookie, and send the token in the ``X-CSRFToken`` header.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask_wtf.csrf import generate_csrf

from dashboard import actions, commands, coverage, decisions, queries, riskview
from dashboard import positions as position_rows
from dashboard import system as system_figures
from dashboard.errors import ActionError
from dashboard.state import actor, engine, risk_gate, state
from dashboard.wheel import wheel as wheel_cards
from shared.db import utcnow_iso
from shared.trade import DecisionStatus

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _body(allowed: set[str], example: str) -> dict[str, Any]:
    """The JSON object of the request (``{}`` when the body is empty); 400 for anything else or an unknown
    field."""
    body: Any = {}
    if request.get_data(cache=True).strip():
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            raise ActionError(400, f"the body must be a JSON object such as {example}", None)
    unknown = set(body) - allowed
    if unknown:
        raise ActionError(400, f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    return dict(body)


def _limit() -> int:
    raw = request.args.get("limit", "")
    if not raw:
        return queries.DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= queries.MAX_LIMIT:
        raise ActionError(400, f"limit must be a whole number from 1 to {queries.MAX_LIMIT}", "limit")
    return int(raw)


@bp.errorhandler(ActionError)
def _action_error(err: ActionError) -> tuple[Response, int]:
    return jsonify(err.as_json()), err.status


@bp.get("/health")
def health() -> Response:
    """Heartbeat of every component; ``status`` is ``ok`` only when all are up."""
    components = queries.component_health(engine(), stale_after=system_figures.stale_after(state().config))
    ok = all(c["up"] for c in components)
    return jsonify({"status": "ok" if ok else "degraded", "time": utcnow_iso(), "components": components})


@bp.get("/account")
def account() -> Response:
    """The newest account snapshot (``null`` before the monitor has written one)."""
    return jsonify({"account": queries.latest_account(engine())})


@bp.get("/positions")
def positions() -> Response:
    """All positions, options with strike, expiry, DTE, % OTM and premium per contract
    (:func:`dashboard.positions.positions`)."""
    return jsonify({"positions": position_rows.positions(engine())})


@bp.get("/wheel")
def wheel() -> Response:
    """One card per symbol with a wheel cycle: ``{"today", "symbols": [{"symbol", "current", "history"}]}``
    (:func:`dashboard.wheel.wheel`)."""
    return jsonify(wheel_cards(engine()))


@bp.get("/opportunities")
def opportunities() -> Response:
    """Opportunities of the newest completed scan, or of ``?scan_id=``, by rank; contracts the user rejected
    are left out (until their expiry) and counted in ``hidden_rejected``; ``scan.preview`` is true for a
    scan outside regular hours (stale quotes); ``running_scan`` is the scan under way (its ``progress``),
    or ``null``; ``symbols`` the scan's ``scan_symbols`` rows (per symbol and right: candidates, the
    contracts each rule removed, the history figures, and why a symbol has no candidate)."""
    raw = request.args.get("scan_id", "")
    if raw:
        if not raw.isdigit():
            raise ActionError(400, "scan_id must be a whole number", "scan_id")
        scan = queries.scan(engine(), int(raw))
        if scan is None:
            raise ActionError(404, f"scan {raw} does not exist", "scan_id")
    else:
        scan = queries.latest_scan(engine())
    rows, hidden = commands.hide_rejected(
        engine(), queries.opportunities(engine(), scan["id"]) if scan else []
    )
    coverage.annotate(engine(), rows, state().config.strategy.orders.contracts, actions.MAX_QUANTITY)
    return jsonify(
        {
            "scan": scan,
            "opportunities": rows,
            "hidden_rejected": hidden,
            "running_scan": queries.running_scan(engine()),
            "symbols": queries.scan_symbols(engine(), scan["id"]) if scan else [],
        }
    )


@bp.post("/opportunities/<int:opportunity_id>/approve")
def approve(opportunity_id: int) -> tuple[Response, int, dict[str, str]]:
    """Create an intent for the opportunity; body ``{"quantity": n}`` is optional. 201 on success.

    A CSP becomes a ``sell_put`` intent, a CC a ``sell_call`` one; without a quantity a covered call
    asks for at most its ``max_contracts``. 409 when the covered call needs more shares than are
    uncovered, and when the risk gate refuses: ``{"error": <reason with the number>, "field": "risk",
    "check": <shared.risk.RiskCheck>}``; nothing is written then."""
    body = _body({"quantity"}, '{"quantity": 1}')
    qty = actions.parse_quantity(body.get("quantity"), None)
    contracts = state().config.strategy.orders.contracts
    created = actions.approve_opportunity(
        engine(), opportunity_id, qty, contracts=contracts, gate=risk_gate()
    )
    location = url_for("api.intent", intent_id=created["id"])
    return jsonify({"intent": created}), 201, {"Location": location}


@bp.post("/opportunities/<int:opportunity_id>/reject")
def reject(opportunity_id: int) -> tuple[Response, int]:
    """Hide the opportunity's contract until its expiry (a ``reject_opportunity`` command); body
    ``{"reason": "..."}`` is optional. 201 with the command; 409 when rejected already or approved."""
    body = _body({"reason"}, '{"reason": "earnings next week"}')
    done = commands.reject_opportunity(
        engine(), opportunity_id, actor(), commands.parse_reason(body.get("reason"))
    )
    return jsonify({"command": done}), 201


@bp.get("/decisions")
def decision_list() -> Response:
    """Management decisions newest first, every status (``?status=pending`` filters; ``?limit=``)."""
    status = request.args.get("status") or None
    if status is not None and status not in {st.value for st in DecisionStatus}:
        allowed = ", ".join(st.value for st in DecisionStatus)
        raise ActionError(400, f"status must be one of {allowed}, got {status!r}", "status")
    return jsonify({"decisions": decisions.decisions(engine(), status=status, limit=_limit())})


@bp.get("/decisions/<int:decision_id>")
def decision(decision_id: int) -> Response:
    """One management decision with its intent's status."""
    row = decisions.decision(engine(), decision_id)
    if row is None:
        raise ActionError(404, f"decision {decision_id} does not exist", "decision_id")
    return jsonify({"decision": row})


@bp.post("/decisions/<int:decision_id>/approve")
def approve_decision(decision_id: int) -> Response:
    """Approve a pending decision: its intent proposed → approved (the executor places it). 409 when it is
    not pending any more (a second click, lapsed, decided elsewhere) or the risk gate refuses."""
    _body(set(), "{}")
    return jsonify({"decision": decisions.approve_decision(engine(), decision_id, actor(), risk_gate())})


@bp.post("/decisions/<int:decision_id>/reject")
def reject_decision(decision_id: int) -> Response:
    """Reject a pending decision (body ``{"reason": "..."}`` optional): its intent is cancelled. 409 when
    it is not pending any more."""
    body = _body({"reason"}, '{"reason": "..."}')
    reason = commands.parse_reason(body.get("reason"))
    return jsonify({"decision": decisions.reject_decision(engine(), decision_id, actor(), reason)})


@bp.get("/risk")
def risk() -> Response:
    """Collateral committed and free against the risk limits, the day's P&L and the halts (the Overview's
    figures, :func:`dashboard.riskview.risk_overview`)."""
    return jsonify(riskview.risk_overview(engine(), state().config.strategy.risk))


@bp.get("/system")
def system() -> Response:
    """Heartbeats, connection states, TWS's clock offset, market hours, the halt switch and its history."""
    return jsonify(system_figures.system(engine(), state().config))


@bp.post("/scan")
def scan_now() -> tuple[Response, int]:
    """Ask the scanner for a scan at once (a ``scan_now`` command it claims). 201 with the command; 409
    when one is waiting or running already."""
    _body(set(), "{}")
    return jsonify({"command": commands.scan_now(engine(), actor())}), 201


@bp.post("/halt")
def halt() -> tuple[Response, int]:
    """Switch the halt on (body ``{"reason": "..."}`` optional): no new positions, effective at once. 201
    with the command; 409 when already halted."""
    body = _body({"reason"}, '{"reason": "..."}')
    return jsonify(
        {"command": commands.halt(engine(), actor(), commands.parse_reason(body.get("reason")))}
    ), 201


@bp.post("/resume")
def resume() -> tuple[Response, int]:
    """Switch the halt off (body ``{"reason": "..."}`` optional). 201 with the command; 409 when not
    halted."""
    body = _body({"reason"}, '{"reason": "..."}')
    return jsonify(
        {"command": commands.resume(engine(), actor(), commands.parse_reason(body.get("reason")))}
    ), 201


@bp.get("/intents")
def intents() -> Response:
    """Newest intents first (``?limit=``, default 200)."""
    return jsonify({"intents": queries.intents(engine(), _limit())})


@bp.get("/intents/<int:intent_id>")
def intent(intent_id: int) -> Response:
    """One intent."""
    row = queries.intent(engine(), intent_id)
    if row is None:
        raise ActionError(404, f"intent {intent_id} does not exist", "intent_id")
    return jsonify({"intent": row})


@bp.get("/orders")
def orders() -> Response:
    """Newest orders first (``?limit=``)."""
    return jsonify({"orders": queries.orders(engine(), _limit())})


@bp.get("/fills")
def fills() -> Response:
    """Newest fills first (``?limit=``)."""
    return jsonify({"fills": queries.fills(engine(), _limit())})


@bp.get("/alerts")
def alerts() -> Response:
    """Newest alerts with per-channel delivery status, and the channels' circuit breakers."""
    return jsonify({"alerts": queries.alerts(engine(), _limit()), "breakers": queries.breakers(engine())})


@bp.get("/csrf")
def csrf() -> Response:
    """A CSRF token for API clients; send it back as ``X-CSRFToken`` with the session cookie."""
    return jsonify({"csrf_token": generate_csrf(), "header": "X-CSRFToken"})
