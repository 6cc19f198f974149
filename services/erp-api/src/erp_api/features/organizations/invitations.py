"""The SQL of invitations: an offer of a role to an email address, redeemable once (docs/contract.md §10).

The token is 256 random bits, shown once and stored only as a SHA-256.
Acceptance compares the invited address with the caller's in the canonical
form of :func:`erp_db.canonical_email` (stored beside both), never with
PostgreSQL's ``lower()``: a look-alike address is another address.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.errors import Conflict, NotFound
from erp_api.features.organizations.queries import ORGANIZATION_COLUMNS, invitations
from erp_api.features.organizations.schemas import InvitationOut
from erp_api.pagination import PageRequest, RowPage, keyset
from erp_api.tenancy import AnyRow, Role, organizations
from erp_core import get_request_id
from erp_db import OUTBOX_INSERT, canonical_email, outbox_params

INVITATION_LIFETIME: Final = timedelta(days=7)


# Every column given: SQLAlchemy skips an insert's Python-side defaults when a DML CTE rides
# along (see erp_db.outbox_insert). Built once: a statement object memoises its cache key.
_CREATE_INVITATION: Final = (
    insert(invitations)
    .values(
        id=bindparam("id"),
        organization_id=bindparam("organization_id"),
        email=bindparam("email"),
        email_canonical=bindparam("email_canonical"),
        role=bindparam("role"),
        token_hash=bindparam("token_hash"),
        created_by=bindparam("created_by"),
        expires_at=func.now() + INVITATION_LIFETIME,
    )
    .add_cte(OUTBOX_INSERT.cte("mail_job"))
    .returning(invitations.c.id, invitations.c.email, invitations.c.role, invitations.c.expires_at)
)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create_invitation(
    session: AsyncSession, organization_id: uuid.UUID, *, email: str, role: Role, created_by: uuid.UUID
) -> tuple[AnyRow, str]:
    """The stored invitation and its token: 256 random bits, kept only as a SHA-256.

    Its mail job is recorded in the same transaction (the outbox of
    docs/contract.md §14): a rolled-back invitation asks for no mail, a
    committed one gets it at least once. The raw token travels in the job's
    payload only until erp-worker has sent the mail, then it is erased.
    The id is chosen here, so the payload is known before the insert and the
    outbox row rides in the invitation's own statement (a data-modifying
    CTE): no round trip of its own (issue 20's bench). The statement is
    built once, at import (see ``erp_db.OUTBOX_INSERT``).
    """
    token = secrets.token_urlsafe(32)
    invitation_id = uuid.uuid4()
    params = {
        "id": invitation_id,
        "organization_id": organization_id,
        "email": email,
        "email_canonical": canonical_email(email),
        "role": role.value,
        "token_hash": hash_token(token),
        "created_by": created_by,
        **outbox_params(
            job="invitation.mail",
            payload={"invitation_id": str(invitation_id), "email": email, "token": token},
            idempotency_key=f"invitation.mail:{invitation_id}",
            request_id=get_request_id(),
        ),
    }
    row = (await session.execute(_CREATE_INVITATION, params)).one()
    return row, token


def _pending() -> Any:
    return and_(
        invitations.c.accepted_at.is_(None),
        invitations.c.revoked_at.is_(None),
        invitations.c.expires_at > func.now(),
    )


_PENDING_INVITATIONS: Final = keyset(
    select(
        invitations.c.id,
        invitations.c.email,
        invitations.c.role,
        invitations.c.created_at,
        invitations.c.expires_at,
    ).where(invitations.c.organization_id == bindparam("organization_id"), _pending()),
    invitations.c.created_at,
    invitations.c.id,
)


async def list_invitations(session: AsyncSession, organization_id: uuid.UUID, page: PageRequest) -> RowPage:
    return await page.fetch(
        session, _PENDING_INVITATIONS, InvitationOut, {"organization_id": organization_id}
    )


async def revoke_invitation(
    session: AsyncSession, organization_id: uuid.UUID, invitation_id: uuid.UUID
) -> bool:
    """Revoke a not yet accepted invitation; ``False`` when there was none to revoke."""
    statement = (
        update(invitations)
        .where(
            invitations.c.id == invitation_id,
            invitations.c.organization_id == organization_id,
            invitations.c.accepted_at.is_(None),
            invitations.c.revoked_at.is_(None),
        )
        .values(revoked_at=func.now())
        .returning(invitations.c.id)
    )
    return (await session.execute(statement)).one_or_none() is not None


async def explain_revoke_refusal(
    session: AsyncSession, organization_id: uuid.UUID, invitation_id: uuid.UUID
) -> Exception | None:
    """Why :func:`revoke_invitation` changed nothing: ``None`` when it was revoked already."""
    row = (
        await session.execute(
            select(invitations.c.accepted_at, invitations.c.revoked_at).where(
                invitations.c.id == invitation_id, invitations.c.organization_id == organization_id
            )
        )
    ).one_or_none()
    if row is None:
        return NotFound("No such invitation in this organization")
    if row.revoked_at is not None:
        return None
    return Conflict("The invitation was accepted already")


async def accept_invitation(session: AsyncSession, token: str, email_canonical: str) -> AnyRow | None:
    """Spend a pending invitation addressed to ``email_canonical`` (:func:`erp_db.canonical_email`'s form).

    One statement spends it and reads its organisation; of two concurrent
    acceptances of one token, one finds it spent. ``None`` for every
    refusal alike (unknown, spent, revoked, expired, another's, archived).
    """
    statement = (
        update(invitations)
        .where(
            invitations.c.token_hash == hash_token(token),
            _pending(),
            invitations.c.email_canonical == email_canonical,
            organizations.c.id == invitations.c.organization_id,
            organizations.c.archived_at.is_(None),
        )
        .values(accepted_at=func.now())
        .returning(
            *ORGANIZATION_COLUMNS,
            invitations.c.id.label("invitation_id"),
            invitations.c.role.label("invited_role"),
        )
    )
    return (await session.execute(statement)).one_or_none()
