"""From tagger emissions to character spans: CRF Viterbi decoding in numpy.

Tags are BIO over encoder tokens. The CRF's transition scores say which tag sequences are
plausible (an ``I`` after ``O`` is rare). Decoding runs at inference without torch, so it lives
here in numpy; training learns the same transition scores with ``pytorch-crf``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OUTSIDE, BEGIN, INSIDE = 0, 1, 2
N_TAGS = 3

# PTC v2 trimmed every gold span so that it neither starts nor ends with these characters.
_TRIM = " \n\r\t.,:;"
# Every PTC article has blank lines (after the title, between paragraphs) and no gold span crosses one.
_BLANK_LINE = re.compile(r"\n\s*\n")
# Nested spans (``nested_candidates``): parents of this many tokens or more are decoded again with
# the inside bias lowered by this much; a candidate must hold a word of four letters or more.
NESTED_MIN_TOKENS = 8
NESTED_LENGTH_PRIOR = 1.0
_CONTENT_WORD = re.compile(r"[^\W\d_]{4}")


@dataclass(frozen=True)
class Transitions:
    """A linear-chain CRF's learned scores: entering the first tag, tag to tag, leaving the last."""

    start: np.ndarray  # (tags,)
    pairs: np.ndarray  # (tags, tags): from row to column
    end: np.ndarray  # (tags,)

    @classmethod
    def mean(cls, each: Sequence[Transitions], weights: Sequence[float] | None = None) -> Transitions:
        """The (weighted) average of several taggers' transitions, for the average of their emissions."""
        return cls(
            *(
                np.average([getattr(t, name) for t in each], axis=0, weights=weights).astype(np.float32)
                for name in ("start", "pairs", "end")
            )
        )


@dataclass(frozen=True)
class FoundSpan:
    """A span found by the tagger, before it is labelled: char and token ranges, confidence."""

    start: int
    end: int
    first_token: int
    last_token: int
    score: float


def viterbi(
    emissions: Sequence[np.ndarray], transitions: Transitions, *, outside_bias: float = 0.0, inside_bias: float = 0.0
) -> list[list[int]]:
    """Best tag path of each sequence.

    ``outside_bias`` is added to every outside score: the CRF is trained on a corpus where most
    tokens are outside, and a negative bias trades that caution for recall. ``inside_bias`` is
    added to every inside score, a length prior: a negative one ends spans sooner (the annotators
    mark phrases, the tagger's runs of inside tags tend to cover the whole sentence).
    """
    return [_best_path(_biased(scores, outside_bias, inside_bias), transitions) for scores in emissions]


def _biased(emissions: np.ndarray, outside_bias: float, inside_bias: float) -> np.ndarray:
    """The emissions the decoder reads: the biases added to the outside and inside columns."""
    shifted = emissions.astype(np.float64)
    shifted[:, OUTSIDE] += outside_bias
    shifted[:, INSIDE] += inside_bias
    return shifted


def _best_path(emissions: np.ndarray, transitions: Transitions) -> list[int]:
    """Viterbi over one sequence in plain Python floats: with three tags, a numpy call per token
    costs more than the arithmetic (README, Benchmarks)."""
    if not len(emissions):
        return []
    rows = emissions.tolist()
    into = transitions.pairs.astype(np.float64).T.tolist()  # into[j][i]: score of tag i -> tag j
    tags = range(len(into))
    score = [s + e for s, e in zip(transitions.start.tolist(), rows[0], strict=True)]
    history = []
    for row in rows[1:]:
        back, new = [], []
        for j in tags:
            candidates = [s + p for s, p in zip(score, into[j], strict=True)]
            best = max(candidates)
            back.append(candidates.index(best))
            new.append(best + row[j])
        history.append(back)
        score = new
    final = [s + e for s, e in zip(score, transitions.end.tolist(), strict=True)]
    tag = final.index(max(final))
    path = [tag]
    for back in reversed(history):
        tag = back[tag]
        path.append(tag)
    return path[::-1]


def inside_probability(emissions: np.ndarray, *, outside_bias: float = 0.0, inside_bias: float = 0.0) -> np.ndarray:
    """Per-token probability of not being outside, from the biased emissions alone."""
    shifted = _biased(emissions, outside_bias, inside_bias)
    shifted -= shifted.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (1.0 - exp[:, OUTSIDE] / exp.sum(axis=-1)).astype(np.float32)


def emissions_on_tokens(emissions: np.ndarray, source_offsets: np.ndarray, target_offsets: np.ndarray) -> np.ndarray:
    """Emissions of one tokenization moved onto another's tokens of the same text: each target
    token gets the mean of the source tokens its characters overlap (zeros where none does).

    How a second tagger, over another encoder's tokens, can vote on this model's tokens.
    """
    source = np.asarray(source_offsets).reshape(-1, 2)
    target = np.asarray(target_offsets).reshape(-1, 2)
    if not len(source) or not len(target):
        return np.zeros((len(target), emissions.shape[-1]), dtype=np.float32)
    # Source tokens [first, stop) overlap a target token [a, b): they end after a and start before b.
    first = np.searchsorted(source[:, 1], target[:, 0], side="right")
    stop = np.searchsorted(source[:, 0], target[:, 1], side="left")
    totals = np.vstack([np.zeros((1, emissions.shape[-1])), np.cumsum(emissions, axis=0, dtype=np.float64)])
    counts = np.maximum(stop - first, 0)
    sums = totals[np.maximum(stop, first)] - totals[first]
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


def tags_to_token_spans(path: list[int]) -> list[tuple[int, int]]:
    """Turn a BIO path into ``[first, last + 1)`` token ranges (an ``I`` after ``O`` opens a span)."""
    spans = []
    start = None
    for i, tag in enumerate(path):
        if tag == BEGIN or (tag == INSIDE and start is None):
            if start is not None:
                spans.append((start, i))
            start = i
        elif tag == OUTSIDE and start is not None:
            spans.append((start, i))
            start = None
    if start is not None:
        spans.append((start, len(path)))
    return spans


def decode_spans(
    texts: Sequence[str],
    offsets: Sequence[np.ndarray],
    emissions: Sequence[np.ndarray],
    transitions: Transitions,
    *,
    outside_bias: float,
    inside_bias: float = 0.0,
) -> list[list[FoundSpan]]:
    """Viterbi paths turned into trimmed character spans, cut at blank lines, each scored by its
    tokens' mean inside probability."""
    paths = viterbi(emissions, transitions, outside_bias=outside_bias, inside_bias=inside_bias)
    found: list[list[FoundSpan]] = []
    for text, token_offsets, scores, path in zip(texts, offsets, emissions, paths, strict=True):
        inside = inside_probability(scores, outside_bias=outside_bias, inside_bias=inside_bias)
        spans = []
        for run in tags_to_token_spans(path):
            for first, last in split_at_blank_lines(text, token_offsets, *run):
                start, end = trim(text, int(token_offsets[first][0]), int(token_offsets[last - 1][1]))
                if start < end:
                    spans.append(FoundSpan(start, end, first, last, float(inside[first:last].mean())))
        found.append(spans)
    return found


def nested_candidates(
    text: str,
    token_offsets: np.ndarray,
    emissions: np.ndarray,
    transitions: Transitions,
    parent: FoundSpan,
    *,
    outside_bias: float,
    inside_bias: float,
) -> list[FoundSpan]:
    """Shorter spans inside a long found span, where a phrase of its own may be nested (annotators
    mark "mad sectarian state" as loaded language inside a sentence of doubt; the tagger's one run
    of inside tags covers both).

    The parent's tokens are decoded again with a stronger length prior (``NESTED_LENGTH_PRIOR``);
    each run short of the whole parent, holding a word of four letters or more (never a lone "a"),
    is a candidate, scored as ``decode_spans`` scores spans. Parents shorter than
    ``NESTED_MIN_TOKENS`` have none.
    """
    first, last = parent.first_token, parent.last_token
    if last - first < NESTED_MIN_TOKENS:
        return []
    piece = emissions[first:last]
    [path] = viterbi([piece], transitions, outside_bias=outside_bias, inside_bias=inside_bias - NESTED_LENGTH_PRIOR)
    inside = inside_probability(piece, outside_bias=outside_bias, inside_bias=inside_bias)
    candidates = []
    for a, b in tags_to_token_spans(path):
        if b - a == last - first:
            continue
        start, end = trim(text, int(token_offsets[first + a][0]), int(token_offsets[first + b - 1][1]))
        if start < end and _CONTENT_WORD.search(text, start, end):
            candidates.append(FoundSpan(start, end, first + a, first + b, float(inside[a:b].mean())))
    return candidates


def split_at_blank_lines(text: str, token_offsets: np.ndarray, first: int, last: int) -> list[tuple[int, int]]:
    """The token range ``[first, last)`` cut wherever a blank line separates two of its tokens: a
    span never joins a headline to the paragraph below it (annotators never do)."""
    if not _BLANK_LINE.search(text, int(token_offsets[first][0]), int(token_offsets[last - 1][1])):
        return [(first, last)]
    cuts = [
        i
        for i in range(first + 1, last)
        if _BLANK_LINE.search(text, int(token_offsets[i - 1][1]), int(token_offsets[i][0]))
    ]
    return list(itertools.pairwise([first, *cuts, last]))


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` past the whitespace and punctuation PTC gold spans never start or end with."""
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return start, end
