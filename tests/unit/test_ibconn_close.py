"""Stopping together with TWS: when TWS (or the simulator, stopped by the same Ctrl-C) has already closed
its end, ib_async's disconnect raises ``OSError`` (ENOTCONN from ``shutdown``). The connection manager's
close must still end quietly: the process then exits 0 with no traceback in its output."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest
from sqlalchemy import Engine

from shared.heartbeat import Heartbeat
from shared.ibconn import IBConnection
from shared.settings import Settings


def test_close_after_tws_closed_its_end_is_quiet(
    engine: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    conn = IBConnection(settings, "monitor", Heartbeat(engine, "monitor"))

    def gone() -> None:  # what ib_async's disconnect raises when the peer has reset the socket
        raise OSError(errno.ENOTCONN, "Transport endpoint is not connected")

    with monkeypatch.context() as patched:  # undone before ib_async's own __del__ disconnects
        patched.setattr(conn.ib, "isConnected", lambda: True)
        patched.setattr(conn.ib, "disconnect", gone)
        with caplog.at_level(logging.INFO, logger="monitor.ibconn"):
            asyncio.run(conn.close())
    assert "TWS had already closed the connection (Transport endpoint is not connected)" in caplog.text
