"""Types of the organisation tests' fixtures, which come from erp_api_testing.plugin.

``make_caller``, ``api`` and ``team`` work in the test's transaction (the
plugin's ``client``): nothing they write outlives the test. Inside one transaction
``now()`` stands still, so every row gets the same ``created_at``; tests of
an order in time, and races between connections, use the committing pair
``make_committed_caller`` and ``committing_api`` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from erp_api_testing.organizations import Caller

MakeCaller = Callable[..., Awaitable[Caller]]
