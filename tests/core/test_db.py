from __future__ import annotations

import pytest
from sqlalchemy import inspect

from core.db.migrate import current_revision, head_revision
from core.db.session import DatabaseError, open_database


def test_migrations_create_the_schema_at_head(database):
    tables = set(inspect(database.engine).get_table_names())
    assert {"runs", "trajectories", "model_turns", "tool_calls", "alembic_version"} <= tables
    assert current_revision(database.engine) == head_revision()


def test_reopening_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'sub' / 'dir' / 'huijin.db'}"
    first = open_database(url)
    first.close()
    second = open_database(url)
    assert current_revision(second.engine) == head_revision()
    second.close()


def test_sqlite_enforces_foreign_keys(sqlite_db):
    from sqlalchemy.exc import IntegrityError

    from core.db.models import Trajectory

    with pytest.raises(IntegrityError), sqlite_db.session() as session:
        session.add(Trajectory(model_id="m", run_id="no-such-run"))


def test_unreachable_postgres_is_one_clear_error():
    with pytest.raises(DatabaseError, match="cannot open the database"):
        open_database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_unknown_scheme_is_one_clear_error():
    with pytest.raises(DatabaseError):
        open_database("nosuchdb://x/y")
