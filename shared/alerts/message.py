"""What a channel sends: one alert as read from the ``alerts`` table, and the error a channel raises."""

from __future__ import annotations

from dataclasses import dataclass

#: Severities in increasing order of urgency.
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
#: Channels a delivery row can name.
CHANNELS: tuple[str, ...] = ("email", "sms")


def severity_rank(severity: str) -> int:
    """Position of ``severity`` in :data:`SEVERITIES` (0 = info).

    Raises ``ValueError`` naming the field when ``severity`` is not one of them.
    """
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        raise ValueError(f"severity: {severity!r} is not one of {', '.join(SEVERITIES)}") from None


@dataclass(frozen=True)
class AlertMessage:
    """One alert, as a channel renders it. ``created_at`` is ISO-8601 UTC text."""

    id: int
    created_at: str
    source: str
    severity: str
    category: str
    title: str
    body: str
    repeat_count: int = 1


class ChannelError(Exception):
    """A channel could not send (bad configuration or a refusal by the provider).

    Its message never contains a secret.
    """
