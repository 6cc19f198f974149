"""Types of the identity tests' fixtures.

The fixtures themselves (``make_user``, ``auth_headers``, ``signed_in_user``,
``authenticated_client``) come from erp_api.testing.plugin. The feature
tests' ``client`` commits for real (``tests/features/conftest.py``), so every
user has a unique email: the database and Redis are shared by the whole
session (and Redis by parallel runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from erp_db import User

MakeUser = Callable[..., Awaitable[User]]
AuthHeaders = Callable[[User], dict[str, str]]
