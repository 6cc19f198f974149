"""The feature tests' ``client`` commits for real, until they move onto the transactional one.

The plugin's ``client`` (erp_api.testing.plugin) shares the test's rolled-back
``db_session``; these tests were written against an application that commits
through its own pool (rows read back through ``erp_db_engine``, races between
two connections), which the plugin offers as ``committing_client``.
"""

import httpx
import pytest


@pytest.fixture
def client(committing_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return committing_client
