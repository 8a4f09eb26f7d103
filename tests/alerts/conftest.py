"""Fixtures for the alert tests (defined in alerts_support.py)."""

from alerts_support import certs, clock, engine, rules, smtp_down, smtp_server, twilio_api  # noqa: F401
