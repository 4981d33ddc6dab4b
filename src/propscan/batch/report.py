"""Corpus reports: technique rates per 1,000 words by outlet, month or technique, with top examples.

A rate is spans found divided by words analyzed, times 1,000: unlike counts per article it does
not reward outlets that publish long pieces. Aggregation runs in SQL (indexed on run, technique,
source and date) so a report over a large corpus reads sums, not texts. Tables print with rich,
CSV goes to files, and ``plot`` draws PNG charts with matplotlib (no display needed).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, and_, distinct, func, or_, select

from propscan.batch.store import Run, Store, StoreError
from propscan.batch.store.tables import AnalysisRow, DocumentRow, SpanRow
from propscan.techniques import TECHNIQUES

GROUPINGS = ("source", "month", "technique")
ALL = "(all techniques)"
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


@dataclass(frozen=True)
class RateRow:
    """Spans of a technique (or all) in a group of documents, and the rate per 1,000 words."""

    group: str
    technique: str
    documents: int
    words: int
    spans: int
    documents_with: int

    @property
    def rate(self) -> float:
        return 1000.0 * self.spans / self.words if self.words else 0.0


@dataclass(frozen=True)
class Example:
    """A high-scoring span, with enough context to read it and a document id to open it."""

    technique: str
    score: float | None
    document_id: str
    start: int
    end: int
    text: str
    source: str | None
    title: str | None
    published: dt.date | None


@dataclass(frozen=True)
class Report:
    run: Run
    by: str
    filters: Filters
    rows: list[RateRow]
    examples: list[Example] = field(default_factory=list)


@dataclass
class GroupTotals:
    """What a group of documents holds: its size, and its spans per technique."""

    documents: int
    words: int
    with_any: int = 0
    spans: dict[str, int] = field(default_factory=dict)
    with_technique: dict[str, int] = field(default_factory=dict)


def build_report(
    store: Store, *, by: str = "source", run_id: int | None = None, filters: Filters = Filters(), examples: int = 3
) -> Report:
    """Rates grouped ``by`` source, month or technique, with ``examples`` top spans per technique.

    For ``source`` and ``month`` each group gets an "all techniques" row, then one row per
    technique found; for ``technique`` the rows are the techniques over the whole selection.

    Raises:
        StoreError: for an unknown grouping or run.
    """
    if by not in GROUPINGS:
        raise StoreError(f"cannot report by {by!r}; choose one of {', '.join(GROUPINGS)}")
    run = store.get_run(run_id)
    table = aggregate(store, run.id, () if by == "technique" else (by,), filters)
    rows = []
    for key, totals in sorted(table.items()):
        group = key[0] if key else ALL
        if by != "technique":
            rows.append(
                RateRow(group, ALL, totals.documents, totals.words, sum(totals.spans.values()), totals.with_any)
            )
        for technique, spans in sorted(totals.spans.items(), key=lambda item: (-item[1], item[0])):
            rows.append(
                RateRow(
                    technique if by == "technique" else group,
                    technique,
                    totals.documents,
                    totals.words,
                    spans,
                    totals.with_technique[technique],
                )
            )
    return Report(run, by, filters, rows, top_examples(store, run.id, filters, examples) if examples else [])


def aggregate(store: Store, run_id: int, keys: Sequence[str], filters: Filters) -> dict[tuple[str, ...], GroupTotals]:
    """Totals per group, a group being a tuple of ``source``/``month`` values (``()`` for everything)."""
    dialect = store.engine.dialect.name
    groups = [_group_expression(key, dialect).label(key) for key in keys]
    documents_where = _document_filter(filters)
    spans_where = and_(SpanRow.run_id == run_id, documents_where, _span_filter(filters))
    out: dict[tuple[str, ...], GroupTotals] = {}
    with store.sessions() as session:
        for row in session.execute(
            select(*groups, func.count(), func.coalesce(func.sum(DocumentRow.words), 0))
            .select_from(AnalysisRow)
            .join(DocumentRow, DocumentRow.id == AnalysisRow.document_id)
            .where(AnalysisRow.run_id == run_id, documents_where)
            .group_by(*groups)
        ):
            out[tuple(row[: len(keys)])] = GroupTotals(int(row[-2]), int(row[-1]))
        spans_from = (
            select(*groups)
            .select_from(SpanRow)
            .join(DocumentRow, DocumentRow.id == SpanRow.document_id)
            .where(spans_where)
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


def top_examples(store: Store, run_id: int, filters: Filters, per_technique: int = 3) -> list[Example]:
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
            rank,
        )
        .join(DocumentRow, DocumentRow.id == SpanRow.document_id)
        .where(SpanRow.run_id == run_id, _document_filter(filters), _span_filter(filters))
        .subquery()
    )
    query = select(ranked).where(ranked.c.rank <= per_technique).order_by(ranked.c.technique, ranked.c.rank)
    with store.sessions() as session:
        return [
            Example(r.technique, r.score, r.document_id, r.start, r.end, r.text, r.source, r.title, r.published)
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


# ------------------------------------------------------------------------------------ output
def write_csv(report: Report, folder: str | Path) -> list[Path]:
    """Write ``rates_by_<by>.csv`` (long format: one row per group and technique) and ``examples.csv``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rates = folder / f"rates_by_{report.by}.csv"
    with rates.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [report.by, "technique", "documents", "words", "spans", "documents_with", "rate_per_1000_words"]
        )
        for row in report.rows:
            writer.writerow(
                [row.group, row.technique, row.documents, row.words, row.spans, row.documents_with, f"{row.rate:.4f}"]
            )
    examples = folder / "examples.csv"
    with examples.open("w", newline="", encoding="utf-8") as out:
        by_field = csv.DictWriter(out, fieldnames=[f.name for f in Example.__dataclass_fields__.values()])
        by_field.writeheader()
        for example in report.examples:
            by_field.writerow(asdict(example))
    return [rates, examples]


def print_report(report: Report, console: Any = None, *, top: int = 3) -> None:
    """Print the rates table (a group per line with its top techniques) and the examples."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    run = report.run
    console.print(f"run {run.id}: {run.model}, options {dict(run.options)}")
    table = Table(title=f"Technique rates per 1,000 words, by {report.by}")
    if report.by == "technique":
        for column in ("technique", "spans", "documents with it", "per 1,000 words"):
            table.add_column(column, justify="left" if column == "technique" else "right")
        for row in report.rows:
            table.add_row(
                _name(row.technique), str(row.spans), f"{row.documents_with}/{row.documents}", f"{row.rate:.2f}"
            )
    else:
        for column in (report.by, "documents", "words", "spans", "per 1,000 words", "top techniques (per 1,000 words)"):
            table.add_column(
                column, justify="left" if column in (report.by, "top techniques (per 1,000 words)") else "right"
            )
        by_group: dict[str, list[RateRow]] = defaultdict(list)
        for row in report.rows:
            by_group[row.group].append(row)
        for group, rows in by_group.items():
            total = next(r for r in rows if r.technique == ALL)
            leaders = ", ".join([f"{_name(r.technique)} {r.rate:.2f}" for r in rows if r.technique != ALL][:top])
            table.add_row(
                group, str(total.documents), f"{total.words:,}", str(total.spans), f"{total.rate:.2f}", leaders
            )
    console.print(table)
    if report.examples:
        examples = Table(title="Top examples per technique")
        for column in ("technique", "score", "document", "source", "text"):
            examples.add_column(column, overflow="fold")
        for example in report.examples:
            score = "" if example.score is None else f"{example.score:.2f}"
            examples.add_row(
                _name(example.technique), score, example.document_id, example.source or "", _clip(example.text)
            )
        console.print(examples)


def _name(label: str) -> str:
    technique = TECHNIQUES.get(label)
    return technique.name if technique else label


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------ charts
def plot(
    store: Store, folder: str | Path, *, run_id: int | None = None, filters: Filters = Filters(), outlets: int = 15
) -> list[Path]:
    """Write ``technique_mix_by_source.png`` and ``density_by_month.png`` into ``folder``.

    The mix chart stacks each outlet's rate per technique (the ``outlets`` largest by words);
    the density chart draws the rate of all techniques per month, overall and for the five
    largest outlets.

    Raises:
        StoreError: if matplotlib is missing or the run does not exist.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise StoreError("--plot needs matplotlib: pip install propscan[batch]") from None
    run = store.get_run(run_id)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    by_source = aggregate(store, run.id, ("source",), filters)
    largest = sorted(by_source, key=lambda key: -by_source[key].words)[:outlets]
    techniques = sorted(
        {t for key in largest for t in by_source[key].spans},
        key=lambda t: -sum(by_source[k].spans.get(t, 0) for k in largest),
    )

    figure = Figure(figsize=(10, 0.5 * len(largest) + 2.5), layout="constrained")
    axes = figure.add_subplot()
    names = [key[0] for key in largest][::-1]
    left = [0.0] * len(names)
    for technique in techniques:
        rates = [_rate(by_source[(name,)].spans.get(technique, 0), by_source[(name,)].words) for name in names]
        color = TECHNIQUES[technique].color if technique in TECHNIQUES else None
        axes.barh(names, rates, left=left, color=color, edgecolor="white", linewidth=0.5, label=_name(technique))
        left = [a + b for a, b in zip(left, rates, strict=True)]
    axes.set_xlabel("spans per 1,000 words")
    axes.set_title(f"Technique mix per outlet (run {run.id}, {run.model})")
    if techniques:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    mix = folder / "technique_mix_by_source.png"
    figure.savefig(mix, dpi=120)

    by_month = aggregate(store, run.id, ("month",), filters)
    by_month_source = aggregate(store, run.id, ("month", "source"), filters)
    months = sorted(key[0] for key in by_month if key[0] != UNDATED)
    figure = Figure(figsize=(10, 5), layout="constrained")
    axes = figure.add_subplot()
    overall = [_rate(sum(by_month[(m,)].spans.values()), by_month[(m,)].words) for m in months]
    axes.plot(months, overall, marker="o", linewidth=2.5, color="black", label="all outlets")
    for (name,) in largest[:5]:
        points = [(m, by_month_source.get((m, name))) for m in months]
        xs = [m for m, totals in points if totals]
        ys = [_rate(sum(totals.spans.values()), totals.words) for _, totals in points if totals]
        if xs:
            axes.plot(xs, ys, marker=".", linewidth=1, label=name)
    axes.set_ylabel("spans per 1,000 words")
    axes.set_ylim(bottom=0)
    axes.set_xlabel("month of publication")
    axes.set_title("Propaganda density over time")
    axes.tick_params(axis="x", labelrotation=45)
    if months:
        axes.legend(fontsize="small")
    else:
        axes.text(0.5, 0.5, "no dated documents", ha="center", va="center", transform=axes.transAxes)
    density = folder / "density_by_month.png"
    figure.savefig(density, dpi=120)
    return [mix, density]


def _rate(spans: int, words: int) -> float:
    return 1000.0 * spans / words if words else 0.0
