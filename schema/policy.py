"""Who may see and do what: one module that every resolver and mutation consults.

Reads: the criteria below are added to every ORM query of the request.

| role       | contents it sees                              |
|------------|-----------------------------------------------|
| ADMIN      | every content of its organization             |
| INSTRUCTOR | published contents, and its own in any status |
| STUDENT    | published contents, and its own in any status |

Deleted contents are seen by nobody; comments, ratings and attachments follow their content,
a profile its user (a deleted user's profile is seen by nobody).
Single fields: `HIDDEN_FIELDS` below. A field's resolver asks `may_read`; filters, searches,
orders and groups read every column through `visible_columns(viewer)`, where a hidden value is
NULL. A field hidden from the viewer on every row (`never_readable`) is refused as a filter, sort
or group key (BAD_USER_INPUT at its argument's path), since nothing could be learnt from it; one
hidden on some rows reads as NULL there. A comment's tombstone shows no author (`SHOWN_WHEN`).
Writes: `WRITE_RULES` below; every mutation asks `may(viewer, action, owner)`.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, case, cast, inspect, null, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption

from loaders.compiled import VIEWER_ID
from models import (
    Attachment,
    Comment,
    Content,
    ContentStatus,
    Rating,
    Role,
    User,
    UserProfile,
)
from schema.context import Viewer
from schema.errors import BadUserInput

_contents = Content.__table__
_users = User.__table__


def _content_visible(viewer_id: Any, role: Role) -> ColumnElement[bool]:
    if role is Role.ADMIN:
        return true()
    return or_(
        _contents.c.status == ContentStatus.PUBLISHED.value, _contents.c.author_id == viewer_id
    )


def read_criteria(viewer: Viewer) -> tuple[ORMOption, ...]:
    """The viewer's read policy as loader criteria (built once per viewer: building is slow)."""
    return _read_criteria(viewer.id, viewer.role)


def bound_read_criteria(role: Role) -> tuple[ORMOption, ...]:
    """The same for every viewer of `role`, bound to `loaders.compiled.VIEWER_ID`: compiled
    once into the statements loaders run directly."""
    return _read_criteria(VIEWER_ID, role)


@lru_cache(maxsize=4096)
def _read_criteria(viewer_id: Any, role: Role) -> tuple[ORMOption, ...]:
    # Plain expressions, not lambdas: SQLAlchemy analyses a criteria lambda once per place in
    # the code, so the same lambda could not take a viewer's id here and VIEWER_ID there.
    visible_ids = select(_contents.c.id).where(
        and_(_contents.c.deleted_at.is_(None), _content_visible(viewer_id, role))
    )
    options: list[ORMOption] = [
        with_loader_criteria(child, child.content_id.in_(visible_ids), include_aliases=True)
        for child in (Comment, Rating, Attachment)
    ]
    live_users = select(_users.c.id).where(_users.c.deleted_at.is_(None))
    options.append(
        with_loader_criteria(UserProfile, UserProfile.user_id.in_(live_users), include_aliases=True)
    )
    if role is not Role.ADMIN:
        options.append(
            with_loader_criteria(
                Content,
                or_(Content.status == ContentStatus.PUBLISHED, Content.author_id == viewer_id),
                include_aliases=True,
            )
        )
    return tuple(options)


def visibility_class(viewer_id: UUID, role: Role, *, per_viewer: bool) -> str:
    """Who may share a cached answer (`gql_server.response_cache`): viewers of one class see
    the same answer to the same query.

    An admin reads every row and every field of its organization, so two admins' answers differ
    only where the query reads who asks (`per_viewer`: the `viewer`, the viewer's own rating).
    Anyone else sees their own drafts and their own `email`: their answers are their own. The
    role is part of the class, so an answer read under an old role is never served under a new.
    """
    if role is Role.ADMIN and not per_viewer:
        return "admin"
    return f"viewer:{viewer_id}:{role.value}"


_ALL = frozenset(Role)
_NONE: frozenset[Role] = frozenset()
_STAFF = frozenset({Role.ADMIN, Role.INSTRUCTOR})
_ADMIN = frozenset({Role.ADMIN})


@dataclass(frozen=True, slots=True)
class HiddenField:
    """A column only some viewers may read: roles in `on_anything` on every row, roles in
    `on_own` on the rows whose `owner` column names them."""

    column: InstrumentedAttribute[Any]
    owner: InstrumentedAttribute[Any]
    on_anything: frozenset[Role]
    on_own: frozenset[Role]

    def readable_by(self, viewer: Viewer, owner_id: UUID) -> bool:
        return viewer.role in self.on_anything or (
            viewer.role in self.on_own and owner_id == viewer.id
        )


# Every field that not every viewer may read. A column computed from one of these (a search
# vector, say) must be listed too: `tests/test_hidden_fields.py` checks that it is, and tries
# every filter, search and order of every list against every field here, as every role.
HIDDEN_FIELDS: tuple[HiddenField, ...] = (
    HiddenField(User.email, owner=User.id, on_anything=_ADMIN, on_own=_ALL),
)

# Columns the schema shows only on the rows where the condition holds, whoever the viewer: a
# tombstone shows no author (`schema.comment.COMMENT_AUTHOR`), so no filter, sort or group of a
# thread may tell it either.
SHOWN_WHEN: dict[tuple[Any, str], Callable[[Any], ColumnElement[bool]]] = {
    (Comment, "author_id"): lambda comment: comment.deleted_at.is_(None),
}


def hidden_field(model: Any, name: str) -> HiddenField | None:
    """The rule hiding `model.<name>` from some viewers, if there is one."""
    for hidden in HIDDEN_FIELDS:  # read when asked: a handful, and tests may declare more
        if hidden.column.class_ is model and hidden.column.key == name:
            return hidden
    return None


def may_read(viewer: Viewer, column: InstrumentedAttribute[Any], owner_id: UUID) -> bool:
    """Whether `viewer` may read `column` on a row owned by `owner_id`."""
    hidden = hidden_field(column.class_, column.key)
    return hidden is None or hidden.readable_by(viewer, owner_id)


def never_readable(role: Role, model: Any, name: str) -> bool:
    """Whether viewers of `role` may read `model.<name>` on no row at all: the one decision
    `where`, `sort` and `groupBy` ask before they take a field."""
    hidden = hidden_field(model, name)
    return hidden is not None and role not in hidden.on_anything and role not in hidden.on_own


# A field an argument reads: (model, column, the argument's path to it).
Read = tuple[Any, str, str]


def refuse_unreadable(role: Role, reads: Iterable[Read]) -> None:
    """BAD_USER_INPUT at the path of the first field `role` may never read (`never_readable`)."""
    for model, name, path in reads:
        if never_readable(role, model, name):
            raise BadUserInput(f"`{path}` is a field the viewer may not read", argument=path)


@dataclass(frozen=True, slots=True)
class ViewerColumns:
    """`loaders.ColumnView` for one viewer: a hidden field is NULL where it may not read it."""

    viewer_id: Any  # the viewer's id, or `loaders.compiled.VIEWER_ID` (`bound`)
    role: Role

    def bound(self) -> "ViewerColumns":
        """The same view for every viewer of the role, its id bound to `VIEWER_ID`."""
        return ViewerColumns(VIEWER_ID, self.role)

    def column(self, model: Any, name: str) -> ColumnElement[Any]:
        column: ColumnElement[Any] = getattr(model, name)
        mapped = inspect(model).mapper.class_
        shown = SHOWN_WHEN.get((mapped, name))
        if shown is not None:
            column = case((shown(model), column))  # NULL where the schema shows none
        hidden = hidden_field(mapped, name)
        if hidden is None or self.role in hidden.on_anything:
            return column
        if self.role in hidden.on_own:
            owner = getattr(model, hidden.owner.key)
            return case((owner == self.viewer_id, column))  # NULL on others' rows
        return cast(null(), column.type)  # typed: PostgreSQL sorts by no bare NULL


def visible_columns(viewer: Viewer) -> ViewerColumns:
    return ViewerColumns(viewer.id, viewer.role)


class Action(StrEnum):
    CREATE_CONTENT = "CREATE_CONTENT"
    EDIT_CONTENT = "EDIT_CONTENT"  # update, publish, archive, delete, restore, its links
    COMMENT = "COMMENT"
    EDIT_COMMENT = "EDIT_COMMENT"
    DELETE_COMMENT = "DELETE_COMMENT"
    RATE = "RATE"
    MANAGE_USERS = "MANAGE_USERS"
    EDIT_PROFILE = "EDIT_PROFILE"
    CREATE_TAG = "CREATE_TAG"
    MANAGE_TAGS = "MANAGE_TAGS"  # rename, delete


# Writes, as a table: who may act on anything, and who may act on what it owns.
WRITE_RULES: dict[Action, tuple[frozenset[Role], frozenset[Role]]] = {
    #                      on anything   on its own
    Action.CREATE_CONTENT: (_STAFF, _NONE),
    Action.EDIT_CONTENT: (_ADMIN, frozenset({Role.INSTRUCTOR})),
    Action.COMMENT: (_ALL, _NONE),  # on contents it may see; students: published ones
    Action.EDIT_COMMENT: (_ADMIN, _ALL),
    Action.DELETE_COMMENT: (_ADMIN, _ALL),
    Action.RATE: (_ALL, _NONE),  # published contents only
    Action.MANAGE_USERS: (_ADMIN, _NONE),
    Action.EDIT_PROFILE: (_ADMIN, _ALL),
    Action.CREATE_TAG: (_STAFF, _NONE),
    Action.MANAGE_TAGS: (_ADMIN, _NONE),
}


def may(viewer: Viewer, action: Action, owner_id: UUID | None = None) -> bool:
    """Whether `viewer` may perform `action` on an object owned by `owner_id` (None: no object)."""
    on_anything, on_own = WRITE_RULES[action]
    if viewer.role in on_anything:
        return True
    return owner_id is not None and owner_id == viewer.id and viewer.role in on_own
