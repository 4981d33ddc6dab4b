"""Span scores are probabilities: the metric behind that claim, the fitted map, and runners-up."""

import json

import numpy as np
import pytest

from propscan.document import Alternative, Analysis, Document, Span
from propscan.scoring import is_right, reliability


def test_a_span_is_right_when_a_gold_span_of_its_technique_overlaps_it():
    gold = [Span(10, 20, "Doubt"), Span(30, 40, "Loaded_Language")]
    assert is_right(Span(15, 35, "Loaded_Language"), gold)
    assert not is_right(Span(12, 18, "Loaded_Language"), gold)  # overlaps, other technique
    assert not is_right(Span(20, 30, "Doubt"), gold)  # touches, does not overlap


def test_expected_calibration_error_by_hand():
    result = reliability([0.05, 0.15, 0.95, 0.95], [False, False, True, False])
    assert [(low, count) for low, _, _, count in result.bins] == [(0.0, 1), (0.1, 1), (0.9, 2)]
    # |0.05 - 0| / 4 + |0.15 - 0| / 4 + 2 |0.95 - 0.5| / 4
    assert result.ece == pytest.approx(0.275)
    assert reliability([1.0], [True]).ece == 0.0


def test_the_fitted_map_recovers_how_often_spans_are_right():
    pytest.importorskip("sklearn")
    from propscan.model import PropagandaModel
    from propscan.model.config import ModelConfig
    from propscan.training.fitting import fit_logistic_calibration as fit_calibration

    rng = np.random.default_rng(1)
    confidence, probability = rng.uniform(0.05, 0.95, 4000), rng.uniform(0.05, 0.95, 4000)
    truth = confidence * probability**2  # raw products overstate how often spans are right
    right = rng.uniform(0, 1, 4000) < truth
    table = fit_calibration(list(zip(confidence, probability, strict=True)), right.tolist())
    model = PropagandaModel(ModelConfig(labels=["Doubt", "Slogans"], calibration=table))
    mapped = np.concatenate([model.calibrated(c, np.array([p])) for c, p in zip(confidence, probability, strict=True)])
    assert np.all((mapped > 0) & (mapped < 1))
    assert abs(mapped.mean() - right.mean()) < 0.02
    assert np.corrcoef(mapped, truth)[0, 1] > 0.9
    assert fit_calibration([(0.1, 0.2), (0.9, 0.8)], [True, True]) == {}  # nothing to learn from one outcome


def test_calibrated_scores_and_alternatives_from_probabilities():
    from propscan.model import PropagandaModel
    from propscan.model.config import ModelConfig
    from propscan.model.decoding import FoundSpan

    labels = ["Doubt", "Loaded_Language", "Slogans", "Repetition", "Flag-Waving"]
    uncalibrated = PropagandaModel(ModelConfig(labels=labels, alternative_floor=0.1))
    span = uncalibrated._span(FoundSpan(0, 9, 0, 2, score=0.8), np.array([0.05, 0.6, 0.3, 0.04, 0.01]))
    assert span.technique == "Loaded_Language" and span.score == pytest.approx(0.8 * 0.6)
    # 0.8 * 0.3 = 0.24 reaches the floor; 0.8 * 0.05 = 0.04 does not
    assert span.alternatives == (Alternative("Slogans", pytest.approx(0.24)),)
    calibrated = PropagandaModel(
        ModelConfig(
            labels=labels, alternative_floor=0.1, calibration={"tagger": 1.0, "technique": 1.0, "intercept": 0.0}
        )
    )
    span = calibrated._span(FoundSpan(0, 9, 0, 2, score=0.8), np.array([0.05, 0.6, 0.3, 0.04, 0.01]))
    odds = 0.8 / 0.2 * 0.6  # sigmoid(logit(0.8) + log(0.6))
    assert span.score == pytest.approx(odds / (1 + odds))


def test_alternatives_are_in_the_json():
    document = Document("A shameless betrayal.", "a1")
    span = Span(2, 20, "Loaded_Language", 0.61, (Alternative("Name_Calling,Labeling", 0.22),))
    payload = Analysis(document, (span,), (), 0.61).to_dict()
    assert payload["spans"][0]["alternatives"] == [{"technique": "Name_Calling,Labeling", "score": 0.22}]
    json.dumps(payload)


def test_training_calibrates_on_validation_and_reports_the_test_split(tiny_corpus, tmp_path):
    pytest.importorskip("torch")
    from propscan.training import preset_config, test_ids, train

    config = preset_config("fast")
    config.ensemble, config.tagger_epochs, config.classifier_epochs, config.reader_epochs = 1, 2, 5, 0
    model = train(tiny_corpus, config, tmp_path / "m", validation_fraction=0.4, test_fraction=0.2)
    held_out = test_ids([d.document.id for d in tiny_corpus], 0.2)
    assert model.config.metrics["test_documents"] == len(held_out) > 0
    assert {
        "test_si_f1",
        "test_tc_micro_f1",
        "test_tc_macro_f1",
        "test_ece",
        "test_median_span_chars",
        "test_sentence_ece",
        "test_article_score_mae",
    } <= set(model.config.metrics)
    assert set(model.config.sentence_calibration) == {"has_span", "best_logit", "log_spans", "intercept"}
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["calibration"] == model.config.calibration
    assert saved["sentence_calibration"] == model.config.sentence_calibration


def test_training_without_any_span_is_refused_clearly(tiny_corpus):
    pytest.importorskip("torch")
    from propscan.document import AnnotatedDocument
    from propscan.errors import ModelError
    from propscan.model import PropagandaModel
    from propscan.training import preset_config
    from propscan.training.recipe import fit

    bare = [AnnotatedDocument(d.document, ()) for d in tiny_corpus]
    with pytest.raises(ModelError, match="hold no technique spans"):
        fit(PropagandaModel(preset_config("fast")), bare, [])
