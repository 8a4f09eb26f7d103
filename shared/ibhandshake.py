"""One connection attempt to TWS with one client id (``IB.connectAsync`` made decisive).

TWS answers a client id already in use with error 326 and closes the socket; a TWS that is restarting
or refuses API clients closes it without a word. During the handshake ib_async notices neither until
its own time-out, so this attempt watches for both and ends at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ib_async import IB

from shared.settings import Settings


class TwsUnreachable(ConnectionError):
    """TWS / IB Gateway refused or did not answer the connection (IB's 502)."""


async def try_client_id(ib: IB, settings: Settings, client_id: int) -> bool:
    """Connect ``ib`` as ``client_id``: ``True`` when connected, ``False`` when TWS says the id is in use.

    Raises :class:`TwsUnreachable` when TWS is not there, closes the socket, or does not complete the
    start-up requests within ``IBKR_CONNECT_TIMEOUT`` seconds each.
    """
    in_use, closed = asyncio.Event(), asyncio.Event()

    def on_error(_req_id: int, code: int, _message: str, _contract: Any = None) -> None:
        if code == 326:
            in_use.set()

    def on_closed(_message: str) -> None:
        closed.set()

    ib.errorEvent += on_error
    ib.client.conn.disconnected += on_closed
    connect = asyncio.ensure_future(
        ib.connectAsync(
            settings.IBKR_HOST,
            settings.IBKR_PORT,
            clientId=client_id,
            timeout=settings.IBKR_CONNECT_TIMEOUT,
            account=settings.TWS_ACCOUNT,
            raiseSyncErrors=True,  # a start-up request TWS does not answer in time: a failed attempt
        )
    )
    # a connection attempt abandoned at shutdown may still fail later: mark that failure as seen
    connect.add_done_callback(lambda t: t.cancelled() or t.exception())
    waits = [connect, asyncio.ensure_future(in_use.wait()), asyncio.ensure_future(closed.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ib.errorEvent -= on_error
        ib.client.conn.disconnected -= on_closed
        pending = [t for t in waits if not t.done()]
        for task in pending:
            task.cancel()
        if pending:  # let an abandoned attempt finish before we leave (no stray task at shutdown)
            await asyncio.gather(*pending, return_exceptions=True)
    connected = connect.done() and not connect.cancelled() and connect.exception() is None
    if connected:
        return True
    ib.disconnect()
    if in_use.is_set():
        return False
    if closed.is_set():
        raise TwsUnreachable("TWS closed the connection during the handshake")
    err = connect.exception()
    if isinstance(err, OSError | TimeoutError):  # ConnectionRefusedError, ConnectionError included
        raise TwsUnreachable(f"{type(err).__name__}: {err}") from err
    raise err if err is not None else TwsUnreachable("the connection attempt was abandoned")
