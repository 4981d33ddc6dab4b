"""The ``triage`` model: propaganda spans without an encoder pass, for screening whole crawls.

Words are looked up in a static embedding table distilled from the encoder (``encoders.static``)
rather than run through it; a learned projection of that table and of surface cues feeds a
one-layer BiGRU over each sentence (onnxruntime's GRU, a whole article's sentences in one padded
call) gives each word a probability of being inside a span and one of beginning a span. A word is
inside a span when the first reaches a threshold, and a run of such words is cut where the second
is high; small gaps are filled and tiny spans dropped, all as chosen on validation articles. A
linear head on each span's mean state gives its technique, and the score is calibrated as in the
other presets.

The same surface as ``PropagandaModel`` (``encode``, ``predict``, ``scored_spans``, ``classify``,
``save``, ``load``), so the analyzer, the CLI, the API, batch jobs and ``evaluate`` take either.
Inference needs numpy and onnxruntime only.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from propscan.document import Alternative, Document, Span
from propscan.errors import ModelError, NotFittedError
from propscan.model.config import TriageConfig
from propscan.model.decoding import FoundSpan, trim
from propscan.model.encoders import encoder_path
from propscan.model.encoders.static import static_table
from propscan.model.integrity import self_contained_onnx, write_manifest
from propscan.model.propaganda import (
    MAX_ALTERNATIVES,
    calibrated_scores,
    checked_config,
    label_listed_spans,
    prior_corrected,
)
from propscan.model.runtime import inference_session
from propscan.model.span_features import token_range
from propscan.model.words import SURFACE_FEATURES, WordEncoder, WordUnits
from propscan.settings import get_settings
from propscan.version import __version__

TRIAGE_FILES = ("config.json", "tagger.onnx", "heads.safetensors")
# Sentences per onnxruntime GRU call (``TriageModel._bigru``).
GRU_BATCH = 32
# The arrays of heads.safetensors: names and how their shapes follow from the config.
HEADS = ("embed", "surface", "bias", "context", "technique", "technique_bias")


class TriageModel:
    """Finds propaganda spans from static word embeddings; labels each with a technique.

    The constructor stores the configuration only; ``set_weights`` (training) or ``load`` sets
    the learned parts.

    Args:
        config: the model's configuration.
        threads: CPU threads for distilling the static table at first use and folding the
            projection into it at load (default: ``PROPSCAN_THREADS``); the network runs on one.
    """

    def __init__(self, config: TriageConfig, *, threads: int | None = None) -> None:
        self.config = config
        self.threads = threads or get_settings().threads
        self._encoder: WordEncoder | None = None
        self._lock = threading.RLock()  # reentrant: predict holds it from encoding to the table lookup
        self._table = np.zeros((0, config.projection), dtype=np.float32)  # the projected table, set when fitted
        self._generation = -1

    # ----------------------------------------------------------------------------- encoding
    @property
    def encoder(self) -> WordEncoder:
        if self._encoder is None:
            from tokenizers import Tokenizer

            self._encoder = WordEncoder(Tokenizer.from_file(str(encoder_path(self.config.encoder) / "tokenizer.json")))
        return self._encoder

    def encode(self, texts: Sequence[str]) -> list[WordUnits]:
        with self._lock:
            return self.encoder.encode(list(texts))

    # ----------------------------------------------------------------------------- prediction
    def predict(self, documents: Sequence[Document], encoded: Sequence[WordUnits] | None = None) -> list[list[Span]]:
        """Find and label the technique spans of each document.

        One thread: cutting a batch in halves analyzed side by side measured slower (90-99 against
        120-155 articles/s), as word splitting holds the GIL most of the time.
        """
        if encoded is not None:
            return [self._labelled(scored) for scored in self.scored_spans(documents, list(encoded))]
        # Held until the rows are looked up: another thread's encoding may restart the word memory.
        with self._lock:
            units = self.encode([d.text for d in documents])
            return [self._labelled(scored) for scored in self.scored_spans(documents, units)]

    def scored_spans(
        self, documents: Sequence[Document], encoded: Sequence[WordUnits]
    ) -> list[list[tuple[FoundSpan, np.ndarray]]]:
        """The spans found in each document, each with the probabilities of every technique.

        The documents' sentences go through the BiGRU together, so a batch of short articles
        costs a few calls rather than one per article.
        """
        outputs = self.word_outputs(list(encoded))
        scored = []
        for document, units, (states, inputs, probabilities) in zip(documents, encoded, outputs, strict=True):
            found = decode_words(
                document.text,
                units,
                probabilities,
                threshold=self.config.threshold,
                begin_threshold=self.config.begin_threshold,
                peak_threshold=self.config.peak_threshold,
                fill_gap=self.config.fill_gap,
                min_chars=self.config.min_chars,
            )
            ranges = [(f.first_token, f.last_token) for f in found]
            scored.append(list(zip(found, self._techniques(states, inputs, ranges), strict=True)))
        return scored

    def _labelled(self, scored: list[tuple[FoundSpan, np.ndarray]]) -> list[Span]:
        """``labelled_span`` for every span of a document, the calibration computed for all at once."""
        if not scored:
            return []
        labels, floor, table = self.config.labels, self.config.alternative_floor, self.config.calibration
        probabilities = np.stack([p for _, p in scored]).astype(np.float64)
        confidence = np.asarray([f.score for f, _ in scored], dtype=np.float64)
        if table:
            confidence = np.clip(confidence, 1e-6, 1 - 1e-6)
            logit = table["tagger"] * np.log(confidence / (1 - confidence)) + table["intercept"]
            technique = table["technique"] * np.log(np.maximum(probabilities, 1e-6))
            scores = 1.0 / (1.0 + np.exp(-(logit[:, None] + technique)))
        else:
            scores = confidence[:, None] * probabilities
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, : 1 + MAX_ALTERNATIVES].tolist()
        spans = []
        for (found, _), ranked, row in zip(scored, order, scores.tolist(), strict=True):
            alternatives = tuple(Alternative(labels[k], row[k]) for k in ranked[1:] if row[k] >= floor)
            spans.append(Span(found.start, found.end, labels[ranked[0]], row[ranked[0]], alternatives))
        return spans

    def word_outputs(self, encoded: list[WordUnits]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """For each text: every word's BiGRU state (n, 2 * hidden), its projected input
        (n, projection) and its probabilities of being inside a propaganda span and of beginning
        one (n, 2)."""
        self._fitted()
        sizes = [len(u) for u in encoded]
        if not sum(sizes):
            return [self._empty_outputs() for _ in encoded]
        if any(u.generation != self.encoder.generation for u in encoded):
            raise ModelError("these word encodings predate the encoder's last memory restart; encode the texts again")
        embedded = self._embedded(np.concatenate([u.rows for u in encoded]))
        embedded += self.heads_["bias"]
        firsts = np.cumsum([0, *sizes[:-1]]).tolist()
        for first, size, units in zip(firsts, sizes, encoded, strict=True):  # each word sees its article's mean
            if size:
                words = embedded[first : first + size]
                mean = words.mean(axis=0) + units.surface.mean(axis=0) @ self.heads_["surface"]
                words += mean @ self.heads_["context"]
        surface = np.concatenate([u.surface for u in encoded])
        seg_starts = np.concatenate([u.segments[:-1] + first for u, first in zip(encoded, firsts, strict=True)])
        seg_lengths = np.concatenate([np.diff(u.segments) for u in encoded])
        inputs, states, probabilities = self._network(embedded, surface, seg_starts, seg_lengths)
        bounds = np.cumsum([0, *sizes]).tolist()
        return [(states[a:b], inputs[a:b], probabilities[a:b]) for a, b in itertools.pairwise(bounds)]

    def _empty_outputs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hidden, projection = 2 * self.config.gru_hidden, self.config.projection
        return np.zeros((0, hidden), np.float32), np.zeros((0, projection), np.float32), np.zeros((0, 2), np.float32)

    def _network(
        self, embedded: np.ndarray, surface: np.ndarray, seg_starts: np.ndarray, seg_lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the word graph over every sentence, in padded batches of similar length; returns
        each word's input (after tanh), BiGRU state, and inside and begin probabilities.

        Batches of ``GRU_BATCH`` sentences sorted by length: onnxruntime's GRU measured slower per
        word on wider batches, and sorting keeps the padding small.
        """
        n = len(embedded)
        inputs = np.empty((n, self.config.projection), dtype=np.float32)
        states = np.empty((n, 2 * self.config.gru_hidden), dtype=np.float32)
        probabilities = np.empty((n, 2), dtype=np.float32)
        order = np.argsort(seg_lengths, kind="stable")
        for first in range(0, len(order), GRU_BATCH):
            chosen = order[first : first + GRU_BATCH]
            lengths = seg_lengths[chosen]
            slot = np.repeat(np.arange(len(chosen)), lengths)
            position = np.arange(len(slot)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            words = seg_starts[chosen][slot] + position
            shape = (int(lengths.max()), len(chosen))
            padded = np.zeros((*shape, embedded.shape[1]), dtype=np.float32)
            padded[position, slot] = embedded[words]
            cues = np.zeros((*shape, surface.shape[1]), dtype=np.float32)
            cues[position, slot] = surface[words]
            out = self.tagger_.run(None, {"embedded": padded, "surface": cues, "lengths": lengths.astype(np.int32)})
            inputs[words] = out[0][position, slot]
            states[words] = out[1][position, slot]
            probabilities[words] = out[2][position, slot]
        return inputs, states, probabilities

    def _embedded(self, rows: np.ndarray) -> np.ndarray:
        """Projected static embeddings of table rows; rows of words of several pieces (the mean of
        their pieces' rows) are added to the table as the encoder meets them."""
        table = self._table
        if rows.max(initial=0) >= len(table) or self._generation != self.encoder.generation:
            with self._lock:
                table = self._grown_table()
        return table[rows]

    def _grown_table(self) -> np.ndarray:
        encoder, base = self.encoder, self._table[: self.encoder.vocabulary_size]
        if self._generation != encoder.generation:
            self._table, self._generation = base, encoder.generation
        known = len(self._table) - encoder.vocabulary_size
        new = encoder.compounds[known:]
        if new:
            self._table = np.concatenate([self._table, np.stack([base[list(p)].mean(axis=0) for p in new])])
        return self._table

    def _techniques(self, states: np.ndarray, inputs: np.ndarray, ranges: list[tuple[int, int]]) -> np.ndarray:
        """Technique probabilities of each ``[first, last)`` word range, from its mean state and input."""
        if not ranges:
            return np.zeros((0, len(self.config.labels)), dtype=np.float32)
        first, last = np.asarray(ranges).T
        sizes = (last - first)[:, None]
        if np.all(first[1:] >= last[:-1]):  # decoded spans: in order, apart; one reduceat for all
            bounds = np.stack([first, last], axis=1).ravel()
            with_end = np.concatenate([states, np.zeros((1, states.shape[1]), np.float32)])
            pooled_states = np.add.reduceat(with_end, bounds)[::2] / sizes
            with_end = np.concatenate([inputs, np.zeros((1, inputs.shape[1]), np.float32)])
            pooled_inputs = np.add.reduceat(with_end, bounds)[::2] / sizes
        else:
            pooled_states = np.stack([states[a:b].mean(axis=0) for a, b in ranges])
            pooled_inputs = np.stack([inputs[a:b].mean(axis=0) for a, b in ranges])
        technique = self.heads_["technique"]
        split = states.shape[1]
        logits = pooled_states @ technique[:split] + pooled_inputs @ technique[split:] + self.heads_["technique_bias"]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return prior_corrected(exp / exp.sum(axis=1, keepdims=True), self.config)

    def classify(
        self, document: Document, spans: Sequence[tuple[int, int]], encoded: WordUnits | None = None
    ) -> list[Span]:
        """Technique classification of given character spans; a span listed k times gets its k
        most likely techniques (as ``PropagandaModel.classify``)."""
        unique = list(dict.fromkeys(spans))
        probabilities = self.technique_probabilities(document, unique, encoded)
        return label_listed_spans(spans, dict(zip(unique, probabilities, strict=True)), self.config.labels)

    def technique_probabilities(
        self, document: Document, spans: Sequence[tuple[int, int]], encoded: WordUnits | None = None
    ) -> np.ndarray:
        """Each character span's probability of every technique: one row per span, in order."""
        units = encoded if encoded is not None else self.encode([document.text])[0]
        [(states, inputs, _)] = self.word_outputs([units])
        return self._techniques(states, inputs, [token_range(units.offsets, a, b) for a, b in spans])

    def calibrated(self, tagger_score: float, probabilities: np.ndarray) -> np.ndarray:
        return calibrated_scores(self.config.calibration, tagger_score, probabilities)

    def _fitted(self) -> TriageModel:
        if not hasattr(self, "tagger_"):
            raise NotFittedError(
                "This TriageModel is not fitted yet. Train it (propscan train --model triage) or use 'TriageModel.load'."
            )
        return self

    def set_weights(self, tagger_onnx: bytes, heads: dict[str, np.ndarray]) -> None:
        """Install the BiGRU graph and the numpy heads; fold the embedding projection into the table."""
        missing = [name for name in HEADS if name not in heads]
        if missing:
            raise ModelError(f"the triage heads lack {', '.join(missing)}")
        if heads["surface"].shape != (len(SURFACE_FEATURES), self.config.projection):
            raise ModelError(f"the triage heads expect {heads['surface'].shape[0]} surface features")
        self._graph = tagger_onnx
        # Contiguous: safetensors would save a transposed view's buffer as if it were not transposed.
        self.heads_ = {name: np.ascontiguousarray(heads[name], dtype=np.float32) for name in HEADS}
        # One thread: the graph's products are small and its GRU steps short; a second thread
        # measured slower on the shared 2-core machine (README, Triage).
        self.tagger_ = inference_session(tagger_onnx, threads=1)
        table = static_table(self.config.encoder, threads=self.threads)
        self._table = table.astype(np.float32) @ self.heads_["embed"]
        self._generation = -1

    # ----------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> None:
        """Write the config, the BiGRU graph and the heads (the embedding table is built from PyPI)."""
        self._fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.propscan_version = __version__
        (folder / "tagger.onnx").write_bytes(self._graph)
        save_file(self.heads_, str(folder / "heads.safetensors"))
        self.config.save(folder)
        write_manifest(folder, TRIAGE_FILES)

    @classmethod
    def load(cls, folder: str | Path, *, threads: int | None = None, **overrides) -> TriageModel:
        """Load a model saved with ``save``; keyword arguments override config fields."""
        folder = Path(folder)
        missing = [name for name in TRIAGE_FILES if not (folder / name).exists()]
        if missing:
            raise ModelError(f"{folder} is not a propscan triage model: it lacks {', '.join(missing)}")
        config = checked_config(folder, TriageConfig, TRIAGE_FILES, overrides)
        model = cls(config, threads=threads)
        graph = self_contained_onnx((folder / "tagger.onnx").read_bytes(), folder / "tagger.onnx")
        try:
            heads = load_file(str(folder / "heads.safetensors"))
        except SafetensorError as error:
            raise ModelError(f"{folder / 'heads.safetensors'} is not a weights file ({error})") from None
        try:
            model.set_weights(graph, heads)
        except ModelError:
            raise
        except Exception as error:  # onnxruntime raises its own kinds for graphs it cannot run
            raise ModelError(
                f"{folder} holds weights or a graph propscan cannot load ({type(error).__name__}); retrain the model"
            ) from None
        return model


def decode_words(
    text: str,
    units: WordUnits,
    probabilities: np.ndarray,
    *,
    threshold: float,
    fill_gap: int,
    min_chars: int,
    begin_threshold: float = 1.0,
    peak_threshold: float = 0.0,
) -> list[FoundSpan]:
    """Spans from word probabilities (n, 2: inside, begins a span): runs of words whose inside
    probability reaches ``threshold`` within a sentence, a run cut before each word whose begin
    probability exceeds ``begin_threshold`` (1: never), runs joined across gaps of at most
    ``fill_gap`` words unless the later one begins a span, kept if a word's inside probability
    reaches ``peak_threshold``, trimmed as PTC gold spans are, and kept if ``min_chars`` long or
    longer; each scored by its words' mean inside probability."""
    n = len(units)
    inside = probabilities[:, 0]
    on = inside >= threshold
    sentence_start = np.zeros(n + 1, dtype=bool)
    sentence_start[units.segments] = True
    segment_of = np.cumsum(sentence_start[:n]) - 1
    # Where a span may not continue from the word before: a sentence's start, or a sure beginning.
    fresh = sentence_start.copy()
    fresh[:n] |= probabilities[:, 1] > begin_threshold
    before = np.concatenate([[False], on[:-1]])
    after = np.concatenate([on[1:], [False]])
    firsts = np.flatnonzero(on & (~before | fresh[:n])).tolist()
    lasts = (np.flatnonzero(on & (~after | fresh[1:])) + 1).tolist()
    joined: list[tuple[int, int]] = []
    for first, last in zip(firsts, lasts, strict=True):
        if (
            joined
            and first - joined[-1][1] <= fill_gap
            and segment_of[first] == segment_of[joined[-1][1] - 1]
            and not fresh[first]
        ):
            joined[-1] = (joined[-1][0], last)
        else:
            joined.append((first, last))
    found = []
    for first, last in joined:
        if inside[first:last].max() < peak_threshold:
            continue
        start, end = trim(text, int(units.offsets[first, 0]), int(units.offsets[last - 1, 1]))
        if end - start >= max(min_chars, 1):
            found.append(FoundSpan(start, end, first, last, float(inside[first:last].mean())))
    return found
