"""Identity and access: users, passwords, access and refresh tokens, the login throttle (docs/contract.md §9).

Feature routes declare who may call them with one dependency::

    from erp_api.features.identity import Caller

    @router.get("/things")
    async def list_things(caller: Caller, session: SessionDep) -> ...

``Caller`` is the user's columns, read-only; ``CurrentUser`` the ORM
``User``, for a route that changes the user.
"""

from erp_api.features.identity.dependencies import (
    Caller,
    CallerRow,
    CurrentSuperuser,
    CurrentUser,
    current_user,
    document_token_url,
)
from erp_api.features.identity.router import router

__all__ = [
    "Caller",
    "CallerRow",
    "CurrentSuperuser",
    "CurrentUser",
    "current_user",
    "document_token_url",
    "router",
]
