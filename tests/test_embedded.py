"""The embedded PostgreSQL is never orphaned: whichever way its processes end, the next one adopts
what was left running, and the last one to exit stops it. Real `gql-server` processes, each test
with a data folder of its own."""

import ctypes
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
import pytest

from tests.command import environment, one_line, run, scratch_folder, serving

STOP_TIMEOUT_SECONDS = 60
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def postmaster(data_dir: Path) -> psutil.Process | None:
    """The server running in `data_dir`, as its postmaster.pid names it."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
        process = psutil.Process(pid)
    except (FileNotFoundError, IndexError, ValueError, psutil.NoSuchProcess):
        return None
    return None if gone(process) else process


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def until_gone(process: psutil.Process) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while not gone(process):
        assert time.monotonic() < deadline, f"process {process.pid} still runs"
        time.sleep(0.05)


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data folder, migrated; whatever a failed test left running in it is killed at the end."""
    with scratch_folder() as folder:
        migrated = run("migrate", env=environment(GQL_DATA_DIR=str(folder)))
        assert migrated.returncode == 0, migrated.stderr
        yield folder
        if (leftover := postmaster(folder)) is not None:
            leftover.kill()


def env(data_dir: Path) -> dict[str, str]:
    return environment(GQL_DATA_DIR=str(data_dir))


def test_a_command_stops_the_database_it_started(data_dir: Path) -> None:
    assert postmaster(data_dir) is None  # `migrate` (the fixture) started it and stopped it
    assert run("migrate", "--check", env=env(data_dir)).returncode == 0
    assert postmaster(data_dir) is None


def test_a_killed_server_leaves_its_database_to_the_next_command_which_stops_it(
    data_dir: Path,
) -> None:
    with serving(env(data_dir)) as server:
        database = postmaster(data_dir)
        assert database is not None
        server.kill()
    assert not gone(database), "killed, the server cannot stop its database itself"

    adopted = run("migrate", "--check", env=env(data_dir))

    assert adopted.returncode == 0, adopted.stderr
    until_gone(database)
    assert postmaster(data_dir) is None


def test_the_last_process_to_exit_stops_it_whoever_went_first_and_however(
    data_dir: Path,
) -> None:
    with serving(env(data_dir)) as first, serving(env(data_dir)) as second:
        database = postmaster(data_dir)
        assert database is not None
        # A short-lived command on the same database (`make run` + `gql-server token`).
        assert run("migrate", "--check", env=env(data_dir)).returncode == 0
        assert first.ready()
        assert second.ready()
        first.kill()
        assert second.ready()
        assert not gone(database)

        assert second.stop() == 0

    until_gone(database)
    assert postmaster(data_dir) is None


def test_several_workers_share_it_and_it_stops_with_them(data_dir: Path) -> None:
    with serving(env(data_dir), "--workers", "2") as server:
        database = postmaster(data_dir)
        assert database is not None
        assert server.stop() == 0
    until_gone(database)


def test_workers_left_serving_by_a_killed_parent_keep_it_until_they_exit(data_dir: Path) -> None:
    with serving(env(data_dir), "--workers", "2") as server:
        database = postmaster(data_dir)
        assert database is not None
        workers = [
            child
            for child in psutil.Process(server.process.pid).children()
            if "spawn_main" in " ".join(child.cmdline())
        ]
        assert len(workers) == 2
        try:
            server.kill()
            assert server.ready()  # the workers still serve, on the database
            assert run("migrate", "--check", env=env(data_dir)).returncode == 0
            assert not gone(database)
            assert server.ready()
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                until_gone(worker)
    until_gone(database)


def test_a_database_that_died_with_its_server_is_started_again_and_stopped(
    data_dir: Path,
) -> None:
    with orphans_reaped_late():
        with serving(env(data_dir)) as server:
            database = postmaster(data_dir)
            assert database is not None
            backends = database.children()
            server.kill()
        for backend in backends:
            with suppress(psutil.NoSuchProcess):  # one that exited meanwhile, as a backend may
                backend.suspend()  # they outlive the postmaster, holding its shared memory
        database.kill()  # as after a crash: postmaster.pid stays behind
        until_gone(database)
        assert database.status() == psutil.STATUS_ZOMBIE, "its pid stays taken until reaped"

        restarted = run("migrate", "--check", env=env(data_dir))

        assert restarted.returncode == 0, restarted.stderr
        assert all(gone(backend) for backend in backends)
        assert postmaster(data_dir) is None


def test_a_server_whose_database_was_killed_stops_cleanly_and_the_next_starts_it(
    data_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with serving(env(data_dir), log=log) as server:
        database = postmaster(data_dir)
        assert database is not None
        database.kill()
        until_gone(database)
        assert not server.ready()

        assert server.stop() == 0
    assert "Traceback" not in log.read_text()

    with serving(env(data_dir)) as again:
        assert again.ready()
        assert again.stop() == 0
    assert postmaster(data_dir) is None


def test_a_database_that_cannot_start_is_one_line_naming_why_and_its_log(data_dir: Path) -> None:
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write("shared_buffers = plenty\n")

    refused = run("migrate", "--check", env=env(data_dir))

    assert one_line(refused) == (
        f"gql-server migrate: the embedded PostgreSQL in {data_dir} did not start (FATAL:"
        f' configuration file "{data_dir}/postgresql.conf" contains errors); its log:'
        f" {data_dir}/log"
    )
    assert postmaster(data_dir) is None


@contextmanager
def orphans_reaped_late() -> Iterator[None]:
    """Processes orphaned meanwhile become this process's children, reaped only at the end: a
    killed one stays a zombie, its pid taken, as under an init that reaps late (a container's
    may take seconds, or never)."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        for child in psutil.Process().children():
            with suppress(psutil.NoSuchProcess):
                if child.status() == psutil.STATUS_ZOMBIE:
                    os.waitpid(child.pid, 0)


def test_reset_refuses_while_a_server_uses_it(data_dir: Path) -> None:
    with serving(env(data_dir)) as server:
        refused = run("reset", "--yes", env=env(data_dir))
        line = one_line(refused)
        assert f"in use by process {server.process.pid}" in line
        assert "gql-server serve" in line
        assert server.ready()
    assert (data_dir / "PG_VERSION").exists()


def test_reset_stops_what_a_killed_server_left_running_and_deletes_it(data_dir: Path) -> None:
    with serving(env(data_dir)) as server:
        database = postmaster(data_dir)
        assert database is not None
        server.kill()

    done = run("reset", "--yes", env=env(data_dir))

    assert done.returncode == 0, done.stderr
    assert "deleted the embedded database" in done.stdout
    until_gone(database)
    assert not data_dir.exists()
    fresh = run("migrate", env=env(data_dir))
    assert fresh.returncode == 0, fresh.stderr
    assert "database at revision" in fresh.stdout
