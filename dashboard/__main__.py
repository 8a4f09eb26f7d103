"""``python -m dashboard``: wait for the schema, then serve the dashboard with waitress."""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from waitress import create_server

from dashboard import create_app
from dashboard.runtime import Heartbeat, wait_for_schema
from shared.alerts import Dispatcher
from shared.config import load_or_exit
from shared.db import make_engine
from shared.logsetup import mask_also, setup_logging
from shared.watchdog import Watchdog

log = logging.getLogger("dashboard")


def _stop(signum: int, _frame: FrameType | None) -> None:
    log.info("received %s, stopping", signal.Signals(signum).name)
    raise SystemExit(0)


def main() -> int:
    """Run the dashboard until SIGTERM/SIGINT; returns the exit status."""
    config = load_or_exit("dashboard")
    settings = config.settings
    setup_logging("dashboard", settings)
    host, port = settings.DASHBOARD_HOST, settings.DASHBOARD_PORT
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    engine = make_engine(settings.DATABASE_URL)
    heartbeat: Heartbeat | None = None
    try:
        wait_for_schema(engine)
        app = create_app(config, engine)
        mask_also(str(app.secret_key))  # a key generated into data/ is a secret as well
        if settings.login_required:
            log.info("bound beyond loopback (%s): every request needs the DASHBOARD_TOKEN login", host)
        server = create_server(app, host=host, port=port, threads=8, ident="thetawheel-dashboard")
        watchdog = Watchdog.for_process(engine, config, "dashboard", log)
        dispatcher = Dispatcher(engine, settings, config.strategy.alerts, "dashboard")

        def watch() -> None:
            """After each beat: report components that died, and send pending alerts (so they still go
            out when every other process is down)."""
            watchdog.check()
            dispatcher.run_once()

        heartbeat = Heartbeat(
            engine,
            interval=config.strategy.schedule.heartbeat_seconds,
            detail=f"http://{host}:{port}",
            watch=watch,
        )
        heartbeat.start()
        shown = f"[{host}]" if ":" in host else host
        log.info("dashboard on http://%s:%d", shown, port)
        server.run()  # returns after SIGTERM/SIGINT (waitress catches SystemExit)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    except OSError as exc:
        log.error("cannot serve on %s:%d: %s (is another dashboard running?)", host, port, exc)
        return 1
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        engine.dispose()
    log.info("dashboard stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
