"""The prompt catalog: every prompt rendered to 8 kHz mono 16-bit WAV, unchanged prompts not re-rendered."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import pytest

from ivr.tts.catalog import CatalogError, build_prompts, load_catalog
from ivr.tts.dynamic import DynamicPrompts

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "ivr" / "prompts" / "catalog.yaml"


def test_committed_prompts_are_telephony_wavs_and_up_to_date():
    catalog = load_catalog(CATALOG)
    for prompt_id in catalog.prompts:
        with wave.open(str(catalog.wav_path(prompt_id))) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2), prompt_id
            assert w.getnframes() > 4000, prompt_id  # more than half a second of speech
    # Nothing to render: the committed WAVs match the catalog text.
    calls = []
    rendered, reused = build_prompts(catalog, renderer=lambda t, v: calls.append(t) or b"")
    assert (rendered, calls) == (0, [])


def test_only_changed_prompts_are_rendered(tmp_path):
    (tmp_path / "catalog.yaml").write_text("prompts:\n  a: Bonjour.\n  b: Au revoir.\n", encoding="utf-8")
    catalog = load_catalog(tmp_path / "catalog.yaml")
    calls: list[str] = []
    fake = lambda text, voice: calls.append(text) or b"\0\0" * 800  # test double renderer
    assert build_prompts(catalog, renderer=fake) == (2, 0)
    assert build_prompts(load_catalog(tmp_path / "catalog.yaml"), renderer=fake) == (0, 2)
    (tmp_path / "catalog.yaml").write_text("prompts:\n  a: Bonjour à vous.\n  b: Au revoir.\n", encoding="utf-8")
    assert build_prompts(load_catalog(tmp_path / "catalog.yaml"), renderer=fake) == (1, 1)
    assert calls == ["Bonjour.", "Au revoir.", "Bonjour à vous."]


def test_cli_renders_with_the_offline_voice(tmp_path):
    (tmp_path / "catalog.yaml").write_text("prompts:\n  essai: Votre dossier est en cours.\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "ivr", "prompts", "build", "--prompts-dir", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with wave.open(str(tmp_path / "wav" / "essai.wav")) as w:
        assert w.getframerate() == 8000 and w.getnframes() > 8000


def test_catalog_errors_name_the_line(tmp_path):
    (tmp_path / "catalog.yaml").write_text("prompts:\n  a: Bonjour.\n  b: ''\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"catalog.yaml:3: prompt 'b' has an empty text"):
        load_catalog(tmp_path / "catalog.yaml")


async def test_dynamic_prompts_are_cached(tmp_path):
    calls = []
    dyn = DynamicPrompts(tmp_path, renderer=lambda t, v: calls.append(t) or b"\0\0" * 400)
    p1 = await dyn.playback_path("le 3 décembre")
    p2 = await dyn.playback_path("le 3 décembre")
    assert p1 == p2 and Path(p1 + ".wav").exists()
    assert calls == ["le 3 décembre"]


def test_gtts_offline_fails_clearly_and_keeps_the_offline_prompts(tmp_path):
    (tmp_path / "catalog.yaml").write_text("prompts:\n  a: Bonjour.\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "ivr", "prompts", "build", "--prompts-dir", str(tmp_path),
                          "--engine", "gtts"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "gTTS" in out.stderr and "offline voice" in out.stderr
    assert not (tmp_path / "wav" / "a.wav").exists()


def test_engine_is_part_of_the_cache_key(tmp_path):
    (tmp_path / "catalog.yaml").write_text("prompts:\n  a: Bonjour.\n", encoding="utf-8")
    calls = []
    fake = lambda text, voice: calls.append(text) or b"\0\0" * 800  # test double renderer
    catalog = load_catalog(tmp_path / "catalog.yaml")
    assert build_prompts(catalog, renderer=fake) == (1, 0)
    assert build_prompts(catalog, renderer=fake, engine="gtts") == (1, 0)
    assert build_prompts(catalog, renderer=fake, engine="gtts") == (0, 1)


async def test_the_same_text_asked_by_many_calls_at_once_is_rendered_once(tmp_path):
    import asyncio

    calls = []

    def slow(text, voice):  # test double renderer
        import time

        time.sleep(0.05)
        calls.append(text)
        return b"\0\0" * 400

    dyn = DynamicPrompts(tmp_path, renderer=slow, max_concurrent=4)
    paths = await asyncio.gather(*(dyn.playback_path("0 6, 1 2") for _ in range(8)))
    assert len(set(paths)) == 1 and calls == ["0 6, 1 2"]
    assert [p.name for p in tmp_path.iterdir()] == [Path(paths[0]).name + ".wav"]  # no temporary file left


def test_concurrent_writers_of_one_wav_never_clash(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from ivr.audio.wav import read_wav, write_wav

    target = tmp_path / "p.wav"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: write_wav(target, bytes([i]) * 3200), range(32)))
    pcm, rate = read_wav(target)
    assert rate == 8000 and len(pcm) == 3200 and len(set(pcm)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["p.wav"]
