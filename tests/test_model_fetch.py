"""`ivr model fetch`: verified download and unpacking, clear errors offline or on a bad file."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ivr.listening.model_fetch import FetchError, fetch_model


def make_archive(tmp_path: Path, name: str = "vosk-model-small-fr-0.22", with_am: bool = True) -> Path:
    src = tmp_path / "src" / name
    (src / "conf").mkdir(parents=True)
    (src / "conf" / "model.conf").write_text("--min-active=200\n")
    if with_am:
        (src / "am").mkdir()
        (src / "am" / "final.mdl").write_bytes(b"model")
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in src.rglob("*"):
            z.write(f, f.relative_to(src.parent))
    return archive


def test_verified_archive_is_unpacked(tmp_path):
    archive = make_archive(tmp_path)
    data = archive.read_bytes()
    path = fetch_model(tmp_path / "models", url=archive.as_uri(), md5=hashlib.md5(data).hexdigest(), size=len(data))
    assert (path / "am" / "final.mdl").read_bytes() == b"model"
    # A second fetch finds it in place.
    assert fetch_model(tmp_path / "models", url="file:///nonexistent", md5=None, size=None) == path


def test_checksum_mismatch_installs_nothing(tmp_path):
    archive = make_archive(tmp_path)
    with pytest.raises(FetchError, match="checksum mismatch"):
        fetch_model(tmp_path / "models", url=archive.as_uri(), md5="0" * 32, size=None)
    with pytest.raises(FetchError, match="downloaded .* bytes, expected 5"):
        fetch_model(tmp_path / "models", url=archive.as_uri(), md5=None, size=5)
    assert not (tmp_path / "models" / "vosk-model-small-fr-0.22").exists()


def test_not_a_model_installs_nothing(tmp_path):
    archive = make_archive(tmp_path, with_am=False)
    with pytest.raises(FetchError, match="not a Vosk model"):
        fetch_model(tmp_path / "models", url=archive.as_uri(), md5=None, size=None)


def test_offline_gives_a_clear_message(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ivr", "model", "fetch", "--dir", str(tmp_path),
                          "--url", "http://127.0.0.1:9/vosk-model-small-fr-0.22.zip"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "cannot download" in out.stderr and "IVR_VOSK_MODEL" in out.stderr


def test_recognize_without_a_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("IVR_VOSK_MODEL", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "ivr", "recognize", "--slot", "title_type", "x.wav"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 2 and "no Vosk model found" in out.stderr
