"""What every node kind is made of, and what the checker and the interpreter ask of it.

A node kind is one pydantic model (the YAML an administrator writes) that also answers, for one
node: where it can lead (:meth:`NodeBase.edges`), which prompts and templates it uses (``prompt_refs``, ``template_refs``), which
variables it sets, what it names outside itself (:meth:`NodeBase.check`), and what it does on a
call (:meth:`NodeBase.run`). The checker and the interpreter ask these questions of every node
alike; neither knows the kinds.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ...interfaces import LookupSpec, SlotSpec
from ..defaults import Defaults, Reaction
from ..template import FILTERS

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["NodeBase", "Defaults", "Reaction", "Edge", "Ref", "Label", "FALLBACK_LABELS", "Checks",
           "ValidationContext", "Record", "Location", "hint", "ref_list", "field_refs"]

#: Where in a node a value was written, as YAML keys and list indexes: ``("choices", 2, "next")``.
Location = tuple[str | int, ...]


class Label:
    """The names of the edges leaving nodes, as the checker's messages and the drawings show them."""

    NEXT = "next"
    YES = "oui"
    NO = "non"
    ERROR = "erreur"
    OTHERWISE = "sinon"
    OPEN = "ouvert"
    CLOSED = "fermé"
    FAIL = "échec"
    AGENT = "conseiller"
    NOINPUT = "noinput"
    NOMATCH = "nomatch"
    INVALID = "invalid"


#: Edges taken when the caller does not answer as expected, or something fails (drawn dashed).
FALLBACK_LABELS = (Label.NOINPUT, Label.NOMATCH, Label.INVALID, Label.FAIL, Label.ERROR, Label.AGENT)


@dataclass(frozen=True)
class Edge:
    """One way out of a node: its label, the node it leads to, and where the node names it."""

    label: str
    target: str
    at: Location = ()
    #: The edge comes from the flow's defaults (checked once there, not at every node).
    from_defaults: bool = False


@dataclass(frozen=True)
class Ref:
    """A value a node names (a prompt id, a template) and where it was written."""

    value: str
    at: Location


def hint(word: object, candidates: Iterable[object]) -> str:
    """`` (did you mean 'x'?)`` for the closest candidate, or nothing; a word with a character one
    cannot see or tell apart (a no-break space, a Cyrillic « о ») gets that character named instead."""
    text = str(word)
    odd = odd_characters(text)
    if odd:
        return f" (it contains {odd}: retype it)"
    close = difflib.get_close_matches(text, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def odd_characters(text: str) -> str:
    """The characters of ``text`` an administrator cannot see or tell from a Latin letter, named
    (``a NO-BREAK SPACE (U+00A0) at 4``), or an empty string."""
    found = []
    for at, char in enumerate(text, start=1):
        name = unicodedata.name(char, "")
        category = unicodedata.category(char)
        invisible = category in ("Cf", "Cc", "Zl", "Zp") or (category == "Zs" and char != " ") or char == "\t"
        lookalike = category.startswith("L") and not name.startswith("LATIN") and name.split(" ")[0] in _LOOKALIKE_SCRIPTS
        if invisible or lookalike:
            what = f"« {char} » " if lookalike else ""
            found.append(f"a {what}{name or 'control character'} (U+{ord(char):04X}) at character {at}")
    return ", ".join(found[:3])


#: Scripts whose letters look like Latin ones (а, е, о, р, с, х; ο, ν…).
_LOOKALIKE_SCRIPTS = {"CYRILLIC", "GREEK", "ARMENIAN"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Record:
    """What a variable set to a record (a lookup's result) may hold: its fields, and the values some
    of them can take."""

    fields: frozenset[str]
    values: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def __or__(self, other: Record) -> Record:
        """Either record (a variable two nodes may set): any field of either, any value of either."""
        names = set(self.values) & set(other.values)
        return Record(self.fields | other.fields, {n: self.values[n] | other.values[n] for n in names})

    def field_problem(self, variable: str, path: str) -> str | None:
        """Why ``variable.path`` never has a value, or None."""
        name = path.split(".")[0]
        if name in self.fields:
            return None
        return f"reads field {name!r}, which {variable!r} never holds{hint(name, self.fields)} " \
               f"(it holds {', '.join(sorted(self.fields))})"


@dataclass
class ValidationContext:
    """What a flow may refer to outside itself."""

    prompts: set[str] = field(default_factory=set)
    #: Prompts that exist in the catalog but have no rendered WAV yet.
    unrendered: set[str] = field(default_factory=set)
    #: Prompts whose WAV was rendered from another text than the catalog's (run ``ivr prompts build``).
    stale: set[str] = field(default_factory=set)
    #: Prompts whose audio file Asterisk would refuse to play, and why (44.1 kHz, stereo, empty…).
    unplayable: dict[str, str] = field(default_factory=dict)
    #: Lookup services and the result statuses each can return.
    services: dict[str, LookupSpec] = field(default_factory=dict)
    flows: set[str] = field(default_factory=set)
    #: Queues a route node may name (``auto``: the routing rules decide).
    queues: tuple[str, ...] = ("auto",)
    check_prompts: bool = True
    #: Slots questions may ask for, and value checks collect nodes may name (the line's profile).
    slots: dict[str, SlotSpec] = field(default_factory=dict)
    validators: set[str] = field(default_factory=set)
    #: Template filters flows may use (``{file_number|mask}``).
    filters: set[str] = field(default_factory=lambda: set(FILTERS))
    #: Variables a call has before any node sets them.
    provided: set[str] = field(default_factory=set)
    #: Whether every node of every file of the set parsed (else "no node sets" may be a consequence).
    complete_set: bool = True
    #: The line's today, for what only makes sense in the future (closed dates); None: not judged.
    today: date | None = None
    #: Each rendered prompt's length in seconds (for the longest silent wait before an agent).
    prompt_seconds: dict[str, float] = field(default_factory=dict)
    #: Prompts whose text asks the caller to speak (« dites… »).
    asks_to_speak: set[str] = field(default_factory=set)
    #: Variables some node of the set of flows sets to a record, and what each may hold.
    records: dict[str, Record] = field(default_factory=dict)
    #: Flows Asterisk's dialplan runs, with where it names each (None: no dialplan to check against).
    dialplan_flows: dict[str, str] | None = None
    #: Channel variables the dialplan passes on to the agent's channel (None: not known).
    forwarded: set[str] | None = None


@dataclass
class Checks:
    """What a node's own checks see: the world outside the flow, the flow's defaults, every variable
    some node of the flow set sets; and where the node's findings go."""

    context: ValidationContext
    defaults: Defaults
    known_vars: set[str]
    findings: list[tuple[Location, str]] = field(default_factory=list)
    #: What is legal yet suspicious: shown to the administrator, never blocking.
    notices: list[tuple[Location, str]] = field(default_factory=list)
    #: Variables no node sets (see :meth:`unset`).
    unset_findings: list[tuple[Location, str]] = field(default_factory=list)

    def problem(self, at: Location, message: str) -> None:
        """Report a problem at a field of the node being checked."""
        self.findings.append((at, message))

    def unset(self, at: Location, message: str) -> None:
        """Report a variable no node sets: a consequence, not a cause, while a node of the set did not
        parse (its ``store:`` may be the setter); shown only when nothing else is wrong then."""
        self.unset_findings.append((at, message))

    def notice(self, at: Location, message: str) -> None:
        """Warn about a field of the node being checked (the flow is still accepted)."""
        self.notices.append((at, message))


class NodeBase(_Model):
    """A node of a flow. Each kind overrides what applies to it; the defaults say "nothing"."""

    kind: str
    description: str = ""

    #: The node waits for the caller (a loop through it is not a busy loop).
    waits_for_caller: ClassVar[bool] = False
    #: How drawings show it: ``question``, ``step``, ``agent`` or ``end``.
    category: ClassVar[str] = "step"

    def edges(self, defaults: Defaults) -> list[Edge]:
        """Every way out of the node."""
        return []

    def prompt_refs(self) -> list[Ref]:
        """The catalog prompts the node plays."""
        return []

    def template_refs(self) -> list[Ref]:
        """Every ``{var|filter}`` template the node renders at run time."""
        return []

    def required_refs(self) -> list[Ref]:
        """Templates whose variables must be set on every way to the node (a lookup's arguments)."""
        return []

    def sets(self) -> set[str]:
        """Every variable the node may set."""
        return set()

    def sets_on(self, label: str) -> set[str]:
        """The variables the node has set when the call leaves it by the edge ``label``."""
        return self.sets()

    def check(self, checks: Checks) -> None:
        """What the node names outside itself (slots, services, queues…): problems go to ``checks``."""

    def silent_seconds(self, defaults: Defaults, seconds: Callable[[str], float]) -> float:
        """How long a caller who says nothing spends in this node at most (``seconds``: a prompt's
        length), for the checker's longest silent wait before an agent."""
        return sum(seconds(ref.value) for ref in self.prompt_refs())

    def routing_reasons(self) -> set[str]:
        """The reasons this node hands callers to the routing rules with (rules test them)."""
        return set()

    def keypad_prompt_refs(self) -> list[Ref]:
        """The prompts callers hear when only keys work (speech off, or a line without a speech model):
        none of them may ask the caller to speak."""
        return []

    def records(self, context: ValidationContext) -> dict[str, Record]:
        """The variables this node sets to a record, with the fields a flow may read of each
        (``{dossier.readback}``); a field outside them would never have a value."""
        return {}

    def ends_as(self) -> str | None:
        """The outcome the call ends with here, in the IVR (``self_served``, ``closed_hours``), or None:
        a failure must never lead to such an end."""
        return None

    def summary(self, defaults: Defaults) -> list[str]:
        """A line or two for drawings, after the description (the queue, the tries)."""
        return []

    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        """Do the node's work on the call; the next node's id, or None when the call is over here."""
        raise NotImplementedError(f"node kind {self.kind!r} does not run")


def ref_list(values: Iterable[str], *at: str | int) -> list[Ref]:
    """A ``Ref`` per item of a list field (``prompts: [a, b]`` → ``("prompts", 0)``, ``("prompts", 1)``)."""
    return [Ref(v, (*at, i)) for i, v in enumerate(values)]


def field_refs(values: dict[str, Any], name: str) -> list[Ref]:
    """A ``Ref`` per string value of a mapping field (``args: {numero: "{file_number}"}``)."""
    return [Ref(v, (name, k)) for k, v in values.items() if isinstance(v, str)]
