"""The outbox: every event a mutation announces, written in the mutation's own transaction.

A row holds ids only (what happened, to which row); subscribers read the rows themselves. Every
transaction that writes tenant data also writes one `tables_written` row naming the tables it
wrote (`gql_server.tenancy`), which the response caches drop their answers by. `txid`
is the writing transaction's id (`pg_current_xact_id()`), and `(txid, id)` is the order events
are delivered in: `gql_server.outbox` explains why that order, and not `id` alone.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from sqlalchemy import ARRAY, BigInteger, Identity, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, TenantScoped, str_enum

# The transaction's id as a plain bigint (xid8 widened: epoch and xid, never wraps around),
# which every driver and index handles.
CURRENT_TXID = text("(pg_current_xact_id())::text::bigint")


class EventKind(StrEnum):
    COMMENT_ADDED = "comment_added"
    CONTENT_CHANGED = "content_changed"
    CONTENT_PUBLISHED = "content_published"
    TABLES_WRITTEN = "tables_written"


class OutboxEvent(TenantScoped, Base):
    __tablename__ = "events"
    __table_args__ = (
        Index(None, "txid", "id"),  # the listener's read across tenants, and pruning
        Index(None, "organization_id", "txid", "id"),  # a subscriber's replay
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, server_default=CURRENT_TXID)
    kind: Mapped[EventKind] = mapped_column(str_enum(EventKind))
    subject_id: Mapped[UUID | None]  # None for `tables_written`, as `content_id`
    content_id: Mapped[UUID | None]
    change: Mapped[str | None] = mapped_column(String(20))
    tables: Mapped[list[str] | None] = mapped_column(ARRAY(String(63)))  # `tables_written`'s
    # When the row was written (not when its transaction began): the outbox lag starts here.
    created_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
