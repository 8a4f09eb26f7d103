"""The component watchdog: the pure decision (down once per silence, back once, nothing for a clean stop or a
component that never ran), the watcher's own pause guard, and, on a real SQLite file, exactly one alert per
outage however many watchers check at the same moment."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, select
from waiting import wait_for

from dashboard.runtime import Heartbeat as DashboardHeartbeat
from shared.db import make_engine, upsert
from shared.schema import alert_deliveries, alerts, heartbeats
from shared.settings import Settings
from shared.strategy import AlertRules
from shared.watchdog import (
    Back,
    Beat,
    Down,
    History,
    Outage,
    Watchdog,
    back_key,
    decide,
    down_key,
    effective_stale_after,
    history_of,
)

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
STARTED = "2026-03-02T14:00:00+00:00"


def beat(age: float, state: str = "connected", pid: int = 1234, component: str = "executor") -> Beat:
    return Beat(
        component=component,
        pid=pid,
        state=state,
        detail="",
        client_id=12000,
        started_at=STARTED,
        updated_at=(T0 - timedelta(seconds=age)).isoformat(),
    )


def outage(alert_id: int) -> Outage:
    return Outage(alert_id, f"component-down:executor:1:{alert_id}", "executor is down", T0.isoformat())


# --- the pure decision ----------------------------------------------------------------------------
def test_a_silence_longer_than_the_threshold_is_one_outage() -> None:
    dead = beat(75)
    decision = decide(dead, History(), now=T0, stale_after=60)
    assert decision == Down(dead, 75.0)
    reported = History(down_keys=frozenset({down_key(dead)}))
    assert decide(dead, reported, now=T0, stale_after=60) is None  # reported once, never again


@pytest.mark.parametrize("age", [0, 30, 60])
def test_a_fresh_heartbeat_is_no_outage(age: float) -> None:
    assert decide(beat(age), History(), now=T0, stale_after=60) is None


def test_a_clean_stop_or_a_component_that_never_ran_raises_nothing() -> None:
    assert decide(beat(3600, state="stopped"), History(), now=T0, stale_after=60) is None
    assert decide(beat(3600, state="stopped"), History(open=(outage(1),)), now=T0, stale_after=60) is None
    assert decide(None, History(open=(outage(1),)), now=T0, stale_after=60) is None


def test_no_judgement_before_the_watcher_has_watched_long_enough() -> None:
    assert decide(beat(75), History(), now=T0, stale_after=60, judging=False) is None
    # but a component coming back is reported at once
    live = beat(1, pid=99)
    assert decide(live, History(open=(outage(1),)), now=T0, stale_after=60, judging=False) == Back(
        live, (outage(1),)
    )


def test_a_new_silence_of_the_same_process_is_a_new_outage() -> None:
    first, second = beat(300), beat(75)  # it beat again in between (same pid, later last beat)
    assert down_key(first) != down_key(second)
    history = History(down_keys=frozenset({down_key(first)}))
    assert decide(second, history, now=T0, stale_after=60) == Down(second, 75.0)


def test_history_keeps_outages_open_until_a_later_back_alert() -> None:
    def row(id_: int, key: str) -> Any:
        return SimpleNamespace(id=id_, dedup_key=key, title=f"alert {id_}", created_at=T0.isoformat())

    rows = [
        row(1, "component-down:executor:1:2026-03-02T14:00:00+00:00"),
        row(2, back_key("executor", 1)),
        row(3, "component-down:executor:2:2026-03-02T14:10:00+00:00"),
        row(5, "component-down:executor:3:2026-03-02T14:20:00+00:00"),
        row(4, "component-down:scanner:7:2026-03-02T14:00:00+00:00"),
        row(6, back_key("scanner", 4)),
    ]
    got = history_of(rows)
    assert [o.alert_id for o in got["executor"].open] == [3, 5]
    assert len(got["executor"].down_keys) == 3
    assert got["scanner"].open == () and len(got["scanner"].down_keys) == 1
    assert "monitor" not in got


def test_the_threshold_is_at_least_two_heartbeats() -> None:
    settings = Settings(_env_file=None, HEARTBEAT_STALE_SECONDS=10)  # type: ignore[call-arg]
    assert effective_stale_after(settings, 1) == 10
    assert effective_stale_after(settings, 30) == 60
    assert Settings(_env_file=None).HEARTBEAT_STALE_SECONDS == 60  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="HEARTBEAT_STALE_SECONDS"):
        Settings(_env_file=None, HEARTBEAT_STALE_SECONDS=1)  # type: ignore[call-arg]


# --- on a real database ---------------------------------------------------------------------------
class Clocks:
    """Wall clock and monotonic clock moving together."""

    def __init__(self) -> None:
        self.now = T0
        self.mono = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


CHANNELS = {
    "SMTP_SERVER": "127.0.0.1",
    "EMAIL_FROM": "alerts@example.com",
    "EMAIL_TO": "ops@example.com",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "token-for-tests",
    "TWILIO_FROM_NUMBER": "+15005550006",
    "TWILIO_TO_NUMBER": "+15551234567",
}


def watcher(engine: Engine, name: str, clocks: Clocks, interval: float = 10.0) -> Watchdog:
    return Watchdog(
        engine,
        component=name,
        settings=Settings(_env_file=None, **CHANNELS),  # type: ignore[arg-type]
        rules=AlertRules(),
        stale_after=60,
        interval=interval,
        now=lambda: clocks.now,
        monotonic=lambda: clocks.mono,
    )


def write_beat(engine: Engine, component: str, at: datetime, pid: int, state: str = "connected") -> None:
    with engine.begin() as conn:
        upsert(
            conn,
            heartbeats,
            {
                "component": component,
                "pid": pid,
                "client_id": None,
                "state": state,
                "detail": "",
                "started_at": STARTED if pid == 1234 else at.isoformat(),
                "updated_at": at.isoformat(),
            },
            key=("component",),
        )


def system_alerts(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(alerts).where(alerts.c.category == "system").order_by(alerts.c.id)))


def channels_of(engine: Engine, alert_id: int) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(alert_deliveries.c.channel).where(alert_deliveries.c.alert_id == alert_id))
        return {r.channel for r in rows}


def run_service_minutes(engine: Engine, clocks: Clocks, watchers: list[Watchdog], seconds: float) -> None:
    """Let time pass in 10 s steps: monitor and scanner keep beating, every watcher checks each step."""
    for _ in range(int(seconds // 10)):
        clocks.advance(10)
        write_beat(engine, "monitor", clocks.now, 10)
        write_beat(engine, "scanner", clocks.now, 11)
        for w in watchers:
            w.check()


def test_killed_restarted_and_stopped_components(engine: Engine) -> None:
    clocks = Clocks()
    monitor, scanner = watcher(engine, "monitor", clocks), watcher(engine, "scanner", clocks)
    write_beat(engine, "executor", clocks.now, 1234)
    run_service_minutes(engine, clocks, [monitor, scanner], 50)
    assert system_alerts(engine) == []

    # the executor was killed right after its last beat at T0: 60 s later it is down, reported once
    run_service_minutes(engine, clocks, [monitor, scanner], 10 + 120)
    [down] = system_alerts(engine)
    assert down.title == "executor is down: no heartbeat for 70 s (pid 1234, last state connected)"
    assert (down.severity, down.category, down.source) == ("critical", "system", "monitor")
    assert "did not record a clean stop" in down.body and "logs/executor.log" in down.body
    assert channels_of(engine, down.id) == {"email", "sms"}

    # restarted: one info alert, to the dashboard only
    write_beat(engine, "executor", clocks.now, 5678, state="starting")
    run_service_minutes(engine, clocks, [monitor, scanner], 60)
    down_again, back = system_alerts(engine)
    assert down_again.id == down.id
    assert back.title == "executor is back: heartbeat again (pid 5678, state starting)"
    assert (back.severity, back.dedup_key) == ("info", back_key("executor", down.id))
    assert down.created_at in back.body and channels_of(engine, back.id) == set()

    # stopped cleanly by SIGTERM: nothing, however long it stays stopped
    write_beat(engine, "executor", clocks.now, 5678, state="stopped")
    run_service_minutes(engine, clocks, [monitor, scanner], 600)
    assert len(system_alerts(engine)) == 2


def test_a_component_that_never_beat_is_not_down(engine: Engine) -> None:
    clocks = Clocks()
    monitor = watcher(engine, "monitor", clocks)
    run_service_minutes(engine, clocks, [monitor], 300)
    assert system_alerts(engine) == []


def test_a_watcher_never_judges_itself_and_waits_after_its_own_pause(engine: Engine) -> None:
    clocks = Clocks()
    scanner = watcher(engine, "scanner", clocks)
    write_beat(engine, "scanner", clocks.now, 11)
    write_beat(engine, "executor", clocks.now, 1234)
    scanner.check()
    clocks.advance(600)  # the whole machine slept ten minutes: every heartbeat looks old
    assert scanner.check() == []
    clocks.advance(10)
    write_beat(engine, "executor", clocks.now, 1234)  # the executor beats on waking up
    clocks.advance(10)
    assert scanner.check() == [] and system_alerts(engine) == []


def test_a_watcher_started_after_the_death_reports_after_watching_long_enough(engine: Engine) -> None:
    clocks = Clocks()
    write_beat(engine, "executor", clocks.now - timedelta(hours=5), 1234)  # dead since before the start
    monitor = watcher(engine, "monitor", clocks)
    assert monitor.check() == []
    for _ in range(5):
        clocks.advance(10)
        assert monitor.check() == []
    clocks.advance(10)
    [decision] = monitor.check()
    assert isinstance(decision, Down) and len(system_alerts(engine)) == 1
    # a restarted monitor finds the outage in the outbox and does not repeat it
    again = watcher(engine, "monitor", clocks)
    for _ in range(8):
        again.check()
        clocks.advance(10)
    assert len(system_alerts(engine)) == 1


def test_concurrent_watchers_raise_exactly_one_alert_per_outage(engine: Engine) -> None:
    """Eight watchers, each with its own engine (as separate processes have), check at the same moment,
    first for the down alert and then for the back alert."""
    url = str(engine.url)
    clocks = Clocks()
    write_beat(engine, "executor", clocks.now, 1234)
    engines = [make_engine(url) for _ in range(8)]
    watchers = [watcher(e, f"w{i}", clocks) for i, e in enumerate(engines)]
    try:
        for _ in range(6):  # they watch for 60 s: the executor's last beat is 60 s old, not yet stale
            for w in watchers:
                w.check()
            clocks.advance(10)
        assert system_alerts(engine) == []
        clocks.advance(10)  # 70 s now: every watcher sees the silence at the same moment

        def all_at_once() -> list[Any]:
            barrier = threading.Barrier(len(watchers))
            results: list[Any] = []

            def run(w: Watchdog) -> None:
                barrier.wait()
                results.extend(w.check())

            threads = [threading.Thread(target=run, args=(w,)) for w in watchers]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            return results

        downs = all_at_once()
        assert len(downs) == 1 and isinstance(downs[0], Down)
        assert [a.severity for a in system_alerts(engine)] == ["critical"]
        write_beat(engine, "executor", clocks.now, 5678)
        backs = all_at_once()
        assert len(backs) == 1 and isinstance(backs[0], Back)
        assert [(a.severity, a.repeat_count) for a in system_alerts(engine)] == [
            ("critical", 1),
            ("info", 1),
        ]
    finally:
        for e in engines:
            e.dispose()


def test_the_dashboard_heartbeat_runs_the_watchdog_after_each_beat(engine: Engine) -> None:
    calls: list[int] = []

    def watch() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a failing check must not stop the heartbeat")

    hb = DashboardHeartbeat(engine, interval=0.05, watch=watch)
    hb.start()
    try:
        wait_for("three watchdog runs", lambda: len(calls) >= 3, 10)
    finally:
        hb.stop()
