"""erp-api."""
