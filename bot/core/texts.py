"""Marks the English sentences the core shows members, so that `pybabel extract` puts them in
the translation catalogues. The core never translates: it keeps the English template and its
values apart (see `Refused`), and the cogs translate the template, then fill it in."""

from __future__ import annotations


def N_(message: str) -> str:
    """A text to be translated where it is shown; returned as it is."""
    return message
