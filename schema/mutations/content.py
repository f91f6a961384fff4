"""Content mutations: create, update (optimistic concurrency), publish, archive, delete, restore."""

from datetime import UTC, datetime
from uuid import UUID

import strawberry
from sqlalchemy import select

import models
from loaders import INCLUDE_DELETED
from schema.content import Content
from schema.context import Info, Viewer
from schema.events import ContentChange, content_changed
from schema.filters import Difficulty
from schema.mutations.core import (
    Checks,
    ConstraintErrors,
    UserError,
    UserErrorCode,
    atomic,
    fail,
    forbidden,
    not_found,
    parse_id,
)
from schema.policy import Action, may

KNOWN: ConstraintErrors = {
    "ck_contents_title_length": ("input.title", UserErrorCode.INVALID, "must be 1-200 characters"),
}


def check_text(checks: Checks, *, title: str | None, summary: str | None, body: str | None) -> None:
    checks.length(title, "input.title", high=models.content.TITLE_MAX)
    checks.length(summary, "input.summary", low=0, high=models.content.SUMMARY_MAX)
    checks.length(body, "input.body", high=models.content.BODY_MAX)


async def content_for_write(
    info: Info, pk: UUID, *, path: str = "input.id", include_deleted: bool = False
) -> models.Content:
    """The content, locked for this transaction, if the viewer may see it and edit it."""
    session = info.context.db.session
    # FOR NO KEY UPDATE: rows that reference the content (comments, ratings, tags) can still
    # be inserted meanwhile; only other writers of the content itself wait.
    statement = (
        select(models.Content).where(models.Content.id == pk).with_for_update(key_share=True)
    )
    options = {INCLUDE_DELETED: True} if include_deleted else {}
    row = (await session.execute(statement, execution_options=options)).scalar_one_or_none()
    if row is None:
        raise not_found(path, "content")
    if not may(info.context.viewer, Action.EDIT_CONTENT, row.author_id):
        raise forbidden("only the author or an admin may change this content")
    return row


def require_id(global_id: strawberry.ID, type_name: str, path: str = "input.id") -> UUID:
    checks = Checks()
    pk = parse_id(checks, global_id, type_name, path)
    checks.raise_if_any()
    assert pk is not None
    return pk


@strawberry.type
class CreateContentPayload:
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class UpdateContentPayload:
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PublishContentPayload:
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ArchiveContentPayload:
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteContentPayload:
    deleted_content_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RestoreContentPayload:
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateContentInput:
    title: str
    body: str
    summary: str | None = None
    difficulty: Difficulty = Difficulty.BEGINNER


@strawberry.input(description="Fields left out stay as they are.")
class UpdateContentInput:
    id: strawberry.ID
    expected_version: int = strawberry.field(
        description="The `version` you read; a newer one means someone else changed it first."
    )
    title: str | None = strawberry.UNSET
    summary: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    difficulty: Difficulty | None = strawberry.UNSET


@strawberry.input
class PublishContentInput:
    id: strawberry.ID


@strawberry.input
class ArchiveContentInput:
    id: strawberry.ID


@strawberry.input
class DeleteContentInput:
    id: strawberry.ID


@strawberry.input
class RestoreContentInput:
    id: strawberry.ID


def _given(value: object) -> bool:
    return value is not strawberry.UNSET


async def _create(info: Info, data: CreateContentInput) -> models.Content:
    viewer: Viewer = info.context.viewer
    if not may(viewer, Action.CREATE_CONTENT):
        raise forbidden("only instructors and admins create contents")
    checks = Checks()
    check_text(checks, title=data.title, summary=data.summary, body=data.body)
    checks.raise_if_any()
    content = models.Content(
        author_id=viewer.id,
        title=data.title,
        summary=data.summary,
        body=data.body,
        difficulty=models.Difficulty(data.difficulty.value),
        status=models.ContentStatus.DRAFT,
    )
    session = info.context.db.session
    session.add(content)
    await session.flush()
    return content


async def _update(info: Info, data: UpdateContentInput) -> models.Content:
    pk = require_id(data.id, "Content")
    checks = Checks()
    for name in ("title", "body", "difficulty"):
        checks.require(getattr(data, name) is not None, f"input.{name}", "must not be null")
    check_text(
        checks,
        title=data.title if _given(data.title) else None,
        summary=data.summary if _given(data.summary) else None,
        body=data.body if _given(data.body) else None,
    )
    checks.raise_if_any()
    content = await content_for_write(info, pk)
    if content.version != data.expected_version:
        raise fail(
            "input.expectedVersion",
            f"the content is at version {content.version}; reload it and apply your change again",
            UserErrorCode.VERSION_MISMATCH,
        )
    if _given(data.title):
        content.title = str(data.title)
    if _given(data.summary):
        content.summary = data.summary
    if _given(data.body):
        content.body = str(data.body)
    if _given(data.difficulty) and data.difficulty is not None:
        content.difficulty = models.Difficulty(data.difficulty.value)
    changed = info.context.db.session.is_modified(content)  # an update to the same values is none
    await info.context.db.session.flush()
    if changed:
        await content_changed(info, content, ContentChange.UPDATED)
    return content


async def _set_status(
    info: Info, global_id: strawberry.ID, status: models.ContentStatus
) -> models.Content:
    content = await content_for_write(info, require_id(global_id, "Content"))
    archiving_a_draft = content.status is models.ContentStatus.DRAFT and (
        status is models.ContentStatus.ARCHIVED
    )
    if archiving_a_draft:  # archived means "was published, now retired"
        raise fail("input.id", "a draft cannot be archived: publish it first, or delete it")
    if content.status is not status:
        content.status = status
        if status is models.ContentStatus.PUBLISHED and content.published_at is None:
            content.published_at = datetime.now(UTC)
        await info.context.db.session.flush()
        await content_changed(info, content, ContentChange(status.value))
    return content


async def _delete(info: Info, global_id: strawberry.ID) -> models.Content:
    content = await content_for_write(info, require_id(global_id, "Content"))
    content.deleted_at = datetime.now(UTC)
    content.deleted_by = info.context.viewer.id
    await info.context.db.session.flush()
    await content_changed(info, content, ContentChange.DELETED)
    return content


async def _restore(info: Info, global_id: strawberry.ID) -> models.Content:
    content = await content_for_write(info, require_id(global_id, "Content"), include_deleted=True)
    if content.deleted_at is None:
        return content
    content.deleted_at = None
    content.deleted_by = None
    await info.context.db.session.flush()
    await content_changed(info, content, ContentChange.RESTORED)
    return content


@strawberry.type
class ContentMutations:
    @strawberry.mutation(description="Write a new content; it starts as a DRAFT.")
    async def create_content(self, info: Info, input: CreateContentInput) -> CreateContentPayload:
        result = await atomic(info, lambda: _create(info, input), KNOWN)
        if isinstance(result, list):
            return CreateContentPayload(user_errors=result)
        return CreateContentPayload(content=Content.from_row(result))

    @strawberry.mutation(description="Change a content if it is still at `expectedVersion`.")
    async def update_content(self, info: Info, input: UpdateContentInput) -> UpdateContentPayload:
        result = await atomic(info, lambda: _update(info, input), KNOWN)
        if isinstance(result, list):
            return UpdateContentPayload(user_errors=result)
        return UpdateContentPayload(content=Content.from_row(result))

    @strawberry.mutation
    async def publish_content(
        self, info: Info, input: PublishContentInput
    ) -> PublishContentPayload:
        result = await atomic(
            info, lambda: _set_status(info, input.id, models.ContentStatus.PUBLISHED)
        )
        if isinstance(result, list):
            return PublishContentPayload(user_errors=result)
        return PublishContentPayload(content=Content.from_row(result))

    @strawberry.mutation
    async def archive_content(
        self, info: Info, input: ArchiveContentInput
    ) -> ArchiveContentPayload:
        result = await atomic(
            info, lambda: _set_status(info, input.id, models.ContentStatus.ARCHIVED)
        )
        if isinstance(result, list):
            return ArchiveContentPayload(user_errors=result)
        return ArchiveContentPayload(content=Content.from_row(result))

    @strawberry.mutation(
        description="Hide a content (soft delete); `restoreContent` brings it back."
    )
    async def delete_content(self, info: Info, input: DeleteContentInput) -> DeleteContentPayload:
        result = await atomic(info, lambda: _delete(info, input.id))
        if isinstance(result, list):
            return DeleteContentPayload(user_errors=result)
        return DeleteContentPayload(deleted_content_id=input.id)

    @strawberry.mutation
    async def restore_content(
        self, info: Info, input: RestoreContentInput
    ) -> RestoreContentPayload:
        result = await atomic(info, lambda: _restore(info, input.id))
        if isinstance(result, list):
            return RestoreContentPayload(user_errors=result)
        return RestoreContentPayload(content=Content.from_row(result))
