"""Comment mutations: add one (to a content, or as a reply), edit it, delete it.

Deleting is a soft delete. A deleted comment that still has live replies stays in its thread as a
tombstone (body and author hidden), so its replies stay reachable; the loaders' thread filter
(`loaders.filters.in_thread`) decides which deleted comments still show.
"""

from datetime import UTC, datetime
from uuid import UUID

import strawberry
from sqlalchemy import select

import models
from models.comment import BODY_MAX
from schema.comment import Comment
from schema.content import Content
from schema.context import Info
from schema.events import comment_added
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

SAME_CONTENT = "must be a comment on the same content"

KNOWN: ConstraintErrors = {
    "ck_comments_body_length": (
        "input.body",
        UserErrorCode.INVALID,
        f"must be 1-{BODY_MAX} characters long",
    ),
    "fk_comments_organization_id_content_id_parent_id_comments": (
        "input.parentId",
        UserErrorCode.INVALID,
        SAME_CONTENT,
    ),
    "fk_comments_organization_id_content_id_contents": (
        "input.contentId",
        UserErrorCode.NOT_FOUND,
        "no content with this id",
    ),
}


@strawberry.type
class AddCommentPayload:
    comment: Comment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class EditCommentPayload:
    comment: Comment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteCommentPayload:
    deleted_comment_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
    content_id: strawberry.Private[UUID | None] = None

    @strawberry.field(description="The content the comment was on (its comment count changed).")
    async def content(self, info: Info) -> Content | None:
        if self.content_id is None:
            return None
        row = await info.context.loaders.by_key(models.Content).load(self.content_id)
        return None if row is None else Content.from_row(row)


@strawberry.input
class AddCommentInput:
    content_id: strawberry.ID
    body: str
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="The comment this one replies to (on the same content)."
    )


@strawberry.input
class EditCommentInput:
    id: strawberry.ID
    body: str


@strawberry.input
class DeleteCommentInput:
    id: strawberry.ID


def _check_body(checks: Checks, body: str) -> None:
    path = "input.body"
    if "\x00" in body:
        checks.require(False, path, "must not contain NUL characters")
    elif not body.strip():
        checks.require(False, path, "must not be blank")
    else:
        checks.require(len(body) <= BODY_MAX, path, f"must be at most {BODY_MAX} characters long")


async def _content_to_comment(info: Info, pk: UUID) -> models.Content:
    """The content, if the viewer sees it and may comment on it in its current status.

    Locked FOR SHARE: it cannot be unpublished or deleted before this transaction ends.
    """
    statement = select(models.Content).where(models.Content.id == pk).with_for_update(read=True)
    content = await info.context.db.session.scalar(statement)
    if content is None:
        raise not_found("input.contentId", "content")
    viewer = info.context.viewer
    if content.status is not models.ContentStatus.PUBLISHED and not may(
        viewer, Action.EDIT_CONTENT, content.author_id
    ):
        raise forbidden("only published contents take comments")
    return content


async def _comment_for_write(info: Info, pk: UUID, action: Action) -> models.Comment:
    statement = select(models.Comment).where(models.Comment.id == pk).with_for_update()
    comment = await info.context.db.session.scalar(statement)
    if comment is None:
        raise not_found("input.id", "comment")
    if not may(info.context.viewer, action, comment.author_id):
        raise forbidden("only the author or an admin may change this comment")
    return comment


async def _add(info: Info, data: AddCommentInput) -> models.Comment:
    viewer = info.context.viewer
    checks = Checks()
    content_pk = parse_id(checks, data.content_id, "Content", "input.contentId")
    parent_pk = parse_id(checks, data.parent_id, "Comment", "input.parentId")
    _check_body(checks, data.body)
    checks.raise_if_any()
    assert content_pk is not None
    if not may(viewer, Action.COMMENT):
        raise forbidden("you may not comment")
    content = await _content_to_comment(info, content_pk)
    session = info.context.db.session
    if parent_pk is not None:
        parent = await session.scalar(select(models.Comment).where(models.Comment.id == parent_pk))
        if parent is None:
            raise not_found("input.parentId", "comment")
        if parent.content_id != content.id:
            raise fail("input.parentId", SAME_CONTENT)
    comment = models.Comment(
        content_id=content.id, author_id=viewer.id, parent_id=parent_pk, body=data.body
    )
    session.add(comment)
    await session.flush()
    await comment_added(info, comment)
    return comment


async def _edit(info: Info, data: EditCommentInput) -> models.Comment:
    checks = Checks()
    pk = parse_id(checks, data.id, "Comment", "input.id")
    _check_body(checks, data.body)
    checks.raise_if_any()
    assert pk is not None
    comment = await _comment_for_write(info, pk, Action.EDIT_COMMENT)
    comment.body = data.body
    await info.context.db.session.flush()
    return comment


async def _delete(info: Info, data: DeleteCommentInput) -> models.Comment:
    checks = Checks()
    pk = parse_id(checks, data.id, "Comment", "input.id")
    checks.raise_if_any()
    assert pk is not None
    comment = await _comment_for_write(info, pk, Action.DELETE_COMMENT)
    comment.deleted_at = datetime.now(UTC)
    comment.deleted_by = info.context.viewer.id
    await info.context.db.session.flush()
    return comment


@strawberry.type
class CommentMutations:
    @strawberry.mutation(
        description="Comment on a content, or reply to a comment with `parentId`. Students"
        " comment on published contents only."
    )
    async def add_comment(self, info: Info, input: AddCommentInput) -> AddCommentPayload:
        result = await atomic(info, lambda: _add(info, input), KNOWN)
        if isinstance(result, list):
            return AddCommentPayload(user_errors=result)
        return AddCommentPayload(comment=Comment.from_row(result))

    @strawberry.mutation(description="Change the body of a comment (its author, or an admin).")
    async def edit_comment(self, info: Info, input: EditCommentInput) -> EditCommentPayload:
        result = await atomic(info, lambda: _edit(info, input), KNOWN)
        if isinstance(result, list):
            return EditCommentPayload(user_errors=result)
        return EditCommentPayload(comment=Comment.from_row(result))

    @strawberry.mutation(
        description="Delete a comment (its author, or an admin). One with replies stays in its"
        " thread as a tombstone."
    )
    async def delete_comment(self, info: Info, input: DeleteCommentInput) -> DeleteCommentPayload:
        result = await atomic(info, lambda: _delete(info, input), KNOWN)
        if isinstance(result, list):
            return DeleteCommentPayload(user_errors=result)
        return DeleteCommentPayload(deleted_comment_id=input.id, content_id=result.content_id)
