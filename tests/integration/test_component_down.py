"""A component that dies is reported once, by email and SMS, and once more when it is back; a clean stop
is not reported. The monitor backs the strategy file up at start.

Real parts: the simulator over TCP, the monitor, scanner and executor as processes on one SQLite file, a
STARTTLS SMTP server and the real twilio client against a local HTTP server. ``HEARTBEAT_STALE_SECONDS`` is
10 s here (60 s by default) and the components beat every second.
"""

from __future__ import annotations

import email
import email.policy
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from procs import Proc, heartbeat, write_env
from realparts import SmtpServer, TwilioApi, settings_values
from simproc import Sim, start_sim, stop_sim
from sqlalchemy import Engine, select
from waiting import wait_for

from shared.db import make_engine, parse_ts, schema_ready
from shared.schema import alert_deliveries, alerts

STALE = 10
STRATEGY = """
[universe]
symbols = ["KO"]
[schedule]
monitor_interval_seconds = 5
scan_interval_seconds = 600
executor_poll_seconds = 1
heartbeat_seconds = 1
"""


@dataclass
class Service:
    sim: Sim
    root: Path
    engine: Engine
    procs: dict[str, Proc]

    def context(self) -> str:
        return "\n".join(f"--- {n}\n{p.output()[-2000:]}" for n, p in self.procs.items())

    def start(self, name: str) -> Proc:
        self.procs[name] = Proc(name, self.root)
        return self.procs[name]


@pytest.fixture
def service(tmp_path: Path, smtp_server: SmtpServer, twilio_api: TwilioApi) -> Iterator[Service]:
    sim = start_sim(178)
    channels = settings_values(smtp=smtp_server, twilio=twilio_api)
    db = write_env(tmp_path, sim.port, STRATEGY, HEARTBEAT_STALE_SECONDS=STALE, **channels)
    engine = make_engine(f"sqlite:///{db}")
    svc = Service(sim, tmp_path, engine, {})
    for name in ("monitor", "scanner", "executor"):
        svc.start(name)
    try:
        yield svc
    finally:
        for proc in svc.procs.values():
            proc.stop()
        engine.dispose()
        stop_sim(sim)


def outage_alerts(engine: Engine, kind: str, component: str) -> list[Any]:
    """The watchdog's ``down`` or ``back`` alerts about ``component``."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(alerts)
                .where(alerts.c.dedup_key.startswith(f"component-{kind}:{component}:"))
                .order_by(alerts.c.id)
            )
        )


def subjects(smtp: SmtpServer, text: str) -> list[str]:
    got = [
        str(email.message_from_bytes(m.content, policy=email.policy.default)["Subject"])
        for m in smtp.messages
    ]
    return [s for s in got if text in s]


def sms_bodies(twilio: TwilioApi, text: str) -> list[str]:
    return [r["form"].get("Body", "") for r in twilio.requests if text in r["form"].get("Body", "")]


def watchers_ran_after(svc: Service, moment: Any, names: tuple[str, ...]) -> None:
    """Wait until each of ``names`` beat three heartbeats after ``moment``: their watchdog job, on the same
    one-second schedule, has checked again since."""
    later = moment + timedelta(seconds=3)
    wait_for(
        f"{', '.join(names)} to beat three more times",
        lambda: all(parse_ts(heartbeat(svc.engine, n).updated_at) > later for n in names),
        30,
        context=svc.context,
    )


@pytest.mark.timeout(300)
def test_a_killed_component_is_reported_once_and_back_once_and_a_stop_never(
    service: Service, smtp_server: SmtpServer, twilio_api: TwilioApi
) -> None:
    svc = service
    wait_for(
        "monitor, scanner and executor connected",
        lambda: (
            schema_ready(svc.engine)
            and all(
                (row := heartbeat(svc.engine, n)) is not None and row.state == "connected"
                for n in ("monitor", "scanner", "executor")
            )
        ),
        90,
        context=svc.context,
    )

    # the strategy file was backed up at the monitor's start, beside the database backups
    copies = wait_for(
        "the strategy file's backup",
        lambda: sorted((svc.root / "data" / "backups").glob("thetawheel-strategy-*.toml")),
        30,
        context=svc.context,
    )
    assert len(copies) == 1 and copies[0].read_text() == (svc.root / "thetawheel.toml").read_text()

    # SIGKILL: the executor cannot record "stopped"
    executor = svc.procs["executor"]
    killed_pid = executor.proc.pid
    executor.proc.kill()
    executor.proc.wait(10)
    assert heartbeat(svc.engine, "executor").state == "connected"

    [down] = wait_for(
        "the executor's down alert",
        lambda: outage_alerts(svc.engine, "down", "executor"),
        60,
        context=svc.context,
    )
    assert re.fullmatch(
        rf"executor is down: no heartbeat for \d+ s \(pid {killed_pid}, last state connected\)", down.title
    ), down.title
    assert (down.severity, down.category, down.repeat_count) == ("critical", "system", 1)
    assert down.source in ("monitor", "scanner")

    # sent by the dispatchers of the processes still running: one email, one SMS
    wait_for("the email", lambda: subjects(smtp_server, "executor is down"), 60, context=svc.context)
    wait_for("the SMS", lambda: sms_bodies(twilio_api, "executor is down"), 60, context=svc.context)
    [subject] = subjects(smtp_server, "executor is down")
    assert subject == f"[thetawheel] CRITICAL {down.title}"
    assert sms_bodies(twilio_api, "executor is down") == [f"thetawheel CRITICAL: {down.title}"]

    # both survivors keep watching: still one alert, one email, one SMS
    watchers_ran_after(svc, parse_ts(down.created_at), ("monitor", "scanner"))
    assert len(outage_alerts(svc.engine, "down", "executor")) == 1
    assert len(subjects(smtp_server, "executor is down")) == 1
    assert len(sms_bodies(twilio_api, "executor is down")) == 1

    # restarted: one info alert (dashboard only by the default rules)
    restarted = svc.start("executor")
    [back] = wait_for(
        "the executor's back alert",
        lambda: outage_alerts(svc.engine, "back", "executor"),
        60,
        context=svc.context,
    )
    assert re.fullmatch(
        rf"executor is back: heartbeat again \(pid {restarted.proc.pid}, state [a-z-]+\)", back.title
    ), back.title
    assert (back.severity, back.category, back.repeat_count) == ("info", "system", 1)
    with svc.engine.connect() as conn:
        assert (
            conn.execute(select(alert_deliveries).where(alert_deliveries.c.alert_id == back.id)).all() == []
        )
    watchers_ran_after(svc, parse_ts(back.created_at), ("monitor", "scanner"))
    assert len(outage_alerts(svc.engine, "back", "executor")) == 1
    assert len(outage_alerts(svc.engine, "down", "executor")) == 1

    # SIGTERM: a deliberate stop records "stopped" and is never reported, however long it lasts
    code, _took = svc.procs["scanner"].signal(signal.SIGTERM)
    assert code == 0, svc.procs["scanner"].output()[-3000:]
    stopped = heartbeat(svc.engine, "scanner")
    assert stopped.state == "stopped"
    watchers_ran_after(svc, parse_ts(stopped.updated_at) + timedelta(seconds=STALE), ("monitor", "executor"))
    assert outage_alerts(svc.engine, "down", "scanner") == []
    assert len(outage_alerts(svc.engine, "down", "executor")) == 1
    assert "Traceback" not in svc.procs["monitor"].output()
