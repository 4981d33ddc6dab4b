"""Reports: rates per 1,000 words by source, month and technique, filters, examples, CSV and charts."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from rich.console import Console

from propscan import Document, Span
from propscan.batch.report import ALL, build_report, density_figure, plot, print_report, write_csv
from propscan.batch.store import UNDATED, UNKNOWN_SOURCE, Filters, Store, StoreError, count_words
from propscan.cli import main
from propscan.sentences import article_score, score_sentences
from tests import pg_cluster
from tests.analyses import analysis_of

# Our own short texts; spans are placed by hand so every figure below can be worked out on paper.
DOCS = [
    (
        Document(
            "Traitors and cowards run this city. They always lie.", "c1", {"source": "Courier", "date": "2021-05-03"}
        ),
        [
            Span(0, 8, "Name_Calling,Labeling", 0.9),
            Span(13, 19, "Name_Calling,Labeling", 0.7),
            Span(35, 52, "Loaded_Language", 0.6),
        ],
    ),
    (
        Document(
            "The council met on Tuesday and approved the budget.", "c2", {"source": "Courier", "date": "2021-06-10"}
        ),
        [Span(36, 50, "Doubt", 0.2)],
    ),
    (
        Document(
            "A glorious victory for every true patriot in the land.", "h1", {"source": "Herald", "date": "2021-05-20"}
        ),
        [Span(2, 18, "Loaded_Language", 0.8), Span(29, 41, "Flag-Waving", 0.95)],
    ),
    (Document("Rain is expected on Sunday across the valley.", "u1", {}), []),
]


# A sentence map as a model carries one: its analyses' sentence scores are probabilities.
SENTENCE_MAP = {"has_span": 1.0, "best_logit": 0.5, "log_spans": 0.8, "intercept": -2.0}


def save_calibrated_run(store: Store, model: str = "accurate@test", by: str = "source") -> tuple[int, dict[str, float]]:
    """Store ``DOCS`` as a model with a sentence map analyzes them; return the run's id and each
    source's (or, ``by="month"``, each dated month's) expected share of sentences holding a technique,
    summed here in Python."""
    run = store.get_or_create_run(model, {"threshold": 0.0})
    scores: dict[str, list[float]] = {}
    for document, spans in DOCS:
        sentences = score_sentences(document, spans, SENTENCE_MAP)
        analysis = analysis_of(document, spans, article_score(sentences), sentence_map=SENTENCE_MAP)
        store.save_analysis(run.id, analysis)
        date, source = document.metadata.get("date"), document.metadata.get("source", UNKNOWN_SOURCE)
        group = (date[:7] if date else UNDATED) if by == "month" else source
        scores.setdefault(group, []).extend(s.score for s in sentences)
    return run.id, {source: sum(found) / len(found) for source, found in scores.items()}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else pg_cluster.fresh_database()
    with Store.open(url) as store:
        run = store.get_or_create_run("fast@test", {"threshold": 0.0})
        for document, spans in DOCS:
            store.save_analysis(run.id, analysis_of(document, spans, 0.5))
        yield store


def words(*ids):
    return sum(count_words(d.text) for d, _ in DOCS if d.id in ids)


def rows_of(report):
    return {(r.group, r.technique): r for r in report.rows}


def test_rates_by_source(store):
    rows = rows_of(build_report(store, by="source"))
    courier = rows[("Courier", ALL)]
    assert (courier.documents, courier.words, courier.spans, courier.documents_with) == (2, words("c1", "c2"), 4, 2)
    assert courier.rate == pytest.approx(1000 * 4 / words("c1", "c2"))
    assert rows[("Courier", "Name_Calling,Labeling")].spans == 2
    assert rows[("Courier", "Name_Calling,Labeling")].documents_with == 1
    assert rows[("Herald", "Flag-Waving")].rate == pytest.approx(1000 / words("h1"))
    unknown = rows[(UNKNOWN_SOURCE, ALL)]
    assert (unknown.documents, unknown.spans, unknown.rate) == (1, 0, 0.0)  # words count even without spans


def test_rates_by_month(store):
    rows = rows_of(build_report(store, by="month"))
    may = rows[("2021-05", ALL)]
    assert (may.documents, may.words, may.spans) == (2, words("c1", "h1"), 5)
    assert rows[("2021-06", "Doubt")].spans == 1
    assert rows[(UNDATED, ALL)].documents == 1


def test_rates_by_technique(store):
    report = build_report(store, by="technique")
    rows = {r.technique: r for r in report.rows}
    total = words("c1", "c2", "h1", "u1")
    assert rows["Loaded_Language"].spans == 2 and rows["Loaded_Language"].documents_with == 2
    assert rows["Loaded_Language"].rate == pytest.approx(2000 / total)
    assert report.rows[0].technique in ("Name_Calling,Labeling", "Loaded_Language")  # most frequent first


def test_each_group_gets_the_expected_share_of_its_sentences_that_hold_a_technique(store, tmp_path):
    uncalibrated = store.get_run().id
    run_id, expected = save_calibrated_run(store)
    report = build_report(store, by="source", run_id=run_id)
    rows = rows_of(report)
    for source, share in expected.items():
        assert rows[(source, ALL)].sentence_share == pytest.approx(share)
    assert 0 < min(expected.values()) < max(expected.values()) < 1
    assert all(r.sentence_share is None for r in report.rows if r.technique != ALL)
    # Spans filtered by technique or score: the stored sentence scores know nothing of it.
    for filters in (Filters(techniques=("Doubt",)), Filters(min_score=0.5)):
        assert all(r.sentence_share is None for r in build_report(store, run_id=run_id, filters=filters).rows)
    # A model without a sentence map: its scores are rankings, no share.
    assert all(r.sentence_share is None for r in build_report(store, run_id=uncalibrated).rows)

    out = io.StringIO()
    print_report(report, Console(file=out, width=250))
    assert "sentences with a technique" in out.getvalue() and f"{expected['Courier']:.0%}" in out.getvalue()
    print_report(build_report(store, run_id=uncalibrated), Console(file=(plain := io.StringIO()), width=250))
    assert "sentences with a technique" not in plain.getvalue()
    rates, _ = write_csv(report, tmp_path / "csv")
    with rates.open(encoding="utf-8") as handle:
        shares = {(r["source"], r["technique"]): r["sentence_share"] for r in csv.DictReader(handle)}
    assert shares[("Courier", ALL)] == f"{expected['Courier']:.4f}" and shares[("Courier", "Doubt")] == ""


def test_filters(store):
    only_may_courier = build_report(
        store, by="source", filters=Filters(sources=("Courier",), since=dt.date(2021, 5, 1), until=dt.date(2021, 5, 31))
    )
    assert {r.group for r in only_may_courier.rows} == {"Courier"}
    assert rows_of(only_may_courier)[("Courier", ALL)].documents == 1
    flags = build_report(store, by="source", filters=Filters(techniques=("Flag-Waving",)))
    assert rows_of(flags)[("Herald", ALL)].spans == 1 and rows_of(flags)[("Courier", ALL)].spans == 0
    confident = build_report(store, by="technique", filters=Filters(min_score=0.75))
    assert {r.technique: r.spans for r in confident.rows} == {
        "Name_Calling,Labeling": 1,
        "Loaded_Language": 1,
        "Flag-Waving": 1,
    }


def test_top_examples_are_the_highest_scoring_with_their_text(store):
    examples = store.top_spans(store.get_run().id, Filters(), per_technique=1)
    by_technique = {e.technique: e for e in examples}
    assert len(examples) == len(by_technique) == 4
    assert by_technique["Loaded_Language"].text == "glorious victory"
    assert by_technique["Loaded_Language"].document_id == "h1" and by_technique["Loaded_Language"].source == "Herald"
    assert by_technique["Name_Calling,Labeling"].text == "Traitors"
    assert by_technique["Flag-Waving"].published == dt.date(2021, 5, 20)


def test_csv_and_plots(store, tmp_path):
    report = build_report(store, by="source")
    rates, examples = write_csv(report, tmp_path / "csv")
    with rates.open() as handle:
        table = list(csv.DictReader(handle))
    herald = next(r for r in table if r["source"] == "Herald" and r["technique"] == ALL)
    assert int(herald["spans"]) == 2 and float(herald["rate_per_1000_words"]) == pytest.approx(
        2000 / words("h1"), abs=1e-3
    )
    with examples.open() as handle:
        assert {r["document_id"] for r in csv.DictReader(handle)} == {"c1", "c2", "h1"}
    charts = plot(store, tmp_path / "plots")
    assert [c.name for c in charts] == ["technique_mix_by_source.png", "density_by_month.png"]
    for chart in charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5000


def test_unknown_grouping(store):
    with pytest.raises(StoreError, match="cannot report by"):
        build_report(store, by="weekday")


def test_report_command(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with Store.open(url) as store:
        run = store.get_or_create_run("fast@test", {})
        for document, spans in DOCS:
            store.save_analysis(run.id, analysis_of(document, spans, 0.5))
    assert (
        main(
            ["report", "--db", url, "--by", "month", "--csv", str(tmp_path / "out"), "--plot", str(tmp_path / "plots")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2021-05" in out and "Top examples" in out
    assert (tmp_path / "out" / "rates_by_month.csv").exists() and (tmp_path / "plots" / "density_by_month.png").exists()
    assert main(["report", "--db", url, "--run", "42"]) == 1
    assert "no run 42" in capsys.readouterr().err


def test_undated_documents_are_counted_not_dropped_silently(store):
    from rich.console import Console

    assert build_report(store, by="source").undated == 1  # u1 has no date
    dated = build_report(store, by="source", filters=Filters(since=dt.date(2021, 1, 1)))
    assert dated.undated == 1 and UNKNOWN_SOURCE not in {r.group for r in dated.rows}
    console = Console(record=True, width=200)
    print_report(dated, console)
    assert (
        "1 document without a publication date: left out of the chart over time and of --since/--until"
        in console.export_text()
    )
    assert build_report(store, by="source", filters=Filters(sources=("Courier",))).undated == 0
    chart = density_figure(store, store.get_run().id, Filters(), ["Courier"])
    assert "1 document without a publication date left out" in chart.axes[0].get_title()


def test_the_chart_over_time_draws_each_months_share_of_sentences_below_its_rate(store):
    uncalibrated = store.get_run().id
    run_id, expected = save_calibrated_run(store, by="month")
    rates, shares = density_figure(store, run_id, Filters(), ["Courier"]).axes
    overall = {line.get_label(): line for line in shares.get_lines()}["all outlets"]
    months = {month: share for month, share in expected.items() if month != UNDATED}
    assert list(overall.get_xdata()) == sorted(months)
    assert list(overall.get_ydata()) == pytest.approx([months[m] for m in sorted(months)])
    assert 0 < min(months.values()) < max(months.values()) < 1
    assert [line.get_label() for line in rates.get_lines()] == ["all outlets", "Courier"]
    # Rankings, not probabilities (a model without a sentence map), or spans filtered: no share to draw.
    assert len(density_figure(store, uncalibrated, Filters(), ["Courier"]).axes) == 1
    assert len(density_figure(store, run_id, Filters(min_score=0.5), ["Courier"]).axes) == 1


def test_report_technique_filter_takes_names_and_refuses_unknown_ones(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'names.db'}"
    with Store.open(url) as store:
        run = store.get_or_create_run("fast@test", {})
        for document, spans in DOCS:
            store.save_analysis(run.id, analysis_of(document, spans, 0.5))
    assert main(["report", "--db", url, "--by", "technique", "--technique", "flag waving"]) == 0
    out = capsys.readouterr().out
    assert "Flag-waving" in out and "Loaded language" not in out
    assert main(["report", "--db", url, "--technique", "Nope"]) == 1
    err = capsys.readouterr().err
    assert "unknown technique 'Nope'" in err and "Flag-waving (Flag-Waving)" in err


def test_report_shows_control_characters_and_brackets_as_text(tmp_path, capsys):
    """A source name or span text with terminal escapes is shown, not obeyed (D9)."""
    import io

    from rich.console import Console

    from propscan.batch.report import print_report

    url = f"sqlite:///{tmp_path / 'esc.db'}"
    text = "Traitors\x1b[2J\x1b[31m [/] rule this city."
    with Store.open(url) as store:
        run = store.get_or_create_run("fast@test", {})
        document = Document(text, "e1", {"source": "Courier\x1b]0;owned\x07"})
        store.save_analysis(run.id, analysis_of(document, [Span(0, 24, "Loaded_Language", 0.9)], 0.5))
        out = io.StringIO()
        print_report(build_report(store), Console(file=out, force_terminal=True, width=400))
    printed = out.getvalue()
    assert "\x1b[2J" not in printed and "\x1b]0;" not in printed and "\x07" not in printed
    assert "Courier\\x1b]0;owned\\x07" in printed and "\\x1b[2J" in printed and "[/]" in printed


def test_a_cascades_examples_name_the_model_of_each_span(tmp_path):
    from dataclasses import replace

    from rich.console import Console

    url = f"sqlite:///{tmp_path / 'cascade.db'}"
    with Store.open(url) as store:
        run = store.get_or_create_run("fast@1>accurate@1", {"flag_threshold": 0.3})
        for document, spans in DOCS:
            named = [replace(s, model="accurate@1" if s.score and s.score >= 0.7 else "fast@1") for s in spans]
            store.save_analysis(run.id, analysis_of(document, named, 0.5))
        report = build_report(store, by="technique", examples=1)
        rows = write_csv(report, tmp_path / "csv")[1].read_text(encoding="utf-8").splitlines()
    assert {(e.technique, e.model) for e in report.examples} == {
        ("Name_Calling,Labeling", "accurate@1"),
        ("Loaded_Language", "accurate@1"),
        ("Flag-Waving", "accurate@1"),
        ("Doubt", "fast@1"),
    }
    assert rows[0].endswith(",model") and rows[1].endswith(",fast@1")  # Doubt comes first
    console = Console(record=True, width=200)
    print_report(report, console)
    examples = console.export_text().split("Top examples", 1)[1]
    assert "model" in examples and "fast@1" in examples and "accurate@1" in examples
