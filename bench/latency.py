"""Latency benchmark of the order path: approve click → order at the simulator, fill → email accepted.

``python bench/latency.py [--approvals 30] [--interval 1.0] [--json]``

Starts the whole demo the way ``make run`` does (honcho + Procfile.demo: simulator, monitor, scanner,
executor, dashboard) on free loopback ports with a scratch database, plus a real STARTTLS SMTP server on
loopback that the alerts go to. It waits for the first scan's opportunities, then approves ``--approvals``
of them through the dashboard's HTTP endpoint (with CSRF, as the page does), one every ``--interval``
seconds (a user's clicks; 0 sends them as one burst, which measures queueing in the executor, which
places one order at a time) and measures, per approval:

* approve → wire: from just before the POST to the simulator's log line "placed order … ref='<key>'";
* fill → email: from the simulator's "filled … order N" line to the SMTP server accepting the fill email.

Both clocks are this machine's. Targets (issue 8): p95 < 1 s and p95 < 5 s. With ``--json`` the last line
is one JSON object with ``approve_to_wire_p95_s``, ``fill_to_email_p95_s`` and the other figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from demo import Client, all_up, start_demo  # noqa: E402
from realparts import SmtpServer, free_port, make_certs, settings_values  # noqa: E402
from waiting import wait_for  # noqa: E402

UNIVERSE = ["SPY", "QQQ", "AAPL", "AMZN", "NVDA", "TSLA", "KO", "INTC", "PFE", "BAC", "T", "XOM", "F"]
STRATEGY = f"""
[universe]
symbols = {json.dumps(UNIVERSE)}

[schedule]
monitor_interval_seconds = 5
scan_interval_seconds = 3600
executor_poll_seconds = 2
heartbeat_seconds = 5

[puts]
max_candidates_per_symbol = 8
min_annualized_return = 0.05
"""
LINE = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO simulator\.(\w+): (.*)")


def stamp(text: str) -> float:
    """Epoch seconds of a log timestamp (``2026-12-03 07:10:51,304``, this machine's local time)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def simulator_events(out: str) -> tuple[dict[str, float], dict[str, float]]:
    """From the demo's output: orderRef → time placed, and orderRef → time of the last fill."""
    placed: dict[str, float] = {}
    order_ref: dict[str, str] = {}
    filled: dict[str, float] = {}
    for line in out.splitlines():
        m = LINE.search(line)
        if not m:
            continue
        when, text = stamp(m.group(1)), m.group(3)
        if " placed order " in text and "ref='" in text:
            ref = text.split("ref='", 1)[1].split("'", 1)[0]
            number = text.split(" placed order ", 1)[1].split(":", 1)[0]
            placed.setdefault(ref, when)
            order_ref[number] = ref
        elif text.startswith("filled client ") and " order " in text:
            number = text.split(" order ", 1)[1].split(":", 1)[0]
            if number in order_ref:
                filled[order_ref[number]] = when
    return placed, filled


def run(approvals: int, interval: float) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="thetawheel-latency-"))
    smtp = SmtpServer(port=free_port(), certs=make_certs(work))
    smtp.start()
    # enough demo cash that every cash-secured put is accepted
    svc, base = start_demo(
        work, STRATEGY, settings_values(smtp=smtp, LOG_LEVEL="INFO"), {"THETAWHEEL_DEMO_CASH": "10000000"}
    )
    clicks: dict[str, float] = {}
    try:
        client = Client(base)
        wait_for("the service up", lambda: all_up(client), 120)
        opps = wait_for("opportunities", lambda: client.get("/api/v1/opportunities")["opportunities"], 180)
        for opp in opps[:approvals]:
            time.sleep(interval)
            started = time.time()
            status, answer = client.approve(opp["id"])
            if status == 201:
                clicks[answer["intent"]["key"]] = started
        deadline = time.monotonic() + 120  # orders that rest unfilled send no email: measure what filled
        while time.monotonic() < deadline:
            _, filled = simulator_events(svc.log.read_text())
            mailed = {k for k in filled if any(k in m.content.decode() for m in smtp.messages)}
            if len(filled) == len(clicks) and mailed >= set(filled):
                break
            time.sleep(0.5)
        emails = {
            k: min(m.received_at for m in smtp.messages if k in m.content.decode())
            for k in clicks
            if any(k in m.content.decode() for m in smtp.messages)
        }
        placed, filled = simulator_events(svc.log.read_text())
    finally:
        svc.stop()
        smtp.stop()
    wire = [placed[k] - clicks[k] for k in clicks if k in placed]
    mail = [emails[k] - filled[k] for k in clicks if k in filled and k in emails]
    return {
        "approvals": len(clicks),
        "placed": len(wire),
        "filled_and_mailed": len(mail),
        "opportunities": len(opps),
        "approve_to_wire_p50_s": round(statistics.median(wire), 3) if wire else None,
        "approve_to_wire_p95_s": round(percentile(wire, 0.95), 3),
        "approve_to_wire_max_s": round(max(wire), 3) if wire else None,
        "fill_to_email_p50_s": round(statistics.median(mail), 3) if mail else None,
        "fill_to_email_p95_s": round(percentile(mail, 0.95), 3),
        "fill_to_email_max_s": round(max(mail), 3) if mail else None,
        "interval_s": interval,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=30, help="approvals to measure (default 30)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between approvals (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON line last")
    args = parser.parse_args()
    result = run(args.approvals, args.interval)
    print(f"{'figure':<26} {'value':>10}  target")
    targets = {"approve_to_wire_p95_s": "< 1 s", "fill_to_email_p95_s": "< 5 s"}
    for key, value in result.items():
        print(f"{key:<26} {value!s:>10}  {targets.get(key, '')}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
