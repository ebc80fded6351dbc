"""Where the Asterisk binary comes from: ``IVR_ASTERISK``, or the prebuilt bundle beside the checkout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..config import PACKAGE_DIR

__all__ = ["REPO_DIR", "AsteriskNotFound", "find_asterisk"]

#: The source checkout holding ``asterisk/etc`` (the lab runs from a checkout, not from a wheel).
REPO_DIR = PACKAGE_DIR.parent


class AsteriskNotFound(RuntimeError):
    """No Asterisk to run; the message says where it was looked for and how to provide one."""


def _bundle_dir() -> Path:
    return Path(os.environ.get("IVR_ASTERISK_BUNDLE", REPO_DIR.parent / "shared" / "asterisk-22"))


def find_asterisk(cache: Path | None = None) -> Path:
    """The ``asterisk`` executable to run.

    ``IVR_ASTERISK=/path/to/bin/asterisk`` wins; otherwise the prebuilt bundle
    (``IVR_ASTERISK_BUNDLE``, default ``../shared/asterisk-22``) is unpacked once
    into ``cache`` (default ``.cache`` in the checkout) with its own ``install.sh``.
    """
    explicit = os.environ.get("IVR_ASTERISK")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise AsteriskNotFound(f"IVR_ASTERISK={explicit} is not an executable file")
        return path
    bundle = _bundle_dir()
    installer = bundle / "install.sh"
    if not installer.is_file():
        raise AsteriskNotFound(f"no Asterisk: set IVR_ASTERISK=/path/to/bin/asterisk, or put the prebuilt "
                               f"bundle at {bundle} (IVR_ASTERISK_BUNDLE)")
    cache = cache or REPO_DIR / ".cache"
    done = subprocess.run(["bash", str(installer), str(cache)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AsteriskNotFound(f"{installer} failed: {done.stderr.strip() or done.stdout.strip()}")
    root = Path(done.stdout.strip().splitlines()[-1])
    return root / "bin" / "asterisk"
