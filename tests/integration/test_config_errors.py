"""A wrong setting stops a process at start with one line naming the key and a non-zero exit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_component(
    tmp_path: Path, component: str, env_text: str, strategy: str | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / ".env").write_text(env_text)
    config = tmp_path / "thetawheel.toml"
    config.write_text(strategy if strategy is not None else (REPO / "config" / "thetawheel.toml").read_text())
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "THETAWHEEL_CONFIG": str(config),
        "LOG_DIR": str(tmp_path / "logs"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", component], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("component", "env_text", "key", "reason"),
    [
        ("monitor", "IBKR_PORT=70000\n", "IBKR_PORT", "less than or equal to 65535"),
        ("scanner", "IBKR_PORT=seven\n", "IBKR_PORT", "valid integer"),
        ("executor", "IBKR_PROT=7497\n", "IBKR_PROT", "unknown key"),
        ("monitor", "IBKR_PORT=7496\nTRADING_MODE=paper\n", "IBKR_PORT", "live-trading port"),
        ("executor", "IBKR_PORT=7496\nTRADING_MODE=live\n", "LIVE_TRADING_CONFIRM", "LIVE_TRADING_CONFIRM"),
        ("scanner", "TRADING_MODE=real\n", "TRADING_MODE", "'paper' or 'live'"),
        ("dashboard", "DASHBOARD_PORT=0\n", "DASHBOARD_PORT", "greater than or equal to 1"),
    ],
)
def test_bad_env_setting_stops_process_with_one_line(
    tmp_path: Path, component: str, env_text: str, key: str, reason: str
) -> None:
    proc = run_component(tmp_path, component, env_text)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{component}: config error: ")
    assert key in lines[0] and reason in lines[0]
    assert not (tmp_path / "x.db").exists(), "nothing may be written before the settings are valid"


@pytest.mark.parametrize(
    ("strategy", "key"),
    [
        ("[puts]\ndelta_min = 1.5\n", "puts.delta_min"),
        ("[puts]\ndte_min = 'soon'\n", "puts.dte_min"),
        ("[universe]\nsymbols = ['SPY', 'spy!']\n", "universe.symbols"),
        ("[schedule]\nscan_every = 5\n", "schedule.scan_every"),
        ("[puts]\ndelta_min = 0.3\ndelta_max = 0.2\n", "puts"),
    ],
)
def test_bad_strategy_value_names_the_key(tmp_path: Path, strategy: str, key: str) -> None:
    proc = run_component(tmp_path, "scanner", "", strategy)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and key in lines[0], proc.stderr


def test_missing_strategy_file_is_named(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"THETAWHEEL_CONFIG={tmp_path / 'nope.toml'}\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "monitor"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "THETAWHEEL_CONFIG" in proc.stderr and "does not exist" in proc.stderr
