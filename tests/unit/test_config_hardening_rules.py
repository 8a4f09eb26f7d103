"""Config hardening, piece by piece: the strict ``.env`` reader, numbers written as numbers, supported
databases, writable folders, strict strategy values and fractions, the dashboard's host rule, and the
precedence environment > ``.env`` > defaults."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.config import (
    ConfigError,
    check_config,
    database_problem,
    folder_problem,
    is_loopback,
    load_config,
)
from shared.dashboardrules import dashboard_token_problem
from shared.db import DatabaseUrlError, make_engine
from shared.logsetup import setup_logging
from shared.problems import hide_url_password, problem_lines
from shared.settings import Settings, read_env_file
from shared.strategy import CallRules, OrderRules, PutRules, Strategy, StrategyEncodingError, load_strategy

REPO = Path(__file__).resolve().parents[2]


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def problems_of(**values: object) -> list[str]:
    with pytest.raises(ValidationError) as err:
        settings(**values)
    return problem_lines(err.value, Settings)


# --- the .env reader --------------------------------------------------------------------------------------


def test_comments_blank_lines_export_and_quotes_are_fine(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# settings\n\nexport IBKR_HOST=127.0.0.1\nTWS_ACCOUNT='DU1'  # mine\nEMAIL_TO=\n")
    found = read_env_file(env)
    assert found.problems == [] and found.readable
    assert found.values == {"IBKR_HOST": "127.0.0.1", "TWS_ACCOUNT": "DU1", "EMAIL_TO": ""}


def test_a_missing_env_file_is_no_problem(tmp_path: Path) -> None:
    assert read_env_file(tmp_path / ".env").problems == []


def test_problems_come_in_line_order_with_their_line_numbers(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"# c\n\nLOG_LEVEL=INFO\n\n\nLOG_LEVEL=DEBUG\nbroken line\nLOG_LEVEL=INFO\nSMTP_SERVER\n")
    assert read_env_file(env).problems == [
        f"{env} line 7 has no '=': 'broken line' (write KEY=value, or start the line with # to make it a "
        "comment)",
        f"LOG_LEVEL: set 3 times in {env} (lines 3, 6 and 8); keep one",
        f"SMTP_SERVER: {env} line 9 has no '=': 'SMTP_SERVER' (write SMTP_SERVER=value, or start the line "
        "with # to make it a comment)",
    ]


def test_a_secret_on_a_broken_line_is_not_echoed(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b'EMAIL_PASSWORD hunter2\nTWILIO_AUTH_TOKEN="hunter3\n')
    problems = read_env_file(env).problems
    assert len(problems) == 2 and not any("hunter" in p for p in problems), problems
    assert problems[0].startswith(f"EMAIL_PASSWORD: {env} line 1 has no '='")
    assert problems[1].startswith(f"TWILIO_AUTH_TOKEN: {env} line 2 cannot be read")


def test_bytes_that_are_not_utf8_make_the_file_unreadable(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_bytes(b"IBKR_HOST=127.0.0.1\nTWS_ACCOUNT=DU\xff1\n\xe9=1\n")
    found = read_env_file(env)
    assert not found.readable
    assert found.problems == [
        f"TWS_ACCOUNT: {env} line 2 is not UTF-8 text (byte 0xff); save {env} as UTF-8",
        f"{env} line 3 is not UTF-8 text (byte 0xe9); save {env} as UTF-8",
    ]


def test_python_dotenv_warns_nothing_when_config_reports_the_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "s.toml").write_text("")
    (tmp_path / ".env").write_text(f"THETAWHEEL_CONFIG={tmp_path / 's.toml'}\nnot a setting\n")
    with caplog.at_level(logging.WARNING):
        problems = check_config(tmp_path / ".env")
    assert len(problems) == 1 and "line 2 has no '='" in problems[0]
    assert not [r for r in caplog.records if r.name.startswith("dotenv")]


# --- numbers in .env ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["7497", " 7497 ", "+7497", "07497"])
def test_whole_numbers_are_accepted(text: str) -> None:
    assert settings(IBKR_PORT=text).IBKR_PORT == 7497


@pytest.mark.parametrize("text", ["7497.5", "7497.0", "7_497", "0x1d49", "7.497e3", "true", "", "seven"])
def test_anything_else_where_a_whole_number_belongs_is_refused(text: str) -> None:
    (line,) = problems_of(IBKR_PORT=text)
    assert line.startswith("IBKR_PORT: Input should be a valid integer"), line


def test_a_boolean_is_not_a_count_even_from_code() -> None:
    (line,) = problems_of(BACKUP_KEEP=True)
    assert line.startswith("BACKUP_KEEP: Input should be a valid integer, not a boolean"), line


@pytest.mark.parametrize(("text", "value"), [("30", 30.0), ("2.5", 2.5), (".5", 0.5), ("1e1", 10.0)])
def test_decimal_numbers_are_accepted(text: str, value: float) -> None:
    loaded = settings(IBKR_CONNECT_TIMEOUT=text)
    assert value == loaded.IBKR_CONNECT_TIMEOUT


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("inf", "finite number"),
        ("-Infinity", "finite number"),
        ("nan", "finite number"),
        ("1e400", "finite number"),
        ("1_0", "valid number"),
        ("ten", "valid number"),
    ],
)
def test_infinite_and_odd_decimals_are_refused(text: str, reason: str) -> None:
    (line,) = problems_of(IBKR_CONNECT_TIMEOUT=text)
    assert line.startswith(f"IBKR_CONNECT_TIMEOUT: Input should be a {reason}"), line


def test_infinity_from_code_is_refused_too() -> None:
    (line,) = problems_of(BACKUP_INTERVAL_MINUTES=float("inf"))
    assert "finite number" in line


# --- DATABASE_URL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///data/thetawheel.db",
        "sqlite:////var/lib/thetawheel.db",
        "sqlite://",
        "sqlite+pysqlite:///x.db",
        "postgresql://wheel@db/wheel",
        "postgresql+psycopg2://wheel:pw@db:5432/wheel",
    ],
)
def test_sqlite_and_postgresql_urls_are_accepted(url: str) -> None:
    loaded = settings(DATABASE_URL=url)
    assert url == loaded.DATABASE_URL


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://wheel:hunter2@db/wheel", "unsupported database 'mysql' (got 'mysql://wheel:***@db/wheel')"),
        ("oracle://scott@db/orcl", "unsupported database 'oracle'"),
        ("data/thetawheel.db", "not a database URL (got 'data/thetawheel.db')"),
        ("postgresql+nodriver://db/wheel", "unknown postgresql driver 'nodriver'"),
    ],
)
def test_other_databases_are_refused_naming_the_key(url: str, reason: str) -> None:
    (line,) = problems_of(DATABASE_URL=url)
    assert line.startswith(f"DATABASE_URL: {reason}"), line
    assert "hunter2" not in line


def test_url_passwords_are_hidden_in_every_echo() -> None:
    assert hide_url_password("'postgresql://u:p%40ss@h/db'") == "'postgresql://u:***@h/db'"
    assert hide_url_password("sqlite:///data/x.db") == "sqlite:///data/x.db"
    assert hide_url_password("postgresql://u@h/db") == "postgresql://u@h/db"


def test_make_engine_names_the_key_instead_of_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(DatabaseUrlError, match=r"^DATABASE_URL: unsupported database 'mysql'"):
        make_engine("mysql://u@h/db")
    with pytest.raises(DatabaseUrlError, match=r"^DATABASE_URL: cannot create the folder .*afile/sub"):
        make_engine(f"sqlite:///{tmp_path / 'afile' / 'sub' / 'x.db'}")


# --- folders: the database's and LOG_DIR ------------------------------------------------------------------


def test_folders_that_exist_or_can_be_created_are_fine(tmp_path: Path) -> None:
    assert folder_problem(tmp_path) is None
    assert folder_problem(tmp_path / "a" / "b") is None
    assert database_problem(f"sqlite:///{tmp_path / 'new' / 'x.db'}") is None
    assert database_problem("sqlite://") is None
    assert not (tmp_path / "a").exists() and not (tmp_path / "new").exists(), "a check creates nothing"


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    assert folder_problem(afile) == f"{afile} is a file, not a folder"
    assert folder_problem(afile / "logs") == (
        f"cannot create the folder {afile / 'logs'}: {afile} is a file, not a folder"
    )
    assert (
        database_problem(f"sqlite:///{tmp_path}")
        == f"DATABASE_URL: {tmp_path} is a folder, not a database file"
    )


def test_load_config_refuses_a_log_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("")
    (tmp_path / "logs").write_text("")
    (tmp_path / ".env").write_text(
        f"THETAWHEEL_CONFIG={tmp_path / 's.toml'}\nLOG_DIR={tmp_path / 'logs'}\n"
        f"DATABASE_URL=sqlite:///{tmp_path / 'x.db'}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / ".env")
    assert str(err.value) == f"LOG_DIR: {tmp_path / 'logs'} is a file, not a folder"


@pytest.fixture
def root_handlers() -> Iterator[None]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def test_setup_logging_names_log_dir_instead_of_a_traceback(tmp_path: Path, root_handlers: None) -> None:
    (tmp_path / "logs").write_text("")
    with pytest.raises(ConfigError, match=r"^LOG_DIR: .*logs is a file, not a folder$"):
        setup_logging("monitor", settings(LOG_DIR=tmp_path / "logs"))


# --- the dashboard's host rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.2", "::1", "localhost", "0.0.0.0", "::", "192.168.1.5", "example.com"]
)
def test_config_check_applies_the_dashboards_own_login_rule(host: str) -> None:
    """Beyond loopback the dashboard needs a DASHBOARD_TOKEN (its token login); on loopback it needs none."""
    problem = dashboard_token_problem(host, "")
    assert (problem is None) == is_loopback(host)
    if problem is None:
        assert not Settings(_env_file=None, DASHBOARD_HOST=host).login_required  # type: ignore[call-arg]
    else:
        assert problem.startswith(f"DASHBOARD_TOKEN: required because DASHBOARD_HOST={host} is not")
    assert dashboard_token_problem(host, "t" * 16) is None


# --- the strategy: strict values, fractions, UTF-8 ------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "line"),
    [
        (
            '[puts]\ndte_min = "21"\n',
            "puts.dte_min: Input should be a valid integer; write the number without",
        ),
        ("[puts]\nmin_open_interest = 1.0e2\n", "puts.min_open_interest: Input should be a valid integer"),
        ("[puts]\nmax_candidates_per_symbol = false\n", "Input should be a valid integer, not true or false"),
        (
            "[alerts]\nretry_seconds = true\n",
            "alerts.retry_seconds: Input should be a valid number, not true",
        ),
        ("[puts]\nmin_credit = -inf\n", "puts.min_credit: Input should be a finite number (got -inf)"),
        (
            "[calls]\nmin_annualized_return = 1.5\n",
            "is a fraction (0.08 = 8 %), got 1.5; for 1.5 % write 0.015",
        ),
        ("[universe]\nsymbols = 'SPY'\n", "universe.symbols: Input should be a valid list"),
        ("[calls]\nstrike_at_or_above_cost_basis = 1\n", "Input should be a valid boolean"),
    ],
)
def test_strategy_values_are_taken_as_written(tmp_path: Path, toml: str, line: str) -> None:
    (tmp_path / "s.toml").write_text(toml)
    with pytest.raises(ValidationError) as err:
        load_strategy(tmp_path / "s.toml")
    problems = problem_lines(err.value, Strategy)
    assert len(problems) == 1 and line in problems[0], problems


def test_fractions_up_to_one_and_whole_numbers_for_decimals_are_fine(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        "[puts]\nmin_annualized_return = 1\nmax_spread_pct = 1\nmin_credit = 0\n"
        "[schedule]\nscan_interval_seconds = 60\n"
    )
    strategy = load_strategy(tmp_path / "s.toml")
    assert strategy.puts.min_annualized_return == 1 and strategy.schedule.scan_interval_seconds == 60.0
    assert load_strategy(REPO / "config" / "thetawheel.toml") == load_strategy(
        REPO / "config" / "thetawheel.example.toml"
    )


def test_percent_is_refused_from_code_as_well() -> None:
    for model, key in ((PutRules, "min_annualized_return"), (CallRules, "max_spread_pct")):
        with pytest.raises(ValidationError, match=r"is a fraction \(0.08 = 8 %\), got 12"):
            model.model_validate({key: 12})
    with pytest.raises(ValidationError, match="valid integer"):
        OrderRules.model_validate({"contracts": True})


def test_strategy_bytes_that_are_not_utf8_name_table_and_key(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_bytes(b"# caf\xe9\n[puts]\ndelta_min = 0.2 # \xff\n[calls\xe9]\n")
    with pytest.raises(StrategyEncodingError) as err:
        load_strategy(tmp_path / "s.toml")
    assert err.value.problems == [
        "line 1 is not UTF-8 text (byte 0xe9); save the file as UTF-8",
        "puts.delta_min: line 3 is not UTF-8 text (byte 0xff); save the file as UTF-8",
        "line 4 is not UTF-8 text (byte 0xe9); save the file as UTF-8",
    ]


# --- precedence ---------------------------------------------------------------------------------------------


def test_the_environment_wins_over_env_file_which_wins_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("DASHBOARD_PORT=7001\nIBKR_MARKET_DATA_TYPE=3\n")
    monkeypatch.setenv("DASHBOARD_PORT", "7002")
    loaded = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert loaded.DASHBOARD_PORT == 7002  # the environment
    assert loaded.IBKR_MARKET_DATA_TYPE == 3  # .env
    assert loaded.IBKR_PORT == 7497  # the default
