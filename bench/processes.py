"""The served processes: start one on a free loopback port, wait until it answers, sample its
memory (the process and its workers), stop it."""

import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import psutil

HOST = "127.0.0.1"  # every process of the bench listens and connects on loopback only
READY_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Served:
    """One HTTP server process tree (uvicorn with `--workers N`), started by the bench."""

    def __init__(
        self, name: str, argv: list[str], env: dict[str, str], port: int, log_dir: Path
    ) -> None:
        self.name, self.argv, self.env, self.port = name, argv, env, port
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready_path: str) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parent.parent,
                start_new_session=True,  # its own process group: stopped as a whole below
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(self.base_url + ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {READY_TIMEOUT:.0f} s")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def processes(self) -> list[psutil.Process]:
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_mb(self) -> float:
        total = 0
        for process in self.processes():
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 2**20

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the processes have used so far."""
        total = 0.0
        for process in self.processes():
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        return total

    def hwm_mb(self) -> float:
        """Sum of the processes' VmHWM: each one's peak resident size over its whole life."""
        total = 0
        for process in self.processes():
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        return total / 2**20

    def wait_idle(self, timeout: float = 60.0, busy_percent: float = 10.0) -> bool:
        """Wait until the processes use (almost) no CPU, so that requests a load generator
        abandoned at the end of a run (the server still finishes them) do not eat into the next
        one. False when they are still busy after `timeout` seconds."""
        processes = self.processes()
        for process in processes:
            process.cpu_percent(None)  # the first reading only starts the interval
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.25)
            busy = 0.0
            for process in processes:
                try:
                    busy += process.cpu_percent(None)
                except psutil.NoSuchProcess:
                    continue
            if busy < busy_percent:
                return True
        return False

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # uvicorn shuts down its workers on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group the bench created for it
            process.wait(timeout=10)


@dataclass
class MemorySampler:
    """Samples a served tree's total RSS in a thread while a measurement runs."""

    served: Served
    interval: float = 0.1
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def peak_mb(self) -> float:
        return max((mb for _, mb in self.samples), default=0.0)

    def at(self, seconds: float) -> float:
        """RSS of the last sample taken at or before `seconds`."""
        before = [mb for at, mb in self.samples if at <= seconds]
        return before[-1] if before else 0.0

    def __enter__(self) -> "MemorySampler":
        started = time.monotonic()

        def sample() -> None:
            while not self._stop.is_set():
                self.samples.append((time.monotonic() - started, self.served.rss_mb()))
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
