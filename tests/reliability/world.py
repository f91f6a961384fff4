"""A tenant with some of everything, and the ids a test needs of it."""

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import models
from gql_server.settings import Settings
from gql_server.tenancy import tenant_session
from schema.node import Key, to_global_id
from tests.api import token_for
from tests.factories import (
    make_attachment,
    make_comment,
    make_content,
    make_org,
    make_profile,
    make_rating,
    make_tag,
    make_user,
    tag_content,
)


@dataclass
class World:
    org: models.Organization
    admins: list[models.User]
    instructors: list[models.User]
    students: list[models.User]
    published: list[models.Content]
    drafts: list[models.Content]
    tags: list[models.Tag]
    comments: list[models.Comment] = field(default_factory=list)
    attachments: list[models.Attachment] = field(default_factory=list)
    ratings: list[models.Rating] = field(default_factory=list)
    profiles: list[models.UserProfile] = field(default_factory=list)

    @property
    def users(self) -> list[models.User]:
        return [*self.admins, *self.instructors, *self.students]

    @property
    def contents(self) -> list[models.Content]:
        return [*self.published, *self.drafts]

    def tokens(self, settings: Settings, users: list[models.User]) -> list[str]:
        return [token_for(settings, user) for user in users]

    def global_ids(self) -> dict[str, Key]:
        """Every object's global id, with the key it encodes (a uuid, or a rating's two)."""
        typed: list[tuple[str, list[Key]]] = [
            ("Organization", [self.org.id]),
            ("User", [user.id for user in self.users]),
            ("Content", [content.id for content in self.contents]),
            ("Tag", [tag.id for tag in self.tags]),
            ("Comment", [comment.id for comment in self.comments]),
            ("Attachment", [attachment.id for attachment in self.attachments]),
            ("Rating", [(rating.content_id, rating.user_id) for rating in self.ratings]),
            ("UserProfile", [profile.user_id for profile in self.profiles]),
        ]
        return {to_global_id(name, pk): pk for name, pks in typed for pk in pks}


async def make_world(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    admins: int = 1,
    instructors: int = 2,
    students: int = 3,
    published: int = 4,
    drafts: int = 1,
    comments_per_content: int = 2,
) -> World:
    """An organization whose instructors wrote the contents (tagged, with an attachment), which
    its students commented on and rated."""
    org = await make_org(sessionmaker)
    async with tenant_session(sessionmaker, org.id) as db:

        async def users(role: models.Role, count: int) -> list[models.User]:
            return [await make_user(db, role=role) for _ in range(count)]

        world = World(
            org,
            await users(models.Role.ADMIN, admins),
            await users(models.Role.INSTRUCTOR, instructors),
            await users(models.Role.STUDENT, students),
            [],
            [],
            [await make_tag(db) for _ in range(3)],
        )
        for index in range(published + drafts):
            author = world.instructors[index % len(world.instructors)]
            if index < published:
                content = await make_content(db, author=author, body="Learning about databases.")
                world.published.append(content)
            else:
                content = await make_content(db, author=author, status=models.ContentStatus.DRAFT)
                world.drafts.append(content)
            await tag_content(db, content, world.tags[index % len(world.tags)])
            world.attachments.append(await make_attachment(db, content=content))
        for index, content in enumerate(world.published):
            thread: models.Comment | None = None
            for number in range(comments_per_content):
                student = world.students[(index + number) % len(world.students)]
                parent_id = None if thread is None else thread.id
                comment = await make_comment(
                    db, content=content, author=student, parent_id=parent_id
                )
                world.comments.append(comment)
                thread = thread or comment
            rater = world.students[index % len(world.students)]
            world.ratings.append(await make_rating(db, content=content, user=rater))
        for user in world.users[:2]:
            world.profiles.append(await make_profile(db, user=user))
    return world
