"""The life cycle every TWS-connected process shares: settings, logging, database, start order,
connection, scheduled jobs, alerts dispatch and a clean stop on SIGTERM / SIGINT (what honcho sends).

Start order (monitor → scanner → executor) is enforced by readiness, never by sleeps: the monitor
migrates the schema and beats; the others wait for the schema and a live monitor heartbeat, saying so
once in their log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
from abc import ABC, abstractmethod
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from ib_async import IB
from sqlalchemy import Engine

from shared.alerts import Dispatcher, enqueue
from shared.config import CONFIG_EXIT_CODE, Config, load_or_exit
from shared.db import make_engine, schema_ready
from shared.heartbeat import Heartbeat, is_alive
from shared.ibconn import IBConnection
from shared.logsetup import setup_logging
from shared.migrate import SchemaNewerError
from shared.watchdog import Watchdog

#: Seconds between checks while waiting for the schema or the monitor.
READINESS_POLL_SECONDS = 1.0
#: Seconds a stop waits for cancelled jobs to run their clean-up (cancel market data) before disconnecting.
JOB_STOP_SECONDS = 1.0
#: Seconds a stop waits for requests ib_async holds back by its message-rate throttle (cancels) to go out.
FLUSH_SECONDS = 1.2


class Component(ABC):
    """A long-running process: subclasses add their jobs in :meth:`schedule`.

    Attributes available to subclasses: ``config``, ``settings``, ``strategy``, ``engine``, ``log``,
    ``heartbeat``, ``conn`` (the :class:`IBConnection`) and ``scheduler``.
    """

    name: str = ""
    #: Whether this component waits for the monitor's heartbeat before connecting.
    waits_for_monitor: bool = True

    def __init__(self, config: Config, engine: Engine, log: logging.Logger) -> None:
        self.config = config
        self.settings = config.settings
        self.strategy = config.strategy
        self.engine = engine
        self.log = log
        self.heartbeat = Heartbeat(engine, self.name)
        self.conn = IBConnection(self.settings, self.name, self.heartbeat, alarm=self._connection_alarm)
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.stop_event = asyncio.Event()
        self._jobs: set[asyncio.Task[Any]] = set()  # coroutine jobs running now (see _tracked)
        self.conn.on_connected.append(self.on_connected)

    @property
    def ib(self) -> IB:
        """The connected ib_async client."""
        return self.conn.ib

    # -- hooks -----------------------------------------------------------------------------
    def prepare_database(self) -> None:
        """Called before anything else touches the database (the monitor migrates here)."""

    async def on_connected(self, ib: IB) -> None:
        """Runs after every (re)connection: resubscribe and resynchronise here."""

    @abstractmethod
    def schedule(self) -> None:
        """Add the component's periodic jobs to ``self.scheduler``."""

    async def on_stop(self) -> None:
        """Release subscriptions before disconnecting."""

    # -- helpers ---------------------------------------------------------------------------------
    def alert(
        self, severity: str, category: str, title: str, body: str = "", dedup_key: str | None = None
    ) -> None:
        """Put an alert in the shared outbox (sent by whichever process's dispatcher claims it)."""
        enqueue(
            self.engine,
            source=self.name,
            severity=severity,
            category=category,
            title=title,
            body=body,
            dedup_key=dedup_key,
            rules=self.strategy.alerts,
            email_enabled=self.settings.email_enabled,
            sms_enabled=self.settings.sms_enabled,
        )

    def _connection_alarm(self, title: str, body: str) -> None:
        """The connection manager cannot reach TWS outside a restart window: warn the user once."""
        try:
            self.alert("warning", "connection", title, body, dedup_key=f"tws-unreachable:{self.name}")
        except Exception:  # an alert must never stop the reconnection
            self.log.exception("could not queue the connection alert")

    def add_job(self, func: Any, seconds: float, job_id: str, first_now: bool = True) -> None:
        """Schedule ``func`` every ``seconds`` (never overlapping itself); the first run is now, or after
        ``seconds`` when not ``first_now`` (``next_run_time=None`` would add the job paused)."""
        from datetime import UTC, datetime

        from apscheduler.util import undefined

        coroutine = asyncio.iscoroutinefunction(func)
        self.scheduler.add_job(
            self._tracked(_single_flight(func)) if coroutine else func,
            "interval",
            seconds=seconds,
            id=job_id,
            # a coroutine job guards itself (_single_flight): a run requested while one is under way
            # returns at once instead of APScheduler logging "maximum number of running instances"
            max_instances=3 if coroutine else 1,
            coalesce=True,
            next_run_time=datetime.now(UTC) if first_now else undefined,
            misfire_grace_time=None,
        )

    async def _beat(self) -> None:
        """The heartbeat job: the write runs in a worker thread. A coroutine job, so that a stop cancels it
        quietly; APScheduler would log a cancelled thread job as an error."""
        await asyncio.to_thread(self.heartbeat.beat)

    def _tracked(self, func: Any) -> Any:
        """Wrap a coroutine job so that a stop can cancel it and wait for its clean-up."""

        @functools.wraps(func)
        async def job() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._jobs.add(task)
            try:
                await func()
            except asyncio.CancelledError:  # stopped by SIGTERM / SIGINT: not an error of the job
                if not self.stop_event.is_set():
                    raise
            finally:
                self._jobs.discard(task)

        return job

    async def _cancel_jobs(self) -> None:
        """Cancel running jobs (a scan, a placement) and give them :data:`JOB_STOP_SECONDS` to finish
        their ``finally`` blocks, which cancel market data while still connected. A database write is
        never cut in half: it does not await, so a cancellation lands before or after it."""
        jobs = [task for task in self._jobs if not task.done()]
        for task in jobs:
            task.cancel()
        if jobs:
            await asyncio.wait(jobs, timeout=JOB_STOP_SECONDS)

    async def _flush_requests(self) -> None:
        """Let the requests ib_async's throttle still holds (e.g. the cancels just made) reach TWS."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FLUSH_SECONDS
        while self.ib.isConnected() and getattr(self.ib.client, "_msgQ", None) and loop.time() < deadline:
            await asyncio.sleep(0.05)

    # -- life cycle -------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """SIGTERM / SIGINT: stop scheduling and do not reconnect."""
        self.conn.stopping()
        self.stop_event.set()

    async def _wait_until(self, ready: Any, message: str) -> None:
        said = False
        while not self.stop_event.is_set() and not ready():
            if not said:
                self.log.info(message)
                said = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), READINESS_POLL_SECONDS)

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; return the process exit status."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        self.prepare_database()
        await self._wait_until(
            lambda: schema_ready(self.engine), "waiting for the monitor to create the database schema"
        )
        if self.waits_for_monitor:
            await self._wait_until(
                lambda: is_alive(self.engine, "monitor"),
                "waiting for the monitor's heartbeat (start order: monitor first)",
            )
        if self.stop_event.is_set():
            return 0
        self.heartbeat.set("starting", "waiting for TWS")
        self.add_job(self._beat, self.strategy.schedule.heartbeat_seconds, "heartbeat", first_now=False)
        watchdog = Watchdog.for_process(self.engine, self.config, self.name, self.log)  # the others' beats
        self.add_job(watchdog.run, watchdog.interval, "watchdog", first_now=False)
        dispatcher = Dispatcher(self.engine, self.settings, self.strategy.alerts, self.name)
        dispatcher.start(self.scheduler)
        self.scheduler.start()
        connect = asyncio.ensure_future(self.conn.connect())
        stop = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait({connect, stop}, return_when=asyncio.FIRST_COMPLETED)
        if connect.done() and connect.exception() is not None:
            self.log.error("giving up: %s", connect.exception())
            self.heartbeat.set("stopped", str(connect.exception()))
            self.scheduler.shutdown(wait=False)
            return 1
        if not self.stop_event.is_set():
            self.schedule()
            self.log.info("%s running", self.name)
            await self.stop_event.wait()
        connect.cancel()
        await asyncio.gather(connect, return_exceptions=True)
        self.log.info("stopping")
        self.scheduler.shutdown(wait=False)
        await self._cancel_jobs()
        try:
            await asyncio.wait_for(self.on_stop(), 2)
        except Exception:
            self.log.exception("error while stopping")
        await self._flush_requests()
        await self.conn.close()
        self.heartbeat.set("stopped", "stopped by signal")
        return 0


def _single_flight(func: Any) -> Any:
    """Wrap a coroutine job so that a call made while a previous one still runs returns at once."""
    running = False

    @functools.wraps(func)
    async def run() -> None:
        nonlocal running
        if running:
            return
        running = True
        try:
            await func()
        finally:
            running = False

    return run


def main(component_cls: type[Component]) -> None:
    """Entry point for ``python -m <component>``: load settings (or exit 2), log, run, exit."""
    config = load_or_exit(component_cls.name)
    log = setup_logging(component_cls.name, config.settings)
    engine = make_engine(config.settings.DATABASE_URL)
    log.info(
        "%s starting (TWS %s:%s, %s trading, database %s)",
        component_cls.name,
        config.settings.IBKR_HOST,
        config.settings.IBKR_PORT,
        config.settings.TRADING_MODE,
        engine.url.render_as_string(hide_password=True),
    )
    try:
        status = asyncio.run(component_cls(config, engine, log).run())
    except SchemaNewerError as err:  # one line, exit 2, nothing written
        log.error("database error: %s", err)
        print(f"database error: {err}", file=sys.stderr)
        raise SystemExit(CONFIG_EXIT_CODE) from None
    raise SystemExit(status)
