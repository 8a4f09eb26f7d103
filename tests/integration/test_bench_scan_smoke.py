"""``bench/scan.py`` runs end to end for one symbol: two simulators, the monitor, the real scanner behind the
counting relay, the brute-force reference; its last line is one JSON object with the issue's keys.

Only the bench's machinery is checked here (the figures exist and are coherent), not the scanner's targets:
those are what the bench reports.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = (
    "symbols",
    "scan_s",
    "contracts_requested",
    "messages_per_s",
    "pacing_errors",
    "recall",
    "efficiency",
    "selectivity",
)


@pytest.mark.timeout(300)
def test_bench_scan_one_symbol_prints_the_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "scan.py"), "--symbols", "KO", "--timeout", "180", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    figures = result["runs"]["custom"]
    for key in KEYS:
        assert key in figures, key
        assert f"custom_{key}" in result
    assert figures["symbols"] == 1
    assert figures["scan_s"] > 0
    assert figures["contracts_requested"] > 0  # seen on the wire
    assert figures["messages"] >= figures["contracts_requested"]
    assert figures["reference_contracts"] > figures["contracts_requested"]  # the whole chain
    assert figures["quote_mismatches"] == 0  # the two simulators quote alike
    assert "load average" in result["uptime"]
