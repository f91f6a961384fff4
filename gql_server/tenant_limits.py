"""Which operation limits (`schema.limits.QueryLimits`) apply to whom: the settings' defaults,
and tenants' own (`GQL_TENANT_LIMITS`), keyed by organization id or slug.

Slugs are resolved to ids once, at start-up, with one query as the login role. Organizations
have forced row-level security: only a superuser or a `BYPASSRLS` role reads them all, so with
any other login role a slug key stops the start-up with a message to use the id instead (a wrong
limit, silently not applied, would be worse).
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from uuid import UUID

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import String

from gql_server.settings import LimitOverrides, Settings
from schema.limits import QueryLimits

log = logging.getLogger(__name__)

_SLUGS = text(
    "select r.sees_all, o.slug, o.id"
    " from (select rolsuper or rolbypassrls as sees_all from pg_roles"
    " where rolname = current_user) r"
    " left join organizations o on o.slug = any(:slugs)"
).bindparams(bindparam("slugs", type_=ARRAY(String)))


@dataclass(frozen=True, slots=True)
class TenantLimits:
    default: QueryLimits
    by_tenant: Mapping[UUID, QueryLimits] = field(default_factory=dict)

    def of(self, organization_id: UUID | None) -> QueryLimits:
        if organization_id is None:
            return self.default
        return self.by_tenant.get(organization_id, self.default)


def query_limits(settings: Settings, overrides: LimitOverrides | None = None) -> QueryLimits:
    limits = QueryLimits(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_root_fields=settings.max_root_fields,
        max_directives=settings.max_directives,
        max_cost=settings.max_cost,
        default_page_size=settings.default_page_size,
        max_page_size=settings.max_page_size,
    )
    if overrides is None:
        return limits
    return replace(limits, **overrides.model_dump(exclude_none=True))


async def tenant_limits(engine: AsyncEngine, settings: Settings) -> TenantLimits:
    """`GQL_TENANT_LIMITS` by organization id; slugs looked up once (see the module's note)."""
    by_tenant: dict[UUID, QueryLimits] = {}
    by_slug: dict[str, LimitOverrides] = {}
    for key, overrides in settings.tenant_limits.items():
        try:
            by_tenant[UUID(key)] = query_limits(settings, overrides)
        except ValueError:
            by_slug[key] = overrides
    if by_slug:
        async with engine.connect() as connection:
            rows = (await connection.execute(_SLUGS, {"slugs": sorted(by_slug)})).all()
        if not rows or not rows[0].sees_all:
            raise RuntimeError(
                "GQL_TENANT_LIMITS names organizations by slug, but the database login role"
                " cannot read organizations past their row-level security (it is neither a"
                " superuser nor BYPASSRLS): key those limits by organization id instead"
            )
        found = {row.slug: row.id for row in rows if row.slug is not None}
        for slug, overrides in by_slug.items():
            if slug in found:
                by_tenant.setdefault(found[slug], query_limits(settings, overrides))
            else:
                log.warning("GQL_TENANT_LIMITS: no organization %r; its limits are unused", slug)
    return TenantLimits(query_limits(settings), by_tenant)
