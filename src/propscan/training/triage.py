"""Training the ``triage`` model with torch, then exporting it for torch-free inference.

The static embedding table stays frozen; what learns is a projection of it and of the surface
cues, a one-layer BiGRU over each sentence, a per-word head (inside a span, begins a span) and a
per-span technique head. Sentences of the training articles are shuffled into batches; after each
epoch the validation articles choose the decoding (thresholds, gap filling, shortest span) that
scores best there, and the epoch that scores best is kept. The test articles are never seen here.
"""

from __future__ import annotations

import copy
import itertools
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from propscan.document import AnnotatedDocument, merge_intervals
from propscan.errors import ModelError
from propscan.model.encoders import ENCODERS
from propscan.model.encoders.static import static_table
from propscan.model.span_features import token_range
from propscan.model.triage import TriageModel, decode_words
from propscan.model.words import SURFACE_FEATURES, WordEncoder, WordUnits
from propscan.scoring import si_score

Log = Callable[[str], None]

# The decoding choices tried on validation after each epoch.
THRESHOLDS = tuple(round(0.1 + 0.025 * k, 3) for k in range(21))
BEGIN_THRESHOLDS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.075, 0.05, 0.035, 0.025, 0.015)
# Peak thresholds at or below the chosen threshold keep every run, as 0 does.
PEAK_THRESHOLDS = (0.0, 0.15, 0.2, 0.225, 0.25, 0.275, 0.3, 0.35, 0.4, 0.5)
FILL_GAPS = (0, 1, 2, 3, 5, 8, 12, 20, 40)
MIN_CHARS = (0, 5, 10, 15, 20, 30, 45, 60)
BATCH_SENTENCES = 64
# Per optimizer step; about 180 steps make an epoch on PTC.
EMA_DECAY = 0.99


class Decoding(NamedTuple):
    """The decoding choices of ``decode_words``, as the validation articles make them."""

    threshold: float
    begin_threshold: float
    peak_threshold: float
    fill_gap: int
    min_chars: int


class TriageNet(nn.Module):
    """Word rows and surface cues in; BiGRU states, projected inputs and word logits (inside a
    span, begins a span) out."""

    table: torch.Tensor

    def __init__(
        self, table: torch.Tensor, *, n_surface: int, projection: int, hidden: int, n_labels: int, dropout: float
    ):
        super().__init__()
        self.register_buffer("table", table, persistent=False)
        self.embed = nn.Linear(table.shape[1], projection, bias=False)
        self.surface = nn.Linear(n_surface, projection)
        self.context = nn.Linear(projection, projection, bias=False)
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(projection, hidden, batch_first=True, bidirectional=True)
        self.emit = nn.Linear(2 * hidden, 2)
        self.technique = nn.Linear(2 * hidden + projection, n_labels)

    def forward(
        self, rows: torch.Tensor, surface: torch.Tensor, lengths: torch.Tensor, article: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``article``: (batch, table dim + surface) the mean table row and cues of each sentence's article."""
        linear = self.embed(article[:, : self.table.shape[1]]) + self.surface(article[:, self.table.shape[1] :])
        inputs = torch.tanh(self.embed(self.table[rows]) + self.surface(surface) + self.context(linear)[:, None, :])
        packed = pack_padded_sequence(self.drop(inputs), lengths, batch_first=True, enforce_sorted=False)
        states = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=rows.shape[1])[0]
        return states, inputs, self.emit(self.drop(states))


@dataclass
class _Sentence:
    """One segment of a training article: its words' rows, cues, labels (inside a gold span, and
    first word of one) and the gold spans starting in it, and its article's mean table row and cues
    (the article's context)."""

    rows: np.ndarray
    surface: np.ndarray
    inside: np.ndarray
    begins: np.ndarray
    spans: list[tuple[int, int, int]]  # (first, last) words within the sentence, label id
    article: np.ndarray
    weight: np.ndarray | None = None  # per word, of the span loss


def fit_triage(
    model: TriageModel,
    train: Sequence[AnnotatedDocument],
    validation: Sequence[AnnotatedDocument],
    *,
    seed: int = 13,
    log: Log = print,
    device: str = "cpu",
) -> TriageModel:
    """Train ``model`` (a ``TriageModel`` holding its config) on ``train``; choose the epoch and the
    decoding on ``validation``; install the weights. Calibration is left to the recipe."""
    if not any(d.spans for d in train):
        raise ModelError("the training documents hold no technique spans; give more, or annotated, documents")
    random.seed(seed)
    torch.manual_seed(seed)
    started = time.perf_counter()
    # Small batches of short sequences: on a shared 2-core machine torch's second thread spun
    # against other processes and one thread measured 30x faster (0.17 s a batch instead of 5 s).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _fit(model, train, validation, log=log, device=device, started=started)
    finally:
        torch.set_num_threads(threads)


def _fit(
    model: TriageModel,
    train: Sequence[AnnotatedDocument],
    validation: Sequence[AnnotatedDocument],
    *,
    log: Log,
    device: str,
    started: float,
) -> TriageModel:
    config = model.config
    train_units = model.encode([d.document.text for d in train])
    validation_units = model.encode([d.document.text for d in validation])
    label_ids = {label: k for k, label in enumerate(config.labels)}
    table_array = _extended_table(config.encoder, model.encoder)
    sentences = [
        s
        for d, u in zip(train, train_units, strict=True)
        for s in _sentences(d, u, label_ids, table_array, config.short_span_weight)
    ]
    table = torch.tensor(table_array, device=device)
    net = TriageNet(
        table,
        n_surface=len(SURFACE_FEATURES),
        projection=config.projection,
        hidden=config.gru_hidden,
        n_labels=len(config.labels),
        dropout=config.dropout,
    ).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    ema = _Average(net, EMA_DECAY)
    best: tuple[float, int, dict, Decoding] | None = None
    for epoch in range(1, config.tagger_epochs + 1):
        loss = _epoch(net, optimizer, sentences, config.technique_weight, device, ema)
        if not validation:
            continue
        averaged = ema.network(net)
        score, decoding = _best_decoding(averaged, validation, validation_units, device)
        log(f"triage epoch {epoch}: loss {loss:.4f}, validation SI F1 {score:.4f} ({decoding})")
        if best is None or score > best[0]:
            best = (score, epoch, copy.deepcopy(ema.weights), decoding)
    if best is None:  # nothing to choose on: the last epoch, decoded as the config says
        configured = Decoding(**{name: getattr(config, name) for name in Decoding._fields})
        best = (0.0, config.tagger_epochs, ema.weights, configured)
    score, epoch, weights, decoding = best
    for name, value in decoding._asdict().items():
        setattr(config, name, value)
    net.load_state_dict(weights)
    net.eval()
    model.set_weights(word_graph(net), heads(net))
    config.encoder_sha256 = ENCODERS[config.encoder].weights_sha256
    config.metrics.update(
        best_epoch=epoch,
        validation_si_f1=round(score, 4),
        train_documents=len(train),
        validation_documents=len(validation),
        training_seconds=round(time.perf_counter() - started, 1),
    )
    return model


def _extended_table(encoder_name: str, encoder: WordEncoder) -> np.ndarray:
    """The static table plus one row per word of several pieces met so far (their mean)."""
    table = static_table(encoder_name).astype(np.float32)
    extra = [table[list(pieces)].mean(axis=0) for pieces in encoder.compounds]
    return np.concatenate([table, np.stack(extra)]) if extra else table


def article_context(units: WordUnits, table: np.ndarray) -> np.ndarray:
    """The mean table row and the mean cues of an article's words: what its context is made from."""
    if not len(units):
        return np.zeros(table.shape[1] + len(SURFACE_FEATURES), dtype=np.float32)
    return np.concatenate([table[units.rows].mean(axis=0), units.surface.mean(axis=0)]).astype(np.float32)


def _sentences(
    document: AnnotatedDocument,
    units: WordUnits,
    label_ids: dict[str, int],
    table: np.ndarray,
    short_span_weight: float = 0.0,
) -> list[_Sentence]:
    article = article_context(units, table)
    inside = np.zeros(len(units), dtype=np.float32)
    begins = np.zeros(len(units), dtype=np.float32)
    weight = np.ones(len(units), dtype=np.float32)
    for start, end in merge_intervals((s.start, s.end) for s in document.spans):
        first, last = token_range(units.offsets, start, end)
        inside[first:last] = 1.0
        begins[first] = 1.0
        weight[first:last] = 1.0 + short_span_weight / (last - first)
    spans = [(*token_range(units.offsets, s.start, s.end), label_ids[s.technique]) for s in document.spans]
    bounds = units.segments.tolist()
    out = []
    for a, b in itertools.pairwise(bounds):
        kept = [(f - a, min(last, b) - a, label) for f, last, label in spans if a <= f < b]
        out.append(_Sentence(units.rows[a:b], units.surface[a:b], inside[a:b], begins[a:b], kept, article, weight[a:b]))
    return out


def _batch(sentences: Sequence[_Sentence], device: str) -> tuple[torch.Tensor, ...]:
    lengths = torch.tensor([len(s.rows) for s in sentences])
    longest = int(lengths.max())
    rows = torch.zeros((len(sentences), longest), dtype=torch.long)
    surface = torch.zeros((len(sentences), longest, len(SURFACE_FEATURES)))
    labels = torch.zeros((len(sentences), longest, 2))
    weight = torch.ones((len(sentences), longest))
    for k, s in enumerate(sentences):
        rows[k, : len(s.rows)] = torch.from_numpy(s.rows)
        surface[k, : len(s.rows)] = torch.from_numpy(s.surface)
        labels[k, : len(s.rows), 0] = torch.from_numpy(s.inside)
        labels[k, : len(s.rows), 1] = torch.from_numpy(s.begins)
        if s.weight is not None:
            weight[k, : len(s.rows)] = torch.from_numpy(s.weight)
    article = torch.from_numpy(np.stack([s.article for s in sentences]))
    return rows.to(device), surface.to(device), labels.to(device), lengths, article.to(device), weight.to(device)


def _batches(sentences: list[_Sentence]) -> list[list[_Sentence]]:
    """Shuffled batches of sentences of similar length (little padding), in shuffled order."""
    order = list(range(len(sentences)))
    random.shuffle(order)
    pool = BATCH_SENTENCES * 20
    batches: list[list[_Sentence]] = []
    for first in range(0, len(order), pool):
        chunk = sorted(order[first : first + pool], key=lambda k: len(sentences[k].rows))
        batches.extend(
            [sentences[k] for k in chunk[a : a + BATCH_SENTENCES]] for a in range(0, len(chunk), BATCH_SENTENCES)
        )
    random.shuffle(batches)
    return batches


class _Average:
    """An exponential moving average of a network's weights: smoother than any one step's, and
    what is validated and shipped (it costs nothing at inference)."""

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.weights = {k: v.detach().clone() for k, v in net.state_dict().items()}

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        for key, value in net.state_dict().items():
            if value.is_floating_point():
                self.weights[key].mul_(self.decay).add_(value.detach(), alpha=1 - self.decay)

    def network(self, net: TriageNet) -> TriageNet:
        averaged = copy.deepcopy(net)
        averaged.load_state_dict(self.weights)
        return averaged.eval()


def _epoch(
    net: TriageNet,
    optimizer,
    sentences: list[_Sentence],
    technique_weight: float,
    device: str,
    ema: _Average | None = None,
) -> float:
    net.train()
    total = 0.0
    for batch in _batches(sentences):
        rows, surface, word_labels, lengths, article, weight = _batch(batch, device)
        states, inputs, logits = net(rows, surface, lengths, article)
        mask = (torch.arange(rows.shape[1])[None, :] < lengths[:, None]).to(device)
        words, targets = logits[mask], word_labels[mask]
        loss = nn.functional.binary_cross_entropy_with_logits(words[:, 0], targets[:, 0], weight=weight[mask])
        loss = loss + nn.functional.binary_cross_entropy_with_logits(words[:, 1], targets[:, 1])
        pooled, labels = [], []
        for k, s in enumerate(batch):
            for a, b, label in s.spans:
                pooled.append(torch.cat([states[k, a:b].mean(dim=0), inputs[k, a:b].mean(dim=0)]))
                labels.append(label)
        if pooled:
            technique_logits = net.technique(net.drop(torch.stack(pooled)))
            loss = loss + technique_weight * nn.functional.cross_entropy(
                technique_logits, torch.tensor(labels, device=device)
            )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        optimizer.step()
        if ema is not None:
            ema.update(net)
        total += loss.item() * len(batch)
    return total / max(len(sentences), 1)


@torch.inference_mode()
def word_probabilities(net: TriageNet, units: WordUnits, device: str = "cpu") -> np.ndarray:
    """Each word's inside and begin probabilities (n, 2) under the torch network (validation,
    before export)."""
    if not len(units):
        return np.zeros((0, 2), dtype=np.float32)
    net.eval()
    article = article_context(units, net.table.cpu().numpy())
    pieces = [
        _Sentence(
            units.rows[a:b], units.surface[a:b], np.zeros(b - a, np.float32), np.zeros(b - a, np.float32), [], article
        )
        for a, b in itertools.pairwise(units.segments.tolist())
    ]
    rows, surface, _, lengths, articles, _ = _batch(pieces, device)
    logits = net(rows, surface, lengths, articles)[2].cpu().numpy()
    return np.concatenate([1 / (1 + np.exp(-logits[k, :n])) for k, n in enumerate(lengths.tolist())])


def _best_decoding(
    net: TriageNet, validation: Sequence[AnnotatedDocument], units: Sequence[WordUnits], device: str
) -> tuple[float, Decoding]:
    """The validation SI F1 of the best decoding choices, and those choices.

    By coordinates, as the full product would cost a hundred times as much every epoch: threshold,
    gap and shortest span together with runs neither cut nor screened, then the begin threshold,
    then the peak threshold, then the first three again under those two.
    """
    probabilities = [word_probabilities(net, u, device) for u in units]
    gold = {d.document.id: d.spans for d in validation}

    def score(choice: Decoding) -> float:
        predicted = {
            d.document.id: [(f.start, f.end) for f in decode_words(d.document.text, u, p, **choice._asdict())]
            for d, u, p in zip(validation, units, probabilities, strict=True)
        }
        return si_score(gold, predicted).f1

    def best_of(candidates: Iterable[Decoding]) -> tuple[float, Decoding]:
        return max(((score(c), c) for c in candidates), key=lambda scored: scored[0])

    def others(start: Decoding) -> Iterable[Decoding]:
        return (
            start._replace(threshold=t, fill_gap=g, min_chars=m)
            for t, g, m in itertools.product(THRESHOLDS, FILL_GAPS, MIN_CHARS)
        )

    first = best_of(others(Decoding(THRESHOLDS[0], 1.0, 0.0, 0, 0)))
    best = best_of(first[1]._replace(begin_threshold=b) for b in BEGIN_THRESHOLDS)
    best = max(first, best, key=lambda scored: scored[0])
    by_peak = best_of(best[1]._replace(peak_threshold=p) for p in PEAK_THRESHOLDS)
    best = max(best, by_peak, key=lambda scored: scored[0])
    if best[1] != first[1]:
        best = max(best_of(others(best[1])), best, key=lambda scored: scored[0])
    return best


def heads(net: TriageNet) -> dict[str, np.ndarray]:
    """The parts of the trained network that run in numpy, as ``TriageModel`` reads them (x @ weight
    + bias): the table's projection (folded into the table at load), the cues' projection and the
    context (for the article's mean), the technique head."""

    def array(t: torch.Tensor) -> np.ndarray:
        # Contiguous: safetensors writes a transposed view's buffer as if it were not transposed.
        return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)

    return {
        "embed": array(net.embed.weight.T),
        "surface": array(net.surface.weight.T),
        "bias": array(net.surface.bias),
        "context": array(net.context.weight.T),
        "technique": array(net.technique.weight.T),
        "technique_bias": array(net.technique.bias),
    }


def word_graph(net: TriageNet) -> bytes:
    """The word network as an ONNX graph: everything after the table lookup, so that no matrix
    product runs in numpy (OpenBLAS's threads, spinning against other processes on a shared
    2-core machine, made a 8000 x 64 product 100 times slower than onnxruntime's single thread).

    In: ``embedded`` (time, batch, projection), the projected table rows plus bias and article
    context; ``surface`` (time, batch, cues); ``lengths`` (batch,). Out: ``inputs`` (after tanh,
    time, batch, projection), ``states`` (time, batch, 2 * hidden) and ``probabilities`` (time,
    batch, 2: inside a span, begins one).

    torch orders a GRU's gates (reset, update, new), ONNX (update, reset, hidden); torch applies
    the reset gate after the recurrent product, which is ONNX's ``linear_before_reset=1``.
    """
    gru, hidden = net.gru, net.gru.hidden_size

    def array(t: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float32)

    def reorder(t: torch.Tensor) -> np.ndarray:
        a = array(t)
        return np.concatenate([a[hidden : 2 * hidden], a[:hidden], a[2 * hidden :]])

    directions = ("", "_reverse")
    weights = {
        "surface_weight": array(net.surface.weight.T),
        "W": np.stack([reorder(getattr(gru, f"weight_ih_l0{d}")) for d in directions]),
        "R": np.stack([reorder(getattr(gru, f"weight_hh_l0{d}")) for d in directions]),
        "B": np.stack(
            [
                np.concatenate([reorder(getattr(gru, f"bias_ih_l0{d}")), reorder(getattr(gru, f"bias_hh_l0{d}"))])
                for d in directions
            ]
        ),
        "emit_weight": array(net.emit.weight.T),
        "emit_bias": array(net.emit.bias),
        "flat": np.asarray([0, 0, -1], dtype=np.int64),
    }
    nodes = [
        helper.make_node("MatMul", ["surface", "surface_weight"], ["cues"]),
        helper.make_node("Add", ["embedded", "cues"], ["linear"]),
        helper.make_node("Tanh", ["linear"], ["inputs"]),
        helper.make_node(
            "GRU",
            ["inputs", "W", "R", "B", "lengths"],
            ["directions"],
            hidden_size=hidden,
            direction="bidirectional",
            linear_before_reset=1,
        ),
        helper.make_node("Transpose", ["directions"], ["by_batch"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["by_batch", "flat"], ["states"]),
        helper.make_node("MatMul", ["states", "emit_weight"], ["emitted"]),
        helper.make_node("Add", ["emitted", "emit_bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["probabilities"]),
    ]
    projection, cues = net.surface.weight.shape
    graph = helper.make_graph(
        nodes,
        "propscan-triage-words",
        [
            helper.make_tensor_value_info("embedded", TensorProto.FLOAT, ["time", "batch", projection]),
            helper.make_tensor_value_info("surface", TensorProto.FLOAT, ["time", "batch", cues]),
            helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"]),
        ],
        [
            helper.make_tensor_value_info("inputs", TensorProto.FLOAT, ["time", "batch", projection]),
            helper.make_tensor_value_info("states", TensorProto.FLOAT, ["time", "batch", 2 * hidden]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["time", "batch", 2]),
        ],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="propscan")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()
