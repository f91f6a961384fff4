"""The server's own bearer JWTs: `sub` = user id, `org` = organization id, and `role` for the
client to read (the viewer's role is always the database's: `open_scope`); HS256 by default,
RS256 (or another asymmetric algorithm) with one public key. Tokens of the organizations'
identity providers are read by `gql_server.authenticator`, into the same `Claims`.

The tenant comes from the verified token only. Whether the user is still active is checked
against the database by the request's first statement (`gql_server.scope.open_scope`).
"""

import time
from dataclasses import dataclass
from functools import lru_cache
from uuid import UUID

import jwt

from gql_server.settings import Settings
from models import Role

INVALID = "the token is invalid"


class Unauthenticated(Exception):
    """Missing, malformed, expired or forged credentials; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: UUID
    organization_id: UUID
    expires_at: float  # seconds since the epoch

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at


def bearer_token(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be `Bearer <token>`")
    return token.strip()


def verify(token: str, settings: Settings) -> Claims:
    claims = _verified(token, settings.jwt_verification_key, settings.jwt_algorithm)
    if claims.expired:
        raise Unauthenticated("the token has expired")
    return claims


# A client sends the same token with every request: its signature is checked once, and the
# expiry on every use. Only tokens that verified are kept.
@lru_cache(maxsize=4096)
def _verified(token: str, key: str, algorithm: str) -> Claims:
    try:
        payload = jwt.decode(
            token, key, algorithms=[algorithm], options={"require": ["exp", "sub", "org"]}
        )
        claims = Claims(
            user_id=UUID(str(payload["sub"])),
            organization_id=UUID(str(payload["org"])),
            expires_at=float(payload["exp"]),
        )
        return claims
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("the token has expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthenticated(INVALID) from None


def issue(
    settings: Settings,
    *,
    user_id: UUID,
    organization_id: UUID,
    role: Role,
    ttl_seconds: int | None = None,
    private_key: str | None = None,
) -> str:
    """A signed token; RS256, ES256, ... need the private key that matches `GQL_JWT_PUBLIC_KEY`."""
    now = int(time.time())
    payload = {
        "sub": str(user_id),
        "org": str(organization_id),
        "role": role.value,
        "iat": now,
        "exp": now + (ttl_seconds or settings.token_ttl_seconds),
    }
    if settings.jwt_asymmetric:
        if private_key is None:
            raise ValueError(f"signing {settings.jwt_algorithm} tokens needs the private key")
        return jwt.encode(payload, private_key, algorithm=settings.jwt_algorithm)
    return jwt.encode(payload, settings.jwt_secret, algorithm=settings.jwt_algorithm)
