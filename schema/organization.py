"""The viewer's organization (the tenant)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry

import models
from schema.node import Node

strawberry.enum(models.Plan, description="The organization's subscription plan.")
Plan = models.Plan


@strawberry.type(description="The organization (tenant) the viewer belongs to.")
class Organization(Node):
    slug: str
    name: str
    plan: Plan
    created_at: datetime
    pk: strawberry.Private[UUID]

    @classmethod
    def from_row(cls, row: models.Organization) -> Organization:
        return cls(
            slug=row.slug,
            name=row.name,
            plan=row.plan,
            created_at=row.created_at,
            pk=row.id,
            row=row,
        )
