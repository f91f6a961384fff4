"""begin_request(): a request's tenant, role, limits and viewer check in one round trip

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Statements run in order inside the function, so the viewer lookup already runs as gql_app
# under the tenant's row-level security: a user of another organization is simply not found.
CREATE = """
CREATE FUNCTION begin_request(
    tenant uuid, viewer uuid, timeout_ms text, read_only text
) RETURNS TABLE (role varchar, status varchar)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('app.tenant_id', tenant::text, true);
    PERFORM set_config('statement_timeout', timeout_ms, true);
    PERFORM set_config('transaction_read_only', read_only, true);
    PERFORM set_config('role', 'gql_app', true);
    RETURN QUERY
        SELECT u.role, u.status FROM users u
        WHERE u.organization_id = tenant AND u.id = viewer AND u.deleted_at IS NULL;
END
$$;
"""


def upgrade() -> None:
    op.execute(CREATE)


def downgrade() -> None:
    op.execute("DROP FUNCTION begin_request(uuid, uuid, text, text)")
