"""Training the heads: needs torch (the ``train`` extra); inference never imports this package."""

from propscan.training.recipe import evaluate, fit_calibration, preset_config, split_corpus, test_ids, train

__all__ = ["evaluate", "fit_calibration", "preset_config", "split_corpus", "test_ids", "train"]
