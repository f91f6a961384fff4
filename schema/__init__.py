"""The GraphQL schema: Strawberry types, queries, mutations and their conventions."""

from schema.root import schema

__all__ = ["schema"]
