"""Who may see what. Reads: the criteria below are added to every ORM query of the request.

| role       | contents it sees                              |
|------------|-----------------------------------------------|
| ADMIN      | every content of its organization             |
| INSTRUCTOR | published contents, and its own in any status |
| STUDENT    | published contents, and its own in any status |

Deleted contents are seen by nobody; comments, ratings and attachments follow their content.
"""

from uuid import UUID

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import with_loader_criteria
from sqlalchemy.orm.interfaces import ORMOption

from models import Attachment, Comment, Content, ContentStatus, Rating
from schema.context import Viewer

_contents = Content.__table__


def _content_visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.is_admin:
        return true()
    viewer_id: UUID = viewer.id
    return or_(
        _contents.c.status == ContentStatus.PUBLISHED.value, _contents.c.author_id == viewer_id
    )


def read_criteria(viewer: Viewer) -> list[ORMOption]:
    visible_ids = select(_contents.c.id).where(
        and_(_contents.c.deleted_at.is_(None), _content_visible(viewer))
    )
    options: list[ORMOption] = [
        with_loader_criteria(
            child, lambda cls: cls.content_id.in_(visible_ids), include_aliases=True
        )
        for child in (Comment, Rating, Attachment)
    ]
    if not viewer.is_admin:
        viewer_id = viewer.id
        options.append(
            with_loader_criteria(
                Content,
                lambda cls: or_(cls.status == ContentStatus.PUBLISHED, cls.author_id == viewer_id),
                include_aliases=True,
            )
        )
    return options
