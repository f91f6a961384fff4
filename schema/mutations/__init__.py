"""The mutation root: one class of mutations per domain, merged into `Mutation`."""

from strawberry.tools import merge_types

from schema.mutations.attachments import AttachmentMutations
from schema.mutations.comment import CommentMutations
from schema.mutations.content import ContentMutations
from schema.mutations.prerequisites import PrerequisiteMutations
from schema.mutations.rating import RatingMutations
from schema.mutations.tagging import TaggingMutations
from schema.mutations.tags import TagMutations
from schema.mutations.user import UserMutations

Mutation = merge_types(
    "Mutation",
    (
        ContentMutations,
        PrerequisiteMutations,
        AttachmentMutations,
        TagMutations,
        TaggingMutations,
        UserMutations,
        CommentMutations,
        RatingMutations,
    ),
)

__all__ = ["Mutation"]
