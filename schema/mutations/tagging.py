"""Mutations of a content's tags: tag it (creating tags for new names) and untag it, all or nothing.

Tags are named by id or by name. Names are matched in SQL (`name_key = lower(:name)`), never with
Python's `str.lower`, whose idea of case can differ from the database's. New names are inserted
with `ON CONFLICT DO NOTHING` and read back, so two requests tagging with the same new name both
end up with the one tag.
"""

from dataclasses import dataclass
from typing import cast
from uuid import UUID, uuid4

import strawberry
from sqlalchemy import Table, Text, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

import models
from schema.content import Content
from schema.context import Context
from schema.mutations.checks import Checks
from schema.mutations.links import touch_content
from schema.mutations.rows import content_for_write
from schema.mutations.run import mutation
from schema.mutations.tags import check_name
from schema.mutations.user_errors import (
    MutationFailed,
    UserError,
    UserErrorCode,
    fail,
    user_error,
)
from schema.policy import Action, may

MAX_TAGS_PER_CALL = 50

_tags = cast(Table, models.Tag.__table__)
_content_tags = cast(Table, models.ContentTag.__table__)


@strawberry.input(description="Tags by id, by name, or both; names are matched in any case.")
class TagContentInput:
    content_id: strawberry.ID
    tag_ids: list[strawberry.ID] | None = None
    tag_names: list[str] | None = strawberry.field(
        default=None, description="Names that no tag has yet become new tags."
    )


@strawberry.input(description="Tags by id, by name, or both; names are matched in any case.")
class UntagContentInput:
    content_id: strawberry.ID
    tag_ids: list[strawberry.ID] | None = None
    tag_names: list[str] | None = None


@strawberry.type
class TagContentPayload:
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UntagContentPayload:
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TagRefs:
    """The tags an input names: ids with their list index, and stripped names (index = position)."""

    ids: list[tuple[int, UUID]]
    names: list[str]


def _refs(
    checks: Checks, tag_ids: list[strawberry.ID] | None, tag_names: list[str] | None
) -> TagRefs:
    ids: list[tuple[int, UUID]] = []
    for index, global_id in enumerate(tag_ids or ()):
        ids.append((index, checks.id(global_id, "Tag", f"input.tagIds.{index}")))
    for index, name in enumerate(tag_names or ()):
        check_name(checks, name, f"input.tagNames.{index}")
    for path, given in (("input.tagIds", tag_ids), ("input.tagNames", tag_names)):
        checks.require(
            len(given or ()) <= MAX_TAGS_PER_CALL, path, f"at most {MAX_TAGS_PER_CALL} per call"
        )
    return TagRefs(ids, [name.strip() for name in tag_names or ()])


async def _by_name(context: Context, names: list[str]) -> dict[int, models.Tag]:
    """Tags named like `names` (any case), by 0-based position in `names`."""
    if not names:
        return {}
    wanted = (
        func.unnest(bindparam("names", names, type_=ARRAY(Text)))
        .table_valued("name", with_ordinality="position")
        .render_derived()
    )
    rows = await context.db.all(
        select(models.Tag, wanted.c.position).join(
            wanted, models.Tag.name_key == func.lower(wanted.c.name)
        )
    )
    return {int(position) - 1: tag for tag, position in rows}


async def _resolve(context: Context, refs: TagRefs, *, create: bool) -> list[models.Tag]:
    """The tags `refs` name; with `create`, names no tag has become new tags."""
    db = context.db
    pks = [pk for _, pk in refs.ids]
    by_id: dict[UUID, models.Tag] = {}
    if pks:
        found = await db.execute(select(models.Tag).where(models.Tag.id.in_(pks)))
        by_id = {tag.id: tag for tag in found.scalars()}
    errors = [
        user_error(f"input.tagIds.{index}", "no tag with this id", UserErrorCode.NOT_FOUND)
        for index, pk in refs.ids
        if pk not in by_id
    ]
    by_name = await _by_name(context, refs.names)
    missing = [index for index in range(len(refs.names)) if index not in by_name]
    if not create:
        errors += [
            user_error(f"input.tagNames.{index}", "no tag with this name", UserErrorCode.NOT_FOUND)
            for index in missing
        ]
    elif missing and not may(context.viewer, Action.CREATE_TAG):
        errors += [
            user_error(
                f"input.tagNames.{index}",
                "no tag has this name, and only instructors and admins create tags",
                UserErrorCode.FORBIDDEN,
            )
            for index in missing
        ]
    if errors:
        raise MutationFailed(*errors)
    if missing:
        # A concurrent request may create the same name first: then its tag is the one we use.
        names = [refs.names[index] for index in missing]
        await db.execute(
            insert(_tags)
            .values(
                [
                    models.stamped(
                        models.Tag,
                        {"name": name, "id": uuid4()},
                        context.viewer.organization_id,
                        context.viewer.id,
                    )
                    for name in names
                ]
            )
            .on_conflict_do_nothing()
        )
        created = await _by_name(context, names)
        if len(created) != len(names):
            raise fail(
                "input.tagNames", "a tag was deleted meanwhile; try again", UserErrorCode.CONFLICT
            )
        by_name.update({missing[position]: tag for position, tag in created.items()})
    unique = {tag.id: tag for tag in [*by_id.values(), *by_name.values()]}
    return list(unique.values())


async def _content_and_tags(
    context: Context,
    content_id: strawberry.ID,
    tag_ids: list[strawberry.ID] | None,
    tag_names: list[str] | None,
    *,
    create: bool,
) -> tuple[models.Content, list[models.Tag]]:
    checks = Checks()
    content_pk = checks.id(content_id, "Content", "input.contentId")
    refs = _refs(checks, tag_ids, tag_names)
    checks.raise_if_any()
    content = await content_for_write(context, content_pk, path="input.contentId")
    return content, await _resolve(context, refs, create=create)


async def _tag(context: Context, input: TagContentInput) -> TagContentPayload:
    content, tags = await _content_and_tags(
        context, input.content_id, input.tag_ids, input.tag_names, create=True
    )
    if tags:
        added = await context.db.scalar(
            insert(_content_tags)
            .values(
                [
                    models.stamped(
                        models.ContentTag,
                        {"content_id": content.id, "tag_id": tag.id},
                        context.viewer.organization_id,
                        context.viewer.id,
                    )
                    for tag in tags
                ]
            )
            .on_conflict_do_nothing()
            .returning(_content_tags.c.tag_id)
        )
        if added is not None:
            await touch_content(context, content)
    return TagContentPayload(content=Content.from_row(content))


async def _untag(context: Context, input: UntagContentInput) -> UntagContentPayload:
    content, tags = await _content_and_tags(
        context, input.content_id, input.tag_ids, input.tag_names, create=False
    )
    if tags:
        removed = await context.db.scalar(
            delete(_content_tags)
            .where(
                _content_tags.c.organization_id == content.organization_id,
                _content_tags.c.content_id == content.id,
                _content_tags.c.tag_id.in_([tag.id for tag in tags]),
            )
            .returning(_content_tags.c.tag_id)
        )
        if removed is not None:
            await touch_content(context, content)
    return UntagContentPayload(content=Content.from_row(content))


@strawberry.type
class TaggingMutations:
    tag_content = mutation(
        _tag,
        description="Add tags to a content, creating tags for new names. Tags it already has are"
        " not an error.",
    )
    untag_content = mutation(
        _untag,
        description="Take tags off a content. Tags it does not have are not an error; unknown"
        " tags are.",
    )
