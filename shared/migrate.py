"""Run the Alembic migrations that create and upgrade the shared schema (the monitor calls this)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class SchemaNewerError(RuntimeError):
    """The database was written by a newer thetawheel: its schema revision is unknown here."""


def alembic_config(url: str) -> Config:
    """An Alembic :class:`Config` pointing at ``shared/migrations`` and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest schema revision this code knows (e.g. ``"0002"``)."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def check_revision(engine: Engine) -> str | None:
    """The database's schema revision (``None`` for a new database).

    Raises :class:`SchemaNewerError` with a one-line reason when the revision is unknown to this code
    (a database written by a newer thetawheel): upgrading over it could lose data, so nothing is written.
    """
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current is None:
        return None
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaNewerError(
            f"database schema revision {current!r} is newer than this thetawheel knows (up to "
            f"{head_revision()!r}); run the newer thetawheel or restore a backup (thetawheel restore FILE)"
        )
    return current


def upgrade(engine: Engine) -> None:
    """Bring the database behind ``engine`` to the newest schema revision (idempotent).

    Raises :class:`SchemaNewerError` (nothing written) when the database is newer than this code."""
    check_revision(engine)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
