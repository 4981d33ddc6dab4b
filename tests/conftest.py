"""Shared fixtures: the tiny PTC-format corpus, a model trained on it, and the shipped models."""

from pathlib import Path

import pytest

TINY = Path(__file__).parent / "data" / "tiny-ptc"
SHARED = Path(__file__).resolve().parents[2] / "shared"

# What makes a test slow: training the tiny model, loading a shipped one, a browser, a database
# server or a subprocess per test. `pytest -m "not slow"` is the developer's loop; CI runs all.
SLOW_FIXTURES = {"tiny_model_dir", "tiny_triage_dir", "fast_analyzer", "accurate_analyzer"}
SLOW_MODULES = {"test_shipped_models", "test_web", "test_jobs", "test_encoders", "test_spacy_component", "test_fitting"}


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rpartition(".")[2]
        if module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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
    # The encoder stays frozen: a few warm-up steps on four articles would only perturb it
    # (test_encoder_tuning.py trains a model that fine-tunes it).
    config.encoder_epochs = 0
    config.reader_epochs = 0  # test_span_reader.py trains a model with a reader
    config.tagger_seeds = 1  # test_model.py trains and joins more seeds
    train(tiny_corpus, config, output, validation_fraction=0.3, test_fraction=0.0)
    return output


@pytest.fixture(scope="session")
def fast_analyzer():
    from propscan import Analyzer

    return Analyzer.load("fast")


@pytest.fixture(scope="session")
def accurate_analyzer():
    from propscan import Analyzer

    return Analyzer.load("accurate")
