"""Run one coroutine per item with at most ``limit`` running at once (the scanner's symbols).

asyncio has no bounded map: ``gather`` runs everything at once, and ``TaskGroup`` raises an
``ExceptionGroup`` where the scanner expects the first ``ConnectionError`` or ``TimeoutError`` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

__all__ = ["for_each"]

T = TypeVar("T")


async def for_each(items: Iterable[T], limit: int, work: Callable[[T], Awaitable[None]]) -> None:
    """Await ``work(item)`` for every item, started in the items' order, at most ``limit`` at once.

    The first exception cancels the work still running (each cancelled piece runs its own cleanup
    before this returns) and is raised as it is. Raises ``ValueError`` when ``limit`` < 1."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    queue = iter(items)

    async def worker() -> None:
        for item in queue:  # the workers share the iterator: each takes the next item when free
            await work(item)

    tasks = [asyncio.ensure_future(worker()) for _ in range(limit)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
