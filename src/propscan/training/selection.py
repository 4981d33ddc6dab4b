"""What validation articles choose after training: the decoding biases (by SI F1) and how much
of the training prior over techniques to take back (by TC micro- plus macro-F1).

The model's outputs are computed once; each candidate is a Viterbi pass or a relabelling and a
score, without torch, so training and re-choosing for a saved model (``bench/choose_again.py``)
share this code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from propscan.document import AnnotatedDocument
from propscan.model.config import ModelConfig, TriageConfig
from propscan.model.decoding import Transitions, decode_spans
from propscan.model.propaganda import label_listed_spans, prior_corrected
from propscan.scoring import si_score, tc_score

# A negative outside bias trades the CRF's caution (most training tokens are outside) for recall.
OUTSIDE_BIASES = tuple(b / 8 for b in range(-32, 9))
# A negative inside bias is a length prior. Down to -3 the grid reaches spans shorter than the
# annotators' (median 24 characters); validation SI F1 peaked well inside it for both presets.
INSIDE_BIASES = tuple(-k / 8 for k in range(25))
# Weights of a partner tagger's emissions beside the model's own (``ModelConfig.partner``).
PARTNER_WEIGHTS = (0.25, 0.5, 0.75, 1.0)
# Strengths of the technique-prior correction: 0 keeps the classifier's prior, 1 removes it.
PRIOR_CORRECTIONS = tuple(k / 20 for k in range(21))


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
    outside_biases: Sequence[float] = OUTSIDE_BIASES,
    inside_biases: Sequence[float] = INSIDE_BIASES,
) -> Decoding:
    """The biases from the grids whose decoded spans score best on ``documents``; on a tie, the
    smaller change from no bias at all (an uninformative validation set leaves decoding alone)."""
    gold = {d.document.id: d.spans for d in documents}
    texts = [d.document.text for d in documents]
    candidates = sorted(
        ((outside, inside) for inside in inside_biases for outside in outside_biases),
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


def choose_partner_weight(
    documents: Sequence[AnnotatedDocument],
    offsets: Sequence[np.ndarray],
    emissions: Sequence[np.ndarray],
    votes: Sequence[np.ndarray],
    transitions: Transitions,
    alone: Decoding,
) -> tuple[float, Decoding]:
    """The weight of a partner tagger's emissions (``votes``) and the biases near those chosen for
    the model alone (``alone``; within 1.5, in steps of 1/4) that decode best on ``documents``.

    The model alone (weight 0) stays unless a weight beats it: a partner must earn its cost.
    """
    best_weight, best = 0.0, alone
    for weight in PARTNER_WEIGHTS:
        trial = choose_decoding(
            documents,
            offsets,
            [own + np.float32(weight) * vote for own, vote in zip(emissions, votes, strict=True)],
            transitions,
            outside_biases=[alone.outside_bias + k / 4 for k in range(-6, 7)],
            inside_biases=[alone.inside_bias + k / 4 for k in range(-6, 7)],
        )
        if trial.si_f1 > best.si_f1:
            best_weight, best = weight, trial
    return best_weight, best


@dataclass(frozen=True)
class PriorCorrection:
    """The chosen strength and the validation TC scores it gave."""

    strength: float
    tc_micro_f1: float
    tc_macro_f1: float


def technique_shares(documents: Sequence[AnnotatedDocument], labels: Sequence[str]) -> list[float]:
    """Each technique's share of the documents' gold spans, counted from one so that none is zero."""
    counts = Counter(s.technique for d in documents for s in d.spans)
    total = sum(counts[label] + 1 for label in labels)
    return [round((counts[label] + 1) / total, 6) for label in labels]


def choose_prior_correction(
    documents: Sequence[AnnotatedDocument],
    probabilities: Sequence[Mapping[tuple[int, int], np.ndarray]],
    config: ModelConfig | TriageConfig,
) -> PriorCorrection:
    """The strength from the grid whose corrected techniques score best on ``documents`` by TC
    micro-F1 plus macro-F1; on a tie, the weaker one.

    ``probabilities`` holds, per document, the uncorrected technique probabilities of each of its
    gold spans; ``config`` gives the labels and the training shares. Micro-F1 alone would keep the
    prior that favours the common techniques; macro-F1 alone would trade too much of it away.
    """
    gold = {d.document.id: d.spans for d in documents}
    best = PriorCorrection(0.0, -1.0, -1.0)
    for strength in PRIOR_CORRECTIONS:
        trial = replace(config, prior_correction=strength)
        predicted = {
            d.document.id: label_listed_spans(
                [(s.start, s.end) for s in d.spans],
                {span: prior_corrected(p, trial) for span, p in rows.items()},
                config.labels,
            )
            for d, rows in zip(documents, probabilities, strict=True)
        }
        report = tc_score(gold, predicted)
        if report.micro.f1 + report.macro_f1 > best.tc_micro_f1 + best.tc_macro_f1:
            best = PriorCorrection(strength, report.micro.f1, report.macro_f1)
    return best
