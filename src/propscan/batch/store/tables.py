"""The database schema: documents, runs, analyses (one per document and run), spans, failures.

A document is stored once whatever the number of runs; an analysis row marks a document as done
under a run, and its spans hang off it. The primary key of ``analyses`` (run, document) is what
makes "exactly once" a database guarantee rather than a hope. Indexes serve the report queries:
spans by run and technique, documents by source and publication date.

Alembic migrations in ``migrations/versions`` create this schema; a test checks that they agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base; the names of constraints are fixed so migrations can refer to them."""


class DocumentRow(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    published: Mapped[dt.date | None] = mapped_column(Date)
    words: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_documents_source_published", "source", "published"),
        Index("ix_documents_published", "published"),
    )


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(String(255))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    propscan_version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AnalysisRow(Base):
    __tablename__ = "analyses"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    warnings: Mapped[list[str]] = mapped_column(JSON)
    # Each sentence as [start, end, score]: the scores the reading view colours, kept as the analyzer gave them.
    sentences: Mapped[list[Any]] = mapped_column(JSON)
    # The model's map from spans to sentence scores (``Analysis.sentence_calibration``); SQL null
    # for a model without one, and before 0004: its sentence scores are then no probabilities.
    sentence_calibration: Mapped[dict[str, float] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    analyzed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_analyses_document_id", "document_id"),)


class SpanRow(Base):
    __tablename__ = "spans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer)
    document_id: Mapped[str] = mapped_column(String(255))
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    technique: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    # The model that found the span when it is not the run's own (a cascade's screener or confirmer); null: the run's.
    model: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "document_id"],
            ["analyses.run_id", "analyses.document_id"],
            ondelete="CASCADE",
            name="fk_spans_analysis",
        ),
        Index("ix_spans_run_document", "run_id", "document_id"),
        Index("ix_spans_run_technique_score", "run_id", "technique", "score"),
    )


class FailureRow(Base):
    __tablename__ = "failures"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    origin: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    failed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
