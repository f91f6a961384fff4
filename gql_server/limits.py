"""The request's limits at the HTTP edge, and which GraphQL limits (`schema.limits`) apply to whom.

In the order a request meets them: the body size (413 before more is read), the operations in a
batch (400), the document's tokens (400, while parsing), then, once the token names the tenant,
one validation pass with that tenant's depth, alias, root-field, directive and cost limits: all
before any SQL. A statement that outlives `statement_timeout` is recognised here for the endpoint
to answer `TIMEOUT`.

Per-tenant limits (`GQL_TENANT_LIMITS`) are keyed by organization id or slug. Slugs are resolved
to ids once, at start-up, with one query as the login role. Organizations have forced row-level
security: only a superuser or a `BYPASSRLS` role reads them all, so with any other login role a
slug key stops the start-up with a message to use the id instead (a wrong limit, silently not
applied, would be worse).
"""

import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    MaxIntrospectionDepthRule,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    specified_rules,
    validate,
)
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import String
from starlette.requests import Request

from gql_server.settings import LimitOverrides, Settings
from schema import schema
from schema.limits import LimitCode, Measurement, QueryLimits, limits_rule

log = logging.getLogger(__name__)

QUERY_CANCELED = "57014"  # SQLSTATE of a statement cancelled, by statement_timeout among others
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
_TOO_MANY_TOKENS = re.compile(r"Document contains more than \d+ (tokens|comments)\.")

_SLUGS = text(
    "select r.sees_all, o.slug, o.id"
    " from (select rolsuper or rolbypassrls as sees_all from pg_roles"
    " where rolname = current_user) r"
    " left join organizations o on o.slug = any(:slugs)"
).bindparams(bindparam("slugs", type_=ARRAY(String)))


class Refused(Exception):
    """A request over a limit, answered with `status` and `errors` before anything runs."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"])
        self.status, self.errors = status, errors


def refusal(status: int, message: str, code: str, **extensions: Any) -> Refused:
    return Refused(status, [{"message": message, "extensions": {"code": code, **extensions}}])


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


CHECKED_DOCUMENTS = 1024


class Limits:
    """The endpoint's limits, from the settings; tenants' own come from the app's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.max_tokens = settings.max_tokens
        self.default = TenantLimits(query_limits(settings))
        self.introspection_rules: tuple[type[ASTValidationRule], ...] = (
            (NoSchemaIntrospectionCustomRule,) if settings.introspection_refused else ()
        )
        self._checked: OrderedDict[tuple[Any, ...], tuple[DocumentNode, int | Refused]] = (
            OrderedDict()
        )

    async def read_body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self._too_large()
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self) -> Refused:
        limit = self.settings.max_body_bytes
        return refusal(
            413,
            f"the request body is larger than {limit} bytes",
            LimitCode.PAYLOAD_TOO_LARGE,
            limit=limit,
        )

    def batch(self, operations: list[Any]) -> list[Any]:
        limit = self.settings.max_batch_size
        if not operations or not all(isinstance(item, dict) for item in operations):
            raise refusal(400, "a batch is an array of one or more JSON objects", "BAD_REQUEST")
        if len(operations) > limit:
            raise refusal(
                400,
                f"a batch may hold {limit} operations, this one has {len(operations)}",
                LimitCode.BATCH_LIMIT_EXCEEDED,
                limit=limit,
            )
        return operations

    def check(
        self,
        request: Request,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        organization_id: UUID | None,
    ) -> int:
        """The operation's cost, after checking every limit of its tenant: else `Refused`."""
        tenants: TenantLimits = getattr(request.app.state, "tenant_limits", self.default)
        limits = tenants.of(organization_id)
        # The verdict depends on the document, the operation, the limits and page sizes only,
        # and variables can only be page sizes where they are numbers: so a document checked
        # once is not walked again for the next request that sends it with other ids.
        numbers = tuple(
            sorted(
                (name, value)
                for name, value in (variables or {}).items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            )
        )
        key = (id(document), id(operation), limits, numbers)
        known = self._checked.get(key)
        if known is not None:
            self._checked.move_to_end(key)
            verdict = known[1]
        else:
            verdict = self._measure(document, operation, variables, limits)
            # The document is kept with its verdict, so its id cannot be reused meanwhile.
            self._checked[key] = (document, verdict)
            if len(self._checked) > CHECKED_DOCUMENTS:
                self._checked.popitem(last=False)
        if isinstance(verdict, Refused):
            raise verdict
        return verdict

    def _measure(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
        limits: QueryLimits,
    ) -> "int | Refused":
        measurement = Measurement()
        # The specification's own rules run in the same pass: an invalid document is refused
        # before any transaction opens, and the verdict is memoized with the rest.
        rules: tuple[type[ASTValidationRule], ...] = (
            *specified_rules,
            limits_rule(limits, operation, variables, measurement),
            MaxIntrospectionDepthRule,
            *self.introspection_rules,
        )
        errors = validate(
            schema._schema, document, rules, hide_suggestions=self.settings.is_production
        )
        if errors:
            return Refused(200, [_formatted(error) for error in errors])
        return measurement.shape.cost if measurement.shape else 0


def _formatted(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    formatted["extensions"] = {"code": "GRAPHQL_VALIDATION_FAILED", **(error.extensions or {})}
    return formatted


def parse_error_code(error: GraphQLError) -> str:
    """The code of a document the parser refused: over the token limit, or unparsable."""
    if _TOO_MANY_TOKENS.search(error.message):
        return LimitCode.TOKEN_LIMIT_EXCEEDED
    return "GRAPHQL_PARSE_FAILED"


def is_timeout(error: BaseException | None) -> bool:
    """A statement cancelled by `statement_timeout`, as asyncpg raised it or SQLAlchemy wraps it."""
    for _ in range(8):  # DBAPIError -> the adapter's error -> asyncpg's, at most
        if error is None:
            return False
        if getattr(error, "sqlstate", None) == QUERY_CANCELED:
            return True
        error = getattr(error, "orig", None) or error.__cause__
    return False


def without_suggestions(message: str) -> str:
    """The message without "Did you mean ...?": in production it would leak the schema."""
    return _SUGGESTION.sub("", message)
