"""From text to token features: a frozen encoder over sliding windows, plus surface cues.

The whole article is tokenized once with character offsets, cut into overlapping windows that
fit the encoder, and every token keeps the representation from the window where it sits most
centrally, so long articles are processed whole and never truncated. Cues the lowercasing
tokenizers lose (capitals, quotes) and article-level repetition are added as explicit features.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from propscan.model.encoders import encoder_path

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
_QUOTES = "\"“”«»"


@dataclass
class EncodedText:
    """Token-level view of one text.

    Attributes:
        offsets: (n, 2) character offsets of each token in the original text.
        layers: (n, top_layers, dim) encoder states; fp16 when cached for training.
        surface: (n, len(SURFACE_FEATURES)) float32 surface features.
    """

    offsets: np.ndarray
    layers: torch.Tensor
    surface: torch.Tensor

    def __len__(self) -> int:
        return len(self.offsets)


class TokenEncoder:
    """A frozen Hugging Face encoder that turns texts into ``EncodedText``, windows and all."""

    def __init__(self, encoder: str, *, top_layers: int, window: int, overlap: int, batch_windows: int = 16):
        self.path = encoder_path(encoder)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        self.model = AutoModel.from_pretrained(self.path).eval()
        self.top_layers = top_layers
        self.content = window - 2  # room for [CLS] and [SEP]
        self.overlap = overlap
        self.batch_windows = batch_windows
        self.dim = self.model.config.hidden_size

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> list[EncodedText]:
        """Encode several texts, batching their windows together for the encoder."""
        if not texts:
            return []
        tokenized = self.tokenizer(
            texts, add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False, verbose=False
        )
        plans = [self._windows(len(ids)) for ids in tokenized["input_ids"]]
        jobs = [(t, start) for t, starts in enumerate(plans) for start in starts]
        states: dict[tuple[int, int], torch.Tensor] = {}
        for first in range(0, len(jobs), self.batch_windows):
            batch = jobs[first : first + self.batch_windows]
            outputs = self._forward([tokenized["input_ids"][t][s : s + self.content] for t, s in batch])
            for (t, s), state in zip(batch, outputs, strict=True):
                states[(t, s)] = state
        encoded = []
        for t, text in enumerate(texts):
            offsets = np.asarray(tokenized["offset_mapping"][t], dtype=np.int64).reshape(-1, 2)
            layers = self._stitch(len(offsets), plans[t], [states[(t, s)] for s in plans[t]])
            encoded.append(EncodedText(offsets, layers, torch.from_numpy(surface_features(text, offsets))))
        return encoded

    def _windows(self, n_tokens: int) -> list[int]:
        if n_tokens <= self.content:
            return [0] if n_tokens else []
        stride = self.content - self.overlap
        starts = list(range(0, n_tokens - self.content, stride))
        return starts + [n_tokens - self.content]

    def _forward(self, pieces: list[list[int]]) -> list[torch.Tensor]:
        longest = max(len(p) for p in pieces) + 2
        ids = torch.full((len(pieces), longest), self.tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(pieces), longest), dtype=torch.long)
        for row, piece in enumerate(pieces):
            ids[row, : len(piece) + 2] = torch.tensor([self.tokenizer.cls_token_id, *piece, self.tokenizer.sep_token_id])
            mask[row, : len(piece) + 2] = 1
        hidden = self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        top = torch.stack(hidden[-self.top_layers :], dim=2)  # (batch, length, layers, dim)
        return [top[row, 1 : len(piece) + 1] for row, piece in enumerate(pieces)]

    def _stitch(self, n_tokens: int, starts: list[int], states: list[torch.Tensor]) -> torch.Tensor:
        """Keep, for each token, the state from the window where it is furthest from an edge."""
        out = torch.zeros((n_tokens, self.top_layers, self.dim))
        # Consecutive windows hand over in the middle of their overlap.
        bounds = [0]
        for k in range(1, len(starts)):
            bounds.append((starts[k] + starts[k - 1] + len(states[k - 1])) // 2)
        bounds.append(n_tokens)
        for k, (start, state) in enumerate(zip(starts, states, strict=True)):
            out[bounds[k] : bounds[k + 1]] = state[bounds[k] - start : bounds[k + 1] - start]
        return out


def surface_features(text: str, offsets: np.ndarray) -> np.ndarray:
    """Casing, punctuation, quotation, title and repetition cues for each token."""
    features = np.zeros((len(offsets), len(SURFACE_FEATURES)), dtype=np.float32)
    if not len(offsets):
        return features
    title_end = text.find("\n") if "\n" in text else len(text)
    words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    word_counts = Counter(w for _, _, w in words)
    trigram_counts = Counter(tuple(w for _, _, w in words[i : i + 3]) for i in range(len(words) - 2))
    repeated = np.zeros(len(text) + 1, dtype=bool)
    for i in range(len(words) - 2):
        if trigram_counts[tuple(w for _, _, w in words[i : i + 3])] > 1:
            repeated[words[i][0] : words[i + 2][1]] = True
    word_repeats = np.zeros(len(text) + 1, dtype=np.float32)
    for start, end, word in words:
        if len(word) >= 4 and word_counts[word] > 1:
            word_repeats[start:end] = math.log(word_counts[word])
    inside = _inside_quotes(text)
    previous_end = 0
    for i, (start, end) in enumerate(offsets):
        piece = text[start:end]
        letters = [c for c in piece if c.isalpha()]
        gap = text[previous_end:start]
        at_word_start = start == 0 or not text[start - 1].isalnum()
        features[i] = (
            at_word_start and piece[:1].isupper(),
            len(letters) > 1 and all(c.isupper() for c in letters),
            bool(piece) and not any(c.isalnum() for c in piece),
            any(c in _QUOTES for c in piece),
            start < title_end,
            word_repeats[start],
            repeated[start],
            i == 0 or "\n" in gap or text[previous_end - 1 : previous_end] in (".", "!", "?"),
            inside[start],
            any(c.isdigit() for c in piece),
        )
        previous_end = end
    return features


def _inside_quotes(text: str) -> np.ndarray:
    """True for characters between an opening and a closing quote on the same line."""
    inside = np.zeros(len(text) + 1, dtype=bool)
    state = False
    opened = 0
    for position, char in enumerate(text):
        if char == "\n":
            state = False
        elif char in _QUOTES:
            if state:
                inside[opened:position] = True
            state, opened = not state, position + 1
    return inside
