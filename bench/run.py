"""`make bench`: the server, the N+1 baseline and the raw-SQL floor, over HTTP on loopback.

    python -m bench.run [--seconds 20] [--scale 1] [--workers 1] [--load auto|wrk|httpx]
    python -m bench.run --soak [--soak-seconds 60]

One target at a time is started as its own process (uvicorn, `--workers N`), every scenario is
checked for a correct, error-free answer, then driven at each concurrency for a warm-up and a
timed run while the target's memory is sampled. Results go to stdout, bench/results/latest.json
and docs/benchmarks.md. See bench/README.md.
"""

import argparse
import asyncio
import base64
import os
import pickle
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from bench import load, report, scenarios
from bench.capture import capture
from bench.database import ROOT, DatabaseError, execute_as_tenant, gql_server
from bench.database import prepare as prepare_database
from bench.processes import MemorySampler, Served
from bench.scenarios import SCENARIOS, Fixtures, Scenario
from bench.targets import RESULTS, Plan, Results, Setup, graphql, headers, run_target, start

STUDENT = "student001"
# Settings of every process the bench starts, and of the in-process capture.
SERVER_SETTINGS = {
    "GQL_LOG_LEVEL": "warning",  # no access-log line per request, for every target alike
    "GQL_SQL_STATEMENTS_IN_RESPONSE": "true",  # extensions.sqlStatements, whatever the env
    # `deep` is 14 fields deep (edges and node count); the server refuses more than 10 by
    # default. The bench measures execution, not the limit.
    "GQL_MAX_DEPTH": "16",
    # The scenarios measure execution: the response cache is measured apart (`nested (cached)`).
    "GQL_RESPONSE_CACHE": "false",
}
CACHED = "nested"  # the scenario also measured with the response cache on


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--seconds", type=float, default=20, help="timed run per measurement")
    parser.add_argument("--warmup", type=float, help="warm-up per measurement (default: s/4, 1-5)")
    parser.add_argument("--scale", type=float, default=1, help="dataset: gql-server seed --scale")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of each target")
    parser.add_argument("--concurrency", default="1,16", help="comma-separated connection counts")
    parser.add_argument(
        "--scenarios",
        default=",".join(s.name for s in SCENARIOS),
        help="comma-separated subset of: " + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument("--load", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--org", default="scale-001", help="the organization the requests use")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data" / "bench-postgres")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--soak", action="store_true", help="memory check: `nested` at c=16")
    parser.add_argument("--soak-seconds", type=float, default=60)
    args = parser.parse_args(argv)
    unknown = set(args.scenarios.split(",")) - set(scenarios.BY_NAME)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.seconds <= 0 or args.workers < 1:
        parser.error("--seconds must be positive and --workers at least 1")
    return args


def prepare(args: argparse.Namespace) -> Setup:
    database = prepare_database(args.scale, args.data_dir, os.environ.get("DATABASE_URL"))
    tokens = {
        "admin": gql_server("token", "--org", args.org, "--user", "admin", url=database.url),
        "student": gql_server("token", "--org", args.org, "--user", STUDENT, url=database.url),
    }
    env = {
        **os.environ,
        "DATABASE_URL": database.url,
        "BENCH_DATABASE_URL": database.url,
        "PYTHONPATH": str(ROOT),
    }
    return Setup(database, args.org, tokens, env)


def global_pk(global_id: str) -> UUID:
    raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
    return UUID(raw.partition(":")[2])


@dataclass(frozen=True, slots=True)
class MutationTarget:
    content: UUID
    student: UUID
    had_rating: bool


def find_fixtures(server: Served, setup: Setup) -> tuple[Fixtures, MutationTarget]:
    query = scenarios.FIXTURE_QUERY.replace("{ id }", "{ id viewerRating { score } }")
    data = graphql(server, setup.tokens["student"], "{ viewer { id } " + query[1:])
    node = data["contents"]["edges"][0]["node"]
    rating = node["viewerRating"]
    fixtures = Fixtures(node["id"], rating["score"] if rating else 3)
    target = MutationTarget(global_pk(node["id"]), global_pk(data["viewer"]["id"]), bool(rating))
    return fixtures, target


def clean_up(setup: Setup, target: MutationTarget) -> None:
    """Take back what the mutation scenario wrote, so the dataset stays as seeded."""
    url, org = setup.database.url, setup.org
    delete = "delete from comments where content_id = $1 and body = $2 returning 1"
    asyncio.run(execute_as_tenant(url, org, delete, target.content, scenarios.BENCH_COMMENT))
    if not target.had_rating:
        delete = "delete from ratings where content_id = $1 and user_id = $2 returning 1"
        asyncio.run(execute_as_tenant(url, org, delete, target.content, target.student))


def benchmark(
    args: argparse.Namespace, setup: Setup, plan: Plan
) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows of latest.json, and notes on what went wrong along the way."""
    selected = [scenarios.BY_NAME[name] for name in args.scenarios.split(",")]
    skipped: dict[str, str] = {}
    expected: dict[str, Any] = {}  # the server's checked data, which the naive one must match
    results: Results = {}
    requests: dict[str, load.Request] = {}
    notes: list[str] = []

    print(f"server: gql-server serve --workers {plan.workers}", flush=True)
    server = start("server", setup, plan.workers)
    try:
        fixtures, target = find_fixtures(server, setup)
        clean_up(setup, target)
        mutation_data = graphql(server, setup.tokens["admin"], scenarios.MUTATIONS_QUERY)
        mutation_type = mutation_data["__type"] or {"fields": []}
        mutations = {field["name"] for field in mutation_type["fields"]}
        for scenario in selected:
            missing = [name for name in scenario.needs_mutations if name not in mutations]
            if missing:
                skipped[scenario.name] = (
                    f"mutation(s) {', '.join(missing)} not in the server's schema yet"
                )
                print(f"  {scenario.name}: skipped, {skipped[scenario.name]}", flush=True)
                continue
            requests[scenario.name] = load.Request(
                "", scenario.body(fixtures), headers(setup.tokens[scenario.viewer])
            )

        def check_server(scenario: Scenario, status: int, body: bytes) -> tuple[str | None, Any]:
            problem = scenarios.problem(scenario, status, body, fixtures)
            if problem:
                return problem, None
            payload = orjson.loads(body)
            expected[scenario.name] = scenarios.normalized(payload["data"])
            return None, (payload.get("extensions") or {}).get("sqlStatements")

        active = [scenario for scenario in selected if scenario.name in requests]
        run_target("server", server, active, requests, check_server, plan, results)
    finally:
        server.stop()
    cached = [scenario for scenario in active if scenario.name == CACHED]
    if cached:
        print(f"server, response cache on: {CACHED} (every request after the first a hit)")
        server = start("server", setup, plan.workers, env={"GQL_RESPONSE_CACHE": "true"})
        try:
            body, request_headers = requests[CACHED].body, requests[CACHED].headers
            # The first answer is read and kept: the check and the timed run then see hits.
            load.send_once(load.Request(server.base_url + "/graphql", body, request_headers))
            run_target("cached", server, cached, requests, check_server, plan, results)
        finally:
            server.stop()

    first = plan.concurrency[0]
    active = [s for s in active if "skipped" not in results.get((s.name, first, "server"), {})]
    captured = asyncio.run(
        capture(
            setup.database.url,
            {s.name: (requests[s.name].body, requests[s.name].headers) for s in active},
        )
    )
    for name, statements in captured.items():
        if statements.reported is not None and statements.reported != len(statements.statements):
            notes.append(
                f"{name}: captured {len(statements.statements)} statements,"
                f" the server reported {statements.reported}"
            )
    capture_file = RESULTS / "floor-statements.pickle"
    capture_file.write_bytes(
        pickle.dumps({name: list(c.statements) for name, c in captured.items()})
    )

    def check_naive(scenario: Scenario, status: int, body: bytes) -> tuple[str | None, Any]:
        problem = scenarios.problem(scenario, status, body, fixtures)
        if problem:
            return problem, None
        payload = orjson.loads(body)
        if scenario.name in expected and not scenario.needs_mutations:
            difference = scenarios.first_difference(
                expected[scenario.name], scenarios.normalized(payload["data"])
            )
            if difference:
                return f"answers differ from the server's: {difference}", None
        return None, payload["extensions"]["sqlStatements"]

    def check_floor(scenario: Scenario, status: int, body: bytes) -> tuple[str | None, Any]:
        statements = captured[scenario.name].statements
        if status != 200:
            return f"HTTP {status}: {body[:300]!r}", None
        if len(orjson.loads(body)) != len(statements):
            return "not one result per statement", None
        return None, len(statements)

    for name, check in (("naive", check_naive), ("floor", check_floor)):
        print(f"{name}: bench/{name}/app.py --workers {plan.workers}", flush=True)
        served = start(name, setup, plan.workers, capture_file if name == "floor" else None)
        try:
            run_target(name, served, active, requests, check, plan, results)
        finally:
            served.stop()
    clean_up(setup, target)

    rows = []
    for scenario in selected:
        for concurrency in plan.concurrency:
            if scenario.name in skipped:
                rows.append(
                    {
                        "scenario": scenario.name,
                        "concurrency": concurrency,
                        "skipped": skipped[scenario.name],
                        "server": None,
                        "naive": None,
                        "floor": None,
                    }
                )
                continue
            by_target = {
                target: results.get((scenario.name, concurrency, target))
                for target in report.TARGETS
            }
            rows.append(report.row(scenario.name, concurrency, by_target))
        if scenario.name == CACHED and scenario in active:
            for concurrency in plan.concurrency:
                by_target = {"server": results.get((scenario.name, concurrency, "cached"))}
                rows.append(report.row(f"{scenario.name} (cached)", concurrency, by_target))
    for line in rows:
        for name in report.TARGETS:
            result = line.get(name)
            if isinstance(result, dict) and result.get("errors"):
                notes.append(
                    f"{name} {line['scenario']} (c={line['concurrency']}):"
                    f" {result['errors']} failed requests during the timed run"
                )
    return rows, notes


def soak(args: argparse.Namespace, setup: Setup, plan: Plan) -> dict[str, Any]:
    """`nested` at concurrency 16 for --soak-seconds: peak RSS, and RSS at 20 s vs at the end."""
    scenario = scenarios.BY_NAME["nested"]
    server = start("server", setup, plan.workers)
    try:
        fixtures, _ = find_fixtures(server, setup)
        request = load.Request(
            server.base_url + "/graphql",
            scenario.body(fixtures),
            headers(setup.tokens[scenario.viewer]),
        )
        status, body = load.send_once(request)
        problem = scenarios.problem(scenario, status, body, fixtures)
        if problem:
            raise SystemExit(f"nested is not answered correctly: {problem}")
        idle = server.rss_mb()
        with MemorySampler(server, interval=1.0) as memory:
            result = load.run(plan.tool, request, 16, args.soak_seconds)
        hwm = server.hwm_mb()
    finally:
        server.stop()
    at_20, at_end = memory.at(20.0), memory.samples[-1][1] if memory.samples else 0.0
    return {
        "scenario": "nested",
        "concurrency": 16,
        "seconds": args.soak_seconds,
        "workers": plan.workers,
        "rps": round(result.rps, 1),
        "errors": result.errors,
        "idle_rss_mb": round(idle, 1),
        "peak_rss_mb": round(memory.peak_mb, 1),
        "vm_hwm_mb": round(hwm, 1),
        "rss_at_20s_mb": round(at_20, 1),
        "rss_at_end_mb": round(at_end, 1),
        "growth_after_20s_mb": round(at_end - at_20, 1),
        "timeline": [(round(at, 1), round(mb, 1)) for at, mb in memory.samples],
    }


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args = parse_args(argv)
    os.environ.update(SERVER_SETTINGS)
    warmup = args.warmup if args.warmup is not None else min(5.0, max(1.0, args.seconds / 4))
    concurrency = tuple(int(c) for c in args.concurrency.split(","))
    plan = Plan(args.seconds, warmup, concurrency, load.choose(args.load), args.workers)
    RESULTS.mkdir(parents=True, exist_ok=True)
    try:
        setup = prepare(args)
    except DatabaseError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else f"embedded in {args.data_dir}"
    print(
        f"dataset --scale {args.scale:g} ({where}, PostgreSQL {setup.database.server_version});"
        f" load generator: {plan.tool}",
        flush=True,
    )

    if args.soak:
        found = soak(args, setup, plan)
        (RESULTS / "soak.json").write_bytes(orjson.dumps(found, option=orjson.OPT_INDENT_2))
        print(
            f"soak: nested c=16 for {found['seconds']:g} s: {found['rps']} req/s,"
            f" errors {found['errors']}; RSS idle {found['idle_rss_mb']} MB,"
            f" peak {found['peak_rss_mb']} MB, at 20 s {found['rss_at_20s_mb']} MB,"
            f" at the end {found['rss_at_end_mb']} MB"
            f" (growth after 20 s: {found['growth_after_20s_mb']:+} MB)"
        )
        return 0

    busy_before = os.getloadavg()[0]
    rows, run_warnings = benchmark(args, setup, plan)
    busy = max(busy_before, os.getloadavg()[0])
    if busy > (os.cpu_count() or 1) / 2:
        run_warnings.append(
            f"the machine was busy with other work (1-minute load average up to {busy:.1f}"
            f" on {os.cpu_count()} cores, before or after the run): expect noisy numbers"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    print()
    print(report.table(rows))
    for note in report.skipped_notes(rows) + run_warnings:
        print(f"note: {note}")
    print(f"\nresults: {args.output}")
    if not args.no_docs:
        machine = report.Machine.here(setup.database.server_version)
        settings = {
            "command": f"make bench BENCH_SECONDS={args.seconds:g} BENCH_SCALE={args.scale:g}"
            f" BENCH_WORKERS={args.workers}",
            "database": where.split(" in ")[0],
            "scale": args.scale,
            "seconds": args.seconds,
            "warmup": warmup,
            "workers": args.workers,
            "tool": plan.tool,
        }
        report.write_docs(args.docs, report.section(rows, machine, settings, run_warnings))
        print(f"table written to {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
