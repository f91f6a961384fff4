"""Content mutations: create, update (optimistic concurrency), publish, archive, delete, restore."""

from datetime import UTC, datetime

import strawberry

import models
from schema.content import Content
from schema.context import Context
from schema.events import ContentChange, content_changed
from schema.filters import Difficulty
from schema.mutations.checks import Checks, given, parsed_id
from schema.mutations.rows import content_for_write
from schema.mutations.run import ConstraintErrors, mutation
from schema.mutations.user_errors import UserError, UserErrorCode, fail, forbidden
from schema.policy import Action, may

KNOWN: ConstraintErrors = {
    "ck_contents_title_length": ("input.title", UserErrorCode.INVALID, "must be 1-200 characters"),
}


def check_text(checks: Checks, *, title: str | None, summary: str | None, body: str | None) -> None:
    checks.length(title, "input.title", high=models.content.TITLE_MAX)
    checks.length(summary, "input.summary", low=0, high=models.content.SUMMARY_MAX)
    checks.length(body, "input.body", high=models.content.BODY_MAX)


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


async def _create(context: Context, input: CreateContentInput) -> CreateContentPayload:
    viewer = context.viewer
    if not may(viewer, Action.CREATE_CONTENT):
        raise forbidden("only instructors and admins create contents")
    checks = Checks()
    check_text(checks, title=input.title, summary=input.summary, body=input.body)
    checks.raise_if_any()
    content = models.Content(
        author_id=viewer.id,
        title=input.title,
        summary=input.summary,
        body=input.body,
        difficulty=models.Difficulty(input.difficulty.value),
        status=models.ContentStatus.DRAFT,
    )
    context.db.add(content)
    await context.db.flush()
    return CreateContentPayload(content=Content.from_row(content))


async def _update(context: Context, input: UpdateContentInput) -> UpdateContentPayload:
    pk = parsed_id(input.id, "Content")
    checks = Checks()
    for name in ("title", "body", "difficulty"):
        checks.require(getattr(input, name) is not None, f"input.{name}", "must not be null")
    check_text(
        checks,
        title=input.title if given(input.title) else None,
        summary=input.summary if given(input.summary) else None,
        body=input.body if given(input.body) else None,
    )
    checks.raise_if_any()
    content = await content_for_write(context, pk)
    if content.version != input.expected_version:
        raise fail(
            "input.expectedVersion",
            f"the content is at version {content.version}; reload it and apply your change again",
            UserErrorCode.VERSION_MISMATCH,
        )
    if given(input.title):
        content.title = str(input.title)
    if given(input.summary):
        content.summary = input.summary
    if given(input.body):
        content.body = str(input.body)
    if given(input.difficulty) and input.difficulty is not None:
        content.difficulty = models.Difficulty(input.difficulty.value)
    await context.db.flush()
    if content.version != input.expected_version:  # an update to the same values is none
        await content_changed(context, content, ContentChange.UPDATED)
    return UpdateContentPayload(content=Content.from_row(content))


async def _set_status(
    context: Context, global_id: strawberry.ID, status: models.ContentStatus
) -> models.Content:
    content = await content_for_write(context, parsed_id(global_id, "Content"))
    archiving_a_draft = content.status is models.ContentStatus.DRAFT and (
        status is models.ContentStatus.ARCHIVED
    )
    if archiving_a_draft:  # archived means "was published, now retired"
        raise fail("input.id", "a draft cannot be archived: publish it first, or delete it")
    if content.status is not status:
        content.status = status
        if status is models.ContentStatus.PUBLISHED and content.published_at is None:
            content.published_at = datetime.now(UTC)
        await context.db.flush()
        await content_changed(context, content, ContentChange(status.value))
    return content


async def _publish(context: Context, input: PublishContentInput) -> PublishContentPayload:
    content = await _set_status(context, input.id, models.ContentStatus.PUBLISHED)
    return PublishContentPayload(content=Content.from_row(content))


async def _archive(context: Context, input: ArchiveContentInput) -> ArchiveContentPayload:
    content = await _set_status(context, input.id, models.ContentStatus.ARCHIVED)
    return ArchiveContentPayload(content=Content.from_row(content))


async def _delete(context: Context, input: DeleteContentInput) -> DeleteContentPayload:
    content = await content_for_write(context, parsed_id(input.id, "Content"))
    content.deleted_at = datetime.now(UTC)
    content.deleted_by = context.viewer.id
    await context.db.flush()
    await content_changed(context, content, ContentChange.DELETED)
    return DeleteContentPayload(deleted_content_id=input.id)


async def _restore(context: Context, input: RestoreContentInput) -> RestoreContentPayload:
    content = await content_for_write(context, parsed_id(input.id, "Content"), include_deleted=True)
    if content.deleted_at is not None:
        content.deleted_at = None
        content.deleted_by = None
        await context.db.flush()
        await content_changed(context, content, ContentChange.RESTORED)
    return RestoreContentPayload(content=Content.from_row(content))


@strawberry.type
class ContentMutations:
    create_content = mutation(
        _create, KNOWN, description="Write a new content; it starts as a DRAFT."
    )
    update_content = mutation(
        _update, KNOWN, description="Change a content if it is still at `expectedVersion`."
    )
    publish_content = mutation(_publish)
    archive_content = mutation(_archive)
    delete_content = mutation(
        _delete, description="Hide a content (soft delete); `restoreContent` brings it back."
    )
    restore_content = mutation(_restore)
