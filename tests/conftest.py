"""Fixtures every test folder may use: real SMTP (STARTTLS) and Twilio-like servers on loopback, a
migrated SQLite file (defined in tests/support/realparts.py)."""

from realparts import certs, clock, engine, rules, smtp_down, smtp_server, twilio_api  # noqa: F401
