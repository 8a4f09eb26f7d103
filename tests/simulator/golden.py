"""Decode simulator messages with the two real client decoders (IB's ``ibapi`` and ``ib_async``).

Both take the framed bytes the simulator would send: ``protocol.encode`` → length prefix stripped → split the
way each client splits. ibapi's signature-driven handlers drop a message whose field count is off (they log
and return), its iterator-driven ones raise ``BadMessage`` when a field is missing; :func:`ibapi_decode`
also reports the fields a handler left unread, so an extra field shows up as well. :func:`sample_order` is
the resting order the openOrder tests encode.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from ib_async.decoder import Decoder as AsyncDecoder
from ibapi import comm
from ibapi.decoder import Decoder as IbapiDecoder
from ibapi_client import RecordingWrapper

from simulator.ledger import SimOrder
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


class AsyncRecorder:
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
    rec = AsyncRecorder()
    AsyncDecoder(rec, version).handlers[int(wire[0])](wire)
    return rec.calls


def sample_order(spec: Any, **kw: Any) -> SimOrder:
    """A resting SELL 2 @ 1.37 GTC Adaptive limit order (id 42, client 12000, account DU1234567) on ``spec``;
    ``kw`` replaces any of its fields."""
    base: dict[str, Any] = dict(
        order_id=42,
        client_id=12000,
        perm_id=1_234_567,
        spec=spec,
        action="SELL",
        quantity=2.0,
        order_type="LMT",
        lmt_price=1.37,
        account="DU1234567",
        tif="GTC",
        order_ref="intent-abc",
        status="Submitted",
        algo_strategy="Adaptive",
        algo_params=[("adaptivePriority", "Normal")],
    )
    base.update(kw)
    return SimOrder(**base)
