"""Waiting on TWS data the event-driven way (ib_async's events), with a deadline, instead of sleep loops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from ib_async import IB


async def wait_until(ib: IB, done: Callable[[], bool], timeout: float) -> bool:
    """Wait until ``done()`` is true, re-checking after each batch of ticker updates
    (``ib.pendingTickersEvent``), for at most ``timeout`` seconds. Returns ``done()`` at the end."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done():
        left = deadline - loop.time()
        if left <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_next(ib), left)
    return True


async def _next(ib: IB) -> None:
    """The next ``pendingTickersEvent`` (a batch of ticker updates has been processed)."""
    await ib.pendingTickersEvent
