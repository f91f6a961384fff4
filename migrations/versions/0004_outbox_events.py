"""events: the transactional outbox, read by each process's listener and by resuming subscribers

A tenant table like the others (key led by organization_id, row-level security ENABLE + FORCE,
the tenant_isolation policy): a mutation inserts its events as `gql_app`, in its own transaction,
and a statement trigger sends an empty NOTIFY on `gql_events` (delivered only on commit) that
merely wakes the listeners.

Each process's listener reads the events of every tenant. It does so through two functions only,
`outbox_after` (ids and kinds, nothing a subscriber could not read anyway) and `prune_events`,
both SECURITY DEFINER and owned by `gql_outbox`: a role that cannot log in, is nobody's member
once this migration is done, and is the one role a second policy lets read (and delete) every
tenant's events. EXECUTE on them is revoked from PUBLIC and granted to the migrating user, so
`gql_app` (every request, raw SQL included) still sees one tenant only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "gql_app"
OUTBOX_ROLE = "gql_outbox"
CHANNEL = "gql_events"
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
# The oldest transaction still in flight: everything below it has committed or rolled back.
XMIN = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"

# Events after a position, in delivery order, across tenants. `ready` is false from the first
# event whose transaction is not below every transaction still in flight: one of those could
# still commit an event that sorts before it, so it waits (the listener asks again shortly).
OUTBOX_AFTER = f"""
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

# Deletes the oldest events written before `older_than`, at most `max_rows`, always a prefix in
# delivery order (so an event still kept means every later one is kept too: a resume cursor is
# good exactly while its own event is there). One pruner at a time; writers are never blocked.
PRUNE_EVENTS = f"""
CREATE FUNCTION prune_events(older_than timestamptz, max_rows integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    last_txid bigint;
    last_id bigint;
    pruned integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('gql_server prune_events')) THEN
        RETURN 0;
    END IF;
    SELECT h.txid, h.id INTO last_txid, last_id
    FROM (
        SELECT e.txid, e.id,
               bool_and(e.created_at < older_than) OVER (ORDER BY e.txid, e.id) AS expired
        FROM (
            SELECT txid, id, created_at FROM public.events
            WHERE txid < {XMIN}
            ORDER BY txid, id
            LIMIT max_rows
        ) e
    ) h
    WHERE h.expired
    ORDER BY h.txid DESC, h.id DESC
    LIMIT 1;
    IF last_txid IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM public.events WHERE (txid, id) <= (last_txid, last_id);
    GET DIAGNOSTICS pruned = ROW_COUNT;
    RETURN pruned;
END
$$
"""

NOTIFY = f"""
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', '');
    RETURN NULL;
END
$$
"""

FUNCTIONS = ("outbox_after(bigint, bigint, integer)", "prune_events(timestamptz, integer)")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("organization_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id())::text::bigint"),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "comment_added",
                "content_changed",
                "content_published",
                name="eventkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("subject_id", sa.UUID(), nullable=False),
        sa.Column("content_id", sa.UUID(), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("clock_timestamp()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_events_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_txid_id"), "events", ["txid", "id"])
    op.create_index(
        op.f("ix_events_organization_id_txid_id"), "events", ["organization_id", "txid", "id"]
    )

    op.execute(f"GRANT SELECT, INSERT ON events TO {APP_ROLE}")
    op.execute("ALTER TABLE events ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE events FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON events"
        f" USING (organization_id = {TENANT}) WITH CHECK (organization_id = {TENANT})"
    )
    op.execute(NOTIFY)
    op.execute(
        "CREATE TRIGGER events_notify AFTER INSERT ON events"
        " FOR EACH STATEMENT EXECUTE FUNCTION events_notify()"
    )

    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OUTBOX_ROLE}') THEN
                CREATE ROLE {OUTBOX_ROLE} NOLOGIN NOBYPASSRLS;
            END IF;
        END $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {OUTBOX_ROLE}")
    op.execute(f"GRANT SELECT, DELETE ON events TO {OUTBOX_ROLE}")
    op.execute(f"CREATE POLICY outbox ON events TO {OUTBOX_ROLE} USING (true)")
    op.execute(OUTBOX_AFTER)
    op.execute(PRUNE_EVENTS)
    # Handing the functions to the role needs membership (and CREATE on the schema) for a
    # migrating user that is not a superuser; both are taken back right after.
    op.execute(f"GRANT {OUTBOX_ROLE} TO current_user")
    op.execute(f"GRANT CREATE ON SCHEMA public TO {OUTBOX_ROLE}")
    for function in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} OWNER TO {OUTBOX_ROLE}")
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO current_user")
    op.execute(f"REVOKE CREATE ON SCHEMA public FROM {OUTBOX_ROLE}")
    op.execute(f"REVOKE {OUTBOX_ROLE} FROM current_user")


def downgrade() -> None:
    op.execute(f"GRANT {OUTBOX_ROLE} TO current_user")
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    op.drop_table("events")  # its policies, grants and trigger go with it
    op.execute("DROP FUNCTION events_notify()")
    op.execute(f"REVOKE {OUTBOX_ROLE} FROM current_user")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {OUTBOX_ROLE}")
    op.execute(
        f"""
        DO $$ BEGIN
            DROP ROLE IF EXISTS {OUTBOX_ROLE};
        EXCEPTION WHEN dependent_objects_still_exist OR insufficient_privilege THEN
            RAISE NOTICE 'role {OUTBOX_ROLE} kept: still used elsewhere';
        END $$;
        """
    )
