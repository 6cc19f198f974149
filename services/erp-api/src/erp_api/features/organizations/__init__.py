"""Organisations, memberships, invitations and the audit log: the reference feature (docs/contract.md §10).

Read it in this order, the order to write the next feature in:

- ``erp_db.models.organizations`` / ``erp_db.models.audit``: the tables, and
  the reviewed migration ``c5e8a1f4d2b6`` that creates them;
- :mod:`.schemas`: what the routes take and give;
- :mod:`.queries` and :mod:`.invitations`: the SQL, one guarded statement
  per step;
- :mod:`.router`: the routes, top-down (access, statement, audit, answer).

What every feature under ``/organizations/{organization_id}`` shares is the
kit's: access (:mod:`erp_api.tenancy`), changes under ``If-Match`` and
archiving (:mod:`erp_api.versioned`), pages (:mod:`erp_api.pagination`),
the audit (:mod:`erp_api.audit`).
"""

from erp_api.features.organizations.router import router

__all__ = ["router"]
