"""Deliver queued alerts: claim due deliveries atomically, send each through its channel's breaker.

Every process runs a :class:`Dispatcher`. A delivery is claimed by exactly one of them (one
``UPDATE … WHERE status='pending' … RETURNING``), so it is sent once; a failed send goes back to
``pending`` with a later ``next_attempt_at``; a claim left in ``sending`` by a dead process is taken
over after ``stale_after_seconds``. While a channel's breaker is open its deliveries stay pending,
untouched.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

import pybreaker
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import Engine, and_, or_, select, update

from shared.alerts.breaker import (
    DEFAULT_FAIL_MAX,
    DEFAULT_RESET_TIMEOUT,
    DbBreakerStorage,
    is_blocking,
    make_breaker,
)
from shared.alerts.clock import Clock, iso, system_clock
from shared.alerts.email import EmailSender
from shared.alerts.message import CHANNELS, AlertMessage
from shared.alerts.redact import Redactor
from shared.alerts.sms import SmsSender
from shared.schema import alert_deliveries, alerts
from shared.settings import Settings
from shared.strategy import AlertRules

log = logging.getLogger(__name__)

#: Seconds after which a delivery still in ``sending`` is presumed abandoned by a dead process.
DEFAULT_STALE_AFTER = 300.0
#: Longest pause between retries of one delivery (seconds); the pause doubles per failed attempt.
DEFAULT_MAX_RETRY = 900.0
#: Deliveries claimed per :meth:`Dispatcher.run_once`.
DEFAULT_BATCH = 20
#: Seconds between runs of the scheduled job.
DEFAULT_INTERVAL = 1.0

_d = alert_deliveries


class Sender(Protocol):
    """A channel: sends one alert or raises."""

    def send(self, alert: AlertMessage) -> None: ...


class Scheduler(Protocol):
    """The part of an APScheduler 3 scheduler :meth:`Dispatcher.start` uses."""

    def add_job(self, func: Callable[..., Any], trigger: str, **kwargs: Any) -> Any: ...


class Dispatcher:
    """Sends pending alert deliveries for one process (``component`` names it in ``claimed_by``).

    ``fail_max`` / ``reset_timeout`` (seconds) configure each channel's shared circuit breaker;
    retries wait ``rules.retry_seconds`` doubled per failed attempt, at most ``max_retry_seconds``.
    ``clock`` supplies "now" for claims and retry times (tests pass a fake one).

    The constructor creates the channels' ``breakers`` rows when missing, so the schema must exist
    (``sqlalchemy.exc.SQLAlchemyError`` otherwise). :meth:`run_once` never raises.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        rules: AlertRules,
        component: str,
        *,
        fail_max: int = DEFAULT_FAIL_MAX,
        reset_timeout: float = DEFAULT_RESET_TIMEOUT,
        stale_after_seconds: float = DEFAULT_STALE_AFTER,
        max_retry_seconds: float = DEFAULT_MAX_RETRY,
        batch_size: int = DEFAULT_BATCH,
        send_timeout: float = 10.0,
        clock: Clock = system_clock,
    ) -> None:
        self._engine = engine
        self._rules = rules
        self._stale_after = stale_after_seconds
        self._running = False
        self._max_retry = max_retry_seconds
        self._batch = batch_size
        self._clock = clock
        self._redact = Redactor.from_settings(settings)
        #: Unique per instance, so two dispatchers in one process are distinct claimers (≤ 64 chars).
        self.claimer = f"{component[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._senders: dict[str, Sender] = {}
        if settings.email_enabled:
            self._senders["email"] = EmailSender(settings, timeout=send_timeout)
        if settings.sms_enabled:
            self._senders["sms"] = SmsSender(settings, timeout=send_timeout)
        self._reset_timeout = reset_timeout
        self._storages = {channel: DbBreakerStorage(engine, channel) for channel in CHANNELS}
        self._breakers = {
            channel: make_breaker(storage, fail_max=fail_max, reset_timeout=reset_timeout)
            for channel, storage in self._storages.items()
        }

    # --- public -----------------------------------------------------------------------------
    def breaker_state(self, channel: str) -> str:
        """The shared breaker state of ``channel``: ``closed``, ``open`` or ``half-open``.

        Raises ``KeyError`` for an unknown channel and ``SQLAlchemyError`` when the database fails.
        """
        return self._breakers[channel].current_state

    def run_once(self) -> int:
        """Claim due deliveries, send them, record the outcome; return how many were sent.

        Never raises: any error (database, channel) is logged without secrets and 0 or the count so
        far is returned; unsent deliveries stay queued.
        """
        sent = 0
        try:
            channels = [c for c in self._senders if not is_blocking(self._storages[c], self._reset_timeout)]
            if not channels:
                return 0
            for row in self._claim(channels):
                sent += self._deliver(row)
        except Exception as exc:
            log.error("alert dispatch failed: %s", self._redact.describe(exc))
        return sent

    def start(self, scheduler: Scheduler, *, interval_seconds: float = DEFAULT_INTERVAL) -> Any:
        """Add :meth:`run_once` to an APScheduler 3 scheduler every ``interval_seconds``; return the job.

        On an ``AsyncIOScheduler`` (the processes') it runs in a worker thread from a coroutine job."""
        in_loop = isinstance(scheduler, AsyncIOScheduler)  # the processes' scheduler: a coroutine job
        return scheduler.add_job(
            self._run_in_thread if in_loop else self.run_once,
            "interval",
            seconds=interval_seconds,
            id=f"alerts-dispatch-{self.claimer}",
            name="alerts dispatcher",
            # _run_in_thread skips a run while one is under way, so no "maximum number of running instances"
            max_instances=3 if in_loop else 1,
            coalesce=True,
            replace_existing=True,
        )

    async def _run_in_thread(self) -> None:
        """The scheduled job: :meth:`run_once` in a worker thread, skipped while a run is under way. A
        coroutine job, so that a process stopping mid-send cancels it quietly: APScheduler logs any
        exception a job raises, ``CancelledError`` included, with a traceback, so the cancellation ends
        the job here. The thread finishes its pass on its own; a delivery it had not sent stays queued."""
        if self._running:
            return
        self._running = True
        try:
            await asyncio.to_thread(self.run_once)
        except asyncio.CancelledError:
            log.debug("alerts dispatcher: cancelled (the process is stopping)")
        finally:
            self._running = False

    # --- steps ------------------------------------------------------------------------------
    def _claim(self, channels: Sequence[str]) -> list[dict[str, Any]]:
        """Atomically mark up to ``batch_size`` due deliveries of ``channels`` as ours."""
        now = self._clock()
        now_text = iso(now)
        stale_text = iso(now - timedelta(seconds=self._stale_after))
        claimable = or_(
            and_(_d.c.status == "pending", _d.c.next_attempt_at <= now_text),
            and_(_d.c.status == "sending", _d.c.claimed_at < stale_text),
        )
        due = (
            select(_d.c.id)
            .where(_d.c.channel.in_(channels), claimable)
            .order_by(_d.c.next_attempt_at, _d.c.id)
            .limit(self._batch)
        )
        with self._engine.begin() as conn:
            claimed = conn.execute(
                update(_d)
                .where(_d.c.id.in_(due), claimable)  # re-checked: a row is claimed by one UPDATE only
                .values(status="sending", claimed_by=self.claimer, claimed_at=now_text)
                .returning(_d.c.id, _d.c.alert_id, _d.c.channel, _d.c.attempts)
            ).all()
            if not claimed:
                return []
            ids = {r.alert_id for r in claimed}
            rows = conn.execute(select(alerts).where(alerts.c.id.in_(ids))).all()
        messages = {
            r.id: AlertMessage(
                id=r.id,
                created_at=r.created_at,
                source=r.source,
                severity=r.severity,
                category=r.category,
                title=r.title,
                body=r.body or "",
                repeat_count=r.repeat_count,
            )
            for r in rows
        }
        out = [
            {"id": r.id, "channel": r.channel, "attempts": r.attempts, "alert": messages[r.alert_id]}
            for r in sorted(claimed, key=lambda r: r.id)
        ]
        log.debug("claimed %d alert deliveries", len(out))
        return out

    def _deliver(self, row: dict[str, Any]) -> int:
        """Send one claimed delivery; return 1 when sent, else 0."""
        channel: str = row["channel"]
        alert: AlertMessage = row["alert"]
        try:
            self._breakers[channel].call(self._senders[channel].send, alert)
        except pybreaker.CircuitBreakerError:
            self._release(row["id"])  # rejected without trying: not an attempt
            return 0
        except Exception as exc:
            self._failed(row, exc)
            return 0
        self._finish(row["id"], {"status": "sent", "sent_at": iso(self._clock()), "last_error": ""})
        log.info("alert %s sent by %s", alert.id, channel)
        return 1

    def _release(self, delivery_id: int) -> None:
        self._finish(delivery_id, {"status": "pending"})

    def _failed(self, row: dict[str, Any], exc: BaseException) -> None:
        attempts = int(row["attempts"]) + 1
        delay = min(self._rules.retry_seconds * 2 ** (attempts - 1), self._max_retry)
        error = self._redact.describe(exc)
        self._finish(
            row["id"],
            {
                "status": "pending",
                "attempts": _d.c.attempts + 1,
                "last_error": error,
                "next_attempt_at": iso(self._clock() + timedelta(seconds=delay)),
            },
        )
        log.warning(
            "alert %s by %s failed (attempt %d, retry in %.0f s): %s",
            row["alert"].id,
            row["channel"],
            attempts,
            delay,
            error,
        )

    def _finish(self, delivery_id: int, values: dict[str, Any]) -> None:
        """Update our claimed row; warn when another process took it over meanwhile."""
        with self._engine.begin() as conn:
            result = conn.execute(
                update(_d)
                .where(_d.c.id == delivery_id, _d.c.status == "sending", _d.c.claimed_by == self.claimer)
                .values(**values)
            )
        if result.rowcount != 1:
            log.warning("alert delivery %s was taken over by another dispatcher", delivery_id)
