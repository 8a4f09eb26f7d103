"""The monitor's management loop, run at the end of every refresh: each short option held is checked
against the management rules (:func:`shared.management.evaluate`); what fires is stored as a decision
and, in ``approve`` / ``auto`` mode, as an intent for the executor, and alerted once.

1. Upkeep: an open decision follows its intent — ``filled`` when the intent filled, ``lapsed`` when it
   ended unfilled (``rejected`` when the user cancelled the proposal), ``approved`` once the user approved
   it; an open decision whose position is gone lapses, and its intent is cancelled if the executor has
   not claimed it yet (``proposed`` or ``approved``: a buy to close must not open a long option). An
   intent being placed or working is left to the executor; the decision follows when it ends.
2. A trigger is stored only once per position and rule: not while a decision of that position and rule is
   open or final (alerted, rejected, filled), nor within :data:`REFIRE_AFTER_SECONDS` of one that lapsed.
3. At most one order per position at a time: an order-creating trigger waits while the position has an
   open decision of another rule or an open intent (proposed, approved, placing, working) on its contract.
4. ``approve`` mode writes the intent ``proposed`` (decision ``pending``), ``auto`` writes it ``approved``
   (decision ``approved``); alert mode and hold actions write the decision ``alerted``. Decision, intent
   and legs are one transaction; the partial unique index on open decisions refuses a duplicate.

Intents: ``buy_to_close`` (BUY the option, ``limit_floor`` = the maximum debit per share) or ``roll`` (one
combo BUY: leg 1 BUY the old option, leg 2 SELL the new one, ratio 1 each; ``limit_floor`` = −the minimum
net credit, IB's sign for a combo credit). Keys: ``TW-MGT-<RULE>-<local symbol>-D<decision id>``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from monitor.rolls import RollFinder, RollSearch
from monitor.snapshot import model_delta, underlying_price
from shared.db import parse_ts, utcnow, utcnow_iso
from shared.management import ShortOption, Trigger, choose_roll, evaluate, rule_label, to_decision
from shared.management import show_symbol as _show
from shared.marketcal import ET
from shared.optionmath import calendar_dte
from shared.schema import decisions, intent_legs, intents
from shared.strategy import Strategy
from shared.trade import (
    ACTIVE_INTENT_STATUSES,
    FINAL_DECISION_STATUSES,
    OPEN_DECISION_STATUSES,
    OPEN_INTENT_STATUSES,
    Decision,
    DecisionStatus,
    IntentKind,
    IntentStatus,
    ManagementAction,
    ManagementRule,
    Right,
    RuleMode,
)

#: Seconds after a decision lapsed (its order ended unfilled) before the same rule may fire again on the
#: same position: a rule whose order keeps being refused (e.g. outside trading hours) does not loop.
REFIRE_AFTER_SECONDS = 900.0
#: IB's orderRef (the intent key) is kept to the ``intents.key`` column's width.
MAX_KEY = 64

S = DecisionStatus
_OPEN = [s.value for s in OPEN_DECISION_STATUSES]
_OPEN_INTENT = [s.value for s in OPEN_INTENT_STATUSES]
#: Intent statuses in which no order exists yet: cancelled when their position goes.
_UNPLACED = {IntentStatus.PROPOSED.value, IntentStatus.APPROVED.value}
_ENDED_UNFILLED = {IntentStatus.CANCELLED.value, IntentStatus.REJECTED.value, IntentStatus.FAILED.value}
#: alert(severity, category, title, body, dedup_key)
AlertFn = Callable[..., None]


def intent_key(rule: ManagementRule, local_symbol: str, decision_id: int) -> str:
    """``TW-MGT-<RULE>-<local symbol without spaces>-D<decision id>`` (the IB orderRef), at most 64 chars."""
    head, tail = f"TW-MGT-{rule.value.upper().replace('_', '-')}-", f"-D{decision_id}"
    compact = "".join(local_symbol.split())[: MAX_KEY - len(head) - len(tail)]
    return f"{head}{compact}{tail}"


def _side(x: Any) -> float | None:
    """A quote side as a finite number ≥ 0, else ``None`` (IB: -1 or NaN)."""
    return float(x) if isinstance(x, int | float) and math.isfinite(x) and x >= 0 else None


def short_options(items: Iterable[Any], ticker_of: Callable[[int], Any], today: date) -> list[ShortOption]:
    """A :class:`ShortOption` per short option of ib_async portfolio ``items``, with the quote and model
    greeks of its streamed ticker (``ticker_of(conId)``, ``None``: not streamed) and its DTE from ``today``
    (the US/Eastern date of TWS's clock). The credit is ``|averageCost| ÷ multiplier`` dollars per share."""
    items = list(items)
    out = []
    for item in items:
        c = item.contract
        if c.secType != "OPT" or item.position >= 0 or not c.lastTradeDateOrContractMonth:
            continue
        multiplier = int(float(c.multiplier)) if c.multiplier else 100
        ticker = ticker_of(c.conId)
        greeks = getattr(ticker, "modelGreeks", None) if ticker is not None else None
        out.append(
            ShortOption(
                symbol=c.symbol,
                con_id=int(c.conId),
                local_symbol=c.localSymbol or c.symbol,
                right=Right(c.right[:1]),
                strike=float(c.strike),
                expiry=c.lastTradeDateOrContractMonth[:8],
                contracts=int(round(-item.position)),
                multiplier=multiplier,
                credit=abs(float(item.averageCost or 0.0)) / multiplier,
                bid=_side(getattr(ticker, "bid", None)),
                ask=_side(getattr(ticker, "ask", None)),
                delta=model_delta(greeks) if greeks is not None else None,
                underlying_price=underlying_price(ticker, items, item),
                dte=calendar_dte(c.lastTradeDateOrContractMonth[:8], today),
            )
        )
    return out


def _title(d: Decision) -> str:
    """The alert's title: the rule, the contract and what happens (``Profit take on KO 261218P00065000:
    approve buy to close``)."""
    new = _show(d.new_local_symbol) if d.new_local_symbol else ""
    if d.mode is RuleMode.ALERT or d.action is ManagementAction.HOLD:
        what = {
            ManagementAction.CLOSE: "consider buying to close",
            ManagementAction.ROLL: "consider rolling out",
            ManagementAction.HOLD: (
                "let it be assigned" if d.rule is ManagementRule.ASSIGNMENT else "in the money, watch it"
            ),
        }[d.action]
    elif d.action is ManagementAction.ROLL:
        what = f"{'approve roll' if d.mode is RuleMode.APPROVE else 'rolling'} to {new}"
    else:
        what = "approve buy to close" if d.mode is RuleMode.APPROVE else "buying to close"
    label = rule_label(d.rule)
    return f"{label[:1].upper()}{label[1:]} on {_show(d.local_symbol)}: {what}"


def _body(d: Decision, key: str | None) -> str:
    def num(x: float | None, fmt: str) -> str:
        return "–" if x is None else format(x, fmt)

    profit = "–" if d.profit_fraction is None else f"{d.profit_fraction * 100:.0f} %"
    lines = [
        d.reason,
        f"credit ${d.credit:.2f}/share, mark ${num(d.mark, '.2f')}, profit {profit}, {d.dte} DTE, "
        f"delta {num(d.delta, '.2f')}, {d.symbol} ${num(d.underlying_price, '.2f')}, "
        f"{d.contracts} contract(s)",
    ]
    if key is not None:
        state = (
            "proposed: approve or reject it on the dashboard"
            if d.mode is RuleMode.APPROVE
            else "approved: the executor places it now"
        )
        lines.append(f"intent {key} ({state})")
    return "\n".join(lines)


class Manager:
    """Applies the management rules at each monitor refresh (see the module docstring)."""

    def __init__(
        self, engine: Engine, strategy: Strategy, log: logging.Logger, alert: AlertFn, finder: RollFinder
    ) -> None:
        self.engine = engine
        self.strategy = strategy
        self.log = log
        self.alert = alert
        self.finder = finder
        self._deferred: set[tuple[int, ManagementRule, str]] = set()  # logged once each

    async def run(
        self, items: list[Any], ticker_of: Callable[[int], Any], tws_now: datetime, ready: bool
    ) -> None:
        """One pass over TWS's portfolio ``items``; ``ticker_of(conId)`` the streamed ticker of a held
        option; ``tws_now`` TWS's clock; ``ready`` whether TWS's account data has arrived (without it, a
        position missing from ``items`` is not taken as gone)."""
        today = tws_now.astimezone(ET).date()
        shorts = short_options(items, ticker_of, today)
        self._upkeep({s.con_id for s in shorts}, ready)
        if not shorts:
            return
        seen, busy = self._state([s.con_id for s in shorts])
        search = self.finder.search(today)
        for option in shorts:
            rules = self.strategy.management_rules(option.symbol)
            for trigger in evaluate(option, rules):
                if (option.con_id, trigger.rule) in seen:
                    continue
                if trigger.places_order and option.con_id in busy:
                    continue
                if await self._act(option, trigger, search):
                    seen.add((option.con_id, trigger.rule))
                    if trigger.places_order:
                        busy.add(option.con_id)

    # -- one trigger -----------------------------------------------------------------------------------
    async def _act(self, option: ShortOption, trigger: Trigger, search: RollSearch) -> bool:
        """Decide on ``trigger`` and store it; ``False`` when it waits for a later refresh."""
        rules = self.strategy.management_rules(option.symbol)
        roll = None
        if trigger.places_order:
            if option.mark is None:
                self._defer(option, trigger, "no two-sided quote to price the order yet")
                return False
            if trigger.action is ManagementAction.ROLL:
                put = option.right is Right.PUT
                entry = (
                    self.strategy.put_rules(option.symbol) if put else self.strategy.call_rules(option.symbol)
                )
                found = await search.candidates(option, entry)
                if found is None:
                    self._defer(option, trigger, "roll targets could not be read from TWS")
                    return False
                roll = choose_roll(option, found, entry, rules.roll_min_net_credit)
                self.log.info(
                    "%s: %d roll candidate(s) read, chosen: %s",
                    option.local_symbol,
                    len(found),
                    roll.local_symbol if roll else "none",
                )
        decision = to_decision(option, trigger, rules, roll)
        stored = self._store(decision)
        if stored is None:
            return True  # another writer holds the open decision: it is seen
        decision_id, key = stored
        self.log.info(
            "decision %d (%s, %s, %s): %s",
            decision_id,
            decision.rule,
            decision.mode,
            key or "alert",
            decision.reason,
        )
        self.alert(
            decision.severity,
            "management",
            _title(decision),
            _body(decision, key),
            dedup_key=f"decision:{decision_id}",
        )
        return True

    def _defer(self, option: ShortOption, trigger: Trigger, why: str) -> None:
        mark = (option.con_id, trigger.rule, why)
        if mark not in self._deferred:
            self._deferred.add(mark)
            self.log.info("%s on %s waits: %s", trigger.rule, option.local_symbol, why)

    # -- database ----------------------------------------------------------------------------------------
    def _state(self, con_ids: list[int]) -> tuple[set[tuple[int, ManagementRule]], set[int]]:
        """(position, rule) pairs that must not fire again now, and positions busy with an order."""
        d, i, legs = decisions.c, intents.c, intent_legs.c
        final = {s.value for s in FINAL_DECISION_STATUSES} | set(_OPEN)
        cutoff = utcnow() - timedelta(seconds=REFIRE_AFTER_SECONDS)
        seen: set[tuple[int, ManagementRule]] = set()
        busy: set[int] = set()
        with self.engine.connect() as conn:
            for row in conn.execute(
                select(d.con_id, d.rule, d.status, d.updated_at).where(d.con_id.in_(con_ids))
            ):
                recent_lapse = row.status == S.LAPSED.value and parse_ts(row.updated_at) > cutoff
                if row.status in final or recent_lapse:
                    seen.add((row.con_id, ManagementRule(row.rule)))
                if row.status in _OPEN:
                    busy.add(row.con_id)
            busy.update(conn.execute(select(i.con_id).where(i.status.in_(_OPEN_INTENT))).scalars())
            busy.update(
                conn.execute(
                    select(legs.con_id)
                    .select_from(intent_legs.join(intents, i.key == legs.intent_key))
                    .where(i.status.in_(_OPEN_INTENT))
                ).scalars()
            )
        return seen, busy

    def _store(self, decision: Decision) -> tuple[int, str | None] | None:
        """Insert the decision (and its intent and legs) in one transaction: (decision id, intent key or
        ``None``), or ``None`` when an open decision of that position and rule already exists."""
        order = decision.mode is not RuleMode.ALERT and decision.action is not ManagementAction.HOLD
        approve = decision.mode is RuleMode.APPROVE
        status = (S.PENDING if approve else S.APPROVED) if order else S.ALERTED
        now = utcnow_iso()
        try:
            with self.engine.begin() as conn:
                decision_id = int(
                    conn.execute(
                        insert(decisions)
                        .values(**_decision_row(decision, status, now))
                        .returning(decisions.c.id)
                    ).scalar_one()
                )
                if not order:
                    return decision_id, None
                key = intent_key(decision.rule, decision.local_symbol, decision_id)
                conn.execute(update(decisions).where(decisions.c.id == decision_id).values(intent_key=key))
                intent_status = IntentStatus.PROPOSED if approve else IntentStatus.APPROVED
                _insert_intent(conn, decision, key, intent_status, now)
        except IntegrityError:
            self.log.info("%s on %s: an open decision exists already", decision.rule, decision.local_symbol)
            return None
        return decision_id, key

    def _upkeep(self, held: set[int], ready: bool) -> None:
        """Move open decisions on with their intents and positions (see the module docstring, step 1)."""
        d, i = decisions.c, intents.c
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(
                    d.id, d.con_id, d.status, d.intent_key, d.local_symbol, i.status.label("intent_status")
                )
                .select_from(decisions.outerjoin(intents, i.key == d.intent_key))
                .where(d.status.in_(_OPEN))
            ).all()
            for r in rows:
                new, why = None, ""
                intent = r.intent_status
                if intent == IntentStatus.FILLED.value:
                    new, why = S.FILLED, "its intent filled"
                elif intent is None or intent in _ENDED_UNFILLED:
                    rejected = r.status == S.PENDING.value and intent == IntentStatus.CANCELLED.value
                    new, why = (
                        (S.REJECTED, "proposal rejected") if rejected else (S.LAPSED, f"intent {intent}")
                    )
                elif r.status == S.PENDING.value and intent in {s.value for s in ACTIVE_INTENT_STATUSES}:
                    new, why = S.APPROVED, "proposal approved"
                elif ready and r.con_id not in held and intent in _UNPLACED:
                    reason = f"cancelled: {_show(r.local_symbol)} is no longer held"
                    cancelled = conn.execute(
                        update(intents)
                        .where(i.key == r.intent_key, i.status == intent)
                        .values(
                            status=IntentStatus.CANCELLED.value, status_reason=reason, updated_at=utcnow_iso()
                        )
                    ).rowcount
                    if cancelled:
                        new, why = S.LAPSED, "position gone before its order was placed"
                if new is None:
                    continue
                conn.execute(
                    update(decisions)
                    .where(d.id == r.id, d.status == r.status)
                    .values(status=new.value, updated_at=utcnow_iso())
                )
                self.log.info("decision %d (%s): %s → %s (%s)", r.id, r.intent_key, r.status, new.value, why)


def _decision_row(d: Decision, status: DecisionStatus, now: str) -> dict[str, Any]:
    """The ``decisions`` row of ``d`` (enums as their values; ``limit`` is the ``limit_price`` column)."""
    row = {k: getattr(v, "value", v) for k, v in asdict(d).items() if k not in ("severity", "limit")}
    return row | {
        "status": status.value,
        "limit_price": d.limit,
        "decided_by": "monitor",
        "created_at": now,
        "updated_at": now,
    }


def _insert_intent(conn: Connection, d: Decision, key: str, status: IntentStatus, now: str) -> None:
    """The decision's intent: a buy to close, or a roll combo with its two legs (module docstring)."""
    roll = d.action is ManagementAction.ROLL
    conn.execute(
        insert(intents).values(
            key=key,
            source="monitor",
            kind=(IntentKind.ROLL if roll else IntentKind.BUY_TO_CLOSE).value,
            action="BUY",
            sec_type="BAG" if roll else "OPT",
            symbol=d.symbol,
            con_id=d.con_id,
            local_symbol=d.local_symbol,
            expiry=d.expiry,
            strike=d.strike,
            right=d.right.value,
            quantity=d.contracts,
            limit_floor=(-d.limit if d.limit is not None else None) if roll else d.limit,
            status=status.value,
            status_reason=f"{rule_label(d.rule)}: {d.reason}",
            created_at=now,
            updated_at=now,
        )
    )
    if not roll:
        return
    assert d.new_con_id is not None and d.new_local_symbol is not None
    common = {"intent_key": key, "ratio": 1, "sec_type": "OPT", "symbol": d.symbol, "right": d.right.value}
    legs = [
        (1, d.con_id, "BUY", d.local_symbol, d.expiry, d.strike),
        (2, d.new_con_id, "SELL", d.new_local_symbol, d.new_expiry, d.new_strike),
    ]
    names = ("leg_no", "con_id", "action", "local_symbol", "expiry", "strike")
    conn.execute(insert(intent_legs), [common | dict(zip(names, leg, strict=True)) for leg in legs])
