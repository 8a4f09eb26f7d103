"""Circuit breakers whose state lives in the ``breakers`` table, so every process shares it.

One row per channel (``name`` = ``email`` | ``sms``) holds pybreaker's state, failure and success
counters and the time it opened. An outage seen by one process therefore opens the breaker for all.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pybreaker
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from shared.alerts.clock import iso, system_clock
from shared.db import parse_ts
from shared.schema import breakers

log = logging.getLogger(__name__)

#: Consecutive failures that open a channel's breaker.
DEFAULT_FAIL_MAX = 3
#: Seconds an open breaker waits before letting one trial call through (half-open).
DEFAULT_RESET_TIMEOUT = 60.0


class DbBreakerStorage(pybreaker.CircuitBreakerStorage):
    """pybreaker storage backed by one row of the ``breakers`` table.

    The row is created (closed, counters 0) when missing. Every read and write is its own short
    transaction; counters change with ``SET x = x + 1`` so concurrent processes don't lose counts.
    Database errors propagate (``sqlalchemy.exc.SQLAlchemyError``).
    """

    def __init__(self, engine: Engine, name: str) -> None:
        super().__init__(name)
        self._engine = engine
        self._ensure_row()

    def _ensure_row(self) -> None:
        with self._engine.begin() as conn:
            found = conn.execute(select(breakers.c.name).where(breakers.c.name == self.name)).first()
        if found is not None:
            return
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(breakers).values(
                        name=self.name,
                        state=pybreaker.STATE_CLOSED,
                        fail_counter=0,
                        success_counter=0,
                        opened_at=None,
                        updated_at=iso(system_clock()),
                    )
                )
        except IntegrityError:
            pass  # another process created it first

    def _get(self, column: str) -> Any:
        with self._engine.connect() as conn:
            return conn.execute(select(breakers.c[column]).where(breakers.c.name == self.name)).scalar()

    def _set(self, **values: object) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(breakers)
                .where(breakers.c.name == self.name)
                .values(updated_at=iso(system_clock()), **values)
            )

    @property
    def state(self) -> str:
        """pybreaker's state name: ``closed``, ``open`` or ``half-open``."""
        value = self._get("state")
        return str(value) if value else pybreaker.STATE_CLOSED

    @state.setter
    def state(self, state: str) -> None:
        self._set(state=state)

    def increment_counter(self) -> None:
        """Add one to the consecutive-failure counter."""
        self._set(fail_counter=breakers.c.fail_counter + 1)

    def reset_counter(self) -> None:
        """Set the consecutive-failure counter to 0."""
        self._set(fail_counter=0)

    def increment_success_counter(self) -> None:
        """Add one to the half-open success counter."""
        self._set(success_counter=breakers.c.success_counter + 1)

    def reset_success_counter(self) -> None:
        """Set the half-open success counter to 0."""
        self._set(success_counter=0)

    @property
    def counter(self) -> int:
        """Consecutive failures."""
        return int(self._get("fail_counter") or 0)

    @property
    def success_counter(self) -> int:
        """Consecutive successes while half-open."""
        return int(self._get("success_counter") or 0)

    @property
    def opened_at(self) -> datetime | None:
        """When the breaker last opened (aware UTC), or None."""
        value = self._get("opened_at")
        return parse_ts(str(value)) if value else None

    @opened_at.setter
    def opened_at(self, moment: datetime) -> None:
        self._set(opened_at=iso(moment))


class _LogStateChanges(pybreaker.CircuitBreakerListener):
    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        old = old_state.name if old_state else "?"
        level = logging.WARNING if new_state.name == pybreaker.STATE_OPEN else logging.INFO
        log.log(level, "alert channel %s breaker: %s → %s", cb.name, old, new_state.name)


def make_breaker(
    storage: DbBreakerStorage,
    *,
    fail_max: int = DEFAULT_FAIL_MAX,
    reset_timeout: float = DEFAULT_RESET_TIMEOUT,
) -> pybreaker.CircuitBreaker:
    """A circuit breaker named like ``storage`` (the channel) whose state lives in the database.

    ``fail_max`` consecutive failures open it; after ``reset_timeout`` seconds one trial call is let
    through. When the failure that opens it happens, the call's own exception is re-raised (not
    ``CircuitBreakerError``), so ``CircuitBreakerError`` always means "rejected without trying".
    """
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        state_storage=storage,
        name=storage.name,
        listeners=[_LogStateChanges()],
        throw_new_error_on_trip=False,
    )


def is_blocking(storage: DbBreakerStorage, reset_timeout: float) -> bool:
    """True while the breaker is open and ``reset_timeout`` seconds have not passed since it opened.

    Then a call would be rejected, so the dispatcher does not even claim that channel's deliveries.
    """
    if storage.state != pybreaker.STATE_OPEN:
        return False
    opened = storage.opened_at
    if opened is None:
        return False
    return (system_clock() - opened).total_seconds() < reset_timeout
