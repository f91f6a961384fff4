"""events.tables: every writing transaction announces the tables it wrote (the response cache)

A new event kind, `tables_written`, whose row names the tables a transaction wrote (`tables`);
it has no subject or content, so those columns become nullable. The listener of every process
reads these rows as it reads the subscriptions' events, through `outbox_after`, which now returns
`tables` too (the function is made again, owned by `gql_outbox` as before). Subscriptions' own
kinds, their replay and their order are unchanged; row-level security is unchanged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OUTBOX_ROLE = "gql_outbox"
XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
KINDS = ("comment_added", "content_changed", "content_published")
FUNCTION = "outbox_after(bigint, bigint, integer)"

OUTBOX_AFTER = f"""
CREATE FUNCTION outbox_after(after_txid bigint, after_id bigint, max_rows integer)
RETURNS TABLE (
    organization_id uuid, id bigint, txid bigint, kind varchar, subject_id uuid,
    content_id uuid, change varchar, ready boolean, age_seconds double precision,
    tables varchar[]
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT e.organization_id, e.id, e.txid, e.kind, e.subject_id, e.content_id, e.change,
           e.txid < {XMIN},
           extract(epoch FROM clock_timestamp() - e.created_at)::double precision,
           e.tables
    FROM public.events e
    WHERE (e.txid, e.id) > (after_txid, after_id)
    ORDER BY e.txid, e.id
    LIMIT max_rows
$$
"""

OUTBOX_AFTER_BEFORE = f"""
CREATE FUNCTION outbox_after(after_txid bigint, after_id bigint, max_rows integer)
RETURNS TABLE (
    organization_id uuid, id bigint, txid bigint, kind varchar, subject_id uuid,
    content_id uuid, change varchar, ready boolean, age_seconds double precision
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT e.organization_id, e.id, e.txid, e.kind, e.subject_id, e.content_id, e.change,
           e.txid < {XMIN},
           extract(epoch FROM clock_timestamp() - e.created_at)::double precision
    FROM public.events e
    WHERE (e.txid, e.id) > (after_txid, after_id)
    ORDER BY e.txid, e.id
    LIMIT max_rows
$$
"""


def _kinds(kinds: Sequence[str]) -> None:
    op.execute("ALTER TABLE events DROP CONSTRAINT IF EXISTS ck_events_eventkind")
    listed = ", ".join(f"'{kind}'" for kind in kinds)
    op.execute(f"ALTER TABLE events ADD CONSTRAINT ck_events_eventkind CHECK (kind IN ({listed}))")


def _outbox_after(definition: str) -> None:
    # As in 0004: handing the function to its role needs membership (and CREATE on the schema)
    # for a migrating user that is not a superuser; both are taken back right after.
    op.execute(f"GRANT {OUTBOX_ROLE} TO current_user")
    op.execute(f"GRANT CREATE ON SCHEMA public TO {OUTBOX_ROLE}")
    op.execute(f"DROP FUNCTION {FUNCTION}")
    op.execute(definition)
    op.execute(f"ALTER FUNCTION {FUNCTION} OWNER TO {OUTBOX_ROLE}")
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO current_user")
    op.execute(f"REVOKE CREATE ON SCHEMA public FROM {OUTBOX_ROLE}")
    op.execute(f"REVOKE {OUTBOX_ROLE} FROM current_user")


def upgrade() -> None:
    op.add_column("events", sa.Column("tables", sa.ARRAY(sa.String(length=63)), nullable=True))
    op.alter_column("events", "subject_id", existing_type=sa.UUID(), nullable=True)
    op.alter_column("events", "content_id", existing_type=sa.UUID(), nullable=True)
    _kinds((*KINDS, "tables_written"))
    _outbox_after(OUTBOX_AFTER)


def downgrade() -> None:
    _outbox_after(OUTBOX_AFTER_BEFORE)
    op.execute("DELETE FROM events WHERE kind = 'tables_written'")
    _kinds(KINDS)
    op.alter_column("events", "content_id", existing_type=sa.UUID(), nullable=False)
    op.alter_column("events", "subject_id", existing_type=sa.UUID(), nullable=False)
    op.drop_column("events", "tables")
