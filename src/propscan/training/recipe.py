"""The training recipe behind ``propscan train``: split, fit, measure, save.

The validation split is a fixed hash of article ids (``split_ids``), so every run of the recipe
holds out the same articles and reported figures stay comparable between models.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from propscan.document import AnnotatedDocument
from propscan.errors import ModelError
from propscan.model import PRESETS, ModelConfig, PropagandaModel
from propscan.model.encoders import ENCODERS
from propscan.readers.ptc import split_ids
from propscan.scoring import TCReport, si_score, tc_score
from propscan.techniques import get_inventory

logger = logging.getLogger(__name__)


def preset_config(preset: str, inventory: str = "semeval2020") -> ModelConfig:
    """A fresh configuration for a named preset with the labels of ``inventory``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    config = copy.deepcopy(PRESETS[preset])
    config.inventory = inventory
    config.labels = list(get_inventory(inventory).labels)
    return config


def split_corpus(
    corpus: Sequence[AnnotatedDocument], validation_fraction: float = 0.15
) -> tuple[list[AnnotatedDocument], list[AnnotatedDocument]]:
    """The recipe's train and held-out documents: the same articles every time (``split_ids``)."""
    by_id = {d.document.id: d for d in corpus}
    train_ids, validation_ids = split_ids(by_id, validation_fraction)
    return [by_id[i] for i in train_ids], [by_id[i] for i in validation_ids]


def train(
    corpus: Sequence[AnnotatedDocument],
    config: ModelConfig,
    output: str | Path,
    *,
    validation_fraction: float = 0.15,
    log: Callable[[str], None] = logger.info,
) -> PropagandaModel:
    """Train a model on annotated documents, report held-out scores, and save it to ``output``.

    The corpus may come from any reader (PTC folders, Label Studio exports); labels must already
    belong to ``config.inventory``.
    """
    train_docs, validation_docs = split_corpus(corpus, validation_fraction)
    log(f"{len(train_docs)} training and {len(validation_docs)} validation articles")
    started = time.perf_counter()
    model = fit(PropagandaModel(config), train_docs, validation_docs, log=log)
    if validation_docs:
        report = evaluate(model, validation_docs)
        model.config.metrics.update(
            validation_si_precision=round(report["si"].precision, 4),
            validation_si_recall=round(report["si"].recall, 4),
            validation_si_f1=round(report["si"].f1, 4),
            validation_tc_micro_f1=round(report["tc"].micro.f1, 4),
        )
        log(f"validation SI F1 {report['si'].f1:.4f}, TC micro-F1 {report['tc'].micro.f1:.4f}")
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
) -> PropagandaModel:
    """Train the tagger and the classifier (needs torch); choose epochs and the outside bias on ``validation``.

    Args:
        train: documents with gold spans to learn from.
        validation: held-out documents used for early stopping and the SI threshold only.
    """
    try:
        from propscan.training.fitting import fit_heads
    except ImportError as error:
        raise ModelError(
            f"training needs torch ({error.name} is missing); install it with: pip install 'propscan[train]'"
        ) from None
    if not model.config.labels:
        raise ModelError("the configuration lists no technique labels")
    started = time.perf_counter()
    heads = fit_heads(model.config, model.encoder, train, validation, seed=seed, log=log)
    model.set_heads(heads.tagger_onnx, heads.classifier_onnx, heads.transitions)
    model.config.outside_bias = heads.outside_bias
    model.config.encoder_sha256 = ENCODERS[model.config.encoder].weights_sha256
    model.config.metrics.update(
        heads.metrics,
        train_documents=len(train),
        validation_documents=len(validation),
        training_seconds=round(time.perf_counter() - started, 1),
    )
    return model


def evaluate(model: PropagandaModel, documents: list[AnnotatedDocument]) -> dict:
    """SI scores of end-to-end predictions, and TC scores of labelling the gold spans."""
    encoded = model.encode([d.document.text for d in documents])
    predicted = model.predict([d.document for d in documents], encoded)
    gold = {d.document.id: d.spans for d in documents}
    si = si_score(gold, {d.document.id: spans for d, spans in zip(documents, predicted, strict=True)})
    return {"si": si, "tc": tc_on_gold_spans(model, documents, encoded)}


def tc_on_gold_spans(model: PropagandaModel, documents: list[AnnotatedDocument], encoded=None) -> TCReport:
    """Label every gold span (as the TC task does) and score it."""
    encoded = encoded if encoded is not None else model.encode([d.document.text for d in documents])
    predicted = {
        d.document.id: model.classify(d.document, [(s.start, s.end) for s in d.spans], enc)
        for d, enc in zip(documents, encoded, strict=True)
    }
    return tc_score({d.document.id: d.spans for d in documents}, predicted)
