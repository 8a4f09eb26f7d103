"""Log files per component (text or JSON lines, rotated daily, 7 kept) and the secret mask."""

from __future__ import annotations

import base64
import json
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.logsetup import LOG_BACKUPS, SecretMask, mask_also, secrets_of, setup_logging
from shared.settings import Settings

PASSWORD = "pw-Sup3r-s3cret"
TOKEN = "tok-9f8e7d6c5b4a3210"
SID = "AC0123456789abcdef0123456789abcdef"
DASH = "d" * 40


@pytest.fixture
def root_handlers() -> Iterator[None]:
    """setup_logging replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        LOG_DIR=tmp_path / "logs",
        EMAIL_FROM="alerts@example.com",
        EMAIL_PASSWORD=PASSWORD,
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        DASHBOARD_SECRET_KEY=DASH,
        **extra,
    )


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_mask_covers_every_secret_and_its_wire_forms(tmp_path: Path) -> None:
    mask = SecretMask(secrets_of(settings(tmp_path)))
    for leaked in (
        PASSWORD,
        TOKEN,
        DASH,
        b64(PASSWORD),
        f"Basic {b64(f'{SID}:{TOKEN}')}",  # Twilio's HTTP basic auth header
        "AUTH PLAIN " + b64("\0alerts@example.com\0" + PASSWORD),  # SMTP AUTH PLAIN
    ):
        masked = mask.mask(f"before {leaked} after")
        assert masked.startswith("before ") and masked.endswith(" after")
        assert PASSWORD not in masked and TOKEN not in masked and DASH not in masked
        assert "***" in masked
    assert mask.mask("nothing secret here") == "nothing secret here"


def test_mask_applies_to_args_tracebacks_and_extras(
    tmp_path: Path, root_handlers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    log = setup_logging("monitor", settings(tmp_path))
    log.info("login with %s", PASSWORD)
    try:
        raise ValueError(f"server said: bad token {TOKEN}")
    except ValueError:
        log.exception("send failed")
    log.warning("header", extra={"auth": f"Basic {b64(f'{SID}:{TOKEN}')}"})
    mask_also("generated-dashboard-key-0123456789")
    log.info("key is generated-dashboard-key-0123456789")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = (tmp_path / "logs" / "monitor.log").read_text() + capsys.readouterr().err
    for secret in (PASSWORD, TOKEN, "generated-dashboard-key", b64(f"{SID}:{TOKEN}")):
        assert secret not in text
    assert "login with ***" in text and "bad token ***" in text and "Traceback" in text


def test_json_lines_file(tmp_path: Path, root_handlers: None) -> None:
    log = setup_logging("scanner", settings(tmp_path, LOG_JSON=True))
    log.info("scan %d done", 7, extra={"scan_id": 7, "note": f"pw {PASSWORD}"})
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logging.getLogger("scanner.chain").exception("boom")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert not (tmp_path / "logs" / "scanner.log").exists()
    lines = (tmp_path / "logs" / "scanner.jsonl").read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["message"] == "scan 7 done" and first["level"] == "INFO"
    assert first["component"] == "scanner" and first["logger"] == "scanner"
    assert first["scan_id"] == 7 and first["note"] == "pw ***"
    assert first["ts"].endswith("+00:00") and "T" in first["ts"]
    assert second["logger"] == "scanner.chain" and "ZeroDivisionError" in second["exc"]


def test_one_file_per_component_rotated_daily_seven_kept(tmp_path: Path, root_handlers: None) -> None:
    setup_logging("executor", settings(tmp_path))
    files = [
        h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.TimedRotatingFileHandler)
    ]
    assert len(files) == 1
    handler = files[0]
    assert Path(handler.baseFilename) == (tmp_path / "logs" / "executor.log").resolve()
    assert handler.when == "MIDNIGHT" and handler.backupCount == LOG_BACKUPS == 7 and handler.utc
