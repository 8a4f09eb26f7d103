"""Server-rendered pages: Overview, Wheel, Opportunities (Approve / Reject), Orders & fills, Alerts, System.

Every form posts with a CSRF token and redirects (303) back to its page with the outcome as a flash message.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from sqlalchemy import Engine
from werkzeug.wrappers import Response

from dashboard import actions, cancel, commands, coverage, decisions, queries, riskview
from dashboard import positions as position_rows
from dashboard import system as system_figures
from dashboard.channels import channel_status
from dashboard.errors import ActionError
from dashboard.orderrows import order_rows
from dashboard.queries import Row
from dashboard.state import actor, engine, risk_gate, state
from dashboard.wheel import PREEXISTING_NOTE
from dashboard.wheel import wheel as wheel_cards
from shared.db import utcnow

bp = Blueprint("views", __name__)

#: Pages a decision form may return to.
RETURN_PAGES = {"overview": "views.overview", "wheel": "views.wheel"}
#: Decisions listed on the Wheel page.
RECENT_DECISIONS = 50


@bp.get("/")
def overview() -> str:
    """Account metrics, management decisions waiting for a click, collateral against the risk limits, the
    day's P&L, positions and component health."""
    eng = engine()
    config = state().config
    stale_after = system_figures.stale_after(config)
    return render_template(
        "overview.html",
        page="overview",
        account=queries.latest_account(eng),
        risk=riskview.risk_overview(eng, config.strategy.risk),
        pending_decisions=decisions.pending(eng),
        positions=position_rows.positions(eng),
        health=queries.component_health(eng, stale_after=stale_after),
        stale_after=int(stale_after),
    )


@bp.get("/wheel")
def wheel() -> str:
    """One card per symbol: the newest wheel cycle with its open option, then the older cycles; then the
    recent management decisions."""
    eng = engine()
    return render_template(
        "wheel.html",
        page="wheel",
        wheel=wheel_cards(eng),
        preexisting_note=PREEXISTING_NOTE,
        recent_decisions=decisions.decisions(eng, limit=RECENT_DECISIONS),
    )


@bp.get("/opportunities")
def opportunities() -> str:
    """The newest completed scan's opportunities (puts and calls), ranked, with Approve and Reject forms
    per row; contracts the user rejected are hidden (until their expiry) and counted."""
    eng = engine()
    scan = queries.latest_scan(eng)
    rows, hidden = commands.hide_rejected(eng, queries.opportunities(eng, scan["id"]) if scan else [])
    coverage.annotate(eng, rows, state().config.strategy.orders.contracts, actions.MAX_QUANTITY)
    position_rows.mark_opportunities(eng, rows)
    return render_template(
        "opportunities.html",
        page="opportunities",
        scan=scan,
        rows=rows,
        hidden=hidden,
        running=queries.running_scan(eng),
        symbols=queries.scan_symbols(eng, scan["id"]) if scan else [],
    )


@bp.post("/scan")
def scan_now() -> Response:
    """Form target of Scan now: a ``scan_now`` command the scanner claims; back to the opportunities."""
    try:
        commands.scan_now(engine(), actor())
    except ActionError as err:
        flash(f"Not requested: {err.message}", "error")
    else:
        flash("Scan requested: the scanner starts it within seconds", "success")
    return redirect(url_for("views.opportunities"), code=303)


@bp.post("/opportunities/<int:opportunity_id>/approve")
def approve(opportunity_id: int) -> Response:
    """Form target of the Approve button: create the intent, flash its key, back to the list."""
    try:
        qty = actions.parse_quantity(request.form.get("quantity"), None, from_form=True)
        contracts = state().config.strategy.orders.contracts
        created = actions.approve_opportunity(
            engine(), opportunity_id, qty, contracts=contracts, gate=risk_gate()
        )
    except ActionError as err:
        flash(f"Not approved: {err.message}", "error")
    else:
        flash(
            f"Approved {created['quantity']} × {created['local_symbol']} at ≥ ${created['limit_floor']:.2f}: "
            f"intent {created['key']}",
            "success",
        )
    return redirect(url_for("views.opportunities"), code=303)


@bp.post("/opportunities/<int:opportunity_id>/reject")
def reject(opportunity_id: int) -> Response:
    """Form target of the Reject button: hide the contract until its expiry, back to the list."""
    try:
        reason = commands.parse_reason(request.form.get("reason"))
        done = commands.reject_opportunity(engine(), opportunity_id, actor(), reason)
    except ActionError as err:
        flash(f"Not rejected: {err.message}", "error")
    else:
        flash(f"Rejected opportunity {opportunity_id}: hidden until its expiry {done['expiry']}", "success")
    return redirect(url_for("views.opportunities"), code=303)


def _back() -> Response:
    """Back to the page the decision form was on (Overview or Wheel)."""
    page = request.form.get("return_to", "")
    return redirect(url_for(RETURN_PAGES.get(page, "views.overview")), code=303)


@bp.post("/decisions/<int:decision_id>/approve")
def approve_decision(decision_id: int) -> Response:
    """Approve a management decision: its proposed intent goes to the executor."""
    try:
        done = decisions.approve_decision(engine(), decision_id, actor(), risk_gate())
    except ActionError as err:
        flash(f"Not approved: {err.message}", "error")
    else:
        flash(f"Approved {done['action']} of {done['local_symbol']}: intent {done['intent_key']}", "success")
    return _back()


@bp.post("/decisions/<int:decision_id>/reject")
def reject_decision(decision_id: int) -> Response:
    """Reject a management decision: its proposed intent is cancelled."""
    try:
        reason = commands.parse_reason(request.form.get("reason"))
        done = decisions.reject_decision(engine(), decision_id, actor(), reason)
    except ActionError as err:
        flash(f"Not rejected: {err.message}", "error")
    else:
        flash(f"Rejected {done['action']} of {done['local_symbol']}", "success")
    return _back()


@bp.get("/system")
def system() -> str:
    """Heartbeats, connections, TWS's clock, market hours, and the halt switch with its history."""
    return render_template(
        "system.html", page="system", system=system_figures.system(engine(), state().config)
    )


@bp.post("/system/halt")
def halt() -> Response:
    """Form target of Halt: switch the halt on (a ``halt`` command with who and why)."""
    return _switch(commands.halt, "Halted: no new positions until Resume (closing and rolling still allowed)")


@bp.post("/system/resume")
def resume() -> Response:
    """Form target of Resume: switch the halt off."""
    return _switch(commands.resume, "Resumed: new positions allowed again")


def _switch(command: Callable[[Engine, str, str], Row], done: str) -> Response:
    try:
        command(engine(), actor(), commands.parse_reason(request.form.get("reason")))
    except ActionError as err:
        flash(f"Not done: {err.message}", "error")
    else:
        flash(done, "success")
    return redirect(url_for("views.system"), code=303)


@bp.get("/orders")
def orders() -> str:
    """Intents, orders and fills, newest first."""
    eng = engine()
    held = position_rows.positions(eng)
    return render_template(
        "orders.html",
        page="orders",
        intents=queries.intents(eng),
        orders=order_rows(eng, queries.orders(eng), held, queries.market_today(eng)),
        fills=queries.fills(eng),
    )


@bp.post("/orders/<int:order_id>/cancel")
def cancel_order(order_id: int) -> Response:
    """Form target of Cancel on a working order: a ``cancel_order`` command the executor carries out."""
    try:
        done = cancel.cancel_order(
            engine(), order_id, actor(), commands.parse_reason(request.form.get("reason"))
        )
    except ActionError as err:
        flash(f"Not cancelled: {err.message}", "error")
    else:
        flash(
            f"Cancel of order {done['intent_key']} requested: the executor cancels it at TWS within seconds",
            "success",
        )
    return redirect(url_for("views.orders"), code=303)


@bp.get("/alerts")
def alerts() -> str:
    """Recent alerts with delivery status per channel, and the channels' circuit breakers."""
    eng = engine()
    breakers = queries.breakers(eng)
    return render_template(
        "alerts.html",
        page="alerts",
        alerts=queries.alerts(eng),
        breakers=breakers,
        channels=channel_status(state().config.settings, breakers, utcnow()),
    )
