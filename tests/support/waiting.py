"""Polling for tests that drive real processes: wait until something a user would see is there."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_for(
    what: str,
    probe: Callable[[], Any],
    timeout: float = 30.0,
    *,
    interval: float = 0.2,
    alive: Callable[[], bool] | None = None,
    context: Callable[[], str] | None = None,
) -> Any:
    """Call ``probe`` until it returns something truthy and return that; fail the test after ``timeout`` s.

    ``OSError``/``AssertionError`` from the probe count as "not yet". ``alive`` (e.g. "the service is
    still running") stops the wait early when false; ``context`` adds text (e.g. process output) to the
    failure message.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except (OSError, AssertionError) as err:
            last_error = err
        if alive is not None and not alive():
            break
        time.sleep(interval)
    extra = f"\n{context()}" if context is not None else ""
    pytest.fail(f"timed out waiting for {what} (last error: {last_error}){extra}")
