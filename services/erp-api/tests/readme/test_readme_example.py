"""The erp-api README's feature example, run as written: the README must quote example_feature.py.

The example is a router of its own; here it is imported the way a feature
router is, by ``routes/api_v1.py`` while ``erp_api`` itself is still being
imported (where a circular import would break it), then served by the
harness's ``client``.
"""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
from fastapi import FastAPI

from .example_feature import router

EXAMPLE = Path(__file__).with_name("example_feature.py")
README = Path(__file__).parents[2] / "README.md"


def test_the_readme_quotes_the_example_verbatim():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)

    assert EXAMPLE.read_text() in blocks


def test_the_example_imports_from_erp_api_inside_a_router_api_v1_imports():
    # A finder that makes `erp_api.routes.api_v1` import the example as it loads, as it
    # would import a feature's router: `from erp_api import ...` runs mid-import of erp_api.
    script = textwrap.dedent(f"""
        import importlib.abc, importlib.machinery, runpy, sys

        class ApiV1ImportsTheExample(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name != "erp_api.routes.api_v1":
                    return None
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                load = spec.loader.exec_module
                def exec_module(module):
                    load(module)
                    runpy.run_path({str(EXAMPLE)!r}, run_name="example_feature")
                spec.loader.exec_module = exec_module
                return spec

        sys.meta_path.insert(0, ApiV1ImportsTheExample())
        import erp_api
        print("imported", erp_api.create_app.__name__)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported create_app"


async def test_the_example_creates_answers_its_id_and_maps_a_taken_slug(
    app: FastAPI, client: httpx.AsyncClient
):
    app.include_router(router, prefix="/api/v1")

    created = await client.post("/api/v1/example-organisations", json={"name": "Acme", "slug": "acme"})
    taken = await client.post("/api/v1/example-organisations", json={"name": "Other", "slug": "acme"})

    assert created.status_code == 201, created.text
    assert created.json()["id"]
    assert created.json()["slug"] == "acme"
    assert taken.status_code == 409
    assert taken.json()["errors"] == [
        {"loc": ["body", "slug"], "message": "An organisation with this slug exists", "type": "conflict"}
    ]
