"""Questions answered by speech or keypad, over AudioSocket (or a recording when AudioSocket is unavailable).

For a speech question the call runs ``EXEC AudioSocket <uuid>,<host>:<port>``;
while the socket is open this listener plays the prompt into it (so the
caller can talk over it), decodes the caller's audio with Vosk, endpoints,
and takes keys (DTMF frames) as well. Closing the socket ends the EXEC.

Nothing here can leave a caller waiting: Asterisk failing to connect, a slow
recogniser, a caller who hangs up, all end the question within its bounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuidlib
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import structlog

from ..audio.vad import EndpointConfig, Endpointer
from ..audio.voicing import make_voicing
from ..audio.wav import TELEPHONY_RATE, read_wav, resample
from ..edges.agi.errors import AgiError, CallerHungUp
from ..edges.audiosocket.protocol import (
    FRAME_BYTES,
    KIND_AUDIO,
    KIND_DTMF,
    KIND_ERROR,
    KIND_HANGUP,
    AudioSocketError,
)
from ..edges.audiosocket.server import AudioSocketServer, AudioStream
from ..interfaces import ALL_KEYS, Answer, CallerChannel, Question
from ..playback import play_until_key
from ..understanding.answers import AGENT, PAUSE, request_in
from ..understanding.complete import is_complete_answer, nearly_whole
from .keypad import KeypadListener, more_digits
from .vosk import Recognition, SpeechModel, Utterance

__all__ = ["SpeechListener", "SpeechSettings", "PREROLL_SECONDS"]

log = structlog.get_logger("ivr.speech")


@dataclass(frozen=True)
class SpeechSettings:
    """How speech reaches the recogniser: AudioSocket's address, recordings, timings."""

    #: host:port Asterisk connects to for AudioSocket (what the AGI EXEC names).
    advertise: str = "127.0.0.1:9092"
    #: 1.0 sends prompt audio in real time (what Asterisk needs); 0 sends as fast as possible (simulations).
    pace: float = 1.0
    connect_timeout: float = 3.0
    #: Longest wait for the recogniser's final result after the caller stopped.
    result_timeout: float = 3.0
    #: Folder Asterisk can write recordings to, for the RECORD FILE fallback (None: keypad fallback).
    record_dir: Path | None = None
    endpoint: EndpointConfig = EndpointConfig()
    #: Ask the recogniser for its final result at a pause when the partial result is a digit short of a
    #: whole answer (see :meth:`_Listening._whole_answer_heard`).
    close_at_pause: bool = True
    #: What tells the caller's voice from noise (:data:`ivr.audio.voicing.VOICINGS`).
    vad: str = "energy"
    min_confidence: float = 0.0
    #: Seconds a question may listen beyond its prompt, whatever the stream does (a peer trickling
    #: empty frames keeps the endpointer's audio clock still): no-input plus the longest utterance
    #: plus this slack.
    question_slack: float = 5.0


class Understood(NamedTuple):
    """What a question keeps of a recognition: the hypothesis chosen (its text, confidence and rank), the
    slot's value for it, and other values the caller may have meant (offered when the first is refused)."""

    text: str
    confidence: float | None
    chosen: int
    value: object
    others: list[str]


#: Seconds of audio kept from before the start of speech, handed to the recogniser with it. Less
#: changed what the Korean model heard in some clips (its feature normalisation starts from them).
PREROLL_SECONDS = 1.0
_PREROLL_FRAMES = round(PREROLL_SECONDS / 0.02)
#: Audio handed to the recogniser at a time (100 ms).
_BATCH_BYTES = 5 * FRAME_BYTES


@lru_cache(maxsize=128)
def _prompt_pcm(path: str) -> bytes:
    pcm, rate = read_wav(path + ".wav")
    return resample(pcm, rate, TELEPHONY_RATE)


class _Listening:
    """One question over an AudioSocket stream: the prompt playing, the endpointer, the recogniser's
    utterance, the keys typed. :meth:`step` reads one frame (or 100 ms without one) and says whether the
    question is answered."""

    def __init__(self, listener: SpeechListener, stream: AudioStream, q: Question, prompt: str | None) -> None:
        assert listener.model is not None
        self.listener, self.stream, self.q = listener, stream, q
        self.cfg = EndpointConfig(**{**listener.settings.endpoint.__dict__, "no_input": q.timeout,
                                     "end_silence": q.end_silence})
        self.endpointer = Endpointer(self.cfg, voicing=make_voicing(listener.settings.vad, self.cfg.min_rms))
        self.utterance = listener.model.utterance(q.slot)
        self.stop_prompt = asyncio.Event()
        self.player: asyncio.Task[None] | None = None
        prompt_pcm = _prompt_pcm(prompt) if prompt is not None else b""
        if prompt is not None:
            self.player = asyncio.create_task(listener._play(stream, prompt_pcm, self.stop_prompt))
        else:
            self.endpointer.start_listening()
        # The question's hard end, on the wall clock.
        self.deadline = (time.monotonic() + len(prompt_pcm) / 16000 + q.timeout + self.cfg.max_speech
                         + listener.settings.question_slack)
        self.digits = ""
        self.last_key = 0.0
        self.pending = bytearray()  # audio not yet handed to the recogniser
        self.preroll: deque[bytes] = deque(maxlen=_PREROLL_FRAMES)  # the last audio before speech started
        self.closed_pause = -1.0  # the pause (the voiced time before it) a segment was closed at
        self.finishing = False  # the utterance is decoding its final result (not to be abandoned)
        self.judged = ""  # the last partial result judged whole or not (judged once each)
        self.voiced_at = 0.0  # when the caller's last voiced frame arrived (monotonic)

    async def step(self) -> Answer | None:
        if self.player is not None and self.player.done() and not self.stop_prompt.is_set():
            self.stop_prompt.set()
            self.endpointer.start_listening()
        if time.monotonic() >= self.deadline:
            return await self._time_cap()
        self.stream.keep_alive()
        try:
            frame = await self.stream.read(timeout=0.1)
        except asyncio.TimeoutError:  # no frame for 100 ms: the timeouts still run
            return self._keys_done() if self.digits else await self._endpoint()
        except AudioSocketError as exc:
            log.warning("audiosocket_protocol_error", error=str(exc))
            return Answer("none", details={"broken": True})
        if frame is None or frame.kind in (KIND_HANGUP, KIND_ERROR):
            return Answer("none", details={"hangup": True})  # the caller hung up (or Asterisk gave up)
        if frame.kind == KIND_DTMF:
            return self._key(frame.dtmf)
        if self.digits:
            return self._keys_done()
        if frame.kind != KIND_AUDIO:
            return None
        self._audio(frame.payload, frame.at)
        return await self._endpoint()

    async def _time_cap(self) -> Answer:
        log.warning("question_time_cap", seconds=round(time.monotonic() - self.deadline, 1))
        if self.endpointer.speech_started:
            return await self._final(partial=True)
        return self.listener._keys(self.digits) if self.digits else Answer("none")

    def _key(self, key: str) -> Answer | None:
        """A key stops the prompt; keypad mode until full, ``#`` or the inter-digit timeout."""
        self.stop_prompt.set()
        if key == "#" and self.q.terminator:
            return self.listener._keys(self.digits)
        self.digits += key
        self.last_key = time.monotonic()
        return self.listener._keys(self.digits) if len(self.digits) >= self.q.max_digits else None

    def _keys_done(self) -> Answer | None:
        if time.monotonic() - self.last_key >= self.q.inter_digit_timeout:
            return self.listener._keys(self.digits)
        return None

    def _audio(self, payload: bytes, arrived: float) -> None:
        """The caller's audio: to the endpointer, and to the recogniser every 100 ms (without waiting)
        once the caller has started speaking."""
        voiced = self.endpointer.feed(payload)
        if not self.endpointer.speech_started:
            # Nothing is decoded before the caller speaks (decoding silence costs as much as decoding
            # speech); the last second is kept, so the recogniser hears the start of it.
            self.preroll.append(payload)
            return
        if voiced:
            self.voiced_at = arrived or time.monotonic()
        self.utterance.trailing = not voiced
        if self.preroll:
            self.pending += b"".join(self.preroll)
            self.preroll.clear()
        self.pending += payload
        # 100 ms at a time, speech or pause. Frame by frame during pauses made 2.5 times as many jobs
        # for the decoding threads (and wake-ups of the event loop) for nothing: the partial result
        # only moves a chunk of frames at a time (the acoustic model's ``frames-per-chunk``).
        if len(self.pending) >= _BATCH_BYTES:
            self._flush()
        partial = self.utterance.partial_text
        if not self.stop_prompt.is_set() and (self.endpointer.barge_in or len(partial.split()) >= 1):
            self.stop_prompt.set()  # speech barge-in: real speech, not a cough
            self.endpointer.start_listening()

    def _flush(self) -> None:
        """Hand the audio not yet decoded to the recogniser (without waiting for it)."""
        if self.pending:
            self.utterance.submit(bytes(self.pending))
            self.pending.clear()

    async def _endpoint(self) -> Answer | None:
        status = self.endpointer.status(idle=self.stream.backlog == 0)
        if status == "noinput":
            self.listener.stats["noinput"] += 1
            return Answer("none")
        if status in ("ended", "max"):
            return await self._final(partial=status == "max")
        if status == "speaking" and await self._whole_answer_heard():
            self.listener.stats["early_end"] += 1
            answer = await self._final(partial=False, whole=self.judged)
            answer.details["ended"] = "whole_answer"  # not after end_silence: the call record says so
            return answer
        return None

    async def _whole_answer_heard(self) -> bool:
        """The caller paused after an answer the question can already take (no dead time after it).

        The partial result lags the audio; when it is within a digit of a whole answer, the recogniser
        closes a segment at the pause (once per pause) and its final result is judged instead; a segment
        that is no whole answer is taken back (the utterance is decoded again as one, and goes on)."""
        wait = self.q.complete_silence
        if wait is None or self.endpointer.trailing_silence(idle=self.stream.backlog == 0) < wait:
            return False
        partial = self.utterance.partial_text
        if partial != self.judged:
            self.judged = partial
            if is_complete_answer(self.q.slot, partial):
                return True
        pause = self.endpointer.voiced_time  # (the same while the caller stays silent)
        if not self.listener.settings.close_at_pause or self.closed_pause == pause or not nearly_whole(self.q.slot, partial):
            return False
        if self.listener.model is not None and self.listener.model.late:
            # A segment that is no whole answer costs the utterance's decoding again: a node already
            # behind keeps to the end of speech (the pause is judged again at the next frame).
            return False
        self.closed_pause = pause
        self._flush()
        self.judged = await self.utterance.close_segment()
        if is_complete_answer(self.q.slot, self.judged):
            return True
        self.utterance.take_back()  # not the end: decoding goes on as if nothing had closed
        return False

    async def _final(self, *, partial: bool, whole: str = "") -> Answer:
        self._flush()
        self.finishing = True
        return await self.listener._result(self.q, self.utterance, partial=partial, whole=whole)

    async def close(self) -> None:
        if not self.finishing:
            self.utterance.abandon()  # answered by keys, silence or a hang-up
        self.stop_prompt.set()
        if self.player is not None:
            self.player.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.player


class SpeechListener:
    """Implements :class:`ivr.interfaces.Listener`: speech when a model is loaded, keypad always."""

    def __init__(self, audiosocket: AudioSocketServer | None, model: SpeechModel | None,
                 settings: SpeechSettings = SpeechSettings()) -> None:
        self.audiosocket = audiosocket
        self.model = model
        self.settings = settings
        self.keypad = KeypadListener()
        #: Final results still decoding after their question gave up waiting (kept until done).
        self._finishing: set[asyncio.Future[Recognition]] = set()
        self._said_unavailable = False
        self._busy_logged_at = -1e9
        self.stats = {"speech": 0, "dtmf": 0, "noinput": 0, "fallback_record": 0, "fallback_keypad": 0,
                      "early_end": 0}

    @classmethod
    def keypad_only(cls) -> SpeechListener:
        """A listener that hears keys only, until :meth:`enable_speech`."""
        return cls(None, None)

    def enable_speech(self, model: SpeechModel, settings: SpeechSettings,
                      audiosocket: AudioSocketServer | None = None) -> None:
        """Hear speech from now on: over ``audiosocket``, or by recording (``settings.record_dir``) without one."""
        self.model, self.settings, self.audiosocket = model, settings, audiosocket

    @property
    def _can_hear(self) -> bool:
        """A model, and a way for the audio to reach it."""
        return self.model is not None and (self.audiosocket is not None or self.settings.record_dir is not None)

    def offers_speech(self) -> bool:
        """Whether a new question is answered by speech: it can be heard, and the node decodes in time.
        A busy node offers the keypad instead (the question's keypad wording), so that a caller never
        waits in silence for a recogniser that is late; those already speaking are decoded first.
        Each such offer is counted (the console and the metrics show it)."""
        if not self._can_hear:
            return False
        assert self.model is not None
        if not self.model.busy:
            return True
        offered = self.model.pool.note_keypad_offered()
        now = time.monotonic()
        if now - self._busy_logged_at >= 10.0:  # one line per ten seconds however many questions
            self._busy_logged_at = now
            log.warning("speech_busy", load=self.model.load().__dict__, fallback="keypad", offered_so_far=offered)
        return False

    async def ask(self, channel: CallerChannel, q: Question, typed_ahead: str | None = None) -> Answer:
        """Ask ``q``, listening to keys and, where the question allows, to speech."""
        if typed_ahead or not (q.speech and q.slot is not None and self._can_hear):
            if q.speech and not self._can_hear and not self._said_unavailable:
                self._said_unavailable = True
                log.warning("speech_unavailable", reason="no speech model loaded" if self.model is None
                            else "no AudioSocket server", fallback="keypad")
            return await self.keypad.ask(channel, q, typed_ahead)
        # Lead prompts (« je ne vous ai pas entendu ») play through AGI; keys stop them.
        typed = await play_until_key(channel, q.prompts[:-1], barge_in=q.barge_in)
        if typed:
            return Answer("dtmf", digits=await more_digits(channel, q, typed))
        prompt = q.prompts[-1]
        if self.audiosocket is None:
            # No AudioSocket listener (classic AGI, one process per call): record, then recognise.
            self.stats["fallback_record"] += 1
            return await self._by_recording(channel, q, prompt)
        if q.listen_during_prompt:
            return await self._over_audiosocket(channel, q, prompt)
        typed = await play_until_key(channel, [prompt], barge_in=q.barge_in)
        if typed:
            return Answer("dtmf", digits=await more_digits(channel, q, typed))
        return await self._over_audiosocket(channel, q, None)

    async def _over_audiosocket(self, channel: CallerChannel, q: Question, prompt: str | None) -> Answer:
        assert self.audiosocket is not None
        call_uuid = str(uuidlib.uuid4())
        connected = self.audiosocket.expect(call_uuid)
        exec_task = asyncio.create_task(channel.exec("AudioSocket", call_uuid, self.settings.advertise))
        try:
            waiting: set[asyncio.Future[Any]] = {connected, exec_task}
            done, _ = await asyncio.wait(waiting, timeout=self.settings.connect_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            exec_task.cancel()
            self.audiosocket.forget(call_uuid)
            raise
        if connected not in done:
            self.audiosocket.forget(call_uuid)
            return await self._audiosocket_failed(channel, q, prompt, exec_task)
        stream = connected.result()
        try:
            answer = await self.listen(stream, q, prompt)
        finally:
            await stream.close()
        answer.details.setdefault("via", "audiosocket")
        # Asterisk's EXEC returns once the socket is closed.
        try:
            await asyncio.wait_for(exec_task, channel.reply_timeout)
        except asyncio.TimeoutError:
            raise AgiError("EXEC AudioSocket did not return after the socket was closed") from None
        if answer.details.get("hangup"):
            raise CallerHungUp("during listening")
        return answer

    async def _audiosocket_failed(self, channel: CallerChannel, q: Question, prompt: str | None,
                                  exec_task: asyncio.Task[Any]) -> Answer:
        """Asterisk could not reach us (EXEC answered -1) or never connected: record, or keypad."""
        if not exec_task.done():
            # Asterisk is still trying; give it its own bound, then treat as unavailable.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(exec_task), channel.reply_timeout)
        if not exec_task.done():
            exec_task.cancel()
            raise AgiError("EXEC AudioSocket neither connected nor returned")
        exec_task.result()  # raises CallerHungUp if the caller left meanwhile
        if channel.hung_up:
            raise CallerHungUp("during AudioSocket set-up")
        log.warning("audiosocket_unreachable", advertise=self.settings.advertise)
        if self.settings.record_dir is not None:
            self.stats["fallback_record"] += 1
            return await self._by_recording(channel, q, prompt)
        self.stats["fallback_keypad"] += 1
        keypad_q = Question(**{**q.__dict__, "prompts": [prompt] if prompt else [q.prompts[-1]]})
        return await self.keypad.ask(channel, keypad_q)

    async def _by_recording(self, channel: CallerChannel, q: Question, prompt: str | None) -> Answer:
        """The RECORD FILE fallback: play the prompt, record on the shared volume, recognise the file."""
        assert self.model is not None and self.settings.record_dir is not None
        if prompt is not None:
            typed = await play_until_key(channel, [prompt], barge_in=q.barge_in)
            if typed:
                return Answer("dtmf", digits=await more_digits(channel, q, typed))
        base = self.settings.record_dir / f"rec-{uuidlib.uuid4().hex}"
        limit_ms = int((q.timeout + self.settings.endpoint.max_speech) * 1000)
        result = await channel.record_file(str(base), "wav", ALL_KEYS, limit_ms, silence_s=2)
        if result.digit:
            return Answer("dtmf", digits=await more_digits(channel, q, result.digit),
                          details={"via": "recording"})
        wav = base.with_suffix(".wav")
        try:
            pcm, rate = await asyncio.to_thread(read_wav, wav)
        except (OSError, ValueError):
            return Answer("none")
        finally:
            with contextlib.suppress(OSError):
                wav.unlink()
        pcm = resample(pcm, rate, TELEPHONY_RATE)
        endpointer = Endpointer(self.settings.endpoint,
                                voicing=make_voicing(self.settings.vad, self.settings.endpoint.min_rms))
        for i in range(0, len(pcm), FRAME_BYTES):
            endpointer.feed(pcm[i:i + FRAME_BYTES])
        if not endpointer.speech_started:
            return Answer("none", details={"via": "recording"})
        utterance = self.model.utterance(q.slot)
        await utterance.feed(pcm)
        answer = self._answer(q, await utterance.finish())
        answer.details["via"] = "recording"
        return answer

    async def _play(self, stream: AudioStream, pcm: bytes, stop: asyncio.Event) -> None:
        """Send prompt audio, paced in real time, until done or stopped (barge-in)."""
        pace = self.settings.pace
        started = time.monotonic()
        for n, i in enumerate(range(0, len(pcm), FRAME_BYTES)):
            if stop.is_set():
                return
            await stream.send_audio(pcm[i:i + FRAME_BYTES])
            if pace > 0:
                ahead = started + (n + 1) * 0.02 / pace - time.monotonic()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            elif n % 50 == 0:
                await asyncio.sleep(0)

    async def listen(self, stream: AudioStream, q: Question, prompt: str | None) -> Answer:
        """Over a connected AudioSocket stream: the prompt played into it (None: none) while the caller's
        audio and keys are read, until an answer, silence, a hang-up or the question's time cap."""
        assert self.model is not None
        listening = _Listening(self, stream, q, prompt)
        try:
            while True:
                answer = await listening.step()
                if answer is not None:
                    if answer.mode == "speech" and listening.voiced_at:
                        # The caller's wait: from the end of their speech to the answer in the engine's
                        # hands (its next prompt starts then). The call record keeps it.
                        answer.details["after_speech_ms"] = round((time.monotonic() - listening.voiced_at) * 1000)
                    return answer
        finally:
            await listening.close()

    def _keys(self, digits: str) -> Answer:
        self.stats["dtmf"] += 1
        return Answer("dtmf", digits=digits)

    async def _result(self, q: Question, utterance: Utterance, *, partial: bool, whole: str = "") -> Answer:
        """The utterance's final result as an answer. ``whole``: the partial result that ended the question
        as a whole answer; the final result's hypotheses come first, and it is the last one (the final
        result, rescored, may lose a word the partial had: the caller is not asked again for it)."""
        started = time.monotonic()
        finishing = asyncio.ensure_future(utterance.finish())
        self._finishing.add(finishing)
        finishing.add_done_callback(self._finishing.discard)
        try:
            recognition = await asyncio.wait_for(asyncio.shield(finishing), self.settings.result_timeout)
        except asyncio.TimeoutError:
            # A slow recogniser never blocks the call: use what it heard so far. The
            # decoding finishes in the background (never two threads on one recogniser).
            recognition = Recognition(text=utterance.partial_text, confidence=None, partial=True)
        recognition.ms = (time.monotonic() - started) * 1000
        recognition.partial = recognition.partial or partial
        if whole and not is_complete_answer(q.slot, recognition.text):
            # As sure as the final result: the partial was judged whole on the same audio.
            sure = recognition.confidence if recognition.confidence is not None else 1.0
            recognition.alternatives = [*(recognition.alternatives or [(recognition.text, sure)]), (whole, sure)]
        return self._answer(q, recognition)

    def _answer(self, q: Question, recognition: Recognition) -> Answer:
        if not recognition.text.strip() and not any(text.strip() for text, _ in recognition.alternatives):
            # Sound, and no word in it (noise the detector let through, a cough): nothing was said, so
            # the caller hears « je ne vous ai pas entendu », not « je n'ai pas compris ».
            self.stats["noinput"] += 1
            log.info("speech_result", slot=q.slot.name if q.slot else None, text="", value=None, words=0,
                     ms=round(recognition.ms, 1))
            return Answer("none", details={"no_word": True})
        self.stats["speech"] += 1
        text, confidence, chosen, value, others = self._understand(q, recognition)
        request = request_in(text) if text else None
        if request == PAUSE or value is None:  # « deux secondes » is no number, whatever the slot reads in it
            value = request
        threshold = max(q.min_confidence, self.settings.min_confidence)
        if confidence is not None and confidence < threshold and value != AGENT:
            value = None  # too unsure: the flow asks again (no match); a file number is confirmed anyway
        secret = q.slot is not None and (q.slot.digits or q.slot.personal)  # a file number is personal data
        log.info("speech_result", slot=q.slot.name if q.slot else None,
                 text=f"<{len(text.split())} words>" if secret else text,
                 value=("<digits>" if value else None) if secret else value, hypothesis=chosen,
                 hypotheses=len(recognition.alternatives) or 1, confidence=confidence, partial=recognition.partial,
                 ms=round(recognition.ms, 1))
        details: dict[str, Any] = {"ms": round(recognition.ms, 1)}
        if recognition.alternatives:
            details["hypothesis"] = chosen
        if others:
            details["alternatives"] = others
        return Answer("speech", text=text, value=value, confidence=confidence, partial=recognition.partial,
                      details=details)

    @staticmethod
    def _understand(q: Question, recognition: Recognition) -> Understood:
        """The hypothesis the question keeps: the first (the recogniser's best) whose value the slot
        accepts (a file number with a valid key), else the best; and the other values the caller may
        have meant, for the confirmation to offer when the first is refused."""
        hypotheses: list[tuple[str, float | None]] = [*recognition.alternatives] or [(recognition.text,
                                                                                     recognition.confidence)]
        slot = q.slot
        if slot is None or slot.parse is None:
            return Understood(recognition.text, recognition.confidence, 0, None, [])
        values = [slot.parse(text) if text else None for text, _ in hypotheses]
        accepted = [i for i, v in enumerate(values) if v and (slot.accept is None or slot.accept(v))]
        chosen = accepted[0] if accepted else 0
        text, confidence = hypotheses[chosen]
        value = values[chosen]
        others: list[str] = []
        if accepted and slot.readings is not None:
            for i in accepted:
                for reading in [values[i], *slot.readings(hypotheses[i][0])]:
                    if reading and reading != value and reading not in others:
                        others.append(reading)
        return Understood(text, confidence, chosen, value, others[:3])
