"""Technique classification, the trainable part: an ensemble of small MLPs over span features.

The features are ``span_features.span_representations``. Training needs torch; inference runs
the exported graph (averaged probabilities) with onnxruntime.
"""

from __future__ import annotations

import torch
from torch import nn


class TechniqueClassifier(nn.Module):
    """``ensemble`` independently initialised MLPs whose probabilities are averaged."""

    def __init__(self, *, n_inputs: int, hidden: int, n_labels: int, ensemble: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(n_inputs)
        self.members = nn.ModuleList(
            nn.Sequential(
                nn.Dropout(dropout),
                nn.Linear(n_inputs, hidden),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, n_labels),
            )
            for _ in range(ensemble)
        )

    def member_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(ensemble, batch, labels) logits, each member trained on its own loss."""
        normed = self.norm(features)
        return torch.stack([member(normed) for member in self.members])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Averaged probabilities, (batch, labels)."""
        return torch.softmax(self.member_logits(features), dim=-1).mean(dim=0)
