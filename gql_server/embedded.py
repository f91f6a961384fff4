"""The embedded PostgreSQL used when no `DATABASE_URL` is set: a real server in a data folder."""

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)


def start(data_dir: Path) -> Any:
    """Start (or reuse) the server in `data_dir`; it stops when the last process using it exits."""
    # Imported here: a server with DATABASE_URL never needs it.
    from pgserver.postgres_server import get_server

    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop")
    log.info("embedded PostgreSQL running in %s", data_dir)
    return server


def asyncpg_url(server: Any, database: str = "postgres") -> str:
    """pgserver speaks over a Unix socket: turn its libpq URI into an asyncpg SQLAlchemy URL."""
    uri = urlsplit(server.get_uri(database))
    socket_dir = parse_qs(uri.query)["host"][0]
    user = uri.username or "postgres"
    return f"postgresql+asyncpg://{user}@/{database}?host={socket_dir}"
