"""Load benchmark of the dashboard: concurrent keep-alive clients against its JSON endpoints and the Overview.

``python bench/dashboard_load.py [--seconds 10] [--clients 8 32] [--json]``

Starts the whole demo the way ``make run`` does (honcho + Procfile.demo: simulator, monitor, scanner,
executor and the dashboard as a real ``python -m dashboard`` process under waitress, ``MARKET_HOURS=always``)
on free loopback ports with a scratch database, waits until every component is up and the first scan has
opportunities, approves a few of them and waits for the positions (so the monitor, scanner and executor
keep writing during the load, as in use: the monitor every 5 s, heartbeats every 5 s, so the dashboard's
answer cache is emptied about once a second), then drives
each endpoint with Debian's ``wrk`` (``--clients`` concurrent keep-alive connections, ``--seconds`` each):
``/api/v1/account``, ``/api/v1/positions``, ``/api/v1/opportunities`` and the Overview page ``/``.

Per endpoint and client count: ``rps`` (requests/s), ``p50_ms`` / ``p99_ms`` (wrk's latency percentiles,
milliseconds), ``errors`` (non-2xx/3xx answers plus socket errors: connect, read, write, timeout); and
``log_warnings``: WARNING/ERROR lines the dashboard wrote to its log during that run (e.g. waitress's "Task
queue depth"); ``cpu_ms_per_request``: the dashboard process's CPU time (user + system) per request, a
figure that holds on a busy machine where requests/s and p99 also measure the other processes. ``uptime``
is printed before and after. Targets (issue 11, this 2-core machine): ≥ 1,000
requests/s and p99 < 50 ms for the JSON endpoints at 8 clients, 0 errors, 0 log warnings. With ``--json``
the last line is one JSON object: ``{"results": {"<path>": {"<clients>": {...}}}, "log_warnings": n, ...}``.

``wrk`` is installed with ``apt-get install -y wrk`` when missing and running as root; otherwise the
benchmark says how to install it and stops.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from demo import Client, Service, all_up, start_demo, wait_for  # noqa: E402
from realparts import settings_values  # noqa: E402

ENDPOINTS = ("/api/v1/account", "/api/v1/positions", "/api/v1/opportunities", "/")
JSON_ENDPOINTS = ENDPOINTS[:3]
#: Opportunities approved before the load, so that positions (and the executor's work) exist.
APPROVALS = 6
#: The shipped default universe (config/thetawheel.example.toml).
UNIVERSE = tomllib.loads((ROOT / "config" / "thetawheel.example.toml").read_text())["universe"]["symbols"]
STRATEGY = f"""
[universe]
symbols = {json.dumps(UNIVERSE)}

[schedule]
monitor_interval_seconds = 5
scan_interval_seconds = 300
executor_poll_seconds = 2
heartbeat_seconds = 5

[puts]
max_candidates_per_symbol = 8
min_annualized_return = 0.05
"""
#: wrk's ``done()`` hook: the figures as one JSON line (latency in microseconds).
DONE_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "connect": %d, '
    .. '"read": %d, "write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""
WARNING_LINE = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b")
#: Targets at 8 clients for the JSON endpoints.
TARGET_RPS, TARGET_P99_MS = 1000.0, 50.0


def ensure_wrk() -> str:
    """The path of ``wrk``, installed with apt-get when missing and running as root; else exits with how."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk) ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("wrk is missing: install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) and run again")


def uptime() -> str:
    """``uptime``'s line (load averages), or the load averages alone."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


class DashboardLog:
    """WARNING/ERROR lines the dashboard writes, counted from a mark on: its log file, else its lines in
    honcho's output."""

    def __init__(self, work: Path, service: Service) -> None:
        self.file = work / "logs" / "dashboard.log"
        self.service = service
        self.offset = 0

    def _lines(self) -> list[str]:
        if self.file.exists():
            return self.file.read_text(encoding="utf-8", errors="replace").splitlines()
        self.service.output()  # flushes
        text = self.service.log.read_text(encoding="utf-8", errors="replace")
        return [line for line in text.splitlines() if line.lstrip().startswith("dashboard")]

    def mark(self) -> None:
        """Count from now on."""
        self.offset = len(self._lines())

    def warnings(self) -> list[str]:
        """The WARNING/ERROR lines since :meth:`mark`."""
        return [line for line in self._lines()[self.offset :] if WARNING_LINE.search(line)]


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds the process ``pid`` has used (Linux ``/proc``), or ``None``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(wrk: str, script: Path, url: str, clients: int, seconds: float) -> dict[str, Any]:
    """One wrk run: ``clients`` keep-alive connections for ``seconds``; its figures."""
    threads = max(1, min(clients, 2))
    cmd = [
        wrk,
        f"-t{threads}",
        f"-c{clients}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
    ]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=False).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures for {url}:\n{out}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(raw[k] for k in ("connect", "read", "write", "status", "timeout"))
    return {
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "errors": errors,
        "requests": raw["requests"],
    }


def run(seconds: float, client_counts: list[int], keep: bool = False) -> dict[str, Any]:
    """Start the demo, load every endpoint at every client count, stop the demo; the figures."""
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="thetawheel-dashload-"))
    script = work / "done.lua"
    script.write_text(DONE_LUA)
    env = {"THETAWHEEL_DEMO_CASH": "10000000", "PYTHONPATH": str(ROOT)}
    svc, base = start_demo(work, STRATEGY, settings_values(LOG_LEVEL="INFO"), env)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    total_warnings = 0
    samples: list[str] = []
    try:
        client = Client(base)
        wait_for("the service up", lambda: all_up(client), 120, svc)
        opps = wait_for(
            "opportunities", lambda: client.get("/api/v1/opportunities")["opportunities"], 240, svc
        )
        for opp in opps[:APPROVALS]:  # some positions to show, as a trader's account has
            client.approve(opp["id"])
        wait_for("positions", lambda: client.get("/api/v1/positions")["positions"], 120, svc)
        log = DashboardLog(work, svc)
        health = client.get("/api/v1/health")["components"]
        pid = next((c["pid"] for c in health if c["component"] == "dashboard"), None)
        for path in ENDPOINTS:
            for clients in client_counts:
                log.mark()
                cpu_before = cpu_seconds(pid)
                figures = run_wrk(wrk, script, base + path, clients, seconds)
                cpu_after = cpu_seconds(pid)
                if cpu_before is not None and cpu_after is not None and figures["requests"]:
                    figures["cpu_ms_per_request"] = round(
                        (cpu_after - cpu_before) * 1000 / figures["requests"], 3
                    )
                lines = log.warnings()
                figures["log_warnings"] = len(lines)
                total_warnings += len(lines)
                samples.extend(lines[:2])
                results.setdefault(path, {})[str(clients)] = figures
        sizes = {path: len(json.dumps(client.get(path))) for path in JSON_ENDPOINTS}
    finally:
        svc.stop()
        if keep:
            print(f"kept the scratch folder (database, logs): {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "results": results,
        "log_warnings": total_warnings,
        "log_warning_samples": samples[:5],
        "json_body_chars": sizes,
        "seconds_per_run": seconds,
    }


def verdict(path: str, clients: int, figures: dict[str, Any]) -> str:
    """``ok`` / what misses the targets (the throughput and p99 targets apply to JSON at 8 clients)."""
    misses = []
    if path in JSON_ENDPOINTS and clients == 8:
        if figures["rps"] < TARGET_RPS:
            misses.append(f"rps<{TARGET_RPS:.0f}")
        if figures["p99_ms"] >= TARGET_P99_MS:
            misses.append(f"p99>={TARGET_P99_MS:.0f}ms")
    if figures["errors"]:
        misses.append("errors")
    if figures["log_warnings"]:
        misses.append("log warnings")
    return ", ".join(misses) or "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per endpoint and client count")
    parser.add_argument(
        "--clients", type=int, nargs="+", default=[8, 32], help="client counts (default 8 32)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (database, logs)")
    args = parser.parse_args()
    before = uptime()
    print(f"before: {before}", flush=True)
    result = run(args.seconds, args.clients, args.keep)
    after = uptime()
    print(f"after:  {after}")
    head = ("endpoint", "clients", "req/s", "p50 ms", "p99 ms", "errors", "warn", "cpu ms")
    print("{:<24} {:>7} {:>9} {:>8} {:>8} {:>7} {:>5} {:>7}  verdict".format(*head))
    for path, by_clients in result["results"].items():
        for clients, f in by_clients.items():
            print(
                f"{path:<24} {clients:>7} {f['rps']:>9.1f} {f['p50_ms']:>8.2f} {f['p99_ms']:>8.2f} "
                f"{f['errors']:>7} {f['log_warnings']:>5} {f.get('cpu_ms_per_request', float('nan')):>7.3f}  "
                f"{verdict(path, int(clients), f)}"
            )
    print(f"dashboard log warnings during the load: {result['log_warnings']}")
    for line in result["log_warning_samples"]:
        print(f"  {line}")
    if args.json:
        print(json.dumps(result | {"uptime_before": before, "uptime_after": after}))


if __name__ == "__main__":
    main()
