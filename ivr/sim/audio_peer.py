"""The simulated Asterisk's AudioSocket side: what ``EXEC AudioSocket <uuid>,<host>:<port>`` does.

Connects to the IVR, sends the UUID frame, then plays the caller: 20 ms
frames of 8 kHz signed linear audio (speech from the offline voice, or
silence, sent continuously like a SIP phone does), DTMF frames for keys, a
hang-up frame when the caller hangs up. Answers the AGI EXEC when the IVR
closes the socket (``200 result=0``), or ``200 result=-1`` when nothing listens.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from pathlib import Path

from ..config import DEFAULT_PROMPTS_DIR
from ..edges.audiosocket.protocol import FRAME_BYTES, KIND_AUDIO, KIND_DTMF, KIND_HANGUP, KIND_UUID, encode_frame
from ..edges.audiosocket.server import read_frame
from .channel import Reply, SimChannel
from .hearing import Clip, ClipFinder, SpokenClips, catalog_prompts
from .noise import LineNoise
from .scenario import Hangup, Press, Say, Silence
from .voice import caller_audio

__all__ = ["SimAudioSocket"]

SILENCE = b"\0" * FRAME_BYTES


class PromptHeard:
    """Names the prompt the IVR plays over the socket, from its first seconds of audio, and adds it to the
    channel's prompts (a prompt it does not know, a readback rendered during the call, is not named)."""

    def __init__(self, prompts: SpokenClips, channel: SimChannel) -> None:
        # Every catalog prompt is told from the others within its first seconds.
        self.finder = ClipFinder(prompts, limit=4 * 16000)
        self.channel = channel
        self.done = False

    def hear(self, pcm: bytes) -> None:
        """More of the prompt's audio."""
        if not self.done:
            self._name(self.finder.feed(pcm))
            self.done = self.done or len(self.finder.audio) >= self.finder.limit

    def ended(self, *, closed: bool = False) -> None:
        """The prompt stopped (the caller's turn; ``closed``: the socket closed): name it if it was heard
        whole. Before any of it arrived, it may still come (a busy IVR), unless the socket closed."""
        if not self.done and (self.finder.audio or closed):
            self._name(self.finder.settle())
            self.done = True

    def _name(self, found: tuple[Clip, int] | None) -> None:
        if found is not None:
            self.channel.prompts.append(found[0].label)
            self.channel.note("note", f"plays {found[0].label} over AudioSocket")
            self.done = True


class SimAudioSocket:
    """Plays the caller over AudioSocket. ``speed`` 1.0 is real time; 0 is as fast as possible (about 50×)."""

    def __init__(self, speed: float = 1.0, *, base_dir: Path | None = None, max_seconds: float = 40.0,
                 prompt_gap: float = 0.25, prompts_dir: Path = DEFAULT_PROMPTS_DIR) -> None:
        self.speed = speed
        #: The IVR's catalog, to name the prompt it plays over the socket (as STREAM FILE names its file).
        self.prompts_dir = prompts_dir / "wav"
        self.base_dir = base_dir
        self.max_seconds = max_seconds
        self.prompt_gap = prompt_gap

    @staticmethod
    def _line_noise(channel: SimChannel) -> LineNoise | None:
        setup = channel.line_noise
        return LineNoise(setup.kind, setup.rms) if setup is not None else None

    def __call__(self, channel: SimChannel, data: str) -> Reply:
        """Play Asterisk's AudioSocket application: connect to the IVR and stream the caller's audio."""
        call_uuid, _, target = data.partition(",")
        host, _, port = target.rpartition(":")
        return Reply(run=lambda: self._session(channel, call_uuid.strip(), host, port))

    async def _session(self, channel: SimChannel, call_uuid: str, host: str, port: str) -> str:
        try:
            raw = uuidlib.UUID(call_uuid).bytes
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 2)
        except (OSError, ValueError, asyncio.TimeoutError):
            channel.note("note", f"AudioSocket: nothing listens on {host}:{port}")
            return "200 result=-1\n"
        writer.write(encode_frame(KIND_UUID, raw))
        await writer.drain()
        heard = {"frames": 0, "last": time.monotonic(), "eof": False}
        prompt = PromptHeard(catalog_prompts(self.prompts_dir), channel)

        async def listen() -> None:
            # The IVR's prompt audio; EOF when it closes the socket.
            try:
                while True:
                    frame = await read_frame(reader)
                    if frame is None:
                        break
                    if frame.kind == KIND_AUDIO:
                        heard["frames"] += 1
                        heard["last"] = time.monotonic()
                        prompt.hear(frame.payload)
            except Exception:
                pass
            heard["eof"] = True
            prompt.ended(closed=True)

        listener = asyncio.create_task(listen())
        sent_seconds = 0.0
        noisy = self._line_noise(channel)

        async def send(pcm: bytes) -> bool:
            nonlocal sent_seconds
            for i in range(0, len(pcm), FRAME_BYTES):
                if heard["eof"]:
                    return False
                frame = pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
                writer.write(encode_frame(KIND_AUDIO, noisy.mix(frame) if noisy is not None else frame))
                sent_seconds += 0.02
                channel.clock += 0.02
                # speed 0 means "as fast as possible", bounded at about 50× real time so the
                # IVR's end-of-speech decision and our clock stay close to each other.
                await asyncio.sleep(0.02 / (self.speed if self.speed > 0 else 50))
            await writer.drain()
            return True

        async def until_prompt_ends(barge: bool) -> None:
            await prompt_playing(barge)
            if not barge:
                prompt.ended()

        async def prompt_playing(barge: bool) -> None:
            # The caller speaks when the prompt stops (or, barging in, one second into it).
            while not heard["eof"]:
                if barge and heard["frames"] >= 50:
                    return
                quiet = time.monotonic() - heard["last"]
                if heard["frames"] and quiet >= self.prompt_gap / max(self.speed, 1.0):
                    return
                if not heard["frames"] and quiet >= 0.5:
                    return  # no prompt over the socket (played before, through AGI)
                if self.speed > 0:
                    if not await send(SILENCE):
                        return
                else:
                    # As fast as possible: no filler audio while the prompt plays, or the IVR's no-input
                    # clock (audio time) would run ahead of the caller; so a noisy line is heard over
                    # the prompt only in real time (speed 1: the filler is the line's noise).
                    await asyncio.sleep(0.01)

        try:
            step = channel.peek()
            if isinstance(step, Hangup) and step.when == "during":
                channel.take()
                await until_prompt_ends(barge=False)
                writer.write(encode_frame(KIND_HANGUP))
                await writer.drain()
                channel.dead = True
                channel.note("caller", "hangs up while the IVR listens")
                return "200 result=-1\n"
            if isinstance(step, Say):
                channel.take()
                await until_prompt_ends(step.barge)
                pcm = caller_audio(step, self.base_dir)
                after = channel.peek()
                if isinstance(after, Hangup) and after.when == "during":
                    # « say » then « hangup »: the caller hangs up in the middle of the sentence.
                    channel.take()
                    half = len(pcm) // 2 - (len(pcm) // 2) % 2
                    channel.note("caller", f"starts saying {step.text or step.audio!r} and hangs up")
                    await send(pcm[:half])
                    writer.write(encode_frame(KIND_HANGUP))
                    await writer.drain()
                    channel.dead = True
                    return "200 result=-1\n"
                channel.note("caller", f"says {step.text or step.audio!r} ({len(pcm) / 16000:.1f} s)")
                await send(pcm)
            elif isinstance(step, Press):
                channel.take()
                await until_prompt_ends(step.barge)
                channel.note("caller", f"presses {step.digits} (DTMF over AudioSocket)")
                # A SIP line carries audio all the time (silence included, as the captures show):
                # the IVR has been decoding the line for a moment when the first key arrives.
                await send(SILENCE * 10)
                for key in step.digits:
                    writer.write(encode_frame(KIND_DTMF, key.encode()))
                    await send(SILENCE * 5)
            elif isinstance(step, Silence):
                channel.take()
                channel.note("caller", "says nothing")
            # Then silence, as a phone line carries, until the IVR closes the socket.
            while not heard["eof"] and sent_seconds < self.max_seconds:
                if not await send(SILENCE * 5):
                    break
            await asyncio.wait_for(listener, 10)
            return "200 result=0\n"
        except (ConnectionError, OSError):
            return "200 result=0\n"  # the IVR closed the socket while we were still talking
        except asyncio.TimeoutError:
            return "200 result=0\n" if heard["eof"] else "200 result=-1\n"
        finally:
            listener.cancel()
            writer.close()
