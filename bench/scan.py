"""Scan benchmark (issue 10): the real scanner against the simulator, measured against a brute-force screen of
the full simulated chains.

``python bench/scan.py [--runs default,30 | --symbols KO,F] [--timeout 1800] [--speed 1e-6] [--json]``

For each run (``default``: the universe of ``config/thetawheel.toml``; ``30``: 30 of the simulator's 33
underlyings, :data:`THIRTY`) in a scratch folder:

1. two simulators with the same seed, data, ``--start`` (default 2026-12-03T11:00 ET, a Thursday in regular
   hours) and ``--speed``: the *scanner's*
   (``--hours always --cash 1e9 --control-port``, IB's limits enforced: message rate, historical pacing,
   lines) and the *reference's* (the same plus ``--no-limits``, so the brute-force read is not held to
   45 msg/s). Both clocks crawl (``--speed 1e-6``: a 10-minute scan is 0.6 simulated ms), so the scan and the
   reference see the same quotes: two instances with one seed quote identically (checked below:
   ``quote_mismatches``);
2. the monitor (it creates the schema and beats first), then the scanner, each a real ``python -m`` process
   with env vars / ``.env`` (IBKR_HOST/PORT, DATABASE_URL, THETAWHEEL_CONFIG, TRADING_MODE=paper,
   MARKET_HOURS=always, TWS_RESTART_WINDOWS=""). The scanner talks to its simulator through a counting TCP
   relay (this script, not the simulator): every message it sends is timed and read (reqMktData of an
   option = one contract requested), every error TWS sends back is read;
3. the strategy file is the default one with: the run's universe, ``puts.max_candidates_per_symbol = 50``
   (opportunities keep only the top N per symbol; recall needs them all), the rules that need history
   turned off (``min_iv_rank = 0``, ``min_iv_hv_ratio = 0``, ``avoid_earnings = false``,
   ``require_above_sma200 = false``, ``rsi_filter = false``) and ``scan_interval_seconds = 86400`` (one
   scan). The scanner's ``[scan]`` limits are left as shipped;
4. the first finished scan (``scans.status = 'done'``) is measured; if none starts within 60 s a ``scan_now``
   command row is written (the dashboard's button);
5. the reference: an ib_async client reads, for every symbol, every expiry in the DTE window
   (reqSecDefOptParams, the SMART chain) and every listed put strike of it (reqContractDetails per expiry:
   qualified contracts), takes a reqMktData snapshot of each with generic tick 101 (open interest; model
   greeks come with every option quote; should the simulator refuse generic ticks on a snapshot, as TWS does,
   the contracts are streamed in batches of 90 lines instead) and screens them with
   ``scanner.screen.screen_put`` and the symbol's put rules (``Strategy.put_rules``), then ranks them with
   ``scanner.screen.rank_candidates`` (the same cap).

Fair recall: the scanner's opportunities hold only contracts that passed every rule it applies. With the
history rules off, the rules left are those of ``screen_put`` (delta band, DTE window, credit, annualized
return, open interest, spread) plus two account rules that are made vacuous here (no shares held: no symbol
blocked; ``--cash 1e9``: no put too large for ``risk.max_symbol_fraction``). The reference applies the same
``screen_put`` rules, so ``recall`` = |scanner's opportunities ∩ reference's expected| ÷ |reference's
expected|, where *expected* is the reference's passing puts after the same per-symbol cap of 50
(``rank_candidates``); ``capped_symbols`` counts symbols where the cap bit (there recall tests the top 50,
not the whole band). ``extra`` counts opportunities the reference did not pass (quote drift or a scanner bug).

Figures per run (JSON: ``{"runs": {"default": {...}, "30": {...}}, "targets": {...}, "uptime": "..."}``;
each run also flat as ``default_<key>`` and ``30_<key>`` at the top level, so a consumer can read either):

* ``symbols``: symbols the scan read (``scans.symbols``); ``scan_s``: ``scans.finished_at − started_at``;
* ``contracts_requested``: reqMktData messages for options (secType OPT) the scanner sent during the scan,
  counted on the wire by the relay (the simulator keeps no per-client counter; ``scans.contracts_checked``
  is shown beside it as ``contracts_checked``);
* ``messages_per_s``: every message the scanner sent during the scan ÷ ``scan_s`` (counted on the wire, not
  estimated); ``max_msgs_1s``: the most in any one-second window;
* ``pacing_errors``: IB errors 100/101/162/322 — the larger of the count in the scanner's log (``IB 162 …``
  lines) and the count TWS sent to the scanner on the wire during the run;
* ``recall`` (above); ``efficiency``: (messages sent ÷ 45 msg/s) ÷ ``scan_s`` — 1.0 means the scan took no
  longer than IB's message budget forces (the scanner's own throttle is IBKR_MAX_REQUESTS_PER_SECOND,
  default 45, sent 9 per 0.2 s);
* ``selectivity``: ``contracts_requested`` ÷ ``needed``, where ``needed`` = the reference's passing puts
  plus, per expiry in the DTE window, the listed strike just past each edge of the delta band (the highest
  strike with |Δ| < delta_min and the lowest with |Δ| > delta_max, when listed). ``band_contracts`` (every
  listed strike with |Δ| in the band, whatever the other rules say, plus the same edges) is shown beside it;
* ``passing_count_ratio`` (when the scanner fills ``scan_symbols``): Σ per symbol min(its ``candidates``,
  the reference's passing count) ÷ the reference's passing puts — a count check past the cap of 50.

``--history-rules`` keeps the shipped history rules instead (the first scan of a fresh database then reads
the daily bars, under IB's historical pacing: that scan's time is measured, recall is not: ``-``).

Targets: recall ≥ 0.99, pacing_errors 0, efficiency ≥ 0.9, selectivity ≤ 2. ``uptime`` (load averages) is
printed before and after. Both runs take about 2 minutes on the 2-core machine (each: start-up, one scan,
the reference read of a few seconds); the scratch folders (logs, database) are kept and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT))

from mdtap import frames, int_field  # noqa: E402
from realparts import free_port  # noqa: E402

from scanner.screen import OptionQuote, Screened, rank_candidates, screen_put  # noqa: E402
from shared.optionmath import calendar_dte  # noqa: E402
from shared.strategy import PutRules, Strategy  # noqa: E402
from shared.trade import Right  # noqa: E402

ET = ZoneInfo("America/New_York")
#: 30 of the simulator's 33 underlyings (simulator/data/underlyings.json): all but GOOG (GOOGL's twin
#: share class), SOXX and IWM (the smallest-volume ETFs of the set).
THIRTY = [
    "AAPL", "ABBV", "AMD", "AMZN", "BAC", "C", "CSCO", "CVX", "DIS", "F",
    "GOOGL", "INTC", "JPM", "KO", "META", "MRK", "MSFT", "MU", "NFLX", "NVDA",
    "ORCL", "PFE", "QQQ", "SPY", "T", "TSLA", "VZ", "WFC", "WMT", "XOM",
]  # fmt: skip
TARGETS = {"recall": ">= 0.99", "pacing_errors": "0", "efficiency": ">= 0.9", "selectivity": "<= 2"}
IB_BUDGET_PER_S = 45.0
PACING_CODES = {100, 101, 162, 322}
REQ_MKT_DATA, REQ_HISTORICAL_DATA, START_API, ERR_MSG = 1, 20, 71, 4
LOG_PACING = re.compile(r"\bIB (100|101|162|322)\b")
HISTORY_OFF = {
    "min_iv_rank": 0.0,
    "min_iv_hv_ratio": 0.0,
    "avoid_earnings": False,
    "require_above_sma200": False,
    "rsi_filter": False,
}


# --- the counting relay between the scanner and its simulator ---------------------------------------------
@dataclass
class Wire:
    """What the scanner sent (time, message id, secType of a reqMktData) and the error codes TWS sent back."""

    sent: list[tuple[float, int, str]] = field(default_factory=list)
    errors: list[tuple[float, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Relay:
    """Listens on 127.0.0.1:<port>, relays every connection to ``upstream`` unchanged and counts."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.wire = Wire()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._stopped = True
        self._listener.close()

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
            for src, dst, up in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, up), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upward: bool) -> None:
        buf = bytearray()
        prefix_left = 4 if upward else 0  # b"API\0"
        first = True  # the version range upward, the version/time reply downward
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                now = time.time()
                buf += data
                if prefix_left:
                    cut = min(prefix_left, len(buf))
                    del buf[:cut]
                    prefix_left -= cut
                for fields in frames(buf):
                    if first:
                        first = False
                        continue
                    msg = int_field(fields, 0) or 0
                    with self.wire.lock:
                        if upward:
                            sec = fields[5] if msg == REQ_MKT_DATA and len(fields) > 5 else ""
                            self.wire.sent.append((now, msg, sec))
                        elif msg == ERR_MSG and (code := int_field(fields, 3)) is not None:
                            self.wire.errors.append((now, code))
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


# --- processes ---------------------------------------------------------------------------------------------
def start_simulator(work: Path, name: str, port: int, args: argparse.Namespace, extra: list[str]) -> Any:
    cmd = [
        sys.executable, "-m", "simulator", "--host", "127.0.0.1", "--port", str(port),
        "--hours", "always", "--cash", "1000000000", "--start", args.start, "--speed", str(args.speed),
        "--log-level", "INFO", *extra,
    ]  # fmt: skip
    out = (work / f"{name}.out").open("ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    return proc


def start_component(work: Path, name: str, env: dict[str, str]) -> Any:
    out = (work / f"{name}.out").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", name],
        cwd=work,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out.close()
    return proc


def stop(proc: Any, timeout: float = 15.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")


# --- the bench's strategy file ----------------------------------------------------------------------------
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML for {v!r}")


def _toml(doc: dict[str, Any], prefix: str = "") -> str:
    lines, tables = [], []
    for key, value in doc.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    out = (f"[{prefix}]\n" if prefix and lines else "") + "".join(line + "\n" for line in lines)
    for key, value in tables:
        out += "\n" + _toml(value, f"{prefix}.{key}" if prefix else key)
    return out


def bench_strategy(symbols: list[str], history: bool = False) -> tuple[str, Strategy]:
    """The shipped strategy file with the run's universe, a cap of 50 and (unless ``history``) the history
    rules off."""
    doc = tomllib.loads((ROOT / "config" / "thetawheel.toml").read_text())
    doc.setdefault("universe", {})["symbols"] = symbols
    doc.setdefault("schedule", {})["scan_interval_seconds"] = 86400
    puts = doc.setdefault("puts", {})
    puts["max_candidates_per_symbol"] = 50
    for key, value in HISTORY_OFF.items():
        if key in PutRules.model_fields and not history:
            puts[key] = value
    doc.pop("overrides", None)
    text = _toml(doc)
    return text, Strategy.model_validate(tomllib.loads(text))


# --- the reference: every put of every expiry in the window ------------------------------------------------
@dataclass
class Reference:
    screened: list[Screened]
    expected: list[Screened]  # passing, capped per symbol as the scanner caps
    edges: int  # listed strikes just past the band's edges, summed over expiries
    band: int  # listed strikes with |delta| in the band
    expiries: int
    contracts: int
    seconds: float


async def _snapshots(ib: Any, contracts: list[Any]) -> list[Any]:
    """reqMktData snapshots with generic tick 101 (open interest), all sent at once (no limits there).

    Should the simulator refuse generic ticks on a snapshot (as TWS does, error 321) or send no open
    interest with it, the contracts are streamed instead (:func:`_streamed`)."""
    futures, tickers = [], []
    for c in contracts:
        req_id = ib.client.getReqId()
        futures.append(ib.wrapper.startReq(req_id, c))
        tickers.append(ib.wrapper.startTicker(req_id, c, "snapshot"))
        ib.client.reqMktData(req_id, c, "101", True, False, [])
    try:
        await asyncio.wait_for(asyncio.gather(*futures), 30)
    except TimeoutError:
        return await _streamed(ib, contracts)
    for t in tickers:
        ib.wrapper.endTicker(t, "snapshot")
    if not any(_num(t.putOpenInterest) is not None for t in tickers):
        return await _streamed(ib, contracts)
    return tickers


def _complete(t: Any) -> bool:
    return _num(t.ask) is not None and t.modelGreeks is not None and _num(t.putOpenInterest) is not None


async def _streamed(ib: Any, contracts: list[Any], lines: int = 90, wait_s: float = 10.0) -> list[Any]:
    """Stream the contracts with generic tick 101 in batches within the simulator's 100 lines; each batch
    until every quote is complete (ask, model greeks, open interest) or ``wait_s``; then cancelled."""
    out = []
    for start in range(0, len(contracts), lines):
        batch = contracts[start : start + lines]
        tickers = [ib.reqMktData(c, "101", False, False) for c in batch]
        deadline = time.monotonic() + wait_s
        while not all(_complete(t) for t in tickers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for c in batch:
            ib.cancelMktData(c)
        out.extend(tickers)
    return out


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def _quote(t: Any, symbol: str) -> OptionQuote:
    c, g = t.contract, t.modelGreeks
    oi = _num(t.putOpenInterest)
    bid, ask = _num(t.bid), _num(t.ask)
    return OptionQuote(
        symbol=symbol,
        con_id=c.conId,
        local_symbol=c.localSymbol,
        right=Right.PUT,
        expiry=c.lastTradeDateOrContractMonth,
        strike=c.strike,
        multiplier=int(float(c.multiplier or 100)),
        underlying_price=(_num(g.undPrice) if g is not None else None) or 0.0,
        bid=bid if bid is not None and bid > 0 else None,
        ask=ask if ask is not None and ask > 0 else None,
        delta=_num(g.delta) if g is not None else None,
        iv=_num(g.impliedVol) if g is not None else None,
        open_interest=int(oi) if oi is not None else None,
    )


async def reference(port: int, strategy: Strategy, symbols: list[str]) -> Reference:
    from ib_async import IB, Contract, Option, Stock

    t0 = time.monotonic()
    ib = IB()
    ib.RaiseRequestErrors = False
    await ib.connectAsync("127.0.0.1", port, clientId=999, timeout=20)
    ib.client.MaxRequests = 0  # no throttle: the reference's simulator runs with --no-limits
    screened: list[Screened] = []
    edges = band = n_exp = n_con = 0
    try:
        now = await ib.reqCurrentTimeAsync()
        today = now.astimezone(ET).date()
        for symbol in symbols:
            rules = strategy.put_rules(symbol)
            qualified = await ib.qualifyContractsAsync(Stock(symbol, "SMART", "USD"))
            stock = qualified[0] if qualified else None
            if not isinstance(stock, Contract) or not stock.conId:
                continue
            chains = await ib.reqSecDefOptParamsAsync(symbol, "", "STK", stock.conId)
            chain = next((c for c in chains if c.exchange == "SMART"), chains[0] if chains else None)
            if chain is None:
                continue
            window = sorted(
                e for e in set(chain.expirations) if rules.dte_min <= calendar_dte(e, today) <= rules.dte_max
            )
            for expiry in window:
                details = await ib.reqContractDetailsAsync(
                    Option(symbol, expiry, 0.0, "P", "SMART", tradingClass=chain.tradingClass)
                )
                contracts = [d.contract for d in details if d.contract is not None]
                if not contracts:
                    continue
                n_exp += 1
                n_con += len(contracts)
                quotes = [_quote(t, symbol) for t in await _snapshots(ib, contracts)]
                screened.extend(screen_put(q, rules, today) for q in quotes)
                e, b = _edges(quotes, rules)
                edges += e
                band += b
    finally:
        ib.disconnect()
    expected = rank_candidates(screened, lambda s: strategy.put_rules(s.quote.symbol))
    return Reference(screened, expected, edges, band, n_exp, n_con, time.monotonic() - t0)


def _edges(quotes: list[OptionQuote], rules: PutRules) -> tuple[int, int]:
    """(listed strikes just past each edge of the delta band, listed strikes inside it) of one expiry."""
    known = sorted((q.strike, abs(q.delta)) for q in quotes if q.delta is not None)
    below = [k for k, d in known if d < rules.delta_min - 1e-9]  # far side (low |delta|, low strikes)
    above = [k for k, d in known if d > rules.delta_max + 1e-9]
    inside = sum(1 for _, d in known if rules.delta_min - 1e-9 <= d <= rules.delta_max + 1e-9)
    return int(bool(below)) + int(bool(above)), inside


# --- one run -----------------------------------------------------------------------------------------------
def ts(text: str) -> float:
    when = datetime.fromisoformat(text)
    return when.timestamp()


def db_rows(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(sql, args).fetchall()


def wait_for_scan(db: Path, procs: dict[str, Any], timeout: float, work: Path) -> sqlite3.Row:
    """The first finished scan; a scan_now command after 60 s without a scan."""
    t0 = time.monotonic()
    nudged = False
    last = ""
    while time.monotonic() - t0 < timeout:
        for name, proc in procs.items():
            if proc.poll() is not None:
                tail = (work / f"{name}.out").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{tail}")
        rows: list[sqlite3.Row] = []
        with contextlib.suppress(sqlite3.Error):
            rows = db_rows(db, "SELECT * FROM scans ORDER BY id")
        for row in rows:
            if row["status"] == "done":
                return row
            if row["status"] in ("failed", "cancelled"):
                raise RuntimeError(f"scan {row['id']} {row['status']}: {row['detail']}")
        progress = rows[-1]["progress"] if rows and "progress" in rows[-1].keys() else ""  # noqa: SIM118
        if progress and progress != last:
            last = progress
            print(f"  ... {progress}", file=sys.stderr)
        if not rows and not nudged and time.monotonic() - t0 > 60:
            nudged = True
            with (
                contextlib.suppress(sqlite3.Error),
                contextlib.closing(sqlite3.connect(db, timeout=5)) as conn,
            ):
                conn.execute(
                    "INSERT INTO commands (kind, reason, actor, created_at, status) VALUES (?, ?, ?, ?, ?)",
                    (
                        "scan_now",
                        "bench/scan.py",
                        "bench",
                        datetime.now().astimezone().isoformat(),
                        "pending",
                    ),
                )
                conn.commit()
        time.sleep(1.0)
    raise RuntimeError(f"no finished scan within {timeout:g} s")


def run(label: str, symbols: list[str], args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"thetawheel-scanbench-{label}-"))
    text, strategy = bench_strategy(symbols, args.history_rules)
    (work / "thetawheel.toml").write_text(text)
    db = work / "thetawheel.db"
    sim_port, ctl_port, ref_port = free_port(), free_port(), free_port()
    values = {
        "IBKR_HOST": "127.0.0.1",
        "TRADING_MODE": "paper",
        "MARKET_HOURS": "always",
        "TWS_RESTART_WINDOWS": "",
        "DATABASE_URL": f"sqlite:///{db}",
        "THETAWHEEL_CONFIG": str(work / "thetawheel.toml"),
        "LOG_DIR": str(work / "logs"),
        "LOG_LEVEL": "INFO",
    }
    (work / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    base_env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(work),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(ROOT),
        **values,
    }
    procs: dict[str, Any] = {}
    relay: Relay | None = None
    try:
        procs["simulator"] = start_simulator(
            work, "simulator", sim_port, args, ["--control-port", str(ctl_port)]
        )
        procs["refsim"] = start_simulator(work, "refsim", ref_port, args, ["--no-limits"])
        wait_port(sim_port, 60)
        wait_port(ref_port, 60)
        relay = Relay(sim_port)
        procs["monitor"] = start_component(work, "monitor", base_env | {"IBKR_PORT": str(sim_port)})
        procs["scanner"] = start_component(work, "scanner", base_env | {"IBKR_PORT": str(relay.port)})
        scan = wait_for_scan(
            db, {k: procs[k] for k in ("simulator", "monitor", "scanner")}, args.timeout, work
        )
        ref = asyncio.run(reference(ref_port, strategy, symbols))
    finally:
        for name in ("scanner", "monitor", "simulator", "refsim"):
            stop(procs.get(name))
        if relay is not None:
            relay.close()
    return figures(label, work, db, scan, relay.wire, ref, strategy, args.history_rules)


def figures(
    label: str,
    work: Path,
    db: Path,
    scan: sqlite3.Row,
    wire: Wire,
    ref: Reference,
    strategy: Strategy,
    history: bool = False,
) -> dict[str, Any]:
    t0, t1 = ts(scan["started_at"]), ts(scan["finished_at"])
    scan_s = max(t1 - t0, 1e-6)
    during = [(t, m, sec) for t, m, sec in wire.sent if t0 <= t <= t1]
    messages = len(during)
    requested = sum(1 for _, m, sec in during if m == REQ_MKT_DATA and sec == "OPT")
    times = [t for t, _, _ in during]
    peak, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - 1.0:
            j += 1
        peak = max(peak, i - j + 1)
    log_text = "".join(p.read_text(errors="replace") for p in (work / "logs").glob("scanner*"))
    log_pacing = len(LOG_PACING.findall(log_text))
    wire_pacing = sum(1 for _, code in wire.errors if code in PACING_CODES)
    opps = db_rows(db, "SELECT * FROM opportunities WHERE scan_id = ? AND \"right\" = 'P'", (scan["id"],))
    found = {(o["symbol"], o["expiry"], round(o["strike"], 4)) for o in opps}
    key = lambda s: (s.quote.symbol, s.quote.expiry, round(s.quote.strike, 4))  # noqa: E731
    expected = {key(s) for s in ref.expected}
    passing = {key(s): s for s in ref.screened if s.passed}
    per_symbol = Counter(s.quote.symbol for s in ref.screened if s.passed)
    capped = sum(1 for sym, n in per_symbol.items() if n > strategy.put_rules(sym).max_candidates_per_symbol)
    by_key = {key(s): s for s in ref.screened}
    mismatches = sum(
        1
        for o in opps
        if (r := by_key.get((o["symbol"], o["expiry"], round(o["strike"], 4)))) is not None
        and (abs((r.quote.bid or 0) - o["bid"]) > 1e-6 or abs((r.quote.ask or 0) - o["ask"]) > 1e-6
             or abs((r.quote.delta or 0) - o["delta"]) > 1e-6)
    )  # fmt: skip
    needed = len(passing) + ref.edges
    missed = sorted(expected - found)
    # scan_symbols (issue 10): the scanner's count of puts that passed every rule, before the cap
    counted: float | None = None
    with contextlib.suppress(sqlite3.Error):
        rows = db_rows(
            db,
            "SELECT symbol, candidates FROM scan_symbols WHERE scan_id = ? AND \"right\" = 'P'",
            (scan["id"],),
        )
        if rows and passing:
            theirs = {r["symbol"]: r["candidates"] or 0 for r in rows}
            counted = round(
                sum(min(theirs.get(sym, 0), n) for sym, n in per_symbol.items()) / len(passing), 4
            )
    return {
        "symbols": scan["symbols"],
        "scan_s": round(scan_s, 2),
        "contracts_requested": requested,
        "messages_per_s": round(messages / scan_s, 2),
        "pacing_errors": max(log_pacing, wire_pacing),
        # with the history rules on the scanner passes a subset on purpose: recall is not comparable
        "recall": round(len(expected & found) / len(expected), 4) if expected and not history else None,
        "efficiency": round(messages / IB_BUDGET_PER_S / scan_s, 3),
        "selectivity": round(requested / needed, 3) if needed else None,
        # context
        "universe": len(strategy.universe.symbols),
        "messages": messages,
        "max_msgs_1s": peak,
        "historical_requests": sum(1 for _, m, _ in during if m == REQ_HISTORICAL_DATA),
        "contracts_checked": scan["contracts_checked"],
        "pacing_errors_log": log_pacing,
        "pacing_errors_wire": wire_pacing,
        "pacing_codes": dict(Counter(str(c) for _, c in wire.errors if c in PACING_CODES)),
        "opportunities": len(found),
        "reference_passing": len(passing),
        "reference_expected": len(expected),
        "found": len(expected & found),
        "extra": len(found - set(passing)),
        "capped_symbols": capped,
        "passing_count_ratio": counted if not history else None,
        "history_rules": history,
        "quote_mismatches": mismatches,
        "needed": needed,
        "band_contracts": ref.band + ref.edges,
        "reference_expiries": ref.expiries,
        "reference_contracts": ref.contracts,
        "reference_s": round(ref.seconds, 1),
        "missed_sample": [f"{s} {e} {k:g}P" for s, e, k in missed[:8]],
        "work": str(work),
    }


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


KEYS = ("symbols", "scan_s", "contracts_requested", "messages_per_s", "pacing_errors", "recall", "efficiency",
        "selectivity")  # fmt: skip


def print_table(results: dict[str, dict[str, Any]]) -> None:
    labels = list(results)
    head = f"{'figure':<22}" + "".join(f"{lab:>14}" for lab in labels) + "  target"
    print(head)
    print("-" * len(head))
    extra = [k for k in next(iter(results.values())) if k not in KEYS and k not in ("work", "missed_sample")]
    for k in (*KEYS, *extra):
        row = f"{k:<22}" + "".join(f"{_cell(results[lab].get(k)):>14}" for lab in labels)
        print(row + (f"  {TARGETS[k]}" if k in TARGETS else ""))
    for lab in labels:
        if results[lab]["missed_sample"] and not results[lab]["history_rules"]:
            print(f"missed ({lab}): {', '.join(results[lab]['missed_sample'])}")
        print(f"scratch ({lab}): {results[lab]['work']}")


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        return ",".join(f"{a}:{b}" for a, b in v.items()) or "-"
    return f"{v:g}" if isinstance(v, float) else str(v)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--runs", default="default,30", help="comma list of: default, 30, or N (first N of THIRTY)"
    )
    p.add_argument("--symbols", default="", help="comma list of symbols: one run 'custom' instead of --runs")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for a scan (default 1800)")
    p.add_argument("--speed", type=float, default=1e-6, help="simulators' --speed (default 1e-6: held still)")
    p.add_argument("--start", default="2026-12-03T11:00", help="simulated start, US/Eastern (a trading day)")
    p.add_argument(
        "--history-rules",
        action="store_true",
        help="keep the shipped history rules (IV rank, IV/HV, earnings): time a first scan's bar reads "
        "(fresh database); recall is then not measured (-)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    args = p.parse_args()
    load_before = uptime()
    print(f"uptime before: {load_before}")
    default_universe = tomllib.loads((ROOT / "config" / "thetawheel.toml").read_text())["universe"]["symbols"]
    plan: list[tuple[str, list[str]]] = []
    if args.symbols:
        plan.append(("custom", [s.strip().upper() for s in args.symbols.split(",") if s.strip()]))
    else:
        for name in (x.strip() for x in args.runs.split(",") if x.strip()):
            if name == "default":
                plan.append(("default", list(default_universe)))
            else:
                plan.append((name, THIRTY[: int(name)]))
    results: dict[str, dict[str, Any]] = {}
    for label, symbols in plan:
        print(f"run {label}: {len(symbols)} symbols ...", file=sys.stderr)
        results[label] = run(label, symbols, args)
    load_after = uptime()
    print()
    print_table(results)
    print(f"uptime after: {load_after}")
    print(
        "notes: messages and contracts counted on the wire (relay in front of the scanner); "
        + (
            "history rules on (--history-rules): recall not measured; "
            if args.history_rules
            else "recall on the rules that need no history (history rules off in the bench strategy), cap 50 "
            "per symbol on both sides; "
        )
        + "efficiency = messages / 45 per s / scan_s."
    )
    if args.json:
        out: dict[str, Any] = {
            "runs": results,
            "targets": TARGETS,
            "uptime": load_after,
            "uptime_before": load_before,
        }
        for label, figs in results.items():
            out.update({f"{label}_{k}": v for k, v in figs.items() if k in KEYS})
        print(json.dumps(out))


if __name__ == "__main__":
    main()
