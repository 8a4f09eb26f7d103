"""Fixtures: the simulator as a subprocess (``python -m simulator --port 0``), one per server version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ib_async import IB
from simproc import Sim, start_sim, stop_clean


@pytest.fixture(scope="module", params=[176, 178], ids=["v176", "v178"])
def sim(request: pytest.FixtureRequest) -> Iterator[Sim]:
    """A simulator subprocess negotiating at most server version 176 or 178."""
    s = start_sim(request.param)
    yield s
    stop_clean(s)


@pytest.fixture
def ib(sim: Sim) -> Iterator[IB]:
    """A connected ib_async client with a fresh client id."""
    client = sim.connect()
    yield client
    client.disconnect()
