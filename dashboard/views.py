"""Server-rendered pages: Overview, Wheel, Opportunities (with Approve), Orders & fills, Alerts."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard import actions, coverage, queries
from dashboard import positions as position_rows
from dashboard.actions import ActionError
from dashboard.state import engine, state
from dashboard.wheel import PREEXISTING_NOTE
from dashboard.wheel import wheel as wheel_cards

bp = Blueprint("views", __name__)


@bp.get("/")
def overview() -> str:
    """Account metrics, positions and component health."""
    eng = engine()
    return render_template(
        "overview.html",
        page="overview",
        account=queries.latest_account(eng),
        positions=position_rows.positions(eng),
        health=queries.component_health(eng),
        stale_after=int(queries.STALE_AFTER_SECONDS),
    )


@bp.get("/wheel")
def wheel() -> str:
    """One card per symbol: the newest wheel cycle with its open option, then the older cycles."""
    return render_template(
        "wheel.html", page="wheel", wheel=wheel_cards(engine()), preexisting_note=PREEXISTING_NOTE
    )


@bp.get("/opportunities")
def opportunities() -> str:
    """The newest completed scan's opportunities (puts and calls), ranked, with an Approve form per row."""
    eng = engine()
    scan = queries.latest_scan(eng)
    rows = queries.opportunities(eng, scan["id"]) if scan else []
    coverage.annotate(eng, rows, state().config.strategy.orders.contracts, actions.MAX_QUANTITY)
    return render_template("opportunities.html", page="opportunities", scan=scan, rows=rows)


@bp.post("/opportunities/<int:opportunity_id>/approve")
def approve(opportunity_id: int) -> Response:
    """Form target of the Approve button: create the intent, flash its key, back to the list."""
    try:
        qty = actions.parse_quantity(request.form.get("quantity"), None, from_form=True)
        contracts = state().config.strategy.orders.contracts
        created = actions.approve_opportunity(engine(), opportunity_id, qty, contracts=contracts)
    except ActionError as err:
        flash(f"Not approved: {err.message}", "error")
    else:
        flash(
            f"Approved {created['quantity']} × {created['local_symbol']} at ≥ ${created['limit_floor']:.2f}: "
            f"intent {created['key']}",
            "success",
        )
    return redirect(url_for("views.opportunities"), code=303)


@bp.get("/orders")
def orders() -> str:
    """Intents, orders and fills, newest first."""
    eng = engine()
    return render_template(
        "orders.html",
        page="orders",
        intents=queries.intents(eng),
        orders=queries.orders(eng),
        fills=queries.fills(eng),
    )


@bp.get("/alerts")
def alerts() -> str:
    """Recent alerts with delivery status per channel, and the channels' circuit breakers."""
    eng = engine()
    return render_template(
        "alerts.html", page="alerts", alerts=queries.alerts(eng), breakers=queries.breakers(eng)
    )
