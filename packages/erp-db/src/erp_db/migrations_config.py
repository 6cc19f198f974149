"""The Alembic configuration of erp-db's migrations, built in code from package resources.

No ``alembic.ini`` is read: the scripts are found as the resource
``erp_db:migrations``, so the migrations work from an installed wheel with no
file of the repository around, and a service, a test or the ``erp-db``
command all get the same configuration.
"""

from __future__ import annotations

import functools
import sys
from typing import Final, TextIO

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import URL

from erp_db.database_url import to_asyncpg_url
from erp_db.errors import MigrationError

MIGRATIONS_RESOURCE: Final = "erp_db:migrations"

# New revision files sort by creation time: 2025_11_26_0712-3f2a9c1b7d4e_add_customers.py.
FILE_TEMPLATE: Final = "%(year)d_%(month).2d_%(day).2d_%(hour).2d%(minute).2d-%(rev)s_%(slug)s"


def alembic_config(url: str | URL | None = None, *, stdout: TextIO | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for the shipped migrations.

    ``url`` is handed to ``env.py`` through ``config.attributes["url"]``, never
    through the ``sqlalchemy.url`` option, whose text a ``%`` in a password
    would break and which Alembic may print. Without a URL, online commands
    read ``DATABASE_URL`` and ``--sql`` renders for PostgreSQL without one.
    Alembic writes what it reports (``current``, ``history``, ``--sql``) to
    ``stdout``, by default the ``sys.stdout`` of the moment of the call.
    """
    stream = stdout if stdout is not None else sys.stdout
    config = Config(stdout=stream, output_buffer=stream)
    config.set_main_option("script_location", MIGRATIONS_RESOURCE)
    # set_main_option() goes through ConfigParser interpolation: '%' doubled.
    config.set_main_option("file_template", FILE_TEMPLATE.replace("%", "%%"))
    config.set_main_option("timezone", "UTC")
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = to_asyncpg_url(url)
    return config


def script_directory() -> ScriptDirectory:
    """The shipped revision scripts (parsing them reads every file: cache what you derive)."""
    return ScriptDirectory.from_config(alembic_config())


@functools.cache
def shipped_head() -> str:
    """The head revision this installed erp-db ships: what a database must be at to be current.

    Computed once per process, since :class:`ScriptDirectory` parses every
    revision file and readiness asks often; the scripts of an installed
    package do not change while it runs.
    """
    head = script_directory().get_current_head()  # raises on several heads
    if head is None:
        raise MigrationError("erp-db ships no migration scripts")
    return head
