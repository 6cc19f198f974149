"""Identity and access: users, passwords, access and refresh tokens, the login throttle (docs/contract.md §9).

Feature routes declare who may call them with one dependency::

    from erp_api.features.identity import CurrentUser

    @router.get("/things")
    async def list_things(user: CurrentUser, session: SessionDep) -> ...
"""

from erp_api.features.identity.dependencies import (
    CurrentSuperuser,
    CurrentUser,
    current_user,
    document_token_url,
)
from erp_api.features.identity.router import router

__all__ = ["CurrentSuperuser", "CurrentUser", "current_user", "document_token_url", "router"]
