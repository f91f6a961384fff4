"""What the door hands to execution: one operation of a parsed, validated document."""

from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, OperationDefinitionNode, OperationType


@dataclass(frozen=True, slots=True)
class Operation:
    text: str
    document: DocumentNode
    definition: OperationDefinitionNode
    variables: dict[str, Any] | None

    @property
    def name(self) -> str | None:
        return None if self.definition.name is None else self.definition.name.value

    @property
    def kind(self) -> OperationType:
        return self.definition.operation


class AdmittedQuery(str):
    """An operation's text that carries its admitted document through Strawberry's execution
    (which takes the text) to `Schema._create_execution_context`, which uses the document as it
    is instead of parsing and validating the text again."""

    __slots__ = ("document",)
    document: DocumentNode

    def __new__(cls, operation: Operation) -> "AdmittedQuery":
        query = super().__new__(cls, operation.text)
        query.document = operation.document
        return query
