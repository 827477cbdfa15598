"""A real PostgreSQL server for the tests that need one.

RECONCILER_TEST_POSTGRES_URL (a role that may CREATE DATABASE) is used when set. Otherwise, when
Debian's PostgreSQL binaries are installed (/usr/lib/postgresql/*/bin/initdb; `.ci/run` installs
them), a throwaway cluster is started in a temporary directory on 127.0.0.1 and a free port, and
stopped at the end of the session. As root it runs as the `postgres` OS user, since the server
refuses to run as root. Without either, the tests that need it are skipped, saying why.
Each test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

URL_VARIABLE = "RECONCILER_TEST_POSTGRES_URL"
SERVER_USER = "postgres"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Cluster:
    """initdb + pg_ctl in a temporary directory, trust authentication on loopback only."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        # As root the server runs as `postgres`, which must reach the directory: /tmp, not $TMPDIR.
        self.root = Path(tempfile.mkdtemp(prefix="reconciler-pg-", dir="/tmp" if self.as_root else None))
        self.data = self.root / "data"
        self.port = _free_port()
        if self.as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stdout}{result.stderr}")

    def start(self) -> str:
        self._run("initdb", "-D", str(self.data), "-U", SERVER_USER, "--auth=trust", "--no-sync", "-E", "UTF8")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")
        return f"postgresql://{SERVER_USER}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A URL of a PostgreSQL server whose role may create databases."""
    given = os.environ.get(URL_VARIABLE)
    if given:
        yield given
        return
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip(
            f"no PostgreSQL: set {URL_VARIABLE} or install Debian's postgresql package "
            "(`apt-get install postgresql`; .ci/run does this)"
        )
    cluster = _Cluster(bin_dir)
    url = cluster.start()
    try:
        yield url
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server, for one test."""
    name = f"reconciler_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(postgres_server)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
