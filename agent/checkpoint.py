"""Where conversations persist: a LangGraph SqliteSaver in a file next to the project database.

Each thread id is one conversation; LangGraph keys every checkpoint by it, so several
conversations run at once without mixing state. With PostgreSQL as the project database the
checkpoints still go to a SQLite file in the data dir (one less server-side schema to manage).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import make_url

from core.settings import Settings

CHECKPOINT_FILE = "huijin-checkpoints.db"


def checkpoint_path(settings: Settings) -> Path:
    """The SQLite file for checkpoints: beside a SQLite database, else in the data dir."""
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / CHECKPOINT_FILE
    return settings.data_dir / CHECKPOINT_FILE


def open_checkpointer(path: Path) -> SqliteSaver:
    """A saver shared by every thread of this process (SqliteSaver serialises access itself)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(str(path), check_same_thread=False)
    saver = SqliteSaver(connection)
    saver.setup()
    return saver
