"""content_deletions: who deleted a content and who restored it, and when

Restoring a content clears its `deleted_at`/`deleted_by`: who had deleted it was lost. A trigger
on `contents` now records each deletion when `deleted_at` is set (the deleter is `deleted_by`) and
closes it when `deleted_at` is cleared (the restorer is `updated_by`, stamped on every change).
It runs as whoever changes the content, under the same row-level security as the table it writes.
Contents deleted before this revision get their deletion recorded, restorer unknown until then.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 13:57:03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "gql_app"
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"

RECORD = """
CREATE FUNCTION record_content_deletion() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.deleted_at IS NOT NULL AND OLD.deleted_at IS NULL THEN
        INSERT INTO content_deletions (organization_id, content_id, deleted_at, deleted_by)
        VALUES (NEW.organization_id, NEW.id, NEW.deleted_at, NEW.deleted_by);
    ELSIF NEW.deleted_at IS NULL THEN
        UPDATE content_deletions SET restored_at = now(), restored_by = NEW.updated_by
        WHERE organization_id = NEW.organization_id AND content_id = NEW.id
          AND restored_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;
"""
TRIGGER = """
CREATE TRIGGER record_content_deletion AFTER UPDATE OF deleted_at ON contents
FOR EACH ROW WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
EXECUTE FUNCTION record_content_deletion();
"""


def upgrade() -> None:
    op.create_table(
        "content_deletions",
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("content_id", sa.UUID(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_by", sa.UUID(), nullable=True),
        sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("restored_by", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id", "content_id"],
            ["contents.organization_id", "contents.id"],
            name=op.f("fk_content_deletions_organization_id_content_id_contents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_content_deletions_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_content_deletions")),
    )
    op.create_index(
        op.f("ix_content_deletions_organization_id_content_id_deleted_at"),
        "content_deletions",
        ["organization_id", "content_id", "deleted_at"],
        unique=False,
    )
    # Forced row-level security hides every content from an owner that is no superuser: lift it
    # for this transaction, to see the contents deleted so far.
    op.execute("ALTER TABLE contents NO FORCE ROW LEVEL SECURITY")
    op.execute(
        "INSERT INTO content_deletions (organization_id, content_id, deleted_at, deleted_by)"
        " SELECT organization_id, id, deleted_at, deleted_by FROM contents"
        " WHERE deleted_at IS NOT NULL"
    )
    op.execute("ALTER TABLE contents FORCE ROW LEVEL SECURITY")
    # Requests record deletions (through the trigger, as themselves) and read them; they may close
    # one, never rewrite who deleted it or remove it.
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE (restored_at, restored_by) ON content_deletions TO {APP_ROLE}"
    )
    op.execute("ALTER TABLE content_deletions ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE content_deletions FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON content_deletions"
        f" USING (organization_id = {TENANT}) WITH CHECK (organization_id = {TENANT})"
    )
    op.execute(RECORD)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER record_content_deletion ON contents")
    op.execute("DROP FUNCTION record_content_deletion()")
    op.drop_index(
        op.f("ix_content_deletions_organization_id_content_id_deleted_at"),
        table_name="content_deletions",
    )
    op.drop_table("content_deletions")
