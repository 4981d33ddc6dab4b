"""Analyses built by hand, with sentence scores computed the analyzer's way, for the store tests."""

from collections.abc import Sequence

from propscan import Document, Span
from propscan.document import Analysis
from propscan.pipeline import score_sentences


def analysis_of(document: Document, spans: Sequence[Span], score: float, warnings: Sequence[str] = ()) -> Analysis:
    return Analysis(document, tuple(spans), tuple(score_sentences(document, spans)), score, "test@1", tuple(warnings))
