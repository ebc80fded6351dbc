"""How a benchmark reports its progress (a line at a time: ``print`` by default)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress"]

#: Called with one line of progress.
Progress = Callable[[str], object]
