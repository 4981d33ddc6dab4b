"""Corpus reports: technique rates per 1,000 words by outlet, month or technique, with top examples.

A rate is spans found divided by words analyzed, times 1,000: unlike counts per article it does
not reward outlets that publish long pieces. Beside it, where the model's sentence scores are
probabilities, each group's expected share of sentences that hold a technique. The store
aggregates in SQL and hands back totals; this module turns them into rates and shares. Tables
print with rich, CSV goes to files, and ``plot`` draws PNG charts with matplotlib (no display needed).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from propscan.batch.store import EVERYTHING, UNDATED, Example, Filters, GroupTotals, Run, Store, StoreError
from propscan.document import visible
from propscan.techniques import TECHNIQUES

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GROUPINGS = ("source", "month", "technique")
ALL = "(all techniques)"
SHARE_COLUMN = "sentences with a technique"


def rate_per_1000(spans: int, words: int) -> float:
    """Spans per 1,000 words: the one rate the tables, CSV, charts and the corpus API show."""
    return 1000.0 * spans / words if words else 0.0


@dataclass(frozen=True)
class RateRow:
    """Spans of a technique (or all) in a group of documents, and the rate per 1,000 words."""

    group: str
    technique: str
    documents: int
    words: int
    spans: int
    documents_with: int
    # On an all-techniques row: the expected share of the group's sentences that hold a technique,
    # from calibrated sentence scores (``sentence_share``); None where there are none to go by.
    sentence_share: float | None = None

    @property
    def rate(self) -> float:
        return rate_per_1000(self.spans, self.words)


def sentence_share(totals: GroupTotals, filters: Filters) -> float | None:
    """The expected share of a group's sentences that hold a technique: the sum of their calibrated
    scores over their number. None when no document of the group has such scores (a model without a
    sentence map), or when spans are filtered by technique or score, which the scores do not know of."""
    if not totals.sentences or filters.techniques or filters.min_score:
        return None
    return totals.marked_sentences / totals.sentences


@dataclass(frozen=True)
class Report:
    """Rate rows and examples; ``undated`` counts the selected documents without a publication date."""

    run: Run
    by: str
    filters: Filters
    rows: list[RateRow]
    examples: list[Example] = field(default_factory=list)
    undated: int = 0


def build_report(
    store: Store, *, by: str = "source", run_id: int | None = None, filters: Filters = EVERYTHING, examples: int = 3
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
    table = store.group_totals(run.id, () if by == "technique" else (by,), filters)
    rows = []
    for key, totals in sorted(table.items()):
        group = key[0] if key else ALL
        if by != "technique":
            rows.append(
                RateRow(
                    group,
                    ALL,
                    totals.documents,
                    totals.words,
                    sum(totals.spans.values()),
                    totals.with_any,
                    sentence_share(totals, filters),
                )
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
    found = store.top_spans(run.id, filters, examples) if examples else []
    return Report(run, by, filters, rows, found, undated_documents(store, run.id, filters))


def undated_documents(store: Store, run_id: int, filters: Filters) -> int:
    """Documents of the selection (dates aside) with no publication date: what date filters and the
    over-time chart leave out, so that reports can say so instead of dropping them silently."""
    undated = store.group_totals(run_id, ("month",), replace(filters, since=None, until=None)).get((UNDATED,))
    return undated.documents if undated else 0


# ------------------------------------------------------------------------------------ output
def write_csv(report: Report, folder: str | Path) -> list[Path]:
    """Write ``rates_by_<by>.csv`` (long format: one row per group and technique) and ``examples.csv``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rates = folder / f"rates_by_{report.by}.csv"
    with rates.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                report.by,
                "technique",
                "documents",
                "words",
                "spans",
                "documents_with",
                "rate_per_1000_words",
                "sentence_share",
            ]
        )
        for row in report.rows:
            share = "" if row.sentence_share is None else f"{row.sentence_share:.4f}"
            writer.writerow(
                [
                    row.group,
                    row.technique,
                    row.documents,
                    row.words,
                    row.spans,
                    row.documents_with,
                    f"{row.rate:.4f}",
                    share,
                ]
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
    from rich.text import Text

    console = console or Console()
    run = report.run
    console.print(Text(visible(f"run {run.id}: {run.model}, options {dict(run.options)}")))
    table = Table(title=f"Technique rates per 1,000 words, by {report.by}")
    if report.by == "technique":
        for column in ("technique", "spans", "documents with it", "per 1,000 words"):
            table.add_column(column, justify="left" if column == "technique" else "right")
        for row in report.rows:
            table.add_row(
                _shown(_name(row.technique)), str(row.spans), f"{row.documents_with}/{row.documents}", f"{row.rate:.2f}"
            )
    else:
        shares = any(row.sentence_share is not None for row in report.rows)
        columns = [report.by, "documents", "words", "spans", "per 1,000 words"]
        columns += ([SHARE_COLUMN] if shares else []) + ["top techniques (per 1,000 words)"]
        for column in columns:
            table.add_column(
                column, justify="left" if column in (report.by, "top techniques (per 1,000 words)") else "right"
            )
        by_group: dict[str, list[RateRow]] = defaultdict(list)
        for row in report.rows:
            by_group[row.group].append(row)
        for group, rows in by_group.items():
            total = next(r for r in rows if r.technique == ALL)
            leaders = ", ".join([f"{_name(r.technique)} {r.rate:.2f}" for r in rows if r.technique != ALL][:top])
            share = "" if total.sentence_share is None else f"{total.sentence_share:.0%}"
            table.add_row(
                _shown(group),
                str(total.documents),
                f"{total.words:,}",
                str(total.spans),
                f"{total.rate:.2f}",
                *([share] if shares else []),
                _shown(leaders),
            )
    console.print(table)
    if report.examples:
        examples = Table(title="Top examples per technique")
        by_model = any(example.model for example in report.examples)  # a cascade: say which model found each
        for column in ("technique", "score", "document", "source", *(("model",) if by_model else ()), "text"):
            examples.add_column(column, overflow="fold")
        for example in report.examples:
            score = "" if example.score is None else f"{example.score:.2f}"
            examples.add_row(
                _shown(_name(example.technique)),
                score,
                _shown(example.document_id),
                _shown(example.source or ""),
                *((_shown(example.model or run.model),) if by_model else ()),
                _shown(_clip(example.text)),
            )
        console.print(examples)
    if report.undated:
        console.print(
            f"{_documents(report.undated)} without a publication date: left out of the chart over time"
            + (" and of --since/--until" if report.filters.since or report.filters.until else "")
            + ("" if report.by != "month" else f", counted under {UNDATED}")
        )


def _documents(count: int) -> str:
    return f"{count:,} document{'s' if count != 1 else ''}"


def _shown(value: str):
    """A table cell printed as the text it is: control characters escaped, brackets not read as rich markup."""
    from rich.text import Text

    return Text(visible(value))


def _name(label: str) -> str:
    technique = TECHNIQUES.get(label)
    return technique.name if technique else label


def _clip(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------ charts
def plot(
    store: Store, folder: str | Path, *, run_id: int | None = None, filters: Filters = EVERYTHING, outlets: int = 15
) -> list[Path]:
    """Write ``technique_mix_by_source.png`` and ``density_by_month.png`` into ``folder``.

    The mix chart stacks each outlet's rate per technique (the ``outlets`` largest by words);
    the density chart draws the rate of all techniques per month, overall and for the five
    largest outlets (with, below it, their expected share of sentences holding a technique where the
    run has one), and says in its title how many undated documents it leaves out.

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
    by_source = store.group_totals(run.id, ("source",), filters)
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
        rates = [rate_per_1000(by_source[(name,)].spans.get(technique, 0), by_source[(name,)].words) for name in names]
        color = TECHNIQUES[technique].color if technique in TECHNIQUES else None
        axes.barh(names, rates, left=left, color=color, edgecolor="white", linewidth=0.5, label=_name(technique))
        left = [a + b for a, b in zip(left, rates, strict=True)]
    axes.set_xlabel("spans per 1,000 words")
    axes.set_title(f"Technique mix per outlet (run {run.id}, {run.model})")
    if techniques:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    mix = folder / "technique_mix_by_source.png"
    figure.savefig(mix, dpi=120)

    density = folder / "density_by_month.png"
    density_figure(store, run.id, filters, [key[0] for key in largest[:5]]).savefig(density, dpi=120)
    return [mix, density]


def density_figure(store: Store, run_id: int, filters: Filters, outlets: Sequence[str]) -> Figure:
    """The rate of all techniques per month, overall and for ``outlets``; below it, where the run's
    sentence scores are probabilities, the expected share of sentences holding a technique per month
    (``sentence_share``). Its title counts the undated documents left out."""
    from matplotlib.figure import Figure

    by_month = store.group_totals(run_id, ("month",), filters)
    by_month_source = store.group_totals(run_id, ("month", "source"), filters)
    months = sorted(key[0] for key in by_month if key[0] != UNDATED)
    shares = any(sentence_share(by_month[(m,)], filters) is not None for m in months)
    figure = Figure(figsize=(10, 8 if shares else 5), layout="constrained")
    rates = figure.add_subplot(2 if shares else 1, 1, 1)

    def lines(axes, value) -> None:
        """One line per month series: all outlets in bold, then each outlet where it has a value."""
        for name in (None, *outlets):
            points = [(m, by_month[(m,)] if name is None else by_month_source.get((m, name))) for m in months]
            found = [(m, y) for m, totals in points if totals and (y := value(totals)) is not None]
            if found:
                style = (
                    {"marker": "o", "linewidth": 2.5, "color": "black"}
                    if name is None
                    else {"marker": ".", "linewidth": 1}
                )
                axes.plot(*zip(*found, strict=True), label=name or "all outlets", **style)

    lines(rates, lambda totals: rate_per_1000(sum(totals.spans.values()), totals.words))
    rates.set_ylabel("spans per 1,000 words")
    rates.set_ylim(bottom=0)
    undated = undated_documents(store, run_id, filters)
    note = f"\n{_documents(undated)} without a publication date left out" if undated else ""
    rates.set_title(f"Propaganda density over time{note}")
    if shares:
        share = figure.add_subplot(2, 1, 2, sharex=rates)
        lines(share, lambda totals: sentence_share(totals, filters))
        share.set_ylabel("sentences with a technique (expected share)")
        share.set_ylim(0, 1)
        share.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        rates.tick_params(axis="x", labelbottom=False)
    (axes := figure.axes[-1]).set_xlabel("month of publication")
    axes.tick_params(axis="x", labelrotation=45)
    if months:
        rates.legend(fontsize="small")
    else:
        rates.text(0.5, 0.5, "no dated documents", ha="center", va="center", transform=rates.transAxes)
    return figure
