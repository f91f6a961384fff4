"""The demo: three small organizations that show every feature of the API.

Each of `acme`, `globex` and `initech` has an `admin`, `instructor1`..`instructor3` and
`student1`..`student10` (emails `<username>@<slug>.example.com`), the eight demo tags, and 15
contents drawn from the topic catalog: drafts, published and archived, every difficulty, with
attachments, prerequisites (always on easier contents, so the graph has no cycle), comment threads
on what students can see, and student ratings.
"""

from datetime import timedelta
from random import Random

from gql_server.seed import catalog
from gql_server.seed.rows import (
    EPOCH,
    ContentRow,
    OrganizationRow,
    TenantRows,
    UserRow,
    organization,
)
from models import ContentStatus, Difficulty, Plan, Role

ORGANIZATIONS = (
    ("acme", "Acme Academy", Plan.ENTERPRISE),
    ("globex", "Globex Learning", Plan.TEAM),
    ("initech", "Initech Institute", Plan.FREE),
)
INSTRUCTORS = 3
STUDENTS = 10
CONTENTS = 15
# Shuffled per organization; fixed counts so every organization has every status.
STATUSES = (
    (ContentStatus.PUBLISHED,) * 9 + (ContentStatus.DRAFT,) * 3 + (ContentStatus.ARCHIVED,) * 3
)
LEVEL = {Difficulty.BEGINNER: 0, Difficulty.INTERMEDIATE: 1, Difficulty.ADVANCED: 2}


def organizations() -> list[OrganizationRow]:
    return [
        organization(slug, name, plan, EPOCH + timedelta(minutes=index))
        for index, (slug, name, plan) in enumerate(ORGANIZATIONS)
    ]


def tenants() -> list[TenantRows]:
    return [_tenant(row) for row in organizations()]


def _tenant(org: OrganizationRow) -> TenantRows:
    rng = Random(f"gql-server demo {org.slug}")
    tenant = TenantRows(org, step=timedelta(hours=1))
    names = iter(
        rng.sample(
            [f"{first} {last}" for first in catalog.FIRST_NAMES for last in catalog.LAST_NAMES],
            1 + INSTRUCTORS + STUDENTS,
        )
    )

    def user(username: str, role: Role, created_by: UserRow | None, bio: str) -> UserRow:
        return tenant.add_user(
            username,
            next(names),
            role,
            created_by=created_by.id if created_by else None,
            bio=bio,
            preferences={
                "theme": rng.choice(["light", "dark", "system"]),
                "locale": rng.choice(["en-US", "en-GB", "de-DE", "fr-FR"]),
                "emailNotifications": rng.random() < 0.7,
            },
            last_login_at=EPOCH + timedelta(days=60, minutes=rng.randrange(60 * 24 * 14)),
        )

    admin = user("admin", Role.ADMIN, None, f"Runs the {org.name} catalog and its people.")
    instructors = [
        user(
            f"instructor{n}", Role.INSTRUCTOR, admin, "Teaches, writes courses, answers questions."
        )
        for n in range(1, INSTRUCTORS + 1)
    ]
    students = [
        user(f"student{n}", Role.STUDENT, admin, "Learning to build software, one course a week.")
        for n in range(1, STUDENTS + 1)
    ]
    tags = {tag_name: tenant.add_tag(tag_name) for tag_name in catalog.DEMO_TAGS}

    # Easier topics first: prerequisites then only point backwards, so the graph stays acyclic.
    topics = sorted(rng.sample(catalog.TOPICS, CONTENTS), key=lambda topic: LEVEL[topic.difficulty])
    statuses = rng.sample(STATUSES, len(STATUSES))
    authors = [*instructors, admin]
    contents: list[ContentRow] = []
    for position, (topic, status) in enumerate(zip(topics, statuses, strict=True)):
        content = tenant.add_content(
            author=authors[position % len(authors)],
            title=topic.title,
            summary=topic.summary,
            body=topic.body,
            status=status,
            difficulty=topic.difficulty,
        )
        for tag_name in topic.tags:
            tenant.tag(content, tags[tag_name])
        for kind in rng.sample(catalog.FILE_KINDS, rng.randint(0, 2)):
            tenant.add_attachment(
                content,
                f"{_slugify(topic.title)}-{kind.suffix}",
                kind.mime_type,
                rng.randint(kind.min_bytes, kind.max_bytes),
            )
        easier = [c for c in contents if LEVEL[Difficulty(c.difficulty)] < LEVEL[topic.difficulty]]
        for prerequisite in rng.sample(easier, min(len(easier), rng.randint(1, 2))):
            tenant.add_prerequisite(content, prerequisite)
        contents.append(content)

    visible = [c for c in contents if c.status != ContentStatus.DRAFT]
    for content in visible:
        _discuss(tenant, rng, content, students, instructors)
    for content in visible:
        for student in rng.sample(students, rng.randint(3, 8)):
            tenant.rate(content, student, rng.choices([1, 2, 3, 4, 5], [1, 1, 3, 6, 5])[0])
    return tenant


def _discuss(
    tenant: TenantRows,
    rng: Random,
    content: ContentRow,
    students: list[UserRow],
    instructors: list[UserRow],
) -> None:
    """A few threads: students ask or praise; an instructor or another student replies."""
    for _ in range(rng.randint(1, 3)):
        asker = rng.choice(students)
        if rng.random() < 0.3:
            tenant.add_comment(content, asker, rng.choice(catalog.PRAISE))
            continue
        question = tenant.add_comment(content, asker, rng.choice(catalog.QUESTIONS))
        for _ in range(rng.randint(0, 2)):
            replier = rng.choice([*instructors, *(s for s in students if s is not asker)])
            tenant.add_comment(content, replier, rng.choice(catalog.ANSWERS), parent=question)


def _slugify(title: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in title.lower()).split()
    return "-".join(words)
