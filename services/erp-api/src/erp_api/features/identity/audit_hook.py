"""Where the identity routes report their changes for the audit log (docs/contract.md §10).

``user.created`` and ``user.updated`` are recorded here, in the request's
own transaction, so a rolled-back change leaves no event. The audit table
(``erp_db.AuditEvent``) and its writer (:mod:`erp_api.audit`) are shared by
every feature; the writer records a ``password`` change as ``"changed"``,
never a value.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from erp_api.audit import Event, record_events

UserAction = Literal["user.created", "user.updated"]


async def record_user_event(
    session: AsyncSession,
    *,
    action: UserAction,
    actor_user_id: uuid.UUID | None,
    user_id: uuid.UUID,
    changes: Mapping[str, tuple[Any, Any]],
) -> None:
    """Record one change of a user; ``changes`` is ``{field: (old, new)}``, a password as ``password``.

    The writer records ``password`` as ``"changed"``, never a value.
    """
    await record_events(session, Event(action, actor_user_id, "user", user_id, None, changes))
