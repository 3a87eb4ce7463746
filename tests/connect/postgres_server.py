"""A real PostgreSQL server on loopback for the JDBC connector tests, from Debian's package.

`postgres_url` (session scope) starts one server in a temporary directory on a free
port and gives its `jdbc:postgresql://...` URL; tests keep apart by table names.
PostgreSQL refuses to run as root, so under root (as in CI) the server runs as the
package's `postgres` user. The tests skip when PostgreSQL is not installed.
tests/connect/conftest.py makes it a fixture of the connector tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

USER = "ksql"
DATABASE = "postgres"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindir() -> str | None:
    """The directory of initdb/postgres: Debian keeps them in /usr/lib/postgresql/<version>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def _as_server_user(argv: list[str]) -> list[str]:
    """argv run as the unprivileged `postgres` user when we are root (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The JDBC URL of a running PostgreSQL server (user `ksql`, no password, database `postgres`)."""
    psycopg = pytest.importorskip("psycopg")
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
    workdir = tempfile.mkdtemp(prefix="ksql-pg-")
    os.chmod(workdir, 0o755)
    data, sockets = os.path.join(workdir, "data"), os.path.join(workdir, "run")
    os.mkdir(sockets)
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
        shutil.chown(sockets, "postgres", "postgres")
    init = subprocess.run(_as_server_user([os.path.join(bindir, "initdb"), "-D", data, "-U", USER,
                                           "-A", "trust", "-E", "UTF8", "--no-sync"]),
                          capture_output=True, text=True)
    if init.returncode != 0:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[-500:]}")
    port = _free_port()
    proc = subprocess.Popen(
        _as_server_user([os.path.join(bindir, "postgres"), "-D", data, "-p", str(port), "-k", sockets,
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                         "-c", "full_page_writes=off", "-c", "synchronous_commit=off"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"jdbc:postgresql://127.0.0.1:{port}/{DATABASE}"
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                psycopg.connect(host="127.0.0.1", port=port, user=USER, dbname=DATABASE,
                                connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None:
                    pytest.fail(f"postgres exited with {proc.returncode}")
                if time.monotonic() > deadline:
                    pytest.fail("postgres did not accept connections within 30 s")
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
