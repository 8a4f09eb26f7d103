"""The dashboard's writes: intents created when the user approves an opportunity.

A cash-secured put (CSP) opportunity becomes a ``sell_put`` intent, a covered call (CC) a
``sell_call`` intent, never for more contracts than the uncovered shares (:mod:`dashboard.coverage`).

Before anything is written, the risk gate (:mod:`dashboard.riskcheck`, the executor's own checks) must
pass: a refusal is a 409 with the reason and the number that failed (``field`` ``risk``, ``check`` the
limit). A contract the user rejected (:mod:`dashboard.commands`) cannot be approved until its expiry.

An approval is one conditional ``INSERT … SELECT … WHERE NOT EXISTS`` inside a transaction, so two
simultaneous clicks (or two browser tabs) can never leave two active intents for one contract, an intent
is never created while the halt switch is on or for a rejected contract, and nothing is written when any
check fails.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, and_, exists, func, literal, select
from sqlalchemy.exc import IntegrityError

from dashboard.commands import halt_guard, market_today, rejected_guard, rejection
from dashboard.coverage import coverage, default_quantity, fits_guard
from dashboard.errors import ActionError
from dashboard.formatting import strike as format_strike
from dashboard.queries import ACTIVE_STATUS_VALUES, Row, newest_done_scan_id
from dashboard.riskcheck import RiskGate, proposal
from shared import schema as s
from shared.db import utcnow_iso
from shared.trade import Action, IntentKind, IntentStatus, Right, Strategy

#: Contracts one approval may ask for.
MIN_QUANTITY, MAX_QUANTITY = 1, 100
#: What approving an opportunity of each strategy sells: the intent kind and the contract's right.
SELL_OF: dict[Strategy, tuple[IntentKind, Right]] = {
    Strategy.CSP: (IntentKind.SELL_PUT, Right.PUT),
    Strategy.CC: (IntentKind.SELL_CALL, Right.CALL),
}
#: Longest intent key (the ``intents.key`` column and IB's orderRef budget).
MAX_KEY_LENGTH = 64


def parse_quantity(raw: object, default: int | None, *, from_form: bool = False) -> int | None:
    """Validate a requested contract count: a whole number 1..100 (``None`` → ``default``).

    JSON must send an integer (booleans, fractions and strings are refused); a form
    (``from_form``) sends text, where a string of digits is accepted. ``default`` ``None`` lets
    :func:`approve_opportunity` choose (a covered call's default depends on the opportunity).
    """
    if raw is None or (from_form and raw == ""):
        return default
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif from_form and isinstance(raw, str):
        text = raw.strip()
        if text.isascii() and text.isdigit() and len(text) <= 19:  # "²".isdigit() is True; int() fails
            value = int(text)
    if value is None or not MIN_QUANTITY <= value <= MAX_QUANTITY:
        raise ActionError(
            400,
            f"quantity must be a whole number from {MIN_QUANTITY} to {MAX_QUANTITY}, got {raw!r}",
            "quantity",
        )
    return value


def intent_key(opp: Row) -> str:
    """The intent key, which becomes the IB orderRef: ``TW-CSP-<SYMBOL>-<YYYYMMDD>-<strike><P|C>-O<id>``.

    Example: ``TW-CSP-SPY-20261218-600P-O42``; strikes print like the option symbol (``22.5``).
    """
    key = (
        f"TW-{opp['strategy']}-{opp['symbol']}-{opp['expiry']}-"
        f"{format_strike(opp['strike'])}{opp['right']}-O{opp['id']}"
    )
    if len(key) > MAX_KEY_LENGTH:
        raise ActionError(
            422, f"intent key {key!r} is longer than {MAX_KEY_LENGTH} characters", "opportunity_id"
        )
    return key


def _active_intent_for(conn: Any, con_id: int) -> Row | None:
    i = s.intents.c
    stmt = select(i.key, i.status).where(i.con_id == con_id, i.status.in_(ACTIVE_STATUS_VALUES)).limit(1)
    row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def _kind(opp: Row, opportunity_id: int) -> IntentKind:
    """The intent kind for the opportunity's strategy; 409 for a strategy or right it cannot sell."""
    try:
        kind, right = SELL_OF[Strategy(opp["strategy"])]
    except ValueError:
        raise ActionError(
            409,
            f"opportunity {opportunity_id} has strategy {opp['strategy']!r}; only "
            f"{' and '.join(SELL_OF)} can be approved",
            "opportunity_id",
        ) from None
    if opp["right"] != right:
        raise ActionError(
            409,
            f"opportunity {opportunity_id} is a {opp['strategy']} on a {opp['right']!r} contract "
            f"({opp['local_symbol']}); a {opp['strategy']} sells right {right.value}",
            "opportunity_id",
        )
    return kind


def _check_call_size(conn: Any, opp: Row, quantity: int) -> None:
    """Refuse a covered call larger than the uncovered shares (positions now) or the scan's max."""
    most = int(opp["max_contracts"] or 0)
    sized = (
        f"{opp['symbol']}: opportunity {opp['id']} is sized for {most} contract(s) of uncovered shares "
        "(max_contracts when scanned)"
    )
    if quantity < MIN_QUANTITY:
        raise ActionError(409, f"{sized}; there is nothing to cover", "quantity")
    cov = coverage(conn, opp["symbol"])
    if quantity > cov.uncovered_contracts:
        raise ActionError(409, cov.refusal(quantity), "quantity")
    if quantity > most:
        raise ActionError(409, f"{sized}, asked for {quantity}", "quantity")


def _check(conn: Any, opp: Row | None, opportunity_id: int, quantity: int) -> IntentKind:
    """Raise the :class:`ActionError` that explains why ``opp`` cannot be approved right now;
    return the intent kind when it can."""
    if opp is None:
        raise ActionError(404, f"opportunity {opportunity_id} does not exist", "opportunity_id")
    kind = _kind(opp, opportunity_id)
    newest = newest_done_scan_id(conn)
    if opp["scan_id"] != newest:
        raise ActionError(
            409,
            f"opportunity {opportunity_id} belongs to scan {opp['scan_id']}, not the newest scan {newest}; "
            "its prices are out of date — reload the opportunities",
            "opportunity_id",
        )
    active = _active_intent_for(conn, opp["con_id"])
    if active:
        raise ActionError(
            409,
            f"{opp['local_symbol']} already has an active intent {active['key']} ({active['status']})",
            "opportunity_id",
            intent_key=active["key"],
        )
    pos = s.positions.c
    held = conn.execute(select(pos.quantity).where(pos.con_id == opp["con_id"], pos.quantity != 0)).scalar()
    if held is not None:
        raise ActionError(
            409,
            f"{opp['local_symbol']} is already held ({held:g} contracts): the page offers no Approve on a "
            "contract in the positions; sell a different strike or expiry",
            "opportunity_id",
        )
    rejected = rejection(conn, opp["con_id"])
    if rejected:
        raise ActionError(
            409,
            f"{opp['local_symbol']} was rejected by {rejected['actor']} at {rejected['created_at']}; "
            f"it stays hidden until its expiry {opp['expiry']}",
            "opportunity_id",
        )
    if kind is IntentKind.SELL_CALL:
        _check_call_size(conn, opp, quantity)
    return kind


def _gate(gate: RiskGate | None, conn: Any, opp: Row, kind: IntentKind, quantity: int) -> None:
    """Run the risk gate on selling ``quantity`` contracts of ``opp`` (no gate: no check)."""
    if gate is not None:
        p = proposal(kind, opp["symbol"], quantity, opp["strike"], opp["right"])
        gate.refuse_if_risky(conn, p)


def approve_opportunity(
    engine: Engine,
    opportunity_id: int,
    quantity: int | None = None,
    *,
    contracts: int = 1,
    gate: RiskGate | None = None,
) -> Row:
    """Create an ``approved`` intent to sell ``quantity`` contracts of opportunity ``opportunity_id``.

    A CSP opportunity becomes a ``sell_put`` intent, a CC one a ``sell_call``. ``quantity`` ``None``
    means :func:`dashboard.coverage.default_quantity` (``contracts`` is the strategy's
    ``orders.contracts``). The limit floor is the opportunity's bid: the executor never sells below it.
    Raises :class:`ActionError` (404 unknown; 409 stale scan, active intent on the contract, the contract
    already held (in the positions), a contract the user rejected, a covered call larger than the
    uncovered shares, or a refusal of ``gate``, the risk gate: the pages and the API always pass one); on
    any error nothing is written. Returns the new intent row.
    """
    o, i = s.opportunities.c, s.intents.c
    with engine.begin() as conn:
        row = conn.execute(select(s.opportunities).where(o.id == opportunity_id)).first()
        opp = dict(row._mapping) if row else None
        qty = quantity if quantity is not None or opp is None else default_quantity(opp, contracts)
        kind = _check(conn, opp, opportunity_id, qty or 0)
        assert opp is not None and qty is not None
        _gate(gate, conn, opp, kind, qty)
        key = intent_key(opp)
        now = utcnow_iso()
        values: dict[str, Any] = {
            "key": key,
            "source": "dashboard",
            "opportunity_id": opp["id"],
            "kind": kind.value,
            "action": Action.SELL.value,
            "sec_type": "OPT",
            "symbol": opp["symbol"],
            "con_id": opp["con_id"],
            "local_symbol": opp["local_symbol"],
            "expiry": opp["expiry"],
            "strike": opp["strike"],
            "right": opp["right"],
            "quantity": qty,
            "limit_floor": opp["bid"],
            "status": IntentStatus.APPROVED.value,
            "status_reason": "approved on the dashboard",
            "created_at": now,
            "updated_at": now,
        }
        # The checks above give the user a precise reason; this WHERE clause is what guarantees
        # the rules even when another request commits between the checks and the insert.
        newest = select(func.max(s.scans.c.id)).where(s.scans.c.status == "done").scalar_subquery()
        rules = [o.id == opp["id"], o.scan_id == newest]
        if kind is IntentKind.SELL_CALL:
            rules += [o.max_contracts >= qty, fits_guard(opp["symbol"], qty)]
        guard = and_(
            ~exists().where(i.con_id == opp["con_id"], i.status.in_(ACTIVE_STATUS_VALUES)),
            ~exists().where(s.positions.c.con_id == opp["con_id"], s.positions.c.quantity != 0),
            exists().where(*rules),
            halt_guard(),
            rejected_guard(opp["con_id"], market_today(conn)),
        )
        cols = list(values)
        stmt = s.intents.insert().from_select(
            cols, select(*[literal(values[c], s.intents.c[c].type) for c in cols]).where(guard)
        )
        try:
            inserted = conn.execute(stmt).rowcount
        except IntegrityError:  # the unique key: this opportunity was approved before
            inserted = 0
        if inserted == 1:
            created = conn.execute(select(s.intents).where(i.key == key)).one()
            return dict(created._mapping)
    # Lost a race (the transaction above wrote nothing): explain what changed meanwhile.
    with engine.connect() as conn:
        kind = _check(conn, opp, opportunity_id, qty)
        _gate(gate, conn, opp, kind, qty)
        existing = conn.execute(select(i.status).where(i.key == key)).scalar()
    if existing:
        raise ActionError(
            409,
            f"intent {key} ({existing}) already exists for opportunity {opportunity_id}",
            "opportunity_id",
            key,
        )
    raise ActionError(
        409,
        f"opportunity {opportunity_id} changed while it was being approved (another approval, a new scan "
        "or a halt); reload the opportunities and try again",
        "opportunity_id",
    )
