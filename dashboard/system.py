"""The System page's figures: every component's heartbeat and connection, TWS's clock, the market's hours,
and the halt switch with its history.

A component is up while its newest heartbeat is at most ``stale_after`` seconds old and it has not recorded a
clean stop: ``HEARTBEAT_STALE_SECONDS``, but at least two heartbeat intervals — the threshold the watchdogs
alert on (:func:`shared.watchdog.effective_stale_after`). The heartbeat's ``state`` is the connection
manager's state (``connecting``, ``connected``, ``degraded``, ``restart-window``, ``disconnected`` …) and
``client_id`` the TWS client id the process holds; the dashboard holds none.
"""

from __future__ import annotations

from sqlalchemy import Engine, select

from dashboard import commands, queries
from dashboard.queries import Row
from dashboard.riskcheck import always_open, restart_window_label, session_at
from shared import schema as s
from shared.config import Config
from shared.db import utcnow
from shared.riskdata import clock_offset, halt_state
from shared.watchdog import effective_stale_after

#: Components that hold a TWS connection (the dashboard never talks to TWS).
TWS_COMPONENTS = ("monitor", "scanner", "executor")


def stale_after(config: Config) -> float:
    """Seconds after which a heartbeat counts as missing (the watchdog's threshold)."""
    return effective_stale_after(config.settings, config.strategy.schedule.heartbeat_seconds)


def system(engine: Engine, config: Config) -> Row:
    """Everything the System page shows (and ``GET /api/v1/system`` returns)."""
    settings = config.settings
    wall = utcnow()
    threshold = stale_after(config)
    components = queries.component_health(engine, wall, stale_after=threshold)
    for c in components:
        c["holds_tws_connection"] = c["component"] in TWS_COMPONENTS
    with engine.connect() as conn:
        offset = clock_offset(conn)
        halt = halt_state(conn)
        rs = conn.execute(
            select(
                s.risk_state.c.tws_time, s.risk_state.c.clock_offset_seconds, s.risk_state.c.updated_at
            ).where(s.risk_state.c.id == 1)
        ).first()
    tws = wall + offset
    session = session_at(tws)
    window = restart_window_label(settings, tws)
    return {
        "time": wall.isoformat(),
        "stale_after_seconds": threshold,
        "components": components,
        "clock": {
            "tws_time_estimate": tws.isoformat(),
            "offset_seconds": offset.total_seconds(),
            "measured": rs is not None,
            "tws_time_at_measurement": rs.tws_time if rs else None,
            "measured_at": rs.updated_at if rs else None,
        },
        "market": {
            "hours_setting": settings.MARKET_HOURS,
            "always_open": always_open(settings),
            "session_open": session.open.isoformat() if session else None,
            "session_close": session.close.isoformat() if session else None,
            "open_now": session is not None,
            "restart_window": window,
            "restart_windows": settings.TWS_RESTART_WINDOWS,
        },
        "trading_mode": settings.TRADING_MODE,
        "halt": {"halted": halt.halted, "by": halt.by, "at": halt.at, "reason": halt.reason},
        "halt_history": commands.halt_history(engine),
    }
