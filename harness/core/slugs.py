"""File-name and anchor-safe forms of names (datasets, systems, measures), one rule for every writer."""

from __future__ import annotations

import re


def slug(text: str, sep: str = "_") -> str:
    """Runs of characters other than ASCII letters and digits become ``sep``; none at either end."""
    return re.sub(r"[^A-Za-z0-9]+", sep, text).strip(sep)
