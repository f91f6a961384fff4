from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.tenancy import tenant_session
from tests.factories import make_content, make_org, make_user


async def test_a_tenant_session_reads_its_own_rows(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = await make_user(db, role=models.Role.INSTRUCTOR)
        await make_content(db, author=author)
    async with tenant_session(sessionmaker, org.id, read_only=True) as db:
        contents = (await db.scalars(select(models.Content))).all()
    assert [content.author_id for content in contents] == [author.id]
