"""Every check of the monorepo, one named session each: `nox -l` is the menu.

Poetry installs, nox orchestrates: each session's virtual environment is filled
from the one root ``poetry.lock`` with ``poetry sync --only <groups>``, so each
package is tested with exactly its own locked dependency closure (an import it
forgot to declare fails here, not in production).
"""

from __future__ import annotations

import contextlib
import email.parser
import os
import shutil
import tempfile
import tomllib
import zipfile
from pathlib import Path

import nox
from packaging.specifiers import InvalidSpecifier, SpecifierSet

ROOT = Path(__file__).parent
DIST = ROOT / "dist"
# dependency group name in the root pyproject == distribution name -> its folder
PACKAGES = {
    "erp-core": "packages/erp-core",
    "erp-db": "packages/erp-db",
    "erp-cache": "packages/erp-cache",
    "erp-api": "services/erp-api",
    "erp-worker": "services/erp-worker",
    "erp-testing": "packages/erp-testing",
    "erp-api-testing": "services/erp-api-testing",
}
# The test-only distributions: never in the image, never installed by `smoke`.
TEST_SUPPORT_PACKAGES = ("erp-testing", "erp-api-testing")
RUNTIME_PACKAGES = tuple(name for name in PACKAGES if name not in TEST_SUPPORT_PACKAGES)
# The test-support groups a package's tests import, installed beside its own group and `test`;
# a package not named here (erp-core, erp-db, erp-cache) is tested without any.
TEST_SUPPORT = {
    "erp-api": ("erp-api-testing",),
    "erp-worker": ("erp-testing",),
}
# Poetry must install into the session's venv (nox sets VIRTUAL_ENV), never make its own.
POETRY_ENV = {"POETRY_VIRTUALENVS_CREATE": "false"}
# Where the tests find the machine's servers; a developer's environment may override both.
SERVICE_ENV = {
    "TEST_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
    "TEST_REDIS_URL": "redis://127.0.0.1:6379/15",
}

# The matrix of supported Pythons: the libraries' and the worker's tests on each
# (`test-matrix-3.1x`); the per-package `test-*` sessions run on the default one.
MATRIX_PYTHONS = ["3.11", "3.12", "3.13"]
MATRIX_PACKAGES = ("erp-core", "erp-db", "erp-cache", "erp-worker", "erp-testing")


def _pyenv_interpreters_on_path() -> None:
    """Put pyenv's installed 3.11-3.13 ahead of its shims, which answer only for the selected version.

    Where pyenv is absent this changes nothing, and a missing interpreter fails its session by name.
    """
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found = [
        str(path.parent)
        for python in MATRIX_PYTHONS
        for path in sorted(versions.glob(f"{python}.*/bin/python{python}"))[-1:]
    ]
    if found:
        os.environ["PATH"] = os.pathsep.join([*found, os.environ.get("PATH", "")])


_pyenv_interpreters_on_path()

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "virtualenv"
nox.options.error_on_external_run = True
nox.options.sessions = [
    "lint",
    "typecheck",
    *(f"test-{name}" for name in PACKAGES),
    *(f"build-{name}" for name in PACKAGES),
    # 3.11 is the default interpreter, which the test-* sessions above already use.
    "test-matrix-3.12",
    "test-matrix-3.13",
    "smoke",
    "sbom",
    "resilience",
    "drill",
    "k8s",
]


def poetry_sync(session: nox.Session, *groups: str, no_directory: bool = False) -> None:
    """Install the locked closure of ``groups`` into the session's venv (skipped by ``nox -R``)."""
    args = ["poetry", "sync", "--only", ",".join(groups), "--no-interaction"]
    if no_directory:
        args.append("--no-directory")
    session.run_install(*args, external=True, env=POETRY_ENV, silent=True)


def service_env(session: nox.Session) -> dict[str, str]:
    return {key: session.env.get(key) or default for key, default in SERVICE_ENV.items()}


@nox.session(tags=["lint"])
def lint(session: nox.Session) -> None:
    """Ruff lint and format check, import layers, lock freshness, Dockerfile, compose and workflow schemas."""
    poetry_sync(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    _check_import_layers(session)
    _check_lock_is_current(session)
    session.run("hadolint", "docker/Dockerfile", "docker/checks.Dockerfile")
    # The workflows' supply chain: pinned actions, no persisted credentials, least permissions.
    session.run("zizmor", "--offline", ".github/")
    # check-jsonschema's vendor schemas ship inside the package: no network needed.
    for schema, pattern in (
        ("vendor.compose-spec", "docker/compose*.yaml"),
        ("vendor.github-workflows", ".github/workflows/*.yml"),
        ("vendor.github-actions", ".github/actions/*/action.yml"),
        ("vendor.dependabot", ".github/dependabot.yml"),
    ):
        files = sorted(str(path.relative_to(ROOT)) for path in ROOT.glob(pattern))
        session.run("check-jsonschema", "--builtin-schema", schema, *files)


def _check_lock_is_current(session: nox.Session) -> None:
    # `poetry check --lock` hashes only the root pyproject and misses a change
    # inside a package's own; lock again in a scratch copy and compare instead.
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch)
        shutil.copy2(ROOT / "pyproject.toml", copy)
        shutil.copy2(ROOT / "poetry.lock", copy)
        for path in PACKAGES.values():
            shutil.copytree(ROOT / path, copy / path, ignore=shutil.ignore_patterns("tests", "__pycache__"))
        session.run("poetry", "lock", "--directory", str(copy), external=True, env=POETRY_ENV, silent=True)
        if _resolution(copy / "poetry.lock") != _resolution(ROOT / "poetry.lock"):
            session.error("poetry.lock is out of date: run `poetry lock` and commit the result")
    session.log("poetry.lock is current")


def _resolution(lock: Path) -> dict[str, object]:
    """What a lock file resolves: its hash of the manifests and every package as it would be installed.

    A package's ``description`` and the spelling of its ``python-versions`` are copied from whichever of
    its files Poetry happened to read (the same release's wheels disagree: "v1.37.1" in one, "v1.37.2"
    in another; ``<4,>=3.9`` or ``>=3.9,<4``), so a second lock on another machine differs in them with
    nothing changed. They install nothing and are left out of the comparison.
    """
    data = tomllib.loads(lock.read_text())
    packages = {}
    for package in data["package"]:
        kept = {key: value for key, value in package.items() if key != "description"}
        versions = package.get("python-versions", "*")
        with contextlib.suppress(InvalidSpecifier):  # not PEP 440: compared as written
            versions = str(SpecifierSet("" if versions == "*" else versions))
        kept["python-versions"] = versions
        packages[(package["name"], package["version"])] = kept
    return {"metadata": data["metadata"], "packages": packages}


# Probes of the import contracts: (module written into a scratch copy, its import, what must be reported).
LAYER_PROBES = (
    ("packages/erp-db/src/erp_db/_layer_probe.py", "import erp_api", "erp_db._layer_probe -> erp_api"),
    ("packages/erp-db/src/erp_db/_peer_probe.py", "import erp_cache", "erp_db._peer_probe -> erp_cache"),
    (
        "services/erp-worker/src/erp_worker/_layer_probe.py",
        "import erp_api",
        "erp_worker._layer_probe -> erp_api",
    ),
    (
        "services/erp-api/src/erp_api/_testing_probe.py",
        "import erp_testing",
        "erp_api._testing_probe -> erp_testing",
    ),
    (
        "services/erp-api/src/erp_api/_root_probe.py",
        "import erp_cache.client",
        "erp_api._root_probe -> erp_cache.client",
    ),
)


def _check_import_layers(session: nox.Session) -> None:
    """``lint-imports`` over the tree, then over a scratch copy with forbidden imports, which must fail.

    import-linter reads sources only: ``PYTHONPATH`` points at them, nothing is installed.
    """
    sources = [f"{path}/src" for path in PACKAGES.values()]
    session.run("lint-imports", env={"PYTHONPATH": os.pathsep.join(str(ROOT / src) for src in sources)})
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch)
        shutil.copy2(ROOT / "pyproject.toml", copy)
        for src in sources:
            shutil.copytree(ROOT / src, copy / src, ignore=shutil.ignore_patterns("__pycache__"))
        for path, statement, _ in LAYER_PROBES:
            (copy / path).write_text(f"{statement}\n")
        with session.chdir(copy):
            output = session.run(
                "lint-imports", env={"PYTHONPATH": os.pathsep.join(str(copy / src) for src in sources)},
                success_codes=[1], silent=True,
            )  # fmt: skip
    missed = [report for _, _, report in LAYER_PROBES if report not in str(output)]
    if missed:
        session.error(f"lint-imports let forbidden imports through: {missed}")
    session.log(f"lint-imports refuses each of {len(LAYER_PROBES)} forbidden imports")


@nox.session(tags=["lint"])
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package, one run per package."""
    poetry_sync(session, *PACKAGES, "test", "typing")
    for path in PACKAGES.values():
        session.run("mypy", "--strict", f"{path}/src", *session.posargs)


KUBERNETES = ROOT / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests support (the preStop `sleep` action is on by default since 1.30).
KUBERNETES_OLDEST = "1.30.0"


@nox.session(tags=["lint"])
def k8s(session: nox.Session) -> None:
    """Render each Kubernetes overlay, validate it (1.30 and newest), scan it with checkov, test it."""
    poetry_sync(session, "k8s", "test")
    checkov = _checkov(session)
    rendered = Path(session.create_tmp()) / "kubernetes"
    rendered.mkdir(exist_ok=True)
    files = []
    for overlay in sorted(path.name for path in (KUBERNETES / "overlays").iterdir()):
        out = rendered / f"{overlay}.yaml"
        session.run("kubectl", "kustomize", str(KUBERNETES / "overlays" / overlay), "--output", str(out))
        files.append(str(out))
    newest = session.run(
        "python", "-c", "from kubernetes_validate.utils import latest_version; print(latest_version())",
        silent=True,
    )  # fmt: skip
    for version in (KUBERNETES_OLDEST, str(newest).strip()):
        session.run("kubernetes-validate", "--strict", "--quiet", "--kubernetes-version", version, *files)
    session.run(checkov, "--config-file", str(KUBERNETES / ".checkov.yaml"), "--quiet",
                *(arg for f in files for arg in ("--file", f)), external=True)  # fmt: skip
    session.run("pytest", str(KUBERNETES / "tests"), *session.posargs)


def _checkov(session: nox.Session) -> str:
    # checkov's own venv beside the session's: its ~100 pinned dependencies (an
    # old `packaging`, …) would fight the locked ones, and `poetry sync` would
    # remove them again on every run. Not in poetry.lock for the same reason.
    # Beside, not inside: nox recreates the session's venv on every run, and
    # this one takes minutes to install; it is rebuilt when the pin changes.
    requirements = KUBERNETES / "requirements-checkov.txt"
    venv = Path(session.virtualenv.location).parent / "k8s-checkov"
    stamp = venv / requirements.name
    if not stamp.is_file() or stamp.read_text() != requirements.read_text():
        session.run("python", "-m", "venv", "--clear", str(venv), silent=True)
        session.run(str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "-r", str(requirements), external=True)  # fmt: skip
        shutil.copyfile(requirements, stamp)
    return str(venv / "bin" / "checkov")


def _register(name: str, path: str) -> None:
    @nox.session(name=f"test-{name}", tags=["test"])
    def test(session: nox.Session) -> None:
        poetry_sync(session, name, *TEST_SUPPORT.get(name, ()), "test")
        session.run(
            "pytest", path, "-m", "not resilience and not drill", *session.posargs, env=service_env(session)
        )

    test.__doc__ = f"Tests of {name}, in a venv holding only its declared dependencies."

    @nox.session(name=f"build-{name}", tags=["build"], venv_backend="none")
    def build(session: nox.Session) -> None:
        out = DIST / name
        session.run(
            "poetry", "build", "--project", path, "--output", str(out), "--clean", "--no-interaction",
            external=True, env=POETRY_ENV,
        )  # fmt: skip
        for artifact in sorted(out.iterdir()):
            _check_requirements(session, artifact)

    build.__doc__ = f"Wheel and sdist of {name}; fails when a requirement names a path or URL."


def _check_requirements(session: nox.Session, artifact: Path) -> None:
    if artifact.suffix == ".whl":
        with zipfile.ZipFile(artifact) as wheel:
            name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
            text = wheel.read(name).decode()
    else:
        import tarfile

        with tarfile.open(artifact) as sdist:
            member = next(
                m for m in sdist.getmembers() if m.name.count("/") == 1 and m.name.endswith("PKG-INFO")
            )
            extracted = sdist.extractfile(member)
            assert extracted is not None
            text = extracted.read().decode()
    requirements = email.parser.Parser().parsestr(text).get_all("Requires-Dist") or []
    direct = [r for r in requirements if "@" in r.split(";")[0] or "file:" in r]
    if direct:
        session.error(f"{artifact.name} requires a path or URL: {direct}")
    session.log(f"{artifact.name}: {len(requirements)} requirement(s), all by name and range")


for _name, _path in PACKAGES.items():
    _register(_name, _path)


@nox.session(name="test-matrix", python=MATRIX_PYTHONS, tags=["matrix"])
def test_matrix(session: nox.Session) -> None:
    """The libraries' and the worker's tests on one supported Python (3.11, 3.12, 3.13)."""
    poetry_sync(session, *MATRIX_PACKAGES, "test")
    paths = [PACKAGES[name] for name in MATRIX_PACKAGES]
    session.run(
        "pytest", *paths, "-m", "not resilience and not drill", *session.posargs, env=service_env(session)
    )


@nox.session(tags=["build"], requires=[f"build-{name}" for name in RUNTIME_PACKAGES])
def smoke(session: nox.Session) -> None:
    """Install the runtime wheels as the image does and run their commands with an empty environment."""
    poetry_sync(session, "erp-api", "erp-worker", no_directory=True)
    # The image's wheels only: the test-support ones would need pytest, which it lacks.
    wheels = sorted(str(wheel) for name in RUNTIME_PACKAGES for wheel in (DIST / name).glob("*.whl"))
    # session.run, not session.install: reinstall fresh wheels even under `nox -R`
    session.run(
        "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--force-reinstall", *wheels
    )
    session.run("python", "-m", "pip", "check")
    bare = {"PATH": session.bin, "HOME": tempfile.gettempdir()}
    with tempfile.TemporaryDirectory() as outside, session.chdir(outside):
        session.run(
            "python", "-c", "import erp_core, erp_db, erp_cache, erp_api, erp_worker; print(erp_worker)",
            env=bare, include_outer_env=False,
        )  # fmt: skip
        session.run("erp-db", "--help", env=bare, include_outer_env=False, silent=True)
        session.run("erp-db", "upgrade", "--sql", env=bare, include_outer_env=False, silent=True)
        session.run("erp-api", "--help", env=bare, include_outer_env=False, silent=True)
        session.run("erp-worker", "--help", env=bare, include_outer_env=False, silent=True)
        # As the Kubernetes pod runs them: read-only root, only /tmp writable.
        session.run("python", str(ROOT / "tools" / "read_only_root.py"))


@nox.session(tags=["build"], requires=["smoke"])
def sbom(session: nox.Session) -> None:
    """CycloneDX SBOM of the environment that `smoke` installed from the wheels: dist/sbom.cdx.json."""
    poetry_sync(session, "sbom")
    # The tool runs from its own venv and reads the other one's interpreter, so
    # the SBOM lists what the service runs with, not the SBOM tool.
    runtime = Path(session.virtualenv.location).parent / "smoke"
    # The SBOM's main component is erp-api. cyclonedx-py reads [tool.poetry]
    # first when a pyproject has one, and ours holds no name there (Poetry 2
    # reads [project]): hand it the [project] table alone.
    import json
    import tomllib

    with (ROOT / PACKAGES["erp-api"] / "pyproject.toml").open("rb") as pyproject:
        project = tomllib.load(pyproject)["project"]
    root = Path(session.create_tmp()) / "pyproject.toml"
    # A JSON string is a valid TOML basic string.
    fields = "".join(f"{key} = {json.dumps(project[key])}\n" for key in ("name", "version", "description"))
    root.write_text(f"[project]\n{fields}")
    session.run(
        "cyclonedx-py", "environment", "--pyproject", str(root), "--mc-type", "application",
        "--output-reproducible", "--output-format", "JSON", "--output-file", str(DIST / "sbom.cdx.json"),
        str(runtime),
    )  # fmt: skip


PIP_AUDIT = "pip-audit==2.10.1"


@nox.session(tags=["audit"])
def audit(session: nox.Session) -> None:
    """pip-audit --strict over the locked runtime dependencies (needs the network: CI only, not default)."""
    poetry_sync(session, "erp-api", no_directory=True)
    # Frozen before pip-audit is installed beside them: exactly what the image installs.
    frozen = Path(session.create_tmp()) / "runtime-requirements.txt"
    frozen.write_text(str(session.run("python", "-m", "pip", "freeze", "--exclude-editable", silent=True)))
    session.install(PIP_AUDIT)
    session.run(
        "pip-audit", "--strict", "--no-deps", "--disable-pip", "--progress-spinner", "off",
        "--requirement", str(frozen),
    )  # fmt: skip


@nox.session(tags=["test"])
def resilience(session: nox.Session) -> None:
    """Stop, hang and overload private PostgreSQL and Redis servers under the services; they must recover."""
    poetry_sync(session, "erp-api", "erp-worker", "erp-api-testing", "test")
    paths = list(PACKAGES.values())
    session.run("pytest", *paths, "-m", "resilience", *session.posargs, env=service_env(session))


@nox.session(tags=["test"])
def drill(session: nox.Session) -> None:
    """Rolling restart of three API replicas and the worker under load: zero failures, one mail each."""
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").is_file():
        session.error("haproxy is not installed: `apt-get install haproxy` (Debian, Ubuntu)")
    # erp-worker runs as its command beside the replicas; the drill imports none of it.
    poetry_sync(session, "erp-api", "erp-worker", "erp-api-testing", "test")
    tests = "services/erp-api/tests/resilience"
    session.run("pytest", tests, "-m", "drill", *session.posargs, env=service_env(session))


@nox.session(tags=["perf"])
def bench(session: nox.Session) -> None:
    """Throughput of the full service against bare FastAPI baselines, as ratios (needs wrk; not default)."""
    _bench_environment(session, "wrk", "`apt-get install wrk` (Debian, Ubuntu) or `brew install wrk`")
    session.run("python", "benchmarks/run.py", *session.posargs, env=service_env(session))
    # Identity: GET /users/me against a bare JWT + primary-key route, /healthz/live during logins.
    session.run("python", "benchmarks/identity.py", *session.posargs, env=service_env(session))
    # Organisations: get-by-id, a list of 50 and create against the same SQL without the stack.
    session.run("python", "benchmarks/organizations.py", *session.posargs, env=service_env(session))
    # erp-worker: mails per second, and /healthz/live while a worker drains a backlog.
    session.run("python", "benchmarks/worker.py", *session.posargs, env=service_env(session))
    # The full-stack template's routes over HTTP, when `-- --peer URL …` names a running one.
    session.run("python", "benchmarks/template_peer.py", *session.posargs, env=service_env(session))


@nox.session(tags=["perf"])
def instructions(session: nox.Session) -> None:
    """Instructions per request of every measured route against its asyncpg floor (callgrind; not default)."""
    _bench_environment(session, "valgrind", "`apt-get install valgrind` (Debian, Ubuntu)")
    session.run("python", "benchmarks/instructions.py", *session.posargs, env=service_env(session))


def _bench_environment(session: nox.Session, tool: str, install_hint: str) -> None:
    """Stop unless ``tool`` is on the path; then install the services, their test support and the test group.

    The benches take their throwaway database from erp_db.testing and
    start servers with erp_api_testing.ServiceProcess.
    """
    if shutil.which(tool) is None:
        session.error(f"{tool} is not installed: {install_hint}")
    poetry_sync(session, "erp-api", "erp-worker", "erp-api-testing", "test")


@nox.session(tags=["perf"])
def fuzz(session: nox.Session) -> None:
    """Schemathesis against the running service's OpenAPI document: no 5xx, every answer as documented."""
    poetry_sync(session, "erp-api", "erp-api-testing", "test", "fuzz")
    session.run("python", "fuzz/run.py", *session.posargs, env=service_env(session))


@nox.session(venv_backend="none")
def image(session: nox.Session) -> None:
    """The erp-api image by `docker build`, labelled with its version (needs a Docker engine; not default)."""
    import subprocess
    import tomllib

    try:
        engine = subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        engine = False
    if not engine:
        session.error(
            "no Docker engine is available here (`docker info` failed). Build the image where one runs, "
            "with this session or `docker build -f docker/Dockerfile .` from the repository root; "
            "CI's image job builds it on every push"
        )
    with (ROOT / PACKAGES["erp-api"] / "pyproject.toml").open("rb") as pyproject:
        version = tomllib.load(pyproject)["project"]["version"]
    session.run(
        "docker", "build", "--file", "docker/Dockerfile", "--build-arg", f"VERSION={version}",
        # without a value: passed on from the environment when set there, else left out
        "--build-arg", "POETRY_PYPI_MIRROR_URL",
        # erp-api:local is the image docker/compose.yaml runs by default
        "--tag", f"erp-api:{version}", "--tag", "erp-api:local",
        *session.posargs, ".",
        external=True,
    )  # fmt: skip
