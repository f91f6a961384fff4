"""Checking a mutation's input: every problem of one input is collected and reported at once."""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from uuid import UUID

import orjson
import strawberry

from schema import json_value
from schema.errors import BadUserInput
from schema.mutations.user_errors import MutationFailed, UserError, UserErrorCode, user_error
from schema.node import from_global_id

URL_MAX = 2048
# Whitespace and control characters: a URL is shown and followed, and these hide what it is.
_BAD_URL_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f]")
# Stands for an id that did not parse; `raise_if_any` stops the mutation before it is used.
_NO_ID = UUID(int=0)


def given(value: object) -> bool:
    """Whether an optional input field was sent at all (null included)."""
    return value is not strawberry.UNSET


@dataclass
class Checks:
    errors: list[UserError] = field(default_factory=list)

    def require(
        self, ok: bool, path: str, message: str, code: UserErrorCode = UserErrorCode.INVALID
    ) -> None:
        if not ok:
            self.errors.append(user_error(path, message, code))

    def length(self, value: str | None, path: str, *, low: int = 1, high: int) -> None:
        if value is None:
            return
        if "\x00" in value:  # PostgreSQL text cannot hold it: the client's error, not ours
            self.errors.append(user_error(path, "must not contain NUL characters"))
            return
        size = len(value.strip()) if low > 0 else len(value)
        self.require(low <= size <= high, path, f"must be {low}-{high} characters long")

    def id(self, global_id: str, type_name: str, path: str) -> UUID:
        """The uuid of a global id of `type_name`; a bad one is recorded as INVALID."""
        try:
            kind, key = from_global_id(global_id)
        except BadUserInput:
            self.require(False, path, "is not a valid id")
            return _NO_ID
        if kind == type_name and isinstance(key, UUID):
            return key
        self.require(False, path, f"must be the id of a {type_name}")
        return _NO_ID

    def url(self, value: str, path: str, *, high: int = URL_MAX) -> None:
        """An http or https URL with a host, without spaces or control characters."""
        if len(value) > high:
            self.require(False, path, f"must be at most {high} characters long")
            return
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts, host = None, None
        self.require(
            parts is not None
            and parts.scheme in {"http", "https"}
            and bool(host)
            and not _BAD_URL_CHARACTER.search(value),
            path,
            "must be an http or https URL with a host",
        )

    def json_object(self, value: object, path: str, *, max_bytes: int) -> None:
        """A JSON object within the limits every stored JSON value keeps (`schema.json_value`),
        and at most `max_bytes` long once encoded."""
        if not isinstance(value, dict):
            self.require(False, path, "must be a JSON object")
        elif why := json_value.problem(value):
            self.require(False, path, why)
        else:  # nested within the limit, so encoding it is safe
            size = len(orjson.dumps(value))
            self.require(size <= max_bytes, path, f"must be at most {max_bytes} bytes of JSON")

    def raise_if_any(self) -> None:
        if self.errors:
            raise MutationFailed(*self.errors)


def parsed_id(global_id: str, type_name: str, path: str = "input.id") -> UUID:
    """The uuid of the one id an input names, or the mutation ends with INVALID at `path`."""
    checks = Checks()
    pk = checks.id(global_id, type_name, path)
    checks.raise_if_any()
    return pk
