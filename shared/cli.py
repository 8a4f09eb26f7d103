"""The ``thetawheel`` command (also ``python -m shared.cli``): checks and maintenance next to the service.

- ``thetawheel doctor [--timeout S]``: connect to TWS as each component would and print what was found
  (:mod:`shared.doctor`); exit 0 healthy, 1 a problem, 2 a configuration error.
- ``thetawheel config check``: validate ``.env`` and the strategy file, and that the database and ``LOG_DIR``
  can be created and a ``DASHBOARD_HOST`` beyond loopback has its ``DASHBOARD_TOKEN``
  (:func:`shared.config.check_config`); print every problem; exit 0 or 2.
- ``thetawheel backup``: back up the database now (:mod:`shared.backup`), keeping ``BACKUP_KEEP``.
- ``thetawheel restore FILE``: put a backup in place of the database; refused while the service runs.
- ``thetawheel ledger rebuild``: recompute every wheel cycle from the stored executions; exit 0, or 2
  with one line naming the execution it cannot book (nothing is written then).

Every command takes ``--env-file`` (default ``.env`` in the current folder), like the processes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from shared.config import CONFIG_EXIT_CODE, ConfigError, check_config, load_config, read_settings
from shared.settings import Settings


def _config_error(problem: str) -> int:
    print(f"config error: {problem}", file=sys.stderr)
    print("run 'thetawheel config check' to see every problem", file=sys.stderr)
    return CONFIG_EXIT_CODE


def _settings(args: argparse.Namespace) -> Settings | int:
    settings, problems = read_settings(args.env_file)
    if settings is None:
        return _config_error("; ".join(problems))
    return settings


def cmd_doctor(args: argparse.Namespace) -> int:
    """``thetawheel doctor``."""
    from shared import doctor

    try:
        config = load_config(args.env_file)
    except ConfigError as err:
        return _config_error(str(err))
    report, text = doctor.run(config, args.timeout)
    print(text)
    return 0 if report.healthy else 1


def cmd_config_check(args: argparse.Namespace) -> int:
    """``thetawheel config check``."""
    problems = check_config(args.env_file)
    for problem in problems:
        print(f"config error: {problem}")
    if problems:
        print(f"{len(problems)} problem(s) in {args.env_file} / the environment and the strategy file")
        return CONFIG_EXIT_CODE
    settings, _ = read_settings(args.env_file)
    assert settings is not None
    print(f"config OK: {args.env_file} and {settings.THETAWHEEL_CONFIG} ({settings.TRADING_MODE} trading)")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """``thetawheel backup``."""
    from shared.backup import BackupError, backup_now

    settings = _settings(args)
    if isinstance(settings, int):
        return settings
    try:
        path, removed = backup_now(settings.DATABASE_URL, settings.BACKUP_KEEP)
    except BackupError as err:
        print(f"backup failed: {err}", file=sys.stderr)
        return 1
    size = path.stat().st_size / 1e6
    print(f"backup written: {path} ({size:.1f} MB); {len(removed)} old backup(s) removed")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """``thetawheel restore FILE``."""
    from shared.backup import BackupError, database_file, restore

    settings = _settings(args)
    if isinstance(settings, int):
        return settings
    try:
        saved = restore(Path(args.file), settings.DATABASE_URL)
    except BackupError as err:
        print(str(err), file=sys.stderr)
        return 1
    print(f"restored {database_file(settings.DATABASE_URL)} from {args.file}")
    if saved is not None:
        print(f"the database it replaced is saved as {saved}")
    print("start the service again (make start); the monitor upgrades an older schema by itself")
    return 0


def cmd_ledger_rebuild(args: argparse.Namespace) -> int:
    """``thetawheel ledger rebuild``."""
    from shared.db import make_engine, schema_ready
    from shared.ledger import LedgerError
    from shared.ledgerstore import rebuild
    from shared.migrate import SchemaNewerError, check_revision, head_revision

    settings = _settings(args)
    if isinstance(settings, int):
        return settings
    engine = make_engine(settings.DATABASE_URL)
    try:
        revision = check_revision(engine)
        if not schema_ready(engine) or revision != head_revision():
            print(
                f"ledger error: the database is at schema revision {revision!r}, not {head_revision()!r}; "
                "start the monitor once to upgrade it",
                file=sys.stderr,
            )
            return CONFIG_EXIT_CODE
        state = rebuild(engine)
    except (LedgerError, SchemaNewerError) as err:
        print(f"ledger error: {err}; nothing was written", file=sys.stderr)
        return CONFIG_EXIT_CODE
    open_cycles = sum(1 for c in state.cycles if c.closed_at is None)
    print(f"ledger rebuilt: {len(state.cycles)} cycle(s), {open_cycles} open")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="thetawheel", description="thetawheel checks and maintenance")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--env-file", default=".env", help="settings file (default: .env)")
        return p

    doctor = command("doctor", "check the connection to TWS / IB Gateway as each component would")
    doctor.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds per connection attempt (default IBKR_CONNECT_TIMEOUT)",
    )
    doctor.set_defaults(func=cmd_doctor)

    config = sub.add_parser("config", help="configuration commands")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    check = config_sub.add_parser(
        "check", help="validate .env, the strategy file, the database and log paths; list every problem"
    )
    check.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    check.set_defaults(func=cmd_config_check)

    command("backup", "back up the database now into data/backups/").set_defaults(func=cmd_backup)
    restore = command("restore", "replace the database with a backup (the service must be stopped)")
    restore.add_argument("file", help="the backup file, e.g. data/backups/thetawheel-20250115T103000Z.db")
    restore.set_defaults(func=cmd_restore)

    ledger = sub.add_parser("ledger", help="wheel-cycle ledger commands")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True, metavar="COMMAND")
    rebuild = ledger_sub.add_parser("rebuild", help="recompute every wheel cycle from the stored executions")
    rebuild.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    rebuild.set_defaults(func=cmd_ledger_rebuild)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``thetawheel`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
