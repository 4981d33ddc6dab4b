"""The cascade: which sentences are flagged, exact offsets back from the excerpt, and a batch run of two models.

Stub analyzers stand in for the models in the quick tests: the screener marks words it is told,
the confirmer marks the words it is told wherever it reads them, and records what it read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from propscan import Document, Span
from propscan.cascade import (
    FLAG_THRESHOLD,
    SEPARATOR,
    TRIAGE_FLAG_THRESHOLD,
    Cascade,
    Excerpt,
    default_flag_threshold,
    flagged_sentences,
    passages,
)
from propscan.cli import main
from propscan.document import Sentence, split_sentences
from propscan.errors import PropscanError
from propscan.pipeline import build_analysis
from propscan.techniques import get_inventory
from tests.shipped import MODEL, needs_model

BATCH = Path(__file__).parent / "data" / "batch"

ARTICLE = (
    "Port strike enters its second week\n"
    "\n"
    "Dockers walked out on Monday. The union called the offer an insult to every worker.\n"
    "Managers said talks would resume. Shipping lines are rerouting to Rotterdam.\n"
    "\n"
    "“Traitors,” shouted a crowd at the gate ✊🏽. Police watched. The café stayed open.\n"
    "A spokesman said nothing else."
)


class Marker:
    """An analyzer-like stub: a span on every occurrence of each word it is given, with that word's score."""

    def __init__(self, name: str, words: dict[str, float]) -> None:
        self.name = name
        self.words = words
        self.threshold = 0.0
        self.sentence_map: dict[str, float] = {}  # a sentence scores its best span's score
        self.read: list[str] = []

    @property
    def inventory(self):
        return get_inventory("semeval2020")

    @property
    def techniques(self):
        return self.inventory.techniques()

    def predict(self, documents: Sequence[str | Document], *, threshold=None, techniques=None, progress=None):
        batch = [d if isinstance(d, Document) else Document(d) for d in documents]
        self.read.extend(d.text for d in batch)
        analyses = []
        for document in batch:
            if "FAIL" in document.text:
                raise ValueError("this document breaks the model")
            spans = [
                Span(m.start(), m.end(), "Loaded_Language", score)
                for word, score in self.words.items()
                for m in re.finditer(re.escape(word), document.text)
            ]
            analyses.append(build_analysis(document, spans, threshold or 0.0, None, self.name))
        if progress is not None:
            chars = sum(len(d.text) for d in batch)
            progress(chars // 2, chars)
            progress(chars, chars)
        return analyses


def sentence_of(text: str, needle: str) -> int:
    at = text.index(needle)
    return next(k for k, s in enumerate(split_sentences(text)) if s.start <= at < s.end)


# ------------------------------------------------------------------------------- flagging
def test_a_sentence_is_flagged_by_a_span_touching_it_at_the_threshold():
    sentences = split_sentences(ARTICLE)
    insult = ARTICLE.index("insult")
    spans = [
        Span(insult, insult + 6, "Loaded_Language", 0.4),
        Span(ARTICLE.index("Police"), ARTICLE.index("Police") + 6, "Doubt", 0.39),
        # Across a line break: touches both sentences.
        Span(ARTICLE.index("resume."), ARTICLE.index("Shipping") + 8, "Doubt", None),
    ]
    assert flagged_sentences(sentences, spans, 0.4) == {
        sentence_of(ARTICLE, "insult"),
        sentence_of(ARTICLE, "resume"),
        sentence_of(ARTICLE, "Shipping"),
    }
    assert flagged_sentences(sentences, spans, 0.41) == {sentence_of(ARTICLE, "resume"), sentence_of(ARTICLE, "Ship")}
    assert flagged_sentences(sentences, [], 0.0) == set()


def test_passages_widen_flagged_sentences_by_the_context_and_merge_runs():
    sentences = [
        Sentence(0, 5),
        Sentence(6, 10),
        Sentence(12, 20),
        Sentence(21, 30),
        Sentence(31, 40),
        Sentence(41, 50),
    ]
    assert passages(sentences, {2}, 0) == [(12, 20)]
    assert passages(sentences, {2}, 1) == [(6, 30)]
    assert passages(sentences, {0, 5}, 1) == [(0, 10), (31, 50)]  # clipped at both ends
    assert passages(sentences, {1, 3}, 0) == [(6, 10), (21, 30)]
    assert passages(sentences, {1, 3}, 1) == [(0, 40)]  # the runs touch: one passage
    assert passages(sentences, set(), 3) == []


# ------------------------------------------------------------------------------- offsets
def test_every_span_of_an_excerpt_maps_to_the_same_characters_of_the_original():
    document = Document(ARTICLE)
    sentences = split_sentences(ARTICLE)
    chosen = passages(sentences, {sentence_of(ARTICLE, "insult"), sentence_of(ARTICLE, "Traitors")}, 0)
    excerpt = Excerpt.of(document, chosen)
    assert excerpt.document.text == SEPARATOR.join(ARTICLE[a:b] for a, b in chosen)
    inside = [
        (excerpt.starts[k] + i, excerpt.starts[k] + j)
        for k, (a, b) in enumerate(chosen)
        for i in range(b - a)
        for j in range(i + 1, b - a + 1)
    ]
    for start, end in inside:
        mapped = excerpt.to_original(Span(start, end, "Doubt", 0.5))
        assert mapped is not None
        assert ARTICLE[mapped.start : mapped.end] == excerpt.document.text[start:end]
    emoji = excerpt.document.text.index("✊🏽")
    mapped = excerpt.to_original(Span(emoji, emoji + 2, "Doubt"))
    assert mapped is not None and ARTICLE[mapped.start : mapped.end] == "✊🏽"


def test_a_span_overlaps_the_excerpt_when_it_shares_a_character_with_a_passage():
    excerpt = Excerpt.of(Document("One two.\nThree four.\nFive six."), [(0, 8), (21, 30)])
    overlapping = {(a, b) for a in range(30) for b in range(a + 1, 31) if excerpt.overlaps(Span(a, b, "Doubt"))}
    assert overlapping == {(a, b) for a in range(30) for b in range(a + 1, 31) if (a < 8) or (b > 21 and a < 30)}


def test_spans_over_a_separator_are_cut_at_a_passage_edge():
    document = Document("One two.\nThree four.\nFive six.")
    excerpt = Excerpt.of(document, [(0, 8), (21, 30)])
    assert excerpt.document.text == "One two.\n\nFive six."
    # Starts in the first passage, runs into the second: cut where the first ends.
    assert excerpt.to_original(Span(4, 14, "Doubt")) == Span(4, 8, "Doubt")
    # Starts in the separator: begins with the second passage.
    assert excerpt.to_original(Span(9, 14, "Doubt")) == Span(21, 25, "Doubt")
    # Only the separator: nothing.
    assert excerpt.to_original(Span(8, 10, "Doubt")) is None
    assert not Excerpt.of(document, [])


# ------------------------------------------------------------------------------- the cascade
def test_the_confirmer_reads_only_flagged_passages_and_its_spans_land_in_the_original():
    screener = Marker("screen@1", {"insult": 0.6, "Police": 0.1})
    confirmer = Marker("confirm@1", {"insult": 0.8, "offer": 0.7, "Traitors": 0.9, "walked": 0.5})
    cascade = Cascade(screener, confirmer, flag_threshold=0.5, context=0, keep_screened=False)
    (analysis,) = cascade.predict([Document(ARTICLE, "a1")])
    flagged = split_sentences(ARTICLE)[sentence_of(ARTICLE, "insult")]
    assert confirmer.read == [ARTICLE[flagged.start : flagged.end]]
    assert [(ARTICLE[s.start : s.end], s.score, s.model) for s in analysis.spans] == [
        ("offer", 0.7, "confirm@1"),
        ("insult", 0.8, "confirm@1"),
    ]
    assert analysis.model == "screen@1>confirm@1" and analysis.document.id == "a1"
    assert [s.score for s in analysis.sentences if s.score] == [0.8]
    assert analysis.to_dict()["spans"][0]["model"] == "confirm@1"
    # By default the screener's spans outside the passages stay, naming the screener; inside, the confirmer's replace them.
    (kept,) = cascade.predict([Document(ARTICLE, "a1")], keep_screened=True)
    assert [(ARTICLE[s.start : s.end], s.score, s.model) for s in kept.spans] == [
        ("offer", 0.7, "confirm@1"),
        ("insult", 0.8, "confirm@1"),
        ("Police", 0.1, "screen@1"),
    ]
    assert Cascade(screener, confirmer, flag_threshold=0.5, context=0).analyze(ARTICLE).spans == kept.spans

    # One sentence of context: the neighbours are read too, and "walked" is found there.
    wider = Cascade(screener, confirmer, flag_threshold=0.5, context=1, keep_screened=False).analyze(ARTICLE)
    assert [ARTICLE[s.start : s.end] for s in wider.spans] == ["walked", "offer", "insult"]
    # Per call: a lower flag threshold sends the "Police" sentence too; threshold and techniques filter.
    (low,) = cascade.predict([ARTICLE], flag_threshold=0.1, threshold=0.75)
    assert [ARTICLE[s.start : s.end] for s in low.spans] == ["insult"]
    assert confirmer.read[-1] == SEPARATOR.join(
        ARTICLE[s.start : s.end]
        for s in split_sentences(ARTICLE)
        if "insult" in ARTICLE[s.start : s.end] or s.start == ARTICLE.index("Police")
    )
    assert cascade.predict([ARTICLE], techniques="doubt")[0].spans == ()


def test_progress_goes_once_from_zero_to_the_end_over_both_passes():
    seen: list[tuple[int, int]] = []
    cascade = Cascade(Marker("screen@1", {"insult": 0.6}), Marker("confirm@1", {"insult": 0.8}), context=0)
    cascade.predict([ARTICLE, "Calm news."], progress=lambda done, total: seen.append((done, total)))
    total = 2 * (len(ARTICLE) + len("Calm news."))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert {of for _, of in seen} == {total} and seen[-1] == (total, total)
    seen.clear()
    Cascade(Marker("s", {}), Marker("c", {})).predict(["Calm news."], progress=lambda *p: seen.append(p))
    assert seen[-1] == (20, 20)  # nothing to confirm: the second half is done at once


def test_the_package_exports_the_cascade():
    import propscan

    assert propscan.Cascade is Cascade and "Cascade" in propscan.__all__


def test_a_document_with_nothing_flagged_is_not_sent_and_keeps_the_screeners_spans():
    confirmer = Marker("confirm@1", {"insult": 0.8})
    cascade = Cascade(Marker("screen@1", {"insult": 0.2}), confirmer, flag_threshold=0.5)
    analyses = cascade.predict(["Calm news.", ARTICLE])
    assert confirmer.read == [] and analyses[0].spans == ()
    assert [(ARTICLE[s.start : s.end], s.model) for s in analyses[1].spans] == [("insult", "screen@1")]
    assert max(s.score for s in analyses[1].sentences) == 0.2
    confirmed_only = cascade.predict(["Calm news.", ARTICLE], keep_screened=False)
    assert [a.spans for a in confirmed_only] == [(), ()] and confirmer.read == []
    assert all(s.score == 0 for a in confirmed_only for s in a.sentences)
    with pytest.raises(TypeError, match="list of articles"):
        cascade.predict(ARTICLE)


# ------------------------------------------------------------------------------- batch and CLI
def corpus(tmp_path: Path, texts: dict[str, str]) -> Path:
    folder = tmp_path / "corpus" / "gazette"
    folder.mkdir(parents=True)
    for name, text in texts.items():
        (folder / f"{name}.txt").write_text(text, encoding="utf-8")
    return folder.parent


TEXTS = {
    "port": ARTICLE,
    "calm": "Council news\n\nThe library opens at nine. Books are due in two weeks.",
    "broken": "A FAIL for the confirmer. The union called it an insult.",
}


def test_a_cascade_batch_stores_each_span_with_its_model_and_resumes(tmp_path):
    from propscan.batch.jobs import run_batch
    from propscan.batch.store import Store

    inputs = corpus(tmp_path, TEXTS)
    url = f"sqlite:///{tmp_path / 'c.db'}"

    def cascade() -> Cascade:
        return Cascade(Marker("screen@1", {"insult": 0.6}), Marker("confirm@1", {"insult": 0.8, "offer": 0.7}))

    first = run_batch([inputs], db=url, model="fast", then="accurate", analyzer=cascade(), flag_threshold=0.5)
    assert (first.analyzed, first.failed) == (2, 1)  # "broken" fails in the confirmer, alone
    assert first.run.model == "screen@1>confirm@1"
    assert first.run.options == {
        "threshold": 0.0,
        "techniques": None,
        "flag_threshold": 0.5,
        "context": 1,
        "keep_screened": True,
    }
    with Store.open(url) as store:
        stored = {a.document.id: a for a in store.analyses(first.run.id)}
        (failure,) = store.failures(first.run.id)
    assert "breaks the model" in failure.error
    port = next(a for a in stored.values() if "Port strike" in a.document.text)
    assert {(ARTICLE[s.start : s.end], s.model) for s in port.spans} == {
        ("insult", "confirm@1"),
        ("offer", "confirm@1"),
    }

    # The same command again: the run resumes and does nothing more.
    again = run_batch([inputs], db=url, model="fast", then="accurate", analyzer=cascade(), flag_threshold=0.5)
    assert again.run.id == first.run.id and (again.analyzed, again.skipped, again.failed_before) == (0, 2, 1)
    # Another flag threshold, or no cascade, is another run: never mixed into this one.
    other = run_batch([inputs], db=url, model="fast", then="accurate", analyzer=cascade(), flag_threshold=0.9)
    assert other.run.id != first.run.id and other.analyzed == 2 and other.spans == 1  # the screener's "insult"
    only = run_batch(
        [inputs], db=url, model="fast", then="accurate", analyzer=cascade(), flag_threshold=0.9, keep_screened=False
    )
    assert only.run.id not in (first.run.id, other.run.id) and only.spans == 0


def test_cascade_settings_without_a_confirming_model_are_refused_before_anything_runs(tmp_path):
    from propscan.batch.jobs import run_batch

    inputs = corpus(tmp_path, TEXTS)
    db = tmp_path / "x.db"
    with pytest.raises(PropscanError, match="--then MODEL"):
        run_batch([inputs], db=f"sqlite:///{db}", flag_threshold=0.5)
    with pytest.raises(PropscanError, match="analyzer"):
        run_batch([inputs], db=f"sqlite:///{db}", model="fast", then="accurate", analyzer=Marker("m", {}))
    assert not db.exists()
    with pytest.raises(PropscanError, match="no model at nope"):
        run_batch([inputs], db=f"sqlite:///{db}", model="fast", then="nope")


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--then", "nope"], 1, "no model at nope; give a preset"),
        (["--flag-threshold", "0.5"], 1, "--flag-threshold, --context and --confirmed-only set a cascade"),
        (["--context", "2"], 1, "give its confirming model with --then MODEL"),
        (["--confirmed-only"], 1, "--confirmed-only set a cascade"),
        (
            ["--then", "accurate", "--flag-threshold", "1.5"],
            2,
            "argument --flag-threshold: expected a number from 0 to 1",
        ),
        (["--then", "accurate", "--context", "-1"], 2, "argument --context: expected a whole number of at least 0"),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, arguments, code, message):
    inputs = corpus(tmp_path, TEXTS)
    try:
        returned = main(["batch", str(inputs), "--db", str(tmp_path / "x.db"), "--no-progress", *arguments])
    except SystemExit as exit:  # a usage error: argparse exits
        returned = exit.code
    assert returned == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_help_states_the_library_defaults(capsys):
    from propscan.cascade import CONTEXT

    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"(default {FLAG_THRESHOLD:g}; {TRIAGE_FLAG_THRESHOLD:g} when --model is a triage model)" in out
    assert f"(default {CONTEXT})" in out


# ------------------------------------------------------------------------------- real models
def snapshot(url: str) -> dict:
    from propscan.batch.store import Store

    with Store.open(url) as store:
        (run,) = store.runs()
        return {
            "model": run.model,
            "options": dict(run.options),
            "analyses": {
                a.document.id: sorted((s.start, s.end, s.technique, round(s.score or 0, 6), s.model) for s in a.spans)
                for a in store.analyses(run.id)
            },
            "failures": sorted(f.id for f in store.failures(run.id)),
        }


@pytest.mark.slow
@needs_model
def test_a_cascade_of_real_models_is_the_same_on_every_engine(tmp_path, capsys):
    """The command line on one worker, two local workers and Ray store the same spans, those of ``Cascade.predict``."""
    from propscan.batch.jobs import run_batch
    from propscan.readers.sources import read_sources

    inputs = [BATCH / "outlets", BATCH / "news.jsonl"]
    one = f"sqlite:///{tmp_path / 'one.db'}"
    argv = ["batch", *map(str, inputs), "--db", one, "--model", MODEL, "--then", MODEL, "--no-progress"]
    assert main([*argv, "--flag-threshold", "0.2", "--context", "0"]) == 1  # the bad records fail, as in any batch
    assert "6 analyzed, 4 failed, 1 already done" in capsys.readouterr().err
    state = snapshot(one)
    cascade = Cascade.load(MODEL, MODEL, flag_threshold=0.2, context=0, threads=1)
    assert state["model"] == cascade.name and state["options"]["flag_threshold"] == 0.2
    documents = [d for d in read_sources(inputs) if isinstance(d, Document)]
    expected = {
        a.document.id: sorted((s.start, s.end, s.technique, round(s.score or 0, 6), s.model) for s in a.spans)
        for first in range(0, len(documents), 8)
        for a in cascade.predict(documents[first : first + 8])
    }
    assert state["analyses"] == expected
    assert {s[4] for spans in expected.values() for s in spans} == {cascade.confirmer.name}
    full = cascade.confirmer.predict(documents)  # the confirmer on everything finds more
    assert sum(map(len, expected.values())) < sum(len(a.spans) for a in full)

    options = {"model": MODEL, "then": MODEL, "flag_threshold": 0.2, "context": 0, "threads": 1}
    two = f"sqlite:///{tmp_path / 'two.db'}"
    run_batch(inputs, db=two, workers=2, **options)
    assert snapshot(two) == state
    pytest.importorskip("ray", reason="the ray extra is not installed")
    ray = f"sqlite:///{tmp_path / 'ray.db'}"
    run_batch(inputs, db=ray, engine="ray", workers=2, **options)
    assert snapshot(ray) == state


def test_each_kind_of_screener_has_its_own_default_flag_threshold():
    # triage's short spans score lower than fast's: the same threshold would send it a tenth as much.
    assert default_flag_threshold("fast") == FLAG_THRESHOLD == 0.2
    assert default_flag_threshold("triage") == TRIAGE_FLAG_THRESHOLD < FLAG_THRESHOLD


@pytest.mark.slow
def test_a_confirmer_whose_partner_tagger_is_the_screener_votes_with_the_screener_itself():
    """accurate's partner is fast, the default screener: the cascade holds one fast, not two, and
    accurate finds what it finds alone."""
    from propscan import Analyzer

    cascade = Cascade.load("fast", "accurate", threads=1)
    alone = Analyzer.load("accurate", threads=1)
    assert cascade.confirmer.model.partner_ is cascade.screener.model
    assert alone.model.partner_.votes_like(cascade.screener.model) and alone.model.partner_.reader_ is None
    assert cascade.confirmer.analyze(ARTICLE).spans == alone.analyze(ARTICLE).spans
    # Another tagger is not taken for the partner.
    other = Cascade.load("fast-ptc18", "accurate", threads=1)
    assert other.confirmer.model.partner_ is not other.screener.model
    assert not other.confirmer.model.partner_.votes_like(other.screener.model)
