"""The service's features, one package each: ``schemas`` (the HTTP shapes), ``queries`` (the SQL),
``dependencies`` (who may call), ``router`` (the routes, read top-down).

A feature's tables live in :mod:`erp_db.models`; its router is included by
:data:`erp_api.routes.api_v1.FEATURE_ROUTERS`.
"""
