"""The pytest plugin of erp-api's ``testing`` extra, loaded through the ``pytest11`` entry point."""
