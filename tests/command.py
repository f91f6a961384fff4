"""The real `gql-server` command in a subprocess, as a user runs it: its output and exit status,
and servers that can be stopped cleanly or killed the hard way."""

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
GQL_SERVER = ROOT / ".venv" / "bin" / "gql-server"
# A loaded machine starts Python, PostgreSQL and the app slowly; a healthy one in seconds.
START_TIMEOUT_SECONDS = 90


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any of the server's settings, plus `settings`."""
    ours = ("GQL_", "OTEL_", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR")
    inherited = {name: value for name, value in os.environ.items() if not name.startswith(ours)}
    return {**inherited, "GQL_LOG_LEVEL": "warning", **settings}


def run(
    *args: str, env: dict[str, str], stdin: str = "", timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GQL_SERVER), *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """What a failed command said: exactly one line on stderr, no traceback, and status 1."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@contextmanager
def scratch_folder() -> Iterator[Path]:
    """A folder for an embedded PostgreSQL's data, deleted afterwards. Not under pytest's
    tmp_path: as root, pgserver runs PostgreSQL as another user, which must traverse the folder's
    parents, and every pytest session starting meanwhile makes /tmp/pytest-of-root private."""
    with tempfile.TemporaryDirectory(prefix="gql-test-embedded-") as folder:
        yield Path(folder) / "pgdata"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health/ready", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> int:
        """SIGTERM, as an orchestrator stops it; its exit status."""
        self.process.terminate()
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        """SIGKILL: no exit handler runs (waited for, so it leaves no zombie behind)."""
        self.process.kill()
        self.process.wait(timeout=60)


@contextmanager
def serving(env: dict[str, str], *args: str, log: Path | None = None) -> Iterator[Served]:
    """`gql-server serve` on a free port, once it answers /health/ready."""
    port = free_port()
    with open(log or os.devnull, "ab") as output:
        process = subprocess.Popen(
            [str(GQL_SERVER), "serve", "--port", str(port), *args],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=output,
        )
    served = Served(process, port)

    def said() -> str:
        return f", its log:\n{log.read_text()}" if log else ""

    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not served.ready():
            assert process.poll() is None, f"gql-server serve exited ({process.returncode}){said()}"
            assert time.monotonic() < deadline, f"gql-server serve did not become ready{said()}"
            time.sleep(0.05)
        yield served
    finally:
        if process.poll() is None:
            served.stop()


@contextmanager
def serving_on(database_url: str, log: Path, **settings: str) -> Iterator[str]:
    """`gql-server serve` on `database_url` (the suite's database), with `GQL_*` settings;
    yields its base URL."""
    env = {**os.environ, "DATABASE_URL": database_url, "GQL_LOG_LEVEL": "warning", **settings}
    with serving(env, "--host", "127.0.0.1", log=log) as served:
        yield served.url
