"""Server-rendered pages: Overview, Opportunities (with Approve), Orders & fills, Alerts."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from dashboard import actions, queries
from dashboard.actions import ActionError
from dashboard.state import engine, state

bp = Blueprint("views", __name__)


@bp.get("/")
def overview() -> str:
    """Account metrics, positions and component health."""
    eng = engine()
    return render_template(
        "overview.html",
        page="overview",
        account=queries.latest_account(eng),
        positions=queries.positions(eng),
        health=queries.component_health(eng),
        stale_after=int(queries.STALE_AFTER_SECONDS),
    )


@bp.get("/opportunities")
def opportunities() -> str:
    """The newest completed scan's opportunities, ranked, with an Approve form per row."""
    eng = engine()
    scan = queries.latest_scan(eng)
    rows = queries.opportunities(eng, scan["id"]) if scan else []
    return render_template(
        "opportunities.html",
        page="opportunities",
        scan=scan,
        rows=rows,
        default_quantity=state().config.strategy.orders.contracts,
        max_quantity=actions.MAX_QUANTITY,
    )


@bp.post("/opportunities/<int:opportunity_id>/approve")
def approve(opportunity_id: int) -> Response:
    """Form target of the Approve button: create the intent, flash its key, back to the list."""
    try:
        default = state().config.strategy.orders.contracts
        qty = actions.parse_quantity(request.form.get("quantity"), default, from_form=True)
        created = actions.approve_opportunity(engine(), opportunity_id, qty)
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
