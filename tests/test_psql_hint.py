"""The line `make run` (`serve`, and `token --format banner`) prints to open psql on the embedded
PostgreSQL: a command that works as printed."""

import subprocess

from gql_server import cli, embedded
from gql_server.database import to_libpq
from gql_server.settings import Settings


def test_the_printed_command_opens_psql_on_the_database(server_url: str) -> None:
    line = cli._embedded_psql(Settings(database_url=None), server_url)
    assert line is not None
    command = line.removeprefix("The embedded PostgreSQL, while the server runs: ")
    assert command == embedded.psql_command(to_libpq(server_url))
    done = subprocess.run(
        f"{command} -Atc 'select 41 + 1'", shell=True, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "42"


def test_no_line_for_a_database_of_ones_own() -> None:
    settings = Settings(database_url="postgresql://app@db.internal:5432/learning")
    assert cli._embedded_psql(settings, "postgresql+asyncpg://app@db.internal/learning") is None
