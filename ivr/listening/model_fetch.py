"""``ivr model fetch``: download, verify and unpack the French Vosk model (for machines with internet)."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["fetch_model", "FetchError", "DEFAULT_MODEL_NAME", "MODEL_URL", "MODEL_MD5", "MODEL_SIZE", "default_models_dir"]

#: The French model the IVR is built for.
DEFAULT_MODEL_NAME = "vosk-model-small-fr-0.22"

MODEL_URL = f"https://alphacephei.com/vosk/models/{DEFAULT_MODEL_NAME}.zip"
#: From the official model list (alphacephei.com/vosk/models/model-list.json).
MODEL_MD5 = "8873b1234503f6edd55f54bfff31cf3e"
MODEL_SIZE = 42233323


class FetchError(RuntimeError):
    """The model could not be fetched or verified; the message says why and what to do."""


def default_models_dir() -> Path:
    """Where ``ivr model fetch`` keeps models (under the user's home)."""
    return Path.home() / ".local" / "share" / "ivr" / "models"


def fetch_model(
    dest_dir: Path | None = None,
    *,
    url: str = MODEL_URL,
    md5: str | None = MODEL_MD5,
    size: int | None = MODEL_SIZE,
    name: str = DEFAULT_MODEL_NAME,
    progress: Callable[[int, int], None] | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download ``url``, check its size and MD5, unpack into ``dest_dir/name``; returns the model folder."""
    dest_dir = Path(dest_dir or default_models_dir())
    target = dest_dir / name
    if (target / "am").is_dir():
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest_dir, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "model.zip"
        received, md5_seen = _download(url, archive, size=size, progress=progress, timeout=timeout)
        if size is not None and received != size:
            raise FetchError(f"downloaded {received} bytes, expected {size}: the file is incomplete or not the "
                             f"published model; nothing was installed")
        if md5 is not None and md5_seen != md5:
            raise FetchError(f"checksum mismatch (md5 {md5_seen}, expected {md5}); nothing was installed")
        unpacked = _unpack(archive, Path(tmp), name)
        shutil.move(str(unpacked), target)
    return target


def _download(url: str, archive: Path, *, size: int | None, progress: Callable[[int, int], None] | None,
              timeout: float) -> tuple[int, str]:
    """Bytes received and their MD5."""
    digest = hashlib.md5()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(archive, "wb") as out:
            total = int(resp.headers.get("Content-Length") or size or 0)
            while chunk := resp.read(1 << 16):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if progress:
                    progress(received, total)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot download {url}: {reason}. This machine may have no internet access: "
                         f"download the file elsewhere, unzip it and set IVR_VOSK_MODEL to its folder.") from None
    return received, digest.hexdigest()


def _unpack(archive: Path, into: Path, name: str) -> Path:
    """The model folder the archive holds, unpacked (a corrupt archive or another content: nothing installed)."""
    try:
        with zipfile.ZipFile(archive) as z:
            bad = z.testzip()
            if bad is not None:
                raise FetchError(f"corrupt archive member {bad}; nothing was installed")
            z.extractall(into)
    except zipfile.BadZipFile as exc:
        raise FetchError(f"not a zip archive: {exc}; nothing was installed") from None
    unpacked = into / name
    if not (unpacked / "am").is_dir():
        raise FetchError(f"the archive has no {name}/am folder: not a Vosk model; nothing was installed")
    return unpacked
