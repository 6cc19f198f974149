"""Test support for code built on erp-api (the ``testing`` extra): no pytest needed to import it."""
