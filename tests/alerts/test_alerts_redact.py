"""Secrets never reach last_error or the logs."""

from __future__ import annotations

import base64

from realparts import SMTP_PASSWORD, SMTP_USER, TWILIO_SID, TWILIO_TOKEN

from shared.alerts.redact import MAX_ERROR_CHARS, Redactor
from shared.settings import Settings


def test_redactor_masks_secrets_and_their_wire_forms() -> None:
    settings = Settings(
        _env_file=None,
        EMAIL_FROM=SMTP_USER,
        EMAIL_PASSWORD=SMTP_PASSWORD,
        TWILIO_ACCOUNT_SID=TWILIO_SID,
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
    )
    redact = Redactor.from_settings(settings)
    plain = base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode()).decode()
    basic = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    exc = RuntimeError(
        f"auth {SMTP_PASSWORD} failed; AUTH PLAIN {plain}\nAuthorization: Basic {basic} {TWILIO_TOKEN}"
    )
    text = redact.describe(exc)
    assert text.startswith("RuntimeError: auth *** failed; AUTH PLAIN *** Authorization: Basic *** ***")
    for secret in (SMTP_PASSWORD, TWILIO_TOKEN, plain, basic):
        assert secret not in text
    assert len(redact.describe(ValueError("x" * 5000))) == MAX_ERROR_CHARS
    assert Redactor([""]).describe(TimeoutError()) == "TimeoutError"
