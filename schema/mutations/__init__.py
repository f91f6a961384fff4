"""The mutation root: one class of mutations per domain, merged into `Mutation`."""

from strawberry.tools import merge_types

from schema.mutations.content import ContentMutations

Mutation = merge_types("Mutation", (ContentMutations,))

__all__ = ["Mutation"]
