"""SQLAlchemy models: every table of the domain, imported here so the metadata is complete."""

from models.attachment import Attachment
from models.base import (
    APP_ROLE,
    STAMPED,
    Audited,
    Base,
    CrossTenantWrite,
    SoftDeleted,
    TenantScoped,
    Timestamped,
    stamped,
)
from models.comment import Comment
from models.content import (
    Content,
    ContentDeletion,
    ContentPrerequisite,
    ContentStatus,
    Difficulty,
)
from models.event import EventKind, OutboxEvent
from models.organization import Organization, Plan
from models.rating import Rating
from models.tag import ContentTag, Tag
from models.trusted_document import TrustedDocument
from models.user import Role, User, UserProfile, UserStatus, normalize_email

TENANT_TABLES = tuple(
    table.name for table in Base.metadata.sorted_tables if "organization_id" in table.c
)

__all__ = [
    "APP_ROLE",
    "STAMPED",
    "TENANT_TABLES",
    "Attachment",
    "Audited",
    "Base",
    "Comment",
    "Content",
    "ContentDeletion",
    "ContentPrerequisite",
    "ContentStatus",
    "ContentTag",
    "CrossTenantWrite",
    "Difficulty",
    "EventKind",
    "Organization",
    "OutboxEvent",
    "Plan",
    "Rating",
    "Role",
    "SoftDeleted",
    "Tag",
    "TenantScoped",
    "Timestamped",
    "TrustedDocument",
    "User",
    "UserProfile",
    "UserStatus",
    "normalize_email",
    "stamped",
]
