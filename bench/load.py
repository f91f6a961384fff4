"""Load generators: `wrk` with a Lua script when it is installed, else asyncio + httpx.

Both send one fixed request (method POST, body, headers) from `concurrency` connections for a
fixed time and report requests/s and latency percentiles. The httpx generator runs in a process
of its own (`python -m bench.load SPEC.json`) so that it never shares a CPU with the harness's
memory sampler, just as wrk does not.
"""

import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

MAX_REQUESTS = 50_000_000  # a bound on every generator loop, far above what a run reaches


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int  # failed connections, non-2xx answers, and (httpx only) bodies with "errors"
    tool: str


def choose(preferred: str) -> str:
    """ "wrk" when asked for or when it is on PATH (unless "httpx" is asked for)."""
    if preferred == "auto":
        return "wrk" if shutil.which("wrk") else "httpx"
    if preferred == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--load wrk: wrk is not installed (apt-get install wrk), or use httpx")
    return preferred


def run(tool: str, request: Request, concurrency: int, seconds: float) -> LoadResult:
    if tool == "wrk":
        return run_wrk(request, concurrency, seconds)
    return run_httpx(request, concurrency, seconds)


def send_once(request: Request, timeout: float = 60) -> tuple[int, bytes]:
    response = httpx.post(
        request.url, content=request.body, headers=request.headers, timeout=timeout
    )
    return response.status_code, response.content


# --- wrk ---------------------------------------------------------------------------------------

_LUA = """
wrk.method = "POST"
wrk.body = [==[%(body)s]==]
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT %%d %%d %%d %%d %%d %%d\\n",
    summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def run_wrk(request: Request, concurrency: int, seconds: float) -> LoadResult:
    body = request.body.decode()
    if "]==]" in body:
        raise ValueError("the body cannot be quoted for Lua")
    headers = "\n".join(
        f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}"
        for name, value in request.headers.items()
    )
    threads = max(1, min(concurrency, os.cpu_count() or 1))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA % {"body": body, "headers": headers})
    try:
        done = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{concurrency}",
                f"-d{max(1, math.ceil(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                script.name,
                request.url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        Path(script.name).unlink()
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    requests, duration_us, errors, p50, p95, p99 = (int(v) for v in line.split()[1:])
    elapsed = duration_us / 1e6
    return LoadResult(
        requests=requests,
        seconds=elapsed,
        rps=requests / elapsed if elapsed else 0.0,
        p50_ms=p50 / 1000,
        p95_ms=p95 / 1000,
        p99_ms=p99 / 1000,
        errors=errors,
        tool="wrk",
    )


# --- httpx -------------------------------------------------------------------------------------


def run_httpx(request: Request, concurrency: int, seconds: float) -> LoadResult:
    spec = {
        "url": request.url,
        "body": request.body.decode(),
        "headers": request.headers,
        "concurrency": concurrency,
        "seconds": seconds,
    }
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as file:
        file.write(orjson.dumps(spec))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.load", file.name],
            capture_output=True,
            timeout=seconds + 120,
            check=False,
            cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        Path(file.name).unlink()
    if done.returncode != 0:
        raise RuntimeError(f"httpx load generator failed: {done.stderr.decode()[-2000:]}")
    return LoadResult(**orjson.loads(done.stdout))


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


async def generate(request: Request, concurrency: int, seconds: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal errors
            for _ in range(MAX_REQUESTS):
                if time.perf_counter() >= deadline:
                    return
                sent = time.perf_counter()
                try:
                    response = await client.post(
                        request.url, content=request.body, headers=request.headers
                    )
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                if response.status_code >= 300 or b'"errors"' in response.content:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return LoadResult(
        requests=len(latencies),
        seconds=elapsed,
        rps=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p95_ms=percentile(latencies, 0.95) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        errors=errors,
        tool="httpx",
    )


def main(argv: list[str]) -> int:
    spec: dict[str, Any] = orjson.loads(Path(argv[0]).read_bytes())
    request = Request(spec["url"], spec["body"].encode(), spec["headers"])
    coroutine = generate(request, spec["concurrency"], spec["seconds"])
    try:
        import uvloop

        result = uvloop.run(coroutine)
    except ImportError:  # uvloop is optional here: asyncio's own loop works, a little slower
        result = asyncio.run(coroutine)
    sys.stdout.write(orjson.dumps(asdict(result)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
