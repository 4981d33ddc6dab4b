"""The decoding chosen on validation articles: the outside and inside biases with the best SI F1.

The tagger's emissions are computed once; each candidate is a Viterbi pass and a score, without
torch, so training and re-choosing a saved model's decoding (``bench/choose_decoding.py``) share
this code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from propscan.document import AnnotatedDocument
from propscan.model.decoding import Transitions, decode_spans
from propscan.scoring import si_score

# A negative outside bias trades the CRF's caution (most training tokens are outside) for recall.
OUTSIDE_BIASES = tuple(b / 8 for b in range(-32, 9))
# A negative inside bias is a length prior. Down to -3 the grid reaches spans shorter than the
# annotators' (median 24 characters); validation SI F1 peaked well inside it for both presets.
INSIDE_BIASES = tuple(-k / 8 for k in range(25))


@dataclass(frozen=True)
class Decoding:
    """The chosen biases and the validation SI F1 they gave."""

    outside_bias: float
    inside_bias: float
    si_f1: float


def choose_decoding(
    documents: Sequence[AnnotatedDocument],
    offsets: Sequence[np.ndarray],
    emissions: Sequence[np.ndarray],
    transitions: Transitions,
    *,
    inside_biases: Sequence[float] = INSIDE_BIASES,
) -> Decoding:
    """The biases from the grids whose decoded spans score best on ``documents``; on a tie, the
    smaller change from no bias at all (an uninformative validation set leaves decoding alone)."""
    gold = {d.document.id: d.spans for d in documents}
    texts = [d.document.text for d in documents]
    candidates = sorted(
        ((outside, inside) for inside in inside_biases for outside in OUTSIDE_BIASES),
        key=lambda b: abs(b[0]) + abs(b[1]),
    )
    best = Decoding(0.0, 0.0, -1.0)
    for outside, inside in candidates:
        found = decode_spans(texts, offsets, emissions, transitions, outside_bias=outside, inside_bias=inside)
        predicted = {
            d.document.id: [(f.start, f.end) for f in spans] for d, spans in zip(documents, found, strict=True)
        }
        f1 = si_score(gold, predicted).f1
        if f1 > best.si_f1:
            best = Decoding(outside, inside, f1)
    return best
