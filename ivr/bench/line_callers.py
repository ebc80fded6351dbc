"""The callers of ``ivr bench speech``, in a process of their own (as Asterisk is, on a real node).

``python -m ivr.bench.line_callers PLAN`` reads a plan (JSON: the AudioSocket port, and per stream
its call UUID, the file of its 8 kHz audio and the byte offset where its speech ends), opens every
stream at once and sends each one's audio in 20 ms frames at real pace, all on one clock tick, like
Asterisk does. It prints, per UUID, when (``time.monotonic``, the same clock in every process of
the machine) the last frame of speech was sent.

Run apart, the callers' own work does not count in the CPU the bench reports for the IVR.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path

from ..edges.audiosocket.protocol import FRAME_BYTES, KIND_AUDIO, KIND_UUID, encode_frame

__all__ = ["StreamPlan", "write_plan", "main"]

#: Seconds between frames.
TICK = 0.02


@dataclass(frozen=True)
class StreamPlan:
    """One stream: its call UUID, its audio file (8 kHz PCM) and where its speech ends (bytes)."""

    uuid: str
    audio: str
    speech_end: int


def write_plan(path: Path, port: int, pace: float, streams: list[StreamPlan]) -> None:
    """The plan file the callers' process reads."""
    path.write_text(json.dumps({"port": port, "pace": pace, "streams": [s.__dict__ for s in streams]}))


class _Caller:
    def __init__(self, plan: StreamPlan, pcm: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.plan, self.pcm, self.reader, self.writer = plan, pcm, reader, writer
        self.offset = 0
        self.speech_sent = 0.0

    def send_frame(self) -> bool:
        """The next frame; False once the audio is all sent, or once the IVR closed the stream (the
        question is answered: Asterisk stops there too)."""
        if self.offset >= len(self.pcm) or self.writer.is_closing() or self.reader.at_eof():
            return False
        frame = self.pcm[self.offset:self.offset + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
        try:
            self.writer.write(encode_frame(KIND_AUDIO, frame))
        except (ConnectionError, OSError):
            return False
        self.offset += FRAME_BYTES
        if self.offset - FRAME_BYTES < self.plan.speech_end:
            self.speech_sent = time.monotonic()
        return True


async def _main(plan_path: Path) -> dict[str, float]:
    plan = json.loads(plan_path.read_text())
    callers: list[_Caller] = []
    for s in plan["streams"]:
        stream = StreamPlan(**s)
        reader, writer = await asyncio.open_connection("127.0.0.1", plan["port"])
        writer.write(encode_frame(KIND_UUID, uuidlib.UUID(stream.uuid).bytes))
        callers.append(_Caller(stream, Path(stream.audio).read_bytes(), reader, writer))
    tick = TICK / plan["pace"] if plan["pace"] > 0 else 0.0  # pace 0: as fast as the IVR reads
    started = time.monotonic()
    sending = list(callers)
    n = 0
    while sending:
        sending = [c for c in sending if c.send_frame()]
        n += 1
        await asyncio.sleep(max(0.0, started + n * tick - time.monotonic()))
        if not tick:
            await asyncio.gather(*(c.writer.drain() for c in sending), return_exceptions=True)
    for c in callers:
        c.writer.close()
    return {c.plan.uuid: c.speech_sent for c in callers}


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m ivr.bench.line_callers PLAN``."""
    args = sys.argv[1:] if argv is None else argv
    print(json.dumps(asyncio.run(_main(Path(args[0])))), flush=True)


if __name__ == "__main__":
    main()
