"""The declarative base: one naming convention, one type map, and the mixins every table shares."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Enum, ForeignKey, MetaData, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

# The role every request runs as (`SET LOCAL ROLE`): no BYPASSRLS, so row-level security applies.
APP_ROLE = "gql_app"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Server-set values (created_at, updated_at) come back with RETURNING: no lazy load later.
    __mapper_args__ = {"eager_defaults": True}
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        UUID: PG_UUID(as_uuid=True),
        dict[str, Any]: JSONB,
    }


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), sort_order=90)
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), onupdate=func.now(), sort_order=91
    )


class Audited(Timestamped):
    """Who created and last changed the row: the writer, stamped by `stamped` on a new row and by
    the tenant session on a changed one."""

    created_by: Mapped[UUID | None] = mapped_column(sort_order=92)
    updated_by: Mapped[UUID | None] = mapped_column(sort_order=93)


class SoftDeleted:
    """Rows are hidden, not removed: the tenant session filters `deleted_at IS NULL` by default."""

    deleted_at: Mapped[datetime | None] = mapped_column(sort_order=94)
    deleted_by: Mapped[UUID | None] = mapped_column(sort_order=95)


class TenantScoped:
    """A row of one organization. `organization_id` leads the primary key of every tenant table."""

    @declared_attr
    def organization_id(cls) -> Mapped[UUID]:
        return mapped_column(
            ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True, sort_order=-10
        )


class CrossTenantWrite(Exception):
    """A new row names an organization other than the session's tenant."""


STAMPED = ("organization_id", "created_by", "updated_by")


def stamped(
    model: type[Any], values: Mapping[str, Any], tenant_id: UUID, actor: UUID | None
) -> dict[str, Any]:
    """A new row's values as written: the tenant on a row of a tenant table (another tenant's is
    refused), the actor as creator and last writer of an audited one.

    The one rule for the objects a tenant session flushes (`gql_server.tenancy`) and for the rows
    the mutations insert directly.
    """
    row = dict(values)
    if issubclass(model, TenantScoped):
        named = row.get("organization_id")
        if named is None:
            row["organization_id"] = tenant_id
        elif named != tenant_id:
            raise CrossTenantWrite(
                f"{model.__name__} for organization {named} refused in a session of"
                f" organization {tenant_id}"
            )
    if actor is not None and issubclass(model, Audited):
        row["created_by"] = row.get("created_by") or actor
        row["updated_by"] = actor
    return row


def str_enum(enum: type[Any]) -> Enum:
    """A `varchar` + CHECK enum: adding a value later is a one-line migration, not a type swap."""
    return Enum(
        enum,
        name=enum.__name__.lower(),
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )
