"""The user's strategy file (``config/thetawheel.toml``): universe, schedules, entry rules for puts and
covered calls, per-symbol overrides, orders, alerts.

Defaults and their sources are in ``docs/wheel-rules.md`` (tastytrade, thetagang, ibkr-options-income).
Every key is validated; an unknown key or an impossible value is an error naming the key — never a
silent fallback. Units: deltas are absolute values (0.25 = 25 delta), returns and spreads are
fractions (0.12 = 12 %), credits are dollars per share, DTE is calendar days.

Values are taken as written, never coerced: a number in quotes (``delta_min = "0.15"``), a boolean where a
count belongs (``contracts = true``), ``inf`` / ``nan``, and a fraction written as a percent
(``min_annualized_return = 8``) are errors. The file must be UTF-8 text.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.problems import non_utf8_lines, problem_lines

#: Alert severities, lowest first.
Severity = Literal["info", "warning", "critical"]

_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.]{0,9}$")


_TABLE = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


class StrategyEncodingError(ValueError):
    """The strategy file is not UTF-8 text; ``problems`` names each bad line and the key on it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    """Unknown keys are refused, and values are never coerced: strict types (no ``"0.15"`` for a number,
    no ``true`` for a count) and finite numbers only."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


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


def _delta(default: float) -> Any:
    """An absolute delta (0.25 = 25 delta)."""
    return Field(default, gt=0, lt=1)


def _fraction(default: float, positive: bool = False) -> Any:
    """A fraction (0.12 = 12 %), at most 1; a value written as a percent is refused by
    :meth:`EntryRules._not_a_percent`."""
    return Field(default, gt=0, le=1) if positive else Field(default, ge=0, le=1)


def _dte(default: int) -> Any:
    """Calendar days to expiry."""
    return Field(default, ge=0, le=730)


class EntryRules(_Strict):
    """Entry screening shared by cash-secured puts (:class:`PutRules`) and covered calls
    (:class:`CallRules`); each subclass gives the defaults of its deltas and minimum return.

    ``delta_*`` are absolute deltas; ``dte_*`` calendar days; ``min_credit`` dollars per share
    (bid/ask mid); ``min_annualized_return`` and ``max_spread_pct`` fractions.
    """

    delta_min: float
    delta_max: float
    delta_target: float
    dte_min: int = _dte(21)
    dte_max: int = _dte(45)
    dte_target: int = _dte(35)
    min_credit: float = Field(0.10, ge=0)
    min_annualized_return: float
    min_open_interest: int = Field(100, ge=0)
    max_spread_pct: float = _fraction(0.10, positive=True)
    max_candidates_per_symbol: int = Field(3, ge=1, le=50)
    # -- rules that need history (wheel-rules "Entry screening"; scanner/history.py) --------------------
    # IV rank = (IV now − 52-week low) ÷ (52-week high − low), a fraction (0.30 = "IVR 30", tastytrade);
    # IV/HV = 30-day implied ÷ 30-day historical volatility (IB's OPTION_IMPLIED_VOLATILITY and
    # HISTORICAL_VOLATILITY daily bars). 0 turns a rule off; without the bars the rule is not applied and
    # the scan's per-symbol note says so.
    min_iv_rank: float = _fraction(0.30)
    min_iv_hv_ratio: float = Field(1.05, ge=0, le=10)
    # earnings (ibkr-options-income): no expiry on or after the next report date, nor within
    # earnings_buffer_days calendar days before it
    avoid_earnings: bool = True
    earnings_buffer_days: int = Field(14, ge=0, le=90)
    # trend / technicals, optional (seed 003): close above its 200-day simple moving average; RSI(14) (Wilder)
    # below max_rsi14
    require_above_sma200: bool = False
    rsi_filter: bool = False
    max_rsi14: float = Field(70.0, gt=0, le=100)

    @field_validator("min_annualized_return", "max_spread_pct", "min_iv_rank", mode="before")
    @classmethod
    def _not_a_percent(cls, value: Any) -> Any:
        """``min_annualized_return = 8`` means 8 %: say how to write it rather than a bare bound."""
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and 1 < value < float("inf"):
            raise ValueError(
                f"is a fraction (0.08 = 8 %), got {value:g}; for {value:g} % write {value / 100:g}"
            )
        return value

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


class PutRules(EntryRules):
    """Entry screening for cash-secured puts (CSP): |Δ| 0.15–0.30 (target 0.25); annualized return =
    credit / strike × 365 / DTE ≥ 12 %."""

    delta_min: float = _delta(0.15)
    delta_max: float = _delta(0.30)
    delta_target: float = _delta(0.25)
    min_annualized_return: float = _fraction(0.12)


class CallRules(EntryRules):
    """Entry screening for covered calls (CC) on shares held: Δ 0.20–0.35 (target 0.30,
    ibkr-options-income); annualized return = credit / underlying price × 365 / DTE ≥ 5 %.

    ``strike_at_or_above_cost_basis``: only strikes at or above the shares' adjusted cost basis (the
    wheel cycle's, else TWS's average cost), so an assignment never locks in a loss (thetagang,
    ibkr-options-income).
    """

    delta_min: float = _delta(0.20)
    delta_max: float = _delta(0.35)
    delta_target: float = _delta(0.30)
    min_annualized_return: float = _fraction(0.05)
    strike_at_or_above_cost_basis: bool = True
    min_iv_rank: float = _fraction(0.0)  # calls are sold on shares held whatever the IV: off by default
    min_iv_hv_ratio: float = Field(0.0, ge=0, le=10)


class ScanRules(_Strict):
    """How much of each chain the scanner reads, and when it scans (scanner/preselect.py, scanner/app.py).

    ``max_expiries``: expiries per symbol and right inside the DTE window (0 = every one); the strikes of
    each expiry are those whose delta may fall in the band, widened until the band's edges are crossed, plus
    ``strikes_beyond_band`` listed strikes past each edge, at most ``max_strikes_per_expiry``. The first scan
    of a session runs ``first_scan_after_open_minutes`` after the open, then every
    ``schedule.scan_interval_seconds`` in regular hours; outside them one ``preview`` scan (stale quotes,
    labelled as such) when ``preview_outside_hours``. ``history_days``: calendar days of daily bars kept
    for IV rank and the technicals (52 weeks + the 200-day SMA's start). ``concurrent_symbols``: symbols
    read at once, so that one symbol's requests go out while another's quotes are awaited (IB's message
    budget, not the round trips, then paces the scan; the market-data lines stay shared within the
    scanner's budget).
    """

    max_expiries: int = Field(0, ge=0, le=60)
    strikes_beyond_band: int = Field(1, ge=0, le=10)
    max_strikes_per_expiry: int = Field(40, ge=2, le=400)
    first_scan_after_open_minutes: int = Field(15, ge=0, le=390)
    preview_outside_hours: bool = True
    history_days: int = Field(400, ge=30, le=3650)
    concurrent_symbols: int = Field(3, ge=1, le=8)


class OrderRules(_Strict):
    """Order sizing defaults for the executor."""

    contracts: int = Field(1, ge=1, le=100, description="Contracts per approved opportunity.")

    # -- repricing ladder and cancels (executor/ladder.py, executor/repricer.py; wheel-rules "Order
    # execution"): every reprice_seconds a working order's limit moves reprice_fraction of the way to the
    # natural price (bid for a SELL, ask for a BUY), at most reprice_max_steps steps, never past the intent's
    # floor; unfilled orders are cancelled deadline_minutes after their intent's approval and 5 minutes
    # before the close of the regular session.
    reprice_seconds: float = Field(
        30.0, ge=1, le=3600, description="Seconds between two repricing steps of a working order."
    )
    reprice_fraction: float = Field(
        0.25, gt=0, le=1, description="Fraction of the way from the limit to the natural price per step."
    )
    reprice_max_steps: int = Field(4, ge=0, le=20, description="Repricing steps per order; 0 = never.")
    deadline_minutes: int = Field(
        0, ge=0, le=1440, description="Cancel an unfilled order this long after approval; 0 = no deadline."
    )


Mode = Literal["alert", "approve", "auto"]


class ManagementRules(_Strict):
    """Rules that watch every open short option (wheel-rules "Management"), each with its own mode:
    ``alert`` (tell only), ``approve`` (propose an intent that waits for a click; the default) or ``auto``
    (an approved intent the executor places at once).

    Units: fractions of the credit received (0.50 = 50 %), a multiple of the credit, calendar days,
    absolute deltas, dollars per share. Sources: tastytrade (50 % profit take, 21 DTE, 2× credit stop),
    thetagang (rolls for a net credit), ibkr-options-income (gamma risk in the last week).
    """

    profit_take_fraction: float = Field(0.50, gt=0, le=1, description="Close at this profit ÷ credit.")
    profit_take_mode: Mode = "approve"
    roll_dte: int = Field(21, ge=0, le=365, description="Roll (or close) at or below this DTE.")
    roll_mode: Mode = "approve"
    roll_min_net_credit: float = Field(
        0.05, ge=0, le=100, description="A roll must take in at least this net credit (dollars per share)."
    )
    stop_loss_multiple: float = Field(
        2.0, gt=0, le=100, description="Stop at a loss of this many times the credit."
    )
    stop_loss_mode: Mode = "approve"
    stop_loss_action: Literal["close", "roll"] = "close"
    assignment_delta: float = Field(0.50, gt=0, lt=1, description="|delta| at which assignment is likely.")
    assignment_dte: int = Field(7, ge=0, le=365, description="'Near expiry' for the assignment rule.")
    # alert: let it be assigned (the wheel); approve / auto: roll it out instead
    assignment_mode: Mode = "alert"
    gamma_dte: int = Field(7, ge=0, le=365, description="Gamma-risk alert at or below this DTE when ITM.")
    # alert: tell only; approve / auto: close it
    gamma_mode: Mode = "alert"

    @field_validator("profit_take_fraction", mode="before")
    @classmethod
    def _not_a_percent(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool) and 1 < value < float("inf"):
            raise ValueError(
                f"is a fraction (0.50 = 50 %), got {value:g}; for {value:g} % write {value / 100:g}"
            )
        return value


class RiskRules(_Strict):
    """Limits the executor enforces before anything reaches TWS (wheel-rules "Risk limits"); the dashboard
    runs the same checks before it creates an intent. Fractions are of net liquidation (0.20 = 20 %)."""

    max_symbol_fraction: float = _fraction(0.20, positive=True)  # CSP collateral + shares of one symbol
    max_csp_collateral_fraction: float = _fraction(0.60, positive=True)  # all short puts' strike × 100
    min_cash_reserve_fraction: float = _fraction(0.10)  # cash left after CSP collateral
    min_margin_cushion: float = _fraction(0.25)  # excess liquidity ÷ net liquidation
    daily_loss_halt_fraction: float = _fraction(0.03, positive=True)  # halts new positions for the day
    max_quote_age_seconds: float = Field(60.0, ge=1, le=3600)  # no order on an older quote

    @field_validator(
        "max_symbol_fraction",
        "max_csp_collateral_fraction",
        "min_cash_reserve_fraction",
        "min_margin_cushion",
        "daily_loss_halt_fraction",
        mode="before",
    )
    @classmethod
    def _not_a_percent(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool) and 1 < value < float("inf"):
            raise ValueError(
                f"is a fraction (0.20 = 20 %), got {value:g}; for {value:g} % write {value / 100:g}"
            )
        return value


class AlertRules(_Strict):
    """Where alerts go: by severity, plus categories that always reach extra channels."""

    email_min_severity: Severity = "warning"
    sms_min_severity: Severity = "critical"
    email_categories: list[str] = Field(default_factory=lambda: ["fill"])
    sms_categories: list[str] = Field(default_factory=lambda: ["fill"])
    retry_seconds: float = Field(30.0, ge=1, le=3600, description="Pause before a failed send is retried.")
    dedup_window_seconds: float = Field(300.0, ge=0, le=86400)


#: The sections an ``overrides.<SYMBOL>`` table may hold, and the rules each one replaces.
OVERRIDE_SECTIONS: dict[str, type[_Strict]] = {
    "puts": PutRules,
    "calls": CallRules,
    "management": ManagementRules,
}

_Rules = TypeVar("_Rules", bound=_Strict)


class Strategy(_Strict):
    """The whole strategy file.

    ``overrides`` maps a symbol to replacement rules for that symbol: ``puts``, ``calls`` and/or
    ``management`` (:data:`OVERRIDE_SECTIONS`). A symbol of ``universe.symbols`` may override all three. A
    symbol outside the universe may not override ``puts``: the scanner sells covered calls on every symbol
    whose shares are held, in the universe or not, but screens puts only for the universe, so put
    overrides there would never be used.
    """

    universe: UniverseRules = Field(default_factory=UniverseRules)
    schedule: ScheduleRules = Field(default_factory=ScheduleRules)
    puts: PutRules = Field(default_factory=PutRules)
    calls: CallRules = Field(default_factory=CallRules)
    scan: ScanRules = Field(default_factory=ScanRules)
    orders: OrderRules = Field(default_factory=OrderRules)
    management: ManagementRules = Field(default_factory=ManagementRules)
    risk: RiskRules = Field(default_factory=RiskRules)
    alerts: AlertRules = Field(default_factory=AlertRules)
    overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _overrides_valid(self) -> Self:
        problems: list[str] = []
        for sym, table in self.overrides.items():
            if not _SYMBOL.match(sym):
                problems.append(f"overrides.{sym}: {sym!r} is not a ticker symbol (A-Z, digits, '.')")
                continue
            unknown = set(table) - set(OVERRIDE_SECTIONS)
            if unknown:
                problems.append(
                    f"overrides.{sym}: unknown section(s) {sorted(unknown)}; allowed: "
                    + ", ".join(OVERRIDE_SECTIONS)
                )
            if "puts" in table and sym not in self.universe.symbols:
                problems.append(
                    f"overrides.{sym}.puts: {sym} is not in universe.symbols, so its puts are never "
                    "screened (a symbol outside the universe may override only calls)"
                )
            for section, model in OVERRIDE_SECTIONS.items():
                given = table.get(section)
                if given is None:
                    continue
                if not isinstance(given, dict):
                    problems.append(f"overrides.{sym}.{section}: must be a table of {section} rules")
                    continue
                try:
                    model.model_validate(getattr(self, section).model_dump() | given, strict=True)
                except ValidationError as err:  # name the nested key: overrides.KO.puts.delta_min
                    problems.extend(problem_lines(err, model, f"overrides.{sym}.{section}."))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _rules_for(self, symbol: str, section: str, defaults: _Rules) -> _Rules:
        table = self.overrides.get(symbol, {}).get(section)
        if not table:
            return defaults
        return type(defaults).model_validate(defaults.model_dump() | dict(table))

    def put_rules(self, symbol: str) -> PutRules:
        """Put rules for ``symbol``: the defaults with that symbol's ``overrides.<SYMBOL>.puts`` applied."""
        return self._rules_for(symbol, "puts", self.puts)

    def call_rules(self, symbol: str) -> CallRules:
        """Call rules for ``symbol`` (in the universe or only held): the defaults with that symbol's
        ``overrides.<SYMBOL>.calls`` applied."""
        return self._rules_for(symbol, "calls", self.calls)

    def management_rules(self, symbol: str) -> ManagementRules:
        """Management rules for ``symbol``: the defaults with ``overrides.<SYMBOL>.management`` applied."""
        return self._rules_for(symbol, "management", self.management)


def _encoding_problems(raw: bytes) -> list[str]:
    """One line per line of ``raw`` that is not UTF-8, naming the key on it (``puts.delta_min: line 7 …``)."""
    bad = {number: byte for number, _, byte in non_utf8_lines(raw)}
    problems, table = [], ""
    for number, line in enumerate(raw.decode("utf-8", errors="replace").split("\n"), start=1):
        header, key = _TABLE.match(line), _TOML_KEY.match(line)
        if header:
            table = header.group(1)
        if number not in bad:
            continue
        parts = (table, key.group(1).strip() if key else "")
        name = ".".join(p for p in parts if p and "\ufffd" not in p)  # a part with the bad byte: unnamed
        where = f"{name}: line {number}" if name else f"line {number}"
        problems.append(f"{where} is not UTF-8 text (byte 0x{bad[number]:02x}); save the file as UTF-8")
    return problems


def load_strategy(path: Path) -> Strategy:
    """Read and validate the TOML strategy file.

    Raises ``FileNotFoundError`` when missing, :class:`StrategyEncodingError` when it is not UTF-8,
    ``tomllib.TOMLDecodeError`` on bad TOML and ``pydantic.ValidationError`` on unknown keys or impossible
    values.
    """
    raw = path.read_bytes()
    problems = _encoding_problems(raw)
    if problems:
        raise StrategyEncodingError(problems)
    return Strategy.model_validate(tomllib.loads(raw.decode("utf-8")))
