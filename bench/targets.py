"""Targets: the server and the two baselines, started as processes, checked, then measured."""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench import load
from bench.database import ROOT, BenchDatabase
from bench.processes import HOST, MemorySampler, Served, free_port
from bench.scenarios import Scenario

RESULTS = ROOT / "bench" / "results"
Check = Callable[[Scenario, int, bytes], tuple[str | None, Any]]  # -> (problem, SQL count)
Results = dict[tuple[str, int, str], dict[str, Any]]  # (scenario, concurrency, target) -> ...


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: float
    warmup: float
    concurrency: tuple[int, ...]
    tool: str
    workers: int


@dataclass(frozen=True, slots=True)
class Setup:
    database: BenchDatabase
    org: str
    tokens: dict[str, str]  # viewer ("admin", "student") -> bearer token
    env: dict[str, str]


def headers(token: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}


def start(
    name: str,
    setup: Setup,
    workers: int,
    capture_file: Path | None = None,
    env: dict[str, str] | None = None,
) -> Served:
    port = free_port()
    if name == "server":
        cli = str(Path(sys.executable).with_name("gql-server"))
        argv = [cli, "serve", "--host", HOST, "--port", str(port), "--workers", str(workers)]
    else:
        argv = [sys.executable, "-m", f"bench.{name}.app", "--port", str(port)]
        argv += ["--workers", str(workers)]
    env = {**setup.env, **(env or {})}
    if capture_file is not None:
        env["BENCH_CAPTURE"] = str(capture_file)
    served = Served(name, argv, env, port, RESULTS / "logs")
    served.start("/health/live")
    return served


def graphql(served: Served, token: str, query: str) -> dict[str, Any]:
    body = orjson.dumps({"query": query})
    status, answer = load.send_once(
        load.Request(served.base_url + "/graphql", body, headers(token))
    )
    payload: dict[str, Any] = orjson.loads(answer)
    if status != 200 or payload.get("errors"):
        raise RuntimeError(f"{served.name} refused a set-up query: {answer[:500]!r}")
    return payload["data"]  # type: ignore[no-any-return]


def drain(served: Served) -> None:
    if not served.wait_idle():
        print(f"  {served.name} still busy after 60 s; measuring anyway", flush=True)


def measure(
    served: Served,
    scenario: str,
    request: load.Request,
    concurrency: int,
    plan: Plan,
    sql: Any,
    size: int,
) -> dict[str, Any]:
    drain(served)
    with MemorySampler(served) as memory:
        load.run(plan.tool, request, concurrency, plan.warmup)
        drain(served)  # the warm-up's unfinished requests are not the timed run's
        cpu_before = served.cpu_seconds()
        result = load.run(plan.tool, request, concurrency, plan.seconds)
        cpu = served.cpu_seconds() - cpu_before
    done = result.requests > 0  # else no latency was measured: not a 0 ms one
    # The served processes' CPU per answered request (the database's is not counted).
    cpu_ms = round(1000 * cpu / result.requests, 2) if done else None
    measured = {
        "rps": round(result.rps, 1),
        "p50_ms": round(result.p50_ms, 2) if done else None,
        "p95_ms": round(result.p95_ms, 2) if done else None,
        "p99_ms": round(result.p99_ms, 2) if done else None,
        "cpu_ms": cpu_ms,
        "sql_statements": sql,
        "bytes": size,
        "peak_rss_mb": round(memory.peak_mb, 1),
        "requests": result.requests,
        "errors": result.errors,
    }
    print(
        f"  {served.name:6} {scenario:8} c={concurrency:<3}"
        f" {result.rps:9.1f} req/s  p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms"
        f"  cpu {cpu_ms} ms/req  sql {sql}  errors {result.errors}  rss {memory.peak_mb:.0f} MB",
        flush=True,
    )
    return measured


def run_target(
    name: str,
    served: Served,
    selected: list[Scenario],
    requests: dict[str, load.Request],
    check: Check,
    plan: Plan,
    results: Results,
) -> None:
    """Check every scenario on `served`, then measure those that answered correctly."""
    for scenario in selected:
        request = requests[scenario.name]
        if name == "floor":
            request = load.Request(
                f"{served.base_url}/floor/{scenario.name}", request.body, request.headers
            )
        else:
            request = load.Request(served.base_url + "/graphql", request.body, request.headers)
        status, body = load.send_once(request)
        problem, sql = check(scenario, status, body)
        if problem:
            print(f"  {name:6} {scenario.name:8} skipped: {problem}", flush=True)
            for concurrency in plan.concurrency:
                results[(scenario.name, concurrency, name)] = {"skipped": problem}
            continue
        for concurrency in plan.concurrency:
            results[(scenario.name, concurrency, name)] = measure(
                served, scenario.name, request, concurrency, plan, sql, len(body)
            )
