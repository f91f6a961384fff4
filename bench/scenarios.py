"""The five bench scenarios: their GraphQL documents and what a correct answer looks like.

Every target (server, naive baseline) is checked with `problem()` before it is timed; the floor,
which has no GraphQL, is checked by its own rules in `run.py`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

# A marker the cleanup after a run finds the comments of the mutation scenario by.
BENCH_COMMENT = "Written by make bench (removed after the run)."
SEARCH_WORD = "python"  # in titles and bodies of the seed's topics (gql_server/seed/catalog.py)


@dataclass(frozen=True, slots=True)
class Fixtures:
    """What the documents refer to, found in the dataset before the run."""

    content_id: str  # global id of the oldest published content: `node` and `mutation` use it
    rating_score: int  # the score `rateContent` writes (the student's seeded one, when it has one)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    viewer: str  # "admin" or "student": whose token the requests carry
    document: Callable[[Fixtures], str]
    check: Callable[[dict[str, Any], Fixtures], str | None]  # what is wrong with `data`
    needs_mutations: tuple[str, ...] = ()

    def body(self, fixtures: Fixtures) -> bytes:
        return orjson.dumps({"query": self.document(fixtures)})


def problem(scenario: Scenario, status: int, body: bytes, fixtures: Fixtures) -> str | None:
    """Why this HTTP answer is not a correct, error-free response (None when it is)."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"not JSON: {body[:300]!r}"
    if payload.get("errors"):
        return f"errors: {orjson.dumps(payload['errors'])[:500].decode()}"
    data = payload.get("data")
    if not isinstance(data, dict):
        return "no data"
    try:
        return scenario.check(data, fixtures)
    except (KeyError, TypeError, IndexError) as error:
        return f"unexpected shape ({type(error).__name__}: {error})"


def _nodes(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in connection["edges"]]


NESTED = (
    "{ contents(first: 50, orderBy: CREATED_AT_DESC) { edges { node {"
    " id title author { username profile { bio } } tags { name }"
    " ratingSummary { count average }"
    " comments(first: 10) { edges { node { body author { username } } } } } } } }"
)


def _check_nested(data: dict[str, Any], _: Fixtures) -> str | None:
    contents = _nodes(data["contents"])
    if len(contents) != 50:
        return f"{len(contents)} contents, expected 50"
    comments = 0
    for content in contents:
        if not content["title"] or not content["author"]["username"]:
            return f"content {content['id']} without title or author"
        if content["author"]["profile"] is None or not content["tags"]:
            return f"content {content['id']} without profile or tags"
        if content["ratingSummary"]["count"] < 1:
            return f"content {content['id']} without ratings"
        threads = _nodes(content["comments"])
        if len(threads) > 10 or any(not c["body"] or not c["author"] for c in threads):
            return f"content {content['id']}: bad comments page"
        comments += len(threads)
    return None if comments else "no comments at all"


def _node(fixtures: Fixtures) -> str:
    return (
        f'{{ node(id: "{fixtures.content_id}") {{'
        " ... on Content { title author { username } } } }"
    )


def _check_node(data: dict[str, Any], _: Fixtures) -> str | None:
    node = data["node"]
    if node is None or not node["title"] or not node["author"]["username"]:
        return f"node without title or author: {node}"
    return None


SEARCH = (
    f'{{ search(query: "{SEARCH_WORD}", first: 20) {{ edges {{ node {{'
    " id title summary difficulty author { username } } } } }"
)


def _check_search(data: dict[str, Any], _: Fixtures) -> str | None:
    found = _nodes(data["search"])
    if len(found) != 20:
        return f"{len(found)} matches, expected 20"
    return None if all(node["title"] for node in found) else "a match without title"


DEEP = (
    "{ users(first: 10) { edges { node { username"
    " contents(first: 10) { edges { node { title"
    " comments(first: 5) { edges { node { body"
    " replies(first: 3) { edges { node { author { username } } } } } } } } } } } } } }"
)


def _check_deep(data: dict[str, Any], _: Fixtures) -> str | None:
    users = _nodes(data["users"])
    if len(users) != 10:
        return f"{len(users)} users, expected 10"
    contents = [content for user in users for content in _nodes(user["contents"])]
    threads = [comment for content in contents for comment in _nodes(content["comments"])]
    replies = [reply for comment in threads for reply in _nodes(comment["replies"])]
    if not contents or not threads or not replies:
        return f"{len(contents)} contents, {len(threads)} threads, {len(replies)} replies"
    if any(not reply["author"]["username"] for reply in replies):
        return "a reply without author"
    return None


def _mutation(fixtures: Fixtures) -> str:
    content = fixtures.content_id
    return (
        "mutation {"
        f' addComment(input: {{contentId: "{content}", body: "{BENCH_COMMENT}", parentId: null}})'
        " { comment { id body } userErrors { field message code } }"
        f' rateContent(input: {{contentId: "{content}", score: {fixtures.rating_score}}})'
        " { rating { score } userErrors { field message code } } }"
    )


def _check_mutation(data: dict[str, Any], fixtures: Fixtures) -> str | None:
    added, rated = data["addComment"], data["rateContent"]
    if added["userErrors"] or rated["userErrors"]:
        return f"userErrors: {added['userErrors'] or rated['userErrors']}"
    if added["comment"]["body"] != BENCH_COMMENT:
        return "addComment did not return the comment"
    if rated["rating"]["score"] != fixtures.rating_score:
        return "rateContent did not return the score"
    return None


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("nested", "admin", lambda _: NESTED, _check_nested),
    Scenario("node", "admin", _node, _check_node),
    Scenario("search", "admin", lambda _: SEARCH, _check_search),
    Scenario("deep", "admin", lambda _: DEEP, _check_deep),
    Scenario(
        "mutation",
        "student",
        _mutation,
        _check_mutation,
        needs_mutations=("addComment", "rateContent"),
    ),
)
BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}

# The oldest published content: no other scenario reads its comments, so the mutation
# scenario's writes leave their answers unchanged.
FIXTURE_QUERY = (
    "{ contents(first: 1, orderBy: CREATED_AT_ASC, filter: {status: [PUBLISHED]})"
    " { edges { node { id } } } }"
)
MUTATIONS_QUERY = '{ __type(name: "Mutation") { fields { name } } }'


def normalized(data: Any) -> Any:
    """`data` with tag lists sorted: the server returns a content's tags in no fixed order."""
    if isinstance(data, dict):
        return {
            key: sorted(value, key=orjson.dumps)
            if key == "tags" and isinstance(value, list)
            else normalized(value)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [normalized(item) for item in data]
    return data


def first_difference(left: Any, right: Any, path: str = "data") -> str | None:
    if type(left) is not type(right):
        return f"{path}: {left!r} != {right!r}"
    if isinstance(left, dict):
        for key in sorted(set(left) | set(right)):
            if key not in left or key not in right:
                return f"{path}.{key}: only on one side"
            found = first_difference(left[key], right[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(left, list):
        if len(left) != len(right):
            return f"{path}: {len(left)} items != {len(right)}"
        for index, (a, b) in enumerate(zip(left, right, strict=True)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if left == right else f"{path}: {left!r} != {right!r}"
