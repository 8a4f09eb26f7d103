"""A failing channel: retries, the shared breaker, recovery with exactly-once delivery."""

from __future__ import annotations

import time
from datetime import timedelta

from realparts import SMTP_PASSWORD, FakeClock, SmtpServer, make_settings
from sqlalchemy import Engine, select, text, update

from shared.alerts import Dispatcher, enqueue
from shared.alerts.clock import iso
from shared.schema import alert_deliveries, breakers
from shared.strategy import AlertRules

RESET = 0.5  # seconds the breaker stays open in these tests


def _enqueue_warning(engine: Engine, rules: AlertRules, clock: FakeClock, title: str = "Put assigned") -> int:
    return enqueue(
        engine,
        source="monitor",
        severity="warning",
        category="risk",
        title=title,
        body="",
        rules=rules,
        email_enabled=True,
        sms_enabled=False,
        clock=clock,
    )


def _delivery(engine: Engine) -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(alert_deliveries)).one()._mapping)


def _breaker_row(engine: Engine, name: str = "email") -> dict:
    with engine.connect() as conn:
        return dict(conn.execute(select(breakers).where(breakers.c.name == name)).one()._mapping)


def test_outage_breaker_and_recovery(
    engine: Engine, rules: AlertRules, clock: FakeClock, smtp_down: SmtpServer, caplog
) -> None:
    settings = make_settings(smtp=smtp_down)
    monitor = Dispatcher(engine, settings, rules, "monitor", reset_timeout=RESET, clock=clock)
    _enqueue_warning(engine, rules, clock)

    # 1st failure: no exception, back to pending, retried after retry_seconds (1 s)
    assert monitor.run_once() == 0
    row = _delivery(engine)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert row["last_error"].startswith("ConnectionRefusedError")
    assert SMTP_PASSWORD not in row["last_error"] and SMTP_PASSWORD not in caplog.text
    first_retry = row["next_attempt_at"]
    assert first_retry == iso(clock.now + timedelta(seconds=1))
    assert monitor.run_once() == 0 and _delivery(engine)["attempts"] == 1  # not due yet

    # 2nd and 3rd failures (exponential: 1 s, then 2 s); the 3rd opens the shared breaker
    clock.advance(1)
    monitor.run_once()
    assert _delivery(engine)["next_attempt_at"] == iso(clock.now + timedelta(seconds=2))
    clock.advance(2)
    monitor.run_once()
    assert _delivery(engine)["attempts"] == 3
    brk = _breaker_row(engine)
    assert brk["state"] == "open" and brk["fail_counter"] == 3 and brk["opened_at"]
    scanner = Dispatcher(engine, settings, rules, "scanner", reset_timeout=RESET, clock=clock)
    assert scanner.breaker_state("email") == "open"  # another process sees it

    # while open, deliveries stay pending and untouched (no attempt counted)
    clock.advance(60)
    before = _delivery(engine)
    assert scanner.run_once() == 0 and monitor.run_once() == 0
    assert _delivery(engine) == before

    # server back, reset timeout over: the trial send goes through, exactly once
    smtp_down.start()
    time.sleep(RESET + 0.1)
    sent = scanner.run_once() + monitor.run_once()
    assert sent == 1
    assert len(smtp_down.messages) == 1
    row = _delivery(engine)
    assert row["status"] == "sent" and row["attempts"] == 3 and row["sent_at"]
    assert _breaker_row(engine)["state"] == "closed" and monitor.breaker_state("email") == "closed"
    clock.advance(3600)
    assert scanner.run_once() + monitor.run_once() == 0
    assert len(smtp_down.messages) == 1


def test_retry_delay_is_capped(
    engine: Engine, rules: AlertRules, clock: FakeClock, smtp_down: SmtpServer
) -> None:
    settings = make_settings(smtp=smtp_down)
    d = Dispatcher(engine, settings, rules, "monitor", fail_max=100, max_retry_seconds=5, clock=clock)
    _enqueue_warning(engine, rules, clock)
    for _ in range(6):
        d.run_once()
        clock.advance(3600)
    row = _delivery(engine)
    assert row["attempts"] == 6
    assert row["next_attempt_at"] == iso(clock.now - timedelta(seconds=3600) + timedelta(seconds=5))


def test_stale_claim_of_dead_process_is_taken_over(
    engine: Engine, rules: AlertRules, clock: FakeClock, smtp_server: SmtpServer
) -> None:
    settings = make_settings(smtp=smtp_server)
    _enqueue_warning(engine, rules, clock)
    with engine.begin() as conn:
        conn.execute(
            update(alert_deliveries).values(
                status="sending", claimed_by="executor:999999:deadbeef", claimed_at=iso(clock.now)
            )
        )
    d = Dispatcher(engine, settings, rules, "monitor", clock=clock)
    clock.advance(60)
    assert d.run_once() == 0  # a fresh claim belongs to a (maybe) live process
    clock.advance(300)
    assert d.run_once() == 1
    assert len(smtp_server.messages) == 1
    row = _delivery(engine)
    assert row["status"] == "sent" and row["claimed_by"] == d.claimer


def test_run_once_never_raises(engine: Engine, rules: AlertRules, smtp_server: SmtpServer, caplog) -> None:
    d = Dispatcher(engine, make_settings(smtp=smtp_server), rules, "monitor")
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE alert_deliveries RENAME TO gone"))
    assert d.run_once() == 0
    assert "alert dispatch failed" in caplog.text
