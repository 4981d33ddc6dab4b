"""The metrics against cases computed by hand from the official scorers' definitions."""

import pytest

from propscan.document import Span
from propscan.scoring import SICounts, bootstrap_intervals, si_counts, si_score, tc_counts, tc_score


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


def test_counts_per_article_add_up_to_the_corpus_scores():
    gold = {"a": spans((0, 10), (20, 30)), "b": [Span(0, 5, "Doubt"), Span(0, 5, "Repetition")]}
    predicted = {"a": spans((5, 15)), "b": [Span(0, 5, "Doubt"), Span(0, 5, "Slogans")], "c": spans((0, 3))}
    si = si_counts(gold, predicted)
    assert set(si) == {"a", "b", "c"} and si["c"] == SICounts(0.0, 1, 0.0, 0)
    assert (si["a"] + si["b"] + si["c"]).prf() == si_score(gold, predicted)
    tc = tc_counts(gold, predicted)
    assert tc["b"].correct == {"Doubt": 1}
    assert (tc["a"] + tc["b"] + tc["c"]).report() == tc_score(gold, predicted)


def _articles(n_right: int, n_wrong: int) -> tuple[dict, dict]:
    """Articles with one gold span each, labelled right in the first ``n_right`` and wrong after."""
    gold = {f"r{k}": spans((0, 10)) for k in range(n_right)} | {f"w{k}": spans((0, 10)) for k in range(n_wrong)}
    predicted = {f"r{k}": spans((0, 10)) for k in range(n_right)} | {
        f"w{k}": spans((0, 10), technique="Doubt") for k in range(n_wrong)
    }
    return gold, predicted


def test_bootstrap_intervals_bracket_the_figure_and_narrow_with_more_articles():
    gold, predicted = _articles(12, 8)
    small = bootstrap_intervals(si_counts(gold, predicted), tc_counts(gold, predicted), rounds=400)
    assert small.si_f1 == (1.0, 1.0)  # every span is found exactly, in every draw
    low, high = small.tc_micro_f1
    assert low < 0.6 < high and high - low > 0.2
    assert small.per_technique["Loaded_Language"][0] < 0.75 < small.per_technique["Loaded_Language"][1]
    assert "Doubt" not in small.per_technique  # no gold Doubt span: nothing to score
    gold, predicted = _articles(120, 80)
    large = bootstrap_intervals(si_counts(gold, predicted), tc_counts(gold, predicted), rounds=400)
    assert large.tc_micro_f1[1] - large.tc_micro_f1[0] < (high - low) / 2
    again = bootstrap_intervals(si_counts(gold, predicted), tc_counts(gold, predicted), rounds=400)
    assert again == large  # seeded: the same figures every run
