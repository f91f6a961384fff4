"""Resolving relationship fields through the request's loaders: one, many, or a page of them."""

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import InstrumentedAttribute

from loaders import Ordering, Where
from schema.context import Info
from schema.pagination import Connection, connection, page_request

T = TypeVar("T")


async def load_one(
    info: Info, attribute: InstrumentedAttribute[Any], key: Any, to_node: Callable[[Any], T]
) -> T | None:
    row = await info.context.loaders.related(attribute).load(key)
    return None if row is None else to_node(row)


async def load_many(
    info: Info, attribute: InstrumentedAttribute[Any], key: Any, to_node: Callable[[Any], T]
) -> list[T]:
    return [to_node(row) for row in await info.context.loaders.related(attribute).load(key)]


async def load_page(
    info: Info,
    attribute: InstrumentedAttribute[Any],
    key: Any,
    ordering: Ordering,
    to_node: Callable[[Any], T],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    where: Where | None = None,
) -> Connection[T]:
    loaders = info.context.loaders
    request = page_request(
        ordering,
        info.context.limits,
        first=first,
        after=after,
        last=last,
        before=before,
        where=where,
    )
    page = await loaders.page(attribute, request).load(key)

    async def count_total() -> int:
        return int(await loaders.count(attribute, where).load(key))

    return connection(page, ordering, to_node, count_total)


async def root_page(
    info: Info,
    model: type[Any],
    ordering: Ordering,
    to_node: Callable[[Any], T],
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    where: Where | None = None,
) -> Connection[T]:
    loaders = info.context.loaders
    request = page_request(
        ordering,
        info.context.limits,
        first=first,
        after=after,
        last=last,
        before=before,
        where=where,
    )
    page = await loaders.root_page(model, request)

    async def count_total() -> int:
        return await loaders.count_root(model, where)

    return connection(page, ordering, to_node, count_total)
