"""The benchmark data set: counts that grow linearly with a scale factor N.

    organizations                 = max(1, round(10 * N))      slugs scale-001, scale-002, ...
    contents per organization  c  = max(1, round(20_000 * N / organizations))

so N = 1 is 10 organizations of 2,000 contents, N >= 0.1 keeps ~2,000 contents per organization
and adds organizations, and a smaller N shrinks the single organization (N = 0.01: 200 contents).
Per organization, with contents numbered i = 0 .. c-1:

    users, user_profiles   100 (1 admin, 10 instructors, 89 students)
    tags                   30
    contents               c, ~70% PUBLISHED, ~20% DRAFT, ~10% ARCHIVED
    content_tags           sum(1 + i % 3)          (1 to 3 tags per content)
    attachments            (c + 1) // 2            (contents with an even i)
    content_prerequisites  2 * (c // 5)            (i % 5 == 4: two earlier contents, so no cycle)
    comments               10 * c                  (about a third are replies in the same thread)
    ratings                5 * c                   (five different students per content)
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from random import Random

from gql_server.seed import catalog
from gql_server.seed.rows import (
    EPOCH,
    CommentRow,
    ContentRow,
    OrganizationRow,
    TenantRows,
    organization,
)
from models import ContentStatus, Plan, Role

ORGANIZATIONS_PER_UNIT = 10
CONTENTS_PER_UNIT = 20_000
INSTRUCTORS = 10
USERS = 100
TAGS = 30
COMMENTS_PER_CONTENT = 10
RATINGS_PER_CONTENT = 5
PREREQUISITE_EVERY = 5
PREREQUISITES = 2
STATUSES = (ContentStatus.PUBLISHED, ContentStatus.DRAFT, ContentStatus.ARCHIVED)
STATUS_WEIGHTS = (70, 20, 10)
PLANS = (Plan.FREE, Plan.TEAM, Plan.ENTERPRISE)


@dataclass(frozen=True)
class ScalePlan:
    organizations: int
    contents_per_organization: int

    @classmethod
    def for_scale(cls, scale: float) -> "ScalePlan":
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        organizations = max(1, round(ORGANIZATIONS_PER_UNIT * scale))
        return cls(organizations, max(1, round(CONTENTS_PER_UNIT * scale / organizations)))

    def organization_rows(self) -> list[OrganizationRow]:
        return [
            organization(
                f"scale-{number:03d}",
                f"Scale Organization {number:03d}",
                PLANS[number % len(PLANS)],
                EPOCH + timedelta(seconds=number),
            )
            for number in range(1, self.organizations + 1)
        ]

    def tenants(self) -> Iterator[TenantRows]:
        """Built lazily, an organization at a time, so memory never holds the whole set."""
        for row in self.organization_rows():
            yield self._tenant(row)

    def _tenant(self, org: OrganizationRow) -> TenantRows:
        rng = Random(f"gql-server scale {org.slug}")
        tenant = TenantRows(org, step=timedelta(minutes=1))
        preferences = {"theme": "system", "locale": "en-US", "emailNotifications": True}
        admin = tenant.add_user(
            "admin",
            "Scale Admin",
            Role.ADMIN,
            created_by=None,
            bio="Runs it.",
            preferences=preferences,
        )
        instructors = [
            tenant.add_user(
                f"instructor{n:02d}",
                f"Instructor {n:02d}",
                Role.INSTRUCTOR,
                created_by=admin.id,
                bio="Teaches and writes courses.",
                preferences=preferences,
            )
            for n in range(1, INSTRUCTORS + 1)
        ]
        students = [
            tenant.add_user(
                f"student{n:03d}",
                f"Student {n:03d}",
                Role.STUDENT,
                created_by=admin.id,
                bio="Learning.",
                preferences=preferences,
            )
            for n in range(1, USERS - INSTRUCTORS)
        ]
        tags = [tenant.add_tag(name) for name in catalog.TAGS[:TAGS]]

        authors = [admin, *instructors]
        topics = catalog.TOPICS
        contents: list[ContentRow] = []
        for i in range(self.contents_per_organization):
            topic = topics[i % len(topics)]
            content = tenant.add_content(
                author=rng.choice(authors),
                title=f"{topic.title}, part {i // len(topics) + 1}",
                summary=topic.summary,
                body=f"{topic.body}\n\n{topics[(i * 7 + 3) % len(topics)].body}",
                status=rng.choices(STATUSES, STATUS_WEIGHTS)[0],
                difficulty=topic.difficulty,
            )
            for tag in rng.sample(tags, 1 + i % 3):
                tenant.tag(content, tag)
            if i % 2 == 0:
                kind = catalog.FILE_KINDS[i % len(catalog.FILE_KINDS)]
                size = rng.randint(kind.min_bytes, kind.max_bytes)
                tenant.add_attachment(content, f"part-{i + 1}-{kind.suffix}", kind.mime_type, size)
            if i % PREREQUISITE_EVERY == PREREQUISITE_EVERY - 1:
                for earlier in rng.sample(range(i), PREREQUISITES):
                    tenant.add_prerequisite(content, contents[earlier])
            contents.append(content)

        commenters = [*students, *instructors]
        for content in contents:
            thread: list[CommentRow] = []
            for _ in range(COMMENTS_PER_CONTENT):
                parent = rng.choice(thread) if thread and rng.random() < 0.35 else None
                body = rng.choice(catalog.ANSWERS if parent else catalog.QUESTIONS)
                thread.append(tenant.add_comment(content, rng.choice(commenters), body, parent))
            for student in rng.sample(students, RATINGS_PER_CONTENT):
                tenant.rate(content, student, rng.randint(1, 5))
        return tenant
