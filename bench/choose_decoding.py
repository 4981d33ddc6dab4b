"""Choose a trained model's decoding biases again on its validation articles, as training now does.

Training chooses the outside bias and the inside bias (a length prior) together on the recipe's
validation articles (``training.selection``); models trained before the inside bias existed chose
the outside bias alone. This chooses both on the same validation articles, refits the score
calibration there (it depends on the spans decoded), and scores the test articles (which choose
nothing) before and after. ``--write`` stores the choice, the calibration and the new test
figures in the model's ``config.json``.

    python bench/choose_decoding.py --model accurate --data ../shared/data/ptc --write
    python bench/choose_decoding.py --model fast-ptc18 --data ../shared/data/nlp4if2019
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from propscan.model import PropagandaModel
from propscan.pipeline import model_path
from propscan.readers.ptc import load_corpus
from propscan.techniques import get_inventory
from propscan.training.recipe import evaluate, fit_calibration, fit_decoding, report_metrics, split_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fast", help="a preset name or a model folder trained by the recipe")
    parser.add_argument("--data", type=Path, default=os.environ.get("PROPSCAN_DATA"), help="its PTC-format corpus")
    parser.add_argument("--write", action="store_true", help="store the choice and figures in the model's config.json")
    args = parser.parse_args()
    if args.data is None:
        parser.error("give --data or set PROPSCAN_DATA")

    folder = model_path(args.model)
    model = PropagandaModel.load(folder)
    split = split_corpus(load_corpus(args.data, get_inventory(model.config.inventory)))
    print(f"{folder.name}: {len(split.validation)} validation, {len(split.test)} test articles")
    before = report_metrics(evaluate(model, split.test), "test")
    print(f"before: outside bias {model.config.outside_bias:+.3f}, inside bias {model.config.inside_bias:+.3f}")
    encoded = model.encode([d.document.text for d in split.validation])
    decoding = fit_decoding(model, split.validation, encoded)
    model.config.calibration = fit_calibration(model, split.validation, encoded)
    print(
        f"chosen: outside bias {decoding.outside_bias:+.3f}, inside bias {decoding.inside_bias:+.3f}, "
        f"validation SI F1 {decoding.si_f1:.4f}"
    )
    after = report_metrics(evaluate(model, split.test), "test")
    print(f"{'test':24} {'before':>8} {'after':>8}")
    for key in before:
        print(f"{key:24} {before[key]:8} {after[key]:8}")
    if args.write:
        model.config.metrics.update(after)
        # save rewrites the manifest too: a config.json changed behind it would be refused at load.
        model.save(folder)
        print(f"written to {folder / 'config.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
