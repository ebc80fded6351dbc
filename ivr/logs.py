"""structlog set-up: one configuration for the whole process.

Console rendering on a terminal, JSON lines otherwise (production, CI,
docker). The per-call ``call_id`` is bound with structlog's contextvars so
every line logged while a call runs carries it.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from .privacy import mask_sensitive_keys, printable, scrub_event, scrub_numbers

__all__ = ["configure_logging"]

_configured = False


def configure_logging(fmt: str = "auto", level: str = "info", *, stream: TextIO | None = None, force: bool = False) -> None:
    """Configure structlog once. ``fmt`` is ``auto``, ``json`` or ``console``."""
    global _configured
    if _configured and not force:
        return
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    renderer: structlog.typing.Processor
    if fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        renderer = structlog.processors.JSONRenderer()
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            mask_sensitive_keys,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            scrub_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries that use the standard logging module (panoramisk, aiohttp)
    # go to the same stream at the same level, with the same masking.
    logging.basicConfig(stream=stream, level=numeric, format="%(levelname)s %(name)s %(message)s", force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_scrub_record)
    _configured = True


def _scrub_record(record: logging.LogRecord) -> bool:
    """A standard-library log line (an access log, a library's message) masked like ours."""
    record.msg = printable(scrub_numbers(record.getMessage()))
    record.args = None
    return True
