"""`/graphql` over HTTP, as the GraphQL-over-HTTP specification says: read the request, admit
the operation (`gql_server.admission`), authenticate, run it in its scope (`gql_server.scope`),
answer.

Owning this path (rather than a generic view) lets one place decide the HTTP status of every
outcome:

| outcome | `application/json` | `application/graphql-response+json` |
|---|---|---|
| the operation ran (errors in fields included) | 200 | 200 |
| refused: unparsable, invalid, over a limit, bad variables | 200 | 400 |
| a persisted query's hash the server does not know | 200 | 200 |
| not a GraphQL request (no query, bad JSON, several operations and no name) | 400 | 400 |
| a mutation sent with GET | 405 | 405 |
| missing, bad or expired credentials | 401 | 401 |
| the database, or the token's identity provider, cannot be reached | 503 | 503 |
| the database refused the transaction: conflict, timeout, other | 409, 504, 500 | 409, 504, 500 |

Clients that accept `application/graphql-response+json` get it; the others get
`application/json`, the type clients used before the specification's own.
"""

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from gql_server import auth, unavailable
from gql_server.admission import Admission, Admitted, Refusal, Refused, only_introspection
from gql_server.authenticator import Authenticator
from gql_server.errors import ErrorFormatter
from gql_server.graphiql import graphiql_html
from gql_server.graphql_request import (
    GRAPHQL_RESPONSE,
    JSON,
    Params,
    RequestError,
    RequestReader,
    response_media_type,
)
from gql_server.identity import ProviderUnavailable
from gql_server.observability import current_request
from gql_server.outbox import Written
from gql_server.replicas import ReadRouting, Target
from gql_server.response_cache import ResponseCache
from gql_server.scope import Who, open_scope
from gql_server.settings import Settings
from gql_server.tenant_limits import TenantLimits
from models import Role
from schema import schema
from schema.cache_control import ResponseHint, response_hint
from schema.context import PageLimits
from schema.errors import ErrorCode
from schema.policy import visibility_class

log = logging.getLogger(__name__)

# Given a query's answer to keep: the viewer's role as read, the data, the tables it read.
Keep = Callable[[Role, bytes, frozenset[str]], Awaitable[None]]

PROVIDER_UNAVAILABLE = "the identity provider's keys cannot be fetched; try again shortly"

_STATUS = {
    Refusal.BAD_REQUEST: (400, 400),
    Refusal.DOCUMENT: (200, 400),
    Refusal.VARIABLES: (200, 400),
    Refusal.UNKNOWN_PERSISTED_QUERY: (200, 200),
}


class Answer(Exception):
    """An answer decided before the operation runs: its status, body and headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers


def error_body(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


class GraphQLEndpoint:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.page_limits = PageLimits(settings.default_page_size, settings.max_page_size)
        self.reader = RequestReader(settings)
        self.errors = ErrorFormatter(
            production=settings.is_production, statement_timeout_ms=settings.statement_timeout_ms
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        media_type = response_media_type(request.headers.get("accept"))
        try:
            response = await self.handle(request, media_type)
        except Answer as answer:
            response = self._response(answer.body, media_type, answer.status, answer.headers)
        except unavailable.DatabaseUnavailable as error:
            log.warning("database unavailable: %s", error)
            response = unavailable.response()
        except unavailable.DATABASE_ERRORS as error:  # the transaction's set-up or commit
            status, body = self.errors.request_failure(error, current_request().request_id)
            response = self._response(body, media_type, status)
        except ProviderUnavailable as error:
            log.warning("identity provider unavailable: %s", error)
            body = error_body(PROVIDER_UNAVAILABLE, "SERVICE_UNAVAILABLE")
            headers = {"Retry-After": str(unavailable.RETRY_AFTER_SECONDS)}
            response = self._response(body, media_type, 503, headers)
        await response(scope, receive, send)

    async def handle(self, request: Request, media_type: str | None) -> Response:
        accept = request.headers.get("accept", "")
        wants_page = self.settings.graphiql_enabled and "text/html" in accept
        if request.method == "GET" and "query" not in request.query_params and wants_page:
            return HTMLResponse(graphiql_html())
        current_request().graphql = True
        if media_type is None:
            raise Answer(
                406,
                error_body(f"accept {GRAPHQL_RESPONSE} or {JSON}", "BAD_REQUEST"),
            )
        try:
            params = await self.reader.read(request)
        except RequestError as error:
            raise Answer(
                error.status, error_body(error.message, error.code, **error.extensions)
            ) from None
        if isinstance(params, list):
            return await self.handle_batch(request, params, media_type)
        body, hint = await self.answer_with_hint(request, params, media_type)
        if request.method == "GET" and hint is not None:
            return self._get_response(request, body, media_type, hint)
        return self._response(body, media_type)

    async def handle_batch(
        self, request: Request, batch: list[Params], media_type: str
    ) -> Response:
        """Operations of a JSON array, in order, each in its own transaction: an array of answers.

        One token signs them all: an unauthenticated batch is answered 401 as a whole.
        """
        answers: list[Any] = []
        for params in batch:
            try:
                answers.append(await self.answer(request, params, media_type))
            except Answer as answer:
                if answer.status == 401:
                    raise
                answers.append(answer.body)
        return self._response(answers, media_type)

    async def answer(self, request: Request, params: Params, media_type: str) -> dict[str, Any]:
        """One operation's answer; an `Answer` when its status is not 200."""
        body, _hint = await self.answer_with_hint(request, params, media_type)
        return body

    async def answer_with_hint(
        self, request: Request, params: Params, media_type: str
    ) -> tuple[dict[str, Any], ResponseHint | None]:
        """One operation's answer and, when it ran for a viewer, its cache hint."""
        admission: Admission = request.app.state.admission
        try:
            operation = await admission.read(params)
            current_request().start_operation(operation.definition)
            if operation.kind is OperationType.MUTATION and request.method == "GET":
                raise Answer(
                    405,
                    error_body("mutations must be sent with POST", "BAD_REQUEST"),
                    {"Allow": "POST"},
                )
            tenants: TenantLimits = request.app.state.tenant_limits
            token = auth.bearer_token(request.headers.get("authorization"))
            if token is None:
                introspection = only_introspection(operation.document, operation.definition)
                if not (self.settings.introspection_allowed and introspection):
                    raise auth.Unauthenticated("sign in: send `Authorization: Bearer <token>`")
                admitted = admission.admit(operation, tenants.default)
                return await self.run_anonymous(admitted), None
            authenticator: Authenticator = request.app.state.authenticator
            claims = await authenticator.claims(token)
            # Every limit is checked before the transaction opens: a refused request runs no SQL.
            admitted = admission.admit(operation, tenants.of(claims.organization_id))
            if admitted.kind is OperationType.SUBSCRIPTION:  # admitted as on a WebSocket
                message = "subscriptions run over a WebSocket at /graphql (graphql-transport-ws)"
                raise Answer(400, error_body(message, "BAD_REQUEST"))
        except Refused as refused:
            status = _STATUS[refused.kind][media_type == GRAPHQL_RESPONSE]
            if status == 200:
                return {"errors": refused.errors}, None
            raise Answer(status, {"errors": refused.errors}) from None
        except auth.Unauthenticated as error:
            raise Answer(
                401,
                error_body(str(error), ErrorCode.UNAUTHENTICATED),
                {"WWW-Authenticate": "Bearer"},
            ) from None
        hint = response_hint(admitted.operation.document, admitted.operation.definition)
        return await self.run(request, admitted, claims, hint), hint

    async def execute(self, admitted: Admitted, context: Any) -> Any:
        if self.settings.compiled_execution:
            return await schema.execute_operation(admitted.operation, context)
        return await schema.execute_standard(admitted.operation, context)

    async def run_anonymous(self, admitted: Admitted) -> dict[str, Any]:
        result = await self.execute(admitted, None)
        current_request().executed(errors=bool(result.errors), statements=None)
        return self._body(result, statements=None, cost=admitted.cost)

    async def run(
        self, request: Request, admitted: Admitted, claims: auth.Claims, hint: ResponseHint
    ) -> dict[str, Any]:
        current_request().tenant = claims.organization_id
        reads: ReadRouting = request.app.state.reads
        cache: ResponseCache | None = request.app.state.response_cache
        try:
            if admitted.is_mutation:
                try:
                    return await self.run_on(reads.to_primary, admitted, claims, cache)
                finally:
                    reads.wrote(claims.user_id)  # a write may have committed even so
            if cache is not None and hint.cacheable:
                return await self.run_cached(reads, admitted, claims, cache, hint)
            return await self.run_query(reads, admitted, claims, cache)
        except auth.Unauthenticated as error:
            raise Answer(
                401,
                error_body(str(error), ErrorCode.UNAUTHENTICATED),
                {"WWW-Authenticate": "Bearer"},
            ) from None

    async def run_cached(
        self,
        reads: ReadRouting,
        admitted: Admitted,
        claims: auth.Claims,
        cache: ResponseCache,
        hint: ResponseHint,
    ) -> dict[str, Any]:
        """A query answered from the cache when it holds a good answer for this viewer's class;
        else run, and its answer kept (see `gql_server.response_cache`)."""
        tenant, user_id, operation = claims.organization_id, claims.user_id, admitted.operation
        # Read before the transaction begins: what an answer is stored with (the race).
        known_role, generations = await cache.viewer_role(tenant, user_id)
        if known_role is not None:
            visibility = visibility_class(user_id, known_role, per_viewer=hint.per_viewer)
            found = await cache.answer(tenant, cache.response_key(tenant, visibility, operation))
            if found.data is not None:
                current_request().executed(errors=False, statements=0)
                return self._data_body(orjson.Fragment(found.data), 0, cost=admitted.cost)
        else:
            cache.missed()  # who the viewer is must be read first

        async def keep(role: Role, data: bytes, tables: frozenset[str]) -> None:
            if role is not known_role:
                await cache.remember_viewer(tenant, user_id, role, generations)
            visibility = visibility_class(user_id, role, per_viewer=hint.per_viewer)
            key = cache.response_key(tenant, visibility, operation)
            await cache.remember_answer(key, data, tables, generations, hint.max_age)

        return await self.run_query(reads, admitted, claims, cache, keep)

    async def run_query(
        self,
        reads: ReadRouting,
        admitted: Admitted,
        claims: auth.Claims,
        cache: ResponseCache | None,
        keep: Keep | None = None,
    ) -> dict[str, Any]:
        target = reads.for_read(claims.user_id)
        try:
            return await self.run_on(target, admitted, claims, cache, keep)
        except (unavailable.DatabaseUnavailable, auth.Unauthenticated) as error:
            if target.replica is None:
                raise
            # A query wrote nothing: run it again on the primary, which also knows a user
            # too new for the replica.
            if isinstance(error, unavailable.DatabaseUnavailable):
                reads.failed(target, error)
            return await self.run_on(reads.to_primary, admitted, claims, cache, keep)

    async def run_on(
        self,
        target: Target,
        admitted: Admitted,
        claims: auth.Claims,
        cache: ResponseCache | None,
        keep: Keep | None = None,
    ) -> dict[str, Any]:
        """Run in a scope on `target`. `keep` is given the answer of a query without errors
        read on the primary (a replica may not have replayed a write whose invalidation has
        passed already); a mutation's committed writes are dropped from this process's cache
        at once (the other processes hear of them through the outbox)."""
        kept: tuple[Role, bytes, frozenset[str]] | None = None
        async with open_scope(
            target.sessionmaker,
            Who(claims.user_id, claims.organization_id),
            read_only=not admitted.is_mutation,
            statement_timeout_ms=self.settings.statement_timeout_ms,
            page_limits=self.page_limits,
        ) as scope:
            result = await self.execute(admitted, scope.context)
            unavailable.raise_if_unavailable(result.errors)  # rolls the transaction back
            statements = await scope.statements()
            if keep is not None and not result.errors and target.replica is None:
                data = _encoded(result.data)
                tables = await scope.tables_read()
                if data is not None and tables is not None:
                    kept = (scope.viewer.role, data, tables)
        written = scope.committed_writes()
        if cache is not None and written:
            await cache.written(Written(claims.organization_id, written), source="commit")
        current_request().executed(errors=bool(result.errors), statements=statements)
        if keep is not None and kept is not None:
            await keep(*kept)
            return self._data_body(orjson.Fragment(kept[1]), statements, cost=admitted.cost)
        return self._body(result, statements, cost=admitted.cost)

    def _body(self, result: Any, statements: int | None, *, cost: int) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = self.errors.format(result.errors, current_request().request_id)
        body["data"] = result.data
        return self._with_extensions(body, result.extensions, statements, cost)

    def _data_body(self, data: Any, statements: int | None, *, cost: int) -> dict[str, Any]:
        """The answer of a query without errors, its `data` encoded already."""
        return self._with_extensions({"data": data}, None, statements, cost)

    def _with_extensions(
        self, body: dict[str, Any], own: Any, statements: int | None, cost: int
    ) -> dict[str, Any]:
        extensions = dict(own or {})
        if statements is not None and self.settings.report_sql_statements:
            extensions["sqlStatements"] = statements
        if self.settings.report_cost:
            extensions["cost"] = cost
        if extensions:
            body["extensions"] = extensions
        return body

    def _get_response(
        self, request: Request, body: dict[str, Any], media_type: str, hint: ResponseHint
    ) -> Response:
        """A GET's answer with HTTP caching: an answer without errors carries an `ETag` of its
        data and `Cache-Control: private, max-age` of its hint, and a matching `If-None-Match`
        is answered 304 without a body. `Vary`: what the answer depends on besides the URL."""
        headers = {"Vary": "Accept, Authorization"}
        data = None if "errors" in body else _encoded(body.get("data"))
        if data is None or not hint.cacheable:
            headers["Cache-Control"] = "no-store"
            return self._response(body, media_type, headers=headers)
        etag = f'W/"{hashlib.sha256(data).hexdigest()[:32]}"'
        headers["ETag"] = etag
        headers["Cache-Control"] = f"private, max-age={hint.max_age}"
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return self._response(body, media_type, headers=headers)

    def _response(
        self,
        body: Any,
        media_type: str | None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        try:
            content = orjson.dumps(body)
        except (TypeError, orjson.JSONEncodeError) as error:
            # Scalars serialize what they can (a value they cannot errors its field); this is
            # the last line: an answer that still cannot be written is an internal error, as
            # JSON, never a broken connection.
            request_id = current_request().request_id
            log.error("the answer could not be encoded (request %s)", request_id, exc_info=error)
            message = "internal server error" if self.settings.is_production else str(error)
            content = orjson.dumps(
                error_body(message, ErrorCode.INTERNAL_SERVER_ERROR, requestId=request_id)
            )
            status = 500
        return Response(content, status_code=status, media_type=media_type or JSON, headers=headers)


def _encoded(data: Any) -> bytes | None:
    """`data` as JSON; None when it cannot be (the answer then takes the usual way)."""
    try:
        return orjson.dumps(data)
    except (TypeError, orjson.JSONEncodeError):
        return None


def _matches(if_none_match: str | None, etag: str) -> bool:
    """`If-None-Match` by weak comparison (RFC 9110 13.1.2): any listed tag, or `*`."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags
