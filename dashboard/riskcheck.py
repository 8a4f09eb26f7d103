"""The risk gate on the dashboard: the executor's pure checks (:func:`shared.risk.check`), run before an
approval writes anything, so the user reads the refusal at once instead of seeing the intent rejected later.

The snapshot is read the way the executor reads it (:func:`shared.riskdata.load_snapshot`), with TWS's clock
estimated from the monitor's measured offset (:func:`shared.riskdata.tws_now`): the XNYS session at that time
(unless ``MARKET_HOURS=always``) and the TWS restart window it falls in (``TWS_RESTART_WINDOWS``). The quote's
age is not known here (``None``): the executor checks it before it places the order.

The check reads in its own statements, so two approvals racing each other could both pass a limit that only
one of them fits; the executor's gate, run again on every intent before it reaches TWS, refuses the second.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy import Connection

from dashboard.errors import ActionError
from shared.marketcal import Session, XnysSessions
from shared.risk import Proposal, Refusal, RiskSnapshot, check
from shared.riskdata import load_snapshot, tws_now
from shared.settings import Settings
from shared.strategy import RiskRules
from shared.trade import IntentKind, Right
from shared.twswindows import window_at

#: The field an :class:`ActionError` from the gate names.
RISK_FIELD = "risk"

_sessions = XnysSessions()
_sessions_lock = threading.Lock()  # XnysSessions reloads its lists in place: one request at a time


def session_at(now: datetime) -> Session | None:
    """The NYSE's regular session at ``now`` (XNYS calendar, early closes included), ``None`` when closed."""
    with _sessions_lock:
        return _sessions.session_at(now)


def always_open(settings: Settings) -> bool:
    """True with ``MARKET_HOURS=always`` (paper only): orders at any hour."""
    return settings.MARKET_HOURS == "always"


def restart_window_label(settings: Settings, now: datetime) -> str | None:
    """The TWS restart window ``now`` falls in (``"23:45–00:15 ET"``), or ``None``."""
    window = window_at(settings.restart_windows, now)
    return window.label if window is not None else None


def snapshot(conn: Connection, settings: Settings, *, exclude_key: str | None = None) -> RiskSnapshot:
    """What the gate looks at now, read from ``conn``: TWS's clock (this machine's + the monitor's offset),
    the session at that time (not looked up with ``MARKET_HOURS=always``) and its restart window."""
    now = tws_now(conn)
    open_always = always_open(settings)
    return load_snapshot(
        conn,
        now=now,
        session=None if open_always else session_at(now),
        always_open=open_always,
        restart_window=restart_window_label(settings, now),
        quote_age_seconds=None,
        exclude_key=exclude_key,
    )


def proposal(
    kind: IntentKind, symbol: str, contracts: int, strike: float | None, right: str | None
) -> Proposal:
    """The gate's view of an order: ``contracts`` of ``symbol`` at ``strike`` (dollars per share)."""
    return Proposal(
        kind=kind,
        symbol=symbol,
        contracts=contracts,
        strike=strike,
        right=Right(right) if right else None,
    )


class RiskGate:
    """The gate with its configuration (``MARKET_HOURS``, ``TWS_RESTART_WINDOWS``, ``strategy.risk``), handed
    to the actions that create or approve intents."""

    def __init__(self, settings: Settings, rules: RiskRules) -> None:
        self.settings = settings
        self.rules = rules

    def refusals(self, conn: Connection, p: Proposal, *, exclude_key: str | None = None) -> list[Refusal]:
        """Every limit ``p`` breaks now (empty: the order may go)."""
        return check(p, snapshot(conn, self.settings, exclude_key=exclude_key), self.rules)

    def refuse_if_risky(self, conn: Connection, p: Proposal, *, exclude_key: str | None = None) -> None:
        """Raise ``ActionError(409, <reason with the number that failed>, "risk", check=<RiskCheck value>)``
        for the first limit ``p`` breaks now; return when the order may go."""
        found = self.refusals(conn, p, exclude_key=exclude_key)
        if found:
            raise ActionError(409, found[0].reason, RISK_FIELD, check=found[0].check.value)
