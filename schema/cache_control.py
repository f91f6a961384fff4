"""How long a query's answer may be cached, and for whom: the cache policy, declared here only.

Apollo's `@cacheControl` semantics, kept in one table instead of directives on the types: a hint
on a type applies to every field that returns it, a hint on a field overrides its type's; a root
field with no hint gets `DEFAULT_MAX_AGE`; any other field with no hint takes its parent's. An
answer may be kept for the least `max_age` over everything it selects; 0 anywhere means not at
all. Scope is always private to the tenant: an answer is shared only by the viewers of one
visibility class (`gql_server.response_cache`), and `per_viewer` marks what depends on who asks
(the `viewer`, the viewer's own rating), which makes the whole answer the viewer's own.

The hint depends on the document and the operation only, so it is computed once per document.
Every selection counts, `@skip`/`@include` or not: the hint of a superset is never too generous.
"""

from collections import OrderedDict
from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLAbstractType,
    GraphQLCompositeType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
)

from schema.root import schema

DEFAULT_MAX_AGE = 60  # seconds, for a root field without a hint of its own


@dataclass(frozen=True, slots=True)
class CacheHint:
    max_age: int | None = None  # seconds; None: no limit of its own
    per_viewer: bool = False  # what it shows depends on who asks


TYPE_HINTS: dict[str, CacheHint] = {
    "Organization": CacheHint(max_age=300),
    "Tag": CacheHint(max_age=300),
}
FIELD_HINTS: dict[tuple[str, str], CacheHint] = {
    ("Query", "viewer"): CacheHint(per_viewer=True),
    ("Content", "viewerRating"): CacheHint(per_viewer=True),
}


@dataclass(frozen=True, slots=True)
class ResponseHint:
    """What a whole answer may be cached for: `max_age` seconds (0: not cached), and whether
    it is the viewer's own."""

    max_age: int
    per_viewer: bool

    @property
    def cacheable(self) -> bool:
        return self.max_age > 0


NOT_CACHEABLE = ResponseHint(0, per_viewer=True)
HINTS_KEPT = 1024
_hints: OrderedDict[tuple[int, int], tuple[DocumentNode, ResponseHint]] = OrderedDict()


def response_hint(document: DocumentNode, operation: OperationDefinitionNode) -> ResponseHint:
    """The operation's hint: computed once per document (the parsed documents are kept)."""
    key = (id(document), id(operation))
    known = _hints.get(key)
    if known is not None:
        _hints.move_to_end(key)
        return known[1]
    hint = _compute(document, operation)
    _hints[key] = (document, hint)  # the document is kept, so its id is not reused meanwhile
    if len(_hints) > HINTS_KEPT:
        _hints.popitem(last=False)
    return hint


def _compute(document: DocumentNode, operation: OperationDefinitionNode) -> ResponseHint:
    if operation.operation is not OperationType.QUERY:
        return NOT_CACHEABLE
    graphql_schema = schema._schema
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    ages: list[int] = []
    per_viewer = False
    root = graphql_schema.query_type
    assert root is not None

    def walk(
        selections: SelectionSetNode, parent: GraphQLCompositeType, seen: frozenset[str]
    ) -> None:
        nonlocal per_viewer
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                name = selection.name.value
                if name.startswith("__") or not isinstance(
                    parent, GraphQLObjectType | GraphQLInterfaceType
                ):
                    continue  # introspection: the same for everyone, until a deploy
                field = parent.fields.get(name)
                if field is None:
                    continue
                returned = get_named_type(field.type)
                hint = FIELD_HINTS.get((parent.name, name)) or _type_hint(returned)
                if hint is not None and hint.max_age is not None:
                    ages.append(hint.max_age)
                elif parent is root:
                    ages.append(DEFAULT_MAX_AGE)
                per_viewer = per_viewer or (hint is not None and hint.per_viewer)
                if selection.selection_set is not None and is_composite_type(returned):
                    walk(selection.selection_set, returned, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = graphql_schema.get_type(condition.name.value) if condition else parent
                if is_composite_type(inner):
                    walk(selection.selection_set, inner, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is None or name in seen:
                    continue
                inner = graphql_schema.get_type(fragment.type_condition.name.value)
                if is_composite_type(inner):
                    walk(fragment.selection_set, inner, seen | {name})

    walk(operation.selection_set, root, frozenset())
    return ResponseHint(min(ages, default=DEFAULT_MAX_AGE), per_viewer)


def _type_hint(named: GraphQLNamedType) -> CacheHint | None:
    """A type's hint; an interface's or union's is the strictest of its members'."""
    if not is_abstract_type(named):
        return TYPE_HINTS.get(named.name)
    assert isinstance(named, GraphQLAbstractType)
    members = schema._schema.get_possible_types(named)
    hints = [hint for hint in (TYPE_HINTS.get(m.name) for m in members) if hint is not None]
    own = TYPE_HINTS.get(named.name)
    if own is not None:
        hints.append(own)
    if not hints:
        return None
    ages = [hint.max_age for hint in hints if hint.max_age is not None]
    return CacheHint(min(ages) if ages else None, any(hint.per_viewer for hint in hints))
