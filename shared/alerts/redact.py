"""Keep secrets out of logs and ``alert_deliveries.last_error``."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from shared.settings import Settings

#: Longest error text stored in ``alert_deliveries.last_error`` (characters).
MAX_ERROR_CHARS = 500
_MASK = "***"


class Redactor:
    """Replaces every known secret (and the base64 forms auth protocols put on the wire) by ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        variants: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            variants.add(secret)
            variants.add(base64.b64encode(secret.encode()).decode())
        # longest first, so a secret that contains another is masked whole
        self._variants = sorted(variants, key=len, reverse=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        """A redactor for the alert channels' secrets: the SMTP password and the Twilio auth token."""
        password = settings.EMAIL_PASSWORD.get_secret_value()
        token = settings.TWILIO_AUTH_TOKEN.get_secret_value()
        secrets = [password, token]
        if password:  # AUTH PLAIN and HTTP basic auth carry user and secret together
            secrets.append(f"\0{settings.EMAIL_FROM}\0{password}")
        if token:
            secrets.append(f"{settings.TWILIO_ACCOUNT_SID}:{token}")
        return cls(secrets)

    def __call__(self, text: str) -> str:
        """``text`` with every secret masked."""
        for variant in self._variants:
            text = text.replace(variant, _MASK)
        return text

    def describe(self, exc: BaseException) -> str:
        """``"<ExceptionType>: <redacted message>"``, at most :data:`MAX_ERROR_CHARS` characters."""
        message = " ".join(str(exc).split())  # one line, no terminal colour noise
        text = f"{type(exc).__name__}: {self(message)}" if message else type(exc).__name__
        return text[:MAX_ERROR_CHARS]
