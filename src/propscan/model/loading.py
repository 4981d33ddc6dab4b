"""Loading a saved model of any kind: ``config.json``'s ``model_type`` names the class that reads it."""

from __future__ import annotations

import json
from pathlib import Path

from propscan.errors import ModelError
from propscan.model.config import MODEL_TYPE, TRIAGE_MODEL_TYPE
from propscan.model.propaganda import PropagandaModel
from propscan.model.triage import TriageModel

# model_type -> the class whose ``load`` reads that kind of folder.
MODEL_TYPES: dict[str, type[PropagandaModel] | type[TriageModel]] = {
    MODEL_TYPE: PropagandaModel,
    TRIAGE_MODEL_TYPE: TriageModel,
}


def load_model(folder: str | Path, *, threads: int | None = None) -> PropagandaModel | TriageModel:
    """Load the model saved in ``folder``, whichever kind it is.

    Raises:
        ModelError: if the folder has no readable config or names an unknown ``model_type``.
    """
    folder = Path(folder)
    return MODEL_TYPES[saved_model_type(folder)].load(folder, threads=threads)


def saved_model_type(folder: str | Path) -> str:
    """The ``model_type`` of the model saved in ``folder``, read from its config alone.

    Raises:
        ModelError: if the folder has no readable config or names an unknown ``model_type``.
    """
    folder = Path(folder)
    try:
        kind = json.loads((folder / "config.json").read_text()).get("model_type", MODEL_TYPE)
    except FileNotFoundError:
        raise ModelError(f"{folder} is not a propscan model: it lacks config.json") from None
    except (ValueError, AttributeError) as error:
        raise ModelError(f"{folder / 'config.json'} is malformed ({error})") from None
    if kind not in MODEL_TYPES:
        raise ModelError(f"{folder} holds a {kind!r} model; propscan reads {', '.join(MODEL_TYPES)}")
    return kind
