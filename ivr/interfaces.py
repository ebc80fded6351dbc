"""The contracts between the IVR's parts: what each side may rely on, and nothing else.

The flow engine asks questions through a :class:`Listener`, looks files up through a
:class:`LookupService`, hands callers over through a :class:`Router` and a :class:`CallbackBook`,
and drives the caller's channel through :class:`CallerChannel` — which the AGI session satisfies
without knowing this module. Tracking, speech and routing implement these contracts; none of them
needs the interpreter, and this module imports only the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, Protocol

__all__ = [
    "ALL_KEYS", "AGENT", "REPEAT", "PAUSE", "SLOWER", "PromptPaths", "SpokenText", "Played", "Entered", "Recorded", "CallerChannel",
    "SlotSpec", "Question", "Answer", "Listener", "LookupResult", "LookupService", "LookupSpec", "Decision",
    "CallView", "Router", "CallbackBook", "LineProfile", "Serving", "LineState",
]

#: Every key of a telephone keypad: any of them stops a prompt that allows barge-in.
ALL_KEYS = "0123456789*#"
#: The value any spoken answer takes when the caller asks for a person (« conseiller »).
AGENT = "agent"
#: The value any spoken answer takes when the caller asks to hear the question again (« répétez »).
REPEAT = "repeat"
#: The value any spoken answer takes when the caller asks the question to wait (« un instant »).
PAUSE = "pause"
#: The value any spoken answer takes when the caller asks the line to speak more slowly (« moins vite »).
SLOWER = "slower"


# -- the caller's channel -------------------------------------------------------------------------


class Played(Protocol):
    """What playing a prompt gave: the key that stopped it, if any."""

    @property
    def digit(self) -> str | None:
        """The key that stopped the prompt, or None if it played to the end."""


class Entered(Protocol):
    """Keys typed after a prompt, and whether entry ended on the timeout."""

    @property
    def digits(self) -> str:
        """The keys typed, without the terminator."""

    @property
    def timed_out(self) -> bool:
        """Whether entry ended because the caller stopped typing (not on ``#`` or the last key)."""


class Recorded(Protocol):
    """A recording, stopped by a key or by silence."""

    @property
    def digit(self) -> str | None:
        """The key that stopped the recording, or None if silence or the time limit did."""


class CallerChannel(Protocol):
    """The caller's line as a call sees it (the AGI session implements it).

    Every method raises ``ivr.edges.agi.errors.CallerHungUp`` once the caller has gone, and
    another ``AgiError`` when Asterisk refuses or fails a command.
    """

    reply_timeout: float

    @property
    def hung_up(self) -> bool:
        """Whether the caller has hung up."""

    async def wait_hangup(self) -> None:
        """Return when the caller hangs up (to race long work against it)."""

    async def answer(self) -> None:
        """Answer the call."""

    async def stream_file(self, path: str, escape_digits: str = "", *,
                          max_seconds: float | None = None) -> Played:
        """Play ``path``; a key in ``escape_digits`` stops it (and is returned)."""

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> Entered:
        """Play ``prompt``, then take up to ``max_digits`` keys."""

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """Wait up to ``timeout_ms`` for one key; None when none came."""

    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int:
        """Run a dialplan application (``EXEC``); its return value."""

    async def record_file(self, path: str, fmt: str = "wav", escape_digits: str = "#", timeout_ms: int = 10000,
                          *, beep: bool = False, silence_s: int | None = None) -> Recorded:
        """Record the caller to ``path`` until a key, silence or ``timeout_ms``."""

    async def set_variable(self, name: str, value: str) -> None:
        """Set a channel variable (the dialplan reads it after the IVR)."""

    async def verbose(self, message: str, level: int = 1) -> None:
        """Write a line to Asterisk's log."""

    async def hangup(self) -> None:
        """Hang the call up."""


# -- prompts --------------------------------------------------------------------------------------


class PromptPaths(Protocol):
    """The prompt catalog: where Asterisk finds a prompt's audio."""

    def playback_path(self, prompt_id: str, *, slow: bool = False) -> str:
        """The absolute path STREAM FILE takes (no extension); ``slow``: at the slower rate."""


class SpokenText(Protocol):
    """Sentences built during a call (a status, a number read back), rendered to audio on demand."""

    async def playback_path(self, text: str, *, slow: bool = False) -> str:
        """The absolute path (no extension) of ``text`` spoken (``slow``: at the slower rate)."""


# -- questions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlotSpec:
    """What a question expects: a closed set of values (a menu) or a digit string, and how to
    understand it when it is spoken."""

    name: str
    #: Closed set of values (menus); empty for digit strings.
    values: tuple[str, ...] = ()
    #: The value is a digit string typed or spoken (file number, digits).
    digits: bool = False
    length: int | None = None
    #: Personal data (a file number): masked in call records and kept out of the logs.
    personal: bool = False
    #: Spoken text → value, or None when not understood.
    parse: Callable[[str], str | None] | None = None
    #: The phrases a recogniser listens for (the question's grammar); empty for free dictation.
    phrases: tuple[str, ...] = ()
    #: Whether a value is one the question takes (a file number's key): among a recogniser's
    #: hypotheses, the first whose value passes wins.
    accept: Callable[[str], bool] | None = None
    #: Every value a text may mean that the slot accepts, most likely first (the readings of an
    #: ambiguous digit string): the confirmation offers the next when the caller refuses one.
    readings: Callable[[str], list[str]] | None = None
    #: A digit string's literal reading, valid or not (« six cents septante-quatre » → 674): a spoken
    #: number ends its question early only when its value is this reading (see
    #: :mod:`ivr.understanding.complete`); None: never early.
    literal: Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class Question:
    """A question as the listeners ask it: the prompts, what the keypad and speech may answer, and the timings."""

    prompts: list[str]  # playback paths, played in order
    max_digits: int = 1
    timeout: float = 6.0
    inter_digit_timeout: float = 3.0
    #: ``#`` ends digit entry (collections of more than one key).
    terminator: bool = False
    barge_in: bool = True
    slot: SlotSpec | None = None
    speech: bool = False
    listen_during_prompt: bool = True
    #: Speech recognised with less confidence than this counts as not understood.
    min_confidence: float = 0.0
    #: Trailing silence that ends a spoken answer.
    end_silence: float = 0.8
    #: Trailing silence that ends a spoken answer already whole for the question (ten digits whose key
    #: checks, a phrase the question takes); None waits for ``end_silence`` always.
    complete_silence: float | None = None


@dataclass
class Answer:
    """What the caller answered: keys, speech (its text, value and confidence), or nothing."""

    mode: Literal["dtmf", "speech", "none"]
    digits: str = ""
    text: str = ""
    value: Any = None
    confidence: float | None = None
    #: Speech the caller gave that was cut short by a timeout (partial result).
    partial: bool = False
    #: ``via``: how the answer was heard (``agi`` keys, ``audiosocket`` stream, ``recording``); ``ms``…
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """Whether the caller gave no answer at all."""
        return self.mode == "none"


class Listener(Protocol):
    """Asks a question on the caller's channel and returns what the caller answered."""

    def offers_speech(self) -> bool:
        """Whether the question about to be asked is to be answered by speech (else it is asked in its
        keypad wording, for keys only). A listener that declines for a passing reason (a busy node)
        counts it."""

    async def ask(self, channel: CallerChannel, question: Question, typed_ahead: str | None = None) -> Answer:
        """Play the question and listen; ``typed_ahead`` is a key the caller pressed during the
        prompt before it, which starts the answer."""


# -- lookups --------------------------------------------------------------------------------------


@dataclass
class LookupResult:
    """What a lookup service answered: a status the flow branches on, and the fields it found."""

    status: str  # one of the service's statuses, e.g. found / not_found / invalid
    data: dict[str, Any] = field(default_factory=dict)


class LookupService(Protocol):
    """A service a ``lookup`` node asks (the file tracking service).

    What it declares is what the checker proves a flow against: the arguments it takes, the
    statuses it returns (a flow must handle each), the fields a result holds, and the values some
    fields can take.
    """

    #: Every status :meth:`lookup` can return (flows branch on them; the checker verifies them).
    statuses: set[str]
    #: The arguments :meth:`lookup` takes: a flow gives each, and no other.
    arguments: frozenset[str]
    #: The fields a result's data may hold (what a flow may read: ``{dossier.readback}``).
    fields: frozenset[str]
    #: The values some fields can take (a branch on another value could never be taken).
    values: Mapping[str, frozenset[str]]
    @property
    def timeout(self) -> float | None:
        """Seconds after which the service itself gives up (a flow may not promise to wait longer), or None."""

    async def lookup(self, **args: str) -> LookupResult:
        """Look the arguments up; a status from :attr:`statuses` (an outage raises)."""


@dataclass(frozen=True)
class LookupSpec:
    """What a lookup service declares, as the checker reads it (and a worker process receives it)."""

    statuses: frozenset[str]
    arguments: frozenset[str]
    fields: frozenset[str]
    values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    timeout: float | None = None

    @classmethod
    def of(cls, service: LookupService) -> LookupSpec:
        """The declaration of a running service."""
        return cls(frozenset(service.statuses), frozenset(service.arguments), frozenset(service.fields),
                   {name: frozenset(v) for name, v in service.values.items()}, service.timeout)


# -- routing --------------------------------------------------------------------------------------


@dataclass
class Decision:
    """Where a caller goes, why, and what the live queue state says about the wait."""

    queue: str
    reason: str
    rule: str
    priority: int = 0
    expected_wait: int | None = None
    announce_wait: bool = False
    offer_callback: bool = False
    overflowed_from: str | None = None


class CallView(Protocol):
    """What routing may read of a call in progress."""

    @property
    def call_id(self) -> str:
        """The call's id (as in its record and logs)."""

    @property
    def now(self) -> datetime:
        """The line's local time at the call."""

    @property
    def variables(self) -> MutableMapping[str, Any]:
        """The flow's variables; routing keeps its per-call facts there too (``calls_today``)."""
        ...

    @property
    def caller_withheld(self) -> bool:
        """The caller asked for their number not to be shown (restricted presentation): never called back."""
        ...

    @property
    def caller_number(self) -> str:
        """The caller's number (empty when withheld)."""


class Router(Protocol):
    """Where a route node sends a caller (the routing rules implement it)."""

    async def decide(self, call: CallView, requested: str, reason: str) -> Decision:
        """Where a route node sends the caller; ``requested`` is the node's queue (maybe ``auto``)."""


class CallbackBook(Protocol):
    """Where a caller who chose to be called back is kept (the store implements it)."""

    async def schedule(self, number: str, decision: Decision, context: dict[str, str]) -> int:
        """Keep a callback to ``number`` (persisted) and return its id; ``context`` goes to the agent."""


# -- a line's profile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineProfile:
    """What one hotline adds to the generic IVR (the 34 00's is :data:`ivr.ants3400.profile.PROFILE`)."""

    name: str
    #: What callers and agents call the line, as the console shows it (« SVI 34 00 »).
    console_name: str
    #: Every slot its flows may ask for (the generic ones included).
    slots: Mapping[str, SlotSpec]
    #: Template filters its flows may use besides the generic ones (``{title|label}``).
    filters: Mapping[str, Callable[[Any], str]]
    #: Value checks a collect node may name (``validator: mod97``).
    validators: Mapping[str, Callable[[str], bool]]
    #: The facts routing rules test about a call, besides ``reason`` and ``calls_today``.
    routing_facts: Callable[[CallView], dict[str, Any]]
    #: Each such fact and the type of its values (rules are checked against it).
    fact_types: Mapping[str, type]
    #: The values a fact can take, where they are a closed set (a file's statuses): rules are checked.
    fact_values: Mapping[str, tuple[str, ...]]
    #: The queue a caller goes to when the IVR itself fails (the dialplan's safety net uses it too).
    fallback_queue: str
    #: The lookup services its flows name, built on the tracking service's client.
    lookups: Callable[[LookupService], Mapping[str, LookupService]]
    #: Where the line's day starts and ends (the console's "today").
    timezone: str = "Europe/Paris"
    #: The slot whose answer splits the indicators (the 34 00's title type): containment and
    #: satisfaction per value of it.
    segment: str | None = None
    #: The context value a transfer passes on to the queue that holds the segment's value (the 34 00's
    #: ``title``, channel variable ``IVR_TITLE``): the queues' figures per title type read it there.
    segment_context: str | None = None
    #: The slot whose answer says what a call is about (the 34 00's file number): « once and done »
    #: counts the calls about the same one again, besides the same caller calling again.
    contact_slot: str | None = None
    #: A value for each digit-string slot (the 34 00's file number) that a preview gives in place of the
    #: caller's, which records never keep; the recorded lookup answers what the real one answered.
    replay_values: Mapping[str, str] = field(default_factory=dict)


# -- what a node serves ---------------------------------------------------------------------------


class Serving(StrEnum):
    """Which configuration (flows, rules, catalog) a node serves."""

    #: The folders as they are on disk.
    FILES = "files"
    #: The files were rejected at start: the last configuration accepted (kept on disk).
    ACCEPTED_COPY = "accepted copy"
    NOTHING = "nothing"
    #: The live version published in the store (``ivr flows publish``): the store is the source of truth.
    PUBLISHED = "published version"


@dataclass
class LineState:
    """What a node serves, which version, and the last rejection's errors (none: the last load passed)."""

    serving: Serving = Serving.NOTHING
    version: str | None = None
    rejected: list[str] = field(default_factory=list)
    #: The published version's number, when the node serves one.
    published: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The state as JSON (``/readyz``, the console)."""
        return {"serving": self.serving.value, "version": self.version, "rejected": list(self.rejected),
                "published": self.published}
