"""Training the heads: needs torch (the ``train`` extra); inference never imports this package."""

from propscan.training.recipe import evaluate, preset_config, split_corpus, train

__all__ = ["evaluate", "preset_config", "split_corpus", "train"]
