"""Send an alert by email: SMTP with STARTTLS (certificate verified), optional login."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid

from shared.alerts.message import AlertMessage, ChannelError
from shared.settings import Settings

#: Seconds for connecting and for each SMTP command.
DEFAULT_TIMEOUT = 10.0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def subject_for(alert: AlertMessage) -> str:
    """``[thetawheel] <SEVERITY> <title>`` on one line."""
    return f"[thetawheel] {alert.severity.upper()} {_one_line(alert.title)}"


def text_for(alert: AlertMessage) -> str:
    """The plain-text body: the title, the alert's details, then its body."""
    lines = [
        alert.title,
        "",
        f"Severity: {alert.severity.upper()}",
        f"Category: {alert.category}",
        f"Source:   {alert.source}",
        f"Raised:   {alert.created_at} (UTC)",
        f"Alert id: {alert.id}",
    ]
    if alert.repeat_count > 1:
        lines.append(f"Repeats:  {alert.repeat_count} (coalesced)")
    if alert.body:
        lines += ["", alert.body]
    lines += ["", "-- thetawheel"]
    return "\n".join(lines) + "\n"


def build_message(settings: Settings, alert: AlertMessage) -> EmailMessage:
    """The email for ``alert`` from ``EMAIL_FROM`` to ``EMAIL_TO`` (comma-separated addresses allowed)."""
    msg = EmailMessage()
    msg["From"] = settings.EMAIL_FROM
    msg["To"] = ", ".join(addr for _, addr in getaddresses([settings.EMAIL_TO]) if addr)
    msg["Subject"] = subject_for(alert)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(idstring=f"alert{alert.id}", domain="thetawheel")
    msg.set_content(text_for(alert))
    return msg


def tls_context(settings: Settings) -> ssl.SSLContext:
    """A verifying client context: trusts ``SMTP_CA_FILE`` when set, else the system CAs.

    Raises ``ChannelError`` when the CA file cannot be loaded.
    """
    if settings.SMTP_CA_FILE is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(settings.SMTP_CA_FILE))
    except (OSError, ssl.SSLError) as exc:
        reason = type(exc).__name__
        raise ChannelError(f"SMTP_CA_FILE {settings.SMTP_CA_FILE}: cannot load ({reason})") from exc


class EmailSender:
    """Sends alerts through the SMTP server in ``settings`` (one connection per alert).

    ``send`` raises ``ChannelError`` for a configuration problem, ``smtplib.SMTPException`` or
    ``OSError`` (including ``ssl.SSLError``, ``TimeoutError``) when the server fails or refuses.
    """

    def __init__(self, settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._settings = settings
        self._timeout = timeout

    def send(self, alert: AlertMessage) -> None:
        """Send one alert; returns when the server accepted it for every recipient."""
        s = self._settings
        if not s.email_enabled:
            raise ChannelError("email is not configured (SMTP_SERVER, EMAIL_FROM, EMAIL_TO)")
        password = s.EMAIL_PASSWORD.get_secret_value()
        if password and not s.SMTP_STARTTLS:
            raise ChannelError("EMAIL_PASSWORD is set but SMTP_STARTTLS=false: refusing to log in in clear")
        context = tls_context(s) if s.SMTP_STARTTLS else None
        message = build_message(s, alert)
        with smtplib.SMTP(s.SMTP_SERVER, s.SMTP_PORT, timeout=self._timeout) as smtp:
            smtp.ehlo()
            if context is not None:
                smtp.starttls(context=context)  # raises SMTPNotSupportedError rather than downgrade
                smtp.ehlo()
            if password:
                smtp.login(s.EMAIL_FROM, password)
            refused = smtp.send_message(message)
        if refused:
            raise ChannelError(f"SMTP server refused recipients: {', '.join(sorted(refused))}")
