"""Trusted documents: our clients' operations, from their build manifests into PostgreSQL.

`gql-server trust MANIFEST.json` takes what the client tool chains write:
- Apollo (`generate-persisted-query-manifest`): `{"format": "apollo-persisted-query-manifest",
  "version": 1, "operations": [{"id", "name", "type", "body"}]}`. Ids are taken as given: the
  generator's default is the sha256 of the body, but `createOperationId` may choose others.
- Relay (`persistConfig.file`) and GraphQL Code Generator (client preset, `persistedDocuments`):
  `{"<hash>": "<document>"}`. A key that looks like a hex md5, sha1 or sha256 (the algorithms
  those tools offer) must be that hash of its document; other keys (a custom hash function) are
  taken as given.

Why PostgreSQL and not a file: every process and replica already reads it, one `trust` run is one
transaction that all of them see (no file to ship to each host, no restart), and it is backed up
with the rest. Servers read the table at start-up and look a key up when they miss it, so a
manifest trusted while they run serves its first request.
"""

import asyncio
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from graphql import GraphQLError, OperationDefinitionNode, parse
from sqlalchemy import ARRAY, Executable, String, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from models import TrustedDocument

log = logging.getLogger(__name__)

APOLLO_FORMAT = "apollo-persisted-query-manifest"
HASH_ALGORITHMS = {32: "md5", 40: "sha1", 64: "sha256"}  # by the length of the hex digest
MAX_KEY_LENGTH = 200  # trusted_documents.hash
LOOKUP_TIMEOUT_SECONDS = 5.0
_SHA256 = re.compile(r"(?:sha256:)?([0-9a-fA-F]{64})")
_HEX = re.compile(r"[0-9a-fA-F]+")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def document_key(identifier: str) -> str:
    """A sha256, bare or `sha256:`-prefixed (GraphQL over HTTP), in lower case; else as sent."""
    match = _SHA256.fullmatch(identifier)
    return match.group(1).lower() if match else identifier


class ManifestError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Document:
    key: str
    body: str
    name: str | None


@dataclass(frozen=True, slots=True)
class Manifest:
    format: str
    documents: tuple[Document, ...]
    unverified: int  # keys that are no hash of their document, taken as given


@dataclass(frozen=True, slots=True)
class Stored:
    added: int
    updated: int
    unchanged: int


def read_manifest(path: Path) -> Manifest:
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as error:
        raise ManifestError(f"{path}: {error.strerror}") from None
    except orjson.JSONDecodeError as error:
        raise ManifestError(f"{path}: not JSON ({error})") from None
    try:
        return parse_manifest(data)
    except ManifestError as error:
        raise ManifestError(f"{path}: {error}") from None


def parse_manifest(data: object) -> Manifest:
    if not isinstance(data, dict):
        raise ManifestError("a manifest is a JSON object")
    if "format" in data or "operations" in data:
        documents, unverified = _apollo(data)
        shape = "Apollo"
    else:
        documents, unverified = _key_value(data)
        shape = "Relay / GraphQL Code Generator"
    if not documents:
        raise ManifestError("the manifest has no documents")
    return Manifest(shape, tuple(documents.values()), unverified)


def _apollo(data: dict[str, Any]) -> tuple[dict[str, Document], int]:
    if data.get("format") != APOLLO_FORMAT or data.get("version") != 1:
        raise ManifestError(f'expected "format": "{APOLLO_FORMAT}" and "version": 1')
    operations = data.get("operations")
    if not isinstance(operations, list):
        raise ManifestError('"operations" must be a list')
    documents: dict[str, Document] = {}
    unverified = 0
    for index, operation in enumerate(operations):
        where = f"operations[{index}]"
        if not isinstance(operation, dict):
            raise ManifestError(f"{where} must be an object")
        identifier, body, name = operation.get("id"), operation.get("body"), operation.get("name")
        if not isinstance(identifier, str) or not isinstance(body, str):
            raise ManifestError(f'{where} needs a string "id" and "body"')
        if name is not None and not isinstance(name, str):
            raise ManifestError(f'{where}: "name" must be a string')
        document = _document(document_key(identifier), body, name, where)
        if documents.get(document.key, document).body != body:
            raise ManifestError(f"{where}: id {identifier} names two different documents")
        documents[document.key] = document
        unverified += document.key != sha256_hex(body)
    return documents, unverified


def _key_value(data: dict[str, Any]) -> tuple[dict[str, Document], int]:
    documents: dict[str, Document] = {}
    unverified = 0
    for identifier, body in data.items():
        if not isinstance(body, str):
            raise ManifestError(f"{identifier}: expected a hash -> document object of strings")
        key = document_key(identifier)
        algorithm = HASH_ALGORITHMS.get(len(key)) if _HEX.fullmatch(key) else None
        if algorithm is None:
            unverified += 1
        elif hashlib.new(algorithm, body.encode()).hexdigest() != key.lower():
            raise ManifestError(f"{identifier}: is not the {algorithm} of its document")
        documents[key] = _document(key, body, None, identifier)
    return documents, unverified


def _document(key: str, body: str, name: str | None, where: str) -> Document:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise ManifestError(f"{where}: an id has 1 to {MAX_KEY_LENGTH} characters")
    try:
        document = parse(body)
    except GraphQLError as error:
        raise ManifestError(f"{where}: not a GraphQL document ({error.message})") from None
    if name is None:
        operation = next(
            (each for each in document.definitions if isinstance(each, OperationDefinitionNode)),
            None,
        )
        name = operation.name.value if operation and operation.name else None
    return Document(key, body, name)


async def store(engine: AsyncEngine, documents: Sequence[Document]) -> Stored:
    """Add new documents and update changed ones, in one transaction."""
    keys = [document.key for document in documents]
    async with engine.begin() as connection:
        rows = await connection.execute(
            select(TrustedDocument.hash, TrustedDocument.body, TrustedDocument.name).where(
                TrustedDocument.hash == any_(bindparam("keys", keys, type_=ARRAY(String)))
            )
        )
        existing = {row.hash: (row.body, row.name) for row in rows}
        changed = [each for each in documents if existing.get(each.key) != (each.body, each.name)]
        if changed:
            statement = insert(TrustedDocument)
            await connection.execute(
                statement.on_conflict_do_update(
                    index_elements=[TrustedDocument.hash],
                    set_={
                        "body": statement.excluded.body,
                        "name": statement.excluded.name,
                        "updated_at": func.now(),
                    },
                ),
                [{"hash": each.key, "body": each.body, "name": each.name} for each in changed],
            )
    added = sum(each.key not in existing for each in changed)
    return Stored(added, len(changed) - added, len(documents) - len(changed))


class TrustedDocuments:
    """The trusted documents a server process knows: read at start-up, looked up on a miss."""

    def __init__(self, engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self._bodies: dict[str, str] = {}
        self._digests: set[str] = set()  # sha256 of every body, whatever its key

    async def load(self) -> None:
        for key, body in await self._read(select(TrustedDocument.hash, TrustedDocument.body)):
            self._keep(key, body)

    def cached(self, key: str) -> str | None:
        return self._bodies.get(key)

    async def find(self, key: str) -> str | None:
        body = self._bodies.get(key)
        if body is None and len(key) <= MAX_KEY_LENGTH:
            statement = select(TrustedDocument.hash, TrustedDocument.body).where(
                TrustedDocument.hash == key
            )
            for found, body in await self._read(statement):
                self._keep(found, body)
        return body

    async def allows(self, query: str) -> bool:
        digest = sha256_hex(query)
        return digest in self._digests or await self.find(digest) == query

    def _keep(self, key: str, body: str) -> None:
        self._bodies[key] = body
        self._digests.add(sha256_hex(body))

    async def _read(self, statement: Executable) -> list[tuple[str, str]]:
        if self.engine is None:
            return []
        # Without the table (a database not migrated yet) or the database, nothing is trusted.
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS), self.engine.connect() as connection:
                return [(row.hash, row.body) for row in await connection.execute(statement)]
        except (SQLAlchemyError, OSError, TimeoutError) as error:
            log.warning("trusted documents unavailable: %s", error)
            return []
