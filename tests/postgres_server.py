"""A real PostgreSQL server for the store tests: a throwaway cluster in a temp folder.

`postgres_server()` initialises a cluster with Debian's server binaries (/usr/lib/postgresql/N/bin,
`apt-get install postgresql`; scripts/system-deps.sh installs it), starts it on a free loopback port
as an unprivileged user (the server refuses root: as root we run it as `postgres`, else `nobody`,
in a folder that user owns), and stops and deletes it afterwards. `fresh_database(server)` makes an
empty database per test. Tests skip cleanly only where the binaries are absent.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def server_bin() -> Path | None:
    """The newest Debian PostgreSQL bin folder with initdb, or one on PATH."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


@dataclass
class Server:
    port: int
    user: str
    admin_url: str  # the maintenance database, for CREATE DATABASE

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[Server]:
    folder = server_bin()
    if folder is None:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="rldojo-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        account = "postgres" if _has_user("postgres") else "nobody"
        entry = pwd.getpwnam(account)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        root.chmod(0o700)
        prefix = ["runuser", "-u", account, "--"]
    data, log = root / "data", root / "server.log"
    port = _free_port()
    try:
        subprocess.run(
            [*prefix, str(folder / "initdb"), "-D", str(data), "-U", "rldojo", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        started = subprocess.run(
            [
                *prefix,
                str(folder / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "start",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log.read_text() if log.exists() else ''}")
        yield Server(port, "rldojo", f"postgresql://rldojo@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run(
            [*prefix, str(folder / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def fresh_database(server: Server) -> str:
    """An empty database on `server`; returns its SQLAlchemy URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.url(name)
