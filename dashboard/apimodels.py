"""The pydantic models of the JSON API (``/api/v1``): its query parameters, request bodies and responses.

One set of classes both validates the requests (through :data:`dashboard.openapi.SPEC`) and describes them
in the OpenAPI document at ``/api/v1/openapi.json``. Rows read from the database are described by their
main fields; further columns are allowed (``additionalProperties``), so a new column is no breaking change.

Query parameters are whole numbers written with the ASCII digits ``0-9`` only (Python's ``str.isdigit``
also accepts ``²`` or Arabic-Indic digits) and at most 2**63 - 1, SQLite's largest integer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from dashboard import actions, commands, queries
from shared.trade import DecisionStatus

#: SQLite's largest integer (signed 64-bit): the largest id or number any parameter may carry.
MAX_SQL_INT = 2**63 - 1


def ascii_whole_number(value: object) -> object:
    """Query text → ``int`` when it is 1-19 ASCII digits; ``""`` → ``None`` (the parameter's default).

    Anything else is refused with a reason, so ``?limit=²`` or ``?scan_id=١`` is a 400, never a 500.
    """
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise ValueError(f"must be a whole number written with the digits 0-9, got {value[:40]!r}")
    return int(value)


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


#: A query parameter holding a whole number (``""`` means "not given").
QueryInt = Annotated[int | None, BeforeValidator(ascii_whole_number)]


class Strict(BaseModel):
    """A request model: unknown fields are refused (400 naming the field)."""

    model_config = ConfigDict(extra="forbid")


class LimitQuery(Strict):
    """``?limit=``: how many rows, newest first."""

    model_config = ConfigDict(extra="ignore")
    limit: QueryInt = Field(
        None, ge=1, le=queries.MAX_LIMIT, description=f"rows, 1-{queries.MAX_LIMIT} (default 200)"
    )


class DecisionsQuery(LimitQuery):
    """``?status=`` filters the decisions; ``?limit=``."""

    status: Annotated[DecisionStatus | None, BeforeValidator(_empty_is_none)] = Field(
        None, description="only decisions in this status"
    )


class OpportunitiesQuery(Strict):
    """``?scan_id=``: the opportunities of that scan instead of the newest completed one."""

    model_config = ConfigDict(extra="ignore")
    scan_id: QueryInt = Field(None, ge=1, le=MAX_SQL_INT, description="a scan's id")


class ApproveBody(Strict):
    """Body of an approval: the contracts to sell (a JSON integer; optional)."""

    quantity: StrictInt | None = Field(
        None,
        ge=actions.MIN_QUANTITY,
        le=actions.MAX_QUANTITY,
        description="contracts; default: the strategy's orders.contracts (a covered call: at most its "
        "uncovered shares)",
    )


class ReasonBody(Strict):
    """Body with an optional free-text reason, kept with the command."""

    reason: StrictStr | None = Field(
        None,
        max_length=20 * commands.MAX_REASON,
        description=f"why; at most {commands.MAX_REASON} characters once runs of spaces are collapsed",
    )


class EmptyBody(Strict):
    """No fields: the body is empty or ``{}``."""


# --- responses ------------------------------------------------------------------------------------------


class Row(BaseModel):
    """A database row: the fields listed, and possibly more."""

    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    """Every refusal: a one-line reason and the offending field (``null`` when it is no single field)."""

    error: str
    field: str | None
    intent_key: str | None = Field(None, description="the intent that is in the way, when one is")
    check: str | None = Field(None, description="the risk limit that refused (field risk)")


class Component(Row):
    component: str
    up: bool
    status: str
    age_seconds: float | None


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    time: str
    components: list[Component]


class Account(Row):
    ts: str
    net_liquidation: float | None


class AccountOut(BaseModel):
    account: Account | None


class Position(Row):
    con_id: int
    symbol: str
    sec_type: str
    quantity: float


class PositionsOut(BaseModel):
    positions: list[Position]


class WheelSymbol(Row):
    symbol: str
    current: dict[str, Any] | None
    history: list[dict[str, Any]]


class WheelOut(BaseModel):
    today: str
    symbols: list[WheelSymbol]


class Scan(Row):
    id: int
    status: str


class Opportunity(Row):
    id: int
    scan_id: int
    strategy: str
    symbol: str
    con_id: int
    strike: float
    right: str


class OpportunitiesOut(BaseModel):
    scan: Scan | None
    opportunities: list[Opportunity]
    hidden_rejected: int
    running_scan: Scan | None
    symbols: list[dict[str, Any]]


class Intent(Row):
    id: int
    key: str
    kind: str
    status: str
    quantity: int


class IntentOut(BaseModel):
    intent: Intent


class IntentsOut(BaseModel):
    intents: list[Intent]


class Command(Row):
    id: int
    kind: str
    actor: str
    status: str


class CommandOut(BaseModel):
    command: Command


class Decision(Row):
    id: int
    status: str


class DecisionOut(BaseModel):
    decision: Decision


class DecisionsOut(BaseModel):
    decisions: list[Decision]


class HaltState(Row):
    halted: bool


class RiskOut(Row):
    net_liquidation: float | None
    figures: list[dict[str, Any]]
    symbols: list[dict[str, Any]]
    daily: dict[str, Any]
    halt: HaltState


class SystemOut(Row):
    time: str
    components: list[Component]
    halt: HaltState
    halt_history: list[dict[str, Any]]


class Order(Row):
    id: int
    status: str


class OrdersOut(BaseModel):
    orders: list[Order]


class Fill(Row):
    exec_id: str
    quantity: float
    price: float


class FillsOut(BaseModel):
    fills: list[Fill]


class Alert(Row):
    id: int
    severity: str
    title: str


class AlertsOut(BaseModel):
    alerts: list[Alert]
    breakers: list[dict[str, Any]]
    channels: list[Channel]


class Clock(BaseModel):
    utc: str = Field(description="ISO-8601, UTC")
    eastern: str = Field(description="ISO-8601, US/Eastern")
    session: Literal["pre-market", "open", "early close", "after-hours", "closed"]
    detail: str


class ClockOut(BaseModel):
    clock: Clock
    refresh_seconds: int = Field(description="seconds between the pages' live updates")


class Channel(BaseModel):
    channel: str
    label: str
    status: Literal["healthy", "failing", "not configured"]
    retry_at: str | None = Field(None, description="ISO-8601 UTC: when a failing channel is tried again")
    text: str


class CsrfOut(BaseModel):
    csrf_token: str
    header: Literal["X-CSRFToken"]


class OpenApiOut(Row):
    openapi: str
    paths: dict[str, Any]
