"""The embedded PostgreSQL used when no `DATABASE_URL` is set: a real server in a data folder.

Every process that uses it is listed in the folder, and the last live one to be done with it
stops it; a process that died without saying so (`kill -9`, the OOM killer, a closed terminal)
is forgotten, so a leftover server is adopted by the next process that starts (or started again,
if it died too) and stopped by the last one that exits. How: gql_server.embedded_server.
"""

import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from gql_server.embedded_server import EmbeddedServer


class InUse(Exception):
    """The embedded database serves a running process; the message names it."""


class StartFailed(Exception):
    """The embedded PostgreSQL did not start; the message names its log."""


class NotADataFolder(Exception):
    """`GQL_DATA_DIR` holds something else than a PostgreSQL data folder: never deleted."""


# The servers this process holds, by folder: a process is listed once however often it starts.
_held: dict[Path, "EmbeddedServer"] = {}


def start(data_dir: Path) -> "EmbeddedServer":
    """Start, adopt or reuse the server in `data_dir`; `release` it (or exit) when done."""
    # Imported here: a server with DATABASE_URL never needs pgserver.
    from gql_server.embedded_server import EmbeddedServer

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = _held.get(data_dir)
    if server is None or server.released:
        server = _held[data_dir] = EmbeddedServer(data_dir)
    server.holds += 1
    return server


def release(server: "EmbeddedServer") -> None:
    """One `start` of this process is done with `server`; when all are, the process no longer
    uses it, and it stops if no other live process does."""
    server.holds -= 1
    if server.holds <= 0:
        server.cleanup()


def asyncpg_url(server: "EmbeddedServer", database: str = "postgres") -> str:
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
    from gql_server import embedded_server
    from gql_server.embedded_server import EmbeddedServer

    data_dir = data_dir.resolve()
    if not data_dir.exists():
        return
    if not (data_dir / "PG_VERSION").exists() and any(data_dir.iterdir()):
        raise NotADataFolder(f"{data_dir} is not a PostgreSQL data folder; not deleting it")
    with EmbeddedServer._lock:  # no process starts using it meanwhile
        if pids := embedded_server.forget_departed(data_dir):
            running = ", ".join(f"{pid} ({embedded_server.command(pid)})" for pid in pids)
            raise InUse(f"the embedded database in {data_dir} is in use by process {running}")
        embedded_server.stop(data_dir, embedded_server.system_user())
        shutil.rmtree(data_dir)
