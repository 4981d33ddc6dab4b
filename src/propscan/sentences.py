"""Sentence and article scores: from the spans found to how likely each sentence is to hold a technique.

A sentence's evidence is the spans that touch it: how many, and the best one's score. A model's
sentence map (``ModelConfig.sentence_calibration``, fitted on validation articles) turns that
evidence into the probability that annotators marked something in the sentence, so that a
sentence with no span found still scores the share of such sentences that hold one. The article
score, the mean over its sentences, is then the expected share of its sentences that hold a
technique. Without a map (models trained before propscan 0.3), a sentence scores its best span's
score and the article score is a ranking, not a share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from propscan.document import Document, Sentence, Span

# Sentences compared with spans at once in ``evidence``: bounds the comparison matrix.
_SENTENCE_BLOCK = 256
# The map's inputs, in the order of ``features``' columns; a fitted map holds these and "intercept".
FEATURES = ("has_span", "best_logit", "log_spans")
# Weights the fitted map keeps at 0 or more (``MONOTONE``): a surer span, or one more span, never
# lowers a sentence's score.
MONOTONE = ("best_logit", "log_spans")
# A best score is clipped into [EPSILON, 1 - EPSILON] before its logit.
EPSILON = 1e-3


def evidence(sentences: Sequence[Sentence], spans: Sequence[Span]) -> tuple[np.ndarray, np.ndarray]:
    """For each sentence, the best score of the spans touching it (0 if none) and how many touch it.

    Compared in numpy, a block of sentences at a time against the spans that reach that block: a
    Python loop over every pair cost the triage preset a third of its time.
    """
    best = np.zeros(len(sentences))
    count = np.zeros(len(sentences), dtype=np.int64)
    if not spans:
        return best, count
    span_starts = np.asarray([s.start for s in spans])
    span_ends = np.asarray([s.end for s in spans])
    span_scores = np.asarray([s.score or 0.0 for s in spans])
    for first in range(0, len(sentences), _SENTENCE_BLOCK):
        block = sentences[first : first + _SENTENCE_BLOCK]
        starts = np.asarray([s.start for s in block])
        ends = np.asarray([s.end for s in block])
        near = (span_starts < ends[-1]) & (span_ends > starts[0])
        touching = (span_starts[near][None, :] < ends[:, None]) & (span_ends[near][None, :] > starts[:, None])
        best[first : first + len(block)] = np.where(touching, span_scores[near][None, :], 0.0).max(axis=1, initial=0.0)
        count[first : first + len(block)] = touching.sum(axis=1)
    return best, count


def features(best: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The map's inputs per sentence (columns ``FEATURES``): whether a span touches it, the logit of
    the best one's score (0 where none does), and log(1 + the spans touching it)."""
    has_span = (count > 0).astype(np.float64)
    clipped = np.clip(best, EPSILON, 1 - EPSILON)
    return np.column_stack([has_span, has_span * np.log(clipped / (1 - clipped)), np.log1p(count)])


def sentence_probabilities(table: Mapping[str, float], best: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Each sentence's score: the map's probability that it holds a technique, or its best span's
    score when ``table`` is empty (no map fitted).

    A span found never makes its sentence score below one with no span (the map's intercept
    alone): a logistic line in the best score's logit would, for the weakest spans.
    """
    if not table:
        return best
    weights = np.asarray([table[name] for name in FEATURES])
    logits = np.maximum(features(best, count) @ weights, 0.0) + table["intercept"]
    return 1.0 / (1.0 + np.exp(-logits))


def score_sentences(
    document: Document, spans: Sequence[Span], calibration: Mapping[str, float] | None = None
) -> list[Sentence]:
    """``document``'s sentences, each scored from the spans touching it (``sentence_probabilities``)."""
    sentences = document.sentences()
    scores = sentence_probabilities(calibration or {}, *evidence(sentences, spans))
    return [Sentence(s.start, s.end, float(score)) for s, score in zip(sentences, scores, strict=True)]


def article_score(sentences: Sequence[Sentence]) -> float:
    """The mean sentence score, in [0, 1]: with a sentence map, the expected share of sentences
    that hold a technique.

    A mean (not a max) so that one loaded word in a long report scores low and an article that
    is propaganda throughout scores high.
    """
    return sum(s.score for s in sentences) / len(sentences) if sentences else 0.0
