"""A private, throwaway PostgreSQL cluster on 127.0.0.1 built from the system's PostgreSQL binaries."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from shared.infra.ports import free_port
from shared.infra.server import LocalServer
from shared.infra.wait import wait_for

USER = "stadspuls"
_OS_USER = "postgres"  # the server refuses to run as root; Debian's package creates this account
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def postgres_bin_dir() -> Path:
    """Find the folder holding `initdb` and `pg_ctl` (PATH first, then /usr/lib/postgresql)."""
    on_path = shutil.which("initdb")
    if on_path and (Path(on_path).resolve().parent / "pg_ctl").exists():
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql")


class LocalPostgres(LocalServer):
    """One PostgreSQL server in a temporary directory, trusting local user `stadspuls`."""

    name = "PostgreSQL"

    def __init__(self, *, port: int | None = None):
        self.port = port or free_port()
        self.bin_dir = postgres_bin_dir()
        self.workdir = Path(tempfile.mkdtemp(prefix="stadspuls-pg-"))
        self.data_dir = self.workdir / "data"
        self.socket_dir = self.workdir / "sock"
        self.log_path = self.workdir / "postgres.log"
        self._as_root = os.geteuid() == 0
        self._started = False

    def _run(self, tool: str, *args: str, timeout: float) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", _OS_USER, "--", *command]
        with self.log_path.open("ab") as log:
            subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, check=True, timeout=timeout
            )

    def _initdb(self, timeout: float) -> None:
        self.socket_dir.mkdir()
        self.log_path.touch()
        if self._as_root:
            for path in (self.workdir, self.socket_dir, self.log_path):
                shutil.chown(path, _OS_USER, _OS_USER)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-A",
            "trust",
            "-U",
            USER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
            timeout=timeout,
        )
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            # A test cluster is thrown away, so durability only costs time.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{key} = {value}\n" for key, value in settings.items()))

    def start(self, timeout: float = 60) -> LocalPostgres:
        """Create the cluster on first use, start the server and wait until it accepts connections."""
        if self._started:
            return self
        fresh = not self.data_dir.exists()
        try:
            if fresh:
                self._initdb(timeout)
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
                "start",
                timeout=timeout,
            )
            self._started = True
            self._track()
            wait_for(
                self._connectable,
                timeout=timeout,
                what=f"PostgreSQL on port {self.port}",
                ignore=(psycopg.OperationalError,),
            )
        except (subprocess.SubprocessError, TimeoutError) as exc:
            raise self._not_started(exc) from exc
        if fresh:
            self.create_database(USER)
        return self

    def _connectable(self) -> bool:
        with self._admin():
            return True

    def _admin(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=USER,
            dbname="postgres",
            autocommit=True,
            connect_timeout=2,
        )

    def stop(self, timeout: float = 30) -> None:
        """Stop the server (fast shutdown: open sessions are disconnected)."""
        if self._started:
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "stop",
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(timeout)),
                timeout=timeout + 5,
            )
            self._started = False
        self._untrack()

    def close(self) -> None:
        """Stop the server and delete the cluster."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def url(self, dbname: str = "stadspuls") -> str:
        """Return the SQLAlchemy URL of database `dbname` on this server."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database `name` and return its SQLAlchemy URL."""
        if not _NAME.match(name):
            raise ValueError(f"unsafe database name {name!r}")
        with self._admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database `name`, disconnecting any sessions still using it."""
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
