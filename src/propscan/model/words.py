"""From text to word units for the ``triage`` model: offsets, wordpieces, sentences and surface cues.

Units are words and single punctuation marks (``\\w+`` or one other non-space character), found
with one regular expression; each keeps its character offsets into the original text. A word's
wordpieces come from the encoder's own fast tokenizer, asked once per distinct word and then
remembered, so the usual cost per word is a dictionary lookup. The model's embedding of a word is
the mean of its pieces' rows in a static table (``encoders.static``).

Words are grouped into segments, sentences capped at ``MAX_SEGMENT`` words, that the model reads
one at a time (a batch of them per article): what ``split_sentences`` calls a sentence, a line
break or a full stop followed by a space.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from propscan.model.features import inside_quotes

SURFACE_FEATURES = (
    "first_upper",
    "all_upper",
    "punctuation",
    "quote_mark",
    "in_title",
    "word_repeats",
    "in_repeated_trigram",
    "segment_start",
    "inside_quotes",
    "digit",
    "segment_exclaims",
    "segment_asks",
    "position_in_segment",
    "segment_length",
)
# Longer sentences are cut: a run-on "sentence" of thousands of words (a page without full stops)
# would otherwise set the padded length of the whole batch.
MAX_SEGMENT = 160
# Distinct words remembered; past it the memory starts again (a crawl
# brings names without end).
MAX_REMEMBERED = 400_000

# A unit and the whitespace before it: units and gaps make up the whole text, so offsets are sums
# of lengths (cheaper than a match object per word).
_SPACED_UNIT = re.compile(r"(\s*)(\w+|[^\w\s])")
_QUOTES = frozenset("\"“”«»'‘’")
_NEWLINE = re.compile("\n")
_ENDS = frozenset(".!?")
_CLOSERS = frozenset("\"'”’)]")


@dataclass
class WordUnits:
    """Word-level view of one text.

    Attributes:
        offsets: (n, 2) character offsets of each unit in the original text.
        rows: (n,) each unit's row in the embedding table: a wordpiece id below the vocabulary
            size, else a word of several pieces (``WordEncoder.compound_pieces``).
        surface: (n, len(SURFACE_FEATURES)) float32 surface cues.
        segments: (s + 1,) unit index where each segment starts, then n.
        generation: the encoder's memory that numbered ``rows``; after it starts again (past
            ``MAX_REMEMBERED`` words) compound rows mean other words, so stale units are refused.
    """

    offsets: np.ndarray
    rows: np.ndarray
    surface: np.ndarray
    segments: np.ndarray
    generation: int = 0

    def __len__(self) -> int:
        return len(self.offsets)


# What is known of a distinct word without its context, one column each (``_shape``).
_SHAPE = ("first_upper", "all_upper", "punctuation", "quote_mark", "digit", "final", "closer", "exclaim", "ask")


class WordEncoder:
    """Splits texts into ``WordUnits``; what each distinct word needs (its wordpieces, its shape,
    its lowercase form) is worked out the first time it is met and then looked up.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (the encoder's), asked for the pieces of new words.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.vocabulary_size = tokenizer.get_vocab_size()
        self.unknown = tokenizer.token_to_id("[UNK]") or 0
        self.generation = -1
        self._reset()

    def _reset(self) -> None:
        self._entries: dict[str, int] = {}
        self._lower_ids: dict[str, int] = {}
        self.compounds: list[tuple[int, ...]] = []  # the pieces of row vocabulary_size + k
        self._rows = np.zeros(1024, dtype=np.int64)
        self._lower = np.zeros(1024, dtype=np.int64)
        self._shapes = np.zeros((1024, len(_SHAPE)), dtype=bool)
        self.generation += 1

    def compound_pieces(self, row: int) -> tuple[int, ...]:
        return self.compounds[row - self.vocabulary_size]

    def encode(self, texts: list[str]) -> list[WordUnits]:
        return [self.units(text) for text in texts]

    def units(self, text: str) -> WordUnits:
        pairs = _SPACED_UNIT.findall(text)
        gaps, words = zip(*pairs, strict=True) if pairs else ((), ())
        gap_sizes = np.fromiter(map(len, gaps), dtype=np.int64, count=len(gaps))
        sizes = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        ends = np.cumsum(gap_sizes + sizes)
        offsets = np.stack([ends - sizes, ends], axis=1)
        entries = self._entry_ids(words)
        shapes = self._shapes[entries]
        segments = _segments(text, shapes, offsets)
        surface = surface_features(text, offsets, shapes, self._lower[entries], segments)
        return WordUnits(offsets, self._rows[entries], surface, segments, self.generation)

    def _entry_ids(self, words: Sequence[str]) -> np.ndarray:
        entries = self._entries
        new = [w for w in dict.fromkeys(words) if w not in entries]
        if new:
            if len(entries) + len(new) > MAX_REMEMBERED:
                self._reset()
                entries = self._entries
                new = list(dict.fromkeys(words))
            self._add(new)
        return np.asarray([entries[w] for w in words], dtype=np.int64)

    def _add(self, words: list[str]) -> None:
        first = len(self._entries)
        needed = first + len(words)
        if needed > len(self._rows):
            size = max(needed, 2 * len(self._rows))
            self._rows = np.resize(self._rows, size)
            self._lower = np.resize(self._lower, size)
            self._shapes = np.resize(self._shapes, (size, len(_SHAPE)))
        encodings = self.tokenizer.encode_batch(words, add_special_tokens=False)
        for k, (word, encoding) in enumerate(zip(words, encodings, strict=True)):
            pieces = tuple(encoding.ids) or (self.unknown,)
            if len(pieces) == 1:
                row = pieces[0]
            else:
                row = self.vocabulary_size + len(self.compounds)
                self.compounds.append(pieces)
            self._rows[first + k] = row
            self._lower[first + k] = self._lower_ids.setdefault(word.lower(), len(self._lower_ids))
            self._shapes[first + k] = _shape(word)
            self._entries[word] = first + k


def _shape(word: str) -> list[bool]:
    return [
        word[0].isupper(),
        len(word) > 1 and word.isupper() and word.isalpha(),
        not word[0].isalnum(),
        word in _QUOTES,
        word[0].isdigit(),
        word in _ENDS,
        word in _CLOSERS,
        word == "!",
        word == "?",
    ]


def _segments(text: str, shapes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Unit indices where segments start: after a line break, or after . ! or ? (and up to two
    closing quotes or brackets) followed by whitespace; then cut to ``MAX_SEGMENT`` units; ends with n."""
    n = len(offsets)
    if not n:
        return np.zeros(1, dtype=np.int64)
    final, closer = shapes[:, _SHAPE.index("final")], shapes[:, _SHAPE.index("closer")]
    ended = final.copy()
    ended[1:] |= closer[1:] & final[:-1]
    ended[2:] |= closer[2:] & closer[1:-1] & final[:-2]
    newlines = np.asarray([m.start() for m in _NEWLINE.finditer(text)], dtype=np.int64)
    line = np.searchsorted(newlines, offsets[:, 0])
    gap = offsets[1:, 0] > offsets[:-1, 1]
    breaks = np.flatnonzero(gap & (ended[:-1] | (line[1:] != line[:-1]))) + 1
    bounds = [0, *breaks.tolist(), n]
    capped: list[int] = []
    for a, b in itertools.pairwise(bounds):
        pieces = -(-(b - a) // MAX_SEGMENT)
        capped.extend(a + (b - a) * k // pieces for k in range(pieces))
    return np.asarray([*capped, n], dtype=np.int64)


def surface_features(
    text: str, offsets: np.ndarray, shapes: np.ndarray, lower: np.ndarray, segments: np.ndarray
) -> np.ndarray:
    """Casing, quotation, repetition and sentence cues of each unit: what the lowercased static
    embeddings cannot see. ``shapes`` (``_SHAPE`` columns) and ``lower`` (ids of lowercase forms)
    are per unit."""
    n = len(offsets)
    features = np.zeros((n, len(SURFACE_FEATURES)), dtype=np.float32)
    if not n:
        return features
    column = {name: shapes[:, k] for k, name in enumerate(_SHAPE)}
    starts = offsets[:, 0]
    lengths = np.diff(segments)
    segment_of = np.repeat(np.arange(len(lengths)), lengths)
    position = np.arange(n) - segments[segment_of]
    title_end = text.find("\n")
    for k, name in enumerate(("first_upper", "all_upper", "punctuation", "quote_mark")):
        features[:, k] = column[name]
    features[:, 4] = starts < (title_end if title_end >= 0 else len(text))
    _, inverse, counts = np.unique(lower, return_inverse=True, return_counts=True)
    recurs = (offsets[:, 1] - starts >= 4) & ~column["punctuation"] & (counts[inverse] > 1)
    features[:, 5] = np.where(recurs, np.log(counts[inverse]), 0.0)
    features[:, 6] = _in_repeated_trigram(lower)
    features[:, 7] = position == 0
    features[:, 8] = inside_quotes(text)[starts]
    features[:, 9] = column["digit"]
    features[:, 10] = (np.bincount(segment_of, weights=column["exclaim"], minlength=len(lengths)) > 0)[segment_of]
    features[:, 11] = (np.bincount(segment_of, weights=column["ask"], minlength=len(lengths)) > 0)[segment_of]
    features[:, 12] = position / np.maximum(lengths[segment_of] - 1, 1)
    features[:, 13] = np.log1p(lengths[segment_of]) / 5
    return features


def _in_repeated_trigram(lower: np.ndarray) -> np.ndarray:
    """Whether each unit is inside a sequence of three units that recurs in the text."""
    n = len(lower)
    inside = np.zeros(n, dtype=bool)
    if n < 3:
        return inside
    width = int(lower.max()) + 1
    keys = (lower[:-2] * width + lower[1:-1]) * width + lower[2:]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    starts = counts[inverse] > 1
    inside[:-2] |= starts
    inside[1:-1] |= starts
    inside[2:] |= starts
    return inside
