"""`/graphql` over HTTP: parse the request, authenticate, run it in one tenant transaction, answer.

Owning this path (rather than a generic view) lets one place decide the HTTP status of every
failure (401 for credentials, 400 for malformed requests, 405 for mutations over GET), open the
read-only or read-write transaction the operation needs, and report the SQL it cost.
"""

import logging
from functools import partial
from typing import Any

import orjson
from graphql import (
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send

from gql_server import auth, limits, unavailable
from gql_server.graphiql import graphiql_html
from gql_server.graphql_request import (
    GraphQLRequest,
    RequestError,
    only_introspection,
    parse_document,
    read_request,
    to_graphql_request,
)
from gql_server.observability import count_rejection, current_request
from gql_server.settings import Settings
from gql_server.tenancy import READ_CRITERIA, STATEMENTS, VIEWER, tenant_session
from loaders import Loaders, RequestDB
from models import Role, UserStatus
from schema import schema
from schema.context import Context, PageLimits, Viewer
from schema.errors import ErrorCode
from schema.limits import LimitCode
from schema.policy import read_criteria

log = logging.getLogger(__name__)


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def error_response(status: int, message: str, code: str) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    response = json_response(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status
    )
    if headers:
        response.headers.update(headers)
    return response


def refused_response(refused: limits.Refused) -> Response:
    """The answer to a request over a limit, counted by reason for operators."""
    for error in refused.errors:
        count_rejection(str(error["extensions"]["code"]).lower())
    return json_response({"errors": refused.errors}, refused.status)


class GraphQLEndpoint:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = PageLimits(settings.default_page_size, settings.max_page_size)
        self.request_limits = limits.Limits(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except RequestError as error:
            response = error_response(error.status, error.message, error.code)
        except auth.Unauthenticated as error:
            response = error_response(401, str(error), ErrorCode.UNAUTHENTICATED)
        except limits.Refused as refused:
            response = refused_response(refused)
        except unavailable.DatabaseUnavailable as error:
            log.warning("database unavailable: %s", error)
            response = unavailable.response()
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        wants_page = "text/html" in request.headers.get("accept", "")
        if request.method == "GET" and "query" not in request.query_params and wants_page:
            return HTMLResponse(graphiql_html())
        current_request().graphql = True
        graphql_request = await read_request(request, self.request_limits)
        if isinstance(graphql_request, list):
            return await self.handle_batch(request, graphql_request)
        return await self.handle_one(request, graphql_request)

    async def handle_batch(self, request: Request, batch: list[Any]) -> Response:
        """Operations of a JSON array, in order, each in its own transaction: an array of answers.

        One token signs them all: an unauthenticated batch is answered 401 as a whole.
        """
        answers: list[orjson.Fragment] = []
        for params in batch:
            try:
                response = await self.handle_one(request, await to_graphql_request(request, params))
            except RequestError as error:
                response = error_response(error.status, error.message, error.code)
            except limits.Refused as refused:
                response = refused_response(refused)
            answers.append(orjson.Fragment(bytes(response.body)))
        return Response(orjson.dumps(answers), media_type="application/json")

    async def handle_one(self, request: Request, graphql_request: GraphQLRequest) -> Response:
        try:
            document = parse_document(graphql_request.query, self.settings.max_tokens)
        except GraphQLError as error:
            code = limits.parse_error_code(error)
            if code != "GRAPHQL_PARSE_FAILED":
                count_rejection(code.lower())  # the token limit, not a syntax error
            return json_response({"errors": [_format_error(error, code=code)]}, 400)
        operation = get_operation_ast(document, graphql_request.operation_name)
        if operation is None:
            raise RequestError(
                400, "no operation with that name (or several and no name)", "BAD_REQUEST"
            )
        current_request().start_operation(operation)
        if operation.operation is OperationType.MUTATION and request.method == "GET":
            raise RequestError(405, "mutations must be sent with POST", "BAD_REQUEST")
        if operation.operation is OperationType.SUBSCRIPTION:
            raise RequestError(
                400,
                "subscriptions run over a WebSocket at /graphql (graphql-transport-ws)",
                "BAD_REQUEST",
            )

        token = auth.bearer_token(request.headers.get("authorization"))
        if token is None:
            if self.settings.introspection_allowed and only_introspection(document, operation):
                variables = graphql_request.variables
                self.request_limits.check(request, document, operation, variables, None)
                return await self.execute_anonymous(graphql_request)
            raise auth.Unauthenticated("sign in: send `Authorization: Bearer <token>`")
        claims = auth.verify(token, self.settings)
        # Every limit is checked before the transaction opens: a refused request runs no SQL.
        cost = self.request_limits.check(
            request, document, operation, graphql_request.variables, claims.organization_id
        )
        return await self.execute(request, graphql_request, operation, claims, cost)

    async def execute_anonymous(self, graphql_request: GraphQLRequest) -> Response:
        result = await schema.execute(
            graphql_request.query,
            variable_values=graphql_request.variables,
            operation_name=graphql_request.operation_name,
        )
        current_request().executed(errors=bool(result.errors), statements=None)
        return json_response(self._body(result, statements=None))

    async def execute(
        self,
        request: Request,
        graphql_request: GraphQLRequest,
        operation: OperationDefinitionNode,
        claims: auth.Claims,
        cost: int = 0,
    ) -> Response:
        current_request().tenant = claims.organization_id
        sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
        read_only = operation.operation is not OperationType.MUTATION
        open_session = partial(
            tenant_session,
            sessionmaker,
            claims.organization_id,
            read_only=read_only,
            statement_timeout_ms=self.settings.statement_timeout_ms,
            viewer_id=claims.user_id,
        )
        # A database that cannot be reached answers 503 (a batch's whole request, too).
        async with unavailable.reaching_database(open_session) as session:
            row = session.info[VIEWER]
            if row is None or row.status != UserStatus.ACTIVE.value:
                raise auth.Unauthenticated("the user is not active in this organization")
            # The role in the token may be stale; the database's is the one that counts.
            viewer = Viewer(claims.user_id, claims.organization_id, Role(row.role))
            session.info[READ_CRITERIA] = tuple(read_criteria(viewer))
            db = RequestDB(session)
            context = Context(
                viewer=viewer, db=db, loaders=Loaders(db, viewer.id), limits=self.limits
            )
            result = await schema.execute(
                graphql_request.query,
                variable_values=graphql_request.variables,
                context_value=context,
                operation_name=graphql_request.operation_name,
            )
            await db.finish()  # resolvers an error cut short may still have a batch running
            unavailable.raise_if_unavailable(result.errors)  # rolls the transaction back
            connection = await session.connection()
            statements = connection.info.get(STATEMENTS)
        current_request().executed(errors=bool(result.errors), statements=statements)
        return json_response(self._body(result, statements, cost=cost))

    def _body(
        self, result: Any, statements: int | None, *, cost: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [self._format(error) for error in result.errors]
        body["data"] = result.data
        extensions = dict(result.extensions or {})
        if statements is not None and self.settings.report_sql_statements:
            extensions["sqlStatements"] = statements
        if cost is not None and self.settings.report_cost:
            extensions["cost"] = cost
        if extensions:
            body["extensions"] = extensions
        return body

    def _format(self, error: GraphQLError) -> dict[str, Any]:
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            # "Did you mean ...?" would show a production schema to whoever guesses at it.
            production = self.settings.is_production
            return _format_error(
                error, message=limits.without_suggestions(error.message) if production else None
            )
        if limits.is_timeout(original):
            log.warning("statement timeout in %s", error.path)
            timeout_ms = self.settings.statement_timeout_ms
            message = f"the request took longer than its time limit ({timeout_ms} ms)"
            return _format_error(error, code=LimitCode.TIMEOUT, message=message)
        log.error("unexpected error in %s", error.path, exc_info=original)
        message = "internal server error" if self.settings.is_production else str(error.message)
        formatted = _format_error(error, code=ErrorCode.INTERNAL_SERVER_ERROR, message=message)
        # Quoted back by a client, the id finds this error's log lines.
        formatted["extensions"]["requestId"] = current_request().request_id
        return formatted


def _format_error(
    error: GraphQLError, code: str | None = None, message: str | None = None
) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    if message is not None:
        formatted["message"] = message
    extensions = dict(formatted.get("extensions") or {})
    if code is not None:
        extensions["code"] = code
    extensions.setdefault(
        "code",
        "GRAPHQL_VALIDATION_FAILED" if error.path is None else ErrorCode.INTERNAL_SERVER_ERROR,
    )
    formatted["extensions"] = extensions
    return formatted
