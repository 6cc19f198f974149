"""The declarative ``Base`` of every ORM model, with constraint names fixed by convention.

Without a naming convention PostgreSQL invents constraint names, and a later
migration that drops or alters a constraint cannot name it reliably. With one,
autogenerate writes the same names the server will hold, on every database.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# The conventions recommended by SQLAlchemy and Alembic, with the ``_N_``
# tokens so composite keys name every column. A check constraint must be
# given a name (``CheckConstraint(..., name="positive_amount")``); the
# convention prefixes it. Names past PostgreSQL's 63 characters are
# shortened by SQLAlchemy with a stable hash suffix.
NAMING_CONVENTION: Final[dict[str, str]] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of the ERP's ORM models; declare models in modules of :mod:`erp_db.models`."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
