"""The spaCy component: nlp.add_pipe("propscan") fills doc.spans["propaganda"] with the analyzer's spans."""

from __future__ import annotations

import pytest

spacy = pytest.importorskip("spacy", reason="the spacy extra is not installed")

import propscan.spacy_component  # noqa: E402,F401 - registers the factory
from tests.shipped import MODEL, needs_model  # noqa: E402

TEXT = (
    "Council delays bridge vote again\n\n"
    "Supporters called the delay a disgrace and a betrayal of every family in the city. "
    '"They are cowards hiding behind paperwork," said one resident, and everyone agrees with her. '
    "The mayor said engineers need another month to check the costs."
)


def test_factory_is_registered_with_its_config():
    nlp = spacy.blank("en")
    component = nlp.add_pipe("propscan", config={"model": MODEL, "threshold": 0.3, "spans_key": "sc"})
    assert nlp.pipe_names == ["propscan"]
    assert (component.model, component.threshold, component.spans_key) == (MODEL, 0.3, "sc")
    assert nlp.config["components"]["propscan"]["factory"] == "propscan"
    assert nlp.get_pipe_meta("propscan").assigns == ["doc.spans"]


@needs_model
def test_spans_match_the_analyzer(fast_analyzer_for_spacy):
    nlp = spacy.blank("en")
    nlp.add_pipe("propscan", config={"model": MODEL})
    doc = nlp(TEXT)
    group = doc.spans["propaganda"]
    expected = fast_analyzer_for_spacy.analyze(TEXT).spans
    assert expected, "the model should find something in this loaded text"
    assert len(group) == len(expected) == len(group.attrs["scores"])
    for span, found, score in zip(group, expected, group.attrs["scores"], strict=True):
        assert span.label_ == found.technique and score == pytest.approx(found.score)
        # Snapped outwards to whole tokens: the span covers the analyzer's characters.
        assert span.start_char <= found.start and span.end_char >= found.end
        assert TEXT[found.start : found.end] in span.text


@needs_model
def test_pipe_threshold_techniques_and_empty_docs(fast_analyzer_for_spacy):
    # Keep the technique the model is surest of here, so the filter has something to keep.
    technique = max(fast_analyzer_for_spacy.analyze(TEXT).spans, key=lambda s: s.score or 0.0).technique
    nlp = spacy.blank("en")
    nlp.add_pipe("propscan", config={"model": MODEL, "threshold": 0.2, "techniques": [technique], "batch_size": 2})
    docs = list(nlp.pipe([TEXT, "", TEXT, "   "]))
    assert [len(d.spans["propaganda"]) for d in docs][1::2] == [0, 0]
    first, third = docs[0].spans["propaganda"], docs[2].spans["propaganda"]
    assert [(s.start, s.end, s.label_) for s in first] == [(s.start, s.end, s.label_) for s in third]
    assert len(first) > 0 and all(s.label_ == technique for s in first)
    assert all(score >= 0.2 for score in first.attrs["scores"])


@pytest.fixture(scope="module")
def fast_analyzer_for_spacy():
    from propscan import Analyzer

    return Analyzer.load(MODEL)
