"""The request's one database handle: statements, flushes and savepoints, one at a time, and
nothing after the answer."""

import asyncio
import uuid

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.tenancy import tenant_session
from loaders import RequestDB
from loaders.session import RequestOver
from tests.factories import count_rows, make_org, unique
from tests.waiting import Deadline

Sessionmaker = async_sessionmaker[AsyncSession]


async def test_statements_flushes_and_savepoints_of_many_tasks_take_turns(
    sessionmaker: Sessionmaker,
) -> None:
    """Without the one lock, a read in one task while another flushes fails ("concurrent
    operations are not permitted"); with it, loaders' batches and a mutation's writes take turns.
    (Mutations themselves run one after another: GraphQL executes them serially.)"""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = RequestDB(session)

        async def read() -> list[int]:
            return [len(await db.all(select(models.Tag.id))) for _ in range(5)]

        async def write() -> None:
            async with db.savepoint():
                for _ in range(20):
                    for _ in range(10):
                        db.add(models.Tag(name=unique("tag")))
                    await db.flush()

        *reads, _ = await asyncio.gather(*[read() for _ in range(20)], write())
        assert all(counts == sorted(counts) for counts in reads)  # each saw the rows grow
    assert await count_rows(sessionmaker, "tags", org.id) == 200


async def test_a_cancelled_statement_runs_to_its_end_and_the_session_stays_usable(
    sessionmaker: Sessionmaker,
) -> None:
    org = await make_org(sessionmaker)
    marker = unique("slow")
    async with tenant_session(sessionmaker, org.id) as session:
        db = RequestDB(session)
        slow = asyncio.ensure_future(db.execute(text(f"select pg_sleep(0.3), '{marker}'")))
        await until_running(sessionmaker, marker)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        assert await db.scalar(text("select 42")) == 42


async def until_running(sessionmaker: Sessionmaker, marker: str) -> None:
    """Wait until PostgreSQL reports the statement holding `marker` as running."""
    query = text(
        "select count(*) from pg_stat_activity where state = 'active' and query like :pattern"
        " and pid <> pg_backend_pid()"
    )
    deadline = Deadline("the statement started")
    async with sessionmaker() as observer:
        while deadline.running():
            if await observer.scalar(query, {"pattern": f"%'{marker}'%"}):
                return
            await asyncio.sleep(0.005)
    raise deadline.missed()


async def test_nothing_runs_after_finish(sessionmaker: Sessionmaker) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = RequestDB(session)
        await db.finish()
        with pytest.raises(RequestOver):
            await db.execute(text("select 1"))
        with pytest.raises(RequestOver):
            db.add(models.Tag(name=unique("tag")))
        with pytest.raises(RequestOver):
            await db.flush()
        with pytest.raises(RequestOver):
            async with db.savepoint():
                pass


async def test_a_savepoint_rolls_back_its_own_work_only(sessionmaker: Sessionmaker) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = RequestDB(session)
        db.add(models.Tag(name="kept"))
        await db.flush()

        async def failing_mutation() -> None:
            async with db.savepoint():
                db.add(models.Tag(name="undone"))
                await db.flush()
                raise LookupError("the mutation failed")

        with pytest.raises(LookupError):
            await failing_mutation()
    names = await _tag_names(sessionmaker, org.id)
    assert names == ["kept"]


async def test_finish_rolls_back_a_savepoint_its_mutation_left_open(
    sessionmaker: Sessionmaker,
) -> None:
    """A mutation still inside its savepoint when the answer is made never commits half done."""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = RequestDB(session)
        inside = asyncio.Event()
        answered = asyncio.Event()

        async def mutation() -> None:
            async with db.savepoint():
                db.add(models.Tag(name="half"))
                await db.flush()
                inside.set()
                await answered.wait()

        running = asyncio.ensure_future(mutation())
        await inside.wait()
        await db.finish()
        answered.set()
        await running  # its savepoint is gone already: ending it is no error
    assert await _tag_names(sessionmaker, org.id) == []


async def _tag_names(sessionmaker: Sessionmaker, organization_id: uuid.UUID) -> list[str]:
    async with tenant_session(sessionmaker, organization_id) as session:
        return list(await session.scalars(select(models.Tag.name).order_by(models.Tag.name)))
