"""Comment mutations: add one (to a content, or as a reply), edit it, delete it.

Deleting is a soft delete. A deleted comment that still has live replies stays in its thread as a
tombstone (body and author hidden), so its replies stay reachable; the loaders' thread filter
(`loaders.filters.in_thread`) decides which deleted comments still show.
"""

import dataclasses
from datetime import UTC, datetime
from typing import Any, cast
from uuid import UUID, uuid4

import strawberry
from sqlalchemy import Table, bindparam, insert

import models
from models.comment import BODY_MAX
from schema.comment import Comment
from schema.content import Content
from schema.context import Context, Info
from schema.events import comment_added
from schema.execution.prefetch import register, resolve
from schema.mutations.checks import Checks, parsed_id
from schema.mutations.rows import Lock, find, find_row
from schema.mutations.run import ConstraintErrors, mutation
from schema.mutations.user_errors import UserError, UserErrorCode, fail, forbidden
from schema.policy import Action, may
from schema.relations import One

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
    # Its `content` is a registered relation, loaded like every other (schema.relations).
    prefetched: strawberry.Private[dict[str, Any]] = dataclasses.field(default_factory=dict)

    @strawberry.field(description="The content the comment was on (its comment count changed).")
    def content(self, info: Info) -> Content | None:
        return resolve(self, info, DELETED_COMMENT_CONTENT, {})


DELETED_COMMENT_CONTENT = One(models.Comment.content, "content_id", Content.from_row)
register("DeleteCommentPayload", {"content": DELETED_COMMENT_CONTENT})


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


async def _comment_for_write(context: Context, pk: UUID, action: Action) -> models.Comment:
    comment = await find(context, models.Comment, pk, "input.id", lock=Lock.UPDATE)
    if not may(context.viewer, action, comment.author_id):
        raise forbidden("only the author or an admin may change this comment")
    return comment


def _insert() -> Any:
    """A comment's INSERT, built once with its values bound; RETURNING gives what the database
    fills in (timestamps)."""
    comments = cast(Table, models.Comment.__table__)
    names = ("id", "content_id", "author_id", "parent_id", "body", *models.STAMPED)
    values = {name: bindparam(name, type_=comments.c[name].type) for name in names}
    return insert(comments).values(values).returning(*comments.c)


_INSERT = _insert()


async def _add(context: Context, input: AddCommentInput) -> AddCommentPayload:
    viewer = context.viewer
    checks = Checks()
    content_pk = checks.id(input.content_id, "Content", "input.contentId")
    parent_pk = (
        None if input.parent_id is None else checks.id(input.parent_id, "Comment", "input.parentId")
    )
    _check_body(checks, input.body)
    checks.raise_if_any()
    if not may(viewer, Action.COMMENT):
        raise forbidden("you may not comment")
    # FOR SHARE: the content cannot be unpublished or deleted before this transaction ends.
    content = await find_row(
        context, models.Content, content_pk, "input.contentId", lock=Lock.SHARE
    )
    if content.status != models.ContentStatus.PUBLISHED and not may(
        viewer, Action.EDIT_CONTENT, content.author_id
    ):
        raise forbidden("only published contents take comments")
    if parent_pk is not None:
        parent = await find_row(context, models.Comment, parent_pk, "input.parentId")
        if parent.content_id != content.id:
            raise fail("input.parentId", SAME_CONTENT)
    values = {
        "id": uuid4(),
        "content_id": content.id,
        "author_id": viewer.id,
        "parent_id": parent_pk,
        "body": input.body,
    }
    row = models.stamped(models.Comment, values, viewer.organization_id, viewer.id)
    (comment,) = await context.db.all(_INSERT, row)
    await comment_added(context, comment)
    return AddCommentPayload(comment=Comment.from_row(comment))


async def _edit(context: Context, input: EditCommentInput) -> EditCommentPayload:
    checks = Checks()
    pk = checks.id(input.id, "Comment", "input.id")
    _check_body(checks, input.body)
    checks.raise_if_any()
    comment = await _comment_for_write(context, pk, Action.EDIT_COMMENT)
    comment.body = input.body
    await context.db.flush()
    return EditCommentPayload(comment=Comment.from_row(comment))


async def _delete(context: Context, input: DeleteCommentInput) -> DeleteCommentPayload:
    comment = await _comment_for_write(
        context, parsed_id(input.id, "Comment"), Action.DELETE_COMMENT
    )
    comment.deleted_at = datetime.now(UTC)
    comment.deleted_by = context.viewer.id
    await context.db.flush()
    return DeleteCommentPayload(deleted_comment_id=input.id, content_id=comment.content_id)


@strawberry.type
class CommentMutations:
    add_comment = mutation(
        _add,
        KNOWN,
        description="Comment on a content, or reply to a comment with `parentId`. Students"
        " comment on published contents only.",
        unit_of_work=False,
    )
    edit_comment = mutation(
        _edit, KNOWN, description="Change the body of a comment (its author, or an admin)."
    )
    delete_comment = mutation(
        _delete,
        KNOWN,
        description="Delete a comment (its author, or an admin). One with replies stays in its"
        " thread as a tombstone.",
    )
