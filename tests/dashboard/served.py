"""The real dashboard app served by waitress on a free loopback port, for the tests that talk HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dashboard_seed import Live
from flask import Flask
from sqlalchemy import Engine
from waitress import create_server, wasyncore
from waitress.server import BaseWSGIServer

from shared.config import Config


@contextmanager
def serve(app: Flask, engine: Engine, config: Config) -> Iterator[Live]:
    """``app`` served by waitress on a free loopback port until the block ends."""
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    assert isinstance(server, BaseWSGIServer)
    thread = threading.Thread(target=server.run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield Live(url=f"http://127.0.0.1:{server.effective_port}", engine=engine, config=config)
    finally:
        # Close every channel from inside the server's own loop, which then returns at once.
        try:
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        except OSError:  # the trigger pipe is closed already (the loop ended): close what is left from here
            wasyncore.close_all(server._map)
        thread.join(timeout=5)
        server.task_dispatcher.shutdown()
