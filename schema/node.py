"""Relay's `Node`: opaque global ids that resolve within the tenant.

A global id is base64url("Type:uuid"), or base64url("Type:uuid:uuid") for a type whose rows are
keyed by several uuids within their tenant (a `Rating`: its content and its user). One codec for
both, so an id of a single key reads exactly as it always did.
"""

import base64
import binascii
import dataclasses
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET

from schema.errors import BadUserInput

# A row's key within its tenant: one uuid, or several in the model's key order.
Key = UUID | tuple[UUID, ...]


def to_global_id(type_name: str, key: Key) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    text = ":".join((type_name, *map(str, parts)))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, Key]:
    """`(type name, key)`: the uuid, or a tuple of them for a compound key; a BAD_USER_INPUT
    error naming the id that is not one of ours. Whether the key has as many parts as the
    type's is for whoever knows the type (`expect_global_id`, `node`)."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
        type_name, *raw = text.split(":")
        parts = tuple(UUID(part) for part in raw)
    except (ValueError, UnicodeError, binascii.Error):
        parts = ()
    if not parts:
        raise BadUserInput(f"invalid global id: {global_id!r}", argument="id")
    return type_name, parts[0] if len(parts) == 1 else parts


def expect_global_id(global_id: str, type_name: str) -> UUID:
    """The uuid of a global id of `type_name` (a type keyed by one uuid)."""
    kind, key = from_global_id(global_id)
    if kind != type_name:
        raise BadUserInput(f"expected the id of a {type_name}, got the id of a {kind}")
    if not isinstance(key, UUID):
        raise BadUserInput(f"invalid global id: {global_id!r}", argument="id")
    return key


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    # Never stored (left UNSET): encoded from `pk` only when selected, since most objects of a
    # nested response never show theirs, by the resolver `schema.execution.resolution` gives
    # every Node type's `id`.
    id: strawberry.ID = strawberry.field(
        description="The object's global id: opaque, stable, for `node(id:)`.", default=UNSET
    )
    pk: strawberry.Private[Key]
    # Relation values loaded ahead for a whole level (schema.execution.prefetch), by response key.
    prefetched: strawberry.Private[dict[str, Any]] = dataclasses.field(default_factory=dict)
    # The row it was built from (`from_row`): what compiled execution reads when a payload
    # holds this object (schema.execution.loading).
    row: strawberry.Private[Any] = None
