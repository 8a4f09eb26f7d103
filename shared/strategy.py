"""The user's strategy file (``config/thetawheel.toml``): universe, schedules, entry rules, orders, alerts.

Defaults and their sources are in ``docs/wheel-rules.md`` (tastytrade, thetagang, ibkr-options-income).
Every key is validated; an unknown key or an impossible value is an error naming the key — never a
silent fallback. Units: deltas are absolute values (0.25 = 25 delta), returns and spreads are
fractions (0.12 = 12 %), credits are dollars per share, DTE is calendar days.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.problems import problem_lines

#: Alert severities, lowest first.
Severity = Literal["info", "warning", "critical"]

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UniverseRules(_Strict):
    """Which underlyings the scanner looks at."""

    symbols: list[str] = Field(default_factory=lambda: ["SPY", "QQQ", "AAPL", "KO"], min_length=1)

    @field_validator("symbols")
    @classmethod
    def _symbols_upper(cls, value: list[str]) -> list[str]:
        out = []
        for sym in value:
            if not _SYMBOL.match(sym):
                raise ValueError(f"{sym!r} is not a ticker symbol (A-Z, digits, '.', up to 10 chars)")
            if sym in out:
                raise ValueError(f"{sym!r} is listed twice")
            out.append(sym)
        return out


class ScheduleRules(_Strict):
    """How often each process does its periodic work (seconds)."""

    monitor_interval_seconds: float = Field(30.0, ge=1, le=3600)
    scan_interval_seconds: float = Field(300.0, ge=5, le=86400)
    executor_poll_seconds: float = Field(2.0, ge=0.2, le=60)
    heartbeat_seconds: float = Field(10.0, ge=1, le=60)


class PutRules(_Strict):
    """Entry screening for cash-secured puts (CSP).

    ``delta_*`` are absolute put deltas; ``dte_*`` calendar days; ``min_credit`` dollars per share
    (bid/ask mid); ``min_annualized_return`` and ``max_spread_pct`` fractions.
    """

    delta_min: float = Field(0.15, gt=0, lt=1)
    delta_max: float = Field(0.30, gt=0, lt=1)
    delta_target: float = Field(0.25, gt=0, lt=1)
    dte_min: int = Field(21, ge=0, le=730)
    dte_max: int = Field(45, ge=0, le=730)
    dte_target: int = Field(35, ge=0, le=730)
    min_credit: float = Field(0.10, ge=0)
    min_annualized_return: float = Field(0.12, ge=0, le=10)
    min_open_interest: int = Field(100, ge=0)
    max_spread_pct: float = Field(0.10, gt=0, le=2)
    max_candidates_per_symbol: int = Field(3, ge=1, le=50)

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if not self.delta_min <= self.delta_target <= self.delta_max:
            raise ValueError(
                f"delta_target {self.delta_target:g} must lie within "
                f"delta_min {self.delta_min:g} .. delta_max {self.delta_max:g}"
            )
        if not self.dte_min <= self.dte_target <= self.dte_max:
            raise ValueError(
                f"dte_target {self.dte_target} must lie within "
                f"dte_min {self.dte_min} .. dte_max {self.dte_max}"
            )
        return self


class OrderRules(_Strict):
    """Order sizing defaults for the executor."""

    contracts: int = Field(1, ge=1, le=100, description="Contracts per approved opportunity.")


class AlertRules(_Strict):
    """Where alerts go: by severity, plus categories that always reach extra channels."""

    email_min_severity: Severity = "warning"
    sms_min_severity: Severity = "critical"
    email_categories: list[str] = Field(default_factory=lambda: ["fill"])
    sms_categories: list[str] = Field(default_factory=lambda: ["fill"])
    retry_seconds: float = Field(30.0, ge=1, le=3600, description="Pause before a failed send is retried.")
    dedup_window_seconds: float = Field(300.0, ge=0, le=86400)


class Strategy(_Strict):
    """The whole strategy file. ``overrides`` maps a symbol to replacement put rules for that symbol."""

    universe: UniverseRules = Field(default_factory=UniverseRules)
    schedule: ScheduleRules = Field(default_factory=ScheduleRules)
    puts: PutRules = Field(default_factory=PutRules)
    orders: OrderRules = Field(default_factory=OrderRules)
    alerts: AlertRules = Field(default_factory=AlertRules)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _overrides_valid(self) -> Self:
        for sym, table in self.overrides.items():
            if sym not in self.universe.symbols:
                raise ValueError(f"overrides.{sym}: symbol is not in universe.symbols")
            unknown = set(table) - {"puts"}
            if unknown:
                raise ValueError(f"overrides.{sym}: unknown section(s) {sorted(unknown)}; allowed: puts")
            merged = self.puts.model_dump() | dict(table.get("puts", {}))
            try:
                PutRules.model_validate(merged)
            except ValidationError as err:  # name the nested key: overrides.KO.puts.delta_min
                raise ValueError("; ".join(problem_lines(err, PutRules, f"overrides.{sym}.puts."))) from None
        return self

    def put_rules(self, symbol: str) -> PutRules:
        """Put rules for ``symbol``: the defaults with that symbol's overrides applied."""
        table = self.overrides.get(symbol, {}).get("puts")
        if not table:
            return self.puts
        return PutRules.model_validate(self.puts.model_dump() | dict(table))


def load_strategy(path: Path) -> Strategy:
    """Read and validate the TOML strategy file.

    Raises ``FileNotFoundError`` when missing, ``tomllib.TOMLDecodeError`` on bad TOML and
    ``pydantic.ValidationError`` on unknown keys or impossible values.
    """
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return Strategy.model_validate(data)
