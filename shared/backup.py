"""Online backups of the SQLite database into ``data/backups/``, and restoring one.

- :func:`make_backup` copies the live database with SQLite's online backup API
  (``sqlite3.Connection.backup``) while the service runs — in WAL mode a reader never blocks the
  writers — into ``<database folder>/backups/<name>-YYYYmmddTHHMMSSZ.db`` (``thetawheel-…`` for
  ``thetawheel.db``, ``demo-…`` for the demo's database, so the two never mix). The copy is written under
  a temporary name and renamed when complete, so a half-written file never looks like a backup, and it is
  a single self-contained file (rollback journal, no ``-wal``).
- :func:`prune` keeps the ``BACKUP_KEEP`` newest. The monitor runs both every ``BACKUP_INTERVAL_MINUTES``.
- :func:`restore` refuses while any component's heartbeat is fresh (the service is running). It checks the
  backup's integrity, saves the current database as ``pre-restore-…db`` beside the backups, then puts
  the backup in place and marks the restored heartbeats stopped.
- :func:`backup_strategy` copies the strategy file (``THETAWHEEL_CONFIG``) into the same folder as
  ``<name>-strategy-YYYYmmddTHHMMSSZ.toml`` when its content differs from the newest such copy (SHA-256),
  keeping ``BACKUP_KEEP``. The monitor runs it at start and every :data:`STRATEGY_CHECK_SECONDS`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from shared.db import REQUIRED_TABLES, parse_ts
from shared.heartbeat import STALE_AFTER_SECONDS

PRE_RESTORE_PREFIX = "pre-restore-"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_STAMP_PATTERN = r"-\d{8}T\d{6}Z(-\d+)?\.db"
#: Seconds between the monitor's checks of the strategy file for changes.
STRATEGY_CHECK_SECONDS = 60.0
_STRATEGY_INFIX = "-strategy-"


class BackupError(RuntimeError):
    """A backup or restore cannot be done; ``str()`` says why and what to do."""


class ServiceRunning(BackupError):
    """A restore was refused because components are running."""


def database_file(database_url: str) -> Path:
    """The SQLite file of ``DATABASE_URL``; :class:`BackupError` for other databases."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError(
            "DATABASE_URL: online backups cover SQLite files only; back up PostgreSQL with pg_dump"
        )
    return Path(url.database).expanduser()


def backup_dir(db: Path) -> Path:
    """``backups/`` next to the database file (``data/backups/`` by default)."""
    return db.parent / "backups"


@contextlib.contextmanager
def _open(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def _copy(src: Path, dst: Path) -> None:
    """Copy database ``src`` into a new file ``dst`` with the online backup API, as one file."""
    with _open(src) as source, _open(dst) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime(STAMP_FORMAT)


def _free_name(folder: Path, prefix: str, stamp: str) -> Path:
    path, n = folder / f"{prefix}{stamp}.db", 1
    while path.exists():
        path, n = folder / f"{prefix}{stamp}-{n}.db", n + 1
    return path


def make_backup(database_url: str, now: datetime | None = None) -> Path:
    """Back up the database now; return the new file."""
    db = database_file(database_url)
    if not db.is_file():
        raise BackupError(f"DATABASE_URL: {db} does not exist yet; start the monitor once to create it")
    folder = backup_dir(db)
    folder.mkdir(parents=True, exist_ok=True)
    final = _free_name(folder, f"{db.stem}-", _stamp(now))
    partial = final.with_name(final.name + ".partial")
    try:
        _copy(db, partial)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    return final


def backups(database_url: str) -> list[Path]:
    """The backups of the database, oldest first."""
    db = database_file(database_url)
    pattern = re.compile(re.escape(db.stem) + _STAMP_PATTERN)
    found = [p for p in backup_dir(db).glob("*.db") if pattern.fullmatch(p.name) and p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime_ns, p.name))


def prune(database_url: str, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups; return the deleted files."""
    old = backups(database_url)[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return old


def running_components(db: Path, now: datetime | None = None) -> list[str]:
    """Components whose heartbeat in ``db`` is fresh and not ``stopped``: ``["monitor (beat 3 s ago)"]``."""
    if not db.is_file():
        return []
    now = now or datetime.now(UTC)
    try:
        with _open(db) as conn:
            rows = conn.execute("SELECT component, state, updated_at FROM heartbeats").fetchall()
    except sqlite3.OperationalError:  # no schema yet
        return []
    out = []
    for component, state, updated_at in rows:
        age = (now - parse_ts(updated_at)).total_seconds()
        if state != "stopped" and age <= STALE_AFTER_SECONDS:
            out.append(f"{component} (beat {max(age, 0):.0f} s ago)")
    return out


def check_backup(path: Path) -> None:
    """Raise :class:`BackupError` unless ``path`` is an intact thetawheel database."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    try:
        with _open(path) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as err:
        raise BackupError(f"{path} is not a SQLite database ({err})") from None
    if not result or result[0] != "ok":
        raise BackupError(f"{path} is damaged (integrity check: {result[0] if result else 'no answer'})")
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise BackupError(f"{path} is not a thetawheel database (missing tables: {', '.join(missing)})")


def restore(backup: Path, database_url: str, now: datetime | None = None) -> Path | None:
    """Replace the database with ``backup``; return where the previous database was saved (or ``None``).

    Raises :class:`ServiceRunning` while any component's heartbeat is fresh, :class:`BackupError` when
    the backup is missing or damaged.
    """
    db = database_file(database_url)
    check_backup(backup)
    running = running_components(db, now)
    if running:
        raise ServiceRunning(
            f"restore refused: the service is running ({', '.join(running)}). Stop it first (Ctrl-C in the "
            f"terminal of make run / make start); a component that was killed counts as running until its "
            f"heartbeat is {STALE_AFTER_SECONDS:.0f} s old"
        )
    saved = None
    if db.is_file():
        folder = backup_dir(db)
        folder.mkdir(parents=True, exist_ok=True)
        saved = _free_name(folder, f"{PRE_RESTORE_PREFIX}{db.stem}-", _stamp(now))
        _copy(db, saved)
    db.parent.mkdir(parents=True, exist_ok=True)
    incoming = db.with_name(db.name + ".restoring")
    try:
        _copy(backup, incoming)
        with _open(incoming) as conn:
            conn.execute(
                "UPDATE heartbeats SET state = 'stopped', detail = ? WHERE state != 'stopped'",
                (f"restored from {backup.name}",),
            )
            conn.commit()
        for leftover in (db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            leftover.unlink(missing_ok=True)
        os.replace(incoming, db)
    finally:
        incoming.unlink(missing_ok=True)
    return saved


def backup_now(database_url: str, keep: int) -> tuple[Path, list[Path]]:
    """:func:`make_backup`, then :func:`prune` to ``keep``: ``(new backup, deleted backups)``."""
    path = make_backup(database_url)
    return path, prune(database_url, keep)


def _strategy_folder_and_prefix(database_url: str) -> tuple[Path, str]:
    """Where strategy copies go, and their name prefix: beside the database backups, named after the
    database (``thetawheel-strategy-…``, ``demo-strategy-…``), so the demo's and the real ones never mix.
    Without a SQLite file (PostgreSQL) they go to ``data/backups/thetawheel-strategy-…``."""
    try:
        db = database_file(database_url)
    except BackupError:
        return Path("data") / "backups", f"thetawheel{_STRATEGY_INFIX}"
    return backup_dir(db), f"{db.stem}{_STRATEGY_INFIX}"


def strategy_backups(database_url: str) -> list[Path]:
    """The copies of the strategy file, oldest first (by the time in their name, then their number)."""
    folder, prefix = _strategy_folder_and_prefix(database_url)
    pattern = re.compile(re.escape(prefix) + r"(\d{8}T\d{6}Z)(?:-(\d+))?\.toml")
    found = []
    for path in folder.glob(f"{prefix}*.toml"):
        match = pattern.fullmatch(path.name)
        if match and path.is_file():
            found.append(((match.group(1), int(match.group(2) or 0)), path))
    return [path for _, path in sorted(found)]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def backup_strategy(
    strategy_file: Path, database_url: str, keep: int, now: datetime | None = None
) -> tuple[Path | None, list[Path]]:
    """Copy ``strategy_file`` into the backup folder if its content differs from the newest copy (or there
    is none); then keep the ``keep`` newest copies. Returns ``(new copy or None, deleted copies)``.

    Raises ``OSError`` when the strategy file cannot be read (e.g. it was deleted) or the copy written."""
    data = Path(strategy_file).read_bytes()
    existing = strategy_backups(database_url)
    if existing and _digest(existing[-1].read_bytes()) == _digest(data):
        return None, []
    folder, prefix = _strategy_folder_and_prefix(database_url)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(now)
    final, n = folder / f"{prefix}{stamp}.toml", 1
    while final.exists():
        final, n = folder / f"{prefix}{stamp}-{n}.toml", n + 1
    partial = final.with_name(final.name + ".partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, final)
    finally:
        partial.unlink(missing_ok=True)
    copies = strategy_backups(database_url)
    old = copies[:-keep] if keep > 0 else []
    for path in old:
        path.unlink(missing_ok=True)
    return final, old
