"""`gql-server`: serve, migrate, seed, token, reset, export-schema, trust; all honour DATABASE_URL.

A command that cannot do its work for a reason its user can fix (a setting, a database that cannot
be reached, data already there) prints one line saying what is wrong and what to do, and exits 1.
A traceback is for what nobody expected.
"""

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from gql_server import __version__, citus, embedded, migrate
from gql_server.database import (
    Unreachable,
    connect_args,
    ensure_reachable,
    resolve_database_url,
    to_libpq,
)
from gql_server.seed.bulk import AlreadySeeded
from gql_server.settings import InvalidSettings, Settings, get_settings

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = Settings.model_fields
# uvicorn's supervisor kills a worker that does not answer its ping within this long, and a new
# worker answers only once it has imported the app: on a busy host, uvicorn's own 5 s killed
# starting workers over and over.
WORKER_HEALTHCHECK_SECONDS = 30


class Refused(Exception):
    """The command will not do what was asked; the message says why and what to do instead."""


# What a user can fix: reported as one line (`gql-server <command>: <message>`) and exit status 1.
FAILURES = (
    citus.NotCitus,
    InvalidSettings,
    Unreachable,
    Refused,
    AlreadySeeded,
    embedded.InUse,
    embedded.NotADataFolder,
    embedded.StartFailed,
)


def _with_engine(work: Callable[[AsyncEngine], Awaitable[T]], url: str | None = None) -> T:
    """`work` on an engine of the database (the configured one by default), once it is known to
    answer."""
    url = url or resolve_database_url(get_settings())

    async def run() -> T:
        engine = create_async_engine(
            url, poolclass=NullPool, connect_args=connect_args(get_settings(), "gql_server cli")
        )
        try:
            await ensure_reachable(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _nothing(_engine: AsyncEngine) -> None:
    return None


def cmd_migrate(args: argparse.Namespace) -> int:
    if args.check:
        differences = _with_engine(_check_then_report)
        return 1 if differences else 0
    _with_engine(migrate.upgrade)
    print(f"database at revision {migrate.head_revision()}")
    return 0


async def _check_then_report(engine: AsyncEngine) -> list[object]:
    revision = await migrate.current_revision(engine)
    head = migrate.head_revision()
    if revision != head:
        print(f"database at revision {revision}, migrations head is {head}", file=sys.stderr)
        return [("revision", revision, head)]
    differences = await migrate.drift(engine)
    for difference in differences:
        print(f"models differ from migrations: {difference}", file=sys.stderr)
    if not differences:
        print(f"models and migrations agree (revision {head})")
    return differences


def cmd_seed(args: argparse.Namespace) -> int:
    from gql_server import seed

    async def work(engine: AsyncEngine) -> str:
        if args.if_empty and not await seed.is_empty(engine):
            return "database already has data; not seeding"
        if args.scale is not None:
            return str(await seed.seed_scale(engine, args.scale))
        return str(await seed.seed_demo(engine))

    print(_with_engine(work))
    return 0


def cmd_distribute(_args: argparse.Namespace) -> int:
    async def work(engine: AsyncEngine) -> list[str]:
        async with engine.begin() as connection:
            return await citus.distribute(connection)

    done = _with_engine(work)
    print(f"distributed: {', '.join(done)}" if done else "already distributed")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gql_server import request_log

    settings = get_settings()
    # Started here, before any worker: each worker then finds it running and registers as one
    # more process using it, so workers left serving after this process was killed keep it up
    # until they exit.
    url = resolve_database_url(settings)
    _with_engine(_nothing, url)  # a database that cannot be reached is one line, not a traceback
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    workers = args.workers or settings.workers
    print(f"GraphiQL: http://{host}:{port}/graphql", flush=True)
    if psql := _embedded_psql(settings, url):
        print(psql, flush=True)
    with _metrics_folder(settings, workers):
        signal.signal(signal.SIGTERM, _exit_cleanly)
        uvicorn.run(
            "gql_server.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level,
            log_config=request_log.logging_config(settings),  # applied in every worker
            access_log=False,  # ours (gql_server.access) says more
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
            timeout_keep_alive=settings.keepalive_seconds,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
            loop="uvloop",
            http="httptools",
            lifespan="on",
        )
    return 0


def _exit_cleanly(_signal: int, _frame: object) -> None:
    # uvicorn raises the SIGTERM it caught again once it has shut down gracefully. By then the
    # work is done: leave with status 0, through atexit (which stops the embedded PostgreSQL).
    raise SystemExit(0)


@contextmanager
def _metrics_folder(settings: Settings, workers: int) -> Iterator[None]:
    """Where the workers' metrics meet: `PROMETHEUS_MULTIPROC_DIR` (emptied of earlier processes'
    files), or a temporary folder when several workers run and none is set."""
    folder = settings.prometheus_multiproc_dir
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            if not stale.stem.endswith(f"_{os.getpid()}"):  # ours, if this process serves
                stale.unlink()
        yield
    elif workers > 1:
        with tempfile.TemporaryDirectory(prefix="gql-server-metrics-") as temporary:
            # Read by prometheus_client when each worker imports it, and by its settings.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = temporary
            yield
    else:
        yield


def cmd_token(args: argparse.Namespace) -> int:
    from uuid import UUID

    from sqlalchemy import select, text

    from gql_server import auth
    from gql_server.organizations import every_organization
    from models import Organization, Role, User

    settings = get_settings()
    if settings.jwt_asymmetric:
        raise Refused(
            f"with GQL_JWT_ALGORITHM={settings.jwt_algorithm} tokens are signed by your identity"
            " provider's private key; this command signs only with GQL_JWT_SECRET (HS256)"
        )

    async def find(engine: AsyncEngine) -> tuple[UUID, UUID, Role]:
        async with every_organization(engine) as connection:
            org_id = await connection.scalar(
                select(Organization.id).where(Organization.slug == args.org)
            )
            if org_id is None:
                raise Refused(
                    f"no organization {args.org!r} (`gql-server seed` fills acme, globex and"
                    " initech)"
                )
            # Rows are read under the tenant's row-level security, as the server would.
            await connection.execute(
                text("select set_config('app.tenant_id', :t, true)"), {"t": str(org_id)}
            )
            user = (
                await connection.execute(
                    select(User.id, User.role).where(
                        User.organization_id == org_id, User.username == args.user
                    )
                )
            ).one_or_none()
        if user is None:
            raise Refused(f"no user {args.user!r} in organization {args.org!r}")
        return user.id, org_id, user.role

    url = resolve_database_url(settings)
    user_id, org_id, role = _with_engine(find, url)
    token = auth.issue(
        settings, user_id=user_id, organization_id=org_id, role=role, ttl_seconds=args.ttl
    )
    if args.format == "header":
        print(f"Authorization: Bearer {token}")
    elif args.format == "banner":
        base_url = (args.base_url or _local_base_url(settings.host, settings.port)).rstrip("/")
        hours = (args.ttl or settings.token_ttl_seconds) / 3600
        print(_token_banner(token, f"{args.user}@{args.org}", base_url, hours))
        if psql := _embedded_psql(settings, url):
            print(f"{psql}\n")
    else:
        print(token)
    return 0


def _embedded_psql(settings: Settings, url: str) -> str | None:
    """How to open `psql` on the embedded database at `url`; None when DATABASE_URL is set."""
    if settings.database_url:
        return None
    command = embedded.psql_command(to_libpq(url))
    return f"The embedded PostgreSQL, while the server runs: {command}"


def _local_base_url(host: str, port: int) -> str:
    # A server listening on every interface is still reached through the loopback one.
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _token_banner(token: str, who: str, base_url: str, hours: float) -> str:
    query = '{"query": "{ viewer { username role } }"}'
    return "\n".join(
        [
            f"Token for {who}, valid {hours:g} h. Send it as a header:",
            "",
            f"  Authorization: Bearer {token}",
            "",
            f"  curl -s {base_url}/graphql -H 'Authorization: Bearer {token}' \\",
            f"    -H 'Content-Type: application/json' -d '{query}'",
            "",
            f"GraphiQL with the token filled in: {base_url}/graphql#token={token}",
            "",
        ]
    )


def cmd_reset(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.database_url:
        raise Refused(
            "DATABASE_URL is set: reset deletes only the embedded database (used without"
            " DATABASE_URL); drop and create DATABASE_URL's database with your own tools"
        )
    data_dir = settings.data_dir.resolve()
    if not data_dir.exists():
        print(f"no embedded database in {data_dir}: nothing to reset")
        return 0
    if not args.yes:
        print(f"Delete the embedded database in {data_dir}, every row in it? [y/N] ", end="")
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("not reset: nothing was deleted")
            return 1
    embedded.reset(data_dir)
    print(
        f"deleted the embedded database in {data_dir}; `make run` starts a new one"
        " (migrated, with the demo data)"
    )
    return 0


def cmd_export_schema(args: argparse.Namespace) -> int:
    from schema import schema

    sdl = schema.as_str() + "\n"
    if args.output == "-":
        sys.stdout.write(sdl)
    else:
        Path(args.output).write_text(sdl)
        print(f"schema written to {args.output}")
    return 0


def cmd_trust(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import DBAPIError

    from gql_server import trusted

    try:
        manifest = trusted.read_manifest(Path(args.manifest))
    except trusted.ManifestError as error:
        print(f"gql-server trust: {error}", file=sys.stderr)
        return 1
    try:
        stored = _with_engine(lambda engine: trusted.store(engine, manifest.documents))
    except DBAPIError as error:
        print(f"gql-server trust: the database refused: {error.orig}", file=sys.stderr)
        return 1
    print(
        f"{len(manifest.documents)} documents ({manifest.format} manifest):"
        f" {stored.added} added, {stored.updated} updated, {stored.unchanged} unchanged"
    )
    if manifest.unverified:
        print(f"{manifest.unverified} ids are not a hash of their document; trusted as given")
    return 0


def configure_logging(settings: Settings) -> None:
    """Our own messages at `GQL_LOG_LEVEL`, as JSON or text; libraries (pgserver, alembic) only
    when something is wrong."""
    from gql_server import request_log

    request_log.configure(settings)
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver copes.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gql-server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gql-server {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument(
        "--host", help=f"interface to listen on (default: GQL_HOST, else {_default('host')})"
    )
    serve.add_argument(
        "--port", type=int, help=f"port to listen on (default: GQL_PORT, else {_default('port')})"
    )
    serve.add_argument(
        "--workers",
        type=int,
        help=f"server processes (default: GQL_WORKERS, else {_default('workers')})",
    )
    serve.set_defaults(run=cmd_serve)

    mig = commands.add_parser("migrate", help="upgrade the database to the latest revision")
    mig.add_argument(
        "--check", action="store_true", help="exit 1 when models and migrations differ"
    )
    mig.set_defaults(run=cmd_migrate)

    distribute = commands.add_parser(
        "distribute", help="spread the tenants over a Citus cluster's workers (idempotent)"
    )
    distribute.set_defaults(run=cmd_distribute)

    seed = commands.add_parser("seed", help="fill the deterministic demo data")
    seed.add_argument(
        "--scale", type=float, help="benchmark dataset (1 = 10 orgs x 2,000 contents)"
    )
    seed.add_argument("--if-empty", action="store_true", help="only when no organization exists")
    seed.set_defaults(run=cmd_seed)

    token = commands.add_parser("token", help="print a token for a user (development helper)")
    token.add_argument("--org", required=True, help="organization slug, e.g. acme")
    token.add_argument("--user", required=True, help="username, e.g. admin")
    token.add_argument("--ttl", type=int, help="lifetime in seconds")
    token.add_argument(
        "--format",
        choices=["token", "header", "banner"],
        default="token",
        help="the bare token, an Authorization header, or a banner with curl and GraphiQL lines",
    )
    token.add_argument(
        "--base-url", help="where the server listens, for the banner (default from GQL_HOST/PORT)"
    )
    token.set_defaults(run=cmd_token)

    reset = commands.add_parser(
        "reset", help="delete the embedded database, to start over (asks first)"
    )
    reset.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    reset.set_defaults(run=cmd_reset)

    export = commands.add_parser("export-schema", help="write the SDL (default schema.graphql)")
    export.add_argument("output", nargs="?", default=str(ROOT / "schema.graphql"))
    export.set_defaults(run=cmd_export_schema)

    trust = commands.add_parser(
        "trust", help="trust a client's persisted-operation manifest (Apollo, Relay, Codegen)"
    )
    trust.add_argument("manifest", help="the JSON manifest the client build wrote")
    trust.set_defaults(run=cmd_trust)
    return parser


def _default(setting: str) -> object:
    """A setting's default, for help texts: what applies when neither option nor variable is
    given."""
    return DEFAULTS[setting].default


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help and --version need no settings
    try:
        configure_logging(get_settings())
        code: int = args.run(args)
    except FAILURES as failure:
        print(f"gql-server {args.command}: {failure}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
