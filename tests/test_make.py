"""The Makefile's verbs as a newcomer runs them: `make help` names them all, `make run` listens
where README's variables say, `make bench` takes the DATABASE_URL README documents."""

import asyncio
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.command import ROOT, START_TIMEOUT_SECONDS, environment, free_port
from tests.conftest import CreateDatabase


def make_environment(**settings: str) -> dict[str, str]:
    """As from a shell: no settings of the make that may be running these tests."""
    env = environment(**settings)
    for inherited in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(inherited, None)
    return env


def make(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def verbs() -> list[str]:
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert phony is not None
    return phony.group(1).split()


def test_make_help_names_every_verb_and_variable() -> None:
    done = make("help", env=make_environment())

    assert done.returncode == 0, done.stderr
    assert {"run", "serve", "check-migrations", "format", "bench-soak", "clean", "reset"} <= set(
        verbs()
    )
    for verb in verbs():
        assert re.search(rf"^make {re.escape(verb)}\b", done.stdout, re.MULTILINE), verb
    for variable in ("PORT", "HOST", "ORG", "USER_NAME", "DATABASE_URL", "BENCH_SECONDS"):
        assert variable in done.stdout, variable
    assert make(env=make_environment()).stdout == done.stdout  # help is the default goal


def test_host_and_port_given_to_make_win_over_the_environment() -> None:
    env = make_environment(GQL_HOST="127.0.0.2", GQL_PORT="8001")

    done = make("-n", "serve", "HOST=0.0.0.0", "PORT=8123", env=env)

    assert done.returncode == 0, done.stderr
    assert "gql-server serve --host 0.0.0.0 --port 8123" in done.stdout


async def test_make_run_listens_where_gql_host_and_gql_port_say(
    create_database: CreateDatabase,
) -> None:
    port = free_port()
    env = make_environment(
        DATABASE_URL=await create_database(), GQL_HOST="127.0.0.2", GQL_PORT=str(port)
    )
    process = await asyncio.create_subprocess_exec(
        "make",
        "--no-print-directory",
        "run",
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: make, and the server it runs
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with httpx.AsyncClient(base_url=f"http://127.0.0.2:{port}") as client:
            while True:
                assert process.returncode is None, "make run exited"
                assert time.monotonic() < deadline, "make run did not serve on GQL_HOST:GQL_PORT"
                try:
                    if (await client.get("/health/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 60)
    banner = output.decode()
    assert f"GraphiQL with the token filled in: http://127.0.0.2:{port}/graphql#token=" in banner
    assert f"GraphiQL: http://127.0.0.2:{port}/graphql" in banner


async def test_make_bench_takes_an_asyncpg_database_url(
    create_database: CreateDatabase, tmp_path: Path
) -> None:
    url = await create_database()
    assert url.startswith("postgresql+asyncpg://")  # the form README documents
    results = tmp_path / "latest.json"
    arguments = (
        f"--warmup 0.1 --concurrency 1 --scenarios node --load httpx --no-docs --output {results}"
    )

    done = await asyncio.to_thread(
        make,
        "bench",
        "BENCH_SECONDS=1",
        "BENCH_SCALE=0.001",
        f"BENCH_ARGS={arguments}",
        env=make_environment(DATABASE_URL=url),
    )

    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = json.loads(results.read_text())
    assert row["scenario"] == "node"
    for target in ("server", "naive", "floor"):
        assert row[target]["errors"] == 0, row
        assert row[target]["requests"] > 0, row
