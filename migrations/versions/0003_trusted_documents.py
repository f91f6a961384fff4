"""trusted_documents: operations our clients may run by hash (`gql-server trust`)

A global table like organizations, but without row-level security: documents belong to no
tenant and are no secret. Requests read it as the login role; `gql_app` may read it too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "gql_app"


def upgrade() -> None:
    op.create_table(
        "trusted_documents",
        sa.Column("hash", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_trusted_documents")),
    )
    op.execute(f"GRANT SELECT ON trusted_documents TO {APP_ROLE}")


def downgrade() -> None:
    op.drop_table("trusted_documents")
