"""erp-db."""
