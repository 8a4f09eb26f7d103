"""IB's own Python client (PyPI ``ibapi-stable``) as a test client: EClient's message loop on a thread, every
EWrapper callback recorded as ``(name, args)`` so tests can wait for and inspect exactly what ibapi decoded.

Nothing here interprets the wire: the fields the tests look at are the objects ibapi's decoder built.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from ibapi.client import EClient
from ibapi.wrapper import EWrapper

Call = tuple[str, tuple[Any, ...]]
_client_ids = itertools.count(500)


class RecordingWrapper(EWrapper):
    """An EWrapper whose every public callback appends ``(name, args)`` to :attr:`calls`."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.cond = threading.Condition()
        for name in dir(EWrapper):
            if not name.startswith("_") and callable(getattr(EWrapper, name)):
                setattr(self, name, self._recorder(name))

    def _recorder(self, name: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            with self.cond:
                self.calls.append((name, args))
                self.cond.notify_all()

        return record


class IbapiClient:
    """A connected ibapi ``EClient`` plus the recorded callbacks (see :meth:`wait`)."""

    def __init__(self, host: str, port: int, client_id: int | None = None, timeout: float = 5.0) -> None:
        self.wrapper = RecordingWrapper()
        self.client = EClient(self.wrapper)
        self.client_id = client_id if client_id is not None else next(_client_ids)
        self.client.connect(host, port, self.client_id)
        if not self.client.isConnected():
            raise ConnectionError(f"ibapi could not connect to {host}:{port}")
        self.thread = threading.Thread(target=self.client.run, name=f"ibapi-{self.client_id}", daemon=True)
        self.thread.start()
        self.wait(lambda: self.first("nextValidId"), timeout)
        self._ids = itertools.count(int(self.first("nextValidId")[0]))

    # ------------------------------------------------------------------ ids and shutdown
    def next_id(self) -> int:
        """A fresh request/order id (one counter, starting at nextValidId, as TWS expects)."""
        return next(self._ids)

    def close(self) -> None:
        """Disconnect and wait for the message loop to end."""
        self.client.disconnect()
        self.thread.join(5)

    # ------------------------------------------------------------------ recorded callbacks
    def calls(self, name: str, req_id: int | None = None) -> list[tuple[Any, ...]]:
        """Arguments of every recorded ``name`` callback (whose first argument is ``req_id`` if given)."""
        with self.wrapper.cond:
            return [
                args
                for n, args in self.wrapper.calls
                if n == name and (req_id is None or (args and args[0] == req_id))
            ]

    def first(self, name: str, req_id: int | None = None) -> tuple[Any, ...] | None:
        """The first recorded ``name`` callback, or None."""
        found = self.calls(name, req_id)
        return found[0] if found else None

    def errors(self, req_id: int | None = None) -> list[tuple[int, int, str]]:
        """(reqId, code, message) of every error callback (ibapi 10.x passes errorTime second)."""
        return [(a[0], a[2], a[3]) for a in self.calls("error", req_id)]

    def wait(self, cond: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Block until ``cond()`` is truthy (re-checked on every callback); raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            value = cond()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met in {timeout} s; last calls: {self.wrapper.calls[-5:]}")
            with self.wrapper.cond:
                self.wrapper.cond.wait(min(left, 0.05))

    def wait_end(self, end_name: str, req_id: int, timeout: float = 5.0) -> None:
        """Wait for an End callback (``contractDetailsEnd`` …) of ``req_id``, failing early on an error."""

        def done() -> bool:
            if any(code < 2100 and code not in (10167,) for _, code, _ in self.errors(req_id)):
                raise AssertionError(f"request {req_id} failed: {self.errors(req_id)}")
            return self.first(end_name, req_id) is not None

        self.wait(done, timeout)
