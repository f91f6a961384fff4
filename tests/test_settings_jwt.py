"""`GQL_JWT_ALGORITHM` is checked at start-up against the key material: an algorithm that does
not sign (`none`), or that cannot use the key given, stops the start instead of refusing every
token later (or accepting unsigned ones)."""

import uuid
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import ValidationError

from gql_server import auth
from gql_server.settings import Settings
from models import Role

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
KEYS: dict[str, Callable[[], PrivateKey]] = {
    "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    "ec": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}


def pem(key: PrivateKey) -> tuple[str, str]:
    """(private, public) in PEM."""
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[str, str]]:
    return {kind: pem(make()) for kind, make in KEYS.items()}


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [("RS256", "rsa"), ("RS512", "rsa"), ("PS256", "rsa"), ("ES256", "ec"), ("EdDSA", "ed25519")],
)
def test_an_algorithm_with_its_kind_of_key_verifies_tokens_its_private_key_signed(
    algorithm: str, kind: str, keys: dict[str, tuple[str, str]]
) -> None:
    private, public = keys[kind]
    settings = Settings(jwt_algorithm=algorithm, jwt_public_key=public)
    user, org = uuid.uuid4(), uuid.uuid4()

    token = auth.issue(
        settings, user_id=user, organization_id=org, role=Role.ADMIN, private_key=private
    )

    claims = auth.verify(token, settings)
    assert (claims.user_id, claims.organization_id) == (user, org)


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [("RS256", "ec"), ("PS256", "ed25519"), ("ES256", "rsa"), ("EdDSA", "ec")],
)
def test_a_public_key_of_another_kind_is_refused(
    algorithm: str, kind: str, keys: dict[str, tuple[str, str]]
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(jwt_algorithm=algorithm, jwt_public_key=keys[kind][1])
    assert f"GQL_JWT_PUBLIC_KEY is not a public key GQL_JWT_ALGORITHM={algorithm} verifies" in str(
        refused.value
    )


def test_a_public_key_that_is_no_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="GQL_JWT_PUBLIC_KEY is not a public key"):
        Settings(jwt_algorithm="RS256", jwt_public_key="ssh-rsa this is not it")


@pytest.mark.parametrize("algorithm", ["none", "None", "HS257", "RSA", ""])
def test_what_does_not_sign_is_refused(algorithm: str) -> None:
    with pytest.raises(ValidationError, match=f"GQL_JWT_ALGORITHM={algorithm} is not a signing"):
        Settings(jwt_algorithm=algorithm)


def test_an_asymmetric_algorithm_without_its_public_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="GQL_JWT_ALGORITHM=ES256 needs GQL_JWT_PUBLIC_KEY"):
        Settings(jwt_algorithm="ES256")


def test_a_shared_secret_algorithm_with_a_public_key_is_refused(
    keys: dict[str, tuple[str, str]],
) -> None:
    """The key would be ignored: the operator meant an asymmetric algorithm."""
    with pytest.raises(ValidationError, match="GQL_JWT_PUBLIC_KEY is set but GQL_JWT_ALGORITH"):
        Settings(jwt_algorithm="HS256", jwt_public_key=keys["rsa"][1])


@pytest.mark.parametrize(("algorithm", "minimum"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_production_needs_a_secret_as_long_as_the_algorithm_needs(
    algorithm: str, minimum: int
) -> None:
    production = {"environment": "production", "jwt_algorithm": algorithm}
    with pytest.raises(ValidationError, match=f"a secret of {minimum}\\+ characters"):
        Settings(**production, jwt_secret="s" * (minimum - 1))
    settings = Settings(**production, jwt_secret="s" * minimum)

    user = uuid.uuid4()
    token = auth.issue(settings, user_id=user, organization_id=uuid.uuid4(), role=Role.STUDENT)

    assert auth.verify(token, settings).user_id == user


def test_production_refuses_a_short_rsa_key() -> None:
    _, public = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    Settings(jwt_algorithm="RS256", jwt_public_key=public)  # development: PyJWT only warns
    with pytest.raises(ValidationError, match="GQL_JWT_PUBLIC_KEY is too weak for production"):
        Settings(environment="production", jwt_algorithm="RS256", jwt_public_key=public)
