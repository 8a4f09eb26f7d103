"""Config hardening (issue 8, item 5): inputs a fuzzer found that used to crash a process with a traceback,
or were silently coerced, now stop it with one line naming the key and exit 2 — the real processes
(``python -m <component>``), and ``thetawheel config check`` lists them all. And a variable set in the
shell wins over ``.env`` when the service runs the way ``make run`` / ``make start`` run it."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STRATEGY = (REPO / "config" / "thetawheel.toml").read_bytes()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A scratch folder holding a plain file ``afile`` (a path under it cannot be created)."""
    (tmp_path / "afile").write_text("not a folder\n")
    return tmp_path


def run_component(
    root: Path, component: str, env_file: bytes, strategy: bytes = STRATEGY, user: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m <component>`` in ``root`` with ``root/.env`` = ``env_file`` (database and logs default
    to ``data/`` and ``logs/`` inside ``root``)."""
    (root / ".env").write_bytes(env_file)
    (root / "thetawheel.toml").write_bytes(strategy)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "THETAWHEEL_CONFIG": str(root / "thetawheel.toml")}
    return subprocess.run(
        [*(user or []), sys.executable, "-m", component],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(proc: subprocess.CompletedProcess[str], component: str) -> str:
    """The single stderr line of a process stopped by a bad setting (exit 2, no traceback)."""
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{component}: config error: "), lines[0]
    return lines[0].removeprefix(f"{component}: config error: ")


def nothing_written(root: Path) -> None:
    assert not (root / "data").exists() and not (root / "logs").exists(), "nothing may be written"


# --- .env ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "env_file", "line"),
    [
        # bytes that are not UTF-8 (latin-1 "café"): was a UnicodeDecodeError traceback
        (
            "monitor",
            b"IBKR_HOST=caf\xe9\n",
            "IBKR_HOST: .env line 1 is not UTF-8 text (byte 0xe9); save .env as UTF-8",
        ),
        # a key given twice: python-dotenv silently kept the last one
        (
            "scanner",
            b"IBKR_PORT=7497\nTRADING_MODE=paper\nIBKR_PORT=4002\n",
            "IBKR_PORT: set twice in .env (lines 1 and 3); keep one",
        ),
        # a line without '=' (not a comment, not blank): python-dotenv dropped it, at most with a warning
        (
            "executor",
            b"# paper account\n\nIBKR_PORT 4002\n",
            "IBKR_PORT: .env line 3 has no '=': 'IBKR_PORT 4002' (write IBKR_PORT=value, or start the line "
            "with # to make it a comment)",
        ),
        # numbers: a fraction, a boolean, digit grouping, infinity and not-a-number are refused, not coerced
        (
            "dashboard",
            b"IBKR_PORT=7497.5\n",
            "IBKR_PORT: Input should be a valid integer, written with digits only (got '7497.5') — allowed: "
            "1 to 65535",
        ),
        (
            "monitor",
            b"IBKR_PORT=true\n",
            "IBKR_PORT: Input should be a valid integer, written with digits only (got 'true') — allowed: 1 "
            "to 65535",
        ),
        (
            "scanner",
            b"IBKR_PORT=7_497\n",
            "IBKR_PORT: Input should be a valid integer, written with digits only (got '7_497') — allowed: "
            "1 to 65535",
        ),
        (
            "executor",
            b"IBKR_CONNECT_TIMEOUT=inf\n",
            "IBKR_CONNECT_TIMEOUT: Input should be a finite number (got 'inf') — allowed: more than 0 and "
            "at most 300",
        ),
        (
            "monitor",
            b"BACKUP_INTERVAL_MINUTES=nan\n",
            "BACKUP_INTERVAL_MINUTES: Input should be a finite number (got 'nan') — allowed: 0 to 1440",
        ),
        # an unknown database: was a traceback from SQLAlchemy after logging had started
        (
            "scanner",
            b"DATABASE_URL=mysql://wheel:hunter2@db.example/wheel\n",
            "DATABASE_URL: unsupported database 'mysql' (got 'mysql://wheel:***@db.example/wheel'); "
            "thetawheel supports sqlite and postgresql: sqlite:///data/thetawheel.db or "
            "postgresql://user@host/dbname",
        ),
        # a database path that cannot be created (under a file): was a FileExistsError traceback
        (
            "dashboard",
            b"DATABASE_URL=sqlite:///afile/thetawheel.db\n",
            "DATABASE_URL: cannot create the database afile/thetawheel.db: afile is a file, not a folder",
        ),
        (
            "executor",
            b"DATABASE_URL=sqlite:///afile/db/thetawheel.db\n",
            "DATABASE_URL: cannot create the database afile/db/thetawheel.db: cannot create the folder "
            "afile/db: afile is a file, not a folder",
        ),
        # LOG_DIR that is a file: was a FileExistsError traceback
        ("monitor", b"LOG_DIR=afile\n", "LOG_DIR: afile is a file, not a folder"),
        ("dashboard", b"LOG_DIR=afile\n", "LOG_DIR: afile is a file, not a folder"),
    ],
)
def test_bad_env_file_stops_process_with_one_line(
    root: Path, component: str, env_file: bytes, line: str
) -> None:
    proc = run_component(root, component, env_file)
    assert one_line(proc, component) == line
    assert "hunter2" not in proc.stderr
    nothing_written(root)


def _as_nobody() -> list[str] | None:
    """A command prefix that drops root (root may write in a read-only folder), or ``None``."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if setpriv else None


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A scratch folder every user may enter and write in (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="thetawheel-ro-"))
    path.chmod(0o777)
    yield path
    for folder in path.rglob("*"):
        if folder.is_dir():
            folder.chmod(0o755)
    shutil.rmtree(path)


def test_database_in_a_read_only_folder_stops_process_with_one_line(shared_root: Path) -> None:
    user = _as_nobody()
    if user is None:
        pytest.skip("running as root without setpriv: root may write in a read-only folder")
    (shared_root / "ro").mkdir()
    (shared_root / "ro").chmod(0o555)
    env_file = f"DATABASE_URL=sqlite:///{shared_root / 'ro' / 'thetawheel.db'}\n".encode()
    proc = run_component(shared_root, "monitor", env_file, user=user)
    assert one_line(proc, "monitor") == (
        f"DATABASE_URL: cannot create the database {shared_root / 'ro' / 'thetawheel.db'}: "
        f"no permission to write in {shared_root / 'ro'} (read-only)"
    )
    nothing_written(shared_root)


# --- the strategy file ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "line"),
    [
        # bytes that are not UTF-8: was a UnicodeDecodeError traceback
        (
            b"[puts]\ndelta_min = 0.15  # na\xefve\n",
            "puts.delta_min: line 2 is not UTF-8 text (byte 0xef); save the file as UTF-8",
        ),
        # a number in quotes was read as the number
        (
            b'[puts]\ndelta_min = "0.15"\n',
            "puts.delta_min: Input should be a valid number; write the number without quotes (got '0.15') — "
            "allowed: more than 0 and less than 1",
        ),
        # a boolean where a count belongs was read as 1
        (
            b"[orders]\ncontracts = true\n",
            "orders.contracts: Input should be a valid integer, not true or false (got True) — allowed: 1 "
            "to 100",
        ),
        # TOML's inf and nan
        (
            b"[puts]\nmin_credit = inf\n",
            "puts.min_credit: Input should be a finite number (got inf) — allowed: at least 0",
        ),
        (
            b"[schedule]\nscan_interval_seconds = nan\n",
            "schedule.scan_interval_seconds: Input should be a finite number (got nan) — allowed: 5 to 86400",
        ),
        # a fraction written as a percent
        (
            b"[puts]\nmin_annualized_return = 8\n",
            "puts.min_annualized_return: is a fraction (0.08 = 8 %), got 8; for 8 % write 0.08 — allowed: 0 "
            "to 1",
        ),
        (
            b"[calls]\nmax_spread_pct = 10\n",
            "calls.max_spread_pct: is a fraction (0.08 = 8 %), got 10; for 10 % write 0.1 — allowed: more "
            "than 0 and at most 1",
        ),
        (
            b"[universe]\nsymbols = ['KO']\n[overrides.KO.puts]\nmin_annualized_return = 12\n",
            "overrides.KO.puts.min_annualized_return: is a fraction (0.08 = 8 %), got 12; for 12 % write "
            "0.12 — allowed: 0 to 1",
        ),
    ],
)
def test_bad_strategy_stops_process_with_one_line(root: Path, strategy: bytes, line: str) -> None:
    proc = run_component(root, "scanner", b"", strategy)
    assert one_line(proc, "scanner") == f"{root / 'thetawheel.toml'}: {line}"
    nothing_written(root)


# --- thetawheel config check ------------------------------------------------------------------------------


def config_check(root: Path, env_file: bytes, strategy: bytes) -> tuple[int, list[str], str]:
    (root / ".env").write_bytes(env_file)
    (root / "s.toml").write_bytes(strategy)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "THETAWHEEL_CONFIG": "s.toml"}
    proc = subprocess.run(
        [str(BIN / "thetawheel"), "config", "check"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    return proc.returncode, [line.removeprefix("config error: ") for line in lines[:-1]], lines[-1]


def test_config_check_lists_every_hardened_problem(root: Path) -> None:
    env_file = (
        b"IBKR_PORT=4002\n"
        b"IBKR_PORT=4002\n"
        b"TRADING_MODE\n"
        b"IBKR_MARKET_DATA_TYPE=3.0\n"
        b"IBKR_PROBE_TIMEOUT=inf\n"
        b"DATABASE_URL=sqlite:///afile/thetawheel.db\n"
        b"LOG_DIR=afile\n"
        b"DASHBOARD_HOST=0.0.0.0\n"
    )
    strategy = (
        b'[puts]\ndelta_min = "0.15"\nmin_annualized_return = 12\n'
        b"[calls]\nmax_spread_pct = 5\nmin_credit = nan\n[orders]\ncontracts = true\n"
    )
    status, problems, summary = config_check(root, env_file, strategy)
    assert status == 2
    assert problems == [
        "IBKR_PORT: set twice in .env (lines 1 and 2); keep one",
        "TRADING_MODE: .env line 3 has no '=': 'TRADING_MODE' (write TRADING_MODE=value, or start the line "
        "with # to make it a comment)",
        "IBKR_MARKET_DATA_TYPE: Input should be a valid integer, written with digits only (got '3.0') — "
        "allowed: 1 to 4",
        "IBKR_PROBE_TIMEOUT: Input should be a finite number (got 'inf') — allowed: more than 0 and at most "
        "300",
        "DATABASE_URL: cannot create the database afile/thetawheel.db: afile is a file, not a folder",
        "LOG_DIR: afile is a file, not a folder",
        "DASHBOARD_TOKEN: required because DASHBOARD_HOST=0.0.0.0 is not a loopback address (the dashboard "
        "then asks for this token at login); set at least 16 random characters, e.g. python3 -c 'import "
        "secrets; print(secrets.token_urlsafe(24))'",
        "s.toml: puts.delta_min: Input should be a valid number; write the number without quotes (got "
        "'0.15') — allowed: more than 0 and less than 1",
        "s.toml: puts.min_annualized_return: is a fraction (0.08 = 8 %), got 12; for 12 % write 0.12 — "
        "allowed: 0 to 1",
        "s.toml: calls.min_credit: Input should be a finite number (got nan) — allowed: at least 0",
        "s.toml: calls.max_spread_pct: is a fraction (0.08 = 8 %), got 5; for 5 % write 0.05 — allowed: "
        "more than 0 and at most 1",
        "s.toml: orders.contracts: Input should be a valid integer, not true or false (got True) — allowed: "
        "1 to 100",
    ]
    assert summary == "12 problem(s) in .env / the environment and the strategy file"
    nothing_written(root)


def test_config_check_names_bad_bytes_in_both_files_and_an_unknown_database(root: Path) -> None:
    status, problems, _ = config_check(
        root,
        b"DASHBOARD_HOST=127.0.0.1\nEMAIL_FROM=caf\xe9@example.com\n",
        b"[alerts]\nemail_min_severity = 'warn\xefng'\n",
    )
    assert status == 2
    assert problems == [
        "EMAIL_FROM: .env line 2 is not UTF-8 text (byte 0xe9); save .env as UTF-8",
        "s.toml: alerts.email_min_severity: line 2 is not UTF-8 text (byte 0xef); save the file as UTF-8",
    ]
    status, problems, _ = config_check(
        root, b"DATABASE_URL=oracle://scott@db/orcl\nLOG_DIR=afile/logs\n", b""
    )
    assert status == 2
    assert problems == [
        "DATABASE_URL: unsupported database 'oracle' (got 'oracle://scott@db/orcl'); thetawheel supports "
        "sqlite and postgresql: sqlite:///data/thetawheel.db or postgresql://user@host/dbname",
        "LOG_DIR: cannot create the folder afile/logs: afile is a file, not a folder",
    ]


def test_config_check_accepts_loopback_dashboard_hosts(root: Path) -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        status, problems, summary = config_check(root, f"DASHBOARD_HOST={host}\n".encode(), STRATEGY)
        assert status == 0 and problems == [], (host, problems)
        assert summary.startswith("config OK: .env and s.toml")


# --- precedence: shell environment > .env > defaults ------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_command(target: str) -> list[str]:
    """The honcho command line ``make <target>`` runs (``make -n``: printed, not run)."""
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(REPO), target],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    lines = [line for line in out.splitlines() if "bin/honcho" in line]
    assert len(lines) == 1, out
    argv = shlex.split(lines[0])
    return [str(BIN / "honcho"), *argv[1:]]


@pytest.mark.parametrize(("target", "procfile"), [("run", "Procfile.demo"), ("start", "Procfile")])
def test_a_shell_variable_wins_over_env_file_under_make(root: Path, target: str, procfile: str) -> None:
    """``DASHBOARD_PORT=<b> make run`` binds <b> although ``.env`` says <a>; ``.env``'s other keys still
    apply (LOG_JSON), and Procfile.demo's own overrides (the demo database and TWS port) still win."""
    shutil.copy(REPO / procfile, root / procfile)  # make's command names the Procfile relative to the repo
    env_port, shell_port, demo_tws = free_port(), free_port(), free_port()
    (root / "s.toml").write_bytes(STRATEGY)
    (root / ".env").write_text(
        f"DASHBOARD_PORT={env_port}\nLOG_JSON=true\nTHETAWHEEL_CONFIG=s.toml\n"
        "DATABASE_URL=sqlite:///data/from-env.db\nIBKR_PORT=4002\n"
    )
    env = {
        "PATH": f"{BIN}:/usr/bin:/bin",  # as the Makefile exports it
        "HOME": str(root),
        "PYTHONUNBUFFERED": "1",
        "DASHBOARD_PORT": str(shell_port),
        "THETAWHEEL_DEMO_PORT": str(demo_tws),
    }
    log = root / "honcho.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*make_command(target), "monitor", "dashboard"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while f"dashboard on http://127.0.0.1:{shell_port}" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", shell_port), timeout=5):
            pass
        text = log.read_text()
        assert f":{env_port}" not in text
        assert (root / "logs" / "dashboard.jsonl").exists()  # LOG_JSON=true from .env
        if target == "run":  # Procfile.demo's env prefixes win over .env
            assert f"TWS 127.0.0.1:{demo_tws}" in text and (root / "data" / "demo.db").exists()
            assert not (root / "data" / "from-env.db").exists()
        else:
            assert "TWS 127.0.0.1:4002" in text and (root / "data" / "from-env.db").exists()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
