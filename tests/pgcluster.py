"""A throwaway PostgreSQL server for the tests and benchmarks: a real one.

:class:`Cluster` runs the distribution's own binaries (``initdb``, ``pg_ctl``;
Debian's ``postgresql`` package, which ``.ci/run`` installs) on a data
directory of its own under the system's temp directory, listening on
127.0.0.1 at a free port and on a Unix socket in that directory, with
password (SCRAM) authentication for the user ``hub``. It is stopped and
deleted at the end. PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` system user (``runuser``).

Nothing here is mocked: the tests of :mod:`hub.state.postgres` talk to this
server over TCP with psycopg, as a deployment would.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

__all__ = ["Cluster", "PostgresMissing", "find_binaries"]

USER = "hub"
#: The test server's password (a throwaway cluster on loopback only).
PASSWORD = "hub-test-password"


class PostgresMissing(RuntimeError):
    """The PostgreSQL server binaries are not installed."""


def find_binaries() -> Path:
    """The directory of ``initdb`` and ``pg_ctl``: on ``PATH``, or the newest
    ``/usr/lib/postgresql/*/bin`` (Debian keeps them off ``PATH``)."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not versions:
        raise PostgresMissing(
            "the PostgreSQL server is not installed: the state store's PostgreSQL tests"
            " run a real server (Debian: apt-get install postgresql; .ci/run does this)"
        )
    return Path(versions[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """A PostgreSQL server of its own, started by :meth:`start` (or ``with``).

    ``durable=False`` (the tests) turns off ``fsync`` and synchronous commit:
    the server is deleted at the end anyway. Benchmarks keep the defaults."""

    def __init__(self, *, durable: bool = False) -> None:
        self.bin = find_binaries()
        self.durable = durable
        self.port = 0
        self.root = Path(tempfile.mkdtemp(prefix="hub-pg-"))
        self.data = self.root / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._databases = 0

    def _run(self, *argv: str) -> None:
        result = subprocess.run(
            [*self._as, *argv], capture_output=True, text=True, cwd=self.root, check=False
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr}{tail}"
            )

    def start(self) -> Cluster:
        password_file = self.root / "password"
        password_file.write_text(PASSWORD + "\n")
        if self._as:
            account = pwd.getpwnam("postgres")
            os.chown(password_file, account.pw_uid, account.pw_gid)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
        )
        password_file.unlink()
        self.port = _free_port()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c max_connections=100",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            " ".join(options),
            "-w",
            "start",
        )
        return self

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        """A ``postgresql://`` URL of ``database`` on this server."""
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its name."""
        import psycopg

        self._databases += 1
        name = name or f"hub_test_{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def stop(self) -> None:
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
