"""The metrics against cases computed by hand from the official scorers' definitions."""

import pytest

from propscan.document import Span
from propscan.scoring import si_score, tc_score


def spans(*items, technique="Loaded_Language"):
    return [Span(start, end, technique) for start, end in items]


def test_si_partial_overlap_credit():
    gold = {"a": spans((0, 10), (20, 30))}
    predicted = {"a": spans((5, 15), (20, 30))}
    # [5,15) covers half of itself and half of [0,10): 0.5 + 1.0 over 2 spans each way.
    score = si_score(gold, predicted)
    assert score.precision == pytest.approx(0.75)
    assert score.recall == pytest.approx(0.75)
    assert score.f1 == pytest.approx(0.75)


def test_si_takes_plain_intervals_as_spans():
    gold = {"a": spans((0, 10), (20, 30))}
    predicted = {"a": [(5, 15), (20, 30)]}
    assert si_score(gold, predicted) == si_score(gold, {"a": spans((5, 15), (20, 30), technique="Doubt")})


def test_si_one_prediction_covering_two_gold_spans():
    gold = {"a": spans((0, 10), (10, 20))}  # touching, not overlapping: two gold spans
    predicted = {"a": spans((0, 40))}
    score = si_score(gold, predicted)
    assert score.precision == pytest.approx((10 / 40 + 10 / 40) / 1)
    assert score.recall == pytest.approx((1 + 1) / 2)


def test_si_overlapping_gold_is_merged_and_predictions_too():
    gold = {"a": [Span(0, 10, "Doubt"), Span(5, 15, "Loaded_Language")]}
    predicted = {"a": spans((0, 8), (4, 15))}
    score = si_score(gold, predicted)
    assert (score.precision, score.recall, score.support) == (1.0, 1.0, 1)


def test_si_articles_without_predictions_count_in_recall():
    gold = {"a": spans((0, 10)), "b": spans((0, 4))}
    predicted = {"a": spans((0, 10))}
    score = si_score(gold, predicted)
    assert score.precision == 1.0
    assert score.recall == pytest.approx(0.5)
    assert score.f1 == pytest.approx(2 * 0.5 / 1.5)


def test_si_no_predictions_scores_zero():
    assert si_score({"a": spans((0, 10))}, {}).f1 == 0.0


def test_tc_repeated_span_matches_best_assignment():
    gold = {"a": [Span(0, 10, "Loaded_Language"), Span(0, 10, "Repetition"), Span(20, 30, "Doubt")]}
    predicted = {"a": [Span(0, 10, "Repetition"), Span(0, 10, "Loaded_Language"), Span(20, 30, "Slogans")]}
    report = tc_score(gold, predicted)
    assert report.micro.f1 == pytest.approx(2 / 3)
    assert report.per_technique["Doubt"].recall == 0.0
    assert report.per_technique["Slogans"].precision == 0.0
    assert report.per_technique["Repetition"].f1 == 1.0


def test_tc_same_label_twice_counts_once_unless_gold_has_it_twice():
    gold = {"a": [Span(0, 10, "Loaded_Language"), Span(0, 10, "Repetition")]}
    predicted = {"a": [Span(0, 10, "Loaded_Language"), Span(0, 10, "Loaded_Language")]}
    assert tc_score(gold, predicted).micro.f1 == pytest.approx(0.5)
