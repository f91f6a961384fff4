"""Rating mutations: rate a published content, and take the rating back.

Rating is one `INSERT ... ON CONFLICT DO UPDATE`: however many requests of one user race on one
content, the table keeps one row with the last score written. Ratings do not change the
content's `version` (they are not edits of it).
"""

from uuid import UUID

import strawberry
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

import models
from schema.content import Content, Rating
from schema.context import Info
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

SCORE_MIN, SCORE_MAX = 1, 5

KNOWN: ConstraintErrors = {
    "ck_ratings_score_range": (
        "input.score",
        UserErrorCode.INVALID,
        f"must be between {SCORE_MIN} and {SCORE_MAX}",
    ),
    "fk_ratings_organization_id_content_id_contents": (
        "input.contentId",
        UserErrorCode.NOT_FOUND,
        "no content with this id",
    ),
}


@strawberry.type
class RateContentPayload:
    rating: Rating | None = None
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RemoveRatingPayload:
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RateContentInput:
    content_id: strawberry.ID
    score: int = strawberry.field(description=f"{SCORE_MIN} (poor) to {SCORE_MAX} (excellent).")


@strawberry.input
class RemoveRatingInput:
    content_id: strawberry.ID


async def _visible_content(info: Info, pk: UUID, *, lock: bool = False) -> models.Content:
    statement = select(models.Content).where(models.Content.id == pk)
    if lock:  # FOR SHARE: it stays published until this transaction ends
        statement = statement.with_for_update(read=True)
    content = await info.context.db.session.scalar(statement)
    if content is None:
        raise not_found("input.contentId", "content")
    return content


async def _rate(info: Info, data: RateContentInput) -> tuple[models.Rating, models.Content]:
    viewer = info.context.viewer
    checks = Checks()
    pk = parse_id(checks, data.content_id, "Content", "input.contentId")
    checks.require(
        SCORE_MIN <= data.score <= SCORE_MAX,
        "input.score",
        f"must be between {SCORE_MIN} and {SCORE_MAX}",
    )
    checks.raise_if_any()
    assert pk is not None
    if not may(viewer, Action.RATE):
        raise forbidden("you may not rate contents")
    content = await _visible_content(info, pk, lock=True)
    if content.status is not models.ContentStatus.PUBLISHED:
        raise forbidden("only published contents can be rated")
    statement = insert(models.Rating).values(
        organization_id=viewer.organization_id,
        content_id=content.id,
        user_id=viewer.id,
        score=data.score,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[
            models.Rating.organization_id,
            models.Rating.content_id,
            models.Rating.user_id,
        ],
        set_={"score": statement.excluded.score, "updated_at": func.now()},
    )
    result = await info.context.db.session.scalars(
        statement.returning(models.Rating), execution_options={"populate_existing": True}
    )
    return result.one(), content


async def _remove(info: Info, data: RemoveRatingInput) -> models.Content:
    viewer = info.context.viewer
    checks = Checks()
    pk = parse_id(checks, data.content_id, "Content", "input.contentId")
    checks.raise_if_any()
    assert pk is not None
    content = await _visible_content(info, pk)
    statement = (
        delete(models.Rating)
        .where(models.Rating.content_id == content.id, models.Rating.user_id == viewer.id)
        .returning(models.Rating.score)
    )
    result = await info.context.db.session.execute(
        statement, execution_options={"synchronize_session": False}
    )
    if result.first() is None:
        raise fail("input.contentId", "you have not rated this content", UserErrorCode.NOT_FOUND)
    return content


@strawberry.type
class RatingMutations:
    @strawberry.mutation(
        description="Rate a published content 1-5; rating it again replaces your score."
    )
    async def rate_content(self, info: Info, input: RateContentInput) -> RateContentPayload:
        result = await atomic(info, lambda: _rate(info, input), KNOWN)
        if isinstance(result, list):
            return RateContentPayload(user_errors=result)
        rating, content = result
        return RateContentPayload(rating=Rating.from_row(rating), content=Content.from_row(content))

    @strawberry.mutation(description="Take back your rating of a content.")
    async def remove_rating(self, info: Info, input: RemoveRatingInput) -> RemoveRatingPayload:
        result = await atomic(info, lambda: _remove(info, input), KNOWN)
        if isinstance(result, list):
            return RemoveRatingPayload(user_errors=result)
        return RemoveRatingPayload(content=Content.from_row(result))
