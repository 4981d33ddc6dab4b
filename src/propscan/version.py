"""The version, in one place: pyproject.toml reads it from here, models and runs record it."""

__version__ = "0.2.0"
