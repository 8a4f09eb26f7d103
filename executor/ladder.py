"""The repricing ladder and the cancel rules of a working limit order: pure decisions on plain values.

Rule (``docs/wheel-rules.md``, "Order execution"): every ``reprice_seconds`` move a working order's limit
``reprice_fraction`` of the way from the current limit to the *natural* price — the bid for a SELL, the ask
for a BUY — at most ``reprice_max_steps`` steps, never past the intent's floor (minimum credit for a SELL,
maximum debit for a BUY); cancel an unfilled order at the intent's deadline and 5 minutes before the close of
the regular session.

Units: prices are dollars per share. A combo (BAG) order is priced net, as IB sends it:
``Σ sign × ratio × leg price`` with sign +1 for BUY legs and −1 for SELL legs, so a negative limit of a BUY
combo is a credit received (:func:`combo_bid_ask`). Nothing here assumes a price is positive: a SELL always
concedes downwards (towards its bid) and a BUY upwards (towards its ask), whatever the sign.

Rounding: each new limit is rounded to the tick *towards* the natural price (down for a SELL, up for a BUY),
so a step always concedes at least one tick, but never beyond the natural price (on the tick on the order's
side of it) nor beyond the floor (rounded to the tick on the order's side of it, so that a floor between two
ticks is never crossed). A step that cannot move the limit towards the natural price is no step: the order
holds (:attr:`Move.HOLD`) and keeps its remaining steps.

The executor's job (:mod:`executor.repricer`) gathers the values (TWS quotes and clock, the order, the
intent, the steps done so far from ``order_events``), calls these functions and carries out the decision.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.marketcal import Session
from shared.optionmath import option_tick, round_to_tick
from shared.trade import Action

#: The exchange's time zone (US Eastern, daylight saving included), for the messages.
EASTERN = ZoneInfo("America/New_York")
#: Unfilled orders are cancelled this long before the close of the regular session (wheel-rules).
CANCEL_BEFORE_CLOSE = timedelta(minutes=5)

#: price (dollars per share) → the contract's minimum price increment there (dollars).
TickRule = Callable[[float], float]

#: ``repriced 2/4: LMT 1.15 → 1.11 (natural 1.00, floor 1.05)`` — the order-event message of a step; the
#: step count and the time of the last step are read back from these rows (no extra column).
STEP_MESSAGE = re.compile(r"^repriced (\d+)/(\d+): ")


def fixed_tick(tick: float) -> TickRule:
    """The same increment at every price (combos quote in $0.01 at SMART)."""
    return lambda _price: tick


def option_tick_rule(all_prices_penny: bool = False, penny_pilot: bool = True) -> TickRule:
    """The Penny Interval Program's increment at each price (:func:`shared.optionmath.option_tick`)."""
    return lambda price: option_tick(price, penny_pilot=penny_pilot, all_prices_penny=all_prices_penny)


def natural_price(action: Action, bid: float, ask: float) -> float:
    """The price at which the order would trade at once: the bid for a SELL, the ask for a BUY."""
    return bid if action is Action.SELL else ask


@dataclass(frozen=True)
class LegQuote:
    """One leg of a combo with its quote: its action in the combo, contracts per combo unit, bid and ask in
    dollars per share."""

    action: Action
    ratio: int
    bid: float
    ask: float


def combo_bid_ask(legs: Sequence[LegQuote]) -> tuple[float, float]:
    """The combo's net (bid, ask) in dollars per share, as IB prices a BAG: BUY legs count + (at their bid
    for the combo's bid, their ask for its ask), SELL legs count − (at their ask for the bid, their bid for
    the ask). Example: BUY the old put (1.00/1.10), SELL the new one (1.50/1.60) → (−0.60, −0.40): buying the
    combo receives 0.40 at its ask, selling it pays 0.60 at its bid.
    """
    bid = sum(leg.ratio * (leg.bid if leg.action is Action.BUY else -leg.ask) for leg in legs)
    ask = sum(leg.ratio * (leg.ask if leg.action is Action.BUY else -leg.bid) for leg in legs)
    return _clean(bid), _clean(ask)


def _clean(price: float) -> float:
    """Strip binary float noise (0.1 + 0.2 → 0.3) so that tick arithmetic sees the price a human writes."""
    return round(price, 9) + 0.0  # + 0.0 turns -0.0 into 0.0


class Move(StrEnum):
    """What the ladder does now."""

    STEP = "step"  # modify the order to ``new_limit``
    HOLD = "hold"  # nothing now (no quote, marketable, at the floor, within a tick of the natural price)
    DONE = "done"  # every step is used: the order keeps its limit until it fills or is cancelled


@dataclass(frozen=True)
class LadderState:
    """A working order as the ladder sees it.

    ``limit`` the order's current limit, ``bid``/``ask`` the market now (the combo's net quote for a BAG;
    ``None`` without a two-sided quote), ``floor`` the intent's floor on the same scale (``None``: none),
    ``steps_done`` steps already taken. Prices in dollars per share.
    """

    action: Action
    limit: float
    bid: float | None
    ask: float | None
    floor: float | None
    steps_done: int


@dataclass(frozen=True)
class LadderDecision:
    """The ladder's decision with every number that decided it (dollars per share)."""

    move: Move
    reason: str
    action: Action
    limit: float
    new_limit: float | None = None  # the limit to send (STEP only)
    natural: float | None = None
    floor: float | None = None  # the floor on the tick, as applied
    step: int = 0  # the number of this step (STEP), else the steps done
    max_steps: int = 0
    target: float | None = None  # limit + fraction × (natural − limit), before rounding

    @property
    def message(self) -> str:
        """The order-event line the dashboard shows, e.g. ``repriced 1/4: LMT 1.20 → 1.15 (natural 1.00,
        floor 1.05)`` or ``reprice held: at the floor (LMT 1.05, natural 1.00, floor 1.05)``."""
        floor = f"floor {money(self.floor)}" if self.floor is not None else "no floor"
        natural = money(self.natural) if self.natural is not None else "none"
        if self.move is Move.STEP:
            assert self.new_limit is not None
            return (
                f"repriced {self.step}/{self.max_steps}: LMT {money(self.limit)} → {money(self.new_limit)} "
                f"(natural {natural}, {floor})"
            )
        word = "held" if self.move is Move.HOLD else "done"
        return f"reprice {word}: {self.reason} (LMT {money(self.limit)}, natural {natural}, {floor})"


def money(price: float) -> str:
    """``1.2`` → ``"1.20"``, ``-0.4`` → ``"-0.40"``; up to 4 decimals when the price has them."""
    text = f"{price + 0.0:.4f}".rstrip("0")
    return text if len(text.partition(".")[2]) >= 2 else f"{price + 0.0:.2f}"


def _on_side(price: float, action: Action, tick: TickRule) -> float:
    """``price`` on the tick grid, rounded to the order's own side (up for a SELL, down for a BUY)."""
    return round_to_tick(price, tick(price), "up" if action is Action.SELL else "down")


def next_limit(state: LadderState, fraction: float, max_steps: int, tick: TickRule) -> LadderDecision:
    """The ladder's next move for one working order (see the module docstring).

    ``fraction`` of the way (0 < fraction ≤ 1) from ``state.limit`` to the natural price; ``max_steps`` steps
    at most; ``tick`` the contract's increment at a price. A SELL moves down towards its bid, a BUY up towards
    its ask; the new limit is rounded to the tick towards the natural price, never beyond the natural price
    nor beyond the floor. Raises ``ValueError`` on a fraction outside (0, 1] or a non-finite limit.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be within (0, 1], got {fraction!r}")
    if not math.isfinite(state.limit):
        raise ValueError(f"limit must be finite, got {state.limit!r}")
    action, limit = state.action, state.limit
    floor = _on_side(state.floor, action, tick) if state.floor is not None else None
    held = LadderDecision(
        Move.HOLD, "", action, limit, floor=floor, step=state.steps_done, max_steps=max_steps
    )
    if state.steps_done >= max_steps:
        return replace(held, move=Move.DONE, reason=f"all {max_steps} steps used")
    if state.bid is None or state.ask is None or not (math.isfinite(state.bid) and math.isfinite(state.ask)):
        return replace(held, reason="no two-sided quote")
    if state.bid > state.ask:
        return replace(held, reason="crossed quote")
    natural = natural_price(action, _clean(state.bid), _clean(state.ask))
    held = replace(held, natural=natural)
    concede = -1.0 if action is Action.SELL else 1.0  # the direction in which the limit gives way
    if concede * (natural - limit) <= 0:
        return replace(held, reason="marketable: the natural price is at or better than the limit")
    target = _clean(limit + fraction * (natural - limit))
    new = round_to_tick(target, tick(target), "down" if action is Action.SELL else "up")
    natural_tick = _on_side(natural, action, tick)  # never beyond the natural price
    new = max(new, natural_tick) if action is Action.SELL else min(new, natural_tick)
    at_floor = False
    if floor is not None:
        clamped = max(new, floor) if action is Action.SELL else min(new, floor)
        at_floor = clamped != new
        new = clamped
    if concede * (new - limit) <= 1e-9:
        reason = "at the floor" if at_floor else "within a tick of the natural price"
        return replace(held, reason=reason, target=target)
    return replace(
        held, move=Move.STEP, reason="step", new_limit=new, target=target, step=state.steps_done + 1
    )


def step_number(message: str | None) -> int | None:
    """The step an order-event message records (``repriced 2/4: …`` → 2), or ``None`` for any other event."""
    m = STEP_MESSAGE.match(message or "")
    return int(m.group(1)) if m else None


# -- cancels ----------------------------------------------------------------------------------------------


class Phase(StrEnum):
    """Where TWS's clock is in the trading day."""

    CLOSED = "closed"  # outside the regular session: quotes are stale, nothing fills, no repricing
    OPEN = "open"  # the regular session: the ladder works
    CLOSING = "closing"  # its last minutes (CANCEL_BEFORE_CLOSE): unfilled orders are cancelled


def session_phase(
    now: datetime, session: Session | None, before_close: timedelta = CANCEL_BEFORE_CLOSE
) -> Phase:
    """Closed outside the regular ``session``, closing in its last ``before_close`` (the cancel window),
    open otherwise. ``now`` is TWS's clock (aware)."""
    if session is None or not session.open <= now < session.close:
        return Phase.CLOSED
    return Phase.CLOSING if now >= session.close - before_close else Phase.OPEN


def deadline_of(created_at: datetime, minutes: float) -> datetime | None:
    """An intent's deadline: its approval time + ``minutes`` (``None`` when ``minutes`` is 0: no deadline)."""
    return created_at + timedelta(minutes=minutes) if minutes > 0 else None


def cancel_reason(
    tws_now: datetime,
    session: Session | None,
    wall_now: datetime,
    deadline: datetime | None,
    before_close: timedelta = CANCEL_BEFORE_CLOSE,
) -> str | None:
    """Why a working order must be cancelled now, as the order-event line, or ``None``.

    - the intent's ``deadline`` has passed on the clock that stamped the intent (``wall_now``, the machine's:
      ``intents.created_at`` is written with it), e.g. ``cancelled: deadline 14:32 ET passed``;
    - TWS's clock (``tws_now``) is in the last ``before_close`` of the regular ``session``, e.g.
      ``cancelled: 5 min before the close (16:00 ET)`` (13:00 ET on an early close).
    """
    if deadline is not None and wall_now >= deadline:
        return f"cancelled: deadline {_et(deadline)} passed"
    if session is not None and session_phase(tws_now, session, before_close) is Phase.CLOSING:
        minutes = before_close.total_seconds() / 60
        return f"cancelled: {minutes:g} min before the close ({_et(session.close)})"
    return None


def _et(when: datetime) -> str:
    """``14:32 ET``: an instant as the exchange's wall-clock time."""
    return f"{when.astimezone(EASTERN):%H:%M} ET"
