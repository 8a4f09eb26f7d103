"""Scripted faults that tests drive through the control interface (see :mod:`simulator.control`).

Every duration is wall-clock seconds (``time.monotonic``), whatever the simulated clock's speed.

* ``drop_client``: close one client's socket abruptly (no error message first).
* ``connectivity``: send error(-1, 1100/1101/1102, TWS's text) to every client. While lost (1100) no market
  data streams and no order fills; 1101 ("data lost") cancels every market-data and account subscription
  (clients must resubscribe); 1102 ("data maintained") resumes them.
* ``delay``: every request is answered ``seconds`` late (requests are processed in order, late).
* ``refuse``: new connections are accepted and closed at once.
* ``restart_window``: TWS's daily restart: every client is dropped and connections are refused until it ends.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ports import ServerPort, SessionPort

log = logging.getLogger("simulator.faults")

CONNECTIVITY_TEXT = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
}


class FaultError(ValueError):
    """A control request that cannot be applied (unknown client, bad code …); ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Faults:
    """The fault state of one simulator server."""

    def __init__(self, server: ServerPort, clock: Callable[[], float] = time.monotonic) -> None:
        self.server = server
        self._clock = clock
        self.connectivity_lost = False
        self.delay_seconds = 0.0
        self._delay_until = 0.0
        self._refuse_until = 0.0
        self._restart_until = 0.0

    # ------------------------------------------------------------------ queries
    @property
    def delay(self) -> float:
        """Seconds by which every response is currently delayed (0 when no delay fault is active)."""
        return self.delay_seconds if self._clock() < self._delay_until else 0.0

    @property
    def restart_window(self) -> bool:
        """True during a simulated daily restart."""
        return self._clock() < self._restart_until

    def accepting(self) -> bool:
        """False while new connections must be refused (refuse fault or restart window)."""
        now = self._clock()
        return now >= self._refuse_until and now >= self._restart_until

    # ------------------------------------------------------------------ actions
    def drop_client(self, client_id: int) -> None:
        """Close the client's socket at once, without a word."""
        session = self.server.sessions.get(client_id)
        if session is None:
            raise FaultError(f"client {client_id} is not connected", 404)
        log.info("fault: dropping client %d", client_id)
        with contextlib.suppress(Exception):
            session.writer.transport.abort()
        session.close()

    def connectivity(self, code: int) -> None:
        """Send 1100 (lost), 1101 (restored, data lost) or 1102 (restored, data kept) to every client."""
        if code not in CONNECTIVITY_TEXT:
            raise FaultError("code must be 1100, 1101 or 1102")
        log.info("fault: connectivity %d", code)
        self.connectivity_lost = code == 1100
        for session in list(self.server.sessions.values()):
            if code == 1101:
                forget_subscriptions(session)
            session.error(-1, code, CONNECTIVITY_TEXT[code])

    def set_delay(self, seconds: float, for_seconds: float) -> None:
        """Delay every response by ``seconds`` for the next ``for_seconds``."""
        if seconds < 0 or for_seconds < 0:
            raise FaultError("seconds and for_seconds must not be negative")
        self.delay_seconds = float(seconds)
        self._delay_until = self._clock() + for_seconds

    def refuse(self, for_seconds: float) -> None:
        """Close every new connection at once for ``for_seconds``."""
        if for_seconds < 0:
            raise FaultError("for_seconds must not be negative")
        self._refuse_until = self._clock() + for_seconds

    def restart(self, for_seconds: float) -> None:
        """Simulate TWS's daily restart: drop every client, refuse connections for ``for_seconds``."""
        if for_seconds < 0:
            raise FaultError("for_seconds must not be negative")
        self._restart_until = self._clock() + for_seconds
        log.info(
            "fault: restart window for %.1f s; dropping %d clients", for_seconds, len(self.server.sessions)
        )
        for session in list(self.server.sessions.values()):
            session.close()

    def clear(self) -> None:
        """End every fault (connectivity counts as restored, without a message)."""
        self.connectivity_lost = False
        self.delay_seconds = 0.0
        self._delay_until = self._refuse_until = self._restart_until = 0.0


def forget_subscriptions(session: SessionPort) -> None:
    """What 1101 does to a client: its market-data and account subscriptions are gone."""
    session.mkt_subs.clear()
    session.account_subscribed = False
    session.multi_subs.clear()
