"""The one place a request's token becomes claims, for every door: HTTP requests, and the
`connection_init` of both WebSocket protocols.

A token whose (unverified) `iss` is one of `GQL_IDENTITY_PROVIDERS` is verified against that
provider's keys and matched to its user (`gql_server.identity`, `gql_server.external_users`);
any other is one of the server's own (`gql_server.auth.verify`). Either way a token is verified
once: its claims are kept (only when it verified), and each later use checks only the expiry. The
scope every operation opens (`gql_server.scope`) still checks, in its first statement, that the
user is active, with the database's role.
"""

from collections import OrderedDict

import jwt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gql_server import auth
from gql_server.auth import Claims, Unauthenticated
from gql_server.external_users import user_of
from gql_server.identity import Providers
from gql_server.settings import Settings

KEPT_TOKENS = 4096


class Authenticator:
    def __init__(self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.providers = Providers(settings.identity_providers)
        self._sessionmaker = sessionmaker
        self._verified: OrderedDict[str, Claims] = OrderedDict()

    async def claims(self, token: str) -> Claims:
        """The claims of a bearer token; Unauthenticated, or identity.ProviderUnavailable."""
        if not self.providers:
            return auth.verify(token, self.settings)
        claims = self._verified.get(token)
        if claims is not None:
            self._verified.move_to_end(token)
        else:
            issuer = _unverified_issuer(token)
            if not self.providers.issues(issuer):
                return self._own(token, issuer)
            assert isinstance(issuer, str)
            identity = await self.providers.verify(token, issuer)
            claims = await user_of(self._sessionmaker, identity, self.settings.statement_timeout_ms)
            self._verified[token] = claims
            if len(self._verified) > KEPT_TOKENS:
                self._verified.popitem(last=False)
        if claims.expired:
            raise Unauthenticated("the token has expired")
        return claims

    def _own(self, token: str, issuer: object) -> Claims:
        try:
            return auth.verify(token, self.settings)
        except Unauthenticated as error:
            if isinstance(issuer, str) and str(error) == auth.INVALID:
                raise Unauthenticated(
                    f"the token's issuer {issuer[:200]!r} is not one of GQL_IDENTITY_PROVIDERS"
                ) from None
            raise


def _unverified_issuer(token: str) -> object:
    try:
        payload = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return None
    return payload.get("iss")
