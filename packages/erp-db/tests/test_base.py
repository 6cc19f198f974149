"""Base and its naming convention: every constraint gets a predictable name in the DDL."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, MetaData, String, UniqueConstraint, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.schema import CreateIndex, CreateTable

import erp_db.models
from erp_db.base import NAMING_CONVENTION, Base
from erp_db.engine import create_engine


class ModelBase(DeclarativeBase):
    # The test's models get a MetaData of their own, with Base's convention, so
    # they never join Base.metadata (which `erp-db check` compares).
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)


class Invoice(ModelBase):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("series", "number"),
        CheckConstraint("total >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(String(8))
    number: Mapped[int]
    customer_code: Mapped[str] = mapped_column(String(20), index=True)
    total: Mapped[int]


class InvoiceLine(ModelBase):
    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))


EXPECTED_NAMES = {
    "pk_invoices",
    "uq_invoices_series_number",
    "ck_invoices_total_not_negative",
    "pk_invoice_lines",
    "fk_invoice_lines_invoice_id_invoices",
}


def test_base_metadata_carries_the_naming_convention() -> None:
    assert Base.metadata.naming_convention == NAMING_CONVENTION
    assert erp_db.models.Base is Base


def test_constraint_names_follow_the_convention_in_the_ddl() -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    ddl = "\n".join(
        str(CreateTable(table).compile(dialect=dialect)) for table in ModelBase.metadata.sorted_tables
    )
    index_ddl = [str(CreateIndex(index).compile(dialect=dialect)) for index in Invoice.__table__.indexes]

    for name in EXPECTED_NAMES:
        assert f"CONSTRAINT {name} " in ddl
    assert index_ddl == ["CREATE INDEX ix_invoices_customer_code ON invoices (customer_code)"]


async def test_postgresql_keeps_the_convention_names(empty_database: str) -> None:
    engine = create_engine(empty_database, application_name="erp-db-naming-test")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(ModelBase.metadata.create_all)
            constraints = set(await connection.scalars(text("SELECT conname FROM pg_constraint")))
            indexes = set(await connection.scalars(text("SELECT indexname FROM pg_indexes")))
    finally:
        await engine.dispose()

    assert constraints >= EXPECTED_NAMES
    assert "ix_invoices_customer_code" in indexes
