"""Decode simulator messages with the two real client decoders (IB's ``ibapi`` and ``ib_async``).

Both take the framed bytes the simulator would send: ``protocol.encode`` → length prefix stripped → split the
way each client splits. ibapi's signature-driven handlers drop a message whose field count is off (they log
and return), its iterator-driven ones raise ``BadMessage`` when a field is missing; :func:`ibapi_decode`
also reports the fields a handler left unread, so an extra field shows up as well.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from ib_async.decoder import Decoder as AsyncDecoder
from ibapi import comm
from ibapi.decoder import Decoder as IbapiDecoder
from ibapi_client import RecordingWrapper

from simulator.protocol import encode, split_fields

Call = tuple[str, tuple[Any, ...]]


def ibapi_decode(version: int, fields: list[Any]) -> tuple[list[Call], list[bytes]]:
    """(callbacks, unread fields) of ibapi's decoder at ``version`` for one simulator message."""
    _, text, _ = comm.read_msg(encode(fields))
    parts = comm.read_fields(text)
    wrapper = RecordingWrapper()
    decoder = IbapiDecoder(wrapper, version)
    info = decoder.msgId2handleInfo[int(parts[0])]
    if info.wrapperMeth is not None:
        decoder.interpretWithSignature(list(parts[1:]), info)
        return wrapper.calls, []
    it = iter(parts[1:])
    info.processMeth(decoder, it)
    return wrapper.calls, list(it)


def ibapi_single(version: int, fields: list[Any]) -> tuple[str, tuple[Any, ...]]:
    """The callbacks of a message that must decode to exactly one callback (plus none left unread)."""
    calls, rest = ibapi_decode(version, fields)
    assert rest == [], f"ibapi left {len(rest)} field(s) unread: {rest}"
    assert len(calls) == 1, f"ibapi produced {calls} for {fields[:4]}"
    return calls[0]


class _AsyncRecorder:
    """Stand-in wrapper for ib_async's Decoder: records every callback."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.defaultTimezone = UTC
        self.ib = type("FakeIB", (), {"TimezoneTWS": None})()

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record


def async_decode(version: int, fields: list[Any]) -> list[Call]:
    """Callbacks of ib_async's decoder at ``version`` (its handler called directly, so errors raise)."""
    wire = split_fields(encode(fields)[4:])
    rec = _AsyncRecorder()
    AsyncDecoder(rec, version).handlers[int(wire[0])](wire)
    return rec.calls
