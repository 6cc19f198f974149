"""Types of the identity tests' fixtures.

The fixtures themselves (``make_user``, ``make_committed_user``,
``auth_headers``, ``signed_in_user``, ``authenticated_client``) come from
erp_api_testing.plugin. ``make_user`` writes in the test's transaction;
committed users (races, apps a test builds itself) outlive the test, so
every user has a unique email, and Redis is shared by the whole session
(and by parallel runs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from erp_db import User

MakeUser = Callable[..., Awaitable[User]]
AuthHeaders = Callable[[User], dict[str, str]]
