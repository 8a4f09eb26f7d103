"""JSON API under ``/api/v1``. Reads mirror the pages; the one write approves an opportunity.

State-changing requests need a CSRF token: fetch one from ``GET /api/v1/csrf``, keep the session
cookie, and send the token in the ``X-CSRFToken`` header.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask_wtf.csrf import generate_csrf

from dashboard import actions, coverage, queries
from dashboard import positions as position_rows
from dashboard.actions import ActionError
from dashboard.state import engine, state
from dashboard.wheel import wheel as wheel_cards
from shared.db import utcnow_iso

bp = Blueprint("api", __name__, url_prefix="/api/v1")


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
    components = queries.component_health(engine())
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
    """Opportunities of the newest completed scan, or of ``?scan_id=``, by rank."""
    raw = request.args.get("scan_id", "")
    if raw:
        if not raw.isdigit():
            raise ActionError(400, "scan_id must be a whole number", "scan_id")
        scan = queries.scan(engine(), int(raw))
        if scan is None:
            raise ActionError(404, f"scan {raw} does not exist", "scan_id")
    else:
        scan = queries.latest_scan(engine())
    rows = queries.opportunities(engine(), scan["id"]) if scan else []
    coverage.annotate(engine(), rows, state().config.strategy.orders.contracts, actions.MAX_QUANTITY)
    return jsonify({"scan": scan, "opportunities": rows})


@bp.post("/opportunities/<int:opportunity_id>/approve")
def approve(opportunity_id: int) -> tuple[Response, int, dict[str, str]]:
    """Create an intent for the opportunity; body ``{"quantity": n}`` is optional. 201 on success.

    A CSP becomes a ``sell_put`` intent, a CC a ``sell_call`` one; without a quantity a covered call
    asks for at most its ``max_contracts``. 409 when the covered call needs more shares than are
    uncovered."""
    body: Any = {}
    if request.get_data(cache=True).strip():
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            raise ActionError(400, 'the body must be a JSON object such as {"quantity": 1}', None)
    unknown = set(body) - {"quantity"}
    if unknown:
        raise ActionError(400, f"unknown field(s): {', '.join(sorted(unknown))}", sorted(unknown)[0])
    qty = actions.parse_quantity(body.get("quantity"), None)
    contracts = state().config.strategy.orders.contracts
    created = actions.approve_opportunity(engine(), opportunity_id, qty, contracts=contracts)
    location = url_for("api.intent", intent_id=created["id"])
    return jsonify({"intent": created}), 201, {"Location": location}


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
