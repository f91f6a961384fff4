"""The SQL loaders send: plain rows, keys as one array parameter, edges joined from the mapping.

Statements are built once per model or edge where they can be (building is slow, running a
prepared one is not); the session's tenant, soft-delete and read-policy criteria apply to every
one of them, because each selects from the mapped entity.
"""

from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Select, any_, bindparam, func, inspect, select, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute

from loaders.compiled import value_of
from loaders.edges import Edge
from loaders.session import INCLUDE_DELETED

# Which of a model's columns a statement selects: all of them (None), or those named plus its keys.
Columns = frozenset[str] | None

_ROW_COLUMNS: dict[tuple[Any, Columns], tuple[InstrumentedAttribute[Any], ...]] = {}


def row_columns(model: Any, only: Columns = None) -> tuple[InstrumentedAttribute[Any], ...]:
    """The model's loaded columns, selected one by one so results come back as plain rows.

    Rows have the same attribute names as model instances and cost a fraction to build: no
    identity map, no instrumentation. The columns still belong to the mapped entity, so the
    session's tenant, soft-delete and policy criteria apply to statements that select them.

    `only` narrows them to the columns a selection reads (compiled execution knows them): its
    keys always travel (primary and foreign keys, which relations and global ids are read by),
    a large text or a value the answer does not show does not.
    """
    columns = _ROW_COLUMNS.get((model, only))
    if columns is None:
        keys = _key_names(model)
        columns = _ROW_COLUMNS[(model, only)] = tuple(
            getattr(model, attribute.key)
            for attribute in inspect(model).column_attrs
            if not attribute.deferred
            and (only is None or attribute.key in only or attribute.key in keys)
        )
    return columns


@cache
def _key_names(model: Any) -> frozenset[str]:
    mapper = inspect(model)
    return frozenset(
        attribute.key
        for attribute in mapper.column_attrs
        if any(column.primary_key or column.foreign_keys for column in attribute.columns)
    )


def any_of(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column = ANY($1)`: one array parameter for any number of keys.

    `IN (...)` renders one placeholder per key, so every batch size is a new statement to
    prepare; with one array parameter, asyncpg reuses a single prepared statement.
    """
    condition: ColumnElement[bool] = column == any_(
        bindparam(None, list(values), type_=_array_of(column.type))
    )
    return condition


def any_key(column: Any) -> ColumnElement[bool]:
    """`column = ANY(:keys)`, for statements built once and run with `{"keys": [...]}`."""
    condition: ColumnElement[bool] = column == any_(bindparam("keys", type_=_array_of(column.type)))
    return condition


@cache
def _array_of(item: Any) -> ARRAY[Any]:
    return ARRAY(item)


def live(target: Any) -> list[ColumnElement[bool]]:
    """`deleted_at IS NULL` on a related row, stated in the subquery that relates it: a statement
    that lists tombstones runs without the session's soft-delete criteria (`includes_deleted`),
    and a deleted row must still never make another match, count or sort."""
    return [target.deleted_at.is_(None)] if hasattr(target, "deleted_at") else []


def where_options(where: Any) -> dict[str, Any]:
    """Execution options a filter needs: one that decides about soft-deleted rows itself (comment
    tombstones) sets `include_deleted = True`, and its statements run without the session's
    soft-delete criteria."""
    return {INCLUDE_DELETED: True} if includes_deleted(where) else {}


def includes_deleted(where: Any) -> bool:
    return bool(getattr(where, INCLUDE_DELETED, False))


def target_select(edge: Edge, *columns: Any) -> Select[Any]:
    """`SELECT <columns> FROM target [JOIN link table]`, to be narrowed to some parents' keys.

    The target entity is always in the FROM clause, so the session's tenant, soft-delete and
    read-policy criteria apply to it.
    """
    columns = columns or (*row_columns(edge.target), edge.link.label("parent_key"))
    statement = select(*columns).select_from(edge.target)
    if edge.secondary is not None:
        assert edge.secondary_join is not None
        statement = statement.join(edge.secondary, edge.secondary_join)
    return statement


@cache
def related_statement(edge: Edge, columns: Columns = None) -> Select[Any]:
    """The rows along an edge for the parents `{"keys": [...]}`, built once per edge and
    columns, each parent's list in the edge's order."""
    selected = (*row_columns(edge.target, columns), edge.link.label("parent_key"))
    return target_select(edge, *selected).where(any_key(edge.link)).order_by(*edge.order)


_KEY_NAMES: dict[Any, tuple[str, ...]] = {}


def key_names(model: Any) -> tuple[str, ...]:
    """The attributes that key a model's rows within their tenant: its primary key without
    `organization_id`, in the key's order (`("id",)`, or `("content_id", "user_id")`)."""
    names = _KEY_NAMES.get(model)
    if names is None:
        mapper = inspect(model)
        names = _KEY_NAMES[model] = tuple(
            mapper.get_property_by_column(column).key
            for column in mapper.primary_key
            if column.key != "organization_id"
        )
    return names


def key_of(model: Any, row: Any) -> Any:
    """A row's key: the value of its one key column, or the tuple of several."""
    names = key_names(model)
    if len(names) == 1:
        return value_of(row, names[0])
    return tuple(value_of(row, name) for name in names)


def key_params(model: Any, keys: list[Any]) -> dict[str, Any]:
    """The parameters of `by_key_statement` for `keys`: one array of keys, or an array per key
    column (keys of several columns)."""
    names = key_names(model)
    if len(names) == 1:
        return {"keys": keys}
    return {f"keys_{index}": [key[index] for key in keys] for index in range(len(names))}


@cache
def by_key_statement(model: Any, columns: Columns = None) -> Select[Any]:
    """Rows by key, the keys bound as arrays (`key_params`): `id = ANY(:keys)`, or for a key of
    several columns `(a, b) IN (SELECT * FROM unnest(:keys_0, :keys_1))`."""
    key = [getattr(model, name) for name in key_names(model)]
    if len(key) == 1:
        return select(*row_columns(model, columns)).where(any_key(key[0]))
    arrays = [
        bindparam(f"keys_{index}", type_=_array_of(column.type)) for index, column in enumerate(key)
    ]
    pairs = func.unnest(*arrays).table_valued(*(column.key for column in key)).render_derived()
    return select(*row_columns(model, columns)).where(tuple_(*key).in_(select(*pairs.columns)))
