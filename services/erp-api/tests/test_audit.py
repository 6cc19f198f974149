"""The audit writer's rules that need no database: changes as {field: [old, new]}, no secret values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from erp_api.audit import Event, _json_changes, created, diff


def test_diff_keeps_only_the_fields_that_change() -> None:
    assert diff({"name": "A", "slug": "a"}, {"name": "B", "slug": "a"}) == {"name": ("A", "B")}


def test_created_changes_come_from_none() -> None:
    assert created({"role": "owner"}) == {"role": (None, "owner")}


def test_secrets_are_recorded_as_changed_and_values_as_json() -> None:
    moment, some_id = datetime(2026, 12, 1, tzinfo=UTC), uuid.uuid4()
    changes = {
        "password": ("old-secret", "new-secret"),
        "token": (None, "t0k3n"),
        "archived_at": (None, moment),
        "owner": (some_id, None),
    }
    assert _json_changes(changes) == {
        "password": "changed",
        "token": "changed",
        "archived_at": [None, moment.isoformat()],
        "owner": [str(some_id), None],
    }


def test_an_unknown_action_is_refused_before_the_database_sees_it() -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        Event("user.deleted", None, "user", uuid.uuid4())
