"""A small OpenID Connect provider for tests: its discovery document and JWKS served over real
HTTP, keys generated per run, rotated on demand, and tokens signed as a provider signs them."""

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "gql-api"


@dataclass(frozen=True)
class Key:
    kid: str
    algorithm: str
    private: Any

    @classmethod
    def generate(cls, algorithm: str = "RS256") -> "Key":
        if algorithm.startswith("ES"):
            private: Any = ec.generate_private_key(ec.SECP256R1())
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(uuid.uuid4().hex[:16], algorithm, private)

    def public_jwk(self) -> dict[str, Any]:
        family = ECAlgorithm if self.algorithm.startswith("ES") else RSAAlgorithm
        jwk: dict[str, Any] = json.loads(family.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


class Provider:
    """Issuer `{base}/realms/{realm}`; `.well-known/openid-configuration` and `jwks` under it."""

    def __init__(self, realm: str) -> None:
        self.realm = realm
        self.keys: list[Key] = [Key.generate()]
        self.hits: Counter[str] = Counter()
        self.jwks_body: bytes | None = None  # served instead of the keys, when set
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        return f"{self.base}/realms/{self.realm}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/certs"

    def rotate(self) -> Key:
        """A new signing key; the old ones are no longer published."""
        key = Key.generate()
        self.keys = [key]
        return key

    def token(
        self,
        subject: str | None = None,
        *,
        key: Key | None = None,
        ttl: float = 300,
        not_before: float | None = None,
        **claims: Any,
    ) -> str:
        key = key or self.keys[0]
        now = time.time()
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": subject or str(uuid.uuid4()),
            "iat": int(now),
            "exp": int(now + ttl),
            "jti": uuid.uuid4().hex,  # every token differs, so none is answered from a cache
            **claims,
        }
        if not_before is not None:
            payload["nbf"] = int(not_before)
        payload = {name: value for name, value in payload.items() if value is not None}
        return jwt.encode(payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid})

    @contextmanager
    def serving(self) -> Iterator["Provider"]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.hits[self.path] += 1
                prefix = f"/realms/{provider.realm}"
                if self.path == f"{prefix}/.well-known/openid-configuration":
                    body: dict[str, Any] = {
                        "issuer": provider.issuer,
                        "jwks_uri": provider.jwks_url,
                    }
                elif self.path == f"{prefix}/protocol/openid-connect/certs":
                    if provider.jwks_body is not None:
                        self._send(provider.jwks_body)
                        return
                    body = {"keys": [key.public_jwk() for key in provider.keys]}
                else:
                    self.send_error(404)
                    return
                self._send(json.dumps(body).encode())

            def _send(self, content: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @property
    def key_fetches(self) -> int:
        return self.hits[f"/realms/{self.realm}/protocol/openid-connect/certs"]
