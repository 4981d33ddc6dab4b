"""Analyses built by hand, with sentence scores computed the analyzer's way, for the store tests."""

from collections.abc import Mapping, Sequence

from propscan import Document, Span
from propscan.document import Analysis
from propscan.sentences import score_sentences


def analysis_of(
    document: Document,
    spans: Sequence[Span],
    score: float,
    warnings: Sequence[str] = (),
    sentence_map: Mapping[str, float] | None = None,
) -> Analysis:
    sentences = tuple(score_sentences(document, spans, sentence_map))
    return Analysis(document, tuple(spans), sentences, score, "test@1", tuple(warnings), dict(sentence_map or {}))
