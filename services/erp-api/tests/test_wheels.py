"""The runtime wheels, the ones the image installs, carry no test code.

Each is built here by its own PEP 517 backend (poetry-core, as ``poetry
build`` and the image do) and opened: no module imports pytest, nothing
registers a ``pytest11`` entry point, and no module starts a PostgreSQL or
Redis server of its own. That test support (the feature-test harness, the
private servers) lives in the test-only distributions erp-testing and
erp-api-testing. One exception, which docs/contract.md §1 names: the
throwaway databases of ``erp_db.testing``, for other packages' tests,
import pytest behind erp-db's ``testing`` extra, and nothing imports them
unless a test does.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
# What the image builds and installs (docker/Dockerfile); never erp-testing or erp-api-testing.
RUNTIME = {
    "erp-core": "packages/erp-core",
    "erp-db": "packages/erp-db",
    "erp-cache": "packages/erp-cache",
    "erp-api": "services/erp-api",
    "erp-worker": "services/erp-worker",
}
IMPORTS_PYTEST = re.compile(r"^\s*(?:import|from)\s+(?:pytest|_pytest|pytest_asyncio)\b", re.MULTILINE)
# The binaries only a private server runs (erp_testing.servers): the service connects, never starts one.
STARTS_A_SERVER = re.compile(r"\binitdb\b|\bredis-server\b")
# docs/contract.md §1: test helpers other packages may use, importing pytest behind an extra.
BEHIND_AN_EXTRA = {"erp_db/testing.py": "testing"}
BUILD = "import sys; from poetry.core.masonry.api import build_wheel; print(build_wheel(sys.argv[1]))"


@pytest.fixture(scope="module", params=sorted(RUNTIME))
def wheel(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[zipfile.ZipFile]:
    out = tmp_path_factory.mktemp(request.param)
    built = subprocess.run(
        [sys.executable, "-c", BUILD, str(out)],
        cwd=ROOT / RUNTIME[request.param],
        env={"PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    with zipfile.ZipFile(out / built.stdout.strip().splitlines()[-1]) as archive:
        yield archive


def test_no_module_imports_pytest(wheel: zipfile.ZipFile) -> None:
    importing = [
        name
        for name in wheel.namelist()
        if name.endswith(".py")
        and name not in BEHIND_AN_EXTRA
        and IMPORTS_PYTEST.search(wheel.read(name).decode())
    ]
    assert importing == [], f"{wheel.filename}: test code in a runtime wheel"


def test_a_helper_importing_pytest_declares_it_in_its_extra(wheel: zipfile.ZipFile) -> None:
    metadata = next(name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    requires = [
        line.split(":", 1)[1].strip()
        for line in wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    for module, extra in BEHIND_AN_EXTRA.items():
        if module in wheel.namelist():
            behind = [r for r in requires if f'extra == "{extra}"' in r]
            assert any(r.startswith("pytest ") or r.startswith("pytest(") for r in behind), requires
            assert any(r.startswith("pytest-asyncio") for r in behind), requires


def test_no_pytest_plugin_is_registered(wheel: zipfile.ZipFile) -> None:
    entry_points = configparser.ConfigParser()
    for name in wheel.namelist():
        if name.endswith(".dist-info/entry_points.txt"):
            entry_points.read_string(wheel.read(name).decode())
    assert not entry_points.has_section("pytest11"), f"{wheel.filename}: {dict(entry_points['pytest11'])}"


def test_no_module_starts_a_database_server(wheel: zipfile.ZipFile) -> None:
    starting = [
        name
        for name in wheel.namelist()
        if name.endswith(".py") and STARTS_A_SERVER.search(wheel.read(name).decode())
    ]
    assert starting == [], f"{wheel.filename}: private servers belong in erp-testing"
