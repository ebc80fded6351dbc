"""Playing prompts to a caller until they press a key: the one loop every prompt of a call uses."""

from __future__ import annotations

from collections.abc import Iterable

from .interfaces import ALL_KEYS, CallerChannel

__all__ = ["play_until_key"]


async def play_until_key(channel: CallerChannel, paths: Iterable[str], *, barge_in: bool = True) -> str | None:
    """Play ``paths`` in order; with ``barge_in`` the first key stops them and is returned.

    Without barge-in keys are ignored (the prompts always play to the end) and None is returned.
    """
    for path in paths:
        played = await channel.stream_file(path, ALL_KEYS if barge_in else "")
        if played.digit:
            return played.digit
    return None
