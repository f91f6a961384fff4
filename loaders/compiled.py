"""Statements run on the request's asyncpg connection directly, compiled once per shape.

SQLAlchemy's ORM execution path (session events, compile-state setup, result objects) costs
more than asyncpg itself for the small statements loaders send. So loaders build each statement
once per *shape* (what its SQL depends on: the edge, the order, the filter, which cursors are
given) with bound parameters for everything else (keys, page size, cursor values, the tenant and
the viewer), compile it once with the scope's criteria in it (tenant, soft delete, read policy:
the same options the session adds to ORM statements, bound to `TENANT_ID` and `VIEWER_ID`), and
run it through asyncpg's prepared-statement cache with each request's values (`Statement`).
Ad-hoc selects (mutations', locking ones included) and an INSERT ... RETURNING columns take the
same way through SQLAlchemy's own cache key (`compiled`).

Rows come back as asyncpg records that also read by attribute, as SQLAlchemy's rows do; values
as asyncpg decodes them (an enum column as its text; JSON decoded by the codec SQLAlchemy's
dialect installs on every connection). Row-level security applies underneath as always: the
statements run in the request's transaction, under its role and tenant.
"""

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy import ColumnElement, Dialect, Insert, Select, bindparam, inspect
from sqlalchemy.orm import Mapper
from sqlalchemy.orm.interfaces import ORMOption
from sqlalchemy.orm.util import AliasedInsp
from sqlalchemy.types import Uuid

COMPILED_STATEMENTS = 2048
# Bound in every compiled statement from the request's scope.
TENANT_ID = bindparam("tenant_id", type_=Uuid())
VIEWER_ID = bindparam("viewer_id", type_=Uuid())


class Row(asyncpg.Record):  # type: ignore[misc]
    """A result row, read by name (`row["title"]`), position or attribute (`row.title`)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def value_of(row: Any, name: str) -> Any:
    """`row.name` of a `Row` or of anything else (a model object): a `Row` by key, without the
    attribute hook's failed lookup first."""
    if type(row) is Row:
        return row[name]
    return getattr(row, name)


@dataclass(frozen=True, slots=True)
class Statement:
    """A compiled statement: its SQL, and how a request's values become its arguments."""

    sql: str
    names: tuple[str, ...]  # of the parameters, in positional order
    defaults: Mapping[str, Any]  # the literal values compiled into it
    processors: Mapping[str, Callable[[Any], Any]]
    compiled: Any  # SQLAlchemy's, for values of another statement of its shape

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        arguments = []
        for name in self.names:
            value = params[name] if name in params else self.defaults[name]
            processor = self.processors.get(name)
            arguments.append(value if processor is None or value is None else processor(value))
        return arguments

    def arguments_of(self, params: Mapping[str, Any], extracted: Any) -> list[Any]:
        """The arguments for another statement of this shape with its literal values."""
        values = self.compiled.construct_params(params, extracted_parameters=extracted)
        return self.arguments(values)


_TEMPLATES: OrderedDict[Hashable, Statement | None] = OrderedDict()
_SHAPES: OrderedDict[Any, Statement | None] = OrderedDict()


Shaped = Select[Any] | Insert


def narrowed(statement: Shaped, criteria: Sequence[ORMOption]) -> Shaped:
    """A select with the scope's `criteria`; an INSERT as it is: it narrows no rows, and
    row-level security's WITH CHECK keeps it in the tenant."""
    return statement.options(*criteria) if isinstance(statement, Select) else statement


def template(
    key: Hashable,
    build: Callable[[], Shaped],
    criteria: Sequence[ORMOption],
    dialect: Dialect,
) -> Statement | None:
    """The statement `build()` makes, with `criteria`, compiled once per `key` (which names
    everything its SQL depends on, the criteria's variant included); None when it can only run
    through SQLAlchemy's execution (see `_runnable`)."""
    if key in _TEMPLATES:
        _TEMPLATES.move_to_end(key)
        return _TEMPLATES[key]
    found = _compile(narrowed(build(), criteria), dialect, None)
    _TEMPLATES[key] = found
    if len(_TEMPLATES) > COMPILED_STATEMENTS:
        _TEMPLATES.popitem(last=False)
    return found


def compiled(statement: Shaped, dialect: Dialect) -> tuple[Statement | None, Any]:
    """An ad-hoc statement's compiled form, found by SQLAlchemy's cache key (its structure, its
    literal values pulled out), and those values."""
    cache_key = statement._generate_cache_key()
    if cache_key is None:
        return _compile(statement, dialect, None), None
    key = cache_key.key  # the structure: hashable, unlike the CacheKey
    if key in _SHAPES:
        _SHAPES.move_to_end(key)
        return _SHAPES[key], cache_key.bindparams
    found = _compile(statement, dialect, cache_key)
    _SHAPES[key] = found
    if len(_SHAPES) > COMPILED_STATEMENTS:
        _SHAPES.popitem(last=False)
    return found, cache_key.bindparams


def _compile(statement: Shaped, dialect: Dialect, cache_key: Any) -> Statement | None:
    if not _plain_columns(statement):
        return None
    # Compiled with its cache key, the statement can take another's values of its shape.
    compiled = statement.compile(dialect=dialect, cache_key=cache_key)
    if compiled.post_compile_params or compiled.literal_execute_params:
        return None  # `IN` lists: its SQL depends on how many values it gets
    if compiled.insert_prefetch:
        return None  # a column's Python-side default (`default=uuid4`): SQLAlchemy's to fill
    return Statement(
        sql=str(compiled),
        names=tuple(compiled.positiontup or ()),
        defaults=dict(compiled.params),
        # One callable per parameter here: tuple-valued parameters (the sequences of
        # processors) are not in loaders' statements.
        processors=cast(dict[str, Any], dict(compiled._bind_processors)),
        compiled=compiled,
    )


def _plain_columns(statement: Shaped) -> bool:
    """Whether the statement selects (or returns) columns only: no entity whose objects the ORM
    builds."""
    if isinstance(statement, Insert):
        # An entity in RETURNING stands there as its table, a column as a column.
        return all(isinstance(element, ColumnElement) for element in statement._returning)
    for description in statement.column_descriptions:
        if isinstance(inspect(description["expr"], raiseerr=False), Mapper | AliasedInsp):
            return False
    return True
