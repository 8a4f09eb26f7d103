"""Real parts for the connection-manager tests: the simulator as a subprocess with its control interface
(faults over HTTP); the helpers live in tests/support/runtime_helpers.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from runtime_helpers import session_start
from simproc import Sim, start_sim, stop_sim


@pytest.fixture
def sim() -> Iterator[Sim]:
    """The simulator enforcing IB's limits, with its control interface, its clock inside a session."""
    s = start_sim(178, "--start", session_start(), limits=True, control=True)
    try:
        yield s
    finally:
        stop_sim(s)
