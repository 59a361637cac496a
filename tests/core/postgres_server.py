"""A throw-away PostgreSQL server for tests: its own data dir, 127.0.0.1 only, stopped on exit."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def find_pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if candidates:
        return Path(candidates[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(args: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the Debian package creates the `postgres` user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def running_postgres() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh server; the server is stopped however the test ends."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise RuntimeError("PostgreSQL is not installed; run `make system-deps`")
    # Not under pytest's tmp dir: that is private to root, and the server runs as `postgres`.
    base_dir = Path(tempfile.mkdtemp(prefix="huijin-pg-"))
    data_dir = base_dir / "pgdata"
    data_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base_dir, "postgres")
        shutil.chown(data_dir, "postgres")
    subprocess.run(
        _as_server_user(
            [str(pg_bin / "initdb"), "-D", str(data_dir), "-U", "postgres", "-A", "trust"]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {data_dir}"
    subprocess.run(
        _as_server_user(
            [
                str(pg_bin / "pg_ctl"),
                "-D",
                str(data_dir),
                "-o",
                options,
                "-w",
                "-l",
                str(data_dir / "server.log"),
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user(
                [str(pg_bin / "pg_ctl"), "-D", str(data_dir), "-m", "immediate", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(base_dir, ignore_errors=True)
