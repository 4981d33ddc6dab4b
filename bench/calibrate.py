"""Measure a trained model's score calibration out of fold on its validation articles, and refit it.

Training fits the map from a span's tagger confidence and technique probability to the probability
that it is right on the recipe's validation articles, then scores it on the test articles. This
cross-fits the same map inside the validation articles: they are split into ``--folds`` groups by a
hash of their id, the map fitted on the others is scored on each group, so every figure comes from
articles that fitted nothing for the map (the model's other choices, its epochs and biases, were
made on the same articles). ``--write`` then fits the map on all of them and stores it in the model
folder's ``config.json``, as training does. ``--all`` uses every article of ``--data`` instead, for
a model trained on another corpus.

    python bench/calibrate.py --model fast-ptc18 --data ../shared/data/nlp4if2019 --plot reliability.png
    python bench/calibrate.py --model path/to/model --data ../shared/data/ptc --write
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from cross_validate import plot_reliability

from propscan.model import load_model
from propscan.pipeline import model_path
from propscan.readers.ptc import load_corpus
from propscan.scoring import is_right, reliability
from propscan.techniques import get_inventory
from propscan.training import fit_calibration
from propscan.training.recipe import split_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fast", help="a preset name or a model folder")
    parser.add_argument("--data", type=Path, default=os.environ.get("PROPSCAN_DATA"), help="a PTC-format corpus folder")
    parser.add_argument("--all", action="store_true", help="use every article of --data, not the validation split")
    parser.add_argument("--folds", type=int, default=5, help="groups of articles the map is cross-fitted over")
    parser.add_argument(
        "--write", action="store_true", help="store the map fitted on all the articles in the model's config.json"
    )
    parser.add_argument("--plot", type=Path, help="write the cross-fitted reliability diagram here (PNG)")
    args = parser.parse_args()
    if args.data is None:
        parser.error("give --data or set PROPSCAN_DATA")
    if args.folds < 2:
        parser.error("--folds takes 2 or more")

    folder = model_path(args.model)
    model = load_model(folder)
    corpus = load_corpus(args.data, get_inventory(model.config.inventory))
    if not args.all:
        corpus = split_corpus(corpus).validation
    encoded = model.encode([d.document.text for d in corpus])
    folds = [[i for i, d in enumerate(corpus) if _fold(d.document.id, args.folds) == k] for k in range(args.folds)]

    model.config.calibration = {}
    raw = _scored(model, corpus, encoded, range(len(corpus)))
    calibrated = []
    for k, scored_fold in enumerate(folds):
        fitting = [i for other, fold in enumerate(folds) if other != k for i in fold]
        model.config.calibration = fit_calibration(model, [corpus[i] for i in fitting], [encoded[i] for i in fitting])
        calibrated += _scored(model, corpus, encoded, scored_fold)
    before = reliability(*zip(*raw, strict=True))
    after = reliability(*zip(*calibrated, strict=True))
    print(f"{folder.name}: {len(corpus)} articles in {args.folds} folds, {len(calibrated)} predicted spans")
    print(f"expected calibration error, 10 bins: {before.ece:.4f} uncalibrated, {after.ece:.4f} cross-fitted")
    print("bin  mean score  share right  spans")
    for low, mean_score, share, count in after.bins:
        print(f"{low:.1f}  {mean_score:10.3f}  {share:11.3f}  {count:5d}")
    if args.plot:
        plot_reliability(
            [list(b) for b in after.bins],
            args.plot,
            f"{folder.name}: cross-fitted on {len(corpus)} articles, ECE {after.ece:.3f}",
        )
    if args.write:
        model.config.calibration = fit_calibration(model, corpus, encoded)
        model.config.metrics.update(
            calibration_articles=len(corpus),
            calibration_ece_uncalibrated=round(before.ece, 4),
            calibration_ece_cross_fitted=round(after.ece, 4),
        )
        # save rewrites the manifest too: a config.json changed behind it would be refused at load.
        model.save(folder)
        print(f"calibration written to {folder / 'config.json'}")
    return 0


def _fold(ident: str, folds: int) -> int:
    return int(hashlib.sha256(ident.encode()).hexdigest(), 16) % folds


def _scored(model, corpus, encoded, indices) -> list[tuple[float, bool]]:
    """(score, right) of every span predicted in the given articles."""
    indices = list(indices)
    predicted = model.predict([corpus[i].document for i in indices], [encoded[i] for i in indices])
    return [
        (span.score or 0.0, is_right(span, corpus[i].spans))
        for i, spans in zip(indices, predicted, strict=True)
        for span in spans
    ]


if __name__ == "__main__":
    sys.exit(main())
