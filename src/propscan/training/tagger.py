"""Span identification, the trainable part: a BiLSTM-CRF over a learned mix of frozen encoder layers.

Tags are BIO over encoder tokens (``decoding``). The CRF learns which tag sequences are plausible
(an ``I`` after ``O`` is rare), which is what the SemEval-2020 SI winners added on top of their
encoders. Training needs torch; inference runs the exported emission graph with onnxruntime and
decodes with the learned transitions in numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchcrf import CRF

from propscan.model.decoding import N_TAGS, Transitions


class ScalarMix(nn.Module):
    """A softmax-weighted sum of encoder layers (ELMo's scalar mix), scaled by a learned gamma."""

    def __init__(self, n_layers: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(n_layers))
        self.gamma = nn.Parameter(torch.ones(()))

    def forward(self, layers: torch.Tensor) -> torch.Tensor:
        # (layers,) @ (..., layers, dim): a MatMul in ONNX; onnxruntime's Einsum took 2x the LSTM's time.
        mix = torch.softmax(self.weights, dim=0)
        return self.gamma * torch.matmul(mix, layers.float())


class SpanTagger(nn.Module):
    """Token features in, BIO emissions and contextual states out."""

    def __init__(self, *, n_layers: int, dim: int, n_surface: int, projection: int, hidden: int, dropout: float):
        super().__init__()
        self.mix = ScalarMix(n_layers)
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim + n_surface, projection), nn.GELU())
        self.lstm = nn.LSTM(projection, hidden, batch_first=True, bidirectional=True)
        self.emit = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, N_TAGS))
        self.crf = CRF(N_TAGS, batch_first=True)

    def states(self, layers: torch.Tensor, surface: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """BiLSTM states, (batch, length, 2 * hidden), for padded batches of token features."""
        projected = self.project(torch.cat([self.mix(layers), surface], dim=-1))
        packed = pack_padded_sequence(projected, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        return pad_packed_sequence(output, batch_first=True, total_length=layers.shape[1])[0]

    def loss(
        self, layers: torch.Tensor, surface: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        mask = torch.arange(layers.shape[1], device=layers.device)[None, :] < lengths.to(layers.device)[:, None]
        emissions = self.emit(self.states(layers, surface, lengths))
        return -self.crf(emissions, tags, mask=mask, reduction="token_mean")

    def forward(self, layers: torch.Tensor, surface: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Emissions and states of one unpadded text, (1, n, ...): the graph exported for inference."""
        projected = self.project(torch.cat([self.mix(layers), surface], dim=-1))
        states, _ = self.lstm(projected)
        return self.emit(states), states

    def transitions(self) -> Transitions:
        return Transitions(
            start=self.crf.start_transitions.detach().cpu().numpy().copy(),
            pairs=self.crf.transitions.detach().cpu().numpy().copy(),
            end=self.crf.end_transitions.detach().cpu().numpy().copy(),
        )


class TaggerSnapshots(nn.Module):
    """The best epochs of one tagger's training, emissions averaged: a snapshot ensemble.

    Validation SI F1 swings by a few points from epoch to epoch; averaging the best few evens that
    out. The states, which the classifier reads, come from the first (best) snapshot.
    """

    def __init__(self, members: Sequence[SpanTagger]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, layers: torch.Tensor, surface: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [member(layers, surface) for member in self.members]
        return torch.stack([emissions for emissions, _ in outputs]).mean(dim=0), outputs[0][1]

    def transitions(self) -> Transitions:
        return Transitions.mean([member.transitions() for member in self.members if isinstance(member, SpanTagger)])
