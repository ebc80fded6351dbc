"""The prompt catalog: prompt id → French text and voice, rendered to 8 kHz WAV.

``catalog.yaml`` is what administrators edit; ``wav/<id>.wav`` is what
Asterisk plays (by absolute path, without the extension), and ``wav/lent/<id>.wav`` the same text
at a slower rate, for callers who asked the line to speak more slowly. A manifest beside
the WAV files records the text+voice hash each file was rendered from, so an
unchanged prompt is never rendered twice.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..audio.wav import TELEPHONY_RATE, resample, write_wav
from ..yamlsrc import SourceError, load_yaml
from .espeak import Voice, synthesize

__all__ = ["Prompt", "Catalog", "load_catalog", "load_asterisk_sounds", "build_prompts", "render_text", "CatalogError", "SLOW_DIR"]

MANIFEST = "manifest.json"
#: Where the slower renderings are, inside the folder of the normal ones.
SLOW_DIR = "lent"


class CatalogError(ValueError):
    """The catalog file is not valid; the message carries file:line."""


@dataclass(frozen=True)
class Prompt:
    """One prompt of the catalog: its id, its French text, its voice."""

    id: str
    text: str
    voice: Voice
    line: int = 0

    @property
    def digest(self) -> str:
        """A digest of the text and voice: the audio is stale when it changes."""
        return hashlib.sha256(f"{self.voice.key()}\n{self.text}".encode()).hexdigest()[:16]


@dataclass
class Catalog:
    """The prompt catalog: every prompt the flows may play, and where their audio is."""

    path: Path
    prompts: dict[str, Prompt]
    #: Where the rendered prompts are (default: ``wav/`` beside the catalog).
    audio_dir: Path | None = None

    @property
    def wav_dir(self) -> Path:
        """The folder of the rendered WAV files."""
        return self.audio_dir or self.path.parent / "wav"

    def stale(self) -> set[str]:
        """Prompts whose WAV was rendered from another text or voice than the catalog's now."""
        manifest = _read_manifest(self.wav_dir)
        return {p.id for p in self.prompts.values()
                if self.wav_path(p.id).exists() and manifest.get(p.id, "").rsplit(":", 1)[-1] != p.digest}

    def wav_path(self, prompt_id: str) -> Path:
        """The WAV file of ``prompt_id``."""
        return self.wav_dir / f"{prompt_id}.wav"

    def playback_path(self, prompt_id: str, *, slow: bool = False) -> str:
        """The absolute path Asterisk's STREAM FILE takes (no extension); ``slow``: the slower rendering
        when it says what the normal one says (else the normal one: the caller hears the prompt)."""
        if slow and prompt_id in self.slow_ready:
            return str(self.wav_dir / SLOW_DIR / prompt_id)
        return str(self.wav_dir / prompt_id)

    @functools.cached_property
    def slow_ready(self) -> frozenset[str]:
        """Prompts whose slower rendering is of the catalog's text now (``ivr prompts build`` renders
        both; a recording dropped in by hand keeps its rendered slower twin of the same text)."""
        slow = self.slower()
        manifest = _read_manifest(slow.wav_dir)
        return frozenset(p.id for p in slow.prompts.values()
                         if manifest.get(p.id) == p.digest and slow.wav_path(p.id).exists())

    def slower(self) -> Catalog:
        """The same prompts at the slower rate, rendered in ``wav/lent/``."""
        return Catalog(self.path, {i: dataclasses.replace(p, voice=p.voice.slower()) for i, p in self.prompts.items()},
                       self.wav_dir / SLOW_DIR)


def _voice(raw: object, base: Voice, where: str) -> Voice:
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: voice must be a mapping (name, rate, pitch, volume)")
    unknown = set(raw) - {"name", "rate", "pitch", "volume"}
    if unknown:
        raise CatalogError(f"{where}: unknown voice setting(s): {', '.join(sorted(unknown))}")
    return Voice(
        name=str(raw.get("name", base.name)),
        rate=int(raw.get("rate", base.rate)),
        pitch=int(raw.get("pitch", base.pitch)),
        volume=int(raw.get("volume", base.volume)),
    )


def load_catalog(path: str | Path, *, audio_dir: Path | None = None) -> Catalog:
    """Load and check ``catalog.yaml``; errors name the file and line."""
    path = Path(path)
    try:
        data = load_yaml(path)
    except SourceError as exc:
        raise CatalogError("\n".join(exc.messages)) from None
    if not isinstance(data, dict) or "prompts" not in data:
        raise CatalogError(f"{path}:1: the catalog needs a 'prompts' mapping")
    base = _voice(data.get("voice"), Voice(), f"{path}:1")
    prompts: dict[str, Prompt] = {}
    entries = data["prompts"]
    for key, value in entries.items():
        line = entries.lc.key(key)[0] + 1
        where = f"{path}:{line}"
        if isinstance(value, str):
            text, voice = value, base
        elif isinstance(value, dict) and isinstance(value.get("text"), str):
            text, voice = value["text"], _voice(value.get("voice"), base, where)
        else:
            raise CatalogError(f"{where}: prompt {key!r} needs a text")
        if not text.strip():
            raise CatalogError(f"{where}: prompt {key!r} has an empty text")
        prompts[str(key)] = Prompt(str(key), " ".join(text.split()), voice, line)
    return Catalog(path, prompts, audio_dir)


def load_asterisk_sounds() -> Catalog:
    """Asterisk's own sounds in French (the queues' announcements, number words): their texts, rendered
    where Asterisk looks for them in French (``asterisk/sounds/fr``)."""
    from ..config import ASTERISK_SOUNDS_CATALOG, ASTERISK_SOUNDS_DIR

    return load_catalog(ASTERISK_SOUNDS_CATALOG, audio_dir=ASTERISK_SOUNDS_DIR / "fr")


def render_text(text: str, voice: Voice = Voice()) -> bytes:
    """Synthesise French text to 8 kHz 16-bit mono PCM."""
    pcm, rate = synthesize(text, voice)
    return resample(pcm, rate, TELEPHONY_RATE)


def _read_manifest(wav_dir: Path) -> dict[str, str]:
    try:
        manifest: dict[str, str] = json.loads((wav_dir / MANIFEST).read_text(encoding="utf-8"))
        return manifest
    except (OSError, ValueError):
        return {}


def build_prompts(
    catalog: Catalog,
    *,
    only: Iterable[str] | None = None,
    force: bool = False,
    renderer: Callable[[str, Voice], bytes] = render_text,
    progress: Callable[[Prompt, bool], None] | None = None,
    engine: str = "espeak",
) -> tuple[int, int]:
    """Render the catalog's prompts to WAV; returns (rendered, reused).

    A prompt is re-rendered only when its text or voice changed (or its WAV
    is missing), unless ``force``.
    """
    wav_dir = catalog.wav_dir
    wav_dir.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(wav_dir)
    wanted = set(only) if only is not None else None
    rendered = reused = 0
    for prompt in catalog.prompts.values():
        if wanted is not None and prompt.id not in wanted:
            continue
        target = catalog.wav_path(prompt.id)
        # The engine is part of the cache key: switching voices renders everything again.
        digest = prompt.digest if engine == "espeak" else f"{engine}:{prompt.digest}"
        fresh = not force and target.exists() and manifest.get(prompt.id) == digest
        if not fresh:
            write_wav(target, renderer(prompt.text, prompt.voice))
            manifest[prompt.id] = digest
            rendered += 1
        else:
            reused += 1
        if progress:
            progress(prompt, not fresh)
    # Drop entries of prompts that left the catalog (their WAVs stay until removed by hand).
    manifest = {k: v for k, v in sorted(manifest.items()) if k in catalog.prompts}
    (wav_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return rendered, reused
