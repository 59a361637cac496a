from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.db.session import Database, open_database
from tests.core.postgres_server import find_pg_bin, running_postgres


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[Database]:
    database = open_database(f"sqlite:///{tmp_path / 'huijin.db'}")
    yield database
    database.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if find_pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed (make system-deps installs them)")
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> Iterator[Database]:
    """The same tests on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'huijin.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = open_database(url)
    yield database
    if request.param == "postgresql":
        from core.db.base import Base

        Base.metadata.drop_all(database.engine)
        with database.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    database.close()
