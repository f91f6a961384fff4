"""Mutations of a content's attachments: add one (its metadata; the bytes live at `url`), remove.

Attachments are removed for good (no soft delete): nothing refers to them, and the file they
describe is stored elsewhere.
"""

import re
from urllib.parse import urlsplit

import strawberry
from sqlalchemy import select

import models
from models.attachment import FILENAME_MAX, MAX_SIZE_BYTES
from schema.content import Attachment, Content
from schema.context import Info
from schema.mutations.content import content_for_write, require_id
from schema.mutations.core import (
    Checks,
    ConstraintErrors,
    UserError,
    UserErrorCode,
    atomic,
    not_found,
    parse_id,
)
from schema.mutations.links import touch_content

URL_MAX = 2048
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


def check_url(checks: Checks, url: str) -> None:
    checks.require(len(url) <= URL_MAX, "input.url", f"must be at most {URL_MAX} characters long")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    checks.require(
        parts is not None
        and parts.scheme in {"http", "https"}
        and bool(host)
        and not re.search(r"[\s\x00-\x1f\x7f]", url),
        "input.url",
        "must be an http or https URL with a host",
    )


async def _add(info: Info, data: AddAttachmentInput) -> tuple[models.Attachment, models.Content]:
    checks = Checks()
    content_pk = parse_id(checks, data.content_id, "Content", "input.contentId")
    mime_type = data.mime_type.strip().lower()
    check_filename(checks, data.filename)
    check_mime_type(checks, mime_type)
    checks.require(
        0 < data.size_bytes <= MAX_SIZE_BYTES,
        "input.sizeBytes",
        f"must be between 1 and {MAX_SIZE_BYTES} bytes",
    )
    check_url(checks, data.url)
    checks.raise_if_any()
    assert content_pk is not None
    content = await content_for_write(info, content_pk, path="input.contentId")
    attachment = models.Attachment(
        content_id=content.id,
        filename=data.filename.strip(),
        mime_type=mime_type,
        size_bytes=data.size_bytes,
        url=data.url,
    )
    info.context.db.session.add(attachment)
    await touch_content(info, content)  # its flush inserts the attachment too
    return attachment, content


async def _remove(info: Info, data: RemoveAttachmentInput) -> models.Content:
    pk = require_id(data.id, "Attachment")
    session = info.context.db.session
    # The read policy applies: attachments of contents the viewer may not see are not found.
    attachment = await session.scalar(select(models.Attachment).where(models.Attachment.id == pk))
    if attachment is None:
        raise not_found("input.id", "attachment")
    content = await content_for_write(info, attachment.content_id)
    await session.delete(attachment)
    await touch_content(info, content)
    return content


@strawberry.type
class AttachmentMutations:
    @strawberry.mutation(description="Attach a file (stored elsewhere, at `url`) to a content.")
    async def add_attachment(self, info: Info, input: AddAttachmentInput) -> AddAttachmentPayload:
        result = await atomic(info, lambda: _add(info, input), KNOWN)
        if isinstance(result, list):
            return AddAttachmentPayload(user_errors=result)
        attachment, content = result
        return AddAttachmentPayload(
            attachment=Attachment.from_row(attachment), content=Content.from_row(content)
        )

    @strawberry.mutation(description="Remove an attachment for good.")
    async def remove_attachment(
        self, info: Info, input: RemoveAttachmentInput
    ) -> RemoveAttachmentPayload:
        result = await atomic(info, lambda: _remove(info, input))
        if isinstance(result, list):
            return RemoveAttachmentPayload(user_errors=result)
        return RemoveAttachmentPayload(
            removed_attachment_id=input.id, content=Content.from_row(result)
        )
