"""Shared fixtures: the tiny PTC-format corpus, a model trained on it, and the shipped models."""

from pathlib import Path

import pytest

TINY = Path(__file__).parent / "data" / "tiny-ptc"
SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def tiny_corpus():
    from propscan.readers.ptc import load_corpus

    return load_corpus(TINY)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_corpus):
    """A fast-preset model trained for a few epochs on the four fixture articles."""
    from propscan.training import preset_config, train

    output = tmp_path_factory.mktemp("tiny-model")
    config = preset_config("fast")
    config.ensemble, config.tagger_epochs, config.classifier_epochs = 2, 3, 10
    train(tiny_corpus, config, output, validation_fraction=0.3)
    return output


@pytest.fixture(scope="session")
def fast_analyzer():
    from propscan import Analyzer

    return Analyzer.load("fast")


@pytest.fixture(scope="session")
def accurate_analyzer():
    from propscan import Analyzer

    return Analyzer.load("accurate")
