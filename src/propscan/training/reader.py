"""Fine-tuning the span reader (``model.span_reader``): MiniLM trained whole, but for its word
embeddings, as a classifier of gold spans read in their sentences.

Word embeddings stay frozen: they are 30,522 x 384 of the 22.7 M weights, words unseen in
training keep their pretrained meaning, and the deltas shipped stay small (about 11 MB).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from safetensors.numpy import load_file, save
from transformers import AutoModel

from propscan.document import AnnotatedDocument
from propscan.model.config import ModelConfig
from propscan.model.encoders import ENCODERS, encoder_path
from propscan.model.encoders.deltas import pack_deltas
from propscan.model.encoders.verify import verify_weights
from propscan.model.span_reader import ReaderInput, encode_pairs, pair_tokenizer, reader_input

BATCH = 16


class ReaderNet(torch.nn.Module):
    """The encoder, and a linear head over [CLS], the first segment's mean state and the cues."""

    def __init__(self, encoder: str, n_labels: int) -> None:
        super().__init__()
        self.encoder = AutoModel.from_pretrained(encoder_path(encoder))
        self.drop = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(2 * self.encoder.config.hidden_size + 3, n_labels)

    def forward(self, batch: dict[str, torch.Tensor], cues: torch.Tensor) -> torch.Tensor:
        states = self.encoder(**batch).last_hidden_state
        first = ((batch["token_type_ids"] == 0) & (batch["attention_mask"] == 1)).unsqueeze(-1)
        mean = (states * first).sum(1) / first.sum(1)
        return self.head(self.drop(torch.cat([states[:, 0], mean, cues], dim=-1)))


def fit_reader(
    config: ModelConfig,
    documents: Sequence[AnnotatedDocument],
    *,
    seed: int = 13,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> bytes:
    """Fine-tune the reader on every gold span of ``documents``; return ``reader.safetensors``'s bytes.

    A span annotated with two techniques is two examples: the reader learns both as likely.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    name = config.reader_encoder
    verify_weights(encoder_path(name) / "model.safetensors", ENCODERS[name])
    examples = [
        (reader_input(d.document.text, s.start, s.end), config.labels.index(s.technique))
        for d in documents
        for s in d.spans
    ]
    net = ReaderNet(name, len(config.labels)).to(device)
    net.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    _fine_tune(net, examples, config, device, log)
    tuned = {k: v.detach().cpu().numpy() for k, v in net.encoder.state_dict().items()}
    base = load_file(str(encoder_path(name) / "model.safetensors"))
    packed = pack_deltas({k: v for k, v in tuned.items() if k in base}, base)
    packed["head.weight"] = net.head.weight.detach().cpu().numpy()
    packed["head.bias"] = net.head.bias.detach().cpu().numpy()
    return save(packed)


def _fine_tune(
    net: ReaderNet,
    examples: list[tuple[ReaderInput, int]],
    config: ModelConfig,
    device: str,
    log: Callable[[str], None],
) -> None:
    """AdamW with warm-up and linear decay; the head learns faster than the encoder."""
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in net.encoder.parameters() if p.requires_grad], "lr": config.reader_learning_rate},
            {"params": net.head.parameters(), "lr": 1e-3},
        ],
        weight_decay=0.01,
    )
    tokenizer = pair_tokenizer(config.reader_encoder)
    # Batches of similar length waste less on padding; their order is shuffled each epoch.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0].sentence))
    chunks = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]
    steps = config.reader_epochs * len(chunks)
    warmup = max(1.0, 0.1 * steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: min(1.0, k / warmup) * max(0.0, (steps - k) / max(1.0, steps - warmup))
    )
    started = time.perf_counter()
    for epoch in range(1, config.reader_epochs + 1):
        net.train()
        random.shuffle(chunks)
        losses = []
        for chunk in chunks:
            batch = encode_pairs(tokenizer, [examples[i][0] for i in chunk])
            tensors = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
            cues = torch.tensor([examples[i][0].cues for i in chunk], dtype=torch.float32, device=device)
            target = torch.tensor([examples[i][1] for i in chunk], device=device)
            loss = torch.nn.functional.cross_entropy(net(tensors, cues), target, label_smoothing=0.05)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        log(f"reader epoch {epoch}: loss {np.mean(losses):.4f} ({time.perf_counter() - started:.0f} s)")
