"""The embedded PostgreSQL used when no `DATABASE_URL` is set: a real server in a data folder.

Every process that uses it is listed in the folder (pgserver's `.handle_pids.json`), and the last
one to exit stops it. pgserver (checked against 0.1.4) never forgets a process that died without
exiting (`kill -9`, the OOM killer, a closed terminal): its id stayed listed, so the server
outlived everyone and no later process ever stopped it. Here every start and every exit first
forgets the processes that are gone, so a leftover server is adopted by the next process that
starts (or started again, if it died too) and stopped by the last one that exits.
"""

import atexit
import logging
import os
import shlex
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psutil

log = logging.getLogger(__name__)

# Folders whose departed users this process forgets again when it exits.
_forget_at_exit: set[Path] = set()


class InUse(Exception):
    """The embedded database serves a running process; the message names it."""


class NotADataFolder(Exception):
    """`GQL_DATA_DIR` holds something else than a PostgreSQL data folder: never deleted."""


def start(data_dir: Path) -> Any:
    """Start, adopt or reuse the server in `data_dir`; it stops when the last process using it
    exits."""
    # Imported here: a server with DATABASE_URL never needs it.
    from pgserver.postgres_server import get_server

    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if data_dir.exists():
        _forget_departed(data_dir)
    server = get_server(data_dir, cleanup_mode="stop")
    if data_dir not in _forget_at_exit:
        # atexit runs last-registered first: this runs before pgserver's own exit handler, which
        # stops the server when this process is the only one still listed.
        atexit.register(_forget_departed, data_dir)
        _forget_at_exit.add(data_dir)
    log.info("embedded PostgreSQL running in %s", data_dir)
    return server


def release(server: Any) -> None:
    """This process no longer uses `server`; it stops when no live process does."""
    _forget_departed(server.pgdata)
    server.cleanup()  # pgserver: unregister, and stop the server if this was the last process


def asyncpg_url(server: Any, database: str = "postgres") -> str:
    """pgserver speaks over a Unix socket: turn its libpq URI into an asyncpg SQLAlchemy URL."""
    uri = urlsplit(server.get_uri(database))
    socket_dir = parse_qs(uri.query)["host"][0]
    user = uri.username or "postgres"
    return f"postgresql+asyncpg://{user}@/{database}?host={socket_dir}"


def psql_command(url: str) -> str:
    """A shell command that opens `psql` on the embedded server at `url` (libpq's form): the
    `psql` on PATH, else the one pgserver ships with the server itself."""
    import pgserver

    psql = shutil.which("psql") or str(Path(pgserver.__file__).parent / "pginstall/bin/psql")
    return f"{shlex.quote(psql)} {shlex.quote(url)}"


def reset(data_dir: Path) -> None:
    """Stop the server in `data_dir` (when no process uses it) and delete the folder."""
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import PostmasterInfo

    data_dir = data_dir.resolve()
    if not data_dir.exists():
        return
    if not (data_dir / "PG_VERSION").exists() and any(data_dir.iterdir()):
        raise NotADataFolder(f"{data_dir} is not a PostgreSQL data folder; not deleting it")
    with PostgresServer._lock:  # no process starts using it meanwhile
        pids = _forget_departed_locked(data_dir)
        if pids:
            running = ", ".join(f"{pid} ({_command(pid)})" for pid in pids)
            raise InUse(f"the embedded database in {data_dir} is in use by process {running}")
        postmaster = PostmasterInfo.read_from_pgdata(data_dir)
        if postmaster is not None and postmaster.is_running():
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=_system_user(), timeout=30)
        shutil.rmtree(data_dir)


def _forget_departed(data_dir: Path) -> None:
    from pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:
        _forget_departed_locked(data_dir)


def _forget_departed_locked(data_dir: Path) -> list[int]:
    """Drop from the folder's list of users every process that is gone; the live ones."""
    from pgserver.utils import DiskList

    listed = DiskList(data_dir / ".handle_pids.json")
    pids = listed.get()
    alive = [pid for pid in pids if _alive(pid)]
    if alive != pids:
        log.info(
            "embedded PostgreSQL: processes %s exited without stopping it", set(pids) - {*alive}
        )
        listed.put(alive)
    return alive


def _alive(pid: int) -> bool:
    try:
        # A killed child its parent has not waited for yet is a zombie: gone for our purpose.
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _command(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline()) or "?"
    except psutil.Error:
        return "?"


def _system_user() -> str | None:
    # As pgserver does: as root, the server runs as the `pgserver` system user.
    return "pgserver" if os.name == "posix" and os.geteuid() == 0 else None
