"""erp-cache."""
