"""The training recipe behind ``propscan train``: split, fit, calibrate, measure, save.

Articles are split by a hash of their id into a test set that chooses nothing (its figures are
the ones reported), a validation set that chooses epochs, the decoding biases, the technique-prior
correction, the score calibration and the sentence map, and the training set. Hashing keeps
every article on the same side however the corpus grows.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from propscan.document import AnnotatedDocument, Span, merge_intervals
from propscan.errors import ModelError
from propscan.model import PRESETS, ModelConfig, PropagandaModel, TriageConfig, TriageModel
from propscan.model.decoding import Transitions
from propscan.model.encoders import ENCODERS
from propscan.model.features import EncodedText
from propscan.model.propaganda import MAX_ALTERNATIVES
from propscan.readers.ptc import split_ids
from propscan.scoring import (
    SICounts,
    TCCounts,
    TCReport,
    is_right,
    reliability,
    si_counts,
    tc_counts,
    tc_score,
)
from propscan.sentences import FEATURES as SENTENCE_FEATURES
from propscan.sentences import MONOTONE, evidence, sentence_probabilities
from propscan.sentences import features as sentence_features
from propscan.techniques import get_inventory
from propscan.training.selection import (
    Decoding,
    PriorCorrection,
    choose_decoding,
    choose_partner_weight,
    choose_prior_correction,
    technique_shares,
)

logger = logging.getLogger(__name__)

# Calibration learns from every technique a span can show: the top one and its alternatives.
CALIBRATION_CANDIDATES = 1 + MAX_ALTERNATIVES


Model = PropagandaModel | TriageModel


def preset_config(preset: str, inventory: str | None = None) -> ModelConfig | TriageConfig:
    """A fresh configuration for a named preset with the labels of ``inventory`` (default: the preset's)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = copy.deepcopy(PRESETS[preset])
    config.inventory = inventory or config.inventory
    config.labels = list(get_inventory(config.inventory).labels)
    return config


@dataclass(frozen=True)
class CorpusSplit:
    """The recipe's three sides of a corpus; the same articles every time for the same ids."""

    train: list[AnnotatedDocument]
    validation: list[AnnotatedDocument]
    test: list[AnnotatedDocument]


def test_ids(ids: Iterable[str], fraction: float = 0.2) -> list[str]:
    """The articles held out for the report: a salted hash, independent of the validation split."""
    return sorted(
        i for i in ids if int(hashlib.sha256(f"test:{i}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction
    )


def split_corpus(
    corpus: Sequence[AnnotatedDocument], validation_fraction: float = 0.15, test_fraction: float = 0.2
) -> CorpusSplit:
    """Test articles choose nothing; validation articles choose epochs, biases, prior correction and calibration."""
    by_id = {d.document.id: d for d in corpus}
    held_out = set(test_ids(by_id, test_fraction)) if test_fraction else set()
    train_ids, validation_ids = split_ids((i for i in by_id if i not in held_out), validation_fraction)
    return CorpusSplit(
        [by_id[i] for i in train_ids], [by_id[i] for i in validation_ids], [by_id[i] for i in sorted(held_out)]
    )


def train(
    corpus: Sequence[AnnotatedDocument],
    config: ModelConfig | TriageConfig,
    output: str | Path,
    *,
    validation_fraction: float = 0.15,
    test_fraction: float = 0.2,
    device: str = "cpu",
    log: Callable[[str], None] = logger.info,
) -> Model:
    """Train a model on annotated documents, report scores on held-out test articles, and save it.

    The corpus may come from any reader (PTC folders, Label Studio exports); labels must already
    belong to ``config.inventory``. ``test_fraction`` of the articles never reach training or any
    choice; the ``test_*`` metrics in ``config.json`` are measured on them.
    """
    split = split_corpus(corpus, validation_fraction, test_fraction)
    log(f"{len(split.train)} training, {len(split.validation)} validation and {len(split.test)} test articles")
    started = time.perf_counter()
    model: Model
    if isinstance(config, TriageConfig):
        model = fit_triage_model(TriageModel(config), split.train, split.validation, log=log, device=device)
    else:
        model = fit(PropagandaModel(config), split.train, split.validation, log=log, device=device)
    model.config.metrics["test_documents"] = len(split.test)
    if split.test:
        report = evaluate(model, split.test)
        model.config.metrics.update(report_metrics(report, "test"))
        log(f"test SI F1 {report['si'].f1:.4f}, TC micro-F1 {report['tc'].micro.f1:.4f}, ECE {report['ece']:.4f}")
    model.config.metrics["wall_seconds"] = round(time.perf_counter() - started, 1)
    model.save(output)
    return model


def fit(
    model: PropagandaModel,
    train: Sequence[AnnotatedDocument],
    validation: Sequence[AnnotatedDocument],
    *,
    seed: int = 13,
    log: Callable[[str], None] = logger.info,
    device: str = "cpu",
) -> PropagandaModel:
    """Fine-tune the encoder if the recipe says so, train the tagger, the classifier and the span
    reader if the recipe has one (needs torch);
    choose epochs, the decoding biases, technique priors and the score calibration on ``validation``.

    Args:
        train: documents with gold spans to learn from.
        validation: held-out documents used for early stopping, the decoding and calibration.
        device: where torch trains ("cpu" or "cuda"); the result runs on the CPU either way.
    """
    try:
        from propscan.training.fitting import fit_heads
    except ImportError as error:
        raise _torch_missing(error) from None
    if not model.config.labels:
        raise ModelError("the configuration lists no technique labels")
    if not any(d.spans for d in train):
        raise ModelError("the training documents hold no technique spans; give more, or annotated, documents")
    started = time.perf_counter()
    if model.config.encoder_epochs:
        from propscan.training.encoder import fit_encoder

        log(f"fine-tuning {model.config.encoder} as a span tagger on {len(train)} documents")
        model.set_encoder_deltas(fit_encoder(model.config, model.encoder, train, seed=seed, device=device, log=log))
        model.config.metrics["encoder_seconds"] = round(time.perf_counter() - started, 1)
    heads = fit_heads(model.config, model.encoder, train, validation, seed=seed, log=log, device=device)
    model.set_heads(heads.tagger_onnx, heads.classifier_onnx, heads.transitions)
    if model.config.reader_epochs:
        from propscan.training.reader import fit_reader

        reader_started = time.perf_counter()
        model.set_reader(fit_reader(model.config, train, seed=seed, device=device, log=log))
        model.config.metrics["reader_seconds"] = round(time.perf_counter() - reader_started, 1)
    model.config.technique_shares = technique_shares(train, model.config.labels)
    if model.config.partner:
        model.load_partner()
    if validation:
        decoding = fit_decoding(model, validation, heads.validation_encoded)
        partner = f", {model.config.partner} weighs {model.config.partner_weight}" if model.config.partner else ""
        log(
            f"decoding: outside bias {decoding.outside_bias:+.3f}, inside bias {decoding.inside_bias:+.3f}{partner}, "
            f"validation SI F1 {decoding.si_f1:.4f}"
        )
        correction = fit_prior_correction(model, validation, heads.validation_encoded)
        log(
            f"technique prior correction {correction.strength:.2f}: validation TC micro-F1 "
            f"{correction.tc_micro_f1:.4f}, macro-F1 {correction.tc_macro_f1:.4f}"
        )
    model.config.calibration = fit_calibration(model, validation, heads.validation_encoded) if validation else {}
    model.config.sentence_calibration = (
        fit_sentence_calibration(model, validation, heads.validation_encoded) if validation else {}
    )
    model.config.encoder_sha256 = ENCODERS[model.config.encoder].weights_sha256
    model.config.metrics.update(
        heads.metrics,
        train_documents=len(train),
        validation_documents=len(validation),
        training_seconds=round(time.perf_counter() - started, 1),
    )
    return model


def fit_triage_model(
    model: TriageModel,
    train: Sequence[AnnotatedDocument],
    validation: Sequence[AnnotatedDocument],
    *,
    seed: int = 13,
    log: Callable[[str], None] = logger.info,
    device: str = "cpu",
) -> TriageModel:
    """Train a ``triage`` model (needs torch): weights, epoch and decoding chosen on ``validation``,
    then the score calibration fitted there, as for the other presets."""
    try:
        from propscan.training.triage import fit_triage
    except ImportError as error:
        raise _torch_missing(error) from None
    if not model.config.labels:
        raise ModelError("the configuration lists no technique labels")
    fit_triage(model, train, validation, seed=seed, log=log, device=device)
    model.config.technique_shares = technique_shares(train, model.config.labels)
    if validation:
        correction = fit_prior_correction(model, validation)
        log(f"technique prior correction {correction.strength:.2f}")
    model.config.calibration = fit_calibration(model, validation) if validation else {}
    model.config.sentence_calibration = fit_sentence_calibration(model, validation) if validation else {}
    if validation:
        report = evaluate(model, list(validation))
        model.config.metrics.update(
            validation_si_precision=round(report["si"].precision, 4),
            validation_si_recall=round(report["si"].recall, 4),
            validation_tc_micro_f1=round(report["tc"].micro.f1, 4),
        )
    return model


def add_taggers(
    model: PropagandaModel,
    train: Sequence[AnnotatedDocument],
    validation: Sequence[AnnotatedDocument],
    *,
    count: int,
    seed: int = 13,
    log: Callable[[str], None] = logger.info,
    device: str = "cpu",
) -> None:
    """Join ``count`` more taggers to a trained model's, trained on its encoder states with the seeds
    after its own, as ``ModelConfig.tagger_seeds`` would have trained them (needs torch).

    The classifier keeps the states it was trained on; the spans move, so the decoding and the
    calibration must be chosen again (``fit_decoding``, ``fit_calibration``).
    """
    try:
        from propscan.training.fitting import fit_more_taggers, join_taggers
    except ImportError as error:
        raise _torch_missing(error) from None
    graph, transitions = fit_more_taggers(
        model.config,
        model.encoder,
        train,
        validation,
        count=count,
        seed=seed + model.config.tagger_seeds,
        log=log,
        device=device,
    )
    graphs = model.head_graphs
    weights = [model.config.tagger_seeds, count]  # each seed weighs the same
    model.set_heads(
        join_taggers([graphs["tagger.onnx"], graph], weights),
        graphs["classifier.onnx"],
        Transitions.mean([model.transitions_, transitions], weights),
    )
    model.config.tagger_seeds += count


def _torch_missing(error: ImportError) -> ModelError:
    return ModelError(f"training needs torch ({error.name} is missing); install it with: pip install 'propscan[train]'")


def fit_decoding(
    model: PropagandaModel, documents: Sequence[AnnotatedDocument], encoded: Sequence[EncodedText] | None = None
) -> Decoding:
    """Choose the decoding biases with the best SI F1 on held-out ``documents``, and the partner
    tagger's weight where the model has one, and set them on the model; its calibration, fitted on
    spans decoded otherwise, must be fitted again after this."""
    units = list(encoded) if encoded is not None else model.encode([d.document.text for d in documents])
    offsets = [enc.offsets for enc in units]
    emissions = [model.tagger_outputs(enc)[0] for enc in units]
    decoding = choose_decoding(documents, offsets, emissions, model.transitions_)
    if model.partner_ is not None:
        votes = [model.partner_emissions(d.document.text, enc) for d, enc in zip(documents, units, strict=True)]
        alone = decoding.si_f1
        model.config.partner_weight, decoding = choose_partner_weight(
            documents, offsets, emissions, votes, model.transitions_, decoding
        )
        model.config.metrics["validation_si_f1_alone"] = round(alone, 4)
    model.config.outside_bias, model.config.inside_bias = decoding.outside_bias, decoding.inside_bias
    model.config.metrics["validation_si_f1"] = round(decoding.si_f1, 4)
    return decoding


def fit_prior_correction(
    model: Model, documents: Sequence[AnnotatedDocument], encoded: Sequence[Any] | None = None
) -> PriorCorrection:
    """Choose how much of the training prior over techniques (``config.technique_shares``) the
    technique probabilities give back, on held-out ``documents``, and set it on the model; its
    calibration must be fitted again after this."""
    units: list[Any] = (
        list(encoded) if encoded is not None else list(model.encode([d.document.text for d in documents]))
    )
    model.config.prior_correction = 0.0
    probabilities = []
    for document, enc in zip(documents, units, strict=True):
        spans = list(dict.fromkeys((s.start, s.end) for s in document.spans))
        rows = model.technique_probabilities(document.document, spans, enc) if spans else np.zeros((0, 0))
        probabilities.append(dict(zip(spans, rows, strict=True)))
    correction = choose_prior_correction(documents, probabilities, model.config)
    model.config.prior_correction = correction.strength
    model.config.metrics.update(
        validation_tc_micro_f1=round(correction.tc_micro_f1, 4), validation_tc_macro_f1=round(correction.tc_macro_f1, 4)
    )
    return correction


def fit_calibration(
    model: Model, documents: Sequence[AnnotatedDocument], encoded: Sequence[Any] | None = None
) -> dict[str, float]:
    """Fit the map from a span's tagger confidence and technique probability to the share of such
    spans that are right, on annotated documents the model did not train on.

    Every found span contributes its top techniques (those a reader can see, as the technique or
    as alternatives), each right when a gold span of that technique overlaps it.
    """
    from propscan.training.fitting import fit_logistic_calibration

    units: list[Any] = (
        list(encoded) if encoded is not None else list(model.encode([d.document.text for d in documents]))
    )
    points, right = [], []
    scored = model.scored_spans([d.document for d in documents], units)
    for document, candidates in zip(documents, scored, strict=True):
        for found, probabilities in candidates:
            for label_id in np.argsort(-probabilities, kind="stable")[:CALIBRATION_CANDIDATES]:
                points.append((found.score, float(probabilities[label_id])))
                span = Span(found.start, found.end, model.config.labels[label_id])
                right.append(is_right(span, document.spans))
    return fit_logistic_calibration(points, right)


def fit_sentence_calibration(
    model: Model, documents: Sequence[AnnotatedDocument], encoded: Sequence[Any] | None = None
) -> dict[str, float]:
    """Fit the map from the spans touching a sentence (``sentences.features``) to whether annotators
    marked something in it, on annotated documents the model did not train on. It reads the spans'
    calibrated scores: fit it after ``fit_calibration``.

    A weight of ``sentences.MONOTONE`` fitted below 0 (``triage``'s best score, with its span count
    beside it) is held at 0 and the rest refitted: a reader's surer span never lowers its sentence.
    """
    from propscan.training.fitting import fit_logistic

    units: list[Any] = (
        list(encoded) if encoded is not None else list(model.encode([d.document.text for d in documents]))
    )
    predicted = model.predict([d.document for d in documents], units)
    best, count, marked = sentence_outcomes(documents, predicted)
    columns = dict(zip(SENTENCE_FEATURES, sentence_features(best, count).T, strict=True))
    kept = list(SENTENCE_FEATURES)
    while True:
        table = fit_logistic(np.column_stack([columns[name] for name in kept]), marked, kept)
        negative = [name for name in MONOTONE if table.get(name, 0.0) < 0]
        if not negative:
            break
        kept.remove(min(negative, key=table.__getitem__))
    if not table:
        return {}
    return {name: table.get(name, 0.0) for name in SENTENCE_FEATURES} | {"intercept": table["intercept"]}


def sentence_outcomes(
    documents: Sequence[AnnotatedDocument], predicted: Sequence[Sequence[Span]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over every sentence of ``documents``: the best score and the number of the ``predicted``
    spans touching it (``sentences.evidence``), and whether a gold span touches it (empty arrays
    for no documents)."""
    best, count, marked = [np.zeros(0)], [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=bool)]
    for document, spans in zip(documents, predicted, strict=True):
        sentences = document.document.sentences()
        found = evidence(sentences, spans)
        best.append(found[0])
        count.append(found[1])
        marked.append(evidence(sentences, document.spans)[1] > 0)
    return np.concatenate(best), np.concatenate(count), np.concatenate(marked)


def report_metrics(report: dict, prefix: str) -> dict[str, float]:
    """The headline figures of an ``evaluate`` report, rounded, under ``prefix``."""
    tc = report["tc"]
    return {
        f"{prefix}_si_precision": round(report["si"].precision, 4),
        f"{prefix}_si_recall": round(report["si"].recall, 4),
        f"{prefix}_si_f1": round(report["si"].f1, 4),
        f"{prefix}_median_span_chars": report["median_span_chars"],
        f"{prefix}_tc_micro_f1": round(tc.micro.f1, 4),
        f"{prefix}_tc_macro_f1": round(tc.macro_f1, 4),
        f"{prefix}_ece": round(report["ece"], 4),
        f"{prefix}_sentence_ece": round(report["sentence_ece"], 4),
        f"{prefix}_article_score_mae": round(report["article_score_mae"], 4),
    }


def evaluate(model: Model, documents: list[AnnotatedDocument]) -> dict:
    """SI scores and span lengths of end-to-end predictions, their calibration (each predicted
    span's score against whether it is right), and TC scores of labelling the gold spans; with each
    article's counts behind both, for intervals (``scoring.bootstrap_intervals``)."""
    # EncodedText for PropagandaModel, WordUnits for TriageModel: each model reads its own.
    encoded: list[Any] = list(model.encode([d.document.text for d in documents]))
    predicted = model.predict([d.document for d in documents], encoded)
    gold = {d.document.id: d.spans for d in documents}
    si = si_counts(gold, {d.document.id: spans for d, spans in zip(documents, predicted, strict=True)})
    tc = tc_counts(gold, tc_predictions(model, documents, encoded))
    scores, right = [], []
    for document, spans in zip(documents, predicted, strict=True):
        for span in spans:
            scores.append(span.score or 0.0)
            right.append(is_right(span, document.spans))
    calibration = reliability(scores, right)
    sentence_scores, sentence_marked, article_errors = [np.zeros(0)], [np.zeros(0, dtype=bool)], []
    for document, spans in zip(documents, predicted, strict=True):
        best, count, marked = sentence_outcomes([document], [spans])
        scored = sentence_probabilities(model.config.sentence_calibration, best, count)
        sentence_scores.append(scored)
        sentence_marked.append(marked)
        article_errors.append(abs(scored.mean() - marked.mean()) if len(marked) else 0.0)
    # As SI sees them: a span nested in another (``ModelConfig.nested_techniques``) adds no length of its own.
    lengths = sorted(
        end - start for spans in predicted for start, end in merge_intervals((s.start, s.end) for s in spans)
    )
    return {
        "si": sum(si.values(), SICounts()).prf(),
        "tc": sum(tc.values(), TCCounts()).report(),
        "si_counts": si,
        "tc_counts": tc,
        "ece": calibration.ece,
        "reliability": calibration,
        # Each sentence's score against whether a gold span touches it; each article's mean score
        # against its share of such sentences.
        "sentence_ece": reliability(np.concatenate(sentence_scores), np.concatenate(sentence_marked)).ece,
        "article_score_mae": float(np.mean(article_errors)) if article_errors else 0.0,
        "span_lengths": lengths,
        "median_span_chars": lengths[len(lengths) // 2] if lengths else 0,
        "predicted": predicted,
    }


def tc_on_gold_spans(model: Model, documents: list[AnnotatedDocument], encoded=None) -> TCReport:
    """Label every gold span (as the TC task does) and score it."""
    return tc_score({d.document.id: d.spans for d in documents}, tc_predictions(model, documents, encoded))


def tc_predictions(model: Model, documents: list[AnnotatedDocument], encoded=None) -> dict[str, list[Span]]:
    """Every gold span of each article labelled by ``model``, as the TC task asks."""
    encoded = encoded if encoded is not None else model.encode([d.document.text for d in documents])
    return {
        d.document.id: model.classify(d.document, [(s.start, s.end) for s in d.spans], enc)
        for d, enc in zip(documents, encoded, strict=True)
    }
