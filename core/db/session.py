"""Engine and session factory for the product database, migrated to the latest schema on open."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.db.migrate import upgrade_to_head


class DatabaseError(RuntimeError):
    """The database cannot be opened or migrated; the message says what to check."""


@dataclass
class Database:
    """One engine and its session factory; open it once per process and pass it down."""

    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()


def _enable_sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # Foreign keys are off by default in SQLite; WAL lets the app read while an eval writes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    """Create a SQLAlchemy engine, making the SQLite file's directory when needed."""
    try:
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                parents=True, exist_ok=True
            )
        engine = create_engine(url, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise DatabaseError(
            f"unsupported database URL scheme in {url.split('://')[0]!r}: {exc}"
        ) from None
    except ModuleNotFoundError as exc:
        raise DatabaseError(
            f"the database driver {exc.name!r} is not installed; for PostgreSQL install the "
            "postgres extra: pip install 'huijin[postgres]'"
        ) from None
    except ArgumentError as exc:
        raise DatabaseError(f"bad database URL: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_pragmas)
    return engine


def open_database(url: str, migrate: bool = True) -> Database:
    """Open the database at `url` and bring its schema to the latest migration."""
    engine = create_db_engine(url)
    try:
        if migrate:
            upgrade_to_head(engine)
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(
            f"cannot open the database ({reason}); check HUIJIN_DATABASE_URL"
        ) from None
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))
