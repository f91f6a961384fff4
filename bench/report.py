"""The results: rows for `bench/results/latest.json`, the table, and `docs/benchmarks.md`."""

import os
import platform
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGETS = ("server", "naive", "floor")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


@dataclass(frozen=True, slots=True)
class Machine:
    cores: int
    cpu: str
    python: str
    postgresql: str
    date: str

    @classmethod
    def here(cls, postgresql: str) -> "Machine":
        cpu = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return cls(
            cores=os.cpu_count() or 1,
            cpu=cpu,
            python=platform.python_version(),
            postgresql=postgresql,
            date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )


def ratio(numerator: Any, denominator: Any) -> float | None:
    if not isinstance(numerator, dict) or not isinstance(denominator, dict):
        return None
    top, bottom = numerator.get("rps"), denominator.get("rps")
    if not top or not bottom:
        return None
    return round(float(top) / float(bottom), 4)


def row(scenario: str, concurrency: int, by_target: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {"scenario": scenario, "concurrency": concurrency}
    for target in TARGETS:
        found[target] = by_target.get(target)
    found["server_vs_floor"] = ratio(found["server"], found["floor"])
    found["server_vs_naive"] = ratio(found["server"], found["naive"])
    return found


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _cells(result: Any, *keys: str) -> list[str]:
    if result is None:  # not measured for this row (the cached server row: no baselines)
        return ["-"] * len(keys)
    if not isinstance(result, dict) or "rps" not in result:
        return ["skipped"] + ["-"] * (len(keys) - 1)
    return [_number(result.get(key)) for key in keys]


def table(rows: list[dict[str, Any]]) -> str:
    header = (
        "| scenario | c | server req/s | p50 ms | p95 ms | p99 ms | CPU ms/req | SQL/req | bytes"
        " | peak RSS MB | naive req/s | naive p50 | naive CPU ms/req | naive SQL | floor req/s"
        " | floor p50 | floor CPU ms/req | floor SQL"
        " | server/floor | server/naive |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for found in rows:
        if found.get("skipped"):
            lines.append(
                f"| {found['scenario']} | {found['concurrency']} | skipped: {found['skipped']}"
                + " |" * 17
            )
            continue
        server = _cells(
            found["server"],
            "rps",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "cpu_ms",
            "sql_statements",
            "bytes",
            "peak_rss_mb",
        )
        naive = _cells(found["naive"], "rps", "p50_ms", "cpu_ms", "sql_statements")
        floor = _cells(found["floor"], "rps", "p50_ms", "cpu_ms", "sql_statements")
        to_floor, to_naive = found["server_vs_floor"], found["server_vs_naive"]
        cells = [
            found["scenario"],
            str(found["concurrency"]),
            *server,
            *naive,
            *floor,
            "-" if to_floor is None else f"{to_floor:.0%}",
            "-" if to_naive is None else f"{to_naive:.1f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def skipped_notes(rows: list[dict[str, Any]]) -> list[str]:
    notes = []
    for found in rows:
        for target in TARGETS:
            result = found.get(target)
            if isinstance(result, dict) and result.get("skipped"):
                note = (
                    f"{target} {found['scenario']} (c={found['concurrency']}): {result['skipped']}"
                )
                if note not in notes:
                    notes.append(note)
    return notes


def section(
    rows: list[dict[str, Any]], machine: Machine, settings: dict[str, Any], warnings: list[str]
) -> str:
    lines = [
        BEGIN,
        f"Last run: {machine.date} — `{settings['command']}`",
        "",
        f"- machine: {machine.cores} cores, {machine.cpu}; Python {machine.python};"
        f" PostgreSQL {machine.postgresql} ({settings['database']})",
        f"- dataset: `--scale {settings['scale']:g}`; {settings['seconds']:g} s per measurement"
        f" after a {settings['warmup']:g} s warm-up; {settings['workers']} worker(s) each;"
        f" load generator: {settings['tool']}; server, generator and PostgreSQL share the machine",
        "",
        table(rows),
        "",
    ]
    notes = skipped_notes(rows) + warnings
    if notes:
        lines += ["Notes from the run:", "", *[f"- {note}" for note in notes], ""]
    lines.append(END)
    return "\n".join(lines)


DOC_HEAD = """# Benchmarks

`make bench` measures the server against two baselines on the same data and the same queries:
**naive** (plain resolvers, one query per parent: the N+1 floor) and **floor** (the server's own
SQL statements replayed with asyncpg and serialized with orjson, no GraphQL). `server/floor` is
the share of the raw-SQL throughput the server reaches (the headline); `server/naive` is how
many times faster than N+1 resolvers it is. Columns are explained in `bench/README.md`.

The section below is rewritten by every `make bench`; the notes after it are kept.

"""


def write_docs(path: Path, generated: str) -> None:
    if path.exists():
        text = path.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
        if pattern.search(text):
            path.write_text(pattern.sub(lambda _: generated, text, count=1))
            return
        path.write_text(text.rstrip() + "\n\n" + generated + "\n")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DOC_HEAD + generated + "\n")
