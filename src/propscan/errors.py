"""The errors propscan raises. Interfaces turn them into exit codes or HTTP statuses."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from propscan.techniques import Inventory


class PropscanError(Exception):
    """Base class: every error propscan raises on purpose derives from it."""


class InputError(PropscanError):
    """The input cannot be analyzed as given (empty, binary, undecodable, too large)."""


class CorpusFormatError(PropscanError):
    """A corpus or label file is malformed; names the file and line so it can be fixed."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class UnknownTechniqueError(PropscanError):
    """A technique label (or inventory name) that propscan does not know."""

    def __init__(self, label: str, inventory: Inventory | None) -> None:
        self.label = label
        if inventory is None:
            from propscan.techniques import INVENTORIES

            known = ", ".join(INVENTORIES)
            message = f"unknown technique inventory {label!r}; known: {known}"
        else:
            known = ", ".join(inventory.labels)
            message = f"unknown technique {label!r} for inventory {inventory.name!r}; known: {known}"
        super().__init__(message)


class NotFittedError(PropscanError):
    """A model was asked to predict before it was fitted or loaded."""


class ModelError(PropscanError):
    """A model cannot be found, assembled or loaded (missing encoder package, bad hash, ...)."""
