"""Trusted documents: the operations our own clients may run, by the hash (or id) they send.

A global table, not a tenant one: a document names fields of the one schema every tenant shares,
and it is no secret. `gql-server trust` fills it from a client's build manifest.
"""

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, Timestamped


class TrustedDocument(Timestamped, Base):
    __tablename__ = "trusted_documents"

    # The sha256 of the body for most manifests; Apollo manifests may use ids of their own.
    hash: Mapped[str] = mapped_column(String(200), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(200))
