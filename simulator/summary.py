"""reqAccountSummary / cancelAccountSummary: the account summary, one accountSummary (63) per tag, then
accountSummaryEnd (64); afterwards changed values are pushed with every account refresh (no second End).

Tags are TWS's (``AccountSummaryTags``): money in USD, ``Cushion`` and ``Leverage`` as ratios, the
``DayTradesRemaining*`` counts as ``-1`` (no pattern-day-trader limit), ``LookAhead*`` equal to the current
values (no margin change is scheduled). Unknown tags are ignored, as TWS does. ``$LEDGER`` adds the cash
ledger in the BASE currency, ``$LEDGER:USD`` in USD, ``$LEDGER:ALL`` in both. The group must be ``All`` or
the account id (error 321 otherwise); at most two subscriptions may be active per connection (error 322, as
TWS).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import encoders as enc
from .pnl import DayBook, make_mark
from .protocol import FieldReader, In

if TYPE_CHECKING:
    from .ports import Handler, ServerPort, SessionPort

MAX_SUBSCRIPTIONS = 2


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split(","))


SUMMARY_TAGS = _names(
    "AccountType,NetLiquidation,TotalCashValue,SettledCash,AccruedCash,BuyingPower,EquityWithLoanValue,"
    "PreviousDayEquityWithLoanValue,GrossPositionValue,RegTEquity,RegTMargin,SMA,InitMarginReq,"
    "MaintMarginReq,AvailableFunds,ExcessLiquidity,Cushion,FullInitMarginReq,FullMaintMarginReq,"
    "FullAvailableFunds,FullExcessLiquidity,LookAheadNextChange,LookAheadInitMarginReq,"
    "LookAheadMaintMarginReq,LookAheadAvailableFunds,LookAheadExcessLiquidity,HighestSeverity,"
    "DayTradesRemaining,DayTradesRemainingT+1,DayTradesRemainingT+2,DayTradesRemainingT+3,"
    "DayTradesRemainingT+4,Leverage"
)
LEDGER_TAGS = _names(
    "Currency,CashBalance,TotalCashBalance,AccruedCash,StockMarketValue,OptionMarketValue,"
    "FutureOptionValue,FuturesPNL,NetLiquidationByCurrency,UnrealizedPnL,RealizedPnL,ExchangeRate,"
    "FundValue,NetDividend,MutualFundValue,MoneyMarketFundValue,CorporateBondValue,TBondValue,TBillValue,"
    "WarrantValue,FxCashBalance,AccountOrGroup,RealCurrency,IssuerOptionValue"
)

Row = tuple[str, str, str]  # (tag, value, currency)


@dataclass
class SummarySub:
    """One active reqAccountSummary: the requested tags and the rows last sent."""

    tags: list[str]
    sent: dict[tuple[str, str], str] = field(default_factory=dict)


_SUBS: weakref.WeakKeyDictionary[SessionPort, dict[int, SummarySub]] = weakref.WeakKeyDictionary()


def _subs(s: SessionPort) -> dict[int, SummarySub]:
    subs = _SUBS.get(s)
    if subs is None:
        subs = _SUBS[s] = {}
    return subs


def _money(value: float) -> str:
    return f"{value:.2f}"


def summary_values(server: ServerPort) -> dict[str, Row]:
    """Every plain tag → (tag, value, currency) at current marks (consistent with accountValue rows)."""
    mark = make_mark(server)
    broker = server.broker
    usd = {key: value for key, value, cur in broker.account_values(mark) if cur == "USD"}
    nlv = float(usd["NetLiquidation"])
    margin = float(usd["InitMarginReq"])
    gross = float(usd["GrossPositionValue"])
    daily = DayBook(server, mark).account().daily or 0.0
    money = {
        "NetLiquidation": nlv,
        "TotalCashValue": float(usd["TotalCashValue"]),
        "SettledCash": float(usd["SettledCash"]),
        "AccruedCash": 0.0,
        "BuyingPower": float(usd["BuyingPower"]),
        "EquityWithLoanValue": float(usd["EquityWithLoanValue"]),
        "PreviousDayEquityWithLoanValue": nlv - daily,
        "GrossPositionValue": gross,
        "RegTEquity": nlv,
        "RegTMargin": margin,
        "SMA": max(0.0, nlv - margin),
    }
    for key in ("InitMarginReq", "MaintMarginReq", "AvailableFunds", "ExcessLiquidity"):
        money[key] = float(usd[key])
        money["Full" + key] = float(usd["Full" + key])
        money["LookAhead" + key] = float(usd[key])
    rows: dict[str, Row] = {key: (key, _money(v), "USD") for key, v in money.items()}
    rows["AccountType"] = ("AccountType", "INDIVIDUAL", "")
    rows["Cushion"] = ("Cushion", f"{(float(usd['ExcessLiquidity']) / nlv) if nlv else 0.0:.6f}", "")
    rows["LookAheadNextChange"] = ("LookAheadNextChange", "0", "")
    rows["HighestSeverity"] = ("HighestSeverity", "0", "")
    for key in ("DayTradesRemaining", *(f"DayTradesRemainingT+{i}" for i in range(1, 5))):
        rows[key] = (key, "-1", "")
    rows["Leverage"] = ("Leverage", f"{(gross / nlv) if nlv else 0.0:.2f}", "")
    return rows


def ledger_rows(server: ServerPort, currencies: list[str]) -> list[Row]:
    """The cash ledger ($LEDGER) in each of ``currencies`` ("BASE", "USD"); one currency, so equal values."""
    mark = make_mark(server)
    broker = server.broker
    usd = {key: value for key, value, cur in broker.account_values(mark) if cur == "USD"}
    values = {
        "CashBalance": usd["CashBalance"],
        "TotalCashBalance": usd["CashBalance"],
        "StockMarketValue": usd["StockMarketValue"],
        "OptionMarketValue": usd["OptionMarketValue"],
        "NetLiquidationByCurrency": usd["NetLiquidation"],
        "UnrealizedPnL": usd["UnrealizedPnL"],
        "RealizedPnL": usd["RealizedPnL"],
        "ExchangeRate": "1.00",
        "AccountOrGroup": broker.account,
        "RealCurrency": "USD",
    }
    rows = []
    for currency in currencies:
        for tag in LEDGER_TAGS:
            value = currency if tag == "Currency" else values.get(tag, "0.00")
            rows.append((tag, value, currency))
    return rows


def rows_for(server: ServerPort, tags: list[str]) -> list[Row]:
    """The rows a subscription with ``tags`` receives, in TWS's tag order, then the ledger."""
    plain = summary_values(server)
    wanted = set(tags)
    rows = [plain[tag] for tag in SUMMARY_TAGS if tag in wanted]
    currencies: list[str] = []
    for tag in tags:
        if tag.upper() == "$LEDGER":
            currencies.append("BASE")
        elif tag.upper().startswith("$LEDGER:"):
            which = tag.split(":", 1)[1].upper()
            currencies += ["BASE", "USD"] if which == "ALL" else [which]
    currencies = [c for i, c in enumerate(currencies) if c in ("BASE", "USD") and c not in currencies[:i]]
    return rows + ledger_rows(server, currencies)


def _send(s: SessionPort, req_id: int, sub: SummarySub, only_changed: bool) -> None:
    account = s.server.broker.account
    for tag, value, currency in rows_for(s.server, sub.tags):
        if only_changed and sub.sent.get((tag, currency)) == value:
            continue
        sub.sent[(tag, currency)] = value
        s.send(enc.account_summary(req_id, account, tag, value, currency))


def _req_account_summary(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)  # version
    req_id, group, tags = r.integer(), r.text(), r.text()
    subs = _subs(s)
    if group not in ("All", s.server.broker.account):
        s.error(req_id, 321, f"Error validating request.-'bH' : cause - Invalid group: {group}")
        return
    if req_id not in subs and len(subs) >= MAX_SUBSCRIPTIONS:
        s.error(req_id, 322, "Error processing request:Maximum number of account summary requests exceeded")
        return
    sub = subs[req_id] = SummarySub([t.strip() for t in tags.split(",") if t.strip()])
    _send(s, req_id, sub, only_changed=False)
    s.send(enc.account_summary_end(req_id))


def _cancel_account_summary(s: SessionPort, r: FieldReader) -> None:
    r.skip(1)
    _subs(s).pop(r.integer(), None)


def push(server: ServerPort) -> None:
    """Send changed summary rows to every subscription (called with each account refresh)."""
    for session in list(server.sessions.values()):
        for req_id, sub in list((_SUBS.get(session) or {}).items()):
            _send(session, req_id, sub, only_changed=True)


HANDLERS: dict[int, Handler] = {
    In.REQ_ACCOUNT_SUMMARY: _req_account_summary,
    In.CANCEL_ACCOUNT_SUMMARY: _cancel_account_summary,
}
