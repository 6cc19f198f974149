"""The audit writer: one ``audit_events`` row per change, in the change's own transaction.

docs/contract.md §10. A route calls :func:`record_events` with the session it
changed data through, before the request's unit of work commits; so the
event and the change commit together or not at all (a rolled-back change
leaves no event). The events go in one ``INSERT`` on the table, run once per
event row by the driver (an executemany: one round trip, and one statement
compiled once for the process, where a multi-row ``VALUES`` of the ORM
entity was compiled anew on every request).

``changes`` is ``{field: [old, new]}`` (``None`` for "absent"). Fields named
in :data:`SECRET_FIELDS` are recorded as ``"changed"``, never as a value, so
a careless caller cannot put a password or a token into the log. The request
id comes from the request context (:func:`erp_core.get_request_id`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from erp_core import get_request_id
from erp_db import AUDIT_ACTIONS, AuditEvent

_AUDIT_EVENTS: Final[Table] = AuditEvent.__table__  # type: ignore[assignment]
_INSERT_EVENTS: Final = insert(_AUDIT_EVENTS)
SECRET_FIELDS: Final = frozenset({"password", "password_hash", "token", "token_hash", "refresh_token"})
SECRET_CHANGED: Final = "changed"  # noqa: S105 (a marker, not a password)


@dataclass(frozen=True, slots=True)
class Event:
    """One change to record; ``organization_id`` is ``None`` for user events."""

    action: str
    actor_user_id: uuid.UUID | None
    target_type: str
    target_id: uuid.UUID
    organization_id: uuid.UUID | None = None
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in AUDIT_ACTIONS:  # the database refuses it too (ck_audit_events_action)
            raise ValueError(f"unknown audit action {self.action!r}")


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{field: (old, new)}`` for each field of ``new`` whose value differs from ``old``'s."""
    return {name: (old.get(name), value) for name, value in new.items() if old.get(name) != value}


def created(values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The changes of a creation: every field from ``None``."""
    return {name: (None, value) for name, value in values.items()}


async def record_events(session: AsyncSession, *events: Event) -> None:
    """Insert ``events`` (one statement, one round trip) into the session's transaction."""
    if not events:
        return
    request_id = get_request_id()
    await session.execute(_INSERT_EVENTS, [_event_row(event, request_id) for event in events])


# One event riding in another statement as a data-modifying CTE (erp_api.versioned.insert_row):
# every column given (a CTE gets no Python-side defaults), bound under names of its own.
_EVENT_COLUMNS: Final = (
    "id",
    "actor_user_id",
    "organization_id",
    "action",
    "target_type",
    "target_id",
    "changes",
    "request_id",
)
EVENT_CTE: Final = (
    insert(_AUDIT_EVENTS)
    .values({name: bindparam(f"audit_{name}") for name in _EVENT_COLUMNS})
    .cte("audit_event")
)


def event_after(created: Any) -> Any:
    """:data:`EVENT_CTE`'s insert, of one row per row of the CTE ``created`` (none when it has none)."""
    values = select(
        *(bindparam(f"audit_{name}", type_=_AUDIT_EVENTS.c[name].type) for name in _EVENT_COLUMNS)
    ).select_from(created)
    return insert(_AUDIT_EVENTS).from_select(_EVENT_COLUMNS, values).cte("audit_event")


def event_parameters(event: Event) -> dict[str, Any]:
    """The values of :data:`EVENT_CTE` for ``event``, in the request's context."""
    return {f"audit_{name}": value for name, value in _event_row(event, get_request_id()).items()}


def _event_row(event: Event, request_id: str | None) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "actor_user_id": event.actor_user_id,
        "organization_id": event.organization_id,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "changes": _json_changes(event.changes),
        "request_id": request_id,
    }


def _json_changes(changes: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    return {
        name: SECRET_CHANGED if name in SECRET_FIELDS else [_json_value(old), _json_value(new)]
        for name, (old, new) in changes.items()
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
