"""Mutations of a content's attachments: add one (its metadata; the bytes live at `url`), remove.

Attachments are removed for good (no soft delete): nothing refers to them, and the file they
describe is stored elsewhere.
"""

import re

import strawberry
from sqlalchemy import delete

import models
from models.attachment import FILENAME_MAX, MAX_SIZE_BYTES
from schema.content import Attachment, Content
from schema.context import Context
from schema.mutations.checks import Checks, parsed_id
from schema.mutations.links import touch_content
from schema.mutations.rows import content_for_write, find
from schema.mutations.run import ConstraintErrors, mutation
from schema.mutations.user_errors import UserError, UserErrorCode

MIME_TYPE_PATTERN = re.compile(r"[a-z]+/[a-z0-9.+-]+")
# Whole families by their top-level type, and single application/* types.
MIME_FAMILIES = frozenset({"audio", "image", "text", "video"})
MIME_TYPES = frozenset(
    {
        "application/epub+zip",
        "application/gzip",
        "application/json",
        "application/msword",
        "application/pdf",
        "application/rtf",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/x-ipynb+json",
        "application/xml",
        "application/zip",
    }
)
# Path separators, NUL and the other control characters: a filename is shown and sent back in
# download headers, never used as a path.
_BAD_FILENAME_CHARACTER = re.compile(r"[/\\\x00-\x1f\x7f]")

KNOWN: ConstraintErrors = {
    "ck_attachments_size_positive": ("input.sizeBytes", UserErrorCode.INVALID, "must be positive"),
    "ck_attachments_filename_length": (
        "input.filename",
        UserErrorCode.INVALID,
        f"must be 1-{FILENAME_MAX} characters long",
    ),
    "ck_attachments_mime_type_format": (
        "input.mimeType",
        UserErrorCode.INVALID,
        "must look like type/subtype",
    ),
}


@strawberry.input
class AddAttachmentInput:
    content_id: strawberry.ID
    filename: str
    mime_type: str = strawberry.field(description="e.g. application/pdf; any case.")
    size_bytes: int = strawberry.field(description=f"1 to {MAX_SIZE_BYTES} (1 GiB).")
    url: str = strawberry.field(description="Where the file is served: an http(s) URL.")


@strawberry.input
class RemoveAttachmentInput:
    id: strawberry.ID


@strawberry.type
class AddAttachmentPayload:
    attachment: Attachment | None = None
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RemoveAttachmentPayload:
    removed_attachment_id: strawberry.ID | None = None
    content: Content | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def check_filename(checks: Checks, filename: str) -> None:
    name = filename.strip()
    checks.require(
        1 <= len(name) <= FILENAME_MAX,
        "input.filename",
        f"must be 1-{FILENAME_MAX} characters long",
    )
    checks.require(
        not _BAD_FILENAME_CHARACTER.search(name) and name not in {".", ".."},
        "input.filename",
        "must be a file name: no path separators or control characters",
    )


def check_mime_type(checks: Checks, mime_type: str) -> None:
    if not MIME_TYPE_PATTERN.fullmatch(mime_type):
        checks.require(False, "input.mimeType", "must look like type/subtype, e.g. application/pdf")
        return
    family = mime_type.partition("/")[0]
    checks.require(
        family in MIME_FAMILIES or mime_type in MIME_TYPES,
        "input.mimeType",
        "this type of file cannot be attached; allowed: documents (PDF, office, text),"
        " images, audio, video, archives (zip) and JSON",
    )


async def _add(context: Context, input: AddAttachmentInput) -> AddAttachmentPayload:
    checks = Checks()
    content_pk = checks.id(input.content_id, "Content", "input.contentId")
    mime_type = input.mime_type.strip().lower()
    check_filename(checks, input.filename)
    check_mime_type(checks, mime_type)
    checks.require(
        0 < input.size_bytes <= MAX_SIZE_BYTES,
        "input.sizeBytes",
        f"must be between 1 and {MAX_SIZE_BYTES} bytes",
    )
    checks.url(input.url, "input.url")
    checks.raise_if_any()
    content = await content_for_write(context, content_pk, path="input.contentId")
    attachment = models.Attachment(
        content_id=content.id,
        filename=input.filename.strip(),
        mime_type=mime_type,
        size_bytes=input.size_bytes,
        url=input.url,
    )
    context.db.add(attachment)
    await touch_content(context, content)  # its flush inserts the attachment too
    return AddAttachmentPayload(
        attachment=Attachment.from_row(attachment), content=Content.from_row(content)
    )


async def _remove(context: Context, input: RemoveAttachmentInput) -> RemoveAttachmentPayload:
    pk = parsed_id(input.id, "Attachment")
    # The read policy applies: attachments of contents the viewer may not see are not found.
    attachment = await find(context, models.Attachment, pk, "input.id")
    content = await content_for_write(context, attachment.content_id)
    await context.db.execute(
        delete(models.Attachment).where(models.Attachment.id == attachment.id),
        synchronize_session=False,
    )
    await touch_content(context, content)
    return RemoveAttachmentPayload(
        removed_attachment_id=input.id, content=Content.from_row(content)
    )


@strawberry.type
class AttachmentMutations:
    add_attachment = mutation(
        _add, KNOWN, description="Attach a file (stored elsewhere, at `url`) to a content."
    )
    remove_attachment = mutation(_remove, description="Remove an attachment for good.")
