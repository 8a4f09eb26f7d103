"""The dashboard's writes: intents created when the user approves an opportunity.

An approval is one conditional ``INSERT … SELECT … WHERE NOT EXISTS`` inside a transaction, so two
simultaneous clicks (or two browser tabs) can never leave two active intents for one contract, and
nothing is written when any check fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, exists, func, literal, select
from sqlalchemy.exc import IntegrityError

from dashboard.formatting import strike as format_strike
from dashboard.queries import ACTIVE_INTENT_STATUSES, Row, newest_done_scan_id
from shared import schema as s
from shared.db import utcnow_iso

#: Contracts one approval may ask for.
MIN_QUANTITY, MAX_QUANTITY = 1, 100
#: Longest intent key (the ``intents.key`` column and IB's orderRef budget).
MAX_KEY_LENGTH = 64


@dataclass
class ActionError(Exception):
    """A refused action: HTTP ``status``, a one-line ``message`` and the offending ``field``."""

    status: int
    message: str
    field: str | None = None
    intent_key: str | None = None

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, Any]:
        """The API's error body."""
        body: dict[str, Any] = {"error": self.message, "field": self.field}
        if self.intent_key:
            body["intent_key"] = self.intent_key
        return body


def parse_quantity(raw: object, default: int, *, from_form: bool = False) -> int:
    """Validate a requested contract count: a whole number 1..100 (``None`` → ``default``).

    JSON must send an integer (booleans, fractions and strings are refused); a form
    (``from_form``) sends text, where a string of digits is accepted.
    """
    if raw is None or (from_form and raw == ""):
        return default
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif from_form and isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
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
    stmt = select(i.key, i.status).where(i.con_id == con_id, i.status.in_(ACTIVE_INTENT_STATUSES)).limit(1)
    row = conn.execute(stmt).first()
    return dict(row._mapping) if row else None


def _check(conn: Any, opp: Row | None, opportunity_id: int) -> None:
    """Raise the :class:`ActionError` that explains why ``opp`` cannot be approved right now."""
    if opp is None:
        raise ActionError(404, f"opportunity {opportunity_id} does not exist", "opportunity_id")
    if opp["strategy"] != "CSP":
        raise ActionError(
            409,
            f"opportunity {opportunity_id} is a {opp['strategy']}; only CSP can be approved",
            "opportunity_id",
        )
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


def approve_opportunity(engine: Engine, opportunity_id: int, quantity: int) -> Row:
    """Create an ``approved`` intent to sell ``quantity`` contracts of opportunity ``opportunity_id``.

    The limit floor is the opportunity's bid: the executor never sells below it. Raises
    :class:`ActionError` (404 unknown, 409 stale scan or active intent on the contract); on any
    error nothing is written. Returns the new intent row.
    """
    o, i = s.opportunities.c, s.intents.c
    with engine.begin() as conn:
        row = conn.execute(select(s.opportunities).where(o.id == opportunity_id)).first()
        opp = dict(row._mapping) if row else None
        _check(conn, opp, opportunity_id)
        assert opp is not None
        key = intent_key(opp)
        now = utcnow_iso()
        values: dict[str, Any] = {
            "key": key,
            "source": "dashboard",
            "opportunity_id": opp["id"],
            "kind": "open_csp",
            "action": "SELL",
            "sec_type": "OPT",
            "symbol": opp["symbol"],
            "con_id": opp["con_id"],
            "local_symbol": opp["local_symbol"],
            "expiry": opp["expiry"],
            "strike": opp["strike"],
            "right": opp["right"],
            "quantity": quantity,
            "limit_floor": opp["bid"],
            "status": "approved",
            "status_reason": "approved on the dashboard",
            "created_at": now,
            "updated_at": now,
        }
        # The checks above give the user a precise reason; this WHERE clause is what guarantees
        # the rules even when another request commits between the checks and the insert.
        newest = select(func.max(s.scans.c.id)).where(s.scans.c.status == "done").scalar_subquery()
        guard = and_(
            ~exists().where(i.con_id == opp["con_id"], i.status.in_(ACTIVE_INTENT_STATUSES)),
            exists().where(o.id == opp["id"], o.scan_id == newest),
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
        _check(conn, opp, opportunity_id)
        existing = conn.execute(select(i.status).where(i.key == key)).scalar()
    status = f" ({existing})" if existing else ""
    raise ActionError(
        409, f"intent {key}{status} already exists for opportunity {opportunity_id}", "opportunity_id", key
    )
