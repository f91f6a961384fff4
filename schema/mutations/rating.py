"""Rating mutations: rate a published content, and take the rating back.

Rating is one `INSERT ... ON CONFLICT DO UPDATE`: however many requests of one user race on one
content, the table keeps one row with the last score written. Ratings do not change the
content's `version` (they are not edits of it).
"""

from typing import Any, cast

import strawberry
from sqlalchemy import Table, bindparam, delete, func
from sqlalchemy.dialects.postgresql import insert

import models
from schema.content import Content, Rating
from schema.context import Context
from schema.mutations.checks import Checks, parsed_id
from schema.mutations.rows import Lock, find_row
from schema.mutations.run import ConstraintErrors, mutation
from schema.mutations.user_errors import UserError, UserErrorCode, fail, forbidden
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


def _upsert() -> Any:
    """The rating's upsert, built once with its values bound: building it (its `excluded` most
    of all) cost more than running it."""
    columns = models.Rating.__table__.c
    values: dict[str, Any] = {
        name: bindparam(name, type_=columns[name].type)
        for name in ("organization_id", "content_id", "user_id", "score")
    }
    # now() here rather than in DO UPDATE, where Citus refuses any function not immutable.
    values["updated_at"] = func.now()
    statement = insert(cast(Table, models.Rating.__table__)).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[
            models.Rating.organization_id,
            models.Rating.content_id,
            models.Rating.user_id,
        ],
        set_={"score": statement.excluded.score, "updated_at": statement.excluded.updated_at},
    )
    return statement.returning(*models.Rating.__table__.c)


_UPSERT = _upsert()


async def _rate(context: Context, input: RateContentInput) -> RateContentPayload:
    viewer = context.viewer
    checks = Checks()
    pk = checks.id(input.content_id, "Content", "input.contentId")
    checks.require(
        SCORE_MIN <= input.score <= SCORE_MAX,
        "input.score",
        f"must be between {SCORE_MIN} and {SCORE_MAX}",
    )
    checks.raise_if_any()
    if not may(viewer, Action.RATE):
        raise forbidden("you may not rate contents")
    # FOR SHARE: it stays published until this transaction ends.
    content = await find_row(context, models.Content, pk, "input.contentId", lock=Lock.SHARE)
    if content.status != models.ContentStatus.PUBLISHED:
        raise forbidden("only published contents can be rated")
    values = {"content_id": content.id, "user_id": viewer.id, "score": input.score}
    row = models.stamped(models.Rating, values, viewer.organization_id, viewer.id)
    (rating,) = await context.db.all(_UPSERT, row)
    return RateContentPayload(rating=Rating.from_row(rating), content=Content.from_row(content))


async def _remove(context: Context, input: RemoveRatingInput) -> RemoveRatingPayload:
    viewer = context.viewer
    pk = parsed_id(input.content_id, "Content", "input.contentId")
    content = await find_row(context, models.Content, pk, "input.contentId")
    statement = (
        delete(models.Rating)
        .where(models.Rating.content_id == content.id, models.Rating.user_id == viewer.id)
        .returning(models.Rating.score)
    )
    if await context.db.scalar(statement, synchronize_session=False) is None:
        raise fail("input.contentId", "you have not rated this content", UserErrorCode.NOT_FOUND)
    return RemoveRatingPayload(content=Content.from_row(content))


@strawberry.type
class RatingMutations:
    rate_content = mutation(
        _rate,
        KNOWN,
        description="Rate a published content 1-5; rating it again replaces your score.",
        unit_of_work=False,
    )
    remove_rating = mutation(
        _remove,
        KNOWN,
        description="Take back your rating of a content.",
        unit_of_work=False,
    )
