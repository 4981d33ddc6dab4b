"""The SemEval-2020 Task 11 metrics, computed exactly as the official scorers do.

SI (span identification): each predicted span earns precision credit |s∩t|/|s| for every gold span
t it overlaps, and each gold span earns recall credit |s∩t|/|t| for every predicted span s; the
sums are divided by the number of predicted and gold spans over the whole corpus (micro average).
Gold spans that overlap are merged first; predicted spans are merged too (the official scorer
rejects overlapping predictions). Articles without predictions still count in recall.

TC (technique classification): one technique per gold span; micro-F1. When the same span carries
several gold techniques, predictions for it are matched to the best assignment (a multiset
intersection of labels per span).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from propscan.document import Span, merge_intervals


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float
    support: int = 0

    @classmethod
    def from_ratios(cls, precision: float, recall: float, support: int = 0) -> PRF:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        return cls(precision, recall, f1, support)


Interval = tuple[int, int]


def _interval(span: Span | Interval) -> Interval:
    return span if isinstance(span, tuple) else (span.start, span.end)


def si_score(gold: Mapping[str, Iterable[Span | Interval]], predicted: Mapping[str, Iterable[Span | Interval]]) -> PRF:
    """Span-identification precision, recall and F1 with partial-overlap credit.

    SI ignores techniques, so plain ``(start, end)`` intervals are accepted as well as ``Span``s.

    Args:
        gold: gold spans per article id.
        predicted: predicted spans per article id; ids missing here count as no predictions.
    """
    precision_sum = recall_sum = 0.0
    n_predicted = n_gold = 0
    for ident in set(gold) | set(predicted):
        gold_spans = merge_intervals(map(_interval, gold.get(ident, ())))
        predicted_spans = merge_intervals(map(_interval, predicted.get(ident, ())))
        n_gold += len(gold_spans)
        n_predicted += len(predicted_spans)
        for p_start, p_end in predicted_spans:
            for g_start, g_end in gold_spans:
                overlap = min(p_end, g_end) - max(p_start, g_start)
                if overlap > 0:
                    precision_sum += overlap / (p_end - p_start)
                    recall_sum += overlap / (g_end - g_start)
    precision = precision_sum / n_predicted if n_predicted else 0.0
    recall = recall_sum / n_gold if n_gold else 0.0
    return PRF.from_ratios(precision, recall, n_gold)


@dataclass(frozen=True)
class TCReport:
    """TC micro scores plus precision/recall/F1 per technique."""

    micro: PRF
    per_technique: dict[str, PRF] = field(default_factory=dict)

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the techniques that have gold spans: rare techniques weigh as much as common ones."""
        scored = [prf.f1 for prf in self.per_technique.values() if prf.support]
        return sum(scored) / len(scored) if scored else 0.0


def tc_score(gold: Mapping[str, Iterable[Span]], predicted: Mapping[str, Iterable[Span]]) -> TCReport:
    """Technique-classification micro-F1 over gold spans, matching repeated spans at best."""
    gold_by_span = _labels_by_span(gold)
    predicted_by_span = _labels_by_span(predicted)
    correct: Counter[str] = Counter()
    gold_count: Counter[str] = Counter()
    predicted_count: Counter[str] = Counter()
    for key, labels in gold_by_span.items():
        gold_count.update(labels)
        correct.update(labels & predicted_by_span.get(key, Counter()))
    for labels in predicted_by_span.values():
        predicted_count.update(labels)
    n_correct, n_gold, n_predicted = sum(correct.values()), sum(gold_count.values()), sum(predicted_count.values())
    micro = PRF.from_ratios(
        n_correct / n_predicted if n_predicted else 0.0, n_correct / n_gold if n_gold else 0.0, n_gold
    )
    per_technique = {
        technique: PRF.from_ratios(
            correct[technique] / predicted_count[technique] if predicted_count[technique] else 0.0,
            correct[technique] / gold_count[technique] if gold_count[technique] else 0.0,
            gold_count[technique],
        )
        for technique in sorted(gold_count | predicted_count)
    }
    return TCReport(micro, per_technique)


def _labels_by_span(spans: Mapping[str, Iterable[Span]]) -> dict[tuple[str, int, int], Counter[str]]:
    grouped: dict[tuple[str, int, int], Counter[str]] = {}
    for ident, items in spans.items():
        for span in items:
            grouped.setdefault((ident, span.start, span.end), Counter())[span.technique] += 1
    return grouped


def is_right(span: Span, gold: Iterable[Span]) -> bool:
    """Whether a predicted span overlaps a gold span of the same technique: what a span's
    calibrated score is the probability of."""
    return any(g.technique == span.technique and g.start < span.end and span.start < g.end for g in gold)


@dataclass(frozen=True)
class Reliability:
    """Scores against outcomes in equal-width bins: what a reliability diagram plots."""

    bins: tuple[tuple[float, float, float, int], ...]  # (low, mean score, share right, count)
    ece: float


def reliability(scores: Iterable[float], outcomes: Iterable[bool], n_bins: int = 10) -> Reliability:
    """Expected calibration error over ``n_bins`` equal-width bins of the score, weighted by count."""
    pairs = list(zip(scores, outcomes, strict=True))
    bins = []
    ece = 0.0
    for k in range(n_bins):
        low, high = k / n_bins, (k + 1) / n_bins
        members = [(s, o) for s, o in pairs if low <= s < high or (k == n_bins - 1 and s == 1.0)]
        if not members:
            continue
        mean_score = sum(s for s, _ in members) / len(members)
        share = sum(o for _, o in members) / len(members)
        bins.append((low, mean_score, share, len(members)))
        ece += len(members) / len(pairs) * abs(mean_score - share)
    return Reliability(tuple(bins), ece)
