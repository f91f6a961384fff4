"""pgserver's PostgresServer (checked against 0.1.4), made safe to adopt after a crash and to
stop by whichever process uses it last. Imported only when the embedded database is used.

pgserver takes a server for running as long as the process that postmaster.pid names exists.
After a `kill -9` that process is a zombie until its new parent reaps it (a container's init may
take seconds, or never), so pgserver adopted a dead server (every connection refused) and then
failed to stop it, with a traceback at exit. PostgreSQL itself refuses to start while that pid
exists, or while the dead server's backends still hold its shared memory. Here a server counts
as running only when its postmaster is alive and works in this data folder; otherwise what is
left of it is ended before a new one starts.
"""

import atexit
import contextlib
import logging
import os
import subprocess
import time
from pathlib import Path

import psutil
from pgserver._commands import POSTGRES_BIN_PATH
from pgserver.postgres_server import PostgresServer
from pgserver.utils import DiskList, ensure_prefix_permissions, find_suitable_socket_dir

from gql_server.embedded import StartFailed

log = logging.getLogger(__name__)

# pg_ctl's own limits for a start (which may replay the WAL of a crash) and a stop; pgserver
# gave a start 10 s, which a loaded machine can exceed.
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 60
# A dead server's processes are killed; this is how long they may take to go.
LEFTOVERS_TIMEOUT_SECONDS = 30


class EmbeddedServer(PostgresServer):
    """A PostgreSQL in `pgdata`, started or adopted; the last live process to release it stops
    it. Every process using it is listed in the folder (`.handle_pids.json`)."""

    def __init__(self, pgdata: Path) -> None:
        self.holds = 0  # this process's starts not released yet (gql_server.embedded)
        self.released = False
        # Not pgserver's cleanup: it stops the server only when the list holds exactly this
        # process, so a process that died listed kept the server running for good.
        super().__init__(pgdata, cleanup_mode=None)
        atexit.register(self.cleanup)

    def ensure_postgres_running(self) -> None:
        """Adopt the server running in the folder, or start one (after ending what is left of
        a server that died); then it answers. Called with the lock held, as pgserver does."""
        if running_postmaster(self.pgdata) is None:
            end_leftovers(self.pgdata)
            self._start()
            log.info("embedded PostgreSQL started in %s", self.pgdata)
        _until_ready(self.pgdata)
        super().ensure_postgres_running()  # adopts the running server

    def _start(self) -> None:
        socket_dir = find_suitable_socket_dir(self.pgdata, self.runtime_path)
        if self.system_user is not None and socket_dir != self.pgdata:
            # As pgserver: the server's system user makes its socket there.
            ensure_prefix_permissions(socket_dir)
            socket_dir.chmod(0o777)
        options = ["-o", '-h ""', "-o", f"-k {socket_dir}"]  # a Unix socket only, no TCP port
        logged = self.log.stat().st_size if self.log.exists() else 0
        try:
            pg_ctl(
                self.pgdata,
                self.system_user,
                ["-w", "-t", str(START_TIMEOUT_SECONDS), *options, "-l", str(self.log), "start"],
                timeout=START_TIMEOUT_SECONDS,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            raise StartFailed(
                f"the embedded PostgreSQL in {self.pgdata} did not start"
                f"{_last_fatal(self.log, logged)}; its log: {self.log}"
            ) from None

    def cleanup(self) -> None:
        """This process is done with the server; it stops when no live process uses it."""
        with self._lock:
            if self.released:
                return
            self.released = True
            users = forget_departed(self.pgdata)
            if os.getpid() in users:
                users.remove(os.getpid())
                DiskList(self.pgdata / ".handle_pids.json").put(users)
            if not users:
                stop(self.pgdata, self.system_user)


def running_postmaster(pgdata: Path) -> psutil.Process | None:
    """The live postmaster of `pgdata`, as postmaster.pid names it; None when the file is
    missing or names a process that is gone, a zombie, or another program (its pid reused)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or not _works_in(process, pgdata):
            return None
    except psutil.Error:  # gone, or another user's process
        return None
    return process


def end_leftovers(pgdata: Path) -> None:
    """Kill every PostgreSQL process working in `pgdata` and remove its postmaster.pid. With
    the lock held, when its postmaster died (or would not stop): they are leftovers, and while
    one holds the shared memory PostgreSQL refuses to start."""
    leftovers = [
        process
        for process in psutil.process_iter(["name"])
        if process.info["name"] == "postgres" and _works_in(process, pgdata)
    ]
    if leftovers:
        log.warning(
            "embedded PostgreSQL in %s: killing %d processes left by a server that died or"
            " would not stop",
            pgdata,
            len(leftovers),
        )
    for process in leftovers:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    deadline = time.monotonic() + LEFTOVERS_TIMEOUT_SECONDS
    while any(not _gone(process) for process in leftovers):
        if time.monotonic() > deadline:
            raise StartFailed(f"processes of a dead PostgreSQL in {pgdata} do not exit")
        time.sleep(0.02)
    # A dead postmaster that is not reaped yet keeps its pid, and PostgreSQL would take it for
    # a server still running: its lock files, on the folder and on the socket, go with it.
    for lock in _lock_files(pgdata):
        lock.unlink(missing_ok=True)


def _lock_files(pgdata: Path) -> list[Path]:
    """postmaster.pid and the socket's lock file it points to (both name the postmaster)."""
    lock = pgdata / "postmaster.pid"
    try:
        lines = lock.read_text().splitlines()
    except FileNotFoundError:
        return []
    if len(lines) < 5 or not lines[3].strip() or not lines[4].strip():
        return [lock]
    port, socket_dir = lines[3].strip(), lines[4].strip()
    return [Path(socket_dir) / f".s.PGSQL.{port}.lock", lock]


def stop(pgdata: Path, system_user: str | None) -> None:
    """Stop the server of `pgdata`, if one runs; whatever is left of one that died is ended."""
    if running_postmaster(pgdata) is not None:
        # When it died meanwhile, or does not stop, it is ended below.
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pg_ctl(
                pgdata,
                system_user,
                ["-w", "-t", str(STOP_TIMEOUT_SECONDS), "-m", "fast", "stop"],
                timeout=STOP_TIMEOUT_SECONDS,
            )
    end_leftovers(pgdata)


def pg_ctl(pgdata: Path, system_user: str | None, args: list[str], timeout: float) -> None:
    """pgserver's `pg_ctl`, quietly (what went wrong is in the server's log), with no pipe the
    server it starts could inherit and hold open."""
    subprocess.run(
        [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), *args],
        user=system_user,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=timeout + 10,
        check=True,
    )


def _last_fatal(log: Path, start: int) -> str:
    """The last FATAL or PANIC line the server logged after `start` (an offset in its log), as
    ` (FATAL: ...)`; empty when none."""
    try:
        with log.open("rb") as file:
            file.seek(start)
            lines = file.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    for line in reversed(lines):
        for level in ("FATAL:", "PANIC:"):
            if level in line:
                return f" ({level} {line.partition(level)[2].strip()})"
    return ""


def forget_departed(pgdata: Path) -> list[int]:
    """Drop from the folder's list of users every process that is gone; the live ones. With
    the lock held."""
    listed = DiskList(pgdata / ".handle_pids.json")
    pids: list[int] = listed.get()
    alive = [pid for pid in pids if not _gone_pid(pid)]
    if alive != pids:
        log.info("embedded PostgreSQL: processes %s ended without releasing it", {*pids} - {*alive})
        listed.put(alive)
    return alive


def _until_ready(pgdata: Path) -> None:
    """A running postmaster may still be starting (a crash of one of its backends restarts
    them all): pgserver adopts only a ready one."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while _status(pgdata) != "ready":
        if time.monotonic() > deadline or running_postmaster(pgdata) is None:
            raise StartFailed(f"the embedded PostgreSQL in {pgdata} is not ready")
        time.sleep(0.05)


def _status(pgdata: Path) -> str | None:
    """The postmaster's status line in postmaster.pid (starting, ready, stopping), once
    written."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    return lines[7].strip() if len(lines) > 7 else None


def _works_in(process: psutil.Process, pgdata: Path) -> bool:
    """Every PostgreSQL process of a data folder has it as its working directory."""
    try:
        return Path(process.cwd()) == pgdata
    except psutil.Error:
        return False


def _gone(process: psutil.Process) -> bool:
    # A zombie has exited (and released its memory); only its parent's wait is missing.
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _gone_pid(pid: int) -> bool:
    try:
        return _gone(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def system_user() -> str | None:
    """The system user PostgreSQL runs as: as root, pgserver's `pgserver` user."""
    return "pgserver" if os.name == "posix" and os.geteuid() == 0 else None


def command(pid: int) -> str:
    """A process's command line, for a message."""
    try:
        return " ".join(psutil.Process(pid).cmdline()) or "?"
    except psutil.Error:
        return "?"
