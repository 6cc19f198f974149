"""Whether this ``erp_db`` runs from the repository, where new revision files belong.

``erp-db revision`` writes a file into ``erp_db/migrations/versions``. From a
source checkout (an editable install, or ``src`` on ``sys.path``) that is
the repository, where the file gets reviewed and committed. From an
installed wheel it would be a ``site-packages`` directory that the next
install wipes out, so the command refuses there.

The test looks at where the imported code really is, not at install
metadata: ``erp_db`` counts as a source checkout when it sits in a ``src``
directory beside the ``pyproject.toml`` of the ``erp-db`` project. The
PEP 610 ``direct_url.json`` record was rejected because it describes the
installed distribution, which need not be the code that ``sys.path``
imported (a copy earlier on the path, a wheel beside an old editable record).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from erp_db.errors import NotEditableInstallError

PROJECT_NAME = "erp-db"

_PACKAGE_DIR = Path(__file__).resolve().parent


def is_source_checkout(package_dir: Path = _PACKAGE_DIR) -> bool:
    """Whether ``package_dir`` is ``<project>/src/erp_db`` with ``<project>`` the erp-db project."""
    if package_dir.parent.name != "src":
        return False
    pyproject = package_dir.parent.parent / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return isinstance(project, dict) and project.get("name") == PROJECT_NAME


def require_source_checkout(package_dir: Path = _PACKAGE_DIR) -> None:
    """Raise :class:`NotEditableInstallError`, with the way out, unless this is a source checkout."""
    if not is_source_checkout(package_dir):
        raise NotEditableInstallError(
            f"'erp-db revision' writes new migrations into the source checkout, but erp_db is "
            f"installed at {package_dir}; run it from an editable install of the repository "
            f"(poetry install)"
        )
