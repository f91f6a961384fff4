"""Mutations of tags themselves: create (instructors, admins), rename and delete (admins).

Tag names are unique per organization in any case: `tags.name_key` is `lower(name)`, computed by
PostgreSQL, with the unique constraint that turns a duplicate into a CONFLICT on `input.name`.
"""

from typing import cast

import strawberry
from sqlalchemy import Table, delete, func, select, update

import models
from models.tag import NAME_MAX
from schema.context import Info
from schema.mutations.core import (
    Checks,
    ConstraintErrors,
    UserError,
    UserErrorCode,
    atomic,
    forbidden,
    not_found,
    parse_id,
)
from schema.policy import Action, may
from schema.tag import Tag

KNOWN: ConstraintErrors = {
    "uq_tags_organization_id_name_key": (
        "input.name",
        UserErrorCode.CONFLICT,
        "a tag with this name already exists (names are compared in any case)",
    ),
    "ck_tags_name_length": (
        "input.name",
        UserErrorCode.INVALID,
        f"must be 1-{NAME_MAX} characters long",
    ),
}

_content_tags = cast(Table, models.ContentTag.__table__)


@strawberry.input
class CreateTagInput:
    name: str


@strawberry.input
class RenameTagInput:
    id: strawberry.ID
    name: str


@strawberry.input
class DeleteTagInput:
    id: strawberry.ID


@strawberry.type
class CreateTagPayload:
    tag: Tag | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RenameTagPayload:
    tag: Tag | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteTagPayload:
    deleted_tag_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def check_name(checks: Checks, name: str, path: str) -> None:
    checks.length(name, path, high=NAME_MAX)


async def _tag_to_manage(
    info: Info, global_id: strawberry.ID, name: str | None = None
) -> models.Tag:
    if not may(info.context.viewer, Action.MANAGE_TAGS):
        raise forbidden("only admins rename and delete tags")
    checks = Checks()
    pk = parse_id(checks, global_id, "Tag", "input.id")
    if name is not None:
        check_name(checks, name, "input.name")
    checks.raise_if_any()
    # No row lock here: the UPDATE or DELETE that follows takes one, and locking the tag before
    # `_delete` locks contents would deadlock with a tagContent that holds a content and waits
    # for the tag (its foreign key check).
    tag = await info.context.db.session.scalar(select(models.Tag).where(models.Tag.id == pk))
    if tag is None:
        raise not_found("input.id", "tag")
    return tag


async def _create(info: Info, data: CreateTagInput) -> models.Tag:
    if not may(info.context.viewer, Action.CREATE_TAG):
        raise forbidden("only instructors and admins create tags")
    checks = Checks()
    check_name(checks, data.name, "input.name")
    checks.raise_if_any()
    tag = models.Tag(name=data.name)
    session = info.context.db.session
    session.add(tag)
    await session.flush()
    return tag


async def _rename(info: Info, data: RenameTagInput) -> models.Tag:
    tag = await _tag_to_manage(info, data.id, data.name)
    tag.name = data.name
    await info.context.db.session.flush()
    return tag


async def _delete(info: Info, data: DeleteTagInput) -> None:
    tag = await _tag_to_manage(info, data.id)
    session = info.context.db.session
    # Losing a tag changes the contents that carried it: they move on a version, like after
    # untagContent. Contents first, the tag last (see `_tag_to_manage`).
    tagged = select(_content_tags.c.content_id).where(_content_tags.c.tag_id == tag.id)
    await session.execute(
        update(models.Content)
        .where(models.Content.id.in_(tagged))
        .values(
            version=models.Content.version + 1,
            updated_at=func.now(),
            updated_by=info.context.viewer.id,
        )
        .execution_options(synchronize_session="fetch", include_deleted=True)
    )
    deleted = await session.execute(
        delete(models.Tag).where(models.Tag.id == tag.id).returning(models.Tag.id)
    )
    if deleted.first() is None:
        raise not_found("input.id", "tag")  # deleted by someone else meanwhile


@strawberry.type
class TagMutations:
    @strawberry.mutation(description="Create a tag; its name must be new in any case.")
    async def create_tag(self, info: Info, input: CreateTagInput) -> CreateTagPayload:
        result = await atomic(info, lambda: _create(info, input), KNOWN)
        if isinstance(result, list):
            return CreateTagPayload(user_errors=result)
        return CreateTagPayload(tag=Tag.from_row(result))

    @strawberry.mutation(description="Rename a tag (admins); contents keep it.")
    async def rename_tag(self, info: Info, input: RenameTagInput) -> RenameTagPayload:
        result = await atomic(info, lambda: _rename(info, input), KNOWN)
        if isinstance(result, list):
            return RenameTagPayload(user_errors=result)
        return RenameTagPayload(tag=Tag.from_row(result))

    @strawberry.mutation(description="Delete a tag (admins), taking it off every content.")
    async def delete_tag(self, info: Info, input: DeleteTagInput) -> DeleteTagPayload:
        result = await atomic(info, lambda: _delete(info, input), KNOWN)
        if isinstance(result, list):
            return DeleteTagPayload(user_errors=result)
        return DeleteTagPayload(deleted_tag_id=input.id)
