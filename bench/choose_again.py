"""Make a trained model's validation choices again, as training now makes them.

Training chooses, on the recipe's validation articles, the decoding biases (outside, and inside: a
length prior; ``training.selection``) and how much of the training prior over techniques the
technique probabilities give back; then it fits the score calibration, which depends on both,
and the sentence map, which reads the calibrated scores (``sentences``). Models trained before a
choice existed did not make it. This makes the choices named by ``--choose`` on the same
validation articles (the training articles give the technique shares), refits the calibration
there (after ``decoding`` or ``prior``) and the sentence map (always; ``--choose sentences`` fits
only it), and scores the test articles (which choose nothing) before and after. ``--write``
stores the choices, the maps and the new test figures in the model's ``config.json``.
``--reader`` first attaches a span reader trained apart (``training.reader.fit_reader`` on the
same recipe's training articles), so that the choices and calibration are made for the
classifier averaged with it, as training makes them. ``--add-taggers N`` first trains N more taggers
on the model's encoder states (seeds after its own) and averages their emissions with its tagger's
(``ModelConfig.tagger_seeds``; the classifier keeps its states), so the decoding is chosen for them.
The shipped ``fast`` and ``accurate`` got their second seed this way; on them it now adds a third.

    python bench/choose_again.py --model accurate --data ../shared/data/ptc --write
    python bench/choose_again.py --model fast --data ../shared/data/ptc --add-taggers 1 --write
    python bench/choose_again.py --model fast-ptc18 --data ../shared/data/nlp4if2019 --choose prior \
        --reader reader.safetensors --write
    python bench/choose_again.py --model triage --data ../shared/data/ptc --choose sentences --write
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from propscan.model import TriageModel, load_model
from propscan.pipeline import model_path
from propscan.readers.ptc import load_corpus
from propscan.techniques import get_inventory
from propscan.training.recipe import (
    add_taggers,
    evaluate,
    fit_calibration,
    fit_decoding,
    fit_prior_correction,
    fit_sentence_calibration,
    report_metrics,
    split_corpus,
)
from propscan.training.selection import technique_shares

CHOICES = ("decoding", "prior", "sentences")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fast", help="a preset name or a model folder trained by the recipe")
    parser.add_argument("--data", type=Path, default=os.environ.get("PROPSCAN_DATA"), help="its PTC-format corpus")
    parser.add_argument(
        "--choose", default=",".join(CHOICES), help=f"what to choose again, comma-separated: {', '.join(CHOICES)}"
    )
    parser.add_argument("--reader", type=Path, help="a span reader (reader.safetensors) to attach before choosing")
    parser.add_argument(
        "--reader-epochs", type=int, default=3, help="the epochs that reader was trained for (recorded in config.json)"
    )
    parser.add_argument(
        "--add-taggers", type=int, default=0, help="train this many more taggers and join them to the model's (torch)"
    )
    parser.add_argument("--write", action="store_true", help="store the choices and figures in the model's config.json")
    args = parser.parse_args()
    if args.data is None:
        parser.error("give --data or set PROPSCAN_DATA")
    chosen = set(args.choose.split(","))
    if not chosen or chosen - set(CHOICES):
        parser.error(f"--choose takes {', '.join(CHOICES)}")

    folder = model_path(args.model)
    model = load_model(folder)
    if isinstance(model, TriageModel) and "decoding" in chosen:
        parser.error("triage chooses its decoding with its weights, in training; give --choose prior or sentences")
    config = model.config
    split = split_corpus(load_corpus(args.data, get_inventory(config.inventory)))
    print(
        f"{folder.name}: {len(split.train)} training, {len(split.validation)} validation, {len(split.test)} test articles"
    )
    before = report_metrics(evaluate(model, split.test), "test")
    if args.reader:
        if isinstance(model, TriageModel):
            parser.error("triage has no span reader")
        config.reader_epochs = args.reader_epochs
        model.set_reader(args.reader.read_bytes())
        print(f"span reader attached: {args.reader} (its probabilities weigh {config.reader_weight})")
    if args.add_taggers:
        if isinstance(model, TriageModel):
            parser.error("triage has no tagger to join others to")
        if "decoding" not in chosen:
            parser.error("--add-taggers moves the spans: give --choose decoding too")
        add_taggers(model, split.train, split.validation, count=args.add_taggers, log=print)
        print(f"{args.add_taggers} more tagger(s) joined: {config.tagger_seeds} seeds vote on the spans")
    encoded = model.encode([d.document.text for d in split.validation])
    if "decoding" in chosen:
        before_biases = f"{config.outside_bias:+.3f}, {config.inside_bias:+.3f}"
        decoding = fit_decoding(model, split.validation, encoded)
        print(
            f"decoding biases (outside, inside): {before_biases} -> {decoding.outside_bias:+.3f}, "
            f"{decoding.inside_bias:+.3f}; validation SI F1 {decoding.si_f1:.4f}"
        )
    if "prior" in chosen:
        before_strength = config.prior_correction
        config.technique_shares = technique_shares(split.train, config.labels)
        correction = fit_prior_correction(model, split.validation, encoded)
        print(
            f"technique prior correction: {before_strength:.2f} -> {correction.strength:.2f}; validation TC "
            f"micro-F1 {correction.tc_micro_f1:.4f}, macro-F1 {correction.tc_macro_f1:.4f}"
        )
    if chosen & {"decoding", "prior"}:
        config.calibration = fit_calibration(model, split.validation, encoded)
    config.sentence_calibration = fit_sentence_calibration(model, split.validation, encoded)
    print(f"sentence map: {config.sentence_calibration}")
    after = report_metrics(evaluate(model, split.test), "test")
    print(f"{'test':24} {'before':>8} {'after':>8}")
    for key in before:
        print(f"{key:24} {before[key]:8} {after[key]:8}")
    if args.write:
        config.metrics.update(after)
        # save rewrites the manifest too: a config.json changed behind it would be refused at load.
        model.save(folder)
        print(f"written to {folder / 'config.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
