"""The report queries: totals per group of documents and top spans, aggregated in SQL.

Aggregation runs in the database (indexed on run, technique, source and date) so a report over a
large corpus reads sums, not texts. Results are plain dataclasses: callers never see the tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, case, distinct, func, or_, select
from sqlalchemy.orm import Session

from propscan.batch.store.errors import StoreError
from propscan.batch.store.tables import AnalysisRow, DocumentRow, SpanRow

UNKNOWN_SOURCE = "(unknown)"
UNDATED = "(undated)"


@dataclass(frozen=True)
class Filters:
    """Which part of a run to report on; empty fields mean no restriction.

    Attributes:
        sources: outlets to keep.
        since, until: publication dates, inclusive (documents without a date are then left out).
        techniques: techniques to count.
        min_score: spans scoring below it are not counted.
    """

    sources: tuple[str, ...] = ()
    since: dt.date | None = None
    until: dt.date | None = None
    techniques: tuple[str, ...] = ()
    min_score: float = 0.0


EVERYTHING = Filters()


@dataclass
class GroupTotals:
    """What a group of documents holds: its size, and its spans per technique."""

    documents: int
    words: int
    with_any: int = 0
    spans: dict[str, int] = field(default_factory=dict)
    with_technique: dict[str, int] = field(default_factory=dict)
    # Over the documents whose sentence scores are probabilities (a model with a sentence map):
    # their sentences, and the sum of their scores, the expected number that hold a technique.
    sentences: int = 0
    marked_sentences: float = 0.0


@dataclass(frozen=True)
class Example:
    """A high-scoring span, with enough context to read it and a document id to open it; ``model`` names the
    model that found it in a run of several (a cascade), None in a run of one."""

    technique: str
    score: float | None
    document_id: str
    start: int
    end: int
    text: str
    source: str | None
    title: str | None
    published: dt.date | None
    model: str | None = None


def group_totals(
    session: Session, run_id: int, keys: Sequence[str], filters: Filters
) -> dict[tuple[str, ...], GroupTotals]:
    """Totals per group, a group being a tuple of ``source``/``month`` values (``()`` for everything)."""
    dialect = session.get_bind().dialect.name
    groups = [_group_expression(key, dialect).label(key) for key in keys]
    documents_where = _document_filter(filters)
    spans_where = and_(SpanRow.run_id == run_id, documents_where, _span_filter(filters))
    out: dict[tuple[str, ...], GroupTotals] = {}
    # An article score is its sentences' mean: times their number, their sum (SQLite and PostgreSQL
    # both count a JSON array's items with json_array_length).
    sentences = case((AnalysisRow.sentence_calibration.is_not(None), func.json_array_length(AnalysisRow.sentences)))
    for row in session.execute(
        select(
            *groups,
            func.count(),
            func.coalesce(func.sum(DocumentRow.words), 0),
            func.coalesce(func.sum(sentences), 0),
            func.coalesce(func.sum(AnalysisRow.score * sentences), 0.0),
        )
        .select_from(AnalysisRow)
        .join(DocumentRow, DocumentRow.id == AnalysisRow.document_id)
        .where(AnalysisRow.run_id == run_id, documents_where)
        .group_by(*groups)
    ):
        documents, words, scored, expected = row[len(keys) :]
        out[tuple(row[: len(keys)])] = GroupTotals(
            int(documents), int(words), sentences=int(scored), marked_sentences=float(expected)
        )
    spans_from = (
        select(*groups).select_from(SpanRow).join(DocumentRow, DocumentRow.id == SpanRow.document_id).where(spans_where)
    )
    for row in session.execute(
        spans_from.add_columns(SpanRow.technique, func.count(), func.count(distinct(SpanRow.document_id))).group_by(
            *groups, SpanRow.technique
        )
    ):
        totals = out[tuple(row[: len(keys)])]
        totals.spans[row[-3]] = int(row[-2])
        totals.with_technique[row[-3]] = int(row[-1])
    for row in session.execute(spans_from.add_columns(func.count(distinct(SpanRow.document_id))).group_by(*groups)):
        out[tuple(row[: len(keys)])].with_any = int(row[-1])
    return out


def top_spans(session: Session, run_id: int, filters: Filters, per_technique: int) -> list[Example]:
    """The ``per_technique`` highest-scoring spans of each technique (ties broken by document and offset)."""
    rank = (
        func.row_number()
        .over(partition_by=SpanRow.technique, order_by=(SpanRow.score.desc(), SpanRow.document_id, SpanRow.start))
        .label("rank")
    )
    ranked = (
        select(
            SpanRow.technique,
            SpanRow.score,
            SpanRow.document_id,
            SpanRow.start,
            SpanRow.end,
            func.substr(DocumentRow.text, SpanRow.start + 1, SpanRow.end - SpanRow.start).label("text"),
            DocumentRow.source,
            DocumentRow.title,
            DocumentRow.published,
            SpanRow.model,
            rank,
        )
        .join(DocumentRow, DocumentRow.id == SpanRow.document_id)
        .where(SpanRow.run_id == run_id, _document_filter(filters), _span_filter(filters))
        .subquery()
    )
    query = select(ranked).where(ranked.c.rank <= per_technique).order_by(ranked.c.technique, ranked.c.rank)
    return [
        Example(r.technique, r.score, r.document_id, r.start, r.end, r.text, r.source, r.title, r.published, r.model)
        for r in session.execute(query)
    ]


def _group_expression(key: str, dialect: str):
    if key == "source":
        return func.coalesce(DocumentRow.source, UNKNOWN_SOURCE)
    if key == "month":
        month = (
            func.to_char(DocumentRow.published, "YYYY-MM")
            if dialect == "postgresql"
            else func.strftime("%Y-%m", DocumentRow.published)
        )
        return func.coalesce(month, UNDATED)
    raise StoreError(f"cannot group by {key!r}")


def _document_filter(filters: Filters):
    clauses: list[ColumnElement[bool]] = []
    if filters.sources:
        clauses.append(DocumentRow.source.in_(filters.sources))
    if filters.since is not None:
        clauses.append(DocumentRow.published >= filters.since)
    if filters.until is not None:
        clauses.append(DocumentRow.published <= filters.until)
    return and_(True, *clauses)


def _span_filter(filters: Filters):
    clauses: list[ColumnElement[bool]] = []
    if filters.techniques:
        clauses.append(SpanRow.technique.in_(filters.techniques))
    if filters.min_score > 0:
        clauses.append(or_(SpanRow.score.is_(None), SpanRow.score >= filters.min_score))
    return and_(True, *clauses)
