"""Fine-tuning the span reader (``model.span_reader``): MiniLM trained whole, but for its word
embeddings (``training.finetuning``), as a classifier of gold spans read in their sentences.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import torch
from safetensors.numpy import save

from propscan.document import AnnotatedDocument
from propscan.model.config import ModelConfig
from propscan.model.span_reader import ReaderInput, encode_pairs, pair_tokenizer, reader_inputs
from propscan.training.finetuning import encoder_deltas, fine_tune, pretrained_encoder

BATCH = 16
# The reader's deltas ship in 4 bits: two presets carry it, and its technique probabilities moved
# no validation figure (docs/training.md), where 4-bit tagger encoders would move the spans.
READER_BITS = 4


class ReaderNet(torch.nn.Module):
    """The encoder, and a linear head over [CLS], the first segment's mean state and the cues."""

    def __init__(self, encoder: str, n_labels: int) -> None:
        super().__init__()
        self.encoder = pretrained_encoder(encoder)
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
    examples = [
        (seen, config.labels.index(s.technique))
        for d in documents
        for s, seen in zip(d.spans, reader_inputs(d.document.text, [(s.start, s.end) for s in d.spans]), strict=True)
    ]
    net = ReaderNet(config.reader_encoder, len(config.labels)).to(device)
    _fine_tune(net, examples, config, device, log)
    packed = encoder_deltas(net.encoder, config.reader_encoder, bits=READER_BITS)
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
    """Batches of 16 pairs, label smoothing 0.05, ``config.reader_epochs`` epochs."""
    tokenizer = pair_tokenizer(config.reader_encoder)
    # Batches of similar length waste less on padding; their order is shuffled each epoch.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i][0].sentence))
    chunks = [order[i : i + BATCH] for i in range(0, len(order), BATCH)]

    def shuffled() -> list[list[int]]:
        random.shuffle(chunks)
        return chunks

    def loss_of(chunk: list[int]) -> torch.Tensor:
        batch = encode_pairs(tokenizer, [examples[i][0] for i in chunk])
        tensors = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
        cues = torch.tensor([examples[i][0].cues for i in chunk], dtype=torch.float32, device=device)
        target = torch.tensor([examples[i][1] for i in chunk], device=device)
        return torch.nn.functional.cross_entropy(net(tensors, cues), target, label_smoothing=0.05)

    fine_tune(
        net,
        net.head,
        learning_rate=config.reader_learning_rate,
        epochs=config.reader_epochs,
        steps_per_epoch=len(chunks),
        epoch_batches=shuffled,
        loss_of=loss_of,
        log=log,
        name="reader",
    )
