"""JSON API under ``/api/v1``. Reads mirror the pages; the writes approve or reject an opportunity, approve
or reject a management decision, switch the halt on or off, and ask the scanner for a scan at once.

State-changing requests need a CSRF token: fetch one from ``GET /api/v1/csrf``, keep the session
cookie, and send the token in the ``X-CSRFToken`` header.

Every view declares its query, body and response models (:mod:`dashboard.apimodels`) with
``@SPEC.validate``: they validate the request before the view runs and make the OpenAPI document served at
``GET /api/v1/openapi.json`` (:mod:`dashboard.openapi`).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, url_for
from flask_wtf.csrf import generate_csrf

from dashboard import actions, cancel, commands, coverage, decisions, queries, riskview
from dashboard import apimodels as m
from dashboard import positions as position_rows
from dashboard import system as system_figures
from dashboard.bodycache import cached
from dashboard.channels import channel_status
from dashboard.clock import market_clock
from dashboard.errors import ActionError
from dashboard.openapi import SPEC, document, responses
from dashboard.orderrows import order_rows
from dashboard.state import actor, engine, risk_gate, state
from dashboard.wheel import wheel as wheel_cards
from shared.db import utcnow, utcnow_iso

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _limit(query: m.LimitQuery) -> int:
    return query.limit or queries.DEFAULT_LIMIT


@bp.errorhandler(ActionError)
def _action_error(err: ActionError) -> tuple[Response, int]:
    return jsonify(err.as_json()), err.status


@bp.get("/health")
@SPEC.validate(resp=responses((200, m.HealthOut)))
def health() -> Response:
    """Heartbeat of every component; ``status`` is ``ok`` only when all are up."""
    components = queries.component_health(engine(), stale_after=system_figures.stale_after(state().config))
    ok = all(c["up"] for c in components)
    return jsonify({"status": "ok" if ok else "degraded", "time": utcnow_iso(), "components": components})


@bp.get("/account")
@SPEC.validate(resp=responses((200, m.AccountOut)))
@cached  # per-process, emptied by every commit (dashboard.bodycache)
def account() -> Response:
    """The newest account snapshot (``null`` before the monitor has written one)."""
    return jsonify({"account": queries.latest_account(engine())})


@bp.get("/positions")
@SPEC.validate(resp=responses((200, m.PositionsOut)))
@cached  # per-process, emptied by every commit (dashboard.bodycache)
def positions() -> Response:
    """All positions, options with strike, expiry, DTE, % OTM and premium per contract
    (:func:`dashboard.positions.positions`)."""
    return jsonify({"positions": position_rows.positions(engine())})


@bp.get("/wheel")
@SPEC.validate(resp=responses((200, m.WheelOut)))
def wheel() -> Response:
    """One card per symbol with a wheel cycle: ``{"today", "symbols": [{"symbol", "current", "history"}]}``
    (:func:`dashboard.wheel.wheel`)."""
    return jsonify(wheel_cards(engine()))


@bp.get("/opportunities")
@SPEC.validate(query=m.OpportunitiesQuery, resp=responses((200, m.OpportunitiesOut), 404))
@cached  # per-process, emptied by every commit (dashboard.bodycache)
def opportunities(query: m.OpportunitiesQuery) -> Response:
    """Opportunities of the newest completed scan, or of ``?scan_id=``, by rank; contracts the user rejected
    are left out (until their expiry) and counted in ``hidden_rejected``; ``mark`` is ``held`` (the contract
    is in the positions, ``held_quantity`` contracts) or ``pending`` (an active intent) or ``null``;
    ``scan.preview`` is true for a scan outside regular hours (stale quotes); ``running_scan`` is the scan
    under way (its ``progress``), or ``null``; ``symbols`` the scan's ``scan_symbols`` rows (per symbol and
    right: candidates, the contracts each rule removed, the history figures, and why a symbol has no
    candidate)."""
    if query.scan_id is not None:
        scan = queries.scan(engine(), query.scan_id)
        if scan is None:
            raise ActionError(404, f"scan {query.scan_id} does not exist", "scan_id")
    else:
        scan = queries.latest_scan(engine())
    rows, hidden = commands.hide_rejected(
        engine(), queries.opportunities(engine(), scan["id"]) if scan else []
    )
    coverage.annotate(engine(), rows, state().config.strategy.orders.contracts, actions.MAX_QUANTITY)
    position_rows.mark_opportunities(engine(), rows)
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
@SPEC.validate(json=m.ApproveBody, resp=responses((201, m.IntentOut), 404, 409, 422, body=True))
def approve(opportunity_id: int, json: m.ApproveBody) -> tuple[Response, int, dict[str, str]]:
    """Create an intent for the opportunity; body ``{"quantity": n}`` is optional. 201 on success.

    A CSP becomes a ``sell_put`` intent, a CC a ``sell_call`` one; without a quantity a covered call
    asks for at most its ``max_contracts``. 409 when the covered call needs more shares than are
    uncovered, and when the risk gate refuses: ``{"error": <reason with the number>, "field": "risk",
    "check": <shared.risk.RiskCheck>}``; nothing is written then."""
    contracts = state().config.strategy.orders.contracts
    created = actions.approve_opportunity(
        engine(), opportunity_id, json.quantity, contracts=contracts, gate=risk_gate()
    )
    location = url_for("api.intent", intent_id=created["id"])
    return jsonify({"intent": created}), 201, {"Location": location}


@bp.post("/opportunities/<int:opportunity_id>/reject")
@SPEC.validate(json=m.ReasonBody, resp=responses((201, m.CommandOut), 404, 409, body=True))
def reject(opportunity_id: int, json: m.ReasonBody) -> tuple[Response, int]:
    """Hide the opportunity's contract until its expiry (a ``reject_opportunity`` command); body
    ``{"reason": "..."}`` is optional. 201 with the command; 409 when rejected already or approved."""
    reason = commands.parse_reason(json.reason)
    done = commands.reject_opportunity(engine(), opportunity_id, actor(), reason)
    return jsonify({"command": done}), 201


@bp.get("/decisions")
@SPEC.validate(query=m.DecisionsQuery, resp=responses((200, m.DecisionsOut)))
def decision_list(query: m.DecisionsQuery) -> Response:
    """Management decisions newest first, every status (``?status=pending`` filters; ``?limit=``)."""
    status = query.status.value if query.status is not None else None
    return jsonify({"decisions": decisions.decisions(engine(), status=status, limit=_limit(query))})


@bp.get("/decisions/<int:decision_id>")
@SPEC.validate(resp=responses((200, m.DecisionOut), 404))
def decision(decision_id: int) -> Response:
    """One management decision with its intent's status."""
    row = decisions.decision(engine(), decision_id)
    if row is None:
        raise ActionError(404, f"decision {decision_id} does not exist", "decision_id")
    return jsonify({"decision": row})


@bp.post("/decisions/<int:decision_id>/approve")
@SPEC.validate(json=m.EmptyBody, resp=responses((200, m.DecisionOut), 404, 409, body=True))
def approve_decision(decision_id: int) -> Response:
    """Approve a pending decision: its intent proposed → approved (the executor places it). 409 when it is
    not pending any more (a second click, lapsed, decided elsewhere) or the risk gate refuses."""
    return jsonify({"decision": decisions.approve_decision(engine(), decision_id, actor(), risk_gate())})


@bp.post("/decisions/<int:decision_id>/reject")
@SPEC.validate(json=m.ReasonBody, resp=responses((200, m.DecisionOut), 404, 409, body=True))
def reject_decision(decision_id: int, json: m.ReasonBody) -> Response:
    """Reject a pending decision (body ``{"reason": "..."}`` optional): its intent is cancelled. 409 when
    it is not pending any more."""
    reason = commands.parse_reason(json.reason)
    return jsonify({"decision": decisions.reject_decision(engine(), decision_id, actor(), reason)})


@bp.get("/risk")
@SPEC.validate(resp=responses((200, m.RiskOut)))
def risk() -> Response:
    """Collateral committed and free against the risk limits, the day's P&L and the halts (the Overview's
    figures, :func:`dashboard.riskview.risk_overview`)."""
    return jsonify(riskview.risk_overview(engine(), state().config.strategy.risk))


@bp.get("/system")
@SPEC.validate(resp=responses((200, m.SystemOut)))
def system() -> Response:
    """Heartbeats, connection states, TWS's clock offset, market hours, the halt switch and its history."""
    return jsonify(system_figures.system(engine(), state().config))


@bp.post("/scan")
@SPEC.validate(json=m.EmptyBody, resp=responses((201, m.CommandOut), 409, body=True))
def scan_now() -> tuple[Response, int]:
    """Ask the scanner for a scan at once (a ``scan_now`` command it claims). 201 with the command; 409
    when one is waiting or running already."""
    return jsonify({"command": commands.scan_now(engine(), actor())}), 201


@bp.post("/halt")
@SPEC.validate(json=m.ReasonBody, resp=responses((201, m.CommandOut), 409, body=True))
def halt(json: m.ReasonBody) -> tuple[Response, int]:
    """Switch the halt on (body ``{"reason": "..."}`` optional): no new positions, effective at once. 201
    with the command; 409 when already halted."""
    reason = commands.parse_reason(json.reason)
    return jsonify({"command": commands.halt(engine(), actor(), reason)}), 201


@bp.post("/resume")
@SPEC.validate(json=m.ReasonBody, resp=responses((201, m.CommandOut), 409, body=True))
def resume(json: m.ReasonBody) -> tuple[Response, int]:
    """Switch the halt off (body ``{"reason": "..."}`` optional). 201 with the command; 409 when not
    halted."""
    reason = commands.parse_reason(json.reason)
    return jsonify({"command": commands.resume(engine(), actor(), reason)}), 201


@bp.get("/intents")
@SPEC.validate(query=m.LimitQuery, resp=responses((200, m.IntentsOut)))
def intents(query: m.LimitQuery) -> Response:
    """Newest intents first (``?limit=``, default 200)."""
    return jsonify({"intents": queries.intents(engine(), _limit(query))})


@bp.get("/intents/<int:intent_id>")
@SPEC.validate(resp=responses((200, m.IntentOut), 404))
def intent(intent_id: int) -> Response:
    """One intent."""
    row = queries.intent(engine(), intent_id)
    if row is None:
        raise ActionError(404, f"intent {intent_id} does not exist", "intent_id")
    return jsonify({"intent": row})


@bp.get("/orders")
@SPEC.validate(query=m.LimitQuery, resp=responses((200, m.OrdersOut)))
def orders(query: m.LimitQuery) -> Response:
    """Newest orders first (``?limit=``), each with strike, expiry, DTE, % OTM, premium per contract, the
    share of max profit a closing order keeps, break-even and ``cancellable``
    (:func:`dashboard.orderrows.order_rows`)."""
    eng = engine()
    held = position_rows.positions(eng)
    return jsonify(
        {"orders": order_rows(eng, queries.orders(eng, _limit(query)), held, queries.market_today(eng))}
    )


@bp.post("/orders/<int:order_id>/cancel")
@SPEC.validate(json=m.ReasonBody, resp=responses((201, m.CommandOut), 404, 409, body=True))
def cancel_order(order_id: int, json: m.ReasonBody) -> tuple[Response, int]:
    """Cancel a working order (``order_id`` the ``orders`` row's ``id``): a ``cancel_order`` command the
    executor carries out at TWS; body ``{"reason": "..."}`` optional. 201 with the command; 404 unknown
    order; 409 when the order no longer works or a cancel is already requested."""
    reason = commands.parse_reason(json.reason)
    return jsonify({"command": cancel.cancel_order(engine(), order_id, actor(), reason)}), 201


def refresh_seconds() -> int:
    """Seconds between the pages' live updates (``DASHBOARD_REFRESH_SECONDS``; 0: never)."""
    return int(current_app.config["REFRESH_SECONDS"])


@bp.get("/clock")
@SPEC.validate(resp=responses((200, m.ClockOut)))
def clock() -> Response:
    """The time in UTC and US/Eastern with the market session from the XNYS calendar (``pre-market``,
    ``open``, ``early close``, ``after-hours``, ``closed``), as the pages' "updated" clock shows it."""
    return jsonify({"clock": market_clock(utcnow()).as_json(), "refresh_seconds": refresh_seconds()})


@bp.get("/fills")
@SPEC.validate(query=m.LimitQuery, resp=responses((200, m.FillsOut)))
def fills(query: m.LimitQuery) -> Response:
    """Newest fills first (``?limit=``)."""
    return jsonify({"fills": queries.fills(engine(), _limit(query))})


@bp.get("/alerts")
@SPEC.validate(query=m.LimitQuery, resp=responses((200, m.AlertsOut)))
def alerts(query: m.LimitQuery) -> Response:
    """Newest alerts with per-channel delivery status, and the channels' circuit breakers."""
    rows = queries.alerts(engine(), _limit(query))
    breakers = queries.breakers(engine())
    channels = [
        {**c, "retry_at": c["retry_at"].isoformat() if c["retry_at"] else None}
        for c in channel_status(state().config.settings, breakers, utcnow())
    ]
    return jsonify({"alerts": rows, "breakers": breakers, "channels": channels})


@bp.get("/csrf")
@SPEC.validate(resp=responses((200, m.CsrfOut)))
def csrf() -> Response:
    """A CSRF token for API clients; send it back as ``X-CSRFToken`` with the session cookie."""
    return jsonify({"csrf_token": generate_csrf(), "header": "X-CSRFToken"})


@bp.get("/openapi.json")
@SPEC.validate(resp=responses((200, m.OpenApiOut)))
def openapi() -> Response:
    """This API's OpenAPI 3 document, built from the models that validate its requests."""
    return jsonify(document())
