"""Send an alert by SMS through Twilio's REST API (the official ``twilio`` client)."""

from __future__ import annotations

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from shared.alerts.message import AlertMessage, ChannelError
from shared.settings import Settings

#: Seconds for each HTTP request to Twilio.
DEFAULT_TIMEOUT = 10.0
#: Longest SMS text sent (characters; two GSM segments).
MAX_SMS_CHARS = 300


def text_for(alert: AlertMessage) -> str:
    """``thetawheel <SEVERITY>: <title>`` on one line, cut to :data:`MAX_SMS_CHARS` characters."""
    text = f"thetawheel {alert.severity.upper()}: {' '.join(alert.title.split())}"
    if alert.repeat_count > 1:
        text += f" (x{alert.repeat_count})"
    return text if len(text) <= MAX_SMS_CHARS else text[: MAX_SMS_CHARS - 1] + "…"


def make_client(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> Client:
    """A Twilio client authenticated with ``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN``.

    When ``TWILIO_API_BASE_URL`` is set, the API domain's ``base_url`` points there, so
    ``client.messages.create`` posts to ``<base>/2010-04-01/Accounts/<sid>/Messages.json``; the
    ``TWILIO_REGION`` / ``TWILIO_EDGE`` environment is then ignored (it would rewrite the host).
    """
    base = settings.TWILIO_API_BASE_URL.rstrip("/")
    client = Client(
        settings.TWILIO_ACCOUNT_SID,
        settings.TWILIO_AUTH_TOKEN.get_secret_value(),
        http_client=TwilioHttpClient(timeout=timeout),
        environment={} if base else None,
    )
    if base:
        client.api.base_url = base
    return client


class SmsSender:
    """Sends alerts from ``TWILIO_FROM_NUMBER`` to ``TWILIO_TO_NUMBER``.

    ``send`` raises ``ChannelError`` when not configured or when Twilio answers with an error
    (message: HTTP status, Twilio error code and text), and ``requests`` exceptions (``OSError``
    subclasses) when the API cannot be reached.
    """

    def __init__(self, settings: Settings, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._settings = settings
        self._timeout = timeout
        self._client: Client | None = None

    def send(self, alert: AlertMessage) -> None:
        """Send one alert as an SMS; returns when Twilio accepted (queued) the message."""
        s = self._settings
        if not s.sms_enabled:
            raise ChannelError(
                "SMS is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER, "
                "TWILIO_TO_NUMBER)"
            )
        if self._client is None:
            self._client = make_client(s, timeout=self._timeout)
        try:
            self._client.messages.create(
                to=s.TWILIO_TO_NUMBER, from_=s.TWILIO_FROM_NUMBER, body=text_for(alert)
            )
        except TwilioRestException as exc:
            raise ChannelError(f"Twilio answered HTTP {exc.status} (code {exc.code}): {exc.msg}") from exc
