"""What `gql-server` says when it cannot do its work: one line saying what is wrong and what to do,
exit status 1, no traceback, no secret echoed. The real command, in a subprocess."""

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from gql_server import __version__, migrate
from gql_server.settings import Settings
from tests.command import environment, free_port, one_line, run, scratch_folder
from tests.conftest import CreateDatabase
from tests.owner import database_owner

PASSWORD = "pw-never-printed"
SECRET = "short-secret-never-printed"
STRONG_SECRET = "a-production-secret-of-more-than-32-characters"


async def migrated_database(create_database: CreateDatabase) -> str:
    url = await create_database()
    engine = create_async_engine(url, poolclass=NullPool)
    await migrate.upgrade(engine)
    await engine.dispose()
    return url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            f"postgresql://gql:{PASSWORD}@127.0.0.1:{{port}}/learning",
            "cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused): start it, or"
            " correct the host and port in DATABASE_URL",
        ),
        (
            f"postgresql+asyncpg://gql:{PASSWORD}@no-such-host.invalid:5432/learning",
            "cannot reach PostgreSQL at no-such-host.invalid:5432 (no such host)",
        ),
        (
            f"mysql://gql:{PASSWORD}@db.internal/learning",
            "DATABASE_URL: a mysql:// URL, not a PostgreSQL one; expected"
            " postgresql://user:password@host:5432/database",
        ),
        (
            f"gql:{PASSWORD} at db.internal",
            "DATABASE_URL: not a URL; expected postgresql://user:password@host:5432/database",
        ),
    ],
    ids=["refused", "no-such-host", "wrong-scheme", "not-a-url"],
)
def test_a_broken_database_url_is_one_line(url: str, expected: str) -> None:
    port = free_port()  # nothing listens there
    done = run("migrate", env=environment(DATABASE_URL=url.format(port=port)))

    assert one_line(done).startswith(f"gql-server migrate: {expected.format(port=port)}")
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "command",
    [["seed"], ["token", "--org", "acme", "--user", "admin"], ["serve"], ["trust", "{manifest}"]],
)
def test_every_command_that_needs_the_database_says_so_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    document = "{ viewer { id } }"
    manifest = tmp_path / "persisted-queries.json"
    manifest.write_text(json.dumps({hashlib.sha256(document.encode()).hexdigest(): document}))
    command = [part.format(manifest=manifest) for part in command]
    port = free_port()
    url = f"postgresql://gql:{PASSWORD}@127.0.0.1:{port}/learning"

    done = run(*command, env=environment(DATABASE_URL=url))

    assert one_line(done).startswith(
        f"gql-server {command[0]}: cannot reach PostgreSQL at 127.0.0.1:{port}"
    )


def test_a_database_that_does_not_exist_is_named(server_url: str) -> None:
    url = make_url(server_url).set(database="no_such_database")

    line = one_line(run("migrate", env=environment(DATABASE_URL=url.render_as_string(False))))

    assert line.startswith('gql-server migrate: database "no_such_database" does not exist on ')
    assert line.endswith(": create it (createdb no_such_database) or correct DATABASE_URL")


async def test_seeding_twice_says_so_and_changes_nothing(create_database: CreateDatabase) -> None:
    env = environment(DATABASE_URL=await migrated_database(create_database))
    first = run("seed", env=env)
    assert first.returncode == 0, first.stderr

    line = one_line(run("seed", env=env))

    assert line == (
        "gql-server seed: database already seeded (it has organizations): seed fills an empty"
        " database only; `seed --if-empty` skips quietly, `gql-server reset` starts the embedded"
        " one over"
    )
    skipped = run("seed", "--if-empty", env=env)
    assert skipped.returncode == 0
    assert skipped.stdout.strip() == "database already has data; not seeding"


@pytest.mark.parametrize(
    ("command", "secret"),
    [
        (["serve"], SECRET),
        (["serve"], None),
        (["token", "--org", "acme", "--user", "admin"], SECRET),
    ],
    ids=["serve-short", "serve-unset", "token-short"],
)
def test_production_without_a_secret_refuses_without_echoing_it(
    command: list[str], secret: str | None
) -> None:
    settings = {"GQL_ENVIRONMENT": "production"} | ({"GQL_JWT_SECRET": secret} if secret else {})

    done = run(*command, env=environment(**settings))

    assert one_line(done) == (
        f"gql-server {command[0]}: production needs GQL_JWT_SECRET set to a secret of 32+"
        " characters (or GQL_JWT_ALGORITHM=RS256 with GQL_JWT_PUBLIC_KEY)"
    )
    assert SECRET not in done.stdout + done.stderr
    assert Settings.model_fields["jwt_secret"].default not in done.stdout + done.stderr


@pytest.mark.parametrize("algorithm", ["none", "HS257", "RS256"])
def test_a_jwt_algorithm_the_keys_cannot_serve_stops_the_start(algorithm: str) -> None:
    env = environment(
        GQL_ENVIRONMENT="production", GQL_JWT_SECRET=STRONG_SECRET, GQL_JWT_ALGORITHM=algorithm
    )

    line = one_line(run("serve", env=env))

    assert line.startswith(f"gql-server serve: GQL_JWT_ALGORITHM={algorithm} ")
    assert STRONG_SECRET not in line


def test_settings_of_the_wrong_type_name_their_variables() -> None:
    line = one_line(run("migrate", env=environment(GQL_PORT="eighty", GQL_POOL_SIZE="0")))

    assert line.startswith("gql-server migrate: ")
    problems = line.removeprefix("gql-server migrate: ").split("; ")
    assert sorted(problems) == [
        "GQL_POOL_SIZE: input should be greater than or equal to 1",
        "GQL_PORT: input should be a valid integer, unable to parse string as an integer",
    ]


def test_version_and_help_need_no_valid_settings() -> None:
    broken = environment(GQL_PORT="eighty")

    version = run("--version", env=broken)
    assert version.returncode == 0
    assert version.stdout.strip() == f"gql-server {__version__}"
    assert __version__ != "0.0.0"  # read from the installed package

    usage = run("serve", "--help", env=broken)
    assert usage.returncode == 0
    help_text = " ".join(usage.stdout.split())
    assert "--host HOST interface to listen on (default: GQL_HOST, else 127.0.0.1)" in help_text
    assert "--port PORT port to listen on (default: GQL_PORT, else 8000)" in help_text
    assert "--workers WORKERS server processes (default: GQL_WORKERS, else 1)" in help_text

    commands = run("--help", env=broken)
    for verb in ("serve", "migrate", "seed", "token", "reset", "export-schema", "trust"):
        assert verb in commands.stdout


async def test_token_works_for_a_database_owner_without_superuser_rights(
    create_database: CreateDatabase,
) -> None:
    """Forced row-level security hides organizations from their owner: `token` must still find
    them, as `seed` does."""
    async with database_owner(await create_database()) as owner_url:
        env = environment(DATABASE_URL=owner_url.render_as_string(hide_password=False))
        for command in (["migrate"], ["seed"]):
            done = run(*command, env=env)
            assert done.returncode == 0, done.stderr

        issued = run("token", "--org", "acme", "--user", "admin", env=env)

        assert issued.returncode == 0, issued.stderr
        claims = jwt.decode(issued.stdout.strip(), Settings().jwt_secret, algorithms=["HS256"])
        assert claims["role"] == "ADMIN"
        nobody = one_line(run("token", "--org", "acme", "--user", "nobody", env=env))
        assert nobody == "gql-server token: no user 'nobody' in organization 'acme'"
        no_org = one_line(run("token", "--org", "umbrella", "--user", "admin", env=env))
        assert no_org == (
            "gql-server token: no organization 'umbrella' (`gql-server seed` fills acme, globex"
            " and initech)"
        )


def test_reset_refuses_a_database_it_does_not_own() -> None:
    env = environment(DATABASE_URL=f"postgresql://gql:{PASSWORD}@db.internal/learning")

    done = run("reset", "--yes", env=env)

    assert one_line(done) == (
        "gql-server reset: DATABASE_URL is set: reset deletes only the embedded database (used"
        " without DATABASE_URL); drop and create DATABASE_URL's database with your own tools"
    )
    assert PASSWORD not in done.stdout + done.stderr


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_folder() as folder:
        yield folder


def test_reset_asks_first_and_deletes_only_when_told_yes(data_dir: Path) -> None:
    env = environment(GQL_DATA_DIR=str(data_dir))
    assert run("migrate", env=env).returncode == 0

    for answer in ("", "n\n", "no\n", "whatever\n"):
        kept = run("reset", env=env, stdin=answer)
        assert kept.returncode == 1
        assert "Delete the embedded database in" in kept.stdout
        assert "nothing was deleted" in kept.stdout
        assert (data_dir / "PG_VERSION").exists()

    deleted = run("reset", env=env, stdin="y\n")

    assert deleted.returncode == 0, deleted.stderr
    assert not data_dir.exists()
    again = run("reset", env=env)
    assert again.returncode == 0
    assert "nothing to reset" in again.stdout


def test_reset_never_deletes_a_folder_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")

    done = run("reset", "--yes", env=environment(GQL_DATA_DIR=str(tmp_path)))

    assert one_line(done) == (
        f"gql-server reset: {tmp_path} is not a PostgreSQL data folder; not deleting it"
    )
    assert (tmp_path / "notes.txt").read_text() == "mine"
