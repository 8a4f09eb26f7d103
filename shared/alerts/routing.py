"""Which channels an alert goes to (``[alerts]`` in the strategy file)."""

from __future__ import annotations

from shared.alerts.message import severity_rank
from shared.strategy import AlertRules


def route(
    severity: str, category: str, rules: AlertRules, *, email_enabled: bool, sms_enabled: bool
) -> list[str]:
    """Channels (``"email"``, ``"sms"``) that should deliver an alert.

    A channel is picked when ``severity`` reaches its ``*_min_severity`` or ``category`` is in its
    ``*_categories``; a channel that is not configured (``*_enabled`` false) is never picked.
    Raises ``ValueError`` naming the field for an unknown severity.
    """
    rank = severity_rank(severity)
    channels = []
    if email_enabled and (
        rank >= severity_rank(rules.email_min_severity) or category in rules.email_categories
    ):
        channels.append("email")
    if sms_enabled and (rank >= severity_rank(rules.sms_min_severity) or category in rules.sms_categories):
        channels.append("sms")
    return channels
