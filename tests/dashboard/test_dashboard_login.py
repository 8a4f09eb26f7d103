"""Token login when the dashboard binds beyond loopback, against the real app under waitress: pages redirect
to the login, the API answers 401, the right token opens a session whose cookie is HttpOnly and
SameSite=Strict (Secure on request), and the settings refuse a missing or short token."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from dashboard_seed import OPP_KO, Live
from pydantic import ValidationError
from served import serve
from sqlalchemy import Engine, func, select

from dashboard import create_app
from shared import schema as s
from shared.config import Config, format_validation_error
from shared.settings import Settings
from shared.strategy import Strategy

TOKEN = "correct-horse-battery-staple-42"


def _config(db_url: str, **extra: object) -> Config:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=db_url,
        MARKET_HOURS="always",
        TWS_RESTART_WINDOWS="",
        DASHBOARD_HOST="0.0.0.0",
        DASHBOARD_TOKEN=TOKEN,
        **extra,
    )
    return Config(settings=settings, strategy=Strategy())


@pytest.fixture
def remote(engine: Engine, db_url: str) -> Iterator[Live]:
    """The dashboard as ``DASHBOARD_HOST=0.0.0.0`` with a token configures it (served on loopback)."""
    config = _config(db_url)
    with serve(create_app(config, engine), engine, config) as live:
        yield live


def _login(live: Live, http: requests.Session, token: str, next_url: str = "/") -> requests.Response:
    page = http.get(f"{live.url}/login", params={"next": next_url}, timeout=5)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    form = {"token": token, "csrf_token": csrf.group(1), "next": next_url}
    return http.post(f"{live.url}/login", data=form, allow_redirects=False, timeout=5)


def _intents(live: Live) -> int:
    with live.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(s.intents)).scalar_one())


def test_without_a_login_pages_redirect_and_the_api_answers_401(remote: Live, http: requests.Session) -> None:
    page = http.get(f"{remote.url}/opportunities", allow_redirects=False, timeout=5)
    assert page.status_code == 303 and page.headers["Location"].endswith("/login?next=/opportunities")
    before = _intents(remote)
    api = http.get(f"{remote.url}/api/v1/positions", timeout=5)
    assert api.status_code == 401 and api.json()["field"] == "token"
    token = http.get(f"{remote.url}/api/v1/csrf", timeout=5).json()["csrf_token"]  # open, for scripts
    approve = http.post(
        f"{remote.url}/api/v1/opportunities/{OPP_KO}/approve", headers={"X-CSRFToken": token}, timeout=5
    )
    assert approve.status_code == 401 and _intents(remote) == before
    assert http.get(f"{remote.url}/api/v1/openapi.json", timeout=5).status_code == 401


def test_a_wrong_token_is_refused(remote: Live, http: requests.Session) -> None:
    for wrong in ("", TOKEN[:-1], TOKEN + "x", "ä" * 20):
        resp = _login(remote, http, wrong)
        assert resp.status_code == 401 and "Wrong token" in resp.text
    assert http.get(f"{remote.url}/api/v1/positions", timeout=5).status_code == 401


def test_the_right_token_opens_a_strict_httponly_session(remote: Live, http: requests.Session) -> None:
    before = _intents(remote)
    resp = _login(remote, http, TOKEN, "/opportunities")
    assert resp.status_code == 303 and resp.headers["Location"] == "/opportunities"
    cookie = resp.headers["Set-Cookie"]
    assert "thetawheel_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP unless DASHBOARD_SECURE_COOKIE=true
    assert http.get(f"{remote.url}/opportunities", timeout=5).status_code == 200
    assert http.get(f"{remote.url}/api/v1/positions", timeout=5).status_code == 200
    csrf = http.get(f"{remote.url}/api/v1/csrf", timeout=5).json()["csrf_token"]
    approve = http.post(
        f"{remote.url}/api/v1/opportunities/{OPP_KO}/approve", headers={"X-CSRFToken": csrf}, timeout=5
    )
    assert approve.status_code == 201 and _intents(remote) == before + 1
    no_csrf = http.post(f"{remote.url}/api/v1/scan", timeout=5)  # CSRF still guards the writes
    assert no_csrf.status_code == 400 and no_csrf.json()["field"] == "csrf_token"
    page = http.get(f"{remote.url}/", timeout=5).text
    assert 'action="/logout"' in page and "Log out" in page  # the page offers a log-out
    http.post(f"{remote.url}/logout", data={"csrf_token": csrf}, timeout=5)
    assert http.get(f"{remote.url}/api/v1/positions", timeout=5).status_code == 401


def test_login_goes_back_to_local_pages_only(remote: Live, http: requests.Session) -> None:
    resp = _login(remote, http, TOKEN, "//attacker.example/")
    assert resp.status_code == 303 and resp.headers["Location"] == "/"


def test_secure_cookie_setting(engine: Engine, db_url: str, http: requests.Session) -> None:
    config = _config(db_url, DASHBOARD_SECURE_COOKIE=True)
    with serve(create_app(config, engine), engine, config) as live:
        # the login page starts the session (its CSRF token); the client keeps a Secure cookie for HTTPS
        resp = http.get(f"{live.url}/login", timeout=5)
        assert resp.status_code == 200 and "; Secure" in resp.headers["Set-Cookie"]


def test_on_loopback_no_login_is_needed(live: Live, http: requests.Session) -> None:
    assert "Log out" not in http.get(f"{live.url}/", timeout=5).text
    assert http.get(f"{live.url}/api/v1/positions", timeout=5).status_code == 200
    resp = http.get(f"{live.url}/login", allow_redirects=False, timeout=5)
    assert resp.status_code == 303 and resp.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ({"DASHBOARD_HOST": "0.0.0.0"}, "DASHBOARD_TOKEN: required because DASHBOARD_HOST=0.0.0.0 is not"),
        ({"DASHBOARD_HOST": "192.168.1.5", "DASHBOARD_TOKEN": "short"}, "DASHBOARD_TOKEN: is 5 characters"),
        ({"DASHBOARD_TOKEN": "x" * 15}, "DASHBOARD_TOKEN: is 15 characters long, at least 16"),
        (
            {"DASHBOARD_ALLOWED_HOSTS": "https://wheel.lan"},
            "DASHBOARD_ALLOWED_HOSTS: 'https://wheel.lan' is not",
        ),
        ({"DASHBOARD_ALLOWED_HOSTS": "a.lan,b.lan:80"}, "DASHBOARD_ALLOWED_HOSTS: 'b.lan:80' is not a host"),
    ],
)
def test_settings_refuse_a_missing_or_short_token_in_one_line(values: dict[str, str], line: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None, **values)  # type: ignore[call-arg]
    message = format_validation_error(err.value, model=Settings)
    assert message.startswith(line) and "\n" not in message


def test_settings_accept_a_token_beyond_loopback_and_list_the_allowed_hosts() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DASHBOARD_HOST="::", DASHBOARD_TOKEN="y" * 16, DASHBOARD_ALLOWED_HOSTS="wheel.lan"
    )
    assert settings.login_required
    assert settings.allowed_hosts == ["localhost", "127.0.0.1", "[::1]", "[::]", "wheel.lan"]
    assert not Settings(_env_file=None, DASHBOARD_HOST="::1").login_required  # type: ignore[call-arg]


def test_guessing_the_token_is_slowed_to_five_tries_a_minute(remote: Live, http: requests.Session) -> None:
    for _ in range(5):
        assert _login(remote, http, "not-the-token-at-all").status_code == 401
    sixth = _login(remote, http, TOKEN)  # even the right token waits now
    assert sixth.status_code == 429 and int(sixth.headers["Retry-After"]) > 0
    assert http.get(f"{remote.url}/api/v1/positions", timeout=5).status_code == 401
    assert http.get(f"{remote.url}/login", timeout=5).status_code == 200  # the page itself still shows
