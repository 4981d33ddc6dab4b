"""Training internals: the feature cache and the export of the heads."""

import numpy as np
import pytest

pytest.importorskip("torch")

from propscan.model.config import ModelConfig
from propscan.model.features import TokenEncoder
from propscan.training.fitting import encode_cached


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    from propscan.settings import get_settings

    monkeypatch.setenv("PROPSCAN_CACHE", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_feature_cache_is_written_once_and_read_back_memory_mapped(cache, monkeypatch):
    config = ModelConfig(int8=True, window=16, overlap=4)
    encoder = TokenEncoder(config.encoder, int8=True, top_layers=config.top_layers, window=16, overlap=4, threads=1)
    texts = ["A shameless betrayal of every family.", "", "Enough is enough. " * 12]
    first = encode_cached(config, encoder, texts)
    direct = encoder.encode(texts)
    assert [len(e) for e in first] == [len(e) for e in direct]
    for cached, fresh in zip(first, direct, strict=True):
        assert np.array_equal(cached.offsets, fresh.offsets)
        assert np.allclose(cached.layers.astype(np.float32), fresh.layers, atol=2e-2)
    assert all(isinstance(e.layers, np.memmap) and not e.layers.flags.writeable for e in (first[0], first[2]))

    monkeypatch.setattr(encoder, "encode", lambda texts: pytest.fail("the cache should have been used"))
    again = encode_cached(config, encoder, texts)
    assert all(np.array_equal(a.layers, b.layers) for a, b in zip(first, again, strict=True))
    assert len(list((cache / "features").iterdir())) == 1


def test_feature_caches_of_older_versions_are_removed(cache):
    from propscan.model.features import FEATURES_VERSION

    stale = [
        cache / "features" / "0123456789abcdef01234567",
        cache / "features" / f"v{FEATURES_VERSION - 1}-0123456789abcdef",
    ]
    for folder in stale:
        folder.mkdir(parents=True)
        (folder / "layers.npy").write_bytes(b"old states")
    config = ModelConfig(int8=True, window=16, overlap=4)
    encoder = TokenEncoder(config.encoder, int8=True, top_layers=config.top_layers, window=16, overlap=4, threads=1)
    encode_cached(config, encoder, ["A shameless betrayal of every family."])
    [kept] = list((cache / "features").iterdir())
    assert kept.name.startswith(f"v{FEATURES_VERSION}-") and not any(folder.exists() for folder in stale)


def test_cached_states_are_shared_by_any_list_of_the_same_texts(cache, monkeypatch):
    """Cross-validation folds and reruns on a subset reuse what was encoded once."""
    config = ModelConfig(int8=True, window=16, overlap=4)
    encoder = TokenEncoder(config.encoder, int8=True, top_layers=config.top_layers, window=16, overlap=4, threads=1)
    texts = ["A shameless betrayal of every family.", "Stop the deal now!", "The council voted seven to four."]
    whole = encode_cached(config, encoder, texts)
    encoded_again = []
    original = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda batch: encoded_again.extend(batch) or original(batch))
    subset = encode_cached(config, encoder, [texts[2], texts[0], "A new text."])
    assert encoded_again == ["A new text."]
    assert np.array_equal(subset[0].layers, whole[2].layers) and np.array_equal(subset[1].layers, whole[0].layers)


def test_split_tags_begin_a_span_at_every_gold_start():
    from propscan.document import AnnotatedDocument, Document, Span
    from propscan.model.decoding import BEGIN, INSIDE, OUTSIDE
    from propscan.training.fitting import token_tags

    text = "they are mad sectarian liars"
    offsets = np.array([[0, 4], [5, 8], [9, 12], [13, 22], [23, 28]])
    document = AnnotatedDocument(Document(text, "1"), (Span(5, 28, "Doubt"), Span(9, 22, "Loaded_Language")))
    assert token_tags(document, offsets, "merged").tolist() == [OUTSIDE, BEGIN, INSIDE, INSIDE, INSIDE]
    assert token_tags(document, offsets, "split").tolist() == [OUTSIDE, BEGIN, BEGIN, INSIDE, INSIDE]
