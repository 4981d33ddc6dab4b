"""The propaganda model and its configuration."""

from propscan.model.config import PRESETS, ModelConfig
from propscan.model.propaganda import PropagandaModel

__all__ = ["PRESETS", "ModelConfig", "PropagandaModel"]
