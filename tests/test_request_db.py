"""The request's one database handle: statements, flushes and savepoints, one at a time, and
nothing after the answer."""

import asyncio
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.tenancy import bound_criteria, tenant_session
from loaders import Loaders, RequestDB
from loaders.session import RequestOver, StatementScope
from models import Role
from schema.context import Context, PageLimits, Viewer
from schema.mutations.run import run_mutation
from schema.mutations.tags import KNOWN
from schema.mutations.user_errors import UserError, UserErrorCode
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


# --- statements sent directly, plain savepoints ----------------------------------------------


def scoped(session: AsyncSession, org: uuid.UUID) -> RequestDB:
    """The handle a request has: statements with the scope's criteria run on asyncpg directly."""
    scope = StatementScope(org, None, partial(bound_criteria, ()), variant="tests")
    return RequestDB(session, scope)


def _new_tag(org: uuid.UUID, name: str) -> Any:
    tags = cast(Table, models.Tag.__table__)
    values = {"organization_id": org, "id": uuid.uuid4(), "name": name}
    return insert(tags).values(values).returning(tags.c.id, tags.c.name)


async def test_a_plain_savepoint_rolled_back_leaves_no_row_and_no_orm_state(
    sessionmaker: Sessionmaker,
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = scoped(session, org.id)
        db.add(models.Tag(name="kept"))
        await db.flush()

        async def failing_mutation() -> None:
            async with db.savepoint(orm=False):
                (row,) = await db.all(_new_tag(org.id, "undone"))
                assert row.name == "undone"
                # An ORM object loaded inside: the rollback must not leave it in the session.
                undone = await db.scalar(select(models.Tag).where(models.Tag.id == row.id))
                assert undone in session
                raise LookupError("the mutation failed")

        with pytest.raises(LookupError):
            await failing_mutation()
        assert not list(session.identity_map.values())
        async with db.savepoint():  # the session's transaction is whole: the ORM works on
            db.add(models.Tag(name="later"))
            await db.flush()
    assert await _tag_names(sessionmaker, org.id) == ["kept", "later"]


async def test_a_plain_savepoint_released_keeps_its_statements(sessionmaker: Sessionmaker) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = scoped(session, org.id)
        async with db.savepoint(orm=False):
            await db.all(_new_tag(org.id, "first"))
        async with db.savepoint(orm=False):
            await db.all(_new_tag(org.id, "second"))
    assert await _tag_names(sessionmaker, org.id) == ["first", "second"]


async def test_the_unit_of_work_is_refused_in_a_plain_savepoint(
    sessionmaker: Sessionmaker,
) -> None:
    """A flush that fails outside an ORM savepoint rolls back the request's whole transaction:
    a block in a plain one may not flush at all."""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = scoped(session, org.id)
        async with db.savepoint(orm=False):
            with pytest.raises(RuntimeError, match="plain savepoint"):
                db.add(models.Tag(name="refused"))
            with pytest.raises(RuntimeError, match="plain savepoint"):
                await db.flush()
        assert not session.new


async def test_finish_rolls_back_a_plain_savepoint_its_mutation_left_open(
    sessionmaker: Sessionmaker,
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = scoped(session, org.id)
        inside = asyncio.Event()
        answered = asyncio.Event()

        async def mutation() -> None:
            async with db.savepoint(orm=False):
                await db.all(_new_tag(org.id, "half"))
                inside.set()
                await answered.wait()

        running = asyncio.ensure_future(mutation())
        await inside.wait()
        await db.finish()
        answered.set()
        await running
    assert await _tag_names(sessionmaker, org.id) == []


@dataclass(frozen=True, slots=True)
class Outcome:
    user_errors: list[UserError] = field(default_factory=list)


@pytest.mark.parametrize("unit_of_work", [True, False], ids=["flushed", "sent directly"])
async def test_a_constraint_violation_is_the_same_user_error_however_the_row_was_written(
    sessionmaker: Sessionmaker, unit_of_work: bool
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as session:
        db = scoped(session, org.id)
        viewer = Viewer(uuid.uuid4(), org.id, Role.ADMIN)
        context = Context(viewer, db, Loaders(db, viewer.id), PageLimits())
        await db.all(_new_tag(org.id, "Taken"))

        async def create() -> Outcome:
            if unit_of_work:
                db.add(models.Tag(name="TAKEN"))
                await db.flush()
            else:
                await db.all(_new_tag(org.id, "TAKEN"))
            return Outcome()

        refused = await run_mutation(context, Outcome, create, KNOWN, unit_of_work=unit_of_work)
        (error,) = refused.user_errors
        assert (error.field, error.code) == (["input", "name"], UserErrorCode.CONFLICT)
        await db.all(_new_tag(org.id, "after"))  # the request goes on
    assert await _tag_names(sessionmaker, org.id) == ["Taken", "after"]
