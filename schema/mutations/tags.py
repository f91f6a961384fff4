"""Mutations of tags themselves: create (instructors, admins), rename and delete (admins).

Tag names are unique per organization in any case: `tags.name_key` is `lower(name)`, computed by
PostgreSQL, with the unique constraint that turns a duplicate into a CONFLICT on `input.name`.
"""

from typing import cast

import strawberry
from sqlalchemy import Table, delete, func, select, update

import models
from models.tag import NAME_MAX
from schema.context import Context
from schema.mutations.checks import Checks
from schema.mutations.rows import find
from schema.mutations.run import ConstraintErrors, mutation
from schema.mutations.user_errors import UserError, UserErrorCode, forbidden, not_found
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
    context: Context, global_id: strawberry.ID, name: str | None = None
) -> models.Tag:
    if not may(context.viewer, Action.MANAGE_TAGS):
        raise forbidden("only admins rename and delete tags")
    checks = Checks()
    pk = checks.id(global_id, "Tag", "input.id")
    if name is not None:
        check_name(checks, name, "input.name")
    checks.raise_if_any()
    # No row lock here: the UPDATE or DELETE that follows takes one, and locking the tag before
    # `_delete` locks contents would deadlock with a tagContent that holds a content and waits
    # for the tag (its foreign key check).
    return await find(context, models.Tag, pk, "input.id")


async def _create(context: Context, input: CreateTagInput) -> CreateTagPayload:
    if not may(context.viewer, Action.CREATE_TAG):
        raise forbidden("only instructors and admins create tags")
    checks = Checks()
    check_name(checks, input.name, "input.name")
    checks.raise_if_any()
    tag = models.Tag(name=input.name)
    context.db.add(tag)
    await context.db.flush()
    return CreateTagPayload(tag=Tag.from_row(tag))


async def _rename(context: Context, input: RenameTagInput) -> RenameTagPayload:
    tag = await _tag_to_manage(context, input.id, input.name)
    tag.name = input.name
    await context.db.flush()
    return RenameTagPayload(tag=Tag.from_row(tag))


async def _delete(context: Context, input: DeleteTagInput) -> DeleteTagPayload:
    tag = await _tag_to_manage(context, input.id)
    db = context.db
    # Losing a tag changes the contents that carried it: they move on a version, like after
    # untagContent. Contents first, the tag last (see `_tag_to_manage`).
    tagged = select(_content_tags.c.content_id).where(_content_tags.c.tag_id == tag.id)
    await db.execute(
        update(models.Content)
        .where(models.Content.id.in_(tagged))
        .values(
            version=models.Content.version + 1,
            updated_at=func.now(),
            updated_by=context.viewer.id,
        )
        .execution_options(synchronize_session="fetch", include_deleted=True)
    )
    deleted = delete(models.Tag).where(models.Tag.id == tag.id).returning(models.Tag.id)
    if await db.scalar(deleted) is None:
        raise not_found("input.id", "tag")  # deleted by someone else meanwhile
    return DeleteTagPayload(deleted_tag_id=input.id)


@strawberry.type
class TagMutations:
    create_tag = mutation(
        _create, KNOWN, description="Create a tag; its name must be new in any case."
    )
    rename_tag = mutation(_rename, KNOWN, description="Rename a tag (admins); contents keep it.")
    delete_tag = mutation(
        _delete, KNOWN, description="Delete a tag (admins), taking it off every content."
    )
