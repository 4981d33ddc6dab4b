"""Honest estimates of a training recipe: k-fold cross-validation by article, or the test split.

Every figure comes from articles that chose nothing: each fold's model picks its epochs, decoding
biases, technique-prior correction and calibration on a validation split of its own training
articles, and is then scored on the fold it never saw. The test articles (``training.test_ids``) are left out of the folds, so
choosing a recipe by these folds never touches them; ``--test`` scores the recipe on them once.
Each figure also gets a 95% interval from drawing the scored articles again with replacement
(``scoring.bootstrap_intervals``): on 75 articles a rare technique's F1 is a rough figure.

    python bench/cross_validate.py --data ../shared/data/ptc --model fast --folds 4 --jobs 2
    python bench/cross_validate.py --data ../shared/data/ptc --model accurate --test --save /tmp/accurate
    python bench/cross_validate.py ... --set tag_scheme=split --plot reliability.png --json cv.json
    python bench/cross_validate.py --data ../shared/data/ptc --test --load fast --plot docs/reliability-fast.png
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from propscan.model import load_model
from propscan.model.config import TriageConfig
from propscan.pipeline import model_inventory, model_path
from propscan.readers.ptc import load_corpus
from propscan.scoring import bootstrap_intervals, is_right, reliability
from propscan.techniques import get_inventory
from propscan.training.recipe import evaluate, preset_config, tc_on_gold_spans, test_ids, train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=os.environ.get("PROPSCAN_DATA"), help="a PTC-format corpus folder")
    parser.add_argument("--model", default="fast", help="the preset whose recipe is measured")
    parser.add_argument("--inventory", default=None, help="semeval2020 or ptc18 (default: the preset's)")
    parser.add_argument("--folds", type=int, default=4, help="folds over the development articles")
    parser.add_argument(
        "--test", action="store_true", help="train on the development articles, score the test split once"
    )
    parser.add_argument("--save", type=Path, help="with --test: keep the trained model here")
    parser.add_argument(
        "--load",
        help="with --test: score this saved model (a preset name or folder, trained with the test split held out) "
        "instead of training one",
    )
    parser.add_argument("--jobs", type=int, default=1, help="folds trained at once, one process each")
    parser.add_argument("--device", default="cpu", help="where torch trains: cpu or cuda")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field (JSON value)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1000, help="bootstrap draws of the articles behind each 95%% interval"
    )
    parser.add_argument("--plot", type=Path, help="write the reliability diagram of the pooled predictions here (PNG)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    if args.data is None:
        parser.error("give --data or set PROPSCAN_DATA")
    if args.load and not args.test:
        parser.error("--load scores a model on the test split: give --test too")

    recipe = preset_config(args.model, args.inventory)
    # A loaded model is scored on its own labels: fast-ptc18 on the 18 techniques, whatever --model says.
    inventory = model_inventory(args.load) if args.load and not args.inventory else get_inventory(recipe.inventory)
    corpus = load_corpus(args.data, inventory)
    held_out = set(test_ids([d.document.id for d in corpus]))
    development = [d for d in corpus if d.document.id not in held_out]
    if args.test:
        tasks = [(development, [d for d in corpus if d.document.id in held_out], args.save or args.load)]
    else:
        fold_of = {d.document.id: _fold(d.document.id, args.folds) for d in development}
        tasks = [
            (
                [d for d in development if fold_of[d.document.id] != k],
                [d for d in development if fold_of[d.document.id] == k],
                None,
            )
            for k in range(args.folds)
        ]
    overrides = dict(_parse_override(item) for item in args.set)
    partner = overrides.get("partner", getattr(recipe, "partner", ""))
    if partner and not args.test:
        # A shipped partner was trained on the recipe's training articles, which the folds score.
        parser.error(
            f"the recipe's partner ({partner!r}, whose tagger and classifier vote) has seen these folds: add --set partner="
        )
    started = time.perf_counter()
    jobs = [
        (args.model, args.inventory, overrides, args.device, train_docs, eval_docs, folder, bool(args.load))
        for train_docs, eval_docs, folder in tasks
    ]
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(_run_fold, jobs))
    summary = _summarize(
        results, protocol="test" if args.test else f"{args.folds}-fold CV", overrides=overrides, rounds=args.rounds
    )
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    name = args.load or args.model
    _print(summary, name)
    if args.plot:
        plot_reliability(
            summary["reliability"], args.plot, f"{name}: {summary['protocol']}, ECE {summary['pooled_ece']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def _fold(ident: str, folds: int) -> int:
    return int(hashlib.sha256(f"fold:{ident}".encode()).hexdigest()[:8], 16) % folds


def _parse_override(item: str) -> tuple[str, object]:
    key, _, value = item.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _run_fold(job) -> dict:
    """Train on one side (or load the model trained on it), score the other; one process per fold,
    one torch thread each."""
    preset, inventory, overrides, device, train_docs, eval_docs, folder, load = job
    model = (
        load_model(model_path(folder)) if load else _trained(preset, inventory, overrides, device, train_docs, folder)
    )
    report = evaluate(model, eval_docs)
    tc = report["tc"]
    pairs = [
        (span.score or 0.0, is_right(span, document.spans))
        for document, spans in zip(eval_docs, report["predicted"], strict=True)
        for span in spans
    ]
    # The same spans labelled without the technique-prior correction the fold chose: what it adds.
    strength, model.config.prior_correction = model.config.prior_correction, 0.0
    uncorrected = tc_on_gold_spans(model, eval_docs) if strength else tc
    model.config.prior_correction = strength
    return {
        "articles": len(eval_docs),
        "si": {"precision": report["si"].precision, "recall": report["si"].recall, "f1": report["si"].f1},
        "tc_micro_f1": tc.micro.f1,
        "tc_macro_f1": tc.macro_f1,
        "per_technique": {t: {"f1": prf.f1, "support": prf.support} for t, prf in tc.per_technique.items()},
        "tc_uncorrected": {
            "micro_f1": uncorrected.micro.f1,
            "macro_f1": uncorrected.macro_f1,
            "per_technique": {t: prf.f1 for t, prf in uncorrected.per_technique.items()},
        },
        "ece": report["ece"],
        "si_counts": report["si_counts"],
        "tc_counts": report["tc_counts"],
        "lengths": report["span_lengths"],
        "pairs": pairs,
        "chosen": _choices(model.config),
    }


def _trained(preset, inventory, overrides, device, train_docs, save):
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("PROPSCAN_TRAIN_THREADS", "1"))))
    config = preset_config(preset, inventory)
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise SystemExit(f"unknown config field {key!r}")
        setattr(config, key, value)
    with tempfile.TemporaryDirectory() as scratch:
        return train(
            train_docs,
            config,
            save or scratch,
            test_fraction=0.0,
            device=device,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )


def _choices(config) -> dict:
    """What the fold's validation articles chose: epochs and decoding biases, or triage's epoch and decoding."""
    if isinstance(config, TriageConfig):
        return {
            "epoch": config.metrics.get("best_epoch"),
            "threshold": config.threshold,
            "begin_threshold": config.begin_threshold,
            "peak_threshold": config.peak_threshold,
            "fill_gap": config.fill_gap,
            "min_chars": config.min_chars,
            "prior_correction": config.prior_correction,
            "validation_si_f1": config.metrics.get("validation_si_f1"),
        }
    return {
        "epochs": config.metrics.get("tagger_epochs_kept"),
        "outside_bias": config.outside_bias,
        "inside_bias": config.inside_bias,
        "prior_correction": config.prior_correction,
    }


def _summarize(results: list[dict], *, protocol: str, overrides: dict, rounds: int) -> dict:
    def spread(values: list[float]) -> dict:
        return {"mean": statistics.fmean(values), "std": statistics.pstdev(values) if len(values) > 1 else 0.0}

    techniques = sorted({t for r in results for t in r["per_technique"]})
    pairs = [p for r in results for p in r["pairs"]]
    pooled = reliability([s for s, _ in pairs], [o for _, o in pairs])
    lengths = sorted(length for r in results for length in r["lengths"])
    # Folds score different articles, so their counts pool into one sample to draw from.
    intervals = bootstrap_intervals(
        {i: c for r in results for i, c in r["si_counts"].items()},
        {i: c for r in results for i, c in r["tc_counts"].items()},
        rounds=rounds,
    )
    return {
        "protocol": protocol,
        "overrides": overrides,
        "articles": sum(r["articles"] for r in results),
        "si_precision": spread([r["si"]["precision"] for r in results]),
        "si_recall": spread([r["si"]["recall"] for r in results]),
        "si_f1": spread([r["si"]["f1"] for r in results]),
        "tc_micro_f1": spread([r["tc_micro_f1"] for r in results]),
        "tc_macro_f1": spread([r["tc_macro_f1"] for r in results]),
        "tc_uncorrected_micro_f1": spread([r["tc_uncorrected"]["micro_f1"] for r in results]),
        "tc_uncorrected_macro_f1": spread([r["tc_uncorrected"]["macro_f1"] for r in results]),
        "ece": spread([r["ece"] for r in results]),
        "pooled_ece": pooled.ece,
        "median_span_chars": lengths[len(lengths) // 2] if lengths else 0,
        "intervals": {
            "level": intervals.level,
            "rounds": rounds,
            "si_f1": intervals.si_f1,
            "tc_micro_f1": intervals.tc_micro_f1,
            "tc_macro_f1": intervals.tc_macro_f1,
        },
        "per_technique": {
            t: {
                **spread([r["per_technique"].get(t, {"f1": 0.0})["f1"] for r in results]),
                "interval": intervals.per_technique.get(t),
                "uncorrected": spread([r["tc_uncorrected"]["per_technique"].get(t, 0.0) for r in results]),
                "support": sum(r["per_technique"].get(t, {"support": 0})["support"] for r in results),
            }
            for t in techniques
        },
        "reliability": [list(b) for b in pooled.bins],
        "folds": [
            {k: r[k] for k in ("articles", "si", "tc_micro_f1", "tc_macro_f1", "ece", "chosen")} for r in results
        ],
    }


def _print(summary: dict, name: str) -> None:
    def f(key: str) -> str:
        value = summary[key]
        return f"{value['mean']:.4f} ± {value['std']:.4f}"

    def interval(bounds: list[float] | tuple[float, float] | None) -> str:
        return f"[{bounds[0]:.3f}, {bounds[1]:.3f}]" if bounds else "[none]"

    intervals = summary["intervals"]

    print(f"{name}, {summary['protocol']}, {summary['articles']} articles, overrides {summary['overrides']}")
    print(
        f"SI F1 {f('si_f1')}  (P {f('si_precision')}, R {f('si_recall')}); median span {summary['median_span_chars']} chars"
    )
    print(f"TC micro-F1 {f('tc_micro_f1')}, macro-F1 {f('tc_macro_f1')}")
    print(
        f"{intervals['level']:.0%} intervals over the articles ({intervals['rounds']} bootstrap draws): "
        f"SI F1 {interval(intervals['si_f1'])}, TC micro-F1 {interval(intervals['tc_micro_f1'])}, "
        f"macro-F1 {interval(intervals['tc_macro_f1'])}"
    )
    print(
        f"TC without the technique-prior correction: micro-F1 {f('tc_uncorrected_micro_f1')}, "
        f"macro-F1 {f('tc_uncorrected_macro_f1')}"
    )
    print(f"ECE {f('ece')} per fold, {summary['pooled_ece']:.4f} pooled")
    for technique, row in summary["per_technique"].items():
        print(
            f"  {technique:40s} F1 {row['mean']:.3f} ± {row['std']:.3f} {interval(row['interval'])}  "
            f"({row['support']} gold; uncorrected {row['uncorrected']['mean']:.3f})"
        )
    print("reliability (bin, mean score, share right, spans):")
    for low, mean_score, share, count in summary["reliability"]:
        print(f"  {low:.1f}  {mean_score:.3f}  {share:.3f}  {count}")
    print(f"wall {summary['wall_seconds']} s")


def plot_reliability(bins: list[list[float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    # Marker area follows the number of spans in the bin: a bin of three spans says little.
    total = sum(b[3] for b in bins) or 1
    axis.scatter([b[1] for b in bins], [b[2] for b in bins], s=[20 + 2000 * b[3] / total for b in bins], alpha=0.6)
    solid = [b for b in bins if b[3] >= 10]
    axis.plot([b[1] for b in solid], [b[2] for b in solid], marker="", label="propscan spans (bins of 10 or more)")
    for _, mean_score, share, count in bins:
        axis.annotate(str(count), (mean_score, share), textcoords="offset points", xytext=(6, -10), fontsize=7)
    axis.set_xlabel("span score")
    axis.set_ylabel("share of spans that are right")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_title(title, fontsize=9)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
