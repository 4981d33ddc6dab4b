"""A throwaway PostgreSQL 15 cluster for the store and job tests, started once per test session.

``PROPSCAN_TEST_POSTGRES_URL`` points the tests at an existing server instead (a database the
tests may create databases on). Otherwise the Debian binaries (``/usr/lib/postgresql/15/bin``,
or ``PROPSCAN_PG_BIN``) run ``initdb`` and ``pg_ctl`` in a temporary folder on a free port, as
the ``postgres`` user when we are root (PostgreSQL refuses to run as root). The cluster is
stopped and deleted at interpreter exit. Tests that need it are skipped, saying why, when there
is no way to get a server.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

_BIN_DIRS = [os.environ.get("PROPSCAN_PG_BIN", ""), "/usr/lib/postgresql/15/bin"]
_cluster: dict[str, str] = {}


def _bin_dir() -> Path | None:
    for folder in _BIN_DIRS:
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
    return [runuser, "-u", "postgres", "--", *command]


def server_url() -> str:
    """The URL of a running server (an admin database), starting the throwaway cluster on first use."""
    given = os.environ.get("PROPSCAN_TEST_POSTGRES_URL")
    if given:
        return given
    if "url" in _cluster:
        return _cluster["url"]
    if "skip" in _cluster:
        pytest.skip(_cluster["skip"])
    binaries = _bin_dir()
    if binaries is None:
        _cluster["skip"] = (
            "PostgreSQL 15 binaries not found (apt install postgresql, or set PROPSCAN_PG_BIN / PROPSCAN_TEST_POSTGRES_URL)"
        )
        pytest.skip(_cluster["skip"])
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _cluster["skip"] = "psycopg is not installed: pip install propscan[batch]"
        pytest.skip(_cluster["skip"])
    root = Path(tempfile.mkdtemp(prefix="propscan-pg-"))
    data, sockets = root / "data", root / "sockets"
    data.mkdir()
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    log = root / "server.log"
    try:
        subprocess.run(
            _as_postgres(
                [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        subprocess.run(
            _as_postgres(
                [
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(root / "server.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        detail = getattr(error, "stderr", b"") or b""
        server_log = log.read_text(errors="replace")[-500:] if log.exists() else ""
        _cluster["skip"] = f"cannot start a throwaway PostgreSQL: {detail.decode(errors='replace')[-300:]} {server_log}"
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(_cluster["skip"])

    def stop() -> None:
        subprocess.run(
            _as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(stop)
    _cluster["url"] = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    return _cluster["url"]


def fresh_database() -> str:
    """A new, empty database on the server, so each test starts clean."""
    import psycopg

    admin = server_url()
    name = f"propscan_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + f"/{name}"
