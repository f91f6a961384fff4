"""users.external_id: users found by their identity provider's subject; organizations by slug at
sign-in

A token of an organization's identity provider names its user by the provider's subject, and may
name the organization by slug (gql_server.identity). The subject is kept on the user, unique in
its organization. Organizations have forced row-level security, so a slug is resolved by
`organization_for_sign_in`, which reads, as gql_app, only the organization it was asked for: the
policy `sign_in` shows the one whose slug the transaction set in `app.tenant_slug`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As begin_request: statements run in order, so the lookup already runs as gql_app under the
# row-level security of organizations, and sees the one organization asked for, if any.
CREATE = """
CREATE FUNCTION organization_for_sign_in(ref text, by_slug boolean)
RETURNS TABLE (id uuid, slug varchar)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF by_slug THEN
        PERFORM set_config('app.tenant_slug', ref, true);
    ELSE
        PERFORM set_config('app.tenant_id', ref::uuid::text, true);
    END IF;
    PERFORM set_config('role', 'gql_app', true);
    RETURN QUERY
        SELECT o.id, o.slug FROM organizations o
        WHERE CASE WHEN by_slug THEN o.slug = ref ELSE o.id = ref::uuid END;
END
$$;
"""


def upgrade() -> None:
    op.add_column("users", sa.Column("external_id", sa.String(length=255), nullable=True))
    op.create_unique_constraint(
        op.f("uq_users_organization_id_external_id"), "users", ["organization_id", "external_id"]
    )
    op.execute(
        "CREATE POLICY sign_in ON organizations FOR SELECT"
        " USING (slug = current_setting('app.tenant_slug', true))"
    )
    op.execute(CREATE)


def downgrade() -> None:
    op.execute("DROP FUNCTION organization_for_sign_in(text, boolean)")
    op.execute("DROP POLICY sign_in ON organizations")
    op.drop_constraint(op.f("uq_users_organization_id_external_id"), "users", type_="unique")
    op.drop_column("users", "external_id")
