"""Who may see and do what: one module that every resolver and mutation consults.

Reads: the criteria below are added to every ORM query of the request.

| role       | contents it sees                              |
|------------|-----------------------------------------------|
| ADMIN      | every content of its organization             |
| INSTRUCTOR | published contents, and its own in any status |
| STUDENT    | published contents, and its own in any status |

Deleted contents are seen by nobody; comments, ratings and attachments follow their content.
Writes: `WRITE_RULES` below; every mutation asks `may(viewer, action, owner)`.
"""

from enum import StrEnum
from functools import lru_cache
from uuid import UUID

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption

from models import Attachment, Comment, Content, ContentStatus, Rating, Role
from schema.context import Viewer

_contents = Content.__table__


def _content_visible(viewer_id: UUID, role: Role) -> ColumnElement[bool]:
    if role is Role.ADMIN:
        return true()
    return or_(
        _contents.c.status == ContentStatus.PUBLISHED.value, _contents.c.author_id == viewer_id
    )


def read_criteria(viewer: Viewer) -> tuple[ORMOption, ...]:
    """The viewer's read policy as loader criteria (built once per viewer: building is slow)."""
    return _read_criteria(viewer.id, viewer.role)


@lru_cache(maxsize=4096)
def _read_criteria(viewer_id: UUID, role: Role) -> tuple[ORMOption, ...]:
    visible_ids = select(_contents.c.id).where(
        and_(_contents.c.deleted_at.is_(None), _content_visible(viewer_id, role))
    )
    options: list[ORMOption] = [
        with_loader_criteria(
            child, lambda cls: cls.content_id.in_(visible_ids), include_aliases=True
        )
        for child in (Comment, Rating, Attachment)
    ]
    if role is not Role.ADMIN:
        options.append(
            with_loader_criteria(
                Content,
                lambda cls: or_(cls.status == ContentStatus.PUBLISHED, cls.author_id == viewer_id),
                include_aliases=True,
            )
        )
    return tuple(options)


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


_ALL = frozenset(Role)
_NONE: frozenset[Role] = frozenset()
_STAFF = frozenset({Role.ADMIN, Role.INSTRUCTOR})
_ADMIN = frozenset({Role.ADMIN})

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
