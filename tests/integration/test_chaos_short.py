"""One minute of chaos (``bench/chaos.py`` in short): kill -9 of the executor, simulator, monitor and
dashboard, the scanner held down past the stale threshold, every TWS fault (drop_client, 1100 → 1101,
1100 → 1102, restart_window, delay) and approval bursts with duplicate clicks. Afterwards nothing is lost,
doubled or stuck: TWS's orders and executions match the database, every fill has its commission, one
alert and one email, the database is intact, and every process was back within 30 s.

Real parts: the simulator over TCP with its state file, the four components as processes on one SQLite
file, the dashboard's HTTP API with CSRF, a STARTTLS SMTP server on loopback. ``HEARTBEAT_STALE_SECONDS``
is 10 s here (the components beat every second) so that the component-down alert fits in the minute.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"
MUST_BE_ZERO = (
    "duplicate_orders",
    "duplicate_intents",
    "lost_fills",
    "lost_alerts",
    "lost_emails",
    "doubled_alerts",
    "missing_commissions",
    "stuck_intents",
    "filled_but_active",
    "orphan_orders",
    "down_alerts_missed",
    "unrecovered",
    "unexpected_exits",
)


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_chaos", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(300)
def test_a_minute_of_chaos_loses_nothing(tmp_path: Path) -> None:
    chaos = load_bench()
    result = chaos.run(
        1.0,
        seed=1,
        work=tmp_path,
        stale_seconds=10,
        heartbeat_seconds=1,
        symbols=chaos.SMALL_UNIVERSE,
        settle_seconds=60,
        progress=lambda _text: None,
    )
    details = result.pop("details")
    context = f"{result}\n{details}"
    assert result["kills"] >= 5, context  # every process kind, the scanner held down past the threshold
    assert set(details["faults_by_kind"]) == set(chaos.FAULTS), context
    assert result["approvals"] >= 3 and result["filled"] >= 1, context
    assert result["duplicate_click_groups"] >= 1, context
    assert result["long_outages"] >= 1 and result["down_alerts"] >= 1, context
    for key in MUST_BE_ZERO:
        assert result[key] == 0, f"{key}: {details.get(key)}\n{context}"
    assert result["integrity_ok"], context
    assert result["settled"], context
    assert result["max_recovery_s"] < 30, context
