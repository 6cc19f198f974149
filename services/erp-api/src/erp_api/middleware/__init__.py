"""Pure-ASGI middleware of the service, one concept per module (see ``erp_api.app`` for the order)."""
