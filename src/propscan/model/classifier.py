"""Technique classification: an ensemble of small MLPs over span representations.

A span is described by its own tokens (mean of encoder layers and of the tagger's contextual
states, first and last state), its sentence (mean of encoder layers), and surface cues the
encoder cannot see: length, capitals, punctuation, and how often the same words recur in the
article (Repetition is one label in ten).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import torch
from torch import nn

_NON_WORD = re.compile(r"\W+")


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
    """Lower-cased text with punctuation runs as single spaces; cached, as every span of a text asks."""
    return _NON_WORD.sub(" ", text.lower())


def _count_occurrences(haystack: str, needle: str) -> int:
    return len(re.findall(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", haystack))


class TechniqueClassifier(nn.Module):
    """``ensemble`` independently initialised MLPs whose probabilities are averaged."""

    def __init__(self, *, n_inputs: int, hidden: int, n_labels: int, ensemble: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(n_inputs)
        self.members = nn.ModuleList(
            nn.Sequential(nn.Dropout(dropout), nn.Linear(n_inputs, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_labels))
            for _ in range(ensemble)
        )

    def member_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(ensemble, batch, labels) logits, each member trained on its own loss."""
        normed = self.norm(features)
        return torch.stack([member(normed) for member in self.members])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Averaged probabilities, (batch, labels)."""
        return torch.softmax(self.member_logits(features), dim=-1).mean(dim=0)
