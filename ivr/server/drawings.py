"""Flow drawings as SVG through Graphviz's ``dot`` (a well-kept layout engine: it routes edges
around boxes and places labels apart, which a hand-written layout does poorly).

Without ``dot`` on the machine, or when it fails, the engine's own layered SVG is used instead.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import structlog

from ..engine.graph import to_dot, to_svg
from ..engine.model import FlowModel

__all__ = ["flow_svg", "flow_svg_async", "graphviz_available"]

log = structlog.get_logger("ivr.server")

TIMEOUT = 10.0


def graphviz_available() -> bool:
    """Whether Graphviz's ``dot`` is installed (flow drawings as SVG)."""
    return shutil.which("dot") is not None


def flow_svg(model: FlowModel) -> str:
    """The flow as SVG (Graphviz, or the fallback)."""
    if not graphviz_available():
        return to_svg(model)
    try:
        done = subprocess.run(["dot", "-Tsvg"], input=to_dot(model).encode(), capture_output=True,
                              timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("graphviz_failed", error=str(exc))
        return to_svg(model)
    if done.returncode != 0:
        log.warning("graphviz_failed", error=done.stderr.decode(errors="replace")[:300])
        return to_svg(model)
    return done.stdout.decode()


async def flow_svg_async(model: FlowModel) -> str:
    """:func:`flow_svg` without blocking the event loop (``dot`` runs as a child process)."""
    if not graphviz_available():
        return to_svg(model)
    try:
        proc = await asyncio.create_subprocess_exec("dot", "-Tsvg", stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        log.warning("graphviz_failed", error=str(exc))
        return to_svg(model)
    try:
        out, err = await asyncio.wait_for(proc.communicate(to_dot(model).encode()), TIMEOUT)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("graphviz_failed", error=f"no drawing within {TIMEOUT:g} s")
        return to_svg(model)
    if proc.returncode != 0:
        log.warning("graphviz_failed", error=err.decode(errors="replace")[:300])
        return to_svg(model)
    return out.decode()
