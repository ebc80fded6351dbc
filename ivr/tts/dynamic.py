"""Prompts rendered on demand (readback of numbers, dates, statuses), cached on disk for a while.

The cache lives in a folder Asterisk shares with the IVR, so a rendered file is played by absolute
path like any catalog prompt. These files speak personal data (a file number read back, a file's
status), so:

- their names are a keyed hash of the text (HMAC-SHA-256; the key from ``IVR_PROMPT_CACHE_KEY``, or a
  random one per process): nobody can find a number's file by hashing every number;
- they are readable by the owner and the group only (0640, in a 2750 folder whose group Asterisk is in);
- they expire (24 h by default) and the cache is bounded in files: :meth:`DynamicPrompts.sweep`.

A file's age is read on the cache's own clock: each file is stamped with it when written, and again
each time it is used, so the sweep never compares the file system's idea of now with another one (a
clock set by a test, a machine whose clock jumped), and a readback a call is about to play is never
the one a sweep takes (expiry counts from the last use).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from ..audio.wav import write_wav
from .espeak import Voice

__all__ = ["DynamicPrompts"]

log = structlog.get_logger("ivr.prompts")

#: Owner read/write, group read (Asterisk's group): readbacks hold personal data.
FILE_MODE = 0o640
#: The group can enter; new files inherit the folder's group (setgid).
DIR_MODE = 0o2750


class DynamicPrompts:
    """Renders French text to 8 kHz WAV once per (text, voice) and returns its playback path."""

    def __init__(self, cache_dir: Path, voice: Voice = Voice(), renderer: Callable[[str, Voice], bytes] | None = None,
                 max_concurrent: int = 2, *, key: bytes = b"", ttl: float = 24 * 3600, max_files: int = 20_000,
                 clock: Callable[[], float] = time.time) -> None:
        self.cache_dir = Path(cache_dir)
        self.clock = clock
        self.voice = voice
        self.ttl = ttl
        self.max_files = max_files
        self._key = key or secrets.token_bytes(32)
        self._renderer = renderer
        self._sem = asyncio.Semaphore(max_concurrent)
        self._rendering: dict[Path, asyncio.Future[None]] = {}

    def _render(self, text: str, voice: Voice) -> bytes:
        if self._renderer is not None:
            return self._renderer(text, voice)
        from .catalog import render_text

        return render_text(text, voice)

    def path_for(self, text: str, voice: Voice | None = None) -> Path:
        """Where the audio of ``text`` is cached (a keyed hash: no text in file names)."""
        key = (voice or self.voice).key()
        digest = hmac.new(self._key, f"{key}\n{text}".encode(), hashlib.sha256).hexdigest()[:32]
        return self.cache_dir / f"dyn-{digest}"

    def _fresh(self, wav: Path) -> bool:
        """The file exists and has not expired; it is stamped as used now (a sweep leaves it alone)."""
        now = self.clock()
        try:
            if now - wav.stat().st_mtime >= self.ttl:
                return False
            os.utime(wav, (now, now))
        except OSError:
            return False
        return True

    async def playback_path(self, text: str, *, slow: bool = False) -> str:
        """Absolute path (no extension) of ``text`` spoken (``slow``: at the slower rate); rendered off the
        event loop if needed."""
        voice = self.voice.slower() if slow else self.voice
        base = self.path_for(text, voice)
        wav = base.with_suffix(".wav")
        if self._fresh(wav):
            return str(base)
        # Calls asking for the same text at once (the same file number read back) share one render.
        pending = self._rendering.get(wav)
        if pending is not None:
            await asyncio.shield(pending)
            return str(base)
        pending = self._rendering[wav] = asyncio.get_running_loop().create_future()
        try:
            async with self._sem:
                pcm = await asyncio.to_thread(self._render, text, voice)
                await asyncio.to_thread(self._write, wav, pcm)
            pending.set_result(None)
        except BaseException as exc:
            pending.set_exception(exc)
            raise
        finally:
            del self._rendering[wav]
        return str(base)

    def _write(self, wav: Path, pcm: bytes) -> None:
        write_wav(wav, pcm, mode=FILE_MODE, dir_mode=DIR_MODE)
        now = self.clock()
        os.utime(wav, (now, now))  # its age on the cache's clock

    def sweep(self) -> int:
        """Delete readbacks older than the time-to-live, then the oldest beyond ``max_files``.

        Returns how many files were deleted. Runs in a thread (the server calls it at start and
        every few minutes); a file being played while it is deleted plays on (Unix keeps it open).
        """
        try:
            entries = [(e.stat().st_mtime, Path(e.path)) for e in os.scandir(self.cache_dir)
                       if e.name.startswith("dyn-") and e.name.endswith(".wav")]
        except FileNotFoundError:
            return 0
        now = self.clock()
        expired = [p for mtime, p in entries if now - mtime >= self.ttl]
        kept = sorted((mtime, p) for mtime, p in entries if now - mtime < self.ttl)
        over = [p for _, p in kept[: max(0, len(kept) - self.max_files)]]
        for path in expired + over:
            path.unlink(missing_ok=True)
        if expired or over:
            log.info("readbacks_swept", expired=len(expired), over_limit=len(over), kept=len(kept) - len(over))
        return len(expired) + len(over)
