"""Customers: an organisation's business partners, the feature built only from the kit (docs/contract.md §13).

``erp_db.models.customers`` holds the table, :mod:`.schemas` what the
routes take and give, :mod:`.router` the routes. Access, paging, ETags,
merge patch, archive, audit and tenant isolation come from the kit:
:mod:`erp_api.tenancy`, :mod:`erp_api.pagination`, :mod:`erp_api.versioned`,
:mod:`erp_api.audit`.
"""

from erp_api.features.customers.router import router

__all__ = ["router"]
