"""Customers: an organisation's business partners, the second feature (docs/contract.md §13).

Two *live* customers of one organisation never share a VAT number (a partial
unique index: archiving frees the number). The other indexes serve the list
in ``(created_at, id)`` order and the name prefix ``lower(name) LIKE 'acm%'``
(``text_pattern_ops``: an index range whatever the collation).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Uuid, func, text
from sqlalchemy.orm import Mapped, mapped_column

from erp_db.base import Base
from erp_db.models.identity import EMAIL_MAX_LENGTH

CUSTOMER_NAME_MAX_LENGTH: Final = 200
VAT_NUMBER_MAX_LENGTH: Final = 15
# docs/contract.md §13: two letters of country, then 2 to 13 digits or capitals.
VAT_NUMBER_PATTERN: Final = r"^[A-Z]{2}[0-9A-Z]{2,13}$"


class Customer(Base):
    """A business partner of one organisation."""

    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(CUSTOMER_NAME_MAX_LENGTH))
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH))
    vat_number: Mapped[str | None] = mapped_column(String(VAT_NUMBER_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))

    __table_args__ = (
        Index(
            "uq_customers_organization_id_vat_number",
            "organization_id",
            "vat_number",
            unique=True,
            postgresql_where=text("archived_at IS NULL AND vat_number IS NOT NULL"),
        ),
        Index(None, "organization_id", "created_at", "id"),
        Index(
            "ix_customers_organization_id_lower_name",
            "organization_id",
            func.lower(name).label("lower_name"),
            postgresql_ops={"lower_name": "text_pattern_ops"},
        ),
    )

    def __repr__(self) -> str:
        return f"Customer(id={self.id!s}, version={self.version})"
