"""Every ORM model of the ERP, in one place, so ``Base.metadata`` is complete.

Alembic's autogenerate and ``erp-db check`` compare the database with
``erp_db.models.Base.metadata``; a model module that nothing imports is
invisible to them. So this package imports every module in its folder: a
new feature's model is picked up by being here, and nothing else needs to
know the list. (``erp_db``'s ``__init__`` names what it exports.)
"""

from __future__ import annotations

import importlib
import pkgutil

from erp_db.base import Base
from erp_db.models.audit import AUDIT_ACTIONS, AuditEvent
from erp_db.models.identity import RefreshToken, User
from erp_db.models.organizations import ROLES, SLUG_PATTERN, Invitation, Membership, Organization
from erp_db.models.outbox import OutboxJob

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

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
