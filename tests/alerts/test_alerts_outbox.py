"""Routing and dedup coalescing of enqueue(), on a migrated SQLite file."""

from __future__ import annotations

import pytest
from realparts import FakeClock
from sqlalchemy import Engine, select

from shared.alerts import enqueue
from shared.schema import alert_deliveries, alerts
from shared.strategy import AlertRules


def _channels(engine: Engine, alert_id: int) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(alert_deliveries.c.channel, alert_deliveries.c.status, alert_deliveries.c.attempts)
            .where(alert_deliveries.c.alert_id == alert_id)
            .order_by(alert_deliveries.c.channel)
        ).all()
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    return [r.channel for r in rows]


def _enqueue(engine: Engine, rules: AlertRules, severity: str, category: str = "risk", **kw: object) -> int:
    args: dict[str, object] = {"email_enabled": True, "sms_enabled": True, "dedup_key": None} | kw
    return enqueue(
        engine,
        source="monitor",
        severity=severity,
        category=category,
        title=f"{severity} {category}",
        body="details",
        rules=rules,
        **args,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("severity", "category", "expected"),
    [
        ("info", "system", []),
        ("warning", "risk", ["email"]),
        ("critical", "connection", ["email", "sms"]),
        ("info", "fill", ["email", "sms"]),
    ],
)
def test_routing(
    engine: Engine, rules: AlertRules, severity: str, category: str, expected: list[str]
) -> None:
    alert_id = _enqueue(engine, rules, severity, category)
    assert _channels(engine, alert_id) == expected
    with engine.connect() as conn:
        row = conn.execute(select(alerts).where(alerts.c.id == alert_id)).one()
    assert (row.severity, row.category, row.repeat_count, row.source) == (severity, category, 1, "monitor")


def test_unconfigured_channel_gets_no_delivery(engine: Engine, rules: AlertRules) -> None:
    alert_id = _enqueue(engine, rules, "critical", sms_enabled=False)
    assert _channels(engine, alert_id) == ["email"]
    nothing = _enqueue(engine, rules, "critical", email_enabled=False, sms_enabled=False)
    assert _channels(engine, nothing) == []  # still on the dashboard: the alert row exists
    with engine.connect() as conn:
        assert conn.execute(select(alerts.c.id).where(alerts.c.id == nothing)).scalar_one() == nothing


def test_rules_change_routing(engine: Engine) -> None:
    rules = AlertRules(email_min_severity="critical", sms_min_severity="critical", email_categories=[])
    assert _channels(engine, _enqueue(engine, rules, "warning", "risk")) == []
    assert _channels(engine, _enqueue(engine, rules, "info", "fill")) == ["sms"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("severity", "fatal"), ("severity", "WARNING"), ("title", ""), ("category", "x" * 33)],
)
def test_invalid_values_name_the_field(engine: Engine, rules: AlertRules, field: str, value: str) -> None:
    args = {"source": "monitor", "severity": "warning", "category": "risk", "title": "t", "body": ""}
    args[field] = value
    with pytest.raises(ValueError, match=f"^{field}:"):
        enqueue(engine, **args, rules=rules, email_enabled=True, sms_enabled=True)  # type: ignore[arg-type]
    with engine.connect() as conn:
        assert conn.execute(select(alerts.c.id)).first() is None


def test_dedup_coalesces_inside_window(engine: Engine, rules: AlertRules, clock: FakeClock) -> None:
    first = _enqueue(engine, rules, "critical", dedup_key="ib-disconnected", clock=clock)
    clock.advance(100)
    again = _enqueue(engine, rules, "critical", dedup_key="ib-disconnected", clock=clock)
    third = _enqueue(engine, rules, "critical", dedup_key="ib-disconnected", clock=clock)
    other = _enqueue(engine, rules, "critical", dedup_key="risk-limit", clock=clock)
    assert first == again == third != other
    clock.advance(250)  # 350 s after the first: outside the 300 s window
    later = _enqueue(engine, rules, "critical", dedup_key="ib-disconnected", clock=clock)
    assert later not in (first, other)
    no_key = [_enqueue(engine, rules, "warning", clock=clock) for _ in range(2)]
    assert no_key[0] != no_key[1]

    with engine.connect() as conn:
        counts = dict(conn.execute(select(alerts.c.id, alerts.c.repeat_count)).all())
        n_deliveries = {
            a: len(conn.execute(select(alert_deliveries.c.id).where(alert_deliveries.c.alert_id == a)).all())
            for a in counts
        }
    assert counts[first] == 3 and counts[other] == 1 and counts[later] == 1
    assert n_deliveries[first] == 2  # email + sms once, not per repeat


def test_dedup_window_zero_disables_coalescing(engine: Engine) -> None:
    rules = AlertRules(dedup_window_seconds=0)
    a = _enqueue(engine, rules, "warning", dedup_key="k")
    b = _enqueue(engine, rules, "warning", dedup_key="k")
    assert a != b
