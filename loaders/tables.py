"""Which tables a request read and wrote, from the SQL it sent: what the response cache keys its
invalidation on.

Every statement of a tenant session passes one of two places, `RequestDB` (the statements it
sends on asyncpg directly: loaders' selects, mutations' rows and plain savepoints) and the
engine's `before_cursor_execute` listener (everything else); both call `note_statement`, which
counts it and adds its tables to the connection's `TablesTouched` (reset when a tenant
transaction begins).

Reading a table is any mention of its name in a statement: a plain word of SQL equal to a table
name (`contents`, `"users"`), wherever it stands: in FROM, in a JOIN, in the read policy's
subquery. That over-counts (a column spelt like a table would count), never under-counts, and
over-counting only drops an answer a little sooner. Writing is the target of an INSERT, UPDATE or
DELETE, plus what the database writes on its own because of it: the rows a foreign key cascades
to, and the history a trigger keeps (`IMPLIED_WRITES`).
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from models import Base, Content, ContentDeletion, OutboxEvent

# connection.info keys: statements sent, and the tables they touched, while a connection serves
# a tenant session.
STATEMENTS = "sql_statements"
TOUCHED = "tables_touched"

# The outbox is how writes are announced, not data an answer shows.
_NOT_DATA = frozenset({OutboxEvent.__tablename__})
DATA_TABLES = frozenset(
    name for name in Base.metadata.tables if name not in _NOT_DATA and name != "trusted_documents"
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WRITE = re.compile(
    r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([A-Za-z_][A-Za-z0-9_]*)', re.IGNORECASE
)
# Written by a trigger (migration 0005) whenever its key's table is written.
_TRIGGERED = {Content.__tablename__: frozenset({ContentDeletion.__tablename__})}


def _implied_writes() -> dict[str, frozenset[str]]:
    """Per table, every table a write to it may change: itself, the tables whose foreign keys
    cascade from it (transitively), and what triggers write."""
    direct: dict[str, set[str]] = {name: set(_TRIGGERED.get(name, ())) for name in DATA_TABLES}
    for table in Base.metadata.tables.values():
        for key in table.foreign_keys:
            if key.ondelete and key.column.table.name in direct and table.name in DATA_TABLES:
                direct[key.column.table.name].add(table.name)
    implied: dict[str, frozenset[str]] = {}
    for name in direct:
        seen, todo = {name}, [name]
        while todo:
            for other in direct.get(todo.pop(), ()):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        implied[name] = frozenset(seen)
    return implied


IMPLIED_WRITES = _implied_writes()


@dataclass(slots=True)
class TablesTouched:
    read: set[str] = field(default_factory=set)
    written: set[str] = field(default_factory=set)


@lru_cache(maxsize=4096)
def statement_tables(sql: str) -> tuple[frozenset[str], frozenset[str]]:
    """The data tables a statement reads and those it (and the database because of it) writes."""
    read = frozenset(word for word in _WORD.findall(sql) if word in DATA_TABLES)
    target = _WRITE.match(sql)
    written = IMPLIED_WRITES.get(target.group(1), frozenset()) if target else frozenset()
    return read, written


def note_statement(info: dict[Any, Any], sql: str) -> None:
    """Count a statement sent on the connection whose `info` this is, and note its tables."""
    if STATEMENTS in info:
        info[STATEMENTS] += 1
    touched: TablesTouched | None = info.get(TOUCHED)
    if touched is not None:
        read, written = statement_tables(sql)
        touched.read.update(read)
        touched.written.update(written)


def start_counting(info: dict[Any, Any]) -> None:
    """Count statements afresh, noting no tables (`touched` then answers None)."""
    info[STATEMENTS] = 0
    info.pop(TOUCHED, None)


def start_touching(info: dict[Any, Any]) -> TablesTouched:
    """Start counting and noting afresh: a tenant transaction begins on this connection."""
    info[STATEMENTS] = 0
    touched = info[TOUCHED] = TablesTouched()
    return touched


def touched(info: dict[Any, Any]) -> TablesTouched:
    found: TablesTouched = info.get(TOUCHED) or TablesTouched()
    return found
