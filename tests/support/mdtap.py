"""A TCP proxy between API clients and the simulator that follows every market-data line.

It forwards bytes unchanged and reads the TWS framing on the way (4-byte length, NUL-separated fields):
``reqMktData`` (1) opens a line, ``cancelMktData`` (2) closes it, and so do the end of a snapshot (57)
and an error refusing the request. When a client's socket closes, the lines it still held are recorded,
so a test can check that a process cancelled its subscriptions before it disconnected.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field

REQ_MKT_DATA, CANCEL_MKT_DATA, START_API = 1, 2, 71
ERR_MSG, TICK_SNAPSHOT_END = 4, 57
#: Error codes with which TWS refuses a market-data request (no line is held).
REFUSALS = {101, 200, 322, 354, 10197}


@dataclass
class TapSession:
    """One API connection: its client id and its market-data lines."""

    client_id: int | None = None
    requested: set[int] = field(default_factory=set)
    ended: set[int] = field(default_factory=set)
    closed: bool = False
    open_at_close: set[int] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def open_lines(self) -> set[int]:
        with self.lock:
            return self.requested - self.ended


def frames(buf: bytearray) -> list[list[str]]:
    """Cut every complete message off ``buf`` and return their fields."""
    out = []
    while len(buf) >= 4:
        size = struct.unpack(">I", bytes(buf[:4]))[0]
        if len(buf) < 4 + size:
            break
        payload = bytes(buf[4 : 4 + size])
        del buf[: 4 + size]
        out.append(payload.decode(errors="replace").split("\0"))
    return out


def int_field(fields: list[str], i: int) -> int | None:
    """Field ``i`` of a message as an int; ``None`` when missing or not a number."""
    try:
        return int(fields[i])
    except (IndexError, ValueError):
        return None


class MarketDataTap:
    """Listens on 127.0.0.1:<port> and relays every connection to ``upstream``."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.sessions: list[TapSession] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def sessions_of(self, client_id: int) -> list[TapSession]:
        """Every connection that identified itself with ``client_id``, oldest first."""
        return [s for s in self.sessions if s.client_id == client_id]

    def close(self) -> None:
        self._stopped = True
        self._listener.close()

    # -- relaying ------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            session = TapSession()
            self.sessions.append(session)
            threading.Thread(target=self._pump, args=(client, server, session, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, session, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, session: TapSession, upward: bool) -> None:
        buf = bytearray()
        prefix_left = 4 if upward else 0  # the client opens with b"API\0"
        first = True  # the version string upward, the version/time reply downward
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                buf += data
                if prefix_left:
                    cut = min(prefix_left, len(buf))
                    del buf[:cut]
                    prefix_left -= cut
                for fields in frames(buf):
                    if first:
                        first = False
                        continue
                    self._read(session, fields, upward)
        except OSError:
            pass
        finally:
            if upward:
                with session.lock:
                    session.closed = True
                    session.open_at_close = session.requested - session.ended
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    @staticmethod
    def _read(session: TapSession, fields: list[str], upward: bool) -> None:
        msg = int_field(fields, 0)
        with session.lock:
            if upward and msg == START_API:
                session.client_id = int_field(fields, 2)
            elif upward and msg == REQ_MKT_DATA and (req := int_field(fields, 2)) is not None:
                session.requested.add(req)
                session.ended.discard(req)
            elif (msg == (CANCEL_MKT_DATA if upward else TICK_SNAPSHOT_END)) and (
                req := int_field(fields, 2)
            ) is not None:
                session.ended.add(req)
            elif not upward and msg == ERR_MSG and int_field(fields, 3) in REFUSALS:
                req = int_field(fields, 2)
                if req is not None and req in session.requested:
                    session.ended.add(req)
