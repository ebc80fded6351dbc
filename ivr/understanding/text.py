"""Text as the parsers read it: lowercase, no accents, words separated by single spaces."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalise", "tokens"]


def normalise(text: str) -> str:
    """Lowercase, no accents; hyphens and apostrophes as spaces (« c'est » → « c est »), single spaces."""
    text = text.lower().replace("’", "'").replace("`", "'")
    text = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """The words of ``text``, normalised (lowercase, no accents or punctuation)."""
    return normalise(text).split()
