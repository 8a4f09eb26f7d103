"""TWS restart windows (US Eastern, across midnight and daylight saving) and their setting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.config import format_validation_error
from shared.settings import Settings
from shared.twswindows import parse_windows, window_at


def test_default_windows_from_the_seeds() -> None:
    windows = Settings(_env_file=None).restart_windows  # type: ignore[call-arg]
    assert [w.label for w in windows] == ["23:45–00:15 ET", "05:45–06:15 ET"]


@pytest.mark.parametrize(
    ("utc", "inside"),
    [
        ("2026-01-15T04:50:00", "23:45–00:15 ET"),  # 23:50 EST
        ("2026-01-15T05:10:00", "23:45–00:15 ET"),  # 00:10 EST, after midnight
        ("2026-01-15T05:15:00", None),  # 00:15 EST: the window has ended
        ("2026-07-15T03:50:00", "23:45–00:15 ET"),  # 23:50 EDT (UTC-4 in summer)
        ("2026-07-15T04:50:00", None),  # 00:50 EDT
        ("2026-07-15T09:59:00", "05:45–06:15 ET"),  # 05:59 EDT
        ("2026-07-15T14:00:00", None),  # 10:00 EDT, market hours
    ],
)
def test_window_at(utc: str, inside: str | None) -> None:
    now = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    window = window_at(parse_windows("23:45-00:15,05:45-06:15"), now)
    assert (window.label if window else None) == inside


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("23:45", "not HH:MM-HH:MM"),
        ("24:00-00:15", "hours must be 00-23"),
        ("05:45-05:45", "empty"),
    ],
)
def test_bad_windows_name_the_key(value: str, reason: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None, TWS_RESTART_WINDOWS=value)  # type: ignore[call-arg]
    line = format_validation_error(err.value)
    assert line.startswith("TWS_RESTART_WINDOWS: ") and reason in line


def test_empty_means_no_windows() -> None:
    assert Settings(_env_file=None, TWS_RESTART_WINDOWS="").restart_windows == ()  # type: ignore[call-arg]


def test_line_budgets_scale_with_the_account_and_stay_within_90_percent() -> None:
    s = Settings(_env_file=None, IBKR_MARKET_DATA_LINES=200)  # type: ignore[call-arg]
    assert [s.market_data_lines(c) for c in ("monitor", "scanner", "executor")] == [60, 90, 30]
    s = Settings(_env_file=None, IBKR_LINES_SCANNER=20)  # type: ignore[call-arg]
    assert s.market_data_lines("scanner") == 20 and s.market_data_lines("monitor") == 30
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None, IBKR_LINES_MONITOR=50)  # type: ignore[call-arg]
    assert "exceed 90 % of IBKR_MARKET_DATA_LINES" in format_validation_error(err.value)
