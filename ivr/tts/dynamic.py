"""Prompts rendered on demand (readback of numbers, dates, statuses), cached on disk.

The cache lives under the prompt folder Asterisk shares with the IVR, so the
rendered file can be played by absolute path like any catalog prompt.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from pathlib import Path

from ..audio.wav import write_wav
from .espeak import Voice

__all__ = ["DynamicPrompts"]


class DynamicPrompts:
    """Renders French text to 8 kHz WAV once per (text, voice) and returns its playback path."""

    def __init__(self, cache_dir: Path, voice: Voice = Voice(), renderer: Callable[[str, Voice], bytes] | None = None,
                 max_concurrent: int = 2) -> None:
        self.cache_dir = Path(cache_dir)
        self.voice = voice
        self._renderer = renderer
        self._sem = asyncio.Semaphore(max_concurrent)
        self._rendering: dict[Path, asyncio.Future[None]] = {}

    def _render(self, text: str, voice: Voice) -> bytes:
        if self._renderer is not None:
            return self._renderer(text, voice)
        from .catalog import render_text

        return render_text(text, voice)

    def path_for(self, text: str) -> Path:
        digest = hashlib.sha256(f"{self.voice.key()}\n{text}".encode()).hexdigest()[:20]
        return self.cache_dir / f"dyn-{digest}"

    async def playback_path(self, text: str) -> str:
        """Absolute path (no extension) of ``text`` spoken; rendered off the event loop if needed."""
        base = self.path_for(text)
        wav = base.with_suffix(".wav")
        if wav.exists():
            return str(base)
        # Calls asking for the same text at once (the same file number read back) share one render.
        pending = self._rendering.get(wav)
        if pending is not None:
            await asyncio.shield(pending)
            return str(base)
        pending = self._rendering[wav] = asyncio.get_running_loop().create_future()
        try:
            async with self._sem:
                pcm = await asyncio.to_thread(self._render, text, self.voice)
                await asyncio.to_thread(write_wav, wav, pcm)
            pending.set_result(None)
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            del self._rendering[wav]
        return str(base)
