"""How many keys each loader batch carries, for `/metrics` (prometheus_client's default registry).

A batch of one key per request, over and over, is the N+1 pattern the loaders exist to prevent;
a steady one key on a list field means a resolver loads outside its level.
"""

from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, TypeVar

from prometheus_client import Histogram

BATCH_SIZE = Histogram(
    "gql_loader_batch_size",
    "Keys per loader batch, by loader class.",
    ["loader"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)

LoaderT = TypeVar("LoaderT")
KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")
BatchLoadFn = Callable[[LoaderT, list[KeyT]], Coroutine[Any, Any, list[ValueT]]]


def measured(
    batch_load_fn: BatchLoadFn[LoaderT, KeyT, ValueT],
) -> BatchLoadFn[LoaderT, KeyT, ValueT]:
    """Decorates a `batch_load_fn` to observe its batch size, labelled with the loader's class."""

    @wraps(batch_load_fn)
    async def observed(loader: LoaderT, keys: list[KeyT]) -> list[ValueT]:
        BATCH_SIZE.labels(type(loader).__name__).observe(len(keys))
        return await batch_load_fn(loader, keys)

    return observed
