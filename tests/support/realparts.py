"""Real parts for the alert tests: a migrated SQLite file, a STARTTLS SMTP server, a Twilio-like API.

Imported by conftest.py (fixtures) and the tests (helpers, constants).
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine, func, select

from shared.alerts import Dispatcher
from shared.db import make_engine
from shared.migrate import upgrade
from shared.schema import alert_deliveries
from shared.settings import Settings
from shared.strategy import AlertRules

SMTP_USER = "alerts@example.com"
SMTP_PASSWORD = "pw-Sup3r-s3cret"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "tok-9f8e7d6c5b4a3210"


class FakeClock:
    """A settable "now" (aware UTC) for dispatcher retry times."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'thetawheel.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rules() -> AlertRules:
    return AlertRules(retry_seconds=1, dedup_window_seconds=300)


# --- TLS ----------------------------------------------------------------------------------------
@dataclass
class Certs:
    ca_file: Path
    server_context: ssl.SSLContext


def make_certs(directory: Path) -> Certs:
    """A throw-away CA (its PEM in ``directory``) and a server context for 127.0.0.1 / localhost."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(ctx)
    return Certs(ca_file=ca_file, server_context=ctx)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("ca"))


# --- SMTP ---------------------------------------------------------------------------------------
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool
    received_at: float = field(default_factory=time.time)  # epoch seconds, when the server accepted it


@dataclass
class SmtpServer:
    port: int
    certs: Certs
    messages: list[Received] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content or envelope.content,
                tls=session.ssl is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 Message accepted for delivery"

    @staticmethod
    def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == SMTP_USER.encode()
            and auth_data.password == SMTP_PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self.certs.server_context,
            require_starttls=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server(certs: Certs) -> Iterator[SmtpServer]:
    """A running STARTTLS-only SMTP server on loopback that requires AUTH-over-TLS to succeed."""
    server = SmtpServer(port=free_port(), certs=certs)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down(certs: Certs) -> Iterator[SmtpServer]:
    """A not-yet-started SMTP server (its port is closed); call ``start()`` to bring it up."""
    server = SmtpServer(port=free_port(), certs=certs)
    yield server
    server.stop()


# --- Twilio-like REST API ------------------------------------------------------------------------
@dataclass
class TwilioApi:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: tuple[int, dict[str, Any]] | None = None


class _TwilioHandler(BaseHTTPRequestHandler):
    api: TwilioApi

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        auth = self.headers.get("Authorization", "")
        user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        self.api.requests.append({"path": self.path, "form": form, "user": user, "password": password})
        if self.api.fail_with is not None:
            status, payload = self.api.fail_with
        else:
            status, payload = 201, self._message_resource(form)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _message_resource(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        base = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}"
        return {
            "account_sid": TWILIO_SID,
            "api_version": "2010-04-01",
            "body": form.get("Body"),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{base}/Media.json"},
            "to": form.get("To"),
            "uri": f"{base}.json",
        }


@pytest.fixture
def twilio_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[TwilioApi]:
    """A local HTTP server answering ``POST …/Messages.json`` like Twilio's API."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TwilioHandler)
    api = TwilioApi(url=f"http://127.0.0.1:{server.server_address[1]}")
    _TwilioHandler.api = api
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api
    server.shutdown()
    server.server_close()


# --- settings -----------------------------------------------------------------------------------
def settings_values(
    *, smtp: SmtpServer | None = None, twilio: TwilioApi | None = None, **overrides: Any
) -> dict[str, Any]:
    """Settings keys pointing the channels at the local servers (picklable, for child processes)."""
    values: dict[str, Any] = {}
    if smtp is not None:
        values.update(
            SMTP_SERVER="127.0.0.1",
            SMTP_PORT=smtp.port,
            SMTP_STARTTLS=True,
            SMTP_CA_FILE=smtp.certs.ca_file,
            EMAIL_FROM=SMTP_USER,
            EMAIL_TO="ops@example.com",
            EMAIL_PASSWORD=SMTP_PASSWORD,
        )
    if twilio is not None:
        values.update(
            TWILIO_ACCOUNT_SID=TWILIO_SID,
            TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
            TWILIO_FROM_NUMBER="+15005550006",
            TWILIO_TO_NUMBER="+15551234567",
            TWILIO_API_BASE_URL=twilio.url,
        )
    values.update(overrides)
    return values


def make_settings(
    *, smtp: SmtpServer | None = None, twilio: TwilioApi | None = None, **overrides: Any
) -> Settings:
    """Settings (no ``.env``) pointing the channels at the local servers."""
    return Settings(_env_file=None, **settings_values(smtp=smtp, twilio=twilio, **overrides))


def pending_count(engine: Engine) -> int:
    """Deliveries not yet sent."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(alert_deliveries).where(alert_deliveries.c.status != "sent")
            ).scalar_one()
        )


def dispatch_until_done(url: str, values: dict[str, Any], name: str, go: Any, results: Any) -> None:
    """Child-process body: run a Dispatcher on ``url`` until nothing is pending; report (claimer, sent)."""
    import os

    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    engine = make_engine(url)
    dispatcher = Dispatcher(
        engine, Settings(_env_file=None, **values), AlertRules(retry_seconds=1), name, batch_size=3
    )
    sent = 0
    go.wait(30)
    deadline = time.monotonic() + 20
    while pending_count(engine) and time.monotonic() < deadline:
        sent += dispatcher.run_once()
    results.put((dispatcher.claimer, sent))
    engine.dispose()
