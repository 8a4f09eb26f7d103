"""Several dispatchers over one SQLite file: each delivery is sent exactly once; the scheduler job."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
import threading
import time
from collections import Counter

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from realparts import (
    SmtpServer,
    TwilioApi,
    dispatch_until_done,
    make_settings,
    pending_count,
    settings_values,
)
from sqlalchemy import Engine, select

from shared.alerts import Dispatcher, enqueue
from shared.db import make_engine
from shared.schema import alert_deliveries
from shared.strategy import AlertRules

N_ALERTS = 30


def _enqueue_many(engine: Engine, rules: AlertRules) -> None:
    for i in range(N_ALERTS):
        enqueue(
            engine,
            source="monitor",
            severity="critical",
            category="risk",
            title=f"alert-{i:03d}",
            body="",
            rules=rules,
            email_enabled=True,
            sms_enabled=True,
        )


def _assert_each_sent_once(engine: Engine, smtp_server: SmtpServer, twilio_api: TwilioApi) -> None:
    assert pending_count(engine) == 0
    subjects = [re.search(rb"alert-\d{3}", m.content).group() for m in smtp_server.messages]  # type: ignore[union-attr]
    bodies = [r["form"]["Body"] for r in twilio_api.requests]
    assert len(subjects) == len(set(subjects)) == N_ALERTS
    assert len(bodies) == len(set(bodies)) == N_ALERTS
    with engine.connect() as conn:
        rows = conn.execute(select(alert_deliveries.c.attempts, alert_deliveries.c.claimed_by)).all()
    assert all(r.attempts == 0 for r in rows)  # no send failed (no "database is locked")
    assert len({r.claimed_by for r in rows}) >= 2  # the work really was shared


def test_racing_dispatchers_send_each_delivery_once(
    engine: Engine, rules: AlertRules, smtp_server: SmtpServer, twilio_api: TwilioApi
) -> None:
    settings = make_settings(smtp=smtp_server, twilio=twilio_api)
    _enqueue_many(engine, rules)
    url = engine.url.render_as_string(hide_password=False)
    # separate engines (connection pools) per dispatcher, as separate processes would have
    dispatchers = [
        Dispatcher(make_engine(url), settings, rules, name, batch_size=3)
        for name in ("monitor", "scanner", "executor")
    ]
    start = threading.Barrier(len(dispatchers))
    sent: Counter[str] = Counter()
    errors: list[BaseException] = []

    def work(d: Dispatcher) -> None:
        try:
            start.wait()
            deadline = time.monotonic() + 20
            while pending_count(engine) and time.monotonic() < deadline:
                sent[d.claimer] += d.run_once()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not errors
    assert sum(sent.values()) == 2 * N_ALERTS
    _assert_each_sent_once(engine, smtp_server, twilio_api)


def test_racing_processes_send_each_delivery_once(
    engine: Engine, rules: AlertRules, smtp_server: SmtpServer, twilio_api: TwilioApi
) -> None:
    _enqueue_many(engine, rules)
    url = engine.url.render_as_string(hide_password=False)
    values = settings_values(smtp=smtp_server, twilio=twilio_api)
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    results = ctx.Queue()
    procs = [
        ctx.Process(target=dispatch_until_done, args=(url, values, name, go, results))
        for name in ("monitor", "executor")
    ]
    for p in procs:
        p.start()
    go.set()
    reports = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    assert sum(n for _, n in reports) == 2 * N_ALERTS
    _assert_each_sent_once(engine, smtp_server, twilio_api)


def test_scheduler_job_delivers(engine: Engine, rules: AlertRules, smtp_server: SmtpServer) -> None:
    d = Dispatcher(engine, make_settings(smtp=smtp_server), rules, "dashboard")
    scheduler = BackgroundScheduler(timezone="UTC")
    job = d.start(scheduler, interval_seconds=0.1)
    assert job.max_instances == 1 and job.coalesce is True
    scheduler.start()
    try:
        enqueue(
            engine,
            source="dashboard",
            severity="warning",
            category="system",
            title="scheduled",
            body="",
            rules=rules,
            email_enabled=True,
            sms_enabled=False,
        )
        deadline = time.monotonic() + 5
        while not smtp_server.messages and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert len(smtp_server.messages) == 1


def test_a_stop_mid_run_ends_the_job_without_a_traceback(
    engine: Engine, rules: AlertRules, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A process stopping while the dispatcher's thread is sending cancels the coroutine job (as
    ``asyncio.run`` does to every task left at exit); APScheduler must not log it as a failed job with a
    traceback, which the lifecycle test counts as a crash."""
    d = Dispatcher(engine, make_settings(smtp=smtp_server), rules, "monitor")
    sending = threading.Event()

    def slow_pass() -> int:
        sending.set()
        time.sleep(0.3)
        return 0

    d.run_once = slow_pass  # type: ignore[method-assign]

    async def stop_mid_run() -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        d.start(scheduler, interval_seconds=0.05)
        scheduler.start()
        while not sending.is_set():
            await asyncio.sleep(0.01)
        jobs = asyncio.all_tasks() - {asyncio.current_task()}
        for task in jobs:
            task.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)  # the job's own handling has run
        scheduler.shutdown(wait=False)

    with caplog.at_level(logging.ERROR, logger="apscheduler"):
        asyncio.run(stop_mid_run())
    assert sending.is_set()
    assert not [r.getMessage() for r in caplog.records if r.exc_info], "a cancelled job logged a traceback"
