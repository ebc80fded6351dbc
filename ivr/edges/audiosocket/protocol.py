"""AudioSocket wire format: frames as bytes, and a decoder fed with whatever the socket delivered.

No I/O here, so the framing is tested byte by byte against the captures (``tests/test_audiosocket.py``).

A frame is 1 byte of kind, 2 bytes of big-endian payload length, then the payload. Kinds: 0x00
hang-up, 0x01 UUID (16 bytes, first frame), 0x03 DTMF (one ASCII byte), 0x10 audio (signed linear
16-bit, 8 kHz, mono; 320 bytes = 20 ms), 0xff error.
"""

from __future__ import annotations

import struct
import uuid as uuidlib
from dataclasses import dataclass

__all__ = [
    "KIND_HANGUP", "KIND_UUID", "KIND_DTMF", "KIND_AUDIO", "KIND_ERROR", "FRAME_BYTES", "HEADER_BYTES",
    "MAX_PAYLOAD", "Frame", "Decoded", "AudioSocketError", "encode_frame", "parse_header", "make_frame", "FrameDecoder",
]

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10
KIND_ERROR = 0xFF
KNOWN_KINDS = {KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_AUDIO, KIND_ERROR}

#: 20 ms of 8 kHz 16-bit mono audio.
FRAME_BYTES = 320
HEADER_BYTES = 3
#: Largest payload accepted (Asterisk sends 320-byte audio frames; allow larger codecs' frames).
MAX_PAYLOAD = 8192


class AudioSocketError(Exception):
    """The peer broke the AudioSocket protocol."""


@dataclass(frozen=True)
class Frame:
    """One AudioSocket frame: its kind and payload."""

    kind: int
    payload: bytes = b""
    #: When the transport read it off the socket (``time.monotonic()``; 0: not read off a socket).
    at: float = 0.0

    @property
    def dtmf(self) -> str:
        """The key of a DTMF frame."""
        return self.payload[:1].decode("ascii", errors="replace")

    @property
    def uuid(self) -> str:
        """The call's UUID, from an ID frame."""
        return str(uuidlib.UUID(bytes=self.payload))


def encode_frame(kind: int, payload: bytes = b"") -> bytes:
    """One frame on the wire."""
    if len(payload) > 0xFFFF:
        raise ValueError("AudioSocket payload longer than 65535 bytes")
    return struct.pack(">BH", kind, len(payload)) + payload


def parse_header(header: bytes) -> tuple[int, int]:
    """(kind, payload length) of a 3-byte header; raises :class:`AudioSocketError` on an unknown kind
    or a payload larger than :data:`MAX_PAYLOAD`."""
    kind, length = struct.unpack(">BH", header)
    if kind not in KNOWN_KINDS:
        raise AudioSocketError(f"unknown frame kind 0x{kind:02x}")
    if length > MAX_PAYLOAD:
        raise AudioSocketError(f"frame payload of {length} bytes is too large")
    return kind, length


def make_frame(kind: int, payload: bytes, at: float = 0.0) -> Frame:
    """A frame whose payload has the size its kind requires (``at``: when it was read, if known)."""
    if kind == KIND_UUID and len(payload) != 16:
        raise AudioSocketError(f"UUID frame of {len(payload)} bytes (16 expected)")
    if kind == KIND_DTMF and len(payload) != 1:
        raise AudioSocketError(f"DTMF frame of {len(payload)} bytes (1 expected)")
    return Frame(kind, payload, at)


@dataclass(frozen=True)
class Decoded:
    """What a chunk of the byte stream held: the frames it completed, and the protocol error that
    came after them, if any (the stream is then over)."""

    frames: list[Frame]
    error: AudioSocketError | None = None


class FrameDecoder:
    """Turns a byte stream into frames, however the bytes were cut into reads.

    ``feed`` returns the frames completed by the new bytes; ``close`` says the stream ended and
    raises when it ended inside a frame. Never holds more than one frame's bytes.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._header: tuple[int, int] | None = None

    def feed(self, data: bytes, at: float = 0.0) -> list[Frame]:
        """Take bytes from the socket (read at ``at``, the transport's clock); the frames they complete.
        Raises :class:`AudioSocketError` at garbage (the frames before it are lost: see :meth:`decode`)."""
        decoded = self.decode(data, at)
        if decoded.error is not None:
            raise decoded.error
        return decoded.frames

    def decode(self, data: bytes, at: float = 0.0) -> Decoded:
        """As :meth:`feed`, but garbage does not lose the frames that came before it in ``data``: they
        are returned with the error, and the stream is over."""
        self._buffer += data
        frames: list[Frame] = []
        try:
            while True:
                if self._header is None:
                    if len(self._buffer) < HEADER_BYTES:
                        return Decoded(frames)
                    self._header = parse_header(bytes(self._buffer[:HEADER_BYTES]))
                    del self._buffer[:HEADER_BYTES]
                kind, length = self._header
                if len(self._buffer) < length:
                    return Decoded(frames)
                payload = bytes(self._buffer[:length])
                del self._buffer[:length]
                self._header = None
                frames.append(make_frame(kind, payload, at))
        except AudioSocketError as exc:
            self._buffer.clear()
            return Decoded(frames, exc)

    def close(self) -> None:
        """The stream ended: an error if it ended inside a frame."""
        if self._header is not None:
            raise AudioSocketError(f"connection closed inside a {self._header[1]}-byte frame")
        if self._buffer:
            raise AudioSocketError("connection closed inside a frame header")
