"""The errors propscan raises. Interfaces turn them into exit codes or HTTP statuses."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class PropscanError(Exception):
    """Base class: every error propscan raises on purpose derives from it."""

    def __reduce__(self):
        # Errors cross process boundaries (batch workers, Ray actors, process pools) and are rebuilt
        # from their constructor's arguments: a subclass with its own signature keeps them in _arguments.
        return type(self), getattr(self, "_arguments", self.args)


class InputError(PropscanError):
    """The input cannot be analyzed as given (empty, binary, undecodable, too large)."""


class CorpusFormatError(PropscanError):
    """A corpus or label file is malformed; names the file and line so it can be fixed."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self._arguments = (path, line, message)
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class UnknownTechniqueError(PropscanError):
    """A technique label (or inventory name) that propscan does not know.

    Takes the known names rather than the inventory, so errors stay below techniques in the layers.
    """

    def __init__(self, label: str, known: Iterable[str], inventory_name: str | None = None) -> None:
        self.label = label
        known = list(known)
        self._arguments = (label, known, inventory_name)
        if inventory_name is None:
            message = f"unknown technique inventory {label!r}; known: {', '.join(known)}"
        else:
            # Labels contain commas, so the list is separated by semicolons.
            problem = f"unknown technique {label!r}" if label else "no technique named"
            message = f"{problem} for inventory {inventory_name!r}; valid names (readable or label): {'; '.join(known)}"
        super().__init__(message)


class NotFittedError(PropscanError):
    """A model was asked to predict before it was fitted or loaded."""


class ModelError(PropscanError):
    """A model cannot be found, assembled or loaded (missing encoder package, bad hash, ...)."""
