"""``thetawheel doctor``: can the service reach TWS / IB Gateway, and is everything it needs there?

It connects to ``IBKR_HOST:IBKR_PORT`` as the first client id of each component's range (monitor
10000, scanner 11000, executor 12000), disconnecting at once each time; when an id is taken (IB 326) it
tries the next few. On the first connection it also reads the managed accounts, the server version,
TWS's clock, the data-farm notices (2104/2106/2158 …) and the market-data type TWS grants for the
configured ``IBKR_MARKET_DATA_TYPE`` (marketDataType / 10167), streaming one quote of the first
universe symbol for at most a few seconds. It prints an aligned table and, on failure, the cause and fix
of the IB code it got (:mod:`shared.ibcodes`). Exit status: 0 healthy, 1 a problem was found.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ib_async import IB, Contract, Stock

from shared.config import Config
from shared.ibcodes import code_info, is_informational, tip
from shared.ibconn import CLIENT_ID_RANGES
from shared.ibhandshake import TwsUnreachable, try_client_id
from shared.settings import Settings

#: Client ids tried per component when the first is in use.
IDS_TRIED = 5
#: Longest wait (seconds) for the market-data probe's first quote.
QUOTE_WAIT_SECONDS = 5.0
MARKET_DATA_TYPES = {1: "live", 2: "frozen", 3: "delayed", 4: "delayed-frozen"}
PORT_KINDS = {7497: "TWS paper", 7496: "TWS live", 4002: "Gateway paper", 4001: "Gateway live"}
#: Data-farm notices: code → status shown.
FARM_CODES = {
    2103: "broken",
    2104: "OK",
    2105: "broken",
    2106: "OK",
    2107: "inactive",
    2108: "inactive",
    2119: "connecting",
    2157: "broken",
    2158: "OK",
}


@dataclass
class Report:
    """What the doctor found. ``problems`` empty means healthy."""

    host: str
    port: int
    mode: str
    accounts: list[str] = field(default_factory=list)
    server_version: int | None = None
    tws_time: datetime | None = None
    md_requested: int = 1
    md_answered: int | None = None
    md_symbol: str = ""
    md_note: str = ""
    farms: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def ib_message(self, code: int, message: str) -> None:
        """Record one IB message (error event) received during the check."""
        if code in FARM_CODES:
            farm = message.rsplit(":", 1)[-1].strip() if ":" in message else f"farm {code}"
            self.farms[farm] = FARM_CODES[code]
        elif code not in (326, 10167) and not is_informational(code) and code not in self.seen:
            self.problems.append(f"IB {code}: {message.strip()} — {tip(code)}")
        self.seen.add(code)

    @property
    def healthy(self) -> bool:
        return not self.problems


def _fix(code: int) -> str:
    """The fix part of ``code``'s tip."""
    info = code_info(code)
    return info.fix if info is not None else tip(code)


class _InUse(Exception):
    """The client id is taken (IB 326)."""


async def _connect(report: Report, settings: Settings, client_id: int) -> IB:
    """Connect as ``client_id`` the way the components do (:func:`shared.ibhandshake.try_client_id`);
    raise :class:`_InUse` on 326 and :class:`shared.ibhandshake.TwsUnreachable` when TWS is not there."""
    ib = IB()

    def on_error(_req_id: int, code: int, message: str, _contract: Any = None) -> None:
        report.ib_message(code, message)

    ib.errorEvent += on_error
    if not await try_client_id(ib, settings, client_id):
        raise _InUse
    return ib


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


async def _market_data(ib: IB, report: Report) -> None:
    """Ask for the configured market-data type and stream one quote; record the type TWS answers."""
    answers: list[int] = []
    original = ib.wrapper.marketDataType

    def record(req_id: int, data_type: int) -> None:
        answers.append(data_type)
        original(req_id, data_type)

    setattr(ib.wrapper, "marketDataType", record)  # noqa: B010 - the decoder looks it up per message
    ib.reqMarketDataType(report.md_requested)
    qualified = await ib.qualifyContractsAsync(Stock(report.md_symbol, "SMART", "USD"))
    contract = qualified[0] if qualified else None
    if not isinstance(contract, Contract) or not contract.conId:
        report.md_note = f"{report.md_symbol} is unknown to TWS (IB 200)"
        return
    seen_before = set(report.seen)
    ticker = ib.reqMktData(contract, "", False, False)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + QUOTE_WAIT_SECONDS
        while loop.time() < deadline:
            quoted = any(_finite(v) for v in (ticker.bid, ticker.ask, ticker.last, ticker.close))
            if (answers and quoted) or report.seen - seen_before - {10167}:
                break
            await asyncio.sleep(0.05)
    finally:
        ib.cancelMktData(contract)
    report.md_answered = answers[-1] if answers else None
    if not answers:
        report.md_note = (
            f"TWS sent no market-data type for {report.md_symbol} within {QUOTE_WAIT_SECONDS:.0f} s"
        )


async def _inspect(ib: IB, report: Report) -> None:
    report.accounts = list(ib.managedAccounts())
    report.server_version = ib.client.serverVersion()
    report.tws_time = await ib.reqCurrentTimeAsync()
    await _market_data(ib, report)


def _check_accounts(report: Report, configured: str) -> None:
    if configured and report.accounts and configured not in report.accounts:
        report.problems.append(
            f"TWS_ACCOUNT: {configured} is not managed by this TWS (it manages {', '.join(report.accounts)})"
        )
    live = [a for a in report.accounts if not a.startswith("D")]  # paper account ids start with D (DU, DF)
    if report.mode == "paper" and live:
        report.problems.append(
            f"TRADING_MODE=paper but TWS manages live account(s) {', '.join(live)}: log in to the paper "
            "account, or check IBKR_PORT"
        )
    if report.mode == "live" and report.accounts and not live:
        report.problems.append("TRADING_MODE=live but TWS manages paper accounts only (ids starting with D)")


async def examine(config: Config, timeout: float) -> Report:
    """Run every check against the configured TWS; never raises for a TWS problem (see ``problems``)."""
    # TWS_ACCOUNT is checked against the managed accounts below, with a clearer message than a time-out
    s = config.settings.model_copy(update={"IBKR_CONNECT_TIMEOUT": timeout, "TWS_ACCOUNT": ""})
    report = Report(s.IBKR_HOST, s.IBKR_PORT, s.TRADING_MODE, md_requested=s.IBKR_MARKET_DATA_TYPE)
    report.md_symbol = config.strategy.universe.symbols[0]
    inspected = False
    for component, id_range in CLIENT_ID_RANGES.items():
        taken: list[int] = []
        for client_id in id_range[:IDS_TRIED]:
            try:
                ib = await _connect(report, s, client_id)
            except _InUse:
                taken.append(client_id)
                continue
            except (TwsUnreachable, OSError, TimeoutError) as err:
                timed_out = isinstance(err, TimeoutError) or isinstance(err.__cause__, TimeoutError)
                why = f"no answer within {timeout:.0f} s" if timed_out else str(err)
                report.problems.append(
                    f"IB 502: couldn't connect to TWS at {s.IBKR_HOST}:{s.IBKR_PORT} ({why}) — {_fix(502)}"
                )
                return report
            try:
                if not inspected:
                    inspected = True
                    await asyncio.wait_for(_inspect(ib, report), timeout + QUOTE_WAIT_SECONDS)
            except (TimeoutError, ConnectionError) as err:
                report.problems.append(
                    f"IB 504: TWS stopped answering during the check ({type(err).__name__}) — {_fix(504)}"
                )
            finally:
                ib.disconnect()
            report.ids[component] = f"{taken[0]} in use → {client_id} free" if taken else f"{client_id} free"
            break
        else:
            report.ids[component] = f"{taken[0]}-{taken[-1]} in use"
            report.problems.append(
                f"IB 326: client ids {taken[0]}-{taken[-1]} of the {component} are all in use — {_fix(326)}"
            )
    _check_accounts(report, config.settings.TWS_ACCOUNT)
    return report


def render(report: Report) -> str:
    """The report as aligned plain text: a table, then ``OK`` or one line per problem."""
    md = report.md_note or "—"
    if report.md_answered is not None:
        md = f"{report.md_answered} {MARKET_DATA_TYPES.get(report.md_answered, '?')} for {report.md_symbol}"
        if report.md_answered != report.md_requested:
            md += f" (requested {report.md_requested} {MARKET_DATA_TYPES[report.md_requested]})"
        if 10167 in report.seen:
            md += f" — IB 10167: {tip(10167)}"
    kind = PORT_KINDS.get(report.port)
    rows = [
        ("Host", report.host),
        ("Port", f"{report.port} ({kind})" if kind else str(report.port)),
        ("Trading mode", report.mode),
        ("Account(s)", ", ".join(report.accounts) or "—"),
        ("Server version", str(report.server_version or "—")),
        (
            "Connection time",
            f"{report.tws_time:%Y-%m-%d %H:%M:%S %Z} (TWS clock)" if report.tws_time else "—",
        ),
        ("Market-data type", md),
        ("Farm status", ", ".join(f"{farm} {state}" for farm, state in report.farms.items()) or "—"),
        ("Client ids free", ", ".join(f"{c} {text}" for c, text in report.ids.items()) or "—"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"thetawheel doctor: TWS / IB Gateway at {report.host}:{report.port}", ""]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    lines.append("")
    if report.healthy:
        lines.append("OK: TWS answers and every component can connect with a client id of its range.")
    else:
        lines.append(f"FAILED: {len(report.problems)} problem(s)")
        lines += [f"  {problem}" for problem in report.problems]
    return "\n".join(lines)


def run(config: Config, timeout: float | None = None) -> tuple[Report, str]:
    """Examine TWS and render the report; ``timeout``: seconds per connection (IBKR_CONNECT_TIMEOUT)."""
    logging.getLogger("ib_async").setLevel(logging.CRITICAL)  # the report says it all
    report = asyncio.run(examine(config, timeout or config.settings.IBKR_CONNECT_TIMEOUT))
    return report, render(report)
