"""Check and unique constraints: the database refuses bad data even past the models' validators."""

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.tenancy import tenant_session
from tests.factories import (
    add_prerequisite,
    count_rows,
    make_attachment,
    make_comment,
    make_content,
    make_org,
    make_rating,
    make_tag,
    make_user,
    unique,
)

Sessionmaker = async_sessionmaker[AsyncSession]
Write = Callable[[AsyncSession], Awaitable[object]]


@pytest.fixture
async def org(sessionmaker: Sessionmaker) -> models.Organization:
    return await make_org(sessionmaker)


@pytest.fixture
async def author(sessionmaker: Sessionmaker, org: models.Organization) -> models.User:
    async with tenant_session(sessionmaker, org.id) as db:
        return await make_user(db, email="author@example.com", username="author")


@pytest.fixture
async def content(
    sessionmaker: Sessionmaker, org: models.Organization, author: models.User
) -> models.Content:
    async with tenant_session(sessionmaker, org.id) as db:
        return await make_content(db, author=author)


async def assert_refused(
    sessionmaker: Sessionmaker,
    org: models.Organization,
    table: str,
    write: Write,
    constraint: str,
    error: type[Exception] = IntegrityError,
) -> None:
    """`write` fails in the database with `constraint` named, and `table` keeps its rows."""
    before = await count_rows(sessionmaker, table, org.id)

    async def attempt() -> None:
        async with tenant_session(sessionmaker, org.id) as db:
            await write(db)

    with pytest.raises(error, match=constraint):
        await attempt()
    assert await count_rows(sessionmaker, table, org.id) == before


def core_insert(model: type[models.Base], org: models.Organization, **values: Any) -> Write:
    """A Core INSERT: no ORM validators run, so only the database can refuse the values."""

    async def write(db: AsyncSession) -> object:
        return await db.execute(
            insert(model.__table__).values(organization_id=org.id, **values)  # type: ignore[arg-type]
        )

    return write


@pytest.mark.parametrize("score", [0, 6])
async def test_rating_score_is_one_to_five(
    sessionmaker: Sessionmaker,
    org: models.Organization,
    author: models.User,
    content: models.Content,
    score: int,
) -> None:
    async def rate(db: AsyncSession) -> object:
        return await make_rating(db, content=content, user=author, score=score)

    await assert_refused(sessionmaker, org, "ratings", rate, "ck_ratings_score_range")


async def test_rating_update_out_of_range_keeps_the_score(
    sessionmaker: Sessionmaker,
    org: models.Organization,
    author: models.User,
    content: models.Content,
) -> None:
    async with tenant_session(sessionmaker, org.id) as db:
        await make_rating(db, content=content, user=author, score=4)

    async def rescore(db: AsyncSession) -> object:
        return await db.execute(text("update ratings set score = 6"))

    await assert_refused(sessionmaker, org, "ratings", rescore, "ck_ratings_score_range")
    async with tenant_session(sessionmaker, org.id, read_only=True) as db:
        assert await db.scalar(select(models.Rating.score)) == 4


async def test_one_rating_per_user_and_content(
    sessionmaker: Sessionmaker,
    org: models.Organization,
    author: models.User,
    content: models.Content,
) -> None:
    async with tenant_session(sessionmaker, org.id) as db:
        await make_rating(db, content=content, user=author, score=2)

    async def rate_again(db: AsyncSession) -> object:
        return await make_rating(db, content=content, user=author, score=5)

    await assert_refused(sessionmaker, org, "ratings", rate_again, "pk_ratings")
    async with tenant_session(sessionmaker, org.id, read_only=True) as db:
        assert (await db.scalars(select(models.Rating.score))).all() == [2]


@pytest.mark.parametrize("size", [0, -1])
async def test_attachment_size_is_positive(
    sessionmaker: Sessionmaker, org: models.Organization, content: models.Content, size: int
) -> None:
    async def attach(db: AsyncSession) -> object:
        return await make_attachment(db, content=content, size_bytes=size)

    await assert_refused(sessionmaker, org, "attachments", attach, "ck_attachments_size_positive")


async def test_attachment_mime_type_format(
    sessionmaker: Sessionmaker, org: models.Organization, content: models.Content
) -> None:
    async def attach(db: AsyncSession) -> object:
        return await make_attachment(db, content=content, mime_type="PDF please")

    await assert_refused(
        sessionmaker, org, "attachments", attach, "ck_attachments_mime_type_format"
    )


async def test_a_content_is_not_its_own_prerequisite(
    sessionmaker: Sessionmaker, org: models.Organization, content: models.Content
) -> None:
    async def self_loop(db: AsyncSession) -> object:
        return await add_prerequisite(db, content, content)

    await assert_refused(
        sessionmaker,
        org,
        "content_prerequisites",
        self_loop,
        "ck_content_prerequisites_no_self_loop",
    )


@pytest.mark.parametrize("second_email", ["author@example.com", "Author@Example.COM"])
async def test_email_is_unique_per_organization_whatever_the_case(
    sessionmaker: Sessionmaker, org: models.Organization, author: models.User, second_email: str
) -> None:
    async def register(db: AsyncSession) -> object:
        return await make_user(db, email=second_email, username="someone-else")

    await assert_refused(sessionmaker, org, "users", register, "uq_users_organization_id_email")


async def test_the_database_refuses_an_email_that_is_not_lower_case(
    sessionmaker: Sessionmaker, org: models.Organization
) -> None:
    write = core_insert(
        models.User,
        org,
        id=uuid4(),
        email="Mixed@Example.com",
        username="mixed",
        full_name="Mixed Case",
        role="STUDENT",
    )
    await assert_refused(sessionmaker, org, "users", write, "ck_users_email_lower_case")


async def test_the_same_email_is_allowed_in_two_organizations(
    sessionmaker: Sessionmaker, org: models.Organization, author: models.User
) -> None:
    other = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, other.id) as db:
        twin = await make_user(db, email=author.email, username=author.username)
    assert (twin.email, twin.username) == (author.email, author.username)
    assert await count_rows(sessionmaker, "users", org.id) == 1
    assert await count_rows(sessionmaker, "users", other.id) == 1


async def test_username_is_unique_per_organization(
    sessionmaker: Sessionmaker, org: models.Organization, author: models.User
) -> None:
    async def register(db: AsyncSession) -> object:
        return await make_user(db, email="other@example.com", username=author.username)

    await assert_refused(sessionmaker, org, "users", register, "uq_users_organization_id_username")


async def test_the_database_refuses_a_bad_username(
    sessionmaker: Sessionmaker, org: models.Organization
) -> None:
    write = core_insert(
        models.User,
        org,
        id=uuid4(),
        email="bad@example.com",
        username="Not Valid",
        full_name="Bad Name",
        role="STUDENT",
    )
    await assert_refused(sessionmaker, org, "users", write, "ck_users_username_format")


async def test_tag_names_are_unique_case_insensitively(
    sessionmaker: Sessionmaker, org: models.Organization
) -> None:
    async with tenant_session(sessionmaker, org.id) as db:
        await make_tag(db, name="Python")

    async def duplicate(db: AsyncSession) -> object:
        return await make_tag(db, name="python")

    await assert_refused(sessionmaker, org, "tags", duplicate, "uq_tags_organization_id_name_key")
    async with tenant_session(sessionmaker, org.id, read_only=True) as db:
        assert (await db.scalars(select(models.Tag.name))).all() == ["Python"]


async def test_a_reply_belongs_to_its_parents_content(
    sessionmaker: Sessionmaker,
    org: models.Organization,
    author: models.User,
    content: models.Content,
) -> None:
    async with tenant_session(sessionmaker, org.id) as db:
        elsewhere = await make_content(db, author=author)
        parent = await make_comment(db, content=content, author=author)

    async def reply_elsewhere(db: AsyncSession) -> object:
        return await make_comment(db, content=elsewhere, author=author, parent_id=parent.id)

    await assert_refused(
        sessionmaker,
        org,
        "comments",
        reply_elsewhere,
        "fk_comments_organization_id_content_id_parent_id_comments",
    )


async def test_a_reply_on_the_same_content_is_allowed(
    sessionmaker: Sessionmaker,
    org: models.Organization,
    author: models.User,
    content: models.Content,
) -> None:
    async with tenant_session(sessionmaker, org.id) as db:
        parent = await make_comment(db, content=content, author=author)
        reply = await make_comment(db, content=content, author=author, parent_id=parent.id)
    assert reply.parent_id == parent.id
    assert await count_rows(sessionmaker, "comments", org.id) == 2


async def test_a_comment_is_not_its_own_parent(
    sessionmaker: Sessionmaker,
    org: models.Organization,
    author: models.User,
    content: models.Content,
) -> None:
    comment_id = uuid4()
    write = core_insert(
        models.Comment,
        org,
        id=comment_id,
        content_id=content.id,
        author_id=author.id,
        parent_id=comment_id,
        body="Me again",
    )
    await assert_refused(sessionmaker, org, "comments", write, "ck_comments_not_own_parent")


async def test_the_database_refuses_an_empty_comment_body(
    sessionmaker: Sessionmaker,
    org: models.Organization,
    author: models.User,
    content: models.Content,
) -> None:
    write = core_insert(models.Comment, org, content_id=content.id, author_id=author.id, body="")
    await assert_refused(sessionmaker, org, "comments", write, "ck_comments_body_length")


async def test_the_database_refuses_an_empty_title(
    sessionmaker: Sessionmaker, org: models.Organization, author: models.User
) -> None:
    write = core_insert(models.Content, org, author_id=author.id, title="", body="Text")
    await assert_refused(sessionmaker, org, "contents", write, "ck_contents_title_length")


async def test_the_database_refuses_a_title_too_long(
    sessionmaker: Sessionmaker, org: models.Organization, author: models.User
) -> None:
    write = core_insert(models.Content, org, author_id=author.id, title="t" * 201, body="Text")
    await assert_refused(sessionmaker, org, "contents", write, "too long", error=DBAPIError)


async def test_published_content_has_a_publication_date(
    sessionmaker: Sessionmaker, org: models.Organization, author: models.User
) -> None:
    async def publish_undated(db: AsyncSession) -> object:
        return await make_content(
            db, author=author, status=models.ContentStatus.PUBLISHED, published_at=None
        )

    await assert_refused(
        sessionmaker, org, "contents", publish_undated, "ck_contents_published_has_date"
    )
    async with tenant_session(sessionmaker, org.id) as db:  # a draft needs no date
        draft = await make_content(db, author=author, status=models.ContentStatus.DRAFT)
    assert draft.published_at is None


@pytest.mark.parametrize(
    ("slug", "error", "reason"),
    [
        ("Upper", IntegrityError, "ck_organizations_slug_format"),
        ("a", IntegrityError, "ck_organizations_slug_format"),
        ("-leading-dash", IntegrityError, "ck_organizations_slug_format"),
        ("under_score", IntegrityError, "ck_organizations_slug_format"),
        ("x" * 64, DBAPIError, "too long"),
    ],
    ids=["upper-case", "one-char", "leading-dash", "underscore", "64-chars"],
)
async def test_organization_slug_format(
    sessionmaker: Sessionmaker, slug: str, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        await make_org(sessionmaker, slug=slug)
    async with sessionmaker() as session:
        assert (
            await session.scalar(
                select(models.Organization).where(models.Organization.slug == slug)
            )
            is None
        )


async def test_organization_slug_is_unique(sessionmaker: Sessionmaker) -> None:
    slug = unique("dup-")
    await make_org(sessionmaker, slug=slug)

    with pytest.raises(IntegrityError, match="uq_organizations_slug"):
        await make_org(sessionmaker, slug=slug, name="Impostor")
    async with sessionmaker() as session:
        names = await session.scalars(
            select(models.Organization.name).where(models.Organization.slug == slug)
        )
        assert list(names) == ["Test org"]


# Model-level validation: refused at assignment, before any SQL.


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "a@",
        "@b.com",
        "a b@c.com",
        "",
        "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com",
    ],
    ids=["no-at", "no-domain", "no-local-part", "space", "empty", "over-254-chars"],
)
def test_bad_email_addresses_are_refused(email: str) -> None:
    with pytest.raises(ValueError, match="email"):
        models.User(email=email)


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        ("Ada@Example.COM", "ada@example.com"),
        ("  grace.hopper@navy.example.org ", "grace.hopper@navy.example.org"),
    ],
)
def test_good_email_addresses_are_lower_cased(email: str, stored: str) -> None:
    assert models.User(email=email).email == stored


@pytest.mark.parametrize("username", ["Alice", "a", "_alice", "al ice", "a" * 41, "ali@ce"])
def test_bad_usernames_are_refused(username: str) -> None:
    with pytest.raises(ValueError, match="username"):
        models.User(username=username)


@pytest.mark.parametrize("username", ["al", "alice_smith.99", "9lives", "a" * 40])
def test_good_usernames_are_kept(username: str) -> None:
    assert models.User(username=username).username == username


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (models.User, "full_name", "   "),
        (models.User, "full_name", "n" * 201),
        (models.Content, "title", ""),
        (models.Content, "title", "t" * 201),
        (models.Content, "body", "b" * 100_001),
        (models.Comment, "body", "  "),
        (models.Comment, "body", "c" * 10_001),
        (models.Tag, "name", " "),
        (models.Tag, "name", "n" * 51),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_lengths_are_checked_at_assignment(
    model: type[models.Base], field: str, value: str
) -> None:
    with pytest.raises(ValueError, match=r"characters|empty"):
        model(**{field: value})


def test_names_and_titles_are_trimmed() -> None:
    assert models.User(full_name="  Ada Lovelace ").full_name == "Ada Lovelace"
    assert models.Content(title=" Intro ").title == "Intro"
    assert models.Tag(name=" sql ").name == "sql"
    assert models.Content(title="t" * 200).title == "t" * 200
