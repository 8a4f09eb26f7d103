"""Component watchdog: every running process watches the others' heartbeats.

A component whose heartbeat is older than ``HEARTBEAT_STALE_SECONDS`` (60 s,
:data:`shared.heartbeat.STALE_AFTER_SECONDS`) without having recorded ``stopped`` died or hangs: one
critical alert goes out (category ``system``; by the default rules email and SMS, sent by the dispatchers
of the processes still running). When it beats again, one info alert says it is back. A deliberate stop
(SIGTERM / SIGINT records ``stopped``) raises nothing, nor does a component that never beat.

Exactly one alert per outage although every process watches. The state lives in the alert outbox itself:

- an outage is one silence of one process: its down alert's dedup key is
  ``component-down:<component>:<pid>:<time of its last beat>``, so it is found again by every watcher,
  and a restarted process, which writes a new row, can neither hide it nor repeat it;
- its back alert's key is ``component-back:<component>:<id of the down alert>``; a down alert is open
  while no back alert of that component came after it (a higher id);
- a watcher that sees something to report re-checks and enqueues in **one** transaction that starts by
  locking the component's heartbeat row (an UPDATE that changes nothing: the write lock in SQLite, a row
  lock in PostgreSQL). Another watcher waits for that lock and then finds the alert. The alert is written
  in that same transaction, so it cannot be lost between the decision and the insert.

A watcher judges nobody down until it has itself watched for the stale threshold without a pause (after
its own start, or after the machine slept), so a service restarted after a crash or a wake-up does not
report the components that are still coming up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Engine, or_, select, update

from shared.alerts import enqueue
from shared.alerts.clock import iso
from shared.config import Config
from shared.db import parse_ts, utcnow
from shared.schema import alerts, heartbeats
from shared.settings import Settings
from shared.strategy import AlertRules

CATEGORY = "system"
DOWN_PREFIX = "component-down:"
BACK_PREFIX = "component-back:"
#: An outage reported longer ago than this gets no "back" alert any more (it bounds each check's query).
OUTAGE_MEMORY = timedelta(days=30)
#: Margin for clocks when looking for the down alert of a silence (it is created after the last beat).
_CLOCK_MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class Beat:
    """One ``heartbeats`` row."""

    component: str
    pid: int
    state: str
    detail: str
    client_id: int | None
    started_at: str
    updated_at: str  # as stored: part of the outage's key

    @property
    def last_beat(self) -> datetime:
        return parse_ts(self.updated_at)

    @classmethod
    def from_row(cls, row: Any) -> Beat:
        return cls(
            component=row.component,
            pid=int(row.pid),
            state=row.state,
            detail=row.detail or "",
            client_id=row.client_id,
            started_at=row.started_at,
            updated_at=row.updated_at,
        )


def down_key(beat: Beat) -> str:
    """The dedup key of the down alert for the silence that began after ``beat``."""
    return f"{DOWN_PREFIX}{beat.component}:{beat.pid}:{beat.updated_at}"


def back_key(component: str, down_alert_id: int) -> str:
    """The dedup key of the back alert that closes down alert ``down_alert_id`` (and older ones)."""
    return f"{BACK_PREFIX}{component}:{down_alert_id}"


@dataclass(frozen=True)
class Outage:
    """A down alert."""

    alert_id: int
    key: str
    title: str
    created_at: str


@dataclass(frozen=True)
class History:
    """What the outbox says about one component: every down key seen, and the outages not yet closed."""

    down_keys: frozenset[str] = frozenset()
    open: tuple[Outage, ...] = ()


@dataclass(frozen=True)
class Down:
    """Report ``beat``'s component down; ``age`` seconds since its last beat."""

    beat: Beat
    age: float


@dataclass(frozen=True)
class Back:
    """Report ``beat``'s component back, closing ``outages`` (oldest first)."""

    beat: Beat
    outages: tuple[Outage, ...]


Decision = Down | Back | None


def decide(
    beat: Beat | None, history: History, *, now: datetime, stale_after: float, judging: bool = True
) -> Decision:
    """What to report about one component (pure).

    - no row (it never started), or ``stopped`` (a deliberate stop): nothing; an open outage stays open
      until the component beats again;
    - a heartbeat older than ``stale_after`` seconds: :class:`Down`, unless this silence was reported
      already or the watcher is not ``judging`` yet (it has not watched long enough itself);
    - a fresh heartbeat while an outage is open: :class:`Back`.
    """
    if beat is None or beat.state == "stopped":
        return None
    age = (now - beat.last_beat).total_seconds()
    if age > stale_after:
        if judging and down_key(beat) not in history.down_keys:
            return Down(beat, age)
        return None
    if history.open:
        return Back(beat, history.open)
    return None


def history_of(rows: Iterable[Any]) -> dict[str, History]:
    """Per component, from the outbox rows (``id``, ``dedup_key``, ``title``, ``created_at``) of down and
    back alerts: all down keys, and the down alerts after the newest back alert (pure)."""
    downs: dict[str, list[Outage]] = {}
    last_back: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: int(r.id)):
        key = row.dedup_key or ""
        if key.startswith(DOWN_PREFIX):
            component = key[len(DOWN_PREFIX) :].split(":", 1)[0]
            downs.setdefault(component, []).append(Outage(int(row.id), key, row.title, row.created_at))
        elif key.startswith(BACK_PREFIX):
            component = key[len(BACK_PREFIX) :].split(":", 1)[0]
            last_back[component] = int(row.id)
    return {
        component: History(
            down_keys=frozenset(o.key for o in outages),
            open=tuple(o for o in outages if o.alert_id > last_back.get(component, 0)),
        )
        for component, outages in downs.items()
    }


def _outbox_rows(conn: Connection, since: datetime, component: str | None = None) -> list[Any]:
    """Down and back alerts created since ``since`` (of ``component`` only when given)."""
    down, back = DOWN_PREFIX, BACK_PREFIX
    if component is not None:
        down, back = f"{DOWN_PREFIX}{component}:", f"{BACK_PREFIX}{component}:"
    stmt = select(alerts.c.id, alerts.c.dedup_key, alerts.c.title, alerts.c.created_at).where(
        alerts.c.created_at >= iso(since),  # indexed: the scan stays short
        alerts.c.category == CATEGORY,
        or_(
            alerts.c.dedup_key.startswith(down, autoescape=True),
            alerts.c.dedup_key.startswith(back, autoescape=True),
        ),
    )
    return list(conn.execute(stmt))


class _InTransaction:
    """Lets :func:`shared.alerts.enqueue` (which writes inside ``engine.begin()``) write in our open
    transaction, under the lock taken for the check."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        yield self._conn


def effective_stale_after(settings: Settings, heartbeat_seconds: float) -> float:
    """``HEARTBEAT_STALE_SECONDS``, but at least two heartbeat intervals (a slow beat is not an outage)."""
    return max(settings.HEARTBEAT_STALE_SECONDS, 2 * heartbeat_seconds)


class Watchdog:
    """Watches every other component's heartbeat from process ``component``; :meth:`check` is the job.

    ``interval`` is how often :meth:`check` runs (the heartbeat interval). A gap between two checks longer
    than :attr:`pause_after` means this process itself was paused (the machine slept): the others' last
    beats may look old only because of that, so it watches ``stale_after`` seconds again before judging
    anyone down. ``now`` and ``monotonic`` are clocks (tests pass fakes).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        component: str,
        settings: Settings,
        rules: AlertRules,
        stale_after: float,
        interval: float,
        now: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self.engine = engine
        self.component = component
        self.settings = settings
        self.rules = rules
        self.stale_after = stale_after
        self.interval = interval
        self._now = now
        self._monotonic = monotonic
        self.log = log or logging.getLogger(f"{component}.watchdog")
        self._watching_since: float | None = None
        self._last_check: float | None = None
        self._reported: set[str] = set()  # down keys known to be in the outbox: not looked up again

    @classmethod
    def for_process(cls, engine: Engine, config: Config, component: str, log: logging.Logger) -> Watchdog:
        """The watchdog of a process, from its configuration."""
        interval = config.strategy.schedule.heartbeat_seconds
        stale_after = effective_stale_after(config.settings, interval)
        configured = config.settings.HEARTBEAT_STALE_SECONDS
        if stale_after != configured:
            log.warning(
                "HEARTBEAT_STALE_SECONDS=%g is less than two heartbeats (schedule.heartbeat_seconds=%g): "
                "components count as down after %g s",
                configured,
                interval,
                stale_after,
            )
        return cls(
            engine,
            component=component,
            settings=config.settings,
            rules=config.strategy.alerts,
            stale_after=stale_after,
            interval=interval,
            log=log,
        )

    # --- the job ------------------------------------------------------------------------------
    async def run(self) -> None:
        """:meth:`check` in a worker thread: the scheduled job of an asyncio process. A coroutine job, so
        that a stop cancels it quietly (the check itself finishes its transaction in the thread)."""
        await asyncio.to_thread(self.check)

    def check(self) -> list[Decision]:
        """Look at every heartbeat once and report what changed; return what this process reported.

        Never raises: a database error is logged and the next check tries again.
        """
        judging = self._judging()
        try:
            return self._check(judging)
        except Exception as err:
            self.log.warning("watchdog: could not check the heartbeats: %s", err)
            return []

    @property
    def pause_after(self) -> float:
        """Seconds between two checks that count as a pause of this process: a pause that long, plus the
        interval the others may have been from their next beat, could make a live component look stale."""
        return max(self.stale_after - self.interval, 1.5 * self.interval)

    def _judging(self) -> bool:
        """Whether this process has watched long enough, without a pause, to call a silence an outage."""
        now = self._monotonic()
        if self._last_check is None or now - self._last_check > self.pause_after:
            self._watching_since = now  # just started, or this process itself was paused
        self._last_check = now
        assert self._watching_since is not None
        return now - self._watching_since >= self.stale_after

    def _since(self, now: datetime, stale: Sequence[Beat]) -> datetime:
        """How far back the outbox must be read: the outage memory, or the oldest unreported silence."""
        since = now - OUTAGE_MEMORY
        for beat in stale:
            since = min(since, beat.last_beat - _CLOCK_MARGIN)
        return since

    def _check(self, judging: bool) -> list[Decision]:
        now = self._now()
        with self.engine.connect() as conn:
            beats = [Beat.from_row(r) for r in conn.execute(select(heartbeats))]
            beats = [b for b in beats if b.component != self.component]
            unreported = [
                b
                for b in beats
                if b.state != "stopped"
                and (now - b.last_beat).total_seconds() > self.stale_after
                and down_key(b) not in self._reported
            ]
            histories = history_of(_outbox_rows(conn, self._since(now, unreported)))
        done: list[Decision] = []
        for beat in beats:
            history = histories.get(beat.component, History())
            if down_key(beat) in history.down_keys:
                self._reported.add(down_key(beat))
            history = History(history.down_keys | self._reported, history.open)
            if decide(beat, history, now=now, stale_after=self.stale_after, judging=judging) is not None:
                reported = self._report(beat.component, judging)  # re-checked under the lock
                if reported is not None:
                    done.append(reported)
        return done

    def _report(self, component: str, judging: bool) -> Decision:
        """Lock ``component``'s heartbeat row, decide again on what is committed now, and enqueue the
        alert in the same transaction; return what was reported (``None``: another process did)."""
        now = self._now()
        with self.engine.begin() as conn:
            row = conn.execute(
                update(heartbeats)
                .where(heartbeats.c.component == component)
                .values(pid=heartbeats.c.pid)  # changes nothing; takes the lock
                .returning(*heartbeats.c)
            ).first()
            if row is None:
                return None
            beat = Beat.from_row(row)
            history = history_of(_outbox_rows(conn, self._since(now, [beat]), component)).get(
                component, History()
            )
            decision = decide(beat, history, now=now, stale_after=self.stale_after, judging=judging)
            if isinstance(decision, Down):
                self._enqueue(conn, "critical", *self._down_text(decision), down_key(beat))
            elif isinstance(decision, Back):
                newest = decision.outages[-1]
                self._enqueue(conn, "info", *self._back_text(decision), back_key(component, newest.alert_id))
        if isinstance(decision, Down):
            self._reported.add(down_key(decision.beat))
            self.log.warning("watchdog: %s", self._down_text(decision)[0])
        elif isinstance(decision, Back):
            self.log.info("watchdog: %s", self._back_text(decision)[0])
        return decision

    def _enqueue(self, conn: Connection, severity: str, title: str, body: str, key: str) -> None:
        enqueue(
            cast(Engine, _InTransaction(conn)),
            source=self.component,
            severity=severity,
            category=CATEGORY,
            title=title,
            body=body,
            dedup_key=key,
            rules=self.rules,
            email_enabled=self.settings.email_enabled,
            sms_enabled=self.settings.sms_enabled,
        )

    # --- texts --------------------------------------------------------------------------------
    def _down_text(self, down: Down) -> tuple[str, str]:
        b = down.beat
        title = (
            f"{b.component} is down: no heartbeat for {down.age:.0f} s (pid {b.pid}, last state {b.state})"
        )
        client = f", TWS client id {b.client_id}" if b.client_id is not None else ""
        body = (
            f"{b.component} (pid {b.pid}{client}, started {b.started_at}) last beat at {b.updated_at} "
            f"in state {b.state}{f' ({b.detail})' if b.detail else ''} and did not record a clean stop: it "
            f"crashed, was killed or hangs. Noticed by {self.component} after {self.stale_after:.0f} s "
            f"without a heartbeat. See logs/{b.component}.log (or .jsonl), then start it again; "
            f"an info alert follows when it beats again."
        )
        return title, body

    def _back_text(self, back: Back) -> tuple[str, str]:
        b = back.beat
        title = f"{b.component} is back: heartbeat again (pid {b.pid}, state {b.state})"
        reported = "; ".join(f"{o.created_at}: {o.title}" for o in back.outages)
        body = (
            f"{b.component} beats again (pid {b.pid}, started {b.started_at}). "
            f"It was reported down at {reported}."
        )
        return title, body
