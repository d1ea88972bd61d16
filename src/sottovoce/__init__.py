"""Sottovoce: end-to-end encrypted messaging across many apps on one infrastructure."""

__version__ = "0.1.0"
