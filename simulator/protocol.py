"""TWS API socket protocol primitives: framing, field encoding/decoding and message ids.

After the handshake every message in both directions is a 4-byte big-endian length followed by
NUL-terminated ASCII fields. The oracle for every layout is ib_async's ``client.py`` (requests we parse)
and ``decoder.py`` (messages we send).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable, Sequence
from typing import Final

UNSET_DOUBLE: Final[float] = 1.7976931348623157e308
UNSET_INTEGER: Final[int] = 2**31 - 1

MIN_SERVER_VERSION: Final[int] = 157
MAX_SERVER_VERSION: Final[int] = 178
MAX_MESSAGE_BYTES: Final[int] = 16 * 1024 * 1024

Field = str | int | float | bool | None


class In:
    """Client → server message ids (the first field of a request)."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCOUNT_UPDATES = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DETAILS = 9
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_HISTORICAL_DATA = 20
    CANCEL_HISTORICAL_DATA = 25
    REQ_CURRENT_TIME = 49
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_SEC_DEF_OPT_PARAMS = 78
    REQ_PNL = 92
    CANCEL_PNL = 93
    REQ_PNL_SINGLE = 94
    CANCEL_PNL_SINGLE = 95
    REQ_COMPLETED_ORDERS = 99


class Out:
    """Server → client message ids."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERR_MSG = 4
    OPEN_ORDER = 5
    ACCT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MANAGED_ACCTS = 15
    HISTORICAL_DATA = 17
    TICK_OPTION_COMPUTATION = 21
    TICK_GENERIC = 45
    TICK_STRING = 46
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION_DATA = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    SECURITY_DEFINITION_OPTION_PARAMETER = 75
    SECURITY_DEFINITION_OPTION_PARAMETER_END = 76
    PNL = 94
    PNL_SINGLE = 95
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


def fmt(value: Field) -> str:
    """Render one field the way TWS does: bools as 1/0, None and UNSET sentinels as empty strings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return "" if value == UNSET_INTEGER else str(value)
    if isinstance(value, float):
        if value == UNSET_DOUBLE:
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.12g}"
    return value


def encode(fields: Iterable[Field]) -> bytes:
    """Frame one message: length prefix + NUL-terminated fields."""
    payload = "".join(fmt(f) + "\0" for f in fields).encode("utf-8", errors="replace")
    return struct.pack(">I", len(payload)) + payload


def split_fields(payload: bytes) -> list[str]:
    """Split a message payload into its fields (the trailing NUL yields no extra field)."""
    text = payload.decode("utf-8", errors="backslashreplace")
    fields = text.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


async def read_message(reader: asyncio.StreamReader) -> bytes:
    """Read one length-prefixed message payload; raises IncompleteReadError on EOF."""
    header = await reader.readexactly(4)
    (size,) = struct.unpack(">I", header)
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"message of {size} bytes exceeds the limit")
    return await reader.readexactly(size)


def parse_version_range(text: str) -> tuple[int, int]:
    """Parse the client's handshake ``"v157..178"`` (optionally ``" +PACEAPI"`` appended)."""
    body = text.strip().split(" ")[0]
    if body.startswith("v"):
        body = body[1:]
    if ".." in body:
        low, high = body.split("..", 1)
        return int(low.lstrip("v")), int(high.lstrip("v"))
    return int(body), int(body)


def negotiate(client_min: int, client_max: int, server_max: int) -> int | None:
    """Return the server version to use, or None when the ranges do not overlap."""
    version = min(server_max, client_max)
    if version < max(client_min, MIN_SERVER_VERSION):
        return None
    return version


class FieldReader:
    """Sequential reader over the fields of one request, with typed getters.

    Missing trailing fields read as empty strings so that short messages degrade gracefully.
    """

    def __init__(self, fields: Sequence[str], start: int = 0) -> None:
        self._fields = list(fields)
        self._pos = start

    @property
    def remaining(self) -> int:
        """Number of unread fields."""
        return max(0, len(self._fields) - self._pos)

    def text(self) -> str:
        """Next field as text ('' when exhausted)."""
        if self._pos >= len(self._fields):
            self._pos += 1
            return ""
        value = self._fields[self._pos]
        self._pos += 1
        return value

    def integer(self, default: int = 0) -> int:
        """Next field as int; empty → ``default``."""
        raw = self.text()
        if not raw:
            return default
        try:
            return int(float(raw))
        except ValueError:
            return default

    def number(self, default: float = 0.0) -> float:
        """Next field as float; empty → ``default`` (``"Infinite"`` → inf)."""
        raw = self.text()
        if not raw:
            return default
        if raw == "Infinite":
            return float("inf")
        try:
            return float(raw)
        except ValueError:
            return default

    def flag(self) -> bool:
        """Next field as bool (``"1"``/``"0"``, also ``"True"``)."""
        raw = self.text()
        return raw not in ("", "0", "False", "false")

    def skip(self, n: int = 1) -> None:
        """Skip ``n`` fields."""
        self._pos += n
