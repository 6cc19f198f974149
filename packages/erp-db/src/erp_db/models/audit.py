"""The audit log: one append-only row per change (docs/contract.md §10).

Rows are written by the service in the same transaction as the change they
record, so a rolled-back change leaves none. The table is append-only in the
database itself: the migration installs a trigger that refuses ``UPDATE``,
``DELETE`` and ``TRUNCATE`` whoever sends them (``erp-db check`` compares
tables, columns and indexes, so the trigger lives in the migration only).

``actor_user_id`` and ``organization_id`` carry no foreign key on purpose:
the log must outlive what it mentions, and a cascading key would be an
``UPDATE``/``DELETE`` that the trigger refuses anyway.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import DateTime, Index, String, Uuid, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from erp_db.base import Base
from erp_db.closed_lists import closed_list

AUDIT_ACTIONS: Final = (
    "user.created",
    "user.updated",
    "organization.created",
    "organization.updated",
    "organization.archived",
    "membership.created",
    "membership.updated",
    "membership.deleted",
    "invitation.created",
    "invitation.accepted",
    "invitation.revoked",
    "customer.created",
    "customer.updated",
    "customer.archived",
)
REQUEST_ID_MAX_LENGTH: Final = 128


class AuditEvent(Base):
    """Who changed what, when, in which organisation, and from which request."""

    __tablename__ = "audit_events"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # null for user events
    action: Mapped[str] = mapped_column(String(40))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # {field: [old, new]}; a secret is recorded as "changed", never as a value.
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    request_id: Mapped[str | None] = mapped_column(String(REQUEST_ID_MAX_LENGTH))

    __table_args__ = (
        # The database accepts exactly this list: erp-db check compares them (erp_db.closed_lists).
        closed_list("action", AUDIT_ACTIONS, name="action"),
        # An organisation's events, paged newest first in (occurred_at, id) order.
        Index(None, "organization_id", "occurred_at", "id"),
    )

    def __repr__(self) -> str:
        return f"AuditEvent(id={self.id!s}, action={self.action})"
