"""``thetawheel doctor`` against the simulator as a real process: the healthy table, client ids held by
other programs, delayed market data, a closed port (502) and an unknown account; exit 0 only when healthy."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from realparts import free_port
from simproc import Sim, start_sim, stop_sim

from shared.doctor import Report, render
from shared.ibcodes import tip

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def sim() -> Iterator[Sim]:
    s = start_sim(178)
    yield s
    stop_sim(s)


def doctor(tmp_path: Path, port: int, *env_lines: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "s.toml").write_text('[universe]\nsymbols = ["KO", "SPY"]\n')
    (tmp_path / ".env").write_text(
        "\n".join([f"IBKR_PORT={port}", "THETAWHEEL_CONFIG=s.toml", *env_lines]) + "\n"
    )
    return subprocess.run(
        [str(BIN / "thetawheel"), "doctor", "--timeout", "10"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def rows(out: str) -> dict[str, str]:
    """The table's rows: name → value."""
    table = {}
    for line in out.splitlines():
        if line.startswith("  ") and "  " in line.strip():
            name, value = line.strip().split("  ", 1)
            table[name] = value.strip()
    return table


def test_healthy_simulator(tmp_path: Path, sim: Sim) -> None:
    proc = doctor(tmp_path, sim.port)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert table["Host"] == "127.0.0.1" and table["Port"] == str(sim.port)
    assert table["Trading mode"] == "paper" and table["Account(s)"] == "DU1234567"
    assert table["Server version"] == "178"
    assert table["Connection time"].endswith("(TWS clock)")
    assert table["Market-data type"] == "1 live for KO"
    assert table["Farm status"] == "usfarm OK, ushmds OK, secdefnj OK"
    assert table["Client ids free"] == "monitor 10000 free, scanner 11000 free, executor 12000 free"
    assert proc.stdout.rstrip().endswith("every component can connect with a client id of its range.")
    assert proc.stderr == ""


def test_ids_held_by_other_clients(tmp_path: Path, sim: Sim) -> None:
    holders = [sim.connect(client_id=i) for i in (10000, 11000, 11001, 12000, 12001, 12002, 12003, 12004)]
    try:
        proc = doctor(tmp_path, sim.port, "IBKR_MARKET_DATA_TYPE=3")
        assert all(ib.isConnected() for ib in holders), "the doctor never disturbs other clients"
    finally:
        for ib in holders:
            ib.disconnect()
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = rows(proc.stdout)
    assert table["Client ids free"] == (
        "monitor 10000 in use → 10001 free, scanner 11000 in use → 11002 free, executor 12000-12004 in use"
    )
    assert table["Market-data type"].startswith("3 delayed for KO — IB 10167: ")
    assert "IB 326: client ids 12000-12004 of the executor are all in use — " in proc.stdout
    assert "close stale API clients in TWS" in proc.stdout


def test_closed_port_gives_the_502_fix(tmp_path: Path) -> None:
    port = free_port()
    proc = doctor(tmp_path, port)
    assert proc.returncode == 1
    assert f"IB 502: couldn't connect to TWS at 127.0.0.1:{port}" in proc.stdout
    assert "enable 'ActiveX and Socket Clients'" in proc.stdout and "check IBKR_PORT" in proc.stdout
    assert rows(proc.stdout)["Account(s)"] == "—"


def test_unknown_account_and_config_errors(tmp_path: Path, sim: Sim) -> None:
    proc = doctor(tmp_path, sim.port, "TWS_ACCOUNT=DU9999999")
    assert proc.returncode == 1
    assert "TWS_ACCOUNT: DU9999999 is not managed by this TWS (it manages DU1234567)" in proc.stdout
    bad = doctor(tmp_path, sim.port, "IBKR_MARKET_DATA_TYPE=9")
    assert bad.returncode == 2 and "IBKR_MARKET_DATA_TYPE" in bad.stderr and "allowed: 1 to 4" in bad.stderr


def test_an_ib_error_is_reported_with_its_tip() -> None:
    report = Report("127.0.0.1", 7497, "paper", accounts=["DU1"], server_version=178)
    report.ib_message(2104, "Market data farm connection is OK:usfarm")
    report.ib_message(10197, "No market data during competing live session")
    assert not report.healthy
    text = render(report)
    assert f"IB 10197: No market data during competing live session — {tip(10197)}" in text
    assert "Farm status" in text and "usfarm OK" in text and "FAILED: 1 problem(s)" in text
