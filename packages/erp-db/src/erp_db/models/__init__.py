"""Every ORM model of the ERP, in one place, so ``Base.metadata`` is complete.

Alembic's autogenerate and ``erp-db check`` compare the database with
``erp_db.models.Base.metadata``; a model module that nothing imports is
invisible to them. Each new model module is therefore imported here, and
nowhere else needs to know the list.
"""

from __future__ import annotations

from erp_db.base import Base
from erp_db.models.audit import AUDIT_ACTIONS, AuditEvent
from erp_db.models.identity import RefreshToken, User
from erp_db.models.organizations import ROLES, SLUG_PATTERN, Invitation, Membership, Organization
from erp_db.models.outbox import OutboxJob

__all__ = [
    "AUDIT_ACTIONS",
    "ROLES",
    "SLUG_PATTERN",
    "AuditEvent",
    "Base",
    "Invitation",
    "Membership",
    "Organization",
    "OutboxJob",
    "RefreshToken",
    "User",
]
