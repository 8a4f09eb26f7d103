"""Database access: engine creation (SQLite in WAL mode with a busy timeout), time stamps, schema checks.

The schema is created and upgraded only by Alembic (:func:`shared.migrate.upgrade`), run by the
monitor. Other processes call :func:`schema_ready` until it is true.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class DatabaseUrlError(ValueError):
    """``DATABASE_URL`` names a database that cannot be used; ``str()`` is one line naming the key."""


#: Milliseconds a SQLite connection waits for a lock before failing with "database is locked".
BUSY_TIMEOUT_MS = 10_000


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def utcnow_iso() -> str:
    """The current time as ISO-8601 UTC text, the format every timestamp column uses."""
    return utcnow().isoformat()


def parse_ts(text: str) -> datetime:
    """Parse a timestamp column value back into an aware UTC datetime."""
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` (``DATABASE_URL``).

    For SQLite the parent folder is created, and every connection gets WAL mode, a busy timeout of
    :data:`BUSY_TIMEOUT_MS` and foreign keys on. PostgreSQL is used as given. Raises
    :class:`DatabaseUrlError` (one line naming ``DATABASE_URL``) for another database, a missing driver or
    a folder that cannot be created; :func:`shared.config.load_config` reports these before a process
    gets here.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError("DATABASE_URL: not a database URL") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"DATABASE_URL: unsupported database {backend!r} (use sqlite or postgresql)")
    if backend != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except ImportError as err:
            raise DatabaseUrlError(f"DATABASE_URL: the {backend} driver is not installed ({err})") from None
    if parsed.database and parsed.database != ":memory:":
        folder = Path(parsed.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DatabaseUrlError(
                f"DATABASE_URL: cannot create the folder {folder} for the database: {err.strerror or err}"
            ) from None
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


#: Tables whose presence means the schema has been created by the migrations.
#: Tables every release's database has (a backup of an older release is still a thetawheel database).
REQUIRED_TABLES = ("heartbeats", "opportunities", "intents", "orders", "fills", "alerts", "alembic_version")


def _required_tables() -> tuple[str, ...]:
    """Every table of :mod:`shared.schema` (so a database upgraded only part of the way is not ready)."""
    from shared.schema import metadata

    return (*metadata.tables, "alembic_version")


def schema_ready(engine: Engine) -> bool:
    """True when the migrations have run (every table of the schema exists)."""
    try:
        names = set(inspect(engine).get_table_names())
    except Exception:  # the file may be mid-creation; the caller retries
        return False
    return all(t in names for t in _required_tables())


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's INSERT with ON CONFLICT support (SQLite or PostgreSQL)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    raise ValueError(f"DATABASE_URL: unsupported database {dialect!r} (use sqlite or postgresql)")


def upsert(
    conn: Connection, table: Table, values: dict[str, Any], key: tuple[str, ...], keep: tuple[str, ...] = ()
) -> None:
    """Insert ``values`` into ``table`` or update the row whose ``key`` columns match (SQLite/PostgreSQL).

    Columns in ``keep`` (e.g. ``created_at``) keep their stored value on update.
    """
    updates = {k: v for k, v in values.items() if k not in key and k not in keep}
    stmt = _insert(conn, table).values(**values)
    conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=updates))


def insert_new(conn: Connection, table: Table, values: dict[str, Any], key: tuple[str, ...]) -> bool:
    """Insert ``values`` unless a row with the same ``key`` exists; True when a row was inserted."""
    stmt = _insert(conn, table).values(**values).on_conflict_do_nothing(index_elements=list(key))
    return bool(conn.execute(stmt).rowcount)
