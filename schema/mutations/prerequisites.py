"""Mutations of the prerequisites graph: add and remove "content requires prerequisite" edges.

The graph stays acyclic. A cycle check followed by an insert is a race between two requests
(A requires B and B requires A, each checked against a graph without the other edge), so every
addition takes a transaction-level advisory lock on its tenant's graph first: additions within one
organization run one after another, and each checks against everything committed before it.
"""

from collections import deque
from typing import cast
from uuid import UUID

import strawberry
from sqlalchemy import Table, delete, select, text
from sqlalchemy.dialects.postgresql import insert

import models
from schema.content import Content
from schema.context import Context
from schema.mutations.checks import Checks
from schema.mutations.links import touch_content
from schema.mutations.rows import content_for_write, find
from schema.mutations.run import ConstraintErrors, mutation
from schema.mutations.user_errors import UserError, UserErrorCode, fail

KNOWN: ConstraintErrors = {
    "ck_content_prerequisites_no_self_loop": (
        "input.prerequisiteId",
        UserErrorCode.INVALID,
        "a content cannot require itself",
    ),
}

_links = cast(Table, models.ContentPrerequisite.__table__)

_LOCK_GRAPH = text(
    "select pg_advisory_xact_lock(hashtextextended('prerequisites:' || :organization_id, 0))"
)

# Every edge reachable from :start, each once (UNION drops repeats, so the walk ends even on a
# graph that is somehow cyclic), and only when :target is among them: then there is a path.
_PATH_EDGES = text(
    """
    with recursive reach(content_id, prerequisite_id) as (
        select content_id, prerequisite_id from content_prerequisites
        where organization_id = :organization_id and content_id = :start
      union
        select link.content_id, link.prerequisite_id
        from content_prerequisites link
        join reach on link.content_id = reach.prerequisite_id
        where link.organization_id = :organization_id
    )
    select content_id, prerequisite_id from reach
    where exists (select from reach where prerequisite_id = :target)
    """
)


@strawberry.input
class AddPrerequisiteInput:
    content_id: strawberry.ID
    prerequisite_id: strawberry.ID = strawberry.field(
        description="The content to study before `contentId`."
    )


@strawberry.input
class RemovePrerequisiteInput:
    content_id: strawberry.ID
    prerequisite_id: strawberry.ID


@strawberry.type
class AddPrerequisitePayload:
    content: Content | None = None
    prerequisite: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RemovePrerequisitePayload:
    content: Content | None = None
    prerequisite: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


Pair = tuple[models.Content, models.Content]


def _parse(content_id: strawberry.ID, prerequisite_id: strawberry.ID) -> tuple[UUID, UUID]:
    checks = Checks()
    content_pk = checks.id(content_id, "Content", "input.contentId")
    prerequisite_pk = checks.id(prerequisite_id, "Content", "input.prerequisiteId")
    checks.require(
        bool(checks.errors) or content_pk != prerequisite_pk,  # compared once both are ids
        "input.prerequisiteId",
        "a content cannot require itself",
    )
    checks.raise_if_any()
    return content_pk, prerequisite_pk


async def _pair(context: Context, content_pk: UUID, prerequisite_pk: UUID) -> Pair:
    content = await content_for_write(context, content_pk, path="input.contentId")
    prerequisite = await find(context, models.Content, prerequisite_pk, "input.prerequisiteId")
    return content, prerequisite


def shortest_path(edges: list[tuple[UUID, UUID]], start: UUID, target: UUID) -> list[UUID]:
    """The fewest-steps path `start -> ... -> target` along `edges`, or [] when there is none."""
    following: dict[UUID, list[UUID]] = {}
    for source, destination in edges:
        following.setdefault(source, []).append(destination)
    came_from: dict[UUID, UUID] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == target:
            path = [node]
            while path[-1] != start:
                path.append(came_from[path[-1]])
            return path[::-1]
        for step in following.get(node, ()):
            if step not in came_from and step != start:
                came_from[step] = node
                queue.append(step)
    return []


async def _describe(context: Context, path: list[UUID]) -> str:
    # Titles of contents the viewer may not see stay hidden; the refusal itself says enough.
    rows = await context.db.all(
        select(models.Content.id, models.Content.title).where(models.Content.id.in_(path))
    )
    titles = {pk: f'"{title}"' for pk, title in rows}
    return " -> ".join(titles.get(pk, "(a content you cannot see)") for pk in path)


async def _add(context: Context, input: AddPrerequisiteInput) -> AddPrerequisitePayload:
    pks = _parse(input.content_id, input.prerequisite_id)
    db = context.db
    organization_id = context.viewer.organization_id
    # The graph lock comes before any row lock. Taken after `content_for_write`, it deadlocks:
    # A -> B holds A's row and waits for the graph; B -> A holds the graph, and its insert's
    # foreign key check waits for A's row (FOR UPDATE blocks FOR KEY SHARE).
    await db.execute(_LOCK_GRAPH, {"organization_id": str(organization_id)})
    content, prerequisite = await _pair(context, *pks)
    # The new edge closes a cycle exactly when the prerequisite already requires the content.
    edges = await db.all(
        _PATH_EDGES,
        {"organization_id": organization_id, "start": prerequisite.id, "target": content.id},
    )
    path = shortest_path([(row[0], row[1]) for row in edges], prerequisite.id, content.id)
    if path:
        cycle = await _describe(context, [content.id, *path])
        raise fail(
            "input.prerequisiteId",
            f"would create a cycle: {cycle} (each requires the next)",
            UserErrorCode.INVALID,
        )
    added = await db.scalar(
        insert(_links)
        .values(
            models.stamped(
                models.ContentPrerequisite,
                {"content_id": content.id, "prerequisite_id": prerequisite.id},
                organization_id,
                context.viewer.id,
            )
        )
        .on_conflict_do_nothing()
        .returning(_links.c.content_id)
    )
    if added is not None:
        await touch_content(context, content)
    return AddPrerequisitePayload(
        content=Content.from_row(content), prerequisite=Content.from_row(prerequisite)
    )


async def _remove(context: Context, input: RemovePrerequisiteInput) -> RemovePrerequisitePayload:
    content, prerequisite = await _pair(context, *_parse(input.content_id, input.prerequisite_id))
    removed = await context.db.scalar(
        delete(_links)
        .where(
            _links.c.organization_id == context.viewer.organization_id,
            _links.c.content_id == content.id,
            _links.c.prerequisite_id == prerequisite.id,
        )
        .returning(_links.c.content_id)
    )
    if removed is None:
        raise fail(
            "input.prerequisiteId",
            "the content does not require this prerequisite",
            UserErrorCode.NOT_FOUND,
        )
    await touch_content(context, content)
    return RemovePrerequisitePayload(
        content=Content.from_row(content), prerequisite=Content.from_row(prerequisite)
    )


@strawberry.type
class PrerequisiteMutations:
    add_prerequisite = mutation(
        _add,
        KNOWN,
        description="Make `contentId` require `prerequisiteId`. Refused when it would close a"
        " cycle; adding an edge that already exists changes nothing and is not an error.",
    )
    remove_prerequisite = mutation(
        _remove, KNOWN, description="Stop `contentId` requiring `prerequisiteId`."
    )
