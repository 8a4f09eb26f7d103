"""Hostile requests against the real app under waitress and a real SQLite file: foreign host names (DNS
rebinding), odd digits, ids beyond SQLite's range, large and deeply nested bodies — each a 4xx that says
why, never a 500, and nothing written."""

from __future__ import annotations

import requests
from dashboard_seed import OPP_KO, OPP_SPY, Live
from served import serve
from sqlalchemy import Engine, func, select

from dashboard import create_app
from shared import schema as s
from shared.config import Config
from shared.settings import Settings
from shared.strategy import Strategy

FOREIGN = {"Host": "attacker.example"}


def _token(live: Live, http: requests.Session) -> str:
    return str(http.get(f"{live.url}/api/v1/csrf", timeout=5).json()["csrf_token"])


def _count(live: Live, table: object) -> int:
    with live.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_foreign_host_gets_400_on_pages_and_cannot_approve(live: Live, http: requests.Session) -> None:
    page = http.get(f"{live.url}/opportunities", headers=FOREIGN, timeout=5)
    assert page.status_code == 400 and "host name" in page.text and "SPY" not in page.text
    token = _token(live, http)  # a real session and token, as a rebinding page could have obtained them
    before = _count(live, s.intents)
    resp = http.post(
        f"{live.url}/api/v1/opportunities/{OPP_SPY}/approve",
        json={"quantity": 1},
        headers={"X-CSRFToken": token, **FOREIGN},
        timeout=5,
    )
    assert resp.status_code == 400 and resp.json()["field"] == "Host"
    form = http.post(
        f"{live.url}/opportunities/{OPP_SPY}/approve", data={"csrf_token": token}, headers=FOREIGN, timeout=5
    )
    assert form.status_code == 400
    assert _count(live, s.intents) == before
    for host in ("localhost", "127.0.0.1", "[::1]"):  # the loopback names, with or without a port
        assert http.get(f"{live.url}/api/v1/health", headers={"Host": host}, timeout=5).status_code == 200
    assert http.get(f"{live.url}/", timeout=5).status_code == 200


def test_allowed_hosts_setting_adds_names(engine: Engine, db_url: str) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=db_url, DASHBOARD_ALLOWED_HOSTS="wheel.lan, 192.168.1.5"
    )
    config = Config(settings=settings, strategy=Strategy())
    with serve(create_app(config, engine), engine, config) as live:
        for host, code in (
            ("wheel.lan", 200),
            ("WHEEL.LAN:7001", 200),
            ("192.168.1.5", 200),
            ("evil.lan", 400),
        ):
            assert (
                requests.get(f"{live.url}/api/v1/health", headers={"Host": host}, timeout=5).status_code
                == code
            )


def test_odd_digits_and_huge_ids_are_4xx_never_500(live: Live, http: requests.Session) -> None:
    for query in ("limit=²", "limit=١٢", "limit=1e3", "limit=-1", "limit=99999999999999999999999"):
        resp = http.get(f"{live.url}/api/v1/intents?{query}", timeout=5)
        assert resp.status_code == 400 and resp.json()["field"] == "limit", query
    scan = http.get(f"{live.url}/api/v1/opportunities?scan_id=²", timeout=5)
    assert scan.status_code == 400 and scan.json()["field"] == "scan_id"
    status = http.get(f"{live.url}/api/v1/decisions?status=pending&limit=²", timeout=5)
    assert status.status_code == 400 and status.json()["field"] == "limit"
    token = _token(live, http)
    before = _count(live, s.intents)
    for opp_id in (2**63, 2**64, "²", "١"):
        resp = http.post(
            f"{live.url}/api/v1/opportunities/{opp_id}/approve", headers={"X-CSRFToken": token}, timeout=5
        )
        assert resp.status_code == 404 and resp.json()["error"], opp_id
        assert http.get(f"{live.url}/api/v1/intents/{opp_id}", timeout=5).status_code == 404
        page = http.post(f"{live.url}/opportunities/{opp_id}/approve", data={"csrf_token": token}, timeout=5)
        assert page.status_code == 404
    for quantity in ("²", "١", "9" * 5000, "1e2"):  # the page's form: a flash message, not a 500
        form = {"csrf_token": token, "quantity": quantity}
        page = http.post(f"{live.url}/opportunities/{OPP_SPY}/approve", data=form, timeout=5)
        assert page.status_code == 200 and "Not approved: quantity must be a whole number" in page.text
    largest = http.get(f"{live.url}/api/v1/decisions/{2**63 - 1}", timeout=5)
    assert largest.status_code == 404 and largest.json()["field"] == "decision_id"
    assert _count(live, s.intents) == before


def test_a_large_body_is_413_with_a_reason(live: Live, http: requests.Session) -> None:
    token = _token(live, http)
    big = b'{"reason": "' + b"x" * (1 << 20) + b'"}'
    resp = http.post(
        f"{live.url}/api/v1/halt",
        data=big,
        headers={"X-CSRFToken": token, "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 413 and "64 KiB" in resp.json()["error"]
    form = http.post(
        f"{live.url}/system/halt", data={"csrf_token": token, "reason": "x" * (1 << 20)}, timeout=10
    )
    assert form.status_code == 413
    assert _count(live, s.commands) == 0


def test_bodies_that_are_not_flat_json_objects_are_400_naming_the_field(
    live: Live, http: requests.Session
) -> None:
    token = _token(live, http)
    url = f"{live.url}/api/v1/opportunities/{OPP_KO}/reject"

    def post(data: bytes, content_type: str = "application/json") -> requests.Response:
        headers = {"X-CSRFToken": token, "Content-Type": content_type}
        return http.post(url, data=data, headers=headers, timeout=5)

    deep = post(b"[" * 30_000 + b"]" * 30_000)  # deeper than Python's recursion limit, under 64 KiB
    assert deep.status_code == 400 and "deeper" in deep.json()["error"]
    nested = post(b'{"reason": ' + b"[" * 40 + b"]" * 40 + b"}")
    assert nested.status_code == 400 and nested.json()["field"] == "reason"
    for body in (b"[1]", b'"text"', b"3", b"null", b"{not json"):
        resp = post(body)
        assert resp.status_code == 400 and "JSON object" in resp.json()["error"], body
    wrong = post(b'{"reason": {"a": 1}}')
    assert wrong.status_code == 400 and wrong.json()["field"] == "reason"
    text = post(b'{"reason": "x"}', "text/plain")
    assert text.status_code == 415 and "application/json" in text.json()["error"]
    assert _count(live, s.commands) == 0
