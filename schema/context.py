"""What resolvers see of a request: the viewer, its session's loaders, and the page limits."""

from dataclasses import dataclass
from uuid import UUID

import strawberry

from loaders import Loaders, RequestDB
from models import Role


@dataclass(frozen=True, slots=True)
class Viewer:
    id: UUID
    organization_id: UUID
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class PageLimits:
    default_size: int = 20
    max_size: int = 100


@dataclass(frozen=True, slots=True)
class Context:
    viewer: Viewer
    db: RequestDB  # the request's tenant-scoped session, one statement at a time
    loaders: Loaders
    limits: PageLimits


Info = strawberry.Info[Context, None]
