"""SMS through the real twilio client, pointed at a local Twilio-like HTTP API."""

from __future__ import annotations

from realparts import TWILIO_SID, TWILIO_TOKEN, TwilioApi, make_settings
from sqlalchemy import Engine, select

from shared.alerts import Dispatcher, enqueue
from shared.alerts.message import AlertMessage
from shared.alerts.sms import MAX_SMS_CHARS, make_client, text_for
from shared.schema import alert_deliveries
from shared.strategy import AlertRules


def _critical(engine: Engine, rules: AlertRules) -> int:
    return enqueue(
        engine,
        source="executor",
        severity="critical",
        category="connection",
        title="TWS connection lost",
        body="executor lost its API connection at 14:30.",
        rules=rules,
        email_enabled=False,
        sms_enabled=True,
    )


def test_sms_arrives(engine: Engine, rules: AlertRules, twilio_api: TwilioApi) -> None:
    settings = make_settings(twilio=twilio_api)
    alert_id = _critical(engine, rules)

    assert Dispatcher(engine, settings, rules, "executor").run_once() == 1

    assert len(twilio_api.requests) == 1
    req = twilio_api.requests[0]
    assert req["path"] == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert (req["user"], req["password"]) == (TWILIO_SID, TWILIO_TOKEN)
    assert req["form"] == {
        "To": "+15551234567",
        "From": "+15005550006",
        "Body": "thetawheel CRITICAL: TWS connection lost",
    }
    with engine.connect() as conn:
        row = conn.execute(select(alert_deliveries).where(alert_deliveries.c.alert_id == alert_id)).one()
    assert row.channel == "sms" and row.status == "sent" and row.sent_at


def test_client_returns_the_message_resource(twilio_api: TwilioApi) -> None:
    client = make_client(make_settings(twilio=twilio_api))
    message = client.messages.create(to="+15551234567", from_="+15005550006", body="hi")
    assert message.sid.startswith("SM") and message.status == "queued" and message.to == "+15551234567"


def test_twilio_error_is_recorded_without_the_token(
    engine: Engine, rules: AlertRules, twilio_api: TwilioApi, caplog
) -> None:
    twilio_api.fail_with = (
        400,
        {"code": 21211, "message": "The 'To' number +1555 is not a valid phone number.", "status": 400},
    )
    settings = make_settings(twilio=twilio_api)
    alert_id = _critical(engine, rules)
    assert Dispatcher(engine, settings, rules, "executor").run_once() == 0
    with engine.connect() as conn:
        row = conn.execute(select(alert_deliveries).where(alert_deliveries.c.alert_id == alert_id)).one()
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error.startswith("ChannelError: Twilio answered HTTP 400 (code 21211)")
    assert TWILIO_TOKEN not in row.last_error and TWILIO_TOKEN not in caplog.text


def test_sms_text_is_one_short_line() -> None:
    alert = AlertMessage(1, "2026-11-21T14:30:00+00:00", "monitor", "warning", "risk", "a\nb " * 200, "body")
    text = text_for(alert)
    assert text.startswith("thetawheel WARNING: a b a b") and "\n" not in text
    assert len(text) <= MAX_SMS_CHARS
