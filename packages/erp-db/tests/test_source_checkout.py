"""is_source_checkout: new revisions are written only where they can be committed."""

from __future__ import annotations

from pathlib import Path

import pytest

import erp_db
from erp_db.errors import NotEditableInstallError
from erp_db.source_checkout import is_source_checkout, require_source_checkout


def make_project(root: Path, name: str = "erp-db") -> Path:
    package = root / "src" / "erp_db"
    package.mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "{name}"\n', encoding="utf-8")
    return package


def test_the_imported_package_counts_as_source_exactly_when_it_is_this_repository() -> None:
    # True in the development venv (editable install), false when the tests
    # run against an installed wheel.
    imported = Path(erp_db.__file__).resolve().parent
    repository_copy = Path(__file__).resolve().parent.parent / "src" / "erp_db"

    assert is_source_checkout(imported) is (imported == repository_copy)


def test_a_src_layout_of_the_erp_db_project_is_a_source_checkout(tmp_path: Path) -> None:
    assert is_source_checkout(make_project(tmp_path))


def test_an_installed_package_is_not(tmp_path: Path) -> None:
    package = tmp_path / "lib" / "python3.11" / "site-packages" / "erp_db"
    package.mkdir(parents=True)

    assert not is_source_checkout(package)
    with pytest.raises(NotEditableInstallError, match="source checkout"):
        require_source_checkout(package)


def test_a_src_layout_of_another_project_is_not(tmp_path: Path) -> None:
    assert not is_source_checkout(make_project(tmp_path, name="something-else"))


def test_an_unreadable_pyproject_is_not(tmp_path: Path) -> None:
    package = make_project(tmp_path)
    (tmp_path / "pyproject.toml").write_text("not = [toml", encoding="utf-8")

    assert not is_source_checkout(package)
