"""Training the heads with torch, then exporting them to ONNX for torch-free inference.

Only ``PropagandaModel.fit`` imports this module, so torch is needed to train, never to analyze.
The encoder stays frozen: its states are computed once per corpus and cached in the propscan
cache folder, so a second training run on the same texts starts at the heads.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import random
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from propscan.document import AnnotatedDocument, merge_intervals
from propscan.model.config import ModelConfig
from propscan.model.decoding import BEGIN, INSIDE, N_TAGS, Transitions
from propscan.model.features import FEATURES_VERSION, SURFACE_FEATURES, EncodedText, TokenEncoder
from propscan.model.span_features import span_representations, token_range
from propscan.settings import get_settings
from propscan.training.classifier import TechniqueClassifier
from propscan.training.selection import Decoding, choose_decoding
from propscan.training.tagger import SpanTagger, TaggerSnapshots

logger = logging.getLogger(__name__)

Log = Callable[[str], None]


@dataclass
class TrainedHeads:
    """What training produces: the two heads as ONNX graphs, the CRF transitions, and the validation
    articles' encodings for the choices made after it (``recipe.fit``)."""

    tagger_onnx: bytes
    classifier_onnx: bytes
    transitions: Transitions
    metrics: dict = field(default_factory=dict)
    validation_encoded: list[EncodedText] = field(default_factory=list)


def fit_heads(
    config: ModelConfig,
    encoder: TokenEncoder,
    train: Sequence[AnnotatedDocument],
    validation: Sequence[AnnotatedDocument],
    *,
    seed: int,
    log: Log,
    device: str = "cpu",
) -> TrainedHeads:
    """Train the tagger, then the classifier on the tagger's states; choose their epochs on ``validation``.

    ``device`` is where torch trains ("cpu", "cuda"); the exported heads run on the CPU either way.
    """
    started = time.perf_counter()
    log(f"encoding {len(train) + len(validation)} documents with {config.encoder}")
    train_enc = encode_cached(config, encoder, [d.document.text for d in train])
    validation_enc = encode_cached(config, encoder, [d.document.text for d in validation])
    metrics: dict = {"encoding_seconds": round(time.perf_counter() - started, 1)}
    tagger = _fit_tagger(
        config, encoder.dim, train, train_enc, validation, validation_enc, metrics, log, torch.device(device), seed
    )
    classifier = _fit_classifier(tagger, config, train, train_enc, validation, validation_enc, metrics, log)
    n_inputs = classifier.norm.normalized_shape[0]
    return TrainedHeads(
        tagger_onnx=_tagger_graph(tagger, config, encoder.dim),
        classifier_onnx=_to_onnx(
            classifier,
            (torch.zeros((2, n_inputs)),),
            inputs=["features"],
            outputs=["probabilities"],
            dynamic={"features": {0: "spans"}, "probabilities": {0: "spans"}},
        ),
        transitions=tagger.transitions(),
        metrics=metrics,
        validation_encoded=validation_enc,
    )


def fit_more_taggers(
    config: ModelConfig,
    encoder: TokenEncoder,
    train: Sequence[AnnotatedDocument],
    validation: Sequence[AnnotatedDocument],
    *,
    count: int,
    seed: int,
    log: Log,
    device: str = "cpu",
) -> tuple[bytes, Transitions]:
    """Train ``count`` taggers, seeded ``seed``, ``seed + 1``, ..., on the states a trained model's
    tagger learned from, each choosing its epochs on ``validation`` as ``fit_heads`` does: one
    averaged graph and its transitions, to join to that model's (``join_taggers``) without training
    its classifier again."""
    train_enc = encode_cached(config, encoder, [d.document.text for d in train])
    validation_enc = encode_cached(config, encoder, [d.document.text for d in validation])
    tagger = _fit_tagger(
        replace(config, tagger_seeds=count),
        encoder.dim,
        train,
        train_enc,
        validation,
        validation_enc,
        {},
        log,
        torch.device(device),
        seed,
    )
    return _tagger_graph(tagger, config, encoder.dim), tagger.transitions()


def join_taggers(graphs: Sequence[bytes], weights: Sequence[float]) -> bytes:
    """One tagger graph from several trained apart: their emissions averaged with ``weights`` (the
    seeds each holds), and the first one's states, which the classifier was trained on."""
    parts = [
        onnx.compose.add_prefix(onnx.load_from_string(graph), f"seed{k}/", rename_inputs=False)
        for k, graph in enumerate(graphs)
    ]
    shares = [
        numpy_helper.from_array(np.asarray(weight / sum(weights), dtype=np.float32), f"seed{k}/share")
        for k, weight in enumerate(weights)
    ]
    nodes = [node for part in parts for node in part.graph.node]
    nodes += [
        helper.make_node("Mul", [f"seed{k}/emissions", f"seed{k}/share"], [f"seed{k}/weighted"])
        for k in range(len(parts))
    ]
    nodes += [
        helper.make_node("Sum", [f"seed{k}/weighted" for k in range(len(parts))], ["emissions"]),
        helper.make_node("Identity", ["seed0/states"], ["states"]),
    ]
    outputs = []
    for output in parts[0].graph.output:
        renamed = onnx.ValueInfoProto()
        renamed.CopyFrom(output)
        renamed.name = output.name.removeprefix("seed0/")
        outputs.append(renamed)
    graph = helper.make_graph(
        nodes,
        "tagger_seeds",
        list(parts[0].graph.input),
        outputs,
        [initializer for part in parts for initializer in part.graph.initializer] + shares,
    )
    joined = helper.make_model(graph, opset_imports=parts[0].opset_import, ir_version=parts[0].ir_version)
    onnx.checker.check_model(joined)
    return joined.SerializeToString()


def fit_logistic_calibration(points: Sequence[tuple[float, float]], right: Sequence[bool]) -> dict[str, float]:
    """A logistic map from (tagger confidence, technique probability) to being right.

    Chosen over isotonic regression, which overfits the few hundred spans of a validation split
    (the README's calibration section has the cross-fitted comparison).
    """
    confidence = np.clip(np.asarray([c for c, _ in points]), 1e-6, 1 - 1e-6)
    probability = np.clip(np.asarray([p for _, p in points]), 1e-6, 1.0)
    features = np.column_stack([np.log(confidence / (1 - confidence)), np.log(probability)])
    return fit_logistic(features, right, ("tagger", "technique"))


def fit_logistic(features: np.ndarray, outcomes: Sequence[bool] | np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Logistic regression of ``outcomes`` on the columns of ``features``: their weights under
    ``names``, and "intercept"; empty when the outcomes are all alike. Barely regularized: a few
    weights, fitted on thousands of points."""
    from sklearn.linear_model import LogisticRegression

    if len(set(outcomes)) < 2:
        return {}
    model = LogisticRegression(C=100.0).fit(features, np.asarray(outcomes, dtype=int))
    weights = {name: round(float(weight), 5) for name, weight in zip(names, model.coef_[0], strict=True)}
    return weights | {"intercept": round(float(model.intercept_[0]), 5)}


def encode_cached(config: ModelConfig, encoder: TokenEncoder, texts: list[str]) -> list[EncodedText]:
    """Encode training texts once per encoder setting; any later run, or cross-validation fold,
    reuses the cached states of every text it shares.

    Each text's states are a float16 ``.npy`` file read as a memory map (about 4 GB for MPNet
    over PTC in all), so neither encoding nor training holds them all in RAM.
    """
    setting: tuple = (config.encoder, config.int8, config.top_layers, config.window, config.overlap)
    if encoder.deltas_sha256:
        setting += (encoder.deltas_sha256,)
    root = get_settings().cache_dir / "features"
    folder = root / f"v{FEATURES_VERSION}-{hashlib.sha256(repr(setting).encode()).hexdigest()[:16]}"
    keys = [hashlib.sha256(text.encode()).hexdigest()[:32] for text in texts]
    missing = {key: text for key, text in zip(keys, texts, strict=True) if not (folder / f"{key}.layers.npy").exists()}
    if missing:
        _drop_stale_features(root)
        _write_features(folder, encoder, missing)
    return [
        EncodedText(
            np.load(folder / f"{key}.offsets.npy"),
            np.load(folder / f"{key}.layers.npy", mmap_mode="r"),
            np.load(folder / f"{key}.surface.npy"),
        )
        for key in keys
    ]


def _drop_stale_features(root: Path) -> None:
    """Delete states cached by another ``FEATURES_VERSION``: no run can read them again, and each
    takes gigabytes."""
    if root.is_dir():
        for folder in root.iterdir():
            if folder.is_dir() and not folder.name.startswith(f"v{FEATURES_VERSION}-"):
                logger.info("removing stale feature cache %s", folder)
                shutil.rmtree(folder, ignore_errors=True)


def _write_features(folder: Path, encoder: TokenEncoder, texts: dict[str, str]) -> None:
    """Encode and save each text; its ``layers`` file, renamed into place last, marks it complete."""
    folder.mkdir(parents=True, exist_ok=True)
    items = list(texts.items())
    started = time.perf_counter()
    for first in range(0, len(items), 8):
        batch = items[first : first + 8]
        for (key, _), enc in zip(batch, encoder.encode([text for _, text in batch]), strict=True):
            np.save(folder / f"{key}.offsets.npy", enc.offsets)
            np.save(folder / f"{key}.surface.npy", enc.surface)
            partial = folder / f"{key}.partial.npy"
            np.save(partial, enc.layers.astype(np.float16))
            partial.replace(folder / f"{key}.layers.npy")
        if first % 64 == 0 or first + 8 >= len(items):
            logger.info(
                "encoded %d/%d texts in %.0f s", min(first + 8, len(items)), len(items), time.perf_counter() - started
            )


def token_tags(document: AnnotatedDocument, offsets: np.ndarray, scheme: str = "merged") -> torch.Tensor:
    """BIO tags of each token, given the tokens' (n, 2) character ``offsets``.

    ``merged``: one span per union of overlapping gold spans (SI gold). ``split``: the same
    tokens, but every gold span's first token begins a span, so a technique inside a longer one
    starts a span of its own and the tagger learns the annotators' phrase-sized units.
    """
    tags = torch.zeros(len(offsets), dtype=torch.long)
    for start, end in merge_intervals((s.start, s.end) for s in document.spans):
        first, last = token_range(offsets, start, end)
        if last > first:
            tags[first] = BEGIN
            tags[first + 1 : last] = INSIDE
    if scheme == "split":
        for span in document.spans:
            tags[token_range(offsets, span.start, span.end)[0]] = BEGIN
    return tags


def _tagger_graph(tagger: TaggerSnapshots, config: ModelConfig, dim: int) -> bytes:
    return _to_onnx(
        tagger,
        (torch.zeros((1, 5, config.top_layers, dim)), torch.zeros((1, 5, len(SURFACE_FEATURES)))),
        inputs=["layers", "surface"],
        outputs=["emissions", "states"],
        dynamic={
            "layers": {1: "tokens"},
            "surface": {1: "tokens"},
            "emissions": {1: "tokens"},
            "states": {1: "tokens"},
        },
    )


def _fit_tagger(
    config, dim, train, train_enc, validation, validation_enc, metrics, log, device, seed
) -> TaggerSnapshots:
    """Train ``config.tagger_seeds`` taggers, seeded ``seed``, ``seed + 1``, ..., as one averaged
    tagger whose states are the first one's; its decoding is chosen after export (``recipe.fit_decoding``)."""
    tags = [token_tags(d, e.offsets, config.tag_scheme) for d, e in zip(train, train_enc, strict=True)]
    members: list[SpanTagger] = []
    metrics["tagger_epochs_kept"] = []
    for k in range(config.tagger_seeds):
        torch.manual_seed(seed + k)
        random.seed(seed + k)
        if config.tagger_seeds > 1:
            log(f"tagger seed {seed + k}")
        best, epochs = _fit_one_tagger(config, dim, tags, train_enc, validation, validation_enc, log, device)
        members += best
        metrics["tagger_epochs_kept"] += epochs
    return TaggerSnapshots(members).eval()


def _fit_one_tagger(
    config, dim, tags, train_enc, validation, validation_enc, log, device
) -> tuple[list[SpanTagger], list[int]]:
    """Train the BiLSTM-CRF on random 256-token chunks of the training texts (``tags``: their gold
    tags), stopping when validation SI stalls; its best ``config.tagger_snapshots`` epochs, best
    first, and their numbers."""
    tagger = SpanTagger(
        n_layers=config.top_layers,
        dim=dim,
        n_surface=len(SURFACE_FEATURES),
        projection=config.projection,
        hidden=config.lstm_hidden,
        dropout=config.dropout,
    ).to(device)
    optimizer = torch.optim.AdamW(tagger.parameters(), lr=2e-3, weight_decay=1e-4)
    # Validation SI F1 swings by a point or two between epochs, so stopping waits three epochs.
    chunk, batch_size, patience = 256, 16, 3
    snapshots: list[tuple[float, int, dict]] = []  # (validation SI F1, epoch, weights)
    for epoch in range(1, config.tagger_epochs + 1):
        tagger.train()
        pieces: list[tuple[int, int, int]] = []
        for i, enc in enumerate(train_enc):
            shift = random.randrange(chunk) if len(enc) > chunk else 0
            starts = [0, *range(shift, len(enc), chunk)] if shift else list(range(0, len(enc), chunk))
            pieces.extend((i, a, b) for a, b in zip(starts, [*starts[1:], len(enc)], strict=True) if b > a)
        random.shuffle(pieces)
        total = 0.0
        for first in range(0, len(pieces), batch_size):
            batch = pieces[first : first + batch_size]
            layers, surface, lengths = _pad(
                [(train_enc[i].layers[a:b], train_enc[i].surface[a:b]) for i, a, b in batch]
            )
            gold = torch.zeros(lengths.shape[0], layers.shape[1], dtype=torch.long)
            for row, (i, a, b) in enumerate(batch):
                gold[row, : b - a] = tags[i][a:b]
            loss = tagger.loss(layers.to(device), surface.to(device), gold.to(device), lengths)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tagger.parameters(), 5.0)
            optimizer.step()
            total += loss.item() * len(batch)
        tagger.eval()
        chosen = _validation_decoding(tagger, validation, validation_enc)
        log(
            f"tagger epoch {epoch}: loss {total / max(len(pieces), 1):.4f}, validation SI F1 {chosen.si_f1:.4f} "
            f"(outside bias {chosen.outside_bias:+.3f})"
        )
        snapshots.append((chosen.si_f1, epoch, copy.deepcopy(tagger.state_dict())))
        best_epoch = max(snapshots, key=lambda s: s[0])[1]
        if epoch - best_epoch >= patience:
            log(f"no improvement for {patience} epochs")
            break
    best = sorted(snapshots, key=lambda s: -s[0])[: config.tagger_snapshots]
    members = []
    for _, _, weights in best:
        member = copy.deepcopy(tagger)
        member.load_state_dict(weights)
        members.append(member.eval())
    kept = [epoch for _, epoch, _ in best]
    log(f"tagger epochs kept: {kept}")
    return members, kept


def _validation_decoding(tagger, validation, validation_enc) -> Decoding:
    """An epoch's validation SI F1 at its best outside bias (the best bias moves towards 0 as the
    tagger trains), without the length prior: that is chosen once, for the kept epochs."""
    if not validation:
        return Decoding(0.0, 0.0, 0.0)
    emissions = [_tagger_outputs(tagger, enc)[0] for enc in validation_enc]
    offsets = [enc.offsets for enc in validation_enc]
    return choose_decoding(validation, offsets, emissions, tagger.transitions(), inside_biases=(0.0,))


@torch.inference_mode()
def _tagger_outputs(tagger: SpanTagger | TaggerSnapshots, enc: EncodedText) -> tuple[np.ndarray, np.ndarray]:
    if not len(enc):
        return np.zeros((0, N_TAGS), dtype=np.float32), np.zeros((0, 0), dtype=np.float32)
    # Copies: cached states are read-only memory maps.
    device = next(tagger.parameters()).device
    emissions, states = tagger(
        torch.tensor(enc.layers[None], dtype=torch.float32, device=device),
        torch.tensor(enc.surface[None], device=device),
    )
    return emissions[0].cpu().numpy(), states[0].cpu().numpy()


def _span_dataset(tagger, config, documents, encoded) -> tuple[torch.Tensor, torch.Tensor]:
    rows: list[np.ndarray] = []
    targets: list[int] = []
    for document, enc in zip(documents, encoded, strict=True):
        if not document.spans:
            continue
        states = _tagger_outputs(tagger, enc)[1]
        ranges = [token_range(enc.offsets, s.start, s.end) for s in document.spans]
        rows.append(span_representations(document.document.text, enc, states, ranges, context=config.span_context))
        targets.extend(config.labels.index(s.technique) for s in document.spans)
    if not rows:
        return torch.zeros((0, 0)), torch.zeros(0, dtype=torch.long)
    return torch.from_numpy(np.concatenate(rows)), torch.tensor(targets)


def _fit_classifier(tagger, config, train, train_enc, validation, validation_enc, metrics, log) -> TechniqueClassifier:
    device = next(tagger.parameters()).device
    x_train, y_train = (t.to(device) for t in _span_dataset(tagger, config, train, train_enc))
    x_val, y_val = (t.to(device) for t in _span_dataset(tagger, config, validation, validation_enc))
    classifier = TechniqueClassifier(
        n_inputs=x_train.shape[1],
        hidden=config.classifier_hidden,
        n_labels=len(config.labels),
        ensemble=config.ensemble,
        dropout=config.dropout,
    ).to(device)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=1e-3, weight_decay=1e-2)
    best, best_state, batch_size = -1.0, None, 64
    for epoch in range(1, config.classifier_epochs + 1):
        classifier.train()
        order = torch.randperm(len(y_train), device=device)
        for first in range(0, len(order), batch_size):
            index = order[first : first + batch_size]
            logits = classifier.member_logits(x_train[index])
            loss = torch.stack([torch.nn.functional.cross_entropy(member, y_train[index]) for member in logits]).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        classifier.eval()
        with torch.inference_mode():
            accuracy = float((classifier(x_val).argmax(-1) == y_val).float().mean()) if len(y_val) else 0.0
        if epoch % 10 == 0 or epoch == config.classifier_epochs:
            log(f"classifier epoch {epoch}: validation accuracy {accuracy:.4f}")
        if accuracy > best:
            best, best_state = accuracy, {k: v.clone() for k, v in classifier.state_dict().items()}
            metrics["best_classifier_epoch"] = epoch
    if best_state is not None:
        classifier.load_state_dict(best_state)
    classifier.eval()
    return classifier


def _to_onnx(module: torch.nn.Module, example: tuple, *, inputs: list[str], outputs: list[str], dynamic: dict) -> bytes:
    """Export ``module`` in eval mode, its larger weights stored in float16 to halve the artifact.

    Each float16 weight feeds a Cast to float32, which onnxruntime folds once when it loads.
    """
    buffer = io.BytesIO()
    module.cpu().eval()
    with warnings.catch_warnings():
        # The tracer warns about every Python-side shape check in nn.LSTM; the graph is checked below.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            example,
            buffer,  # type: ignore[arg-type]  # torch writes to file-like objects; its stub says paths only
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )
    graph = onnx.load_from_string(buffer.getvalue())
    casts = []
    for initializer in list(graph.graph.initializer):
        if initializer.data_type != onnx.TensorProto.FLOAT or np.prod(initializer.dims) < 256:
            continue
        half = numpy_helper.from_array(
            numpy_helper.to_array(initializer).astype(np.float16), f"{initializer.name}.fp16"
        )
        graph.graph.initializer.remove(initializer)
        graph.graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [initializer.name], to=onnx.TensorProto.FLOAT))
    nodes = casts + list(graph.graph.node)
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    onnx.checker.check_model(graph)
    return graph.SerializeToString()


def _pad(items: list[tuple[np.ndarray, np.ndarray]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(layers) for layers, _ in items])
    longest = int(lengths.max())
    layers = torch.zeros((len(items), longest, *items[0][0].shape[1:]), dtype=torch.float16)
    surface = torch.zeros((len(items), longest, items[0][1].shape[1]))
    for row, (lay, sur) in enumerate(items):
        layers[row, : len(lay)] = torch.tensor(lay)
        surface[row, : len(sur)] = torch.tensor(sur)
    return layers, surface, lengths
