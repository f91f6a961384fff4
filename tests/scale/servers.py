"""Debian's PostgreSQL 15 and PgBouncer, started by the tests in a folder of their own.

`make test-scale` runs the suites on what operators run: a transaction-mode PgBouncer, a
streaming replica (`pg_basebackup -R`), a Citus coordinator with workers. Each server here is a
real one, on a free local port; as root, the servers run as the `postgres` system user (neither
PostgreSQL nor PgBouncer runs as root). The packages come from `.ci/install-scale`, Citus from
`.ci/build-citus`.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

PG_BIN = Path(os.environ.get("GQL_PG_BIN", "/usr/lib/postgresql/15/bin"))
ROOT = Path(__file__).resolve().parents[2]
AS_ROOT = os.geteuid() == 0
SERVER_USER = "postgres"
START_SECONDS = 60.0


class Missing(Exception):
    """A program the scale suites need is not installed."""


def require(*programs: Path | str) -> None:
    missing = [str(p) for p in programs if shutil.which(str(p)) is None]
    if missing:
        raise Missing(
            f"not installed: {', '.join(missing)}; run .ci/install-scale (Debian packages)"
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(argv: Sequence[str | Path], **kwargs: object) -> str:
    """A program, as the servers' user; its output, or its output in the error when it fails."""
    command = [str(part) for part in argv]
    if AS_ROOT:
        command = ["runuser", "-u", SERVER_USER, "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return str(done.stdout)


def owned_folder(path: Path) -> Path:
    """A folder the servers' user owns (it refuses a data folder anyone else may read)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if AS_ROOT:
        shutil.chown(path, SERVER_USER, SERVER_USER)
    return path


def shared_root(path: Path) -> Path:
    """The run's folder: reachable by the servers' user, which owns the folders inside it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


async def until_accepting(url: str, seconds: float = START_SECONDS) -> None:
    """Wait until `url` accepts a connection (the condition a start waits on)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection = await asyncpg.connect(url, timeout=2, statement_cache_size=0)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
            continue
        await connection.close()
        return


@dataclass
class Postgres:
    """One PostgreSQL cluster (a data folder and a port)."""

    data: Path
    port: int

    @property
    def log(self) -> Path:
        return self.data / "server.log"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{database}"

    def libpq(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        run([PG_BIN / "pg_ctl", "-w", "-t", "60", "-D", self.data, "-l", self.log, "start"])

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            run([PG_BIN / "pg_ctl", "-w", "-t", "60", "-D", self.data, "-m", mode, "stop"])

    def configure(self, settings: dict[str, str]) -> None:
        lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(lines)


BASE_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "fsync": "off",  # throwaway clusters: durability is not what the tests prove
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
}


def initdb(folder: Path, settings: dict[str, str] | None = None) -> Postgres:
    """A new cluster in `folder` (trust authentication on 127.0.0.1), not started."""
    require(PG_BIN / "initdb")
    data = owned_folder(folder)
    run([PG_BIN / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
    cluster = Postgres(data, free_port())
    cluster.configure(
        {
            **BASE_SETTINGS,
            "port": str(cluster.port),
            "unix_socket_directories": f"'{data}'",
            **(settings or {}),
        }
    )
    return cluster


def replica_of(primary: Postgres, folder: Path) -> Postgres:
    """A streaming replica of the running `primary`, made by `pg_basebackup -R`, not started."""
    require(PG_BIN / "pg_basebackup")
    data = owned_folder(folder)
    run(
        [
            PG_BIN / "pg_basebackup",
            "-D",
            data,
            "-R",  # standby.signal and primary_conninfo: a streaming replica
            "-X",
            "stream",
            "-c",
            "fast",
            "-d",
            primary.libpq(),
        ]
    )
    replica = Postgres(data, free_port())
    replica.configure(
        {"port": str(replica.port), "unix_socket_directories": f"'{data}'", "hot_standby": "on"}
    )
    return replica


@dataclass
class PgBouncer:
    """PgBouncer in transaction mode in front of `server`: every database name passes through."""

    folder: Path
    server: Postgres
    port: int
    process: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        require("pgbouncer")
        owned_folder(self.folder)
        users = self.folder / "users.txt"
        users.write_text('"postgres" ""\n')
        config = self.folder / "pgbouncer.ini"
        config.write_text(
            "[databases]\n"
            f"* = host=127.0.0.1 port={self.server.port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            "max_client_conn = 1000\n"
            "default_pool_size = 20\n"
            "max_db_connections = 40\n"
            # asyncpg asks for these at start-up; PgBouncer would refuse an unknown one.
            "ignore_startup_parameters = extra_float_digits\n"
            f"logfile = {self.folder / 'pgbouncer.log'}\n"
            "log_connections = 0\n"
            "log_disconnections = 0\n"
        )
        if AS_ROOT:
            for path in (users, config):
                shutil.chown(path, SERVER_USER, SERVER_USER)
        command = ["pgbouncer", str(config)]
        if AS_ROOT:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None
