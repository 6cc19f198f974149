"""Organisations, memberships, invitations and the audit log: the reference feature (docs/contract.md §10).

Read it in this order, the order to write the next feature in:

- ``erp_db.models.organizations`` / ``erp_db.models.audit``: the tables, and
  the reviewed migration ``c5e8a1f4d2b6`` that creates them;
- :mod:`.schemas`: what the routes take and give;
- :mod:`.queries`: the SQL, one guarded statement per step;
- :mod:`.access`: the membership and role dependency of every
  ``/organizations/{organization_id}`` route;
- :mod:`.router`: the routes, top-down (route, permission, query, audit).
"""

from erp_api.features.organizations.router import router

__all__ = ["router"]
