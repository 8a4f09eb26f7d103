"""The alert channels in plain words for the Alerts page: ``email: healthy``, ``email: failing, retrying at
14:05 UTC``, ``SMS: not configured`` — from the settings (is the channel set up?) and the channel's circuit
breaker in the ``breakers`` table (closed = healthy; open = failing until one trial send after the reset
timeout)."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboard.queries import Row
from shared.alerts.breaker import DEFAULT_RESET_TIMEOUT
from shared.db import parse_ts
from shared.settings import Settings

#: The channels in the order shown, with the label a user reads.
CHANNELS = (("email", "email"), ("sms", "SMS"))


def channel_status(settings: Settings, breakers: list[Row], now: datetime) -> list[Row]:
    """One dict per channel: ``channel``, ``label``, ``status`` (``healthy`` | ``failing`` | ``not
    configured``), ``retry_at`` (aware UTC, when a failing channel is tried again, else ``None``) and
    ``text`` (the line shown, e.g. ``email: failing, retrying at 14:05 UTC``)."""
    by_name = {b["name"]: b for b in breakers}
    enabled = {"email": settings.email_enabled, "sms": settings.sms_enabled}
    out = []
    for channel, label in CHANNELS:
        breaker = by_name.get(channel)
        retry_at = None
        if not enabled[channel]:
            status, detail = "not configured", "not configured"
        elif breaker is None or (breaker["state"] == "closed" and not breaker["fail_counter"]):
            status, detail = "healthy", "healthy"
        else:
            status = "failing"
            opened = parse_ts(breaker["opened_at"]) if breaker.get("opened_at") else None
            if breaker["state"] == "open" and opened is not None:
                retry_at = max(opened + timedelta(seconds=DEFAULT_RESET_TIMEOUT), now)
                detail = f"failing, retrying at {retry_at:%H:%M} UTC"
            else:
                detail = f"failing ({breaker['fail_counter']} in a row), retrying now"
        out.append(
            {
                "channel": channel,
                "label": label,
                "status": status,
                "retry_at": retry_at,
                "text": f"{label}: {detail}",
            }
        )
    return out
