"""Span identification: a BiLSTM-CRF over a learned mix of frozen encoder layers.

Tags are BIO over encoder tokens. The CRF learns which tag sequences are plausible (an ``I`` after
``O`` is rare), which is what the SemEval-2020 SI winners added on top of their encoders.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchcrf import CRF

OUTSIDE, BEGIN, INSIDE = 0, 1, 2


class ScalarMix(nn.Module):
    """A softmax-weighted sum of encoder layers (ELMo's scalar mix), scaled by a learned gamma."""

    def __init__(self, n_layers: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        mix = torch.softmax(self.weights, dim=0)
        return self.gamma * torch.einsum("...ld,l->...d", layers.float(), mix)


class SpanTagger(nn.Module):
    """Token features in, BIO emissions and contextual states out."""

    def __init__(self, *, n_layers: int, dim: int, n_surface: int, projection: int, hidden: int, dropout: float):
        super().__init__()
        self.mix = ScalarMix(n_layers)
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim + n_surface, projection), nn.GELU())
        self.lstm = nn.LSTM(projection, hidden, batch_first=True, bidirectional=True)
        self.emit = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, 3))
        self.crf = CRF(3, batch_first=True)

    def states(self, layers: torch.Tensor, surface: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """BiLSTM states, (batch, length, 2 * hidden), for padded batches of token features."""
        projected = self.project(torch.cat([self.mix(layers), surface], dim=-1))
        packed = pack_padded_sequence(projected, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        return pad_packed_sequence(output, batch_first=True, total_length=layers.shape[1])[0]

    def loss(self, layers: torch.Tensor, surface: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = _mask(lengths, layers.shape[1])
        emissions = self.emit(self.states(layers, surface, lengths))
        return -self.crf(emissions, tags, mask=mask, reduction="token_mean")

    def emissions(self, layers: torch.Tensor, surface: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """BIO emission scores and the BiLSTM states they come from."""
        states = self.states(layers, surface, lengths)
        return self.emit(states), states

    def decode(
        self, emissions: torch.Tensor, lengths: torch.Tensor, *, outside_bias: float = 0.0
    ) -> tuple[list[list[int]], torch.Tensor]:
        """Best tag paths and the per-token probability of being inside a span.

        ``outside_bias`` is added to the outside score: the CRF is trained on a corpus where 87%
        of tokens are outside, and a negative bias trades that caution for recall.
        """
        biased = emissions.clone()
        biased[..., OUTSIDE] += outside_bias
        paths = self.crf.decode(biased, mask=_mask(lengths, emissions.shape[1]))
        inside = 1.0 - torch.softmax(biased, dim=-1)[..., OUTSIDE]
        return paths, inside


def _mask(lengths: torch.Tensor, total: int) -> torch.Tensor:
    return torch.arange(total)[None, :] < lengths[:, None]


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
