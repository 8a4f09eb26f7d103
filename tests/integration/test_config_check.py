"""``thetawheel config check``: every problem of ``.env`` and of the strategy file at once, one line each,
naming the key and the allowed values; and the three settings live trading needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.config import check_config

BIN = Path(sys.executable).parent


def check(tmp_path: Path, env_text: str, strategy: str = "") -> list[str]:
    (tmp_path / "s.toml").write_text(strategy)
    (tmp_path / ".env").write_text(f"THETAWHEEL_CONFIG={tmp_path / 's.toml'}\n{env_text}")
    return check_config(tmp_path / ".env")


def run_cli(tmp_path: Path, *args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "shared.cli"] if module else [str(BIN / "thetawheel")]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run([*cmd, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_every_problem_of_both_files_is_listed_once(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "thetawheel.toml").write_text(
        "[puts]\ndelta_min = 1.5\nfoo = 1\n[alerts]\nsms_min_severity = 'loud'\n[sched]\nx = 1\n"
    )
    (tmp_path / ".env").write_text("IBKR_PORT=70000\nIBKR_PROT=7497\nLOG_LEVEL=LOUD\nSMTP_STARTTLS=maybe\n")
    proc = run_cli(tmp_path, "config", "check")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    problems = [line for line in lines if line.startswith("config error: ")]
    expected = [
        ("IBKR_PORT:", "allowed: 1 to 65535"),
        ("IBKR_PROT:", "did you mean IBKR_PORT?"),
        ("LOG_LEVEL:", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("SMTP_STARTTLS:", "allowed: true or false"),
        ("config/thetawheel.toml: puts.delta_min:", "allowed: more than 0 and less than 1"),
        ("config/thetawheel.toml: puts.foo:", "allowed: delta_min, delta_max"),
        ("config/thetawheel.toml: alerts.sms_min_severity:", "'info', 'warning' or 'critical'"),
        ("config/thetawheel.toml: sched:", "did you mean schedule?"),
    ]
    assert len(problems) == len(expected), proc.stdout
    for key, allowed in expected:
        assert any(key in line and allowed in line for line in problems), (key, proc.stdout)
    assert lines[-1].startswith("8 problem(s)")


def test_a_good_configuration_passes(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text((Path(__file__).parents[2] / "config" / "thetawheel.toml").read_text())
    (tmp_path / ".env").write_text(f"THETAWHEEL_CONFIG={tmp_path / 's.toml'}\n")
    proc = run_cli(tmp_path, "config", "check", "--env-file", ".env", module=True)  # python -m shared.cli
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("config OK: .env and ") and "paper trading" in proc.stdout


def test_a_missing_strategy_file_is_named_beside_env_problems(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("THETAWHEEL_CONFIG=nope.toml\nIBKR_PORT=x\n")
    problems = check_config(tmp_path / ".env")
    assert problems[0].startswith("IBKR_PORT: Input should be a valid integer")
    assert problems[1] == "THETAWHEEL_CONFIG: strategy file nope.toml does not exist"


@pytest.mark.parametrize(
    ("env_text", "expected"),
    [
        (
            "TRADING_MODE=live\nIBKR_PORT=7497\n",
            ["IBKR_PORT must be a live port", "LIVE_TRADING_CONFIRM must"],
        ),
        ("TRADING_MODE=live\nIBKR_PORT=7496\n", ["LIVE_TRADING_CONFIRM must be I-ACCEPT-REAL-MONEY-RISK"]),
        (
            "TRADING_MODE=live\nIBKR_PORT=4002\nLIVE_TRADING_CONFIRM=I-ACCEPT-REAL-MONEY-RISK\n",
            ["IBKR_PORT must be a live port (7496 or 4001), got 4002"],
        ),
        (
            "TRADING_MODE=paper\nIBKR_PORT=4001\n",
            ["IBKR_PORT: 4001 is a live-trading port but TRADING_MODE=paper"],
        ),
        ("TRADING_MODE=live\nIBKR_PORT=4001\nLIVE_TRADING_CONFIRM=yes\n", ["LIVE_TRADING_CONFIRM must be"]),
    ],
)
def test_live_trading_needs_all_three_settings(tmp_path: Path, env_text: str, expected: list[str]) -> None:
    problems = check(tmp_path, env_text)
    assert len(problems) == 1
    for text in expected:
        assert text in problems[0]
    if "IBKR_PORT must" not in expected[0]:
        assert "IBKR_PORT must" not in problems[0]  # only what is missing is named


def test_live_trading_with_all_three_is_accepted(tmp_path: Path) -> None:
    env = "TRADING_MODE=live\nIBKR_PORT=7496\nLIVE_TRADING_CONFIRM=I-ACCEPT-REAL-MONEY-RISK\n"
    assert check(tmp_path, env) == []


@pytest.mark.parametrize(
    ("strategy", "line"),
    [
        (
            "[universe]\nsymbols = ['KO']\n[overrides.KO.puts]\ndelta_mn = 0.2\n",
            "overrides.KO.puts.delta_mn: unknown key (not a thetawheel setting); did you mean delta_min?",
        ),
        (
            "[universe]\nsymbols = ['KO']\n[overrides.KO.puts]\ndte_min = 1000\n",
            "overrides.KO.puts.dte_min: Input should be less than or equal to 730 (got 1000)"
            " — allowed: 0 to 730",
        ),
        (
            "[puts]\ndelta_min = 0.3\ndelta_max = 0.2\n",
            "puts: delta_target 0.25 must lie within delta_min 0.3",
        ),
        ("[orders]\ncontracts = 0\n", "orders.contracts: Input should be greater than or equal to 1"),
        ("[schedule]\nheartbeat_seconds = 'often'\n", "allowed: 1 to 60"),
    ],
)
def test_strategy_errors_name_the_key_and_allowed_values(tmp_path: Path, strategy: str, line: str) -> None:
    problems = check(tmp_path, "", strategy)
    assert len(problems) == 1 and line in problems[0], problems
    assert problems[0].startswith(f"{tmp_path / 's.toml'}: ")


def test_executor_refuses_live_mode_without_confirmation_naming_it(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("")
    (tmp_path / ".env").write_text(
        f"THETAWHEEL_CONFIG={tmp_path / 's.toml'}\nTRADING_MODE=live\nIBKR_PORT=4001\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "executor"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "executor: config error: TRADING_MODE=live: LIVE_TRADING_CONFIRM must be I-ACCEPT-REAL-MONEY-RISK"
    )
