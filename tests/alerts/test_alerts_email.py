"""Email through a real STARTTLS + AUTH SMTP server on loopback (aiosmtpd), via the Dispatcher."""

from __future__ import annotations

from email import message_from_bytes
from email.message import Message

from realparts import SMTP_USER, SmtpServer, make_settings
from sqlalchemy import Engine, select

from shared.alerts import Dispatcher, enqueue
from shared.schema import alert_deliveries
from shared.strategy import AlertRules


def _delivery(engine: Engine, alert_id: int) -> dict:
    with engine.connect() as conn:
        row = conn.execute(select(alert_deliveries).where(alert_deliveries.c.alert_id == alert_id)).one()
    return dict(row._mapping)


def _warn(engine: Engine, rules: AlertRules, title: str = "Margin cushion below 20 %") -> int:
    return enqueue(
        engine,
        source="monitor",
        severity="warning",
        category="risk",
        title=title,
        body="Excess liquidity 9,812.00 USD is 18.2 % of net liquidation.",
        rules=rules,
        email_enabled=True,
        sms_enabled=False,
    )


def test_email_arrives_over_verified_starttls_with_auth(
    engine: Engine, rules: AlertRules, smtp_server: SmtpServer
) -> None:
    settings = make_settings(smtp=smtp_server)
    alert_id = _warn(engine, rules)

    assert Dispatcher(engine, settings, rules, "monitor").run_once() == 1

    assert len(smtp_server.messages) == 1
    got = smtp_server.messages[0]
    assert got.tls and got.authenticated  # server saw STARTTLS, then a successful AUTH
    assert got.mail_from == SMTP_USER and got.rcpt_tos == ["ops@example.com"]
    msg: Message = message_from_bytes(got.content)
    assert msg["Subject"] == "[thetawheel] WARNING Margin cushion below 20 %"
    assert msg["From"] == SMTP_USER and msg["To"] == "ops@example.com"
    text = msg.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "Excess liquidity 9,812.00 USD" in text
    assert "Severity: WARNING" in text and "Category: risk" in text and f"Alert id: {alert_id}" in text

    row = _delivery(engine, alert_id)
    assert row["status"] == "sent" and row["sent_at"] and row["attempts"] == 0 and row["last_error"] == ""
    assert row["claimed_by"].startswith("monitor:")
    # nothing is sent twice
    assert Dispatcher(engine, settings, rules, "scanner").run_once() == 0
    assert len(smtp_server.messages) == 1


def test_certificate_is_verified(engine: Engine, rules: AlertRules, smtp_server: SmtpServer) -> None:
    """Without SMTP_CA_FILE the test CA is not trusted: the handshake fails, nothing is sent."""
    settings = make_settings(smtp=smtp_server, SMTP_CA_FILE=None)
    alert_id = _warn(engine, rules)
    assert Dispatcher(engine, settings, rules, "monitor").run_once() == 0
    row = _delivery(engine, alert_id)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert "SSLCertVerificationError" in row["last_error"]
    assert smtp_server.messages == []


def test_wrong_password_fails_without_leaking_it(
    engine: Engine, rules: AlertRules, smtp_server: SmtpServer, caplog
) -> None:
    wrong = "not-the-Right-pw-123"
    settings = make_settings(smtp=smtp_server, EMAIL_PASSWORD=wrong)
    alert_id = _warn(engine, rules)
    assert Dispatcher(engine, settings, rules, "monitor").run_once() == 0
    row = _delivery(engine, alert_id)
    assert row["status"] == "pending" and row["attempts"] == 1
    assert row["last_error"].startswith("SMTPAuthenticationError")
    assert wrong not in row["last_error"] and wrong not in caplog.text
    assert smtp_server.messages == []
