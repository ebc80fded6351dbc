"""``ivr parse``, ``ivr recognize`` and ``ivr model fetch``: French understanding and the Vosk model."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Optional

import typer

from ..logs import configure_logging

__all__ = ["commands", "model_app"]

commands = typer.Typer()
model_app = typer.Typer(no_args_is_help=True, help="Speech model.")

@commands.command("parse")
def parse_cmd(
    text: list[str] = typer.Argument(..., metavar="TEXT...", help="Utterances (as Vosk would output them)."),
    slot: str = typer.Option(..., "--slot", metavar="SLOT", help="title_type, file_number, yes_no or rating."),
) -> None:
    """Understand French text for a slot; one JSON object per line: {"text", "value"}."""
    from ..ants3400.profile import SLOTS, parse_slot

    if slot not in SLOTS:
        typer.echo(f"unknown slot {slot!r}; one of {', '.join(sorted(SLOTS))}", err=True)
        raise typer.Exit(2)
    for utterance in text:
        print(json.dumps({"text": utterance, "value": parse_slot(slot, utterance)}, ensure_ascii=False))


@commands.command("recognize")
def recognize_cmd(
    files: list[Path] = typer.Argument(..., metavar="WAV_FILES...", help="WAV files (any rate; telephone audio is 8 kHz)."),
    slot: str = typer.Option(..., "--slot", metavar="SLOT", help="title_type, file_number, yes_no or rating."),
    model: Optional[Path] = typer.Option(None, "--model", metavar="DIR", help="Vosk model folder (default: IVR_VOSK_MODEL)."),
) -> None:
    """Recognise WAV files with Vosk and the slot's grammar; one JSON object per line."""
    from ..ants3400.profile import SLOTS, parse_slot
    from ..audio.wav import TELEPHONY_RATE, read_wav, resample
    from ..listening.vosk import SpeechModel, find_model

    if slot not in SLOTS:
        typer.echo(f"unknown slot {slot!r}; one of {', '.join(sorted(SLOTS))}", err=True)
        raise typer.Exit(2)
    path = find_model(model)
    if path is None:
        where = str(model) if model else "IVR_VOSK_MODEL, ./models or ~/.local/share/ivr/models"
        typer.echo(f"ivr recognize: no Vosk model found ({where}); run `ivr model fetch` "
                   f"or pass --model DIR", err=True)
        raise typer.Exit(2)
    configure_logging("json", "warning")
    speech = SpeechModel(path)

    async def one(f: Path) -> dict[str, Any]:
        pcm, rate = read_wav(f)
        pcm = resample(pcm, rate, TELEPHONY_RATE)
        started = time.monotonic()
        utterance = speech.utterance(SLOTS[slot])
        for i in range(0, len(pcm), 3200):
            await utterance.feed(pcm[i:i + 3200])
        result = await utterance.finish()
        ms = (time.monotonic() - started) * 1000
        conf = round(result.confidence, 3) if result.confidence is not None else None
        return {"file": str(f), "text": result.text, "value": parse_slot(slot, result.text) if result.text else None,
                "confidence": conf, "ms": round(ms, 1)}

    status = 0
    try:
        for f in files:
            try:
                print(json.dumps(asyncio.run(one(f)), ensure_ascii=False))
            except (OSError, ValueError, EOFError) as exc:
                print(json.dumps({"file": str(f), "error": str(exc)}))
                status = 1
    finally:
        speech.close()
    raise typer.Exit(status)


@model_app.command("fetch")
def model_fetch(
    dest: Optional[Path] = typer.Option(None, "--dir", metavar="DIR", help="Where to unpack (default ~/.local/share/ivr/models)."),
    url: Optional[str] = typer.Option(None, "--url", metavar="URL", help="Another address for the same archive (a mirror)."),
) -> None:
    """Download vosk-model-small-fr-0.22, verify size and checksum, unpack it (needs internet)."""
    from rich.progress import Progress

    from ..listening.model_fetch import MODEL_URL, FetchError, fetch_model

    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("downloading the French model", total=None)
            path = fetch_model(dest, url=url or MODEL_URL,
                               progress=lambda done, total: progress.update(task, completed=done, total=total or None))
    except FetchError as exc:
        typer.echo(f"ivr model fetch: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"model ready at {path}; the server finds it there, or set IVR_VOSK_MODEL={path}")
