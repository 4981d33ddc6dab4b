"""Sentence and article scores: the evidence a sentence's spans give, and the map that makes it a probability."""

import math

import numpy as np
import pytest

from propscan import sentences as scoring
from propscan.document import Document, Span
from propscan.sentences import article_score, evidence, score_sentences, sentence_probabilities

TEXT = "Traitors sold the harbour. The board met on Friday. Shameful, shameful greed!"
#       0         1         2         3         4         5         6         7
SPANS = [Span(0, 8, "Name_Calling,Labeling", 0.8), Span(52, 60, "Loaded_Language", 0.4), Span(62, 77, "Doubt", 0.6)]
MAP = {"has_span": 1.5, "best_logit": 0.8, "log_spans": 0.4, "intercept": -2.0}


def sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z))


def test_each_sentence_gets_its_best_span_and_how_many_touch_it():
    sentences = Document(TEXT).sentences()
    best, count = evidence(sentences, SPANS)
    assert best.tolist() == [0.8, 0.0, 0.6] and count.tolist() == [1, 0, 2]


def test_evidence_is_the_same_block_by_block(monkeypatch):
    rng = np.random.default_rng(3)
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    sentences = Document(text).sentences()
    spans = []
    for _ in range(60):
        start = int(rng.integers(0, len(text) - 1))
        spans.append(Span(start, min(len(text), start + int(rng.integers(1, 90))), "Doubt", float(rng.uniform())))
    whole = evidence(sentences, spans)
    monkeypatch.setattr(scoring, "_SENTENCE_BLOCK", 3)
    blocked = evidence(sentences, spans)
    for expected, got in zip(whole, blocked, strict=True):
        assert got.tolist() == expected.tolist()
    brute = [sum(s.start < x.end and s.end > x.start for s in spans) for x in sentences]
    assert whole[1].tolist() == brute


def test_without_a_map_a_sentence_scores_its_best_span():
    scored = score_sentences(Document(TEXT), SPANS)
    assert [s.score for s in scored] == [0.8, 0.0, 0.6]
    assert article_score(scored) == pytest.approx(1.4 / 3)
    assert article_score([]) == 0.0


def test_with_a_map_every_sentence_is_a_probability_by_the_formula():
    scored = score_sentences(Document(TEXT), SPANS, MAP)
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    assert [s.score for s in scored] == pytest.approx(
        [
            sigmoid(-2.0 + 1.5 + 0.8 * logit(0.8) + 0.4 * math.log(2)),
            sigmoid(-2.0),  # no span: the share of such sentences that hold one
            sigmoid(-2.0 + 1.5 + 0.8 * logit(0.6) + 0.4 * math.log(3)),
        ]
    )
    # a score of exactly 0 or 1 is clipped before its logit: finite, ordered
    edge = sentence_probabilities(MAP, np.array([0.0, 1.0]), np.array([1, 1]))
    assert np.all(np.isfinite(edge)) and 0 < edge[0] < edge[1] < 1
    # the weakest span scores its sentence as a sentence without one, never lower
    assert edge[0] == pytest.approx(sigmoid(-2.0))


def test_a_fitted_map_matches_how_often_sentences_hold_a_technique():
    pytest.importorskip("torch")
    from propscan.training.fitting import fit_logistic

    rng = np.random.default_rng(7)
    count = rng.poisson(0.6, 6000)
    best = np.where(count > 0, rng.uniform(0.05, 0.95, 6000), 0.0)
    truth = np.where(count > 0, 0.2 + 0.6 * best, 0.1)  # a sentence with no span still holds one 10% of the time
    marked = rng.uniform(0, 1, 6000) < truth
    table = fit_logistic(scoring.features(best, count), marked.tolist(), scoring.FEATURES)
    assert set(table) == {*scoring.FEATURES, "intercept"}
    probability = sentence_probabilities(table, best, count)
    assert abs(probability[count == 0].mean() - marked[count == 0].mean()) < 0.02
    assert abs(probability[count > 0].mean() - marked[count > 0].mean()) < 0.02
    assert np.corrcoef(probability, truth)[0, 1] > 0.9
    assert fit_logistic(scoring.features(best, count), [True] * len(best), scoring.FEATURES) == {}


class Found:
    """A model that found the given spans: what ``fit_sentence_calibration`` asks of one."""

    def __init__(self, spans):
        self.spans = spans

    def predict(self, documents, encoded):
        return self.spans


def test_a_surer_span_never_lowers_its_sentence_in_a_fitted_map():
    pytest.importorskip("torch")
    from propscan.document import AnnotatedDocument
    from propscan.training.recipe import fit_sentence_calibration

    # Sentences with surer spans are marked less often here; more spans, more often.
    rng = np.random.default_rng(5)
    documents, found = [], []
    for i in range(300):
        n = int(rng.integers(0, 4))
        best = float(rng.uniform(0.05, 0.95))
        text = "One sentence here."
        documents.append(
            AnnotatedDocument(
                Document(text, f"d{i}"),
                (Span(0, 3, "Doubt"),) if rng.uniform() < 0.15 + 0.2 * n - 0.1 * best * (n > 0) else (),
            )
        )
        found.append([Span(0, 3, "Doubt", best)] * n)
    table = fit_sentence_calibration(Found(found), documents, encoded=[None] * len(documents))
    assert set(table) == {*scoring.FEATURES, "intercept"}
    assert table["best_logit"] == 0.0 and table["log_spans"] > 0


def test_sentence_outcomes_line_up_with_the_evidence_and_no_documents_give_none():
    pytest.importorskip("torch")
    from propscan.document import AnnotatedDocument
    from propscan.training.recipe import sentence_outcomes

    gold = AnnotatedDocument(Document(TEXT, "t"), (Span(30, 40, "Doubt"),))
    best, count, marked = sentence_outcomes([gold], [SPANS])
    assert best.tolist() == [0.8, 0.0, 0.6] and count.tolist() == [1, 0, 2] and marked.tolist() == [False, True, False]
    # evaluate() over no articles (an empty split) scores nothing rather than failing to join arrays.
    assert [a.shape for a in sentence_outcomes([], [])] == [(0,), (0,), (0,)]
