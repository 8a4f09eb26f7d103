"""Enqueue an alert: one ``alerts`` row plus one pending ``alert_deliveries`` row per routed channel."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine, insert, select, update

from shared.alerts.clock import Clock, iso, system_clock
from shared.alerts.routing import route
from shared.schema import alert_deliveries, alerts
from shared.strategy import AlertRules

log = logging.getLogger(__name__)

#: Column widths of the ``alerts`` table (characters); longer values are refused.
_MAX_LEN = {"source": 32, "category": 32, "title": 200, "dedup_key": 200}


def _check_text(field: str, value: str | None, *, required: bool = True) -> None:
    if value is None:
        if required:
            raise ValueError(f"{field}: is required")
        return
    if not isinstance(value, str):
        raise ValueError(f"{field}: must be text, got {type(value).__name__}")
    if required and not value.strip():
        raise ValueError(f"{field}: must not be empty")
    limit = _MAX_LEN.get(field)
    if limit is not None and len(value) > limit:
        raise ValueError(f"{field}: {len(value)} characters, at most {limit} allowed")


def enqueue(
    engine: Engine,
    *,
    source: str,
    severity: str,
    category: str,
    title: str,
    body: str,
    dedup_key: str | None = None,
    rules: AlertRules,
    email_enabled: bool,
    sms_enabled: bool,
    clock: Clock = system_clock,
) -> int:
    """Record an alert and queue its deliveries; return the alert id.

    Routing is :func:`shared.alerts.routing.route`: a channel gets a delivery row (status
    ``pending``, due now) when the severity or category calls for it and the channel is configured
    (``email_enabled`` / ``sms_enabled``); otherwise the alert is on the dashboard only.

    When ``dedup_key`` is given and an alert with that key was created less than
    ``rules.dedup_window_seconds`` ago, that alert's ``repeat_count`` is incremented instead, no new
    deliveries are queued, and its id is returned. The check and the insert happen in one write
    transaction, so concurrent processes coalesce too.

    Raises ``ValueError`` naming the field for an unknown severity, an empty source/category/title
    or a value longer than its column.
    """
    for field, value in (("source", source), ("category", category), ("title", title)):
        _check_text(field, value)
    _check_text("body", body, required=False)
    _check_text("dedup_key", dedup_key, required=False)
    channels = route(severity, category, rules, email_enabled=email_enabled, sms_enabled=sms_enabled)

    now = clock()
    now_text = iso(now)
    with engine.begin() as conn:
        if dedup_key is not None and rules.dedup_window_seconds > 0:
            window_start = iso(now - timedelta(seconds=rules.dedup_window_seconds))
            latest = (
                select(alerts.c.id)
                .where(alerts.c.dedup_key == dedup_key, alerts.c.created_at > window_start)
                .order_by(alerts.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )
            # An UPDATE first: it takes the write lock, so check-then-insert cannot race.
            existing = conn.execute(
                update(alerts)
                .where(alerts.c.id == latest)
                .values(repeat_count=alerts.c.repeat_count + 1)
                .returning(alerts.c.id)
            ).scalar_one_or_none()
            if existing is not None:
                log.debug("alert %s coalesced (dedup_key %r)", existing, dedup_key)
                return int(existing)

        alert_id = conn.execute(
            insert(alerts)
            .values(
                created_at=now_text,
                source=source,
                severity=severity,
                category=category,
                title=title,
                body=body,
                dedup_key=dedup_key,
                repeat_count=1,
            )
            .returning(alerts.c.id)
        ).scalar_one()
        for channel in channels:
            conn.execute(
                insert(alert_deliveries).values(
                    alert_id=alert_id,
                    channel=channel,
                    status="pending",
                    attempts=0,
                    last_error="",
                    next_attempt_at=now_text,
                )
            )
    log.info(
        "alert %s queued: %s %s/%s %r → %s",
        alert_id,
        severity,
        source,
        category,
        title,
        ", ".join(channels) or "dashboard only",
    )
    return int(alert_id)
