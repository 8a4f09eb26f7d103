"""Chaos benchmark: the whole service under kill -9, TWS faults and approval bursts, then a reconciliation
of what TWS holds with what the database says.

``python bench/chaos.py [--minutes 10] [--seed 1] [--json]``

The script is the supervisor. In a scratch folder with its own ``.env`` it starts the simulator
(``--hours always --cash 10000000 --state <file> --control-port <port>``), the monitor, scanner, executor
and dashboard on free loopback ports, plus a real STARTTLS SMTP server on loopback that the alerts go to,
and restarts every process that dies (after 0.5 s; the simulator with the same state file and ports).
Once the first scan's opportunities are there, the chaos phase runs for ``--minutes``:

* kills: ``kill -9`` of every process kind in turn (simulator included), about one every 22 s; before
  some kills of the executor, simulator or dashboard an approval goes out a moment earlier. When the phase
  is long enough (3 × the stale threshold) the scanner is held down once for longer than
  ``HEARTBEAT_STALE_SECONDS`` (no other component is killed meanwhile), so the component-down alert is
  really exercised;
* faults through the simulator's control port, about one every 45 s and every kind at least once:
  ``drop_client``, 1100 → 1101, 1100 → 1102, ``restart_window``, ``delay``;
* approvals through the dashboard's HTTP API (CSRF as the page does it) in bursts every 15 s, each with a
  group of three simultaneous clicks on one opportunity (they must give one intent).

Then everything settles (faults cleared, every process up and connected, no intent ``approved`` or
``placing``, every fill alerted and mailed, or ``--settle`` seconds), the simulator's orders and executions
(an ib_async client with client id 0: reqAllOpenOrders, reqCompletedOrders, reqExecutions; and the
simulator's log of every order it accepted, across restarts) are compared with the database, and the
service is stopped. Figures (the JSON keys):

* ``kills``, ``faults``, ``approvals`` (intents created: 201 answers);
* ``duplicate_orders``: orderRefs with more than one order at TWS (an order the simulator lost in a kill
  -9 before it saved its state does not count: only one order existed at a time);
* ``lost_fills``: executions at TWS with an orderRef that are not in ``fills``;
* ``lost_alerts``: filled intents without a fill alert row (dedup key ``fill:<key>``); ``lost_emails``:
  fill alerts that never reached the SMTP server;
* ``doubled_alerts``: fill keys with more than one alert row, a repeat_count > 1 or more than one email;
* ``duplicate_intents``: opportunities with more than one intent (the duplicate clicks);
* ``missing_commissions``: ``fills`` rows without a commission;
* ``stuck_intents``: intents still approved/placing/working whose order is neither working at TWS nor
  filled there;
* ``integrity_ok``: ``PRAGMA integrity_check`` is ``ok`` (after the clean stop);
* ``max_recovery_s``: the longest time from a kill until the killed component's heartbeat is fresh again
  (the new process beat) or the simulator answers; ``max_reconnect_s``: until the component is connected
  to TWS again (simulator: until the monitor, scanner and executor all are). For the scanner held down on
  purpose both count from its restart, not from the kill;
* ``long_outages`` (silences longer than the stale threshold) and ``down_alerts_missed``: silences longer
  than the threshold plus one watchdog round (2 heartbeats + 2 s) without a ``component-down`` alert for
  that process; ``false_down_alerts``: down alerts for a process that was not killed;
* ``unexpected_exits``: processes that died without being killed (each is restarted).

With ``--minutes 10``: at least 20 kills and 10 faults. The machine's clocks are used throughout; the
script sleeps between looks (0.2–0.25 s), it never spins.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import functools
import heapq
import http.client
import json
import logging
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT))

from demo import Client  # noqa: E402
from realparts import SmtpServer, free_port, make_certs, settings_values  # noqa: E402

logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's deprecation chatter on every login

KINDS = ("simulator", "monitor", "scanner", "executor", "dashboard")
TWS_COMPONENTS = ("monitor", "scanner", "executor")
CLIENT_RANGES = {
    "monitor": range(10000, 11000),
    "scanner": range(11000, 12000),
    "executor": range(12000, 13000),
}
FAULTS = ("drop_client", "connectivity_1101", "connectivity_1102", "restart_window", "delay")
#: The first round of kills and faults goes in this order; later rounds are shuffled (seeded).
FIRST_KILLS = ("executor", "simulator", "monitor", "dashboard", "scanner")
KILL_EVERY_S = 22.0
FAULT_EVERY_S = 45.0
BURST_EVERY_S = 15.0
RESTART_DELAY_S = 0.5
#: Approvals pick at random among this many of the newest scan's best opportunities.
CANDIDATE_POOL = 30
UNIVERSE = ["SPY", "QQQ", "AAPL", "AMZN", "NVDA", "TSLA", "KO", "INTC", "PFE", "BAC", "T", "XOM", "F"]
SMALL_UNIVERSE = ["KO", "F", "INTC", "PFE", "BAC", "T"]
SIM_LINE = re.compile(r"simulator\.\w+: (.*)$")
PLACED = re.compile(r"client (\d+) placed order (\d+): .* ref='([^']*)'")
CANCELLED = re.compile(r"client (\d+) order (\d+) cancelled")
FILLED = re.compile(r"filled client (\d+) order (\d+):")
START_MARK = re.compile(r"### chaos: start #(\d+) ")
MAIL_KEY = re.compile(r"Order (\S+) filled\.")
#: Comparisons the settling waits for to come out empty: the database catching up with TWS.
CATCH_UP = (
    "lost_fills",
    "filled_but_active",
    "stuck_intents",
    "orphan_orders",
    "lost_alerts",
    "lost_emails",
    "missing_commissions",
)
#: What a failed HTTP request to the dashboard or the control port may raise.
HTTP_ERRORS = (OSError, AssertionError, ValueError, http.client.HTTPException)


def strategy_toml(symbols: list[str], heartbeat_s: float) -> str:
    return f"""
[universe]
symbols = {json.dumps(symbols)}

[schedule]
monitor_interval_seconds = 5
scan_interval_seconds = 120
executor_poll_seconds = 2
heartbeat_seconds = {heartbeat_s:g}

[puts]
max_candidates_per_symbol = 4
min_annualized_return = 0.05
"""


def ts(text: str) -> float:
    """Epoch seconds of a database timestamp (ISO-8601 UTC)."""
    return datetime.fromisoformat(text).timestamp()


# --- processes ----------------------------------------------------------------------------------
@dataclass
class Child:
    """One supervised process: its command, its current ``Popen`` and what happened to it."""

    name: str
    cmd: list[str]
    root: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    incarnation: int = 0
    hold_until: float = 0.0  # do not restart before (epoch s)
    expect_exit: bool = False  # killed by us: the exit is not a crash
    exits: list[tuple[int, bool]] = field(default_factory=list)  # (status, expected)

    @property
    def out_path(self) -> Path:
        return self.root / f"{self.name}.out"

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def start(self) -> None:
        self.incarnation += 1
        with self.out_path.open("a") as fh:
            fh.write(f"### chaos: start #{self.incarnation} at {time.time():.3f}\n")
        out = self.out_path.open("ab")
        self.popen = subprocess.Popen(
            self.cmd,
            cwd=self.root,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        self.started_at = time.time()
        self.expect_exit = False

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill9(self, hold: float = RESTART_DELAY_S) -> None:
        """``kill -9`` and wait for it; the supervisor restarts it ``hold`` seconds later."""
        assert self.popen is not None
        self.expect_exit = True
        self.hold_until = time.time() + hold
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> int | None:
        """SIGTERM (a clean stop); the exit status, or None when it had to be killed."""
        if self.popen is None:
            return None
        if self.popen.poll() is not None:
            return self.popen.returncode
        self.expect_exit = True
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)
            return None


@dataclass
class Kill:
    """One kill -9 and the recovery after it (epoch seconds)."""

    kind: str
    at: float
    old_pid: int
    incarnation: int
    last_beat: float | None = None  # the killed process's newest heartbeat
    held: float = RESTART_DELAY_S
    fresh: float | None = None  # heartbeat of the new process / simulator answering
    first_beat: float | None = None  # the new process's first heartbeat (the end of the silence)
    connected: float | None = None  # connected to TWS again (simulator: all three components back)
    approval_before: bool = False

    @property
    def restarted(self) -> float:
        """When the supervisor would restart it: a hold longer than the usual delay is not recovery time."""
        return self.at + max(0.0, self.held - RESTART_DELAY_S)

    @property
    def recovery(self) -> float | None:
        return None if self.fresh is None else self.fresh - self.restarted

    @property
    def reconnect(self) -> float | None:
        return None if self.connected is None else self.connected - self.restarted

    @property
    def silence(self) -> float | None:
        if self.last_beat is None or self.first_beat is None:
            return None
        return self.first_beat - self.last_beat


class Chaos:
    """The service under supervision, the chaos schedule and the final comparison."""

    def __init__(
        self,
        work: Path,
        minutes: float,
        seed: int,
        stale_s: float,
        heartbeat_s: float,
        symbols: list[str],
        settle_s: float,
        progress: Callable[[str], None],
    ) -> None:
        self.work = work
        self.duration = minutes * 60.0
        self.rng = random.Random(seed)
        self.seed = seed
        self.heartbeat_s = heartbeat_s
        self.stale_s = max(stale_s, 2 * heartbeat_s)  # shared.watchdog.effective_stale_after
        self.symbols = symbols
        self.settle_s = settle_s
        self.say = progress
        self.t0 = time.time()
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.kills: list[Kill] = []
        self.faults: Counter[str] = Counter()
        self.faults_skipped = 0
        self.approvals = 0
        self.approval_refused = 0
        self.approval_errors = 0
        self.dup_groups = 0
        self.dup_click_violations = 0  # a group of simultaneous clicks that got more than one 201
        self.approved_opps: set[int] = set()
        self.unexpected: list[str] = []
        self.sim_incarnation_end: dict[int, set[tuple[int, int]]] = {}  # orders saved when inc. N died
        self.long_hold_until = 0.0
        self.threads: list[threading.Thread] = []
        self.children: dict[str, Child] = {}
        self.chaos_start = time.time()

    # -- set-up ---------------------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.time() - self.t0

    def log(self, text: str) -> None:
        self.say(f"[{self.elapsed():6.1f}s] {text}")

    def setup(self) -> None:
        work = self.work
        self.sim_port, self.control_port, self.dash_port = free_port(), free_port(), free_port()
        self.db_path = work / "data" / "thetawheel.db"
        self.state_path = work / "data" / "sim-state.json"
        self.smtp = SmtpServer(port=free_port(), certs=make_certs(work))
        self.smtp.start()
        (work / "thetawheel.toml").write_text(strategy_toml(self.symbols, self.heartbeat_s))
        values: dict[str, Any] = settings_values(smtp=self.smtp) | {
            "IBKR_HOST": "127.0.0.1",
            "IBKR_PORT": self.sim_port,
            "TRADING_MODE": "paper",
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "THETAWHEEL_CONFIG": work / "thetawheel.toml",
            "LOG_DIR": "logs",
            "LOG_LEVEL": "INFO",
            "DASHBOARD_PORT": self.dash_port,
            "TWS_RESTART_WINDOWS": "",  # the restart_window fault is then an outage like any other
            "MARKET_HOURS": "always",  # the simulator trades around the clock (--hours always)
            "IBKR_PROBE_INTERVAL": 5,
            "IBKR_PROBE_TIMEOUT": 4,
        }
        from shared.settings import Settings

        if "HEARTBEAT_STALE_SECONDS" in Settings.model_fields:
            values["HEARTBEAT_STALE_SECONDS"] = f"{self.stale_s:g}"
        else:
            self.stale_s = max(60.0, 2 * self.heartbeat_s)
        (work / ".env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(work),
            "NO_PROXY": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(ROOT),
        }
        py = sys.executable
        sim_cmd = [
            py,
            "-m",
            "simulator",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.sim_port),
            "--hours",
            "always",
            "--state",
            str(self.state_path),
            "--control-port",
            str(self.control_port),
            "--cash",
            "10000000",
        ]
        self.children["simulator"] = Child("simulator", sim_cmd, work, env)
        for name in ("monitor", "scanner", "executor", "dashboard"):
            self.children[name] = Child(name, [py, "-m", name], work, env)
        for child in self.children.values():
            child.start()
        self.client = Client(f"http://127.0.0.1:{self.dash_port}")
        self._spawn(self._supervise, "supervisor")
        self._spawn(self._watch_recoveries, "recoveries")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    # -- supervision ----------------------------------------------------------------------------------
    def _supervise(self) -> None:
        """Restart every process that died (a kill -9 of ours or a crash), each after its hold."""
        while not self.stopping.is_set():
            for child in list(self.children.values()):
                with self.lock:
                    if child.popen is None or child.popen.poll() is None:
                        continue
                    status = child.popen.returncode
                    if len(child.exits) < child.incarnation:
                        child.exits.append((status, child.expect_exit))
                        if not child.expect_exit:
                            tail = child.out_path.read_text(errors="replace")[-1500:]
                            self.unexpected.append(f"{child.name} exited {status}")
                            self.log(f"UNEXPECTED: {child.name} (pid {child.pid}) exited {status}\n{tail}")
                            child.hold_until = time.time() + RESTART_DELAY_S
                    if time.time() < child.hold_until or self.stopping.is_set():
                        continue
                    if child.name == "simulator":
                        self._note_sim_state(child.incarnation)
                    child.start()
            self.stopping.wait(0.2)

    def _note_sim_state(self, incarnation: int) -> None:
        """The orders the dead simulator had saved (they survive into its next incarnation)."""
        saved: set[tuple[int, int]] = set()
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            data = {}
        for order in data.get("open_orders", []):
            saved.add((int(order["client_id"]), int(order["order_id"])))
        for execution in data.get("executions", []):
            saved.add((int(execution["order"]["client_id"]), int(execution["order"]["order_id"])))
        self.sim_incarnation_end[incarnation] = saved

    # -- database and simulator look-ups -------------------------------------------------------------------
    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_path, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        try:
            conn = self.db()
            try:
                return conn.execute(sql, args).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return []

    def heartbeats(self) -> dict[str, sqlite3.Row]:
        return {r["component"]: r for r in self.query("SELECT * FROM heartbeats")}

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """One request to the simulator's control port; the JSON answer, or None (down, or an error)."""
        data = json.dumps(body or {}).encode() if method == "POST" else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.control_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                answer: dict[str, Any] = json.loads(resp.read())
                return answer
        except HTTP_ERRORS:
            return None

    def sim_clients(self) -> set[str] | None:
        """Which of the three components the simulator has as clients now (None: it does not answer)."""
        state = self.control("GET", "/state")
        if state is None:
            return None
        return {n for n, ids in CLIENT_RANGES.items() if any(c in ids for c in state.get("clients", []))}

    # -- recovery -----------------------------------------------------------------------------------------
    def _watch_recoveries(self) -> None:
        while not self.stopping.is_set():
            self._recovery_pass()
            self.stopping.wait(0.25)

    def _recovery_pass(self) -> None:
        """Note the recovery of every kill not yet seen back (heartbeat, connection)."""
        with self.lock:
            pending = [k for k in self.kills if k.fresh is None or k.connected is None]
        if pending:
            beats = self.heartbeats()
            clients: set[str] | None = None
            if any(k.kind == "simulator" for k in pending):
                clients = self.sim_clients()
            now = time.time()
            for k in pending:
                self._check_recovery(k, beats, clients, now)

    def _check_recovery(
        self, k: Kill, beats: dict[str, sqlite3.Row], clients: set[str] | None, now: float
    ) -> None:
        child = self.children[k.kind]
        if child.incarnation <= k.incarnation or not child.running():
            return
        if k.kind == "simulator":
            if clients is None:
                return
            if k.fresh is None:
                k.fresh = now
            running = {c for c in TWS_COMPONENTS if self.children[c].running()}  # not one held down
            if k.connected is None and clients >= running:
                k.connected = now
            return
        row = beats.get(k.kind)
        if row is None or row["pid"] != child.pid or ts(row["updated_at"]) < child.started_at - 1:
            return
        if k.fresh is None:
            k.fresh = k.first_beat = ts(row["updated_at"])
        if k.connected is None and (k.kind == "dashboard" or row["state"] in ("connected", "degraded")):
            k.connected = now

    # -- chaos actions ------------------------------------------------------------------------------------
    def recovering(self, kind: str) -> bool:
        return any(k.kind == kind and k.fresh is None for k in self.kills)

    def kill(self, kind: str, hold: float = RESTART_DELAY_S, approval_before: bool = False) -> None:
        child = self.children[kind]
        with self.lock:
            if not child.running():
                return
            pid = child.pid
            assert pid is not None
            child.kill9(hold)
            record = Kill(
                kind, time.time(), pid, child.incarnation, held=hold, approval_before=approval_before
            )
            row = self.heartbeats().get(kind)
            if row is not None and row["pid"] == pid:
                record.last_beat = ts(row["updated_at"])
            self.kills.append(record)
        self.log(f"kill -9 {kind} (pid {pid})" + (f", held down {hold:.0f} s" if hold > 5 else ""))

    def fault(self, name: str, events: list[tuple[float, int, str, Any]]) -> bool:
        """Apply one fault; a follow-up (1101/1102 after 1100) goes into ``events``. False: the simulator
        did not take it (it is down)."""
        rng = self.rng
        if name == "drop_client":
            state = self.control("GET", "/state")
            ours = [
                c for c in (state or {}).get("clients", []) if any(c in r for r in CLIENT_RANGES.values())
            ]
            if not ours:
                return False
            executor = [c for c in ours if c in CLIENT_RANGES["executor"]]
            client_id = rng.choice(executor) if executor and rng.random() < 0.5 else rng.choice(ours)
            ok = self.control("POST", "/faults/drop_client", {"client_id": client_id}) is not None
            detail = f"client {client_id}"
        elif name.startswith("connectivity_"):
            ok = self.control("POST", "/faults/connectivity", {"code": 1100}) is not None
            after = rng.uniform(3, 8)
            if ok:
                heapq.heappush(events, (self.chaos_time() + after, next(self.seq), "restore", int(name[-4:])))
            detail = f"1100, then {name[-4:]} after {after:.1f} s"
        elif name == "restart_window":
            seconds = rng.uniform(4, 10)
            ok = self.control("POST", "/faults/restart_window", {"for_seconds": seconds}) is not None
            detail = f"{seconds:.1f} s"
        else:
            seconds, span = rng.uniform(1, 5), rng.uniform(8, 15)
            ok = self.control("POST", "/faults/delay", {"seconds": seconds, "for_seconds": span}) is not None
            detail = f"{seconds:.1f} s for {span:.0f} s"
        if ok:
            self.faults[name] += 1
            self.log(f"fault {name}: {detail}")
        return ok

    # -- approvals ----------------------------------------------------------------------------------------
    def candidates(self, count: int) -> list[int]:
        """``count`` opportunity ids of the newest scan that were not approved yet and whose contract has no
        active intent (picked at random among the best :data:`CANDIDATE_POOL`)."""
        try:
            opps = self.client.get("/api/v1/opportunities")["opportunities"]
        except HTTP_ERRORS:
            return []
        busy = {
            r[0]
            for r in self.query("SELECT con_id FROM intents WHERE status IN ('approved','placing','working')")
        }
        with self.lock:
            best = opps[:CANDIDATE_POOL]
            free = [o["id"] for o in best if o["id"] not in self.approved_opps and o["con_id"] not in busy]
            picked = self.rng.sample(free, min(count, len(free)))
            self.approved_opps.update(picked)
        return picked

    def approve(self, opportunity_id: int, client: Client | None = None) -> int | None:
        """One click; the HTTP status (None: no answer)."""
        try:
            status, _ = (client or Client(self.client.base)).approve(opportunity_id)
        except HTTP_ERRORS:
            status = None
        with self.lock:
            if status == 201:
                self.approvals += 1
            elif status is not None and 400 <= status < 500:
                self.approval_refused += 1
            else:
                self.approval_errors += 1
        return status

    def burst(self, distinct: int) -> None:
        """``distinct`` approvals, then three simultaneous clicks on one more opportunity."""
        picked = self.candidates(distinct + 1)
        for opp in picked[:distinct]:
            self.approve(opp)
        if len(picked) <= distinct:
            return
        dup = picked[distinct]
        clients = [Client(self.client.base) for _ in range(3)]
        gate = threading.Barrier(3)
        answers: list[int | None] = []

        def click(c: Client) -> None:
            with contextlib.suppress(*HTTP_ERRORS):
                c.get("/api/v1/csrf")  # the session cookie first, as a page load does
            with contextlib.suppress(threading.BrokenBarrierError):
                gate.wait(5)
            answers.append(self.approve(dup, c))

        threads = [threading.Thread(target=click, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        with self.lock:
            self.dup_groups += 1
            if answers.count(201) > 1:
                self.dup_click_violations += 1

    # -- the phases ---------------------------------------------------------------------------------------
    def wait_ready(self, timeout: float) -> None:
        """Until every component beats and the first scan's opportunities are there."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            beats = self.heartbeats()
            up = all(
                n in beats and beats[n]["state"] in (("running",) if n == "dashboard" else ("connected",))
                for n in ("monitor", "scanner", "executor", "dashboard")
            )
            if up:
                try:
                    if self.client.get("/api/v1/opportunities")["opportunities"]:
                        return
                except HTTP_ERRORS:
                    pass
            time.sleep(0.5)
        raise RuntimeError("the service did not come up with opportunities in time:\n" + self.tails())

    def tails(self) -> str:
        return "\n".join(
            f"--- {c.name}\n{c.out_path.read_text(errors='replace')[-1500:]}" for c in self.children.values()
        )

    def plan(self) -> list[tuple[float, int, str, Any]]:
        """The timeline (seconds into the chaos phase): kills, faults, bursts and the long outage."""
        rng, d = self.rng, self.duration
        self.seq = iter(range(10**9))
        events: list[tuple[float, int, str, Any]] = []
        n_kills = max(len(KINDS) - 1, round(d / KILL_EVERY_S))  # with the long outage: every kind
        n_faults = max(len(FAULTS), round(d / FAULT_EVERY_S))
        deck: list[str] = list(FIRST_KILLS)
        while len(deck) < n_kills:
            batch = list(KINDS)
            rng.shuffle(batch)
            deck += batch
        for i in range(n_kills):
            at = (i + 0.5 + rng.uniform(-0.2, 0.2)) * d / n_kills
            events.append((at, next(self.seq), "kill", deck[i]))
        faults: list[str] = list(FAULTS)
        while len(faults) < n_faults:
            batch = list(FAULTS)
            rng.shuffle(batch)
            faults += batch
        for i in range(n_faults):
            at = (i + 0.3 + rng.uniform(-0.15, 0.15)) * d / n_faults
            events.append((at, next(self.seq), "fault", faults[i]))
        at = 1.0
        while at < d - 3:
            events.append((at, next(self.seq), "burst", 2))
            at += BURST_EVERY_S
        hold = self.stale_s + 2 * self.heartbeat_s + 8
        if d >= 3 * self.stale_s and d >= hold + 20:
            events.append((min(0.35 * d, d - hold - 10), next(self.seq), "long", hold))
        heapq.heapify(events)
        return events

    def chaos_time(self) -> float:
        """Seconds into the chaos phase (the timeline's clock)."""
        return time.time() - self.chaos_start

    def retry(self, events: list[tuple[float, int, str, Any]], what: str, arg: Any, first: float) -> bool:
        """Put a fault (or its follow-up) the simulator did not take back into the timeline, for 15 s."""
        now = self.chaos_time()
        if now - first > 15:
            return False
        heapq.heappush(events, (now + 1.0, next(self.seq), what, (arg, first)))
        return True

    def run_chaos(self) -> None:
        events = self.plan()
        self.chaos_start = time.time()
        self.log(f"chaos phase: {self.duration:.0f} s, stale threshold {self.stale_s:g} s")
        while events:
            at, _, what, arg = events[0]
            now = self.chaos_time()
            if now < at:
                time.sleep(min(0.25, at - now))
                continue
            heapq.heappop(events)
            if what in ("fault", "restore"):
                arg, first = arg if isinstance(arg, tuple) else (arg, at)
            if what == "burst":
                self._spawn(functools.partial(self.burst, arg), "burst")
            elif what == "restore":
                if self.control("POST", "/faults/connectivity", {"code": arg}) is not None:
                    self.log(f"fault follow-up: {arg}")
                else:  # the simulator is down: send it to the restarted one (harmless there)
                    self.retry(events, what, arg, first)
            elif what == "fault":
                if not self.fault(arg, events) and not self.retry(events, what, arg, first):
                    self.faults_skipped += 1
            elif what == "long":
                if self.recovering("scanner") or self.recovering("monitor") or self.recovering("executor"):
                    heapq.heappush(events, (now + 1.0, next(self.seq), "long", arg))
                    continue
                self.long_hold_until = time.time() + arg
                self.kill("scanner", hold=arg)
            elif what == "kill":
                kind = self._eligible(arg)
                if kind is None:
                    heapq.heappush(events, (now + 2.0, next(self.seq), "kill", arg))
                    continue
                before = kind in ("executor", "simulator", "dashboard") and self.rng.random() < 0.6
                if before:
                    picked = self.candidates(1)
                    if picked:
                        status = self.approve(picked[0])
                        self.log(f"approval of opportunity {picked[0]} right before the kill: {status}")
                        time.sleep(self.rng.uniform(0.0, 0.3))
                self.kill(kind, approval_before=before)

    def _eligible(self, wanted: str) -> str | None:
        """``wanted``, or the next kind that may be killed now (not recovering, not inside the long hold)."""
        order = list(KINDS[KINDS.index(wanted) :] + KINDS[: KINDS.index(wanted)])
        holding = time.time() < self.long_hold_until + 1
        for kind in order:
            if self.recovering(kind) or not self.children[kind].running():
                continue
            if holding and kind != "simulator":
                continue
            return kind
        return None

    def settle(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Clear faults; wait until all is up and quiet and the database agrees with TWS (or ``settle_s``).
        Return what was still not settled (empty: all) and the comparison (:meth:`compare`)."""
        self.control("POST", "/faults/clear")
        with self.lock:
            for child in self.children.values():
                child.hold_until = min(child.hold_until, time.time())
        for t in [t for t in self.threads if t.name == "burst"]:
            t.join(60)
        deadline = time.time() + self.settle_s
        while True:
            waiting = self.unsettled()
            found: dict[str, Any] = {}
            if not waiting:  # the database may still be catching up with TWS (a reconnection's reconcile)
                found = self.compare()
                waiting = {k: found[k] for k in CATCH_UP if found[k]}
                if not waiting:
                    return {}, found
            if time.time() >= deadline:
                return waiting, found or self.compare()
            time.sleep(3.0 if found else 1.0)

    def unsettled(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        clients = self.sim_clients()
        if clients is None or clients != set(TWS_COMPONENTS):
            out["tws_clients"] = sorted(clients or [])
        beats = self.heartbeats()
        now = time.time()
        for name in ("monitor", "scanner", "executor", "dashboard"):
            child, row = self.children[name], beats.get(name)
            fresh = (
                row is not None
                and child.running()  # a process killed at the very end still has its last fresh beat
                and row["pid"] == child.pid
                and now - ts(row["updated_at"]) < 3 * self.heartbeat_s + 5
            )
            ok_state = row is not None and row["state"] in ("running", "connected")
            if not (fresh and ok_state):
                out[name] = row["state"] if row is not None else "no heartbeat"
        busy = self.query("SELECT key, status FROM intents WHERE status IN ('approved','placing')")
        if busy:
            out["intents"] = [f"{r['key']} {r['status']}" for r in busy]
        unalerted = self.query(
            "SELECT key FROM intents WHERE status = 'filled' AND NOT EXISTS "
            "(SELECT 1 FROM alerts WHERE dedup_key = 'fill:' || intents.key)"
        )
        if unalerted:
            out["unalerted"] = [r["key"] for r in unalerted]
        pending = self.query(
            "SELECT count(*) FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
            "WHERE a.category = 'fill' AND d.status != 'sent'"
        )
        if pending and pending[0][0]:
            out["pending_deliveries"] = pending[0][0]
        return out

    # -- the comparison -----------------------------------------------------------------------------------
    def tws_view(self) -> dict[str, Any]:
        """Open and completed orders and the day's executions, as client 0 sees them."""
        from ib_async import IB

        ib = IB()
        ib.RaiseRequestErrors = False
        ib.connect("127.0.0.1", self.sim_port, clientId=0, timeout=15)
        try:
            open_trades = ib.reqAllOpenOrders()
            completed = ib.reqCompletedOrders(False)
            fills = ib.reqExecutions()
        finally:
            ib.disconnect()
        return {"open": open_trades, "completed": completed, "fills": fills}

    def sim_log_placements(self) -> tuple[dict[str, list[tuple[int, int, int]]], int]:
        """orderRef → the orders the simulator accepted for it (incarnation, client id, order id), without
        those it lost in a kill -9 before saving them; and how many it lost so."""
        text = self.children["simulator"].out_path.read_text(errors="replace")
        inc = 0
        placed: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        ended: set[tuple[int, int, int]] = set()
        for line in text.splitlines():
            if marker := START_MARK.match(line):
                inc = int(marker.group(1))
                continue
            m = SIM_LINE.search(line)
            if not m:
                continue
            body = m.group(1)
            if p := PLACED.search(body):
                placed[p.group(3)].append((inc, int(p.group(1)), int(p.group(2))))
            elif c := CANCELLED.search(body) or FILLED.search(body):
                ended.add((inc, int(c.group(1)), int(c.group(2))))
        real: dict[str, list[tuple[int, int, int]]] = {}
        lost = 0
        for ref, orders in placed.items():
            kept = []
            for inc_, cid, oid in orders:
                saved = self.sim_incarnation_end.get(inc_)
                if saved is not None and (cid, oid) not in saved and (inc_, cid, oid) not in ended:
                    lost += 1  # placed, never ended, not in the state file when this incarnation was killed
                    continue
                kept.append((inc_, cid, oid))
            real[ref] = kept
        return real, lost

    def compare(self) -> dict[str, Any]:
        tws = self.tws_view()
        refs_orders: dict[str, set[int]] = defaultdict(set)
        for trade in [*tws["open"], *tws["completed"]]:
            if trade.order.orderRef:
                refs_orders[trade.order.orderRef].add(trade.order.permId)
        exec_by_ref: dict[str, list[Any]] = defaultdict(list)
        for f in tws["fills"]:
            if f.execution.orderRef and f.contract.secType != "BAG":
                exec_by_ref[f.execution.orderRef].append(f)
                refs_orders[f.execution.orderRef].add(f.execution.permId)
        placements, lost_by_sim = self.sim_log_placements()
        duplicates = {r for r, ids in refs_orders.items() if len(ids) > 1}
        duplicates |= {r for r, orders in placements.items() if len(orders) > 1}
        working_at_tws = {t.order.orderRef for t in tws["open"] if t.order.orderRef and not t.isDone()}
        fill_ids = {r["exec_id"] for r in self.query("SELECT exec_id FROM fills")}
        tws_exec_ids = {f.execution.execId for fs in exec_by_ref.values() for f in fs}
        lost_fills = sorted(tws_exec_ids - fill_ids)
        intents = {r["key"]: r for r in self.query("SELECT * FROM intents")}
        filled_at_tws = {ref: sum(f.execution.shares for f in fs) for ref, fs in exec_by_ref.items()}
        active = {k for k, r in intents.items() if r["status"] in ("approved", "placing", "working")}
        orphans = sorted(working_at_tws - active)  # working at TWS, but finished (or unknown) in the database
        stuck, filled_but_active = [], []
        for key, row in intents.items():
            if row["status"] not in ("approved", "placing", "working"):
                continue
            done = filled_at_tws.get(key, 0) >= row["quantity"] - 1e-9
            if done:
                filled_but_active.append(key)
            elif key not in working_at_tws:
                stuck.append(f"{key} ({row['status']})")
        alert_rows: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for r in self.query("SELECT * FROM alerts WHERE dedup_key LIKE 'fill:%'"):
            alert_rows[r["dedup_key"][5:]].append(r)
        mails: Counter[str] = Counter()
        for msg in list(self.smtp.messages):
            parsed = email.message_from_bytes(msg.content, policy=email.policy.default)
            body = parsed.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            if "Category: fill" in text and (m := MAIL_KEY.search(text)):
                mails[m.group(1)] += 1
        filled = [k for k, r in intents.items() if r["status"] == "filled"]
        lost_alerts = sorted(k for k in filled if k not in alert_rows)
        lost_emails = sorted(k for k in alert_rows if mails[k] == 0)
        doubled = sorted(
            k
            for k in set(alert_rows) | set(mails)
            if len(alert_rows.get(k, [])) > 1
            or any(r["repeat_count"] > 1 for r in alert_rows.get(k, []))
            or mails[k] > 1
        )
        dup_intents = self.query(
            "SELECT opportunity_id, count(*) AS n FROM intents WHERE opportunity_id IS NOT NULL "
            "GROUP BY opportunity_id HAVING n > 1"
        )
        missing = self.query("SELECT exec_id FROM fills WHERE commission IS NULL")
        return {
            "duplicate_orders": sorted(duplicates),
            "lost_fills": lost_fills,
            "lost_alerts": lost_alerts,
            "lost_emails": lost_emails,
            "doubled_alerts": doubled,
            "duplicate_intents": [r["opportunity_id"] for r in dup_intents],
            "missing_commissions": [r["exec_id"] for r in missing],
            "stuck_intents": stuck,
            "filled_but_active": filled_but_active,
            "orphan_orders": orphans,
            "fills_not_at_tws": sorted(fill_ids - tws_exec_ids),
            "orders_lost_by_sim": lost_by_sim,
            "intents": len(intents),
            "filled": len(filled),
            "tws_executions": len(tws_exec_ids),
            "fill_emails": sum(mails.values()),
        }

    def watchdog_figures(self) -> dict[str, Any]:
        downs = [
            r["dedup_key"]
            for r in self.query("SELECT dedup_key FROM alerts WHERE dedup_key LIKE 'component-down:%'")
        ]
        killed = {(k.kind, k.old_pid) for k in self.kills}
        reported = set()
        for key in downs:
            parts = key.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                reported.add((parts[1], int(parts[2])))
        margin = 2 * self.heartbeat_s + 2
        long_outages = [k for k in self.kills if k.kind != "simulator" and (k.silence or 0) > self.stale_s]
        missed = [
            f"{k.kind} pid {k.old_pid} silent {k.silence:.0f} s"
            for k in long_outages
            if (k.silence or 0) > self.stale_s + margin and (k.kind, k.old_pid) not in reported
        ]
        return {
            "long_outages": len(long_outages),
            "down_alerts": len(downs),
            "down_alerts_missed": missed,
            "false_down_alerts": sorted(f"{c}:{p}" for c, p in reported - killed),
        }

    def shutdown(self) -> dict[str, int | None]:
        """Stop the supervisor, then every process cleanly (SIGTERM), the simulator last."""
        self._recovery_pass()  # settled may have come within the watcher's last 0.25 s
        self.stopping.set()
        for t in self.threads:
            if t.name in ("supervisor", "recoveries"):
                t.join(5)
        codes = {}
        for name in ("dashboard", "executor", "scanner", "monitor", "simulator"):
            codes[name] = self.children[name].stop()
        self.smtp.stop()
        return codes

    def integrity(self) -> bool:
        conn = sqlite3.connect(self.db_path, timeout=30)
        try:
            return bool(conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
        finally:
            conn.close()

    def tracebacks(self) -> dict[str, int]:
        out = {}
        for child in self.children.values():
            text = child.out_path.read_text(errors="replace")
            out[child.name] = text.count("Traceback (most recent call last)")
        return out


def run(
    minutes: float = 10.0,
    seed: int = 1,
    *,
    work: Path | None = None,
    stale_seconds: float = 60.0,
    heartbeat_seconds: float = 2.0,
    symbols: list[str] | None = None,
    settle_seconds: float = 180.0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark; return the figures (the JSON keys) and, under ``details``, the lists behind them."""
    work = work or Path(tempfile.mkdtemp(prefix="thetawheel-chaos-"))
    chaos = Chaos(
        work,
        minutes,
        seed,
        stale_seconds,
        heartbeat_seconds,
        symbols or UNIVERSE,
        settle_seconds,
        progress or (lambda text: print(text, file=sys.stderr, flush=True)),
    )
    try:
        chaos.setup()
        chaos.wait_ready(240)
        chaos.log("service up, opportunities listed")
        chaos.run_chaos()
        chaos.log("chaos over; settling")
        unsettled, found = chaos.settle()
        chaos.log("settled" if not unsettled else f"NOT settled: {unsettled}")
        watchdog = chaos.watchdog_figures()
        load = os.getloadavg()
    finally:
        codes = chaos.shutdown()
    integrity = chaos.integrity()
    recoveries = [k.recovery for k in chaos.kills]
    reconnects = [k.reconnect for k in chaos.kills]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        ks = [k for k in chaos.kills if k.kind == kind]
        rec = [k.recovery for k in ks if k.recovery is not None]
        con = [k.reconnect for k in ks if k.reconnect is not None]
        by_kind[kind] = {
            "kills": len(ks),
            "max_recovery_s": round(max(rec), 2) if rec else None,
            "max_reconnect_s": round(max(con), 2) if con else None,
            "max_silence_s": round(max(k.silence for k in ks if k.silence is not None), 1)
            if any(k.silence is not None for k in ks)
            else None,
        }
    details = (
        found
        | watchdog
        | {
            "unsettled": unsettled,
            "unexpected_exits": chaos.unexpected,
            "clean_stop_codes": codes,
            "tracebacks": chaos.tracebacks(),
            "kills_by_kind": by_kind,
            "faults_by_kind": dict(chaos.faults),
            "work": str(work),
        }
    )
    count = {k: len(v) for k, v in found.items() if isinstance(v, list)}
    unrecovered = sum(1 for r in recoveries if r is None)
    return {
        "minutes": minutes,
        "seed": seed,
        "kills": len(chaos.kills),
        "faults": sum(chaos.faults.values()),
        "faults_skipped": chaos.faults_skipped,
        "approvals": chaos.approvals,
        "approvals_refused": chaos.approval_refused,
        "approval_errors": chaos.approval_errors,
        "approvals_before_kills": sum(1 for k in chaos.kills if k.approval_before),
        "duplicate_click_groups": chaos.dup_groups,
        "intents": found["intents"],
        "filled": found["filled"],
        "tws_executions": found["tws_executions"],
        "fill_emails": found["fill_emails"],
        "duplicate_orders": count["duplicate_orders"],
        "duplicate_intents": count["duplicate_intents"] + chaos.dup_click_violations,
        "lost_fills": count["lost_fills"],
        "lost_alerts": count["lost_alerts"],
        "lost_emails": count["lost_emails"],
        "doubled_alerts": count["doubled_alerts"],
        "missing_commissions": count["missing_commissions"],
        "stuck_intents": count["stuck_intents"],
        "filled_but_active": count["filled_but_active"],
        "orphan_orders": count["orphan_orders"],
        "fills_not_at_tws": count["fills_not_at_tws"],
        "orders_lost_by_sim": found["orders_lost_by_sim"],
        "integrity_ok": integrity,
        "max_recovery_s": round(max((r for r in recoveries if r is not None), default=0.0), 2),
        "max_reconnect_s": round(max((r for r in reconnects if r is not None), default=0.0), 2),
        "unrecovered": unrecovered,
        "stale_threshold_s": chaos.stale_s,
        "long_outages": watchdog["long_outages"],
        "down_alerts": watchdog["down_alerts"],
        "down_alerts_missed": len(watchdog["down_alerts_missed"]),
        "false_down_alerts": len(watchdog["false_down_alerts"]),
        "unexpected_exits": len(chaos.unexpected),
        "settled": not unsettled,
        "load_average_1m": round(load[0], 2),
        "details": details,
    }


#: Figures that must be 0 (or true) for the run to pass, with their targets for the table.
TARGETS = {
    "duplicate_orders": "0",
    "duplicate_intents": "0",
    "lost_fills": "0",
    "lost_alerts": "0",
    "lost_emails": "0",
    "doubled_alerts": "0",
    "missing_commissions": "0",
    "stuck_intents": "0",
    "filled_but_active": "0",
    "orphan_orders": "0",
    "integrity_ok": "True",
    "down_alerts_missed": "0",
    "unrecovered": "0",
    "settled": "True",
}


def print_table(result: dict[str, Any]) -> None:
    d = result["details"]
    print(
        f"\nchaos: {result['minutes']:g} min, seed {result['seed']}, load average (1 min) "
        f"{result['load_average_1m']}, work folder {d['work']}"
    )
    print(
        f"\n{'killed':<10} {'kills':>5} {'max recovery s':>15} {'max reconnect s':>16} {'max silence s':>14}"
    )
    for kind, k in d["kills_by_kind"].items():
        print(
            f"{kind:<10} {k['kills']:>5} {k['max_recovery_s']!s:>15} {k['max_reconnect_s']!s:>16} "
            f"{k['max_silence_s']!s:>14}"
        )
    print(f"\n{'fault':<18} {'count':>5}")
    for name in FAULTS:
        print(f"{name:<18} {d['faults_by_kind'].get(name, 0):>5}")
    print(f"\n{'figure':<24} {'value':>10}  target")
    for key, value in result.items():
        if key != "details":
            print(f"{key:<24} {value!s:>10}  {TARGETS.get(key, '')}")
    shown = [
        "duplicate_orders",
        "lost_fills",
        "lost_alerts",
        "lost_emails",
        "doubled_alerts",
        "duplicate_intents",
        "missing_commissions",
        "stuck_intents",
        "filled_but_active",
        "orphan_orders",
        "fills_not_at_tws",
        "down_alerts_missed",
        "false_down_alerts",
        "unexpected_exits",
        "unsettled",
    ]
    for key in shown:
        if d.get(key):
            print(f"  {key}: {d[key]}")
    if any(d["tracebacks"].values()):
        print(f"  tracebacks in the process outputs: {d['tracebacks']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the chaos phase (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the schedule (default 1)")
    parser.add_argument("--stale-seconds", type=float, default=60.0, help="HEARTBEAT_STALE_SECONDS (60)")
    parser.add_argument("--heartbeat-seconds", type=float, default=2.0, help="schedule.heartbeat_seconds (2)")
    parser.add_argument("--settle", type=float, default=180.0, help="longest settling wait, seconds (180)")
    parser.add_argument("--symbols", default=",".join(UNIVERSE), help="the universe, comma-separated")
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    args = parser.parse_args()
    result = run(
        args.minutes,
        args.seed,
        stale_seconds=args.stale_seconds,
        heartbeat_seconds=args.heartbeat_seconds,
        settle_seconds=args.settle,
        symbols=[s.strip().upper() for s in args.symbols.split(",") if s.strip()],
    )
    print_table(result)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "details"}))


if __name__ == "__main__":
    main()
