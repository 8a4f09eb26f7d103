"""What each TWS / IB Gateway error code means and what the user should do about it.

Sources: IB's TWS API message-code reference, ``docs/tws-protocol.md`` and the user's set-up and
troubleshooting guides (``shared/seeds``). Every log line for an IB error carries the tip.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CodeInfo:
    """One IB message code: a one-line cause, a one-line fix, and whether it is only informational."""

    code: int
    cause: str
    fix: str
    informational: bool = False


_CODES: dict[int, CodeInfo] = {
    c.code: c
    for c in (
        CodeInfo(
            100,
            "message rate exceeded (more than 50 requests per second)",
            "thetawheel stays under IBKR_MAX_REQUESTS_PER_SECOND (45) per process; lower it, or look for "
            "another API client using the same client id",
        ),
        CodeInfo(
            101,
            "max number of market data lines reached",
            "thetawheel keeps to IBKR_LINES_MONITOR/_SCANNER/_EXECUTOR (90 % of IBKR_MARKET_DATA_LINES); "
            "another program (TWS windows, other API clients) may use the rest: lower those budgets, set "
            "IBKR_MARKET_DATA_LINES to your account's lines, or buy more (quote booster)",
        ),
        CodeInfo(
            162,
            "historical data pacing violation or query error",
            "thetawheel paces its own requests (no identical one within 15 s, < 6 per contract in 2 s, "
            "<= 60 in 10 minutes); another API client may be using the budget, so wait and retry",
        ),
        CodeInfo(
            200,
            "no security definition found for the request",
            "check the symbol in "
            "config/thetawheel.toml (exchange symbol, e.g. AAPL, BRK B) and the option's expiry/strike",
        ),
        CodeInfo(
            201,
            "order rejected",
            "read the reason: usually insufficient buying power, "
            "a price outside the allowed range, or trading permissions",
        ),
        CodeInfo(202, "order cancelled", "informational: the order was cancelled", True),
        CodeInfo(
            103,
            "duplicate order id",
            "another client placed an order with the same id; restart the executor so it takes fresh ids",
        ),
        CodeInfo(
            110,
            "the price does not conform to the minimum price variation (tick) of the contract",
            "thetawheel rounds to the option tick; check the contract's tick rules (penny pilot), report it",
        ),
        CodeInfo(
            321,
            "invalid request (e.g. underConId 0 in reqSecDefOptParams)",
            "qualify the underlying first; report a bug if it persists",
        ),
        CodeInfo(
            322,
            "too many simultaneous historical requests or duplicate ticker id",
            "wait for running requests to finish; thetawheel limits itself to fewer than 50",
        ),
        CodeInfo(
            326,
            "client id is already in use",
            "another program holds that client id: thetawheel "
            "moves to the next id of its range; close stale API clients in TWS if the range runs out",
        ),
        CodeInfo(
            354,
            "requested market data is not subscribed",
            "subscribe in IBKR Account Management, or "
            "set IBKR_MARKET_DATA_TYPE=3 (delayed) / 4 (delayed-frozen) in .env",
        ),
        CodeInfo(
            502,
            "couldn't connect to TWS",
            "start TWS / IB Gateway, enable 'ActiveX and "
            "Socket Clients' (File > Global Configuration > API > Settings), check IBKR_PORT "
            "(7497 paper TWS, 4002 paper Gateway) and that 127.0.0.1 is a trusted IP",
        ),
        CodeInfo(
            504,
            "not connected",
            "the connection to TWS dropped or stopped answering; thetawheel reconnects by itself with "
            "backoff (quietly inside TWS_RESTART_WINDOWS); if it lasts, check that TWS is up and logged in",
        ),
        CodeInfo(
            300,
            "can't find the ticker id (a market-data cancel for a stream TWS no longer has)",
            "harmless after a reconnect or 1101; nothing to do",
            True,
        ),
        CodeInfo(
            366,
            "no historical data query found for the ticker id",
            "harmless: a cancel arrived after the request finished",
            True,
        ),
        CodeInfo(
            1300,
            "TWS's socket port was reset and this connection dropped",
            "thetawheel reconnects; check the API socket port in TWS matches IBKR_PORT",
        ),
        CodeInfo(
            2110,
            "connectivity between TWS and IB's servers is broken",
            "usually transient; thetawheel waits and resumes when TWS reconnects",
            True,
        ),
        CodeInfo(2119, "a market data farm is connecting", "nothing to do", True),
        CodeInfo(
            10182,
            "failed to request live updates (TWS disconnected from IB)",
            "thetawheel resubscribes after the reconnection (1101)",
        ),
        CodeInfo(
            1100,
            "connectivity between IB and TWS has been lost",
            "TWS lost its link to IB (internet, or IB's nightly maintenance); the heartbeat shows "
            "'degraded' and thetawheel resumes when TWS reports 1101/1102",
        ),
        CodeInfo(
            1101,
            "connectivity restored, data lost",
            "thetawheel resubscribes market data and resynchronises positions and orders",
            True,
        ),
        CodeInfo(1102, "connectivity restored, data maintained", "nothing to do", True),
        CodeInfo(
            2103,
            "a market data farm connection is broken",
            "usually transient; check TWS's connection status if it lasts",
            True,
        ),
        CodeInfo(2104, "market data farm connection is OK", "nothing to do", True),
        CodeInfo(2105, "a historical data farm connection is broken", "usually transient", True),
        CodeInfo(2106, "historical data farm connection is OK", "nothing to do", True),
        CodeInfo(2107, "historical data farm connection is inactive but available", "nothing to do", True),
        CodeInfo(2108, "market data farm connection is inactive but available", "nothing to do", True),
        CodeInfo(2157, "sec-def data farm connection is broken", "usually transient", True),
        CodeInfo(2158, "sec-def data farm connection is OK", "nothing to do", True),
        CodeInfo(
            10090,
            "part of the requested market data is not subscribed",
            "subscribe to the missing data, or use delayed data (IBKR_MARKET_DATA_TYPE=3)",
        ),
        CodeInfo(
            10167,
            "showing delayed market data",
            "normal for accounts without real-time subscriptions; quotes are 15-20 minutes old",
            True,
        ),
        CodeInfo(
            10197,
            "no market data during a competing live session",
            "log out of the other session (mobile app, web, second TWS) that uses this username",
        ),
    )
}


def code_info(code: int) -> CodeInfo | None:
    """The :class:`CodeInfo` for ``code``, or ``None`` for a code thetawheel does not know."""
    return _CODES.get(code)


def tip(code: int) -> str:
    """``"cause — fix"`` for a known code, else a generic pointer to IB's code reference."""
    info = _CODES.get(code)
    if info is None:
        return "see IB's TWS API message codes reference"
    return f"{info.cause} — {info.fix}"


def is_informational(code: int) -> bool:
    """True for codes that report good news or status only (farm OK notices, 2104 …)."""
    info = _CODES.get(code)
    return bool(info and info.informational)


def known_codes() -> list[int]:
    """Every code that has a tip, ascending."""
    return sorted(_CODES)
