"""``ivr prompts build``: render the prompt catalog to telephone audio."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from ..config import DEFAULT_PROMPTS_DIR

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Prompt catalog.")

@app.command("build")
def prompts_build(
    prompts_dir: Path = typer.Option(DEFAULT_PROMPTS_DIR, "--prompts-dir", metavar="DIR", help="Folder holding catalog.yaml."),
    force: bool = typer.Option(False, "--force", help="Render every prompt again."),
    only: Optional[list[str]] = typer.Option(None, "--only", metavar="PROMPT", help="Render only these prompt ids."),
    engine: str = typer.Option("espeak", "--engine", metavar="espeak|gtts",
        help="espeak (offline, default) or gtts (online, if reachable)."),
) -> None:
    """Render the prompt catalog to 8 kHz mono 16-bit WAV (offline espeak-ng; gTTS when asked and online)."""
    from rich.progress import Progress

    from ..tts.catalog import CatalogError, build_prompts, load_catalog
    from ..tts.espeak import EspeakUnavailable

    try:
        catalog = load_catalog(prompts_dir / "catalog.yaml")
    except (CatalogError, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    ids = set(only) if only else None
    if ids and (missing := ids - set(catalog.prompts)):
        typer.echo(f"unknown prompt id(s): {', '.join(sorted(missing))}", err=True)
        raise typer.Exit(2)
    total = len(ids) if ids else len(catalog.prompts)
    from ..tts.catalog import render_text
    from ..tts.gtts_engine import GttsUnavailable, render_gtts

    renderers = {"espeak": render_text, "gtts": render_gtts}
    if engine not in renderers:
        typer.echo(f"unknown engine {engine!r}: espeak or gtts", err=True)
        raise typer.Exit(2)
    try:
        with Progress(transient=not sys.stderr.isatty()) as progress:
            task = progress.add_task("rendering prompts", total=2 * total)
            rendered = reused = 0
            for voiced in (catalog, catalog.slower()):  # the normal rate, and the slower one
                done = build_prompts(voiced, only=ids, force=force, renderer=renderers[engine], engine=engine,
                                     progress=lambda p, new: progress.update(task, advance=1, description=p.id))
                rendered, reused = rendered + done[0], reused + done[1]
    except (EspeakUnavailable, GttsUnavailable) as exc:
        typer.echo(f"ivr prompts build: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{rendered} prompt(s) rendered, {reused} unchanged, in {catalog.wav_dir} (and its slower "
               f"renderings in {catalog.slower().wav_dir})")
    if prompts_dir == DEFAULT_PROMPTS_DIR and not ids:
        _build_asterisk_sounds(force, renderers[engine], engine)


def _build_asterisk_sounds(force: bool, renderer: Any, engine: str) -> None:
    """Asterisk's own sounds in French (the queues' announcements, number words), beside its configuration."""
    from ..config import ASTERISK_SOUNDS_DIR
    from ..tts.catalog import build_prompts, load_asterisk_sounds

    if not ASTERISK_SOUNDS_DIR.parent.is_dir():  # an installed package: no Asterisk configuration beside it
        return
    sounds = load_asterisk_sounds()
    rendered, reused = build_prompts(sounds, force=force, renderer=renderer, engine=engine)
    typer.echo(f"{rendered} Asterisk sound(s) rendered, {reused} unchanged, in {sounds.wav_dir}")
