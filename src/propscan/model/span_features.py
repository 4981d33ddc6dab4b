"""What the technique classifier sees of a span, computed the same way in training and inference.

A span is described by its own tokens (mean of encoder layers and of the tagger's contextual
states, first and last state), its sentence (mean of encoder layers), and surface cues the
encoder cannot see: length, capitals, punctuation, and how often the same words recur in the
article (Repetition is one label in ten).
"""

from __future__ import annotations

import bisect
import math
import re
from functools import lru_cache

import numpy as np

from propscan.document import split_sentences
from propscan.model.features import EncodedText

_NON_WORD = re.compile(r"\W+")


def span_representations(
    text: str, enc: EncodedText, states: np.ndarray, token_ranges: list[tuple[int, int]], *, context: int = 0
) -> np.ndarray:
    """One float32 feature row per ``[first, last)`` token range.

    With ``context`` > 0 a row also holds the mean of the ``context`` tokens on each side and the
    top layer's maximum over the span: the words around a phrase often decide its technique
    ("according to", "so-called", a question mark).
    """

    def mean_state(first: int, last: int) -> np.ndarray:
        """Mean over tokens and layers, computed per range: the whole article's states are never copied."""
        return enc.layers[first:last].mean(axis=(0, 1), dtype=np.float32)

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
            np.concatenate(
                [
                    mean_state(int(first), int(last)),
                    states[first:last].mean(axis=0),
                    states[first],
                    states[last - 1],
                    mean_state(int(s_first), int(s_last)),
                    *(_context_states(enc, first, last, context) if context else ()),
                    np.asarray(span_surface(text, char_start, char_end, last - first, sentence), dtype=np.float32),
                ]
            )
        )
    return np.stack(rows).astype(np.float32, copy=False)


def _context_states(enc: EncodedText, first: int, last: int, context: int) -> tuple[np.ndarray, ...]:
    """Mean of the layers over ``context`` tokens before and after the span (zeros at an edge),
    and the top layer's maximum over the span."""
    dim = enc.layers.shape[-1]
    before = enc.layers[max(first - context, 0) : first]
    after = enc.layers[last : last + context]
    return (
        before.mean(axis=(0, 1), dtype=np.float32) if len(before) else np.zeros(dim, np.float32),
        after.mean(axis=(0, 1), dtype=np.float32) if len(after) else np.zeros(dim, np.float32),
        enc.layers[first:last, -1].max(axis=0).astype(np.float32),
    )


def span_surface(text: str, start: int, end: int, n_tokens: int, sentence: tuple[int, int]) -> list[float]:
    """Surface features of ``text[start:end]``: log length in chars and tokens, log repeat count,
    repeated?, upper-case ratio, title-case word ratio, ?/! in the sentence, quoted?, in the title?,
    relative position in the article, covers the whole sentence?"""
    piece = text[start:end]
    key = _NON_WORD.sub(" ", piece.lower()).strip()
    repeats = _count_occurrences(_normalized(text), key) if key else 1
    words = piece.split()
    letters = [c for c in piece if c.isalpha()]
    title_end = text.find("\n") if "\n" in text else len(text)
    return [
        math.log1p(len(piece)),
        math.log1p(n_tokens),
        math.log(max(repeats, 1)),
        float(repeats > 1),
        sum(c.isupper() for c in letters) / max(len(letters), 1),
        sum(w[:1].isupper() for w in words) / max(len(words), 1),
        float("?" in text[start : sentence[1]]),
        float("!" in text[start : sentence[1]]),
        float(text[max(start - 1, 0) : start] in "\"“'" and start > 0),
        float(start < title_end),
        start / max(len(text), 1),
        float(end - start >= 0.8 * (sentence[1] - sentence[0])),
    ]


@lru_cache(maxsize=16)
def _normalized(text: str) -> str:
    """Lower-cased text with punctuation runs as single spaces and a space at each end; cached,
    as every span of a text asks."""
    return f" {_NON_WORD.sub(' ', text.lower())} "


def _count_occurrences(haystack: str, words: str) -> int:
    """Whole-word occurrences of ``words`` in a ``_normalized`` text, where every word boundary is
    a space; consecutive occurrences may share the space between them."""
    needle = f" {words} "
    count, found = 0, haystack.find(needle)
    while found >= 0:
        count += 1
        found = haystack.find(needle, found + len(needle) - 1)
    return count


def token_range(offsets: np.ndarray, start: int, end: int) -> tuple[int, int]:
    """Tokens overlapping ``[start, end)``; the nearest token if none does (never empty)."""
    if not len(offsets):
        return 0, 0
    first = int(np.searchsorted(offsets[:, 1], start, side="right"))
    last = int(np.searchsorted(offsets[:, 0], end, side="left"))
    first = min(first, len(offsets) - 1)
    return first, max(last, first + 1)
