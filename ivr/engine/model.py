"""The typed model of a flow definition (what an administrator writes in YAML).

A flow is a named graph of nodes; each node has a ``kind`` and names the
nodes it can lead to. Shape errors (unknown kind, wrong field, bad value) are
caught here by pydantic; graph errors (missing targets, unreachable nodes,
loops without input, unknown prompts) by :mod:`ivr.engine.validate`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from .hours import WeeklyHours, parse_ranges

__all__ = [
    "FlowModel",
    "Defaults",
    "Node",
    "NODE_KINDS",
    "INPUT_KINDS",
    "MAX_NODES_WITHOUT_INPUT",
    "Reaction",
    "Choice",
    "ROUTE_OUTCOMES",
    "END_OUTCOMES",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Reaction(_Model):
    """What a question does on no input / no match / an invalid answer: a prompt, and optionally where to go."""

    prompt: str | None = None
    next: str | None = None


class Defaults(_Model):
    """Flow-wide defaults every question node falls back on."""

    timeout: float = Field(6.0, gt=0, le=60, description="Seconds of silence before no-input.")
    inter_digit_timeout: float = Field(3.0, gt=0, le=30)
    retries: int = Field(3, ge=1, le=10)
    noinput: Reaction = Reaction(prompt="non_entendu")
    nomatch: Reaction = Reaction(prompt="non_compris")
    #: Where a question goes when its retries run out (must be a route node).
    on_fail: str = "agent_failed"
    #: Where "conseiller" / the agent key goes.
    agent: str = "agent_requested"
    agent_key: str | None = "0"
    #: Low recognition confidence below which an answer counts as no match.
    min_confidence: float = Field(0.5, ge=0, le=1)


class _NodeBase(_Model):
    kind: str
    description: str = ""


class PlayNode(_NodeBase):
    kind: Literal["play"]
    prompts: list[str] = Field(min_length=1)
    #: Keys stop the prompt; the key pressed is kept for the next question.
    barge_in: bool = True
    next: str


class Choice(_Model):
    value: str
    key: str | None = None
    words: list[str] = Field(default_factory=list)
    next: str

    @field_validator("key")
    @classmethod
    def _one_key(cls, v: str | None) -> str | None:
        if v is not None and (len(v) != 1 or v not in "0123456789*#"):
            raise ValueError(f"a choice key is one of 0-9 * #, got {v!r}")
        return v


class _QuestionBase(_NodeBase):
    prompt: str
    #: Played instead of ``prompt`` when the question is keypad-only (no speech model, or speech off).
    keypad_prompt: str | None = None
    reprompt: str | None = None
    timeout: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=1, le=10)
    noinput: Reaction | None = None
    nomatch: Reaction | None = None
    on_fail: str | None = None
    #: Listen to speech while the prompt plays (speech barge-in).
    listen_during_prompt: bool = True
    barge_in: bool = True
    speech: bool = True


class MenuNode(_QuestionBase):
    kind: Literal["menu"]
    slot: str | None = None
    store: str | None = None
    #: Two choices on one key or one value are reported by the validator, at the second one's line.
    choices: list[Choice] = Field(min_length=1)


class CollectNode(_QuestionBase):
    kind: Literal["collect"]
    slot: str
    store: str
    min_digits: int = Field(1, ge=1, le=64)
    max_digits: int = Field(10, ge=1, le=64)
    #: A check the line's profile provides (``mod97``: the 2-digit key of a 34 00 file number).
    validator: str | None = None
    invalid: Reaction = Reaction(prompt="non_compris")
    #: Read the value back and ask for a yes/no confirmation.
    confirm: "ConfirmSpec | None" = None
    #: After a spoken answer that is not valid (a wrong length or key), ask again in parts, each read back.
    chunks: "ChunkSpec | None" = None
    next: str

    @model_validator(mode="after")
    def _chunks_fit(self) -> "CollectNode":
        if self.chunks is not None:
            if sum(self.chunks.sizes) != self.max_digits or self.min_digits != self.max_digits:
                raise ValueError(f"chunks: the parts must add up to the number's {self.max_digits} digits "
                                 f"(min_digits = max_digits), not {sum(self.chunks.sizes)}")
        return self


class ChunkSpec(_Model):
    """« Les quatre premiers chiffres… », then the rest: the digits per part and the prompt asking for each."""

    sizes: list[int] = Field(min_length=2)
    prompts: list[str] = Field(min_length=2)

    @model_validator(mode="after")
    def _one_prompt_per_part(self) -> "ChunkSpec":
        if len(self.sizes) != len(self.prompts) or any(n < 1 for n in self.sizes):
            raise ValueError("one prompt per part, and each part at least one digit")
        return self


class ConfirmSpec(_Model):
    prompt: str
    keypad_prompt: str | None = None
    readback: str = Field("vous_avez_dit", description="Prompt played before the value is read back.")


class ConfirmNode(_QuestionBase):
    kind: Literal["confirm"]
    yes: str
    no: str
    store: str | None = None


class LookupNode(_NodeBase):
    kind: Literal["lookup"]
    service: str
    args: dict[str, str] = Field(default_factory=dict)
    store: str
    timeout: float = Field(4.0, gt=0, le=30)
    #: Play ``wait_prompt`` when the lookup takes longer than this many seconds.
    wait_after: float = Field(1.0, ge=0, le=10)
    wait_prompt: str | None = "un_instant"
    on: dict[str, str] = Field(min_length=1, description="Result status → next node.")
    on_error: str


class SayPart(_Model):
    prompt: str | None = None
    text: str | None = None
    digits: str | None = None
    date: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "SayPart":
        given = [k for k in ("prompt", "text", "digits", "date") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("each say part is exactly one of prompt, text, digits, date")
        return self


class SayNode(_NodeBase):
    kind: Literal["say"]
    parts: list[SayPart] = Field(min_length=1)
    barge_in: bool = False
    next: str


class SetNode(_NodeBase):
    kind: Literal["set"]
    values: dict[str, Any] = Field(min_length=1)
    next: str


class Condition(_Model):
    var: str
    equals: Any = None
    not_equals: Any = None
    one_of: list[Any] | None = None
    exists: bool | None = None
    next: str

    @model_validator(mode="after")
    def _one_test(self) -> "Condition":
        tests = [k for k in ("equals", "not_equals", "one_of", "exists") if getattr(self, k) is not None]
        if len(tests) != 1:
            raise ValueError("a branch case needs exactly one of equals, not_equals, one_of, exists")
        return self


class BranchNode(_NodeBase):
    kind: Literal["branch"]
    cases: list[Condition] = Field(min_length=1)
    default: str


def _opening_ranges(text: str) -> str:
    parse_ranges(text)
    return text


def _iso_date(value: Any) -> str:
    """A closed date as the hours node reads it: ``2026-12-24`` (YAML may have made it a date already)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    text = str(value)
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD (Christmas Eve 2026 is 2026-12-24)") from None
    return text


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class HoursNode(_NodeBase):
    kind: Literal["hours"]
    timezone: str = "Europe/Paris"
    #: Opening ranges per day (``mon: "07:45-22:00"``, ``sat: "08:00-12:00, 13:00-17:00"``, ``sun: closed``);
    #: a day that is not listed is closed.
    weekly: dict[Day, Annotated[str, AfterValidator(_opening_ranges)]]
    #: ``fr``: closed on the eleven public holidays of metropolitan France; none: no holidays.
    public_holidays: Literal["fr"] | None = "fr"
    #: Extra closed days, written YYYY-MM-DD (``["2026-12-24", "2026-12-31"]``).
    closed_dates: list[Annotated[str, BeforeValidator(_iso_date)]] = Field(default_factory=list)
    open: str
    closed: str

    def schedule(self) -> WeeklyHours:
        """The opening hours this node checks."""
        return WeeklyHours(timezone=self.timezone,
                           weekly={day: parse_ranges(text) for day, text in self.weekly.items()},
                           public_holidays=self.public_holidays,
                           closed_dates=frozenset(date.fromisoformat(d) for d in self.closed_dates))

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


ROUTE_OUTCOMES = ("routed", "callback", "error_routed")
END_OUTCOMES = ("self_served", "closed_hours")


class RouteNode(_NodeBase):
    kind: Literal["route"]
    #: ``inhouse``, ``contractor`` or ``auto`` (the routing rules decide).
    queue: str
    reason: str
    prompts: list[str] = Field(default_factory=list)
    #: Call variables passed to the agent's screen as IVR_<NAME> channel variables.
    context: dict[str, str] = Field(default_factory=dict)
    #: Announce the estimated wait (from live queue state) when it is long.
    announce_wait: bool = True
    #: Offer a callback when the wait is very long (and the caller's number is known).
    offer_callback: bool = True


class HangupNode(_NodeBase):
    kind: Literal["hangup"]
    prompts: list[str] = Field(default_factory=list)
    outcome: Literal["self_served", "closed_hours"]
    reason: str = ""


class SubflowNode(_NodeBase):
    kind: Literal["subflow"]
    flow: str
    next: str


class ReturnNode(_NodeBase):
    kind: Literal["return"]


Node = Annotated[
    Union[
        PlayNode, MenuNode, CollectNode, ConfirmNode, LookupNode, SayNode, SetNode, BranchNode,
        HoursNode, RouteNode, HangupNode, SubflowNode, ReturnNode,
    ],
    Field(discriminator="kind"),
]

NODE_KINDS = ("play", "menu", "collect", "confirm", "lookup", "say", "set", "branch", "hours",
              "route", "hangup", "subflow", "return")
#: Nodes that wait for the caller (a loop through one of them is not a busy loop).
INPUT_KINDS = ("menu", "collect", "confirm")
#: The most nodes a call runs in a row without waiting for the caller: beyond, it is looping (the
#: interpreter fails it to an agent) — so the checker refuses a flow with a longer run anywhere.
MAX_NODES_WITHOUT_INPUT = 400


class FlowModel(_Model):
    flow: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    start: str
    defaults: Defaults = Defaults()
    nodes: dict[str, Node] = Field(min_length=1)

    def is_open(self, when: datetime) -> bool | None:
        """Whether the flow's opening hours (its first hours node) say open at ``when``; None
        when the flow has no hours node (it answers at any time)."""
        for node in self.nodes.values():
            if isinstance(node, HoursNode):
                return node.schedule().is_open(when)
        return None

    def targets(self, node_id: str) -> list[tuple[str, str]]:
        """(label, target) edges leaving ``node_id``, for validation and graphs."""
        node = self.nodes[node_id]
        d = self.defaults
        out: list[tuple[str, str]] = []
        if isinstance(node, (PlayNode, SayNode, SetNode, SubflowNode, CollectNode)):
            out.append(("next", node.next))
        if isinstance(node, MenuNode):
            out += [(c.key or c.value, c.next) for c in node.choices]
        if isinstance(node, ConfirmNode):
            out += [("oui", node.yes), ("non", node.no)]
        if isinstance(node, (MenuNode, CollectNode, ConfirmNode)):
            for label, handler in (("noinput", node.noinput), ("nomatch", node.nomatch)):
                if handler is not None and handler.next:
                    out.append((label, handler.next))
            if isinstance(node, CollectNode) and node.invalid.next:
                out.append(("invalid", node.invalid.next))
            out.append(("échec", node.on_fail or d.on_fail))
            if d.agent_key is not None:
                out.append(("conseiller", d.agent))
        if isinstance(node, LookupNode):
            out += list(node.on.items())
            out.append(("erreur", node.on_error))
        if isinstance(node, BranchNode):
            out += [(f"{c.var}", c.next) for c in node.cases]
            out.append(("sinon", node.default))
        if isinstance(node, HoursNode):
            out += [("ouvert", node.open), ("fermé", node.closed)]
        return out


CollectNode.model_rebuild()
