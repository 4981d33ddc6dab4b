"""Cascade benchmark: throughput and SI F1 of screener -> confirmer against the confirmer on everything.

Run on purpose (never in CI), on the recipe's held-out test articles of the PTC corpus:

    nice -n 5 python bench/bench_cascade.py --screener fast --confirmer accurate --articles 40

The confirmer's pass over everything and the screener's pass are each run (and timed) once; each
flag threshold then only builds the excerpts and runs the confirmer on them, so a threshold's
articles/s is ``articles / (screening + excerpts + confirming)`` seconds, and its speed-up over the
confirmer on everything is computed from the CPU time of this process (steadier on a shared machine). One threshold is checked
against ``Cascade.predict`` end to end (same spans). Writes the table as JSON and a PNG plot.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "ptc"
BATCH = 8  # the batch runner's default batch size
T = TypeVar("T")


class Clock:
    """Wall seconds and this process's CPU seconds (all its threads) spent in ``timed`` calls.

    On a shared machine the wall time of a pass depends on the neighbours' load; the CPU time the
    work itself took depends much less on it, so speed-ups are computed from CPU time too.
    """

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __add__(self, other: Clock) -> Clock:
        total = Clock()
        total.wall, total.cpu = self.wall + other.wall, self.cpu + other.cpu
        return total


def timed(work: Callable[[], T]) -> tuple[T, Clock]:
    clock = Clock()
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    clock.wall, clock.cpu = time.perf_counter() - wall, time.process_time() - cpu
    return result, clock


def in_batches(predict: Callable[[list], list[T]], items: Sequence) -> list[T]:
    """``predict`` over ``items`` eight at a time, as ``propscan batch`` calls the analyzer."""
    return [result for first in range(0, len(items), BATCH) for result in predict(list(items[first : first + BATCH]))]


def sentences_sent(excerpts, documents) -> tuple[int, int]:
    """Sentences inside the excerpts' passages, and sentences in all."""
    sent = total = 0
    for excerpt, document in zip(excerpts, documents, strict=True):
        sentences = document.sentences()
        total += len(sentences)
        sent += sum(any(a <= s.start and s.end <= b for a, b in excerpt.passages) for s in sentences)
    return sent, total


def measure(args: argparse.Namespace) -> dict:
    from propscan.cascade import Cascade
    from propscan.pipeline import Analyzer
    from propscan.readers.ptc import load_corpus
    from propscan.scoring import si_score
    from propscan.training.recipe import test_ids

    corpus = {d.document.id: d for d in load_corpus(args.data)}
    chosen = test_ids(corpus)[: args.articles]
    documents = [corpus[i].document for i in chosen]
    gold = {i: corpus[i].spans for i in chosen}
    screener = Analyzer.load(args.screener, threads=args.threads)
    confirmer = Analyzer.load(args.confirmer, threads=args.threads)
    screener.predict(documents[:1])  # warm-up: first calls allocate
    confirmer.predict(documents[:1])

    def f1(analyses_spans) -> float:
        return si_score(gold, dict(zip(chosen, analyses_spans, strict=True))).f1

    everywhere, confirmer_time = timed(lambda: in_batches(confirmer.predict, documents))
    screened, screen_time = timed(lambda: in_batches(screener.predict, documents))
    print(
        f"{len(documents)} articles; confirmer everywhere {confirmer_time.wall:.1f}s ({confirmer_time.cpu:.1f} CPU s), "
        f"screener {screen_time.wall:.1f}s ({screen_time.cpu:.1f} CPU s)",
        flush=True,
    )
    rows = []
    for context, threshold in [(c, t) for c in args.contexts for t in args.thresholds]:
        cascade = Cascade(screener, confirmer, flag_threshold=threshold, context=context)
        excerpts, excerpt_time = timed(lambda c=cascade: c.excerpts(documents, screened))
        confirmed, confirm_time = timed(lambda c=cascade, e=excerpts: in_batches(c.confirm, e))
        spent = screen_time + excerpt_time + confirm_time
        sent, sentences = sentences_sent(excerpts, documents)
        # The default keeps the screener's spans outside the passages; --confirmed-only does not.
        kept = [spans + cascade.unconfirmed(a, e) for spans, a, e in zip(confirmed, screened, excerpts, strict=True)]
        rows.append(
            {
                "context": context,
                "flag_threshold": threshold,
                "articles_per_second": round(len(documents) / spent.wall, 3),
                "speedup_cpu": round(confirmer_time.cpu / spent.cpu, 2),
                "sentences_sent": round(sent / sentences, 4),
                "characters_sent": round(
                    sum(b - a for e in excerpts for a, b in e.passages) / sum(len(d.text) for d in documents), 4
                ),
                "articles_sent": round(sum(bool(e) for e in excerpts) / len(documents), 4),
                "si_f1": round(f1(kept), 4),
                "si_f1_confirmed_only": round(f1(confirmed), 4),
            }
        )
        print(rows[-1], flush=True)
    middle = args.thresholds[len(args.thresholds) // 2]
    check = Cascade(screener, confirmer, flag_threshold=middle, context=args.contexts[0])
    end_to_end = [[(s.start, s.end, s.technique) for s in a.spans] for a in in_batches(check.predict, documents[:8])]
    excerpts = check.excerpts(documents[:8], screened[:8])
    decomposed = [
        sorted((s.start, s.end, s.technique) for s in spans + check.unconfirmed(a, e))
        for spans, a, e in zip(in_batches(check.confirm, excerpts), screened, excerpts, strict=False)
    ]
    assert [sorted(spans) for spans in end_to_end] == decomposed, "Cascade.predict differs from its parts"
    return {
        "screener": screener.name,
        "confirmer": confirmer.name,
        "articles": len(documents),
        "threads": args.threads,
        "confirmer_everywhere": {
            "articles_per_second": round(len(documents) / confirmer_time.wall, 3),
            "speedup_cpu": 1.0,
            "si_f1": round(f1([a.spans for a in everywhere]), 4),
        },
        "screener_alone": {
            "articles_per_second": round(len(documents) / screen_time.wall, 3),
            "speedup_cpu": round(confirmer_time.cpu / screen_time.cpu, 2),
            "si_f1": round(f1([a.spans for a in screened]), 4),
        },
        "load_average": os.getloadavg()[0],
        "cascade": rows,
    }


def plot(result: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5), layout="constrained")
    axes = figure.add_subplot()
    contexts = sorted({r["context"] for r in result["cascade"]})
    for context, color in zip(contexts, ("tab:blue", "tab:green", "tab:purple"), strict=False):
        rows = [r for r in result["cascade"] if r["context"] == context]
        speedups = [r["speedup_cpu"] for r in rows]
        axes.plot(
            speedups,
            [r["si_f1"] for r in rows],
            marker="o",
            color=color,
            label=f"cascade, context {context}",
        )
        axes.plot(
            speedups,
            [r["si_f1_confirmed_only"] for r in rows],
            marker=".",
            linestyle="--",
            color=color,
            alpha=0.5,
            label=f"cascade, context {context}, --confirmed-only",
        )
        for row in rows:
            axes.annotate(
                f"{row['flag_threshold']:g}: {row['sentences_sent']:.0%}",
                (row["speedup_cpu"], row["si_f1"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize="x-small",
                color=color,
            )
    for key, color, label in (
        ("confirmer_everywhere", "black", f"{result['confirmer']} on everything"),
        ("screener_alone", "tab:orange", f"{result['screener']} alone"),
    ):
        point = result[key]
        axes.scatter([point["speedup_cpu"]], [point["si_f1"]], color=color, marker="s", zorder=3, label=label)
    axes.set_xscale("log")
    axes.set_xlabel(f"speed-up over {result['confirmer']} on everything (CPU time, log scale)")
    axes.set_ylabel("SI F1 (official metric)")
    axes.set_title(
        f"{result['screener']} screening for {result['confirmer']}, {result['articles']} held-out PTC articles\n"
        "labels: flag threshold: share of sentences sent"
    )
    axes.legend(fontsize="x-small", loc="lower left")
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="PTC-format corpus (default ../shared/data/ptc)"
    )
    parser.add_argument("--screener", default="fast")
    parser.add_argument("--confirmer", default="accurate")
    parser.add_argument("--articles", type=int, default=40, help="held-out test articles to use (default 40)")
    parser.add_argument("--thresholds", default="0.1,0.2,0.25,0.3,0.35,0.4,0.5")
    parser.add_argument("--contexts", default="0,1", help="sentences of context around a flagged one, each tried")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--plot", type=Path, default=None, help="write the PNG plot here (e.g. docs/cascade.png)")
    args = parser.parse_args()
    args.thresholds = [float(t) for t in args.thresholds.split(",")]
    args.contexts = [int(c) for c in args.contexts.split(",")]
    result = measure(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(result, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
