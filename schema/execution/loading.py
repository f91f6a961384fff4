"""How the compiled path loads each kind of registered relation: through the request's loaders,
one batch for every parent of a level, returning rows (or the loader's values) as they are.

The relations are the ones the types register (`schema.relations`: `One`, `Many`, `PageOfMany`,
`Value`), so both execution paths load through the same loaders with the same statements.
"""

from typing import Any

from loaders import Columns, Page, value_of
from schema.execution.catalog import row_key
from schema.execution.plan import Relation, Selection
from schema.execution.run import PageValue, RelationLoader, Runner
from schema.node import Node
from schema.pagination import page_request
from schema.policy import visible_columns
from schema.relations import Attribute, Many, One, PageOfMany, Value, load_all

EMPTY_PAGE = Page([], [], False, False)


def _keys(rows: list[Any], key: str) -> list[Any]:
    column = row_key(key)
    return [value_of(row, column) for row in rows]


def _columns(runner: Runner, *selections: Selection | None) -> Columns:
    """The columns the plan reads of the rows these selections are of (one type of rows)."""
    for selection in selections:
        if selection is not None:
            if len(selection.by_type) != 1:
                return None
            (type_name,) = selection.by_type
            return runner.plan.columns_of(type_name)
    return frozenset()  # only keys, cursors or counts are selected


async def _one(
    runner: Runner, relation: Relation, rows: list[Any], _args: dict[str, Any]
) -> list[Any]:
    spec: One = relation.relation
    loader = runner.context.loaders.related(
        spec.attribute,
        include_deleted=spec.include_deleted,
        columns=_columns(runner, relation.selection),
    )
    keys = _keys(rows, spec.key)
    if spec.applies is not None:
        keys = [key if spec.applies(row) else None for row, key in zip(rows, keys, strict=True)]
    found = iter(await load_all(loader, [key for key in keys if key is not None]))
    return [None if key is None else next(found) for key in keys]


async def _many(
    runner: Runner, relation: Relation, rows: list[Any], _args: dict[str, Any]
) -> list[Any]:
    spec: Many = relation.relation
    loader = runner.context.loaders.related(
        spec.attribute, columns=_columns(runner, relation.selection)
    )
    return await load_all(loader, _keys(rows, spec.key))


async def _page(
    runner: Runner, relation: Relation, rows: list[Any], args: dict[str, Any]
) -> list[Any]:
    spec: PageOfMany = relation.relation
    plan = relation.connection
    assert plan is not None
    loaders = runner.context.loaders
    ordering, where = spec.ordering(args), spec.where(args)
    request = page_request(
        ordering,
        runner.context.limits,
        visible_columns(runner.context.viewer),
        first=args.get("first"),
        after=args.get("after"),
        last=args.get("last"),
        before=args.get("before"),
        where=where,
    )
    keys = _keys(rows, spec.key)
    pages: list[Page] = (
        await load_all(
            loaders.page(spec.attribute, request, _columns(runner, plan.edge_node, plan.nodes)),
            keys,
        )
        if plan.paged
        else [EMPTY_PAGE] * len(keys)
    )
    totals: list[Any] = (
        await load_all(loaders.count(spec.attribute, where, request.view), keys)
        if plan.counted
        else [None] * len(keys)
    )
    return [PageValue(page, ordering, total) for page, total in zip(pages, totals, strict=True)]


async def _value(
    runner: Runner, relation: Relation, rows: list[Any], _args: dict[str, Any]
) -> list[Any]:
    spec: Value = relation.relation
    values = await load_all(spec.loader(runner.context.loaders), _keys(rows, spec.key))
    if relation.leaf is not None:  # a scalar: the relation's own conversion (a count to int)
        return [spec.convert(value) for value in values]
    return values


async def _attribute(
    _runner: Runner, relation: Relation, rows: list[Any], _args: dict[str, Any]
) -> list[Any]:
    spec: Attribute = relation.relation
    return [_held(getattr(row, spec.key)) for row in rows]


def _held(value: Any) -> Any:
    """What a plan reads of a value its parent holds: a node's row (a payload holds the node
    built from it), the items of a list, any other object as it is."""
    if isinstance(value, Node):
        assert value.row is not None, f"{type(value).__name__} not built by from_row"
        return value.row
    if isinstance(value, list):
        return [_held(item) for item in value]
    return value


RELATION_LOADERS: dict[type, RelationLoader] = {
    Attribute: _attribute,
    One: _one,
    Many: _many,
    PageOfMany: _page,
    Value: _value,
}
