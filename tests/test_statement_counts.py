"""The N+1 rule, measured: a request costs one statement per distinct edge, whatever the list size.

Counts come from the response's `extensions.sqlStatements`, which counts every statement the
request's transaction sent, its setup included.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import to_global_id
from tests.api import gql, token_for
from tests.factories import make_org

Sessionmaker = async_sessionmaker[AsyncSession]

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def _user(index: int, role: models.Role = models.Role.STUDENT) -> models.User:
    name = f"u{index}x{uuid4().hex[:8]}"
    return models.User(
        id=uuid4(), email=f"{name}@example.com", username=name, full_name=name, role=role
    )


def _content(author: models.User, index: int, **fields: Any) -> models.Content:
    return models.Content(
        id=uuid4(),
        author_id=author.id,
        title=f"Content {index}",
        body="Body text",
        status=models.ContentStatus.PUBLISHED,
        published_at=datetime.now(UTC),
        **fields,
    )


# --- the big nested query -------------------------------------------------------------------

BIG_QUERY = """
query ($first: Int!) {
  contents(first: $first, orderBy: CREATED_AT_DESC) { edges { node { id title
    author { username profile { bio } } tags { name } ratingSummary { count average }
    comments(first: 10) { edges { node { body author { username } } } } } } }
}
"""
# 1 setup (tenant, role, timeouts) + viewer check, in one round trip (`begin_request`)
# 2 contents page            3 Content.author       4 User.profile
# 5 Content.tags (through content_tags)             6 ratingSummary (GROUP BY)
# 7 first 10 comments of every content (row_number window)        8 Comment.author
BIG_QUERY_STATEMENTS = 8


async def _big_graph(sessionmaker: Sessionmaker) -> models.User:
    """60 contents by 12 authors with profiles; 2 tags, 3 ratings and 12 comments each."""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        viewer = _user(0, models.Role.STUDENT)
        users = [_user(i, models.Role.INSTRUCTOR) for i in range(1, 13)]
        db.add_all([viewer, *users])
        await db.flush()
        tags = [models.Tag(id=uuid4(), name=f"tag{i}") for i in range(4)]
        contents = [_content(users[i % 12], i) for i in range(60)]
        db.add_all([*tags, *contents])
        db.add_all(
            models.UserProfile(user_id=user.id, bio=f"bio {user.username}") for user in users
        )
        await db.flush()
        for i, content in enumerate(contents):
            db.add_all(
                models.ContentTag(content_id=content.id, tag_id=tags[(i + k) % 4].id)
                for k in range(2)
            )
            db.add_all(
                models.Rating(content_id=content.id, user_id=users[(i + k) % 12].id, score=k + 2)
                for k in range(3)
            )
            db.add_all(
                models.Comment(
                    id=uuid4(), content_id=content.id, author_id=user.id, body=f"comment {k}"
                )
                for k, user in enumerate(users)
            )
        await db.flush()
    return viewer


async def test_the_big_query_costs_the_same_for_any_page_size(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient
) -> None:
    token = token_for(settings, await _big_graph(sessionmaker))
    for first, expected_nodes in ((5, 5), (50, 50), (100, 60)):
        response = await gql(client, BIG_QUERY, {"first": first}, token=token)
        edges = response.data["contents"]["edges"]
        assert len(edges) == expected_nodes
        node = edges[0]["node"]
        assert node["author"]["profile"]["bio"] == f"bio {node['author']['username']}"
        assert len(node["tags"]) == 2
        assert node["ratingSummary"]["count"] == 3
        assert len(node["comments"]["edges"]) == 10
        assert all(edge["node"]["author"] for edge in node["comments"]["edges"])
        assert response.statements == BIG_QUERY_STATEMENTS, first


# --- every edge, from 2 parents and from 12 -------------------------------------------------


@dataclass(frozen=True)
class Graph:
    viewer: models.User
    ids: dict[str, list[str]]  # global ids by type: Comment, Rating, UserProfile

    def ids_for(self, query: str) -> list[str]:
        """Ids of the type the query's `nodes` spreads on (comments by default)."""
        spread = re.search(r"\.\.\. on (\w+)", query)
        return self.ids[spread.group(1) if spread else "Comment"]


async def _edge_graph(sessionmaker: Sessionmaker) -> Graph:
    """12 students with everything: profile, a content (tags, attachment, prerequisites), comments
    with replies, ratings. The admin viewer rated every content."""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        admin = _user(0, models.Role.ADMIN)
        students = [_user(i) for i in range(1, 13)]
        db.add_all([admin, *students])
        await db.flush()
        # Sorts last under CREATED_AT_DESC, so it is never among the listed contents.
        base = _content(admin, 99, created_at=LONG_AGO)
        contents = [_content(student, i) for i, student in enumerate(students)]
        tags = [models.Tag(id=uuid4(), name=f"tag{i}") for i in range(12)]
        db.add_all([base, *contents, *tags])
        profiles = [models.UserProfile(user_id=user.id, bio="hi") for user in [admin, *students]]
        db.add_all(profiles)
        await db.flush()
        threads: list[models.Comment] = []
        ratings: list[models.Rating] = []
        for i, content in enumerate(contents):
            # A chain 0 -> 1 -> ... -> 11 -> base: every content has a prerequisite and all but
            # the first are required by another.
            after = contents[i + 1] if i + 1 < len(contents) else base
            db.add(models.ContentPrerequisite(content_id=content.id, prerequisite_id=after.id))
            db.add_all(
                models.ContentTag(content_id=content.id, tag_id=tags[(i + k) % 12].id)
                for k in range(2)
            )
            db.add(
                models.Attachment(
                    content_id=content.id,
                    filename="a.pdf",
                    mime_type="application/pdf",
                    size_bytes=10,
                    url="https://files.example.com/a.pdf",
                )
            )
            ratings.extend(
                models.Rating(content_id=content.id, user_id=user.id, score=3)
                for user in (admin, students[i], students[(i + 1) % 12])
            )
            for k in range(2):
                thread = models.Comment(
                    id=uuid4(),
                    content_id=content.id,
                    author_id=students[(i + k) % 12].id,
                    body="thread",
                )
                threads.append(thread)
        db.add_all([*threads, *ratings])
        await db.flush()
        # Student i replies on its own content: every student has 2 threads and 1 reply.
        replies = [
            models.Comment(
                id=uuid4(),
                content_id=thread.content_id,
                author_id=thread.author_id,
                parent_id=thread.id,
                body="reply",
            )
            for thread in threads[::2]
        ]
        db.add_all(replies)
        await db.flush()
    ids = {
        "Comment": [to_global_id("Comment", c.id) for c in [*threads, *replies]],
        "Rating": [to_global_id("Rating", (r.content_id, r.user_id)) for r in ratings],
        "UserProfile": [to_global_id("UserProfile", p.user_id) for p in profiles],
    }
    return Graph(admin, ids)


CONTENTS = "query ($n: Int!) { contents(first: $n) { edges { node { id %s } } } }"
STUDENTS = (
    "query ($n: Int!) { users(first: $n, filter: {role: [STUDENT]}) { edges { node { id %s } } } }"
)
TAGS = "query ($n: Int!) { tags(first: $n) { edges { node { id %s } } } }"
# Comments of the first n students: 3 each (2 thread starts and 1 reply).
COMMENTS = STUDENTS % "comments(first: 3) { edges { node { id %s } } }"
RATINGS = STUDENTS % "ratings(first: 2) { edges { node { score %s } } }"
PAGE = "(first: 2) { edges { node { id } } }"

# (query, statements): 1 setup + 1 root page + one per edge below the root. A nested
# `totalCount` alone costs just its count: no page is loaded when no edge is selected.
EDGE_QUERIES: dict[str, tuple[str, int]] = {
    "Content.author": (CONTENTS % "author { id }", 3),
    "Content.tags": (CONTENTS % "tags { id }", 3),
    "Content.attachments": (CONTENTS % "attachments { id }", 3),
    "Content.prerequisites": (CONTENTS % "prerequisites { id }", 3),
    "Content.requiredBy": (CONTENTS % "requiredBy { id }", 3),
    "Content.comments": (CONTENTS % f"comments{PAGE}", 3),
    "Content.commentCount": (CONTENTS % "commentCount", 3),
    "Content.ratingSummary": (CONTENTS % "ratingSummary { count average }", 3),
    "Content.viewerRating": (CONTENTS % "viewerRating { score }", 3),
    # Ids of values and nodes read what is loaded already: no statement of their own.
    "Content.ratingSummary.id": (CONTENTS % "ratingSummary { id count }", 3),
    "Content.viewerRating.id": (CONTENTS % "viewerRating { id user { id } }", 4),
    "User.profile": (STUDENTS % "profile { bio }", 3),
    "User.profile.id": (STUDENTS % "profile { id bio }", 3),
    "User.contents": (STUDENTS % f"contents{PAGE}", 3),
    "User.comments": (STUDENTS % f"comments{PAGE}", 3),
    "User.ratings": (STUDENTS % "ratings(first: 2) { edges { node { score } } }", 3),
    "Comment.content": (COMMENTS % "content { id }", 4),
    "Comment.author": (COMMENTS % "author { id }", 4),
    "Comment.parent": (COMMENTS % "parent { id }", 4),
    "Comment.replies": (COMMENTS % f"replies{PAGE}", 4),
    "Tag.contents": (TAGS % f"contents{PAGE}", 3),
    "Rating.content": (RATINGS % "content { id }", 4),
    "Rating.user": (RATINGS % "user { id }", 4),
    "Attachment.content": (CONTENTS % "attachments { content { id } }", 4),
    "UserProfile.user": (STUDENTS % "profile { user { id } }", 4),
    "Content.comments.totalCount": (CONTENTS % "comments(first: 1) { totalCount }", 3),
    "User.contents.totalCount": (STUDENTS % "contents(first: 1) { totalCount }", 3),
    "Tag.contents.totalCount": (TAGS % "contents(first: 1) { totalCount }", 3),
    "Query.contents.totalCount": (
        "query ($n: Int!) { contents(first: $n) { totalCount edges { node { id } } } }",
        3,
    ),
    "Query.nodes": ("query ($ids: [ID!]!) { nodes(ids: $ids) { id } }", 2),
    "Query.nodes.Comment.author": (
        "query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Comment { author { id } } } }",
        3,
    ),
    # Ratings by their compound key: one statement for any number of them.
    "Query.nodes.Rating": ("query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Rating { id } } }", 2),
    "Query.nodes.Rating.user.content": (
        "query ($ids: [ID!]!) { nodes(ids: $ids) { ... on Rating { user { id } content { id } } }"
        " }",
        4,
    ),
    "Query.nodes.UserProfile.user": (
        "query ($ids: [ID!]!) { nodes(ids: $ids) { ... on UserProfile { id user { id } } } }",
        3,
    ),
}


def _walked(parent: dict[str, Any]) -> bool:
    """Whether the edge under test found something for this parent (beyond the parent's id)."""
    node = parent.get("node", parent)
    below = {key: value for key, value in node.items() if key != "id"}
    return _non_empty(below or node)


def _non_empty(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_non_empty(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_empty(v) for v in value)
    return value is not None


@pytest.mark.parametrize("edge", EDGE_QUERIES)
async def test_an_edge_costs_one_statement_for_any_number_of_parents(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient, edge: str
) -> None:
    graph = await _edge_graph(sessionmaker)
    token = token_for(settings, graph.viewer)
    query, expected = EDGE_QUERIES[edge]
    counts = []
    for n in (2, 12):
        variables = {"ids": graph.ids_for(query)[:n]} if "$ids" in query else {"n": n}
        response = await gql(client, query, variables, token=token)
        data = response.data
        # Each parent's edge was walked: the leaf objects are there, for every parent.
        parents = data["nodes"] if "nodes" in data else next(iter(data.values()))["edges"]
        assert len(parents) == n
        assert sum(_walked(parent) for parent in parents) >= n - 1, data
        counts.append(response.statements)
    assert counts == [expected, expected], f"{edge}: {counts} statements for 2 and 12 parents"


# --- node(id) --------------------------------------------------------------------------------

NODE_QUERY = "query ($id: ID!) { node(id: $id) { ... on Content { title author { username } } } }"
# 1 setup + viewer check, 2 the content by key, 3 its author
NODE_STATEMENTS = 3


async def test_node_lookup_with_its_author(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author = _user(1, models.Role.INSTRUCTOR)
        db.add(author)
        await db.flush()
        content = _content(author, 1)
        db.add(content)
        await db.flush()
    response = await gql(
        client,
        NODE_QUERY,
        {"id": to_global_id("Content", content.id)},
        token=token_for(settings, author),
    )
    assert response.data["node"] == {"title": "Content 1", "author": {"username": author.username}}
    assert response.statements == NODE_STATEMENTS


# --- the bench's mutation request ------------------------------------------------------------

MUTATION = """
mutation ($content: ID!) {
  addComment(input: {contentId: $content, body: "Counted"}) {
    comment { id body } userErrors { code }
  }
  rateContent(input: {contentId: $content, score: 4}) { rating { score } userErrors { code } }
}
"""
# 1 setup + viewer check
# addComment: 2 SAVEPOINT  3 the content FOR SHARE  4 INSERT comment  5 INSERT its event  6 RELEASE
# rateContent: 7 SAVEPOINT  8 the content FOR SHARE  9 the rating's upsert  10 RELEASE
# (the tables-written announcement runs at commit, after the answer is counted)
MUTATION_STATEMENTS = 10


async def test_a_comment_and_a_rating_in_one_request(
    sessionmaker: Sessionmaker, settings: Settings, client: httpx.AsyncClient
) -> None:
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:
        author, student = _user(1, models.Role.INSTRUCTOR), _user(2)
        db.add_all([author, student])
        await db.flush()
        content = _content(author, 1)
        db.add(content)
        await db.flush()
    variables = {"content": to_global_id("Content", content.id)}
    response = await gql(client, MUTATION, variables, token=token_for(settings, student))
    assert response.data["addComment"]["comment"]["body"] == "Counted"
    assert response.data["rateContent"] == {"rating": {"score": 4}, "userErrors": []}
    assert response.statements == MUTATION_STATEMENTS
