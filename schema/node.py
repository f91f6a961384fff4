"""Relay's `Node`: opaque global ids ("Type:uuid", base64url) that resolve within the tenant."""

import base64
import binascii
import dataclasses
from typing import Any
from uuid import UUID

import strawberry
from strawberry import UNSET

from schema.errors import BadUserInput


def to_global_id(type_name: str, pk: UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def from_global_id(global_id: str) -> tuple[str, UUID]:
    """`(type name, uuid)`, or a BAD_USER_INPUT error naming the id that is not one of ours."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode("ascii")).decode().partition(":")
        return type_name, UUID(raw)
    except (ValueError, UnicodeError, binascii.Error):
        raise BadUserInput(f"invalid global id: {global_id!r}", argument="id") from None


def expect_global_id(global_id: str, type_name: str) -> UUID:
    kind, pk = from_global_id(global_id)
    if kind != type_name:
        raise BadUserInput(f"expected the id of a {type_name}, got the id of a {kind}")
    return pk


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    # Never stored (left UNSET): encoded from `pk` only when selected, since most objects of a
    # nested response never show theirs, by the resolver `schema.execution.resolution` gives
    # every Node type's `id`.
    id: strawberry.ID = strawberry.field(
        description="The object's global id: opaque, stable, for `node(id:)`.", default=UNSET
    )
    pk: strawberry.Private[UUID]
    # Relation values loaded ahead for a whole level (schema.execution.prefetch), by response key.
    prefetched: strawberry.Private[dict[str, Any]] = dataclasses.field(default_factory=dict)
