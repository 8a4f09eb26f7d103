"""The executor's risk gate: the limits of ``docs/wheel-rules.md`` ("Risk limits") checked on every intent
before anything reaches TWS. A thin loop (``docs/style.md``): it gathers the snapshot — TWS's clock (the
simulator may run fast), the NYSE session at that time (:class:`shared.marketcal.XnysSessions`), the TWS
restart window it falls in, the database's account, exposure, halt switch and daily-loss halt
(:func:`shared.riskdata.load_snapshot`) — and asks :func:`shared.risk.check`; all arithmetic lives there.

Two looks per intent:

1. :meth:`RiskGate.check` before the contract is qualified and quoted: the halt switch, the daily-loss halt,
   regular hours, the restart window, and for opening orders the account limits (margin cushion, the
   account figures' age, and for a put buying power, the per-symbol limit, total put collateral, the cash
   reserve);
2. :meth:`RiskGate.check_quote` right before ``placeOrder``: the age of the quote the limit is priced on.

A refused intent ends ``rejected`` with ``refused by the risk gate before TWS: <reason>`` (the reason names
the number that failed and its limit), a log line and one ``risk`` alert per intent (dedup key
``risk:<intent key>``). Every refusal alerts as a ``warning``: the events that stop trading are alerted where
they happen (the monitor's daily-loss halt is ``critical``; the halt switch is the user's own act), and an
order refused under them is their consequence, not a new emergency.

An opening order finds no account figures when the executor starts before the monitor has read the account
once (``make start`` starts them together): the gate waits up to :data:`ACCOUNT_WAIT_SECONDS` for the first
snapshot before refusing.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import select

from shared.marketcal import XnysSessions
from shared.risk import Proposal, Refusal, RiskSnapshot, check, market_refusals
from shared.riskdata import load_snapshot
from shared.schema import account_snapshots
from shared.trade import Intent, IntentKind, IntentStatus
from shared.twswindows import window_at

if TYPE_CHECKING:
    from executor.app import Executor

#: Seconds to wait for TWS's clock.
CLOCK_TIMEOUT_SECONDS = 8.0
#: Seconds an opening order waits for the monitor's first account snapshot before it is refused.
ACCOUNT_WAIT_SECONDS = 20.0
#: Seconds between two looks for that snapshot.
ACCOUNT_LOOK_SECONDS = 0.5
#: The prefix of a refused intent's ``status_reason``.
REFUSED = "refused by the risk gate before TWS: "


def proposal(intent: Intent) -> Proposal:
    """The gate's view of ``intent``: its kind, symbol, contracts, strike and right (a roll is checked as a
    roll: market checks only, no collateral)."""
    return Proposal(intent.kind, intent.symbol, intent.quantity, intent.strike, intent.right)


class RiskGate:
    """Runs :func:`shared.risk.check` for the executor and refuses what it finds."""

    def __init__(self, executor: Executor) -> None:
        self.x = executor
        self.sessions = XnysSessions()

    async def snapshot(self, intent: Intent) -> RiskSnapshot:
        """What the gate looks at now, on TWS's clock. Raises ``TimeoutError`` / ``ConnectionError`` when
        TWS does not tell the time (nothing was sent: the intent is re-queued)."""
        async with asyncio.timeout(CLOCK_TIMEOUT_SECONDS):
            now = await self.x.conn.current_time()
        session = await self.sessions.session_at_async(now)
        window = window_at(self.x.settings.restart_windows, now)
        with self.x.engine.connect() as conn:
            return load_snapshot(
                conn,
                now=now,
                session=session,
                always_open=self.x.settings.MARKET_HOURS == "always",
                restart_window=window.label if window is not None else None,
                exclude_key=intent.key,
            )

    async def check(self, intent: Intent) -> RiskSnapshot | None:
        """Every limit but the quote's age. ``None`` when the intent was refused (and rejected); else the
        snapshot, for :meth:`check_quote`."""
        p = proposal(intent)
        if p.opening:
            await self._await_account()
        snap = await self.snapshot(intent)
        found = check(p, snap, self.x.strategy.risk)
        if found:
            self.refuse(intent, found[0], len(found) - 1)
            return None
        return snap

    def check_quote(self, intent: Intent, snap: RiskSnapshot, age_seconds: float | None) -> bool:
        """The quote's age (seconds, ``None``: unknown) against ``max_quote_age_seconds``; False when the
        intent was refused."""
        found = market_refusals(
            proposal(intent), replace(snap, quote_age_seconds=age_seconds), self.x.strategy.risk
        )
        if found:
            self.refuse(intent, found[0], len(found) - 1)
            return False
        return True

    def refuse(self, intent: Intent, refusal: Refusal, others: int = 0) -> None:
        """End ``intent`` as rejected with the refusal's reason; log it and alert once."""
        key = intent.key
        reason = REFUSED + refusal.reason
        if not self.x.store.set_intent(key, IntentStatus.REJECTED, reason):
            return
        more = f" (and {others} more limit(s))" if others else ""
        self.x.log.warning("intent %s %s [%s]%s", key, reason, refusal.check.value, more)
        verb = "roll" if intent.kind is IntentKind.ROLL else intent.action.value.lower()
        self.x.alert(
            "warning",
            "risk",
            f"Refused: {verb} {intent.quantity} {' '.join(intent.local_symbol.split())}",
            f"Intent {key} ({intent.kind.value}) was {reason}{more}.\nCheck: {refusal.check.value}.",
            f"risk:{key}",
        )

    async def _await_account(self) -> None:
        """Wait (at most :data:`ACCOUNT_WAIT_SECONDS`) until the monitor has written an account snapshot."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ACCOUNT_WAIT_SECONDS
        logged = False
        while not self._account_known() and loop.time() < deadline and not self.x.stop_event.is_set():
            if not logged:
                self.x.log.info("risk gate: waiting for the monitor's first account snapshot")
                logged = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.x.stop_event.wait(), ACCOUNT_LOOK_SECONDS)

    def _account_known(self) -> bool:
        with self.x.engine.connect() as conn:
            return conn.execute(select(account_snapshots.c.id).limit(1)).first() is not None
