"""``python -m dashboard``: wait for the schema, then serve the dashboard with waitress.

Waitress runs every request on one of :data:`THREADS` worker threads; a request that finds them all busy
waits in its task queue, and waitress logs a WARNING ("Task queue depth is N") for each such request.
The dashboard's answers take about a millisecond (the JSON API from :mod:`dashboard.bodycache`, the pages
a few), and Python runs one thread at a time, so more threads add no throughput but let every open
connection be served without queueing: :data:`THREADS` (48) covers the concurrency a dashboard sees (a
few browser tabs at up to 6 connections each, plus scripts; the benchmark's 32 keep-alive clients), so the
log stays quiet under it. An idle thread costs only its stack. Beyond that, requests do queue (as they
must), and :class:`QueueWarnings` lets through one warning a minute with the count, instead of one per
request (2,025 lines in one benchmark run before).

Measured with ``bench/dashboard_load.py`` (demo processes writing, 2-core machine busy with other work at
load average 6-7, 8 keep-alive clients, account / positions / opportunities), back to back: before,
727 / 255 / 111 requests/s, p99 53 / 208 / 184 ms, 1.3 / 3.2 / 7.4 ms of the dashboard's CPU per request
and 4,889 queue warnings in the log; after (this tuning and :mod:`dashboard.bodycache`), 981 / 914 / 519
requests/s, p99 55 / 38 / 73 ms, 1.1 / 1.2 / 1.7 ms CPU per request and no warning. On a quieter machine
the same build served 1,158 / 911 / 1,106 requests/s with p99 19 / 565 / 41 ms (the 565 a pause of the
whole machine). What remains per request is Flask's and waitress's own work.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
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

#: Waitress worker threads (see the module docstring), open connections accepted at most, seconds an idle
#: keep-alive connection is kept, and the listen backlog.
THREADS, CONNECTION_LIMIT, CHANNEL_TIMEOUT, BACKLOG = 48, 200, 60, 1024
#: Seconds between two "Task queue depth" warnings let through.
QUEUE_WARNING_EVERY = 60.0


class QueueWarnings(logging.Filter):
    """On waitress's ``waitress.queue`` logger: the first "Task queue depth" warning, then at most one per
    :data:`QUEUE_WARNING_EVERY` seconds, saying how many were held back."""

    def __init__(
        self, every: float = QUEUE_WARNING_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.every, self.clock = every, clock
        self.last: float | None = None
        self.held = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """True for the records that are written."""
        with self._lock:
            now = self.clock()
            if self.last is not None and now - self.last < self.every:
                self.held += 1
                return False
            if self.held:
                record.msg = f"{record.getMessage()} ({self.held} more such warnings held back)"
                record.args = ()
            self.last, self.held = now, 0
            return True


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
        logging.getLogger("waitress.queue").addFilter(QueueWarnings())
        server = create_server(
            app,
            host=host,
            port=port,
            threads=THREADS,
            connection_limit=CONNECTION_LIMIT,
            channel_timeout=CHANNEL_TIMEOUT,
            backlog=BACKLOG,
            ident="thetawheel-dashboard",
        )
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
