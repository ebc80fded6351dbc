"""Load and validate flow files, reporting every problem at once as ``file:line: message``.

The checker proves what the interpreter relies on, and rejects what it cannot prove:

- YAML syntax (in plain words), the shape of the header and of every node (unknown kinds and fields,
  with "did you mean"), dates, opening hours (at the day's line);
- the graph: the start node and every target exist, every node is reachable, no loop can run without
  waiting for the caller, no subflow calls itself (directly or through others);
- what nodes refer to: prompts exist in the catalog AND their audio was rendered from the current
  text, slots, lookup services and the statuses they return, queues, value checks, template filters;
- variables: every ``{variable}`` a node reads is set by some node (or given by the call), a lookup's
  arguments are set on every path that reaches it, a branch tests a variable something sets;
- menu keys: no choice on the agent key (it could never be chosen), no two choices on one key or value.

Messages are sorted by file and line; the root cause comes alone (nodes that look unreachable
because a ``next:`` is misspelt are not reported until the misspelling is fixed).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..interfaces import SlotSpec
from ..yamlsrc import SourceError, line_of, load_yaml, read_source, to_plain, validation_messages
from .model import (
    INPUT_KINDS,
    MAX_NODES_WITHOUT_INPUT,
    NODE_KINDS,
    BranchNode,
    Choice,
    ChunkSpec,
    CollectNode,
    Condition,
    ConfirmNode,
    ConfirmSpec,
    Defaults,
    FlowModel,
    HangupNode,
    HoursNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    Reaction,
    RouteNode,
    SayNode,
    SayPart,
    SetNode,
    SubflowNode,
)
from .template import FILTERS, references

__all__ = ["LoadedFlow", "ValidationContext", "check_flows", "flow_files"]

_NODE = TypeAdapter(Node)
_FLOW_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: str = Field(pattern=_FLOW_NAME)
    description: str = ""
    start: str
    defaults: Defaults = Defaults()
    nodes: dict[str, Any] = Field(min_length=1)


#: Every field name a flow may use, for "did you mean" on a misspelt one.
_FIELDS = sorted({name for model in (_Header, Defaults, Reaction, Choice, Condition, ConfirmSpec, ChunkSpec, SayPart,
                                     *typing.get_args(typing.get_args(Node)[0]))
                  for name in model.model_fields} | {"var"})


@dataclass
class ValidationContext:
    """What a flow may refer to outside itself."""

    prompts: set[str] = field(default_factory=set)
    #: Prompts that exist in the catalog but have no rendered WAV yet.
    unrendered: set[str] = field(default_factory=set)
    #: Prompts whose WAV was rendered from another text than the catalog's (run ``ivr prompts build``).
    stale: set[str] = field(default_factory=set)
    #: Lookup services and the result statuses each can return.
    services: dict[str, set[str]] = field(default_factory=dict)
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


@dataclass
class LoadedFlow:
    model: FlowModel
    path: Path
    version: str
    lines: dict[str, int]  # node id → line


@dataclass(order=True)
class _Problem:
    path: str
    line: int
    message: str
    #: A consequence of another problem (a node unreachable because a target is misspelt).
    cascade: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class _Parsed:
    """One file after its shape was checked; the graph checks need every file of the set."""

    path: Path
    text: str
    raw: Any
    header: _Header | None
    nodes: dict[str, Any]
    known_ids: set[str]


def _checker_failed(path: Path | str, exc: BaseException) -> _Problem:
    """A check that broke on this file: the file is rejected with what broke, never half-applied."""
    return _Problem(str(path), 1, f"this file could not be checked ({type(exc).__name__}: {str(exc)[:200]}): "
                                  f"it is rejected, the running version stays; please report it")


def _hint(word: str, candidates) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def flow_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """The flow files of files and folders, as the server reads them: ``*.yaml`` and ``*.yml``.

    A folder without any, or a path that does not exist, is an error (the server would serve nothing).
    """
    files: list[Path] = []
    errors: list[str] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
            if not found:
                errors.append(f"{p}: no flow file (*.yaml, *.yml) in this folder")
            files += found
        elif p.exists():
            files.append(p)
        else:
            errors.append(f"{p}: no such file or folder")
    return files, errors


# -- shape ----------------------------------------------------------------------------------------


def _parse(path: Path, problems: list[_Problem]) -> _Parsed | None:
    try:
        text = read_source(path)
        raw = load_yaml(path, text)
    except SourceError as exc:
        problems += [_from_message(m) for m in exc.messages]
        return None
    if not isinstance(raw, dict):
        problems.append(_Problem(str(path), 1, "a flow is a mapping with flow, start and nodes"))
        return None
    header: _Header | None
    try:
        header = _Header.model_validate(to_plain(raw))
    except ValidationError as exc:
        problems += [_from_message(_friendly(m)) for m in validation_messages(path, raw, exc)]
        header = None
    raw_nodes = raw.get("nodes") if isinstance(raw.get("nodes"), dict) else {}
    nodes: dict[str, Any] = {}
    for node_id, node_raw in (raw_nodes or {}).items():
        node_id = str(node_id)
        kind = node_raw.get("kind") if isinstance(node_raw, dict) else None
        if kind is None:
            problems.append(_Problem(str(path), _node_line(raw, node_id),
                                     f"node {node_id!r} has no kind (one of {', '.join(NODE_KINDS)})"))
            continue
        if kind not in NODE_KINDS:
            problems.append(_Problem(str(path), _field_line(raw, node_id, "kind"),
                                     f"node {node_id!r}: unknown node kind {kind!r}{_hint(kind, NODE_KINDS)} "
                                     f"(one of {', '.join(NODE_KINDS)})"))
            continue
        try:
            nodes[node_id] = _NODE.validate_python(to_plain(node_raw))
        except ValidationError as exc:
            for msg in validation_messages(path, raw, exc, prefix=("nodes", node_id), tag=kind):
                msg = (msg.replace(f"nodes.{node_id}.", f"node {node_id!r}: ", 1)
                       .replace(f"nodes.{node_id}:", f"node {node_id!r}:", 1))
                problems.append(_from_message(_friendly(msg)))
    return _Parsed(path, text, raw, header, nodes, {str(k) for k in (raw_nodes or {})})


_MESSAGE = re.compile(r"^(.*?):(\d+): (.*)$", re.S)


def _from_message(message: str) -> _Problem:
    m = _MESSAGE.match(message)
    return _Problem(m.group(1), int(m.group(2)), m.group(3)) if m else _Problem(message.split(":", 1)[0], 1, message)


def _friendly(message: str) -> str:
    """pydantic's wording, where an administrator needs another: the field a misspelt key resembles."""
    m = re.match(r"^(.*?: )(?:node '[^']*': )?(?:[\w.]+\.)?([\w-]+): Extra inputs are not permitted$", message)
    if m:
        key = m.group(2)
        return message.replace(f"{key}: Extra inputs are not permitted", f"unknown field {key!r}{_hint(key, _FIELDS)}")
    return message.replace("Input should be ", "should be ")


def _node_line(raw: Any, node_id: str) -> int:
    return line_of(raw, ("nodes", node_id)) or 1


def _field_line(raw: Any, node_id: str, *fields: str | int) -> int:
    return line_of(raw, ("nodes", node_id, *fields)) or _node_line(raw, node_id)


# -- graph and references -------------------------------------------------------------------------


def _edges(header: _Header, node_id: str, node: Any) -> list[tuple[str, str, tuple]]:
    """(label, target, yaml location of the reference) for every edge of a node."""
    model = FlowModel.model_construct(flow=header.flow, start=header.start, defaults=header.defaults,
                                      nodes={node_id: node})
    return [(label, target, _ref_location(node, label)) for label, target in model.targets(node_id)]


def _ref_location(node: Any, label: str) -> tuple:
    """Where in the node an edge was written (for the error line)."""
    simple = {"next": ("next",), "oui": ("yes",), "non": ("no",), "erreur": ("on_error",),
              "sinon": ("default",), "ouvert": ("open",), "fermé": ("closed",), "échec": ("on_fail",),
              "noinput": ("noinput", "next"), "nomatch": ("nomatch", "next"), "invalid": ("invalid", "next")}
    if label in simple:
        return simple[label]
    if isinstance(node, LookupNode) and label in node.on:
        return ("on", label)
    if isinstance(node, MenuNode):
        for i, c in enumerate(node.choices):
            if label in (c.key, c.value):
                return ("choices", i, "next")
    if isinstance(node, BranchNode):
        for i, c in enumerate(node.cases):
            if label == c.var:
                return ("cases", i, "next")
    return ()


def _prompts_of(node: Any) -> list[tuple[str, tuple]]:
    out: list[tuple[str, tuple]] = []
    if isinstance(node, (PlayNode, RouteNode, HangupNode)):
        out += [(p, ("prompts", i)) for i, p in enumerate(node.prompts)]
    if isinstance(node, (MenuNode, CollectNode, ConfirmNode)):
        out.append((node.prompt, ("prompt",)))
        if node.keypad_prompt:
            out.append((node.keypad_prompt, ("keypad_prompt",)))
        if node.reprompt:
            out.append((node.reprompt, ("reprompt",)))
        for name in ("noinput", "nomatch"):
            h = getattr(node, name)
            if h is not None and h.prompt:
                out.append((h.prompt, (name, "prompt")))
    if isinstance(node, CollectNode):
        if node.invalid.prompt:
            out.append((node.invalid.prompt, ("invalid", "prompt")))
        if node.confirm is not None:
            out += [(node.confirm.prompt, ("confirm", "prompt")), (node.confirm.readback, ("confirm", "readback"))]
            if node.confirm.keypad_prompt:
                out.append((node.confirm.keypad_prompt, ("confirm", "keypad_prompt")))
        if node.chunks is not None:
            out += [(p, ("chunks", "prompts", i)) for i, p in enumerate(node.chunks.prompts)]
    if isinstance(node, LookupNode) and node.wait_prompt:
        out.append((node.wait_prompt, ("wait_prompt",)))
    if isinstance(node, SayNode):
        out += [(p.prompt, ("parts", i, "prompt")) for i, p in enumerate(node.parts) if p.prompt]
    return out


def _templates_of(node: Any) -> list[tuple[str, tuple]]:
    """Every ``{var|filter}`` template a node renders at run time, with where it was written."""
    out: list[tuple[str, tuple]] = []
    if isinstance(node, SayNode):
        for i, part in enumerate(node.parts):
            for name in ("text", "digits", "date"):
                value = getattr(part, name)
                if value is not None:
                    out.append((value, ("parts", i, name)))
    if isinstance(node, LookupNode):
        out += [(v, ("args", k)) for k, v in node.args.items()]
    if isinstance(node, RouteNode):
        out += [(v, ("context", k)) for k, v in node.context.items()]
    if isinstance(node, SetNode):
        out += [(v, ("values", k)) for k, v in node.values.items() if isinstance(v, str)]
    return out


def _sets_on_edge(node: Any, label: str) -> set[str]:
    """The variables a node has set when the call leaves it by the edge ``label``."""
    if isinstance(node, MenuNode) and node.store and label not in ("noinput", "nomatch", "échec", "conseiller"):
        return {node.store}
    if isinstance(node, ConfirmNode) and node.store and label in ("oui", "non"):
        return {node.store}
    if isinstance(node, CollectNode) and label == "next":
        return {node.store}
    if isinstance(node, LookupNode):
        return {node.store}  # set on every way out: the result, or the error
    if isinstance(node, SetNode):
        return set(node.values)
    if isinstance(node, HoursNode):
        return {"open"}
    return set()


def _sets(node: Any) -> set[str]:
    """Every variable a node may set."""
    out: set[str] = set()
    for attr in ("store",):
        value = getattr(node, attr, None)
        if isinstance(value, str) and value:
            out.add(value)
    if isinstance(node, SetNode):
        out |= set(node.values)
    if isinstance(node, HoursNode):
        out.add("open")
    return out


def _check_prompt(prompt: str, path: Path, line: int, ctx: ValidationContext) -> list[_Problem]:
    if not ctx.check_prompts:
        return []
    if prompt not in ctx.prompts:
        return [_Problem(str(path), line, f"prompt {prompt!r} is not in the prompt catalog{_hint(prompt, ctx.prompts)}")]
    if prompt in ctx.unrendered:
        return [_Problem(str(path), line, f"prompt {prompt!r} has no rendered WAV: run `ivr prompts build`")]
    if prompt in ctx.stale:
        return [_Problem(str(path), line, f"prompt {prompt!r}: its text changed since its audio was rendered "
                                          f"(callers would hear the old text): run `ivr prompts build`")]
    return []


def _check_graph(p: _Parsed, ctx: ValidationContext, known_vars: set[str]) -> list[_Problem]:
    path, raw, header, nodes, known_ids = p.path, p.raw, p.header, p.nodes, p.known_ids
    assert header is not None
    problems: list[_Problem] = []
    d = header.defaults

    def problem(node_id: str, loc: tuple, message: str, *, cascade: bool = False) -> None:
        problems.append(_Problem(str(path), _field_line(raw, node_id, *loc), f"node {node_id!r}: {message}", cascade))

    dangling = False
    if header.start not in known_ids:
        dangling = True
        problems.append(_Problem(str(path), line_of(raw, ("start",)) or 1,
                                 f"start node {header.start!r} does not exist{_hint(header.start, known_ids)}"))
    has_questions = any(isinstance(n, (MenuNode, CollectNode, ConfirmNode)) for n in nodes.values())
    for name, target in (("on_fail", d.on_fail), ("agent", d.agent)):
        if target not in known_ids and has_questions:
            dangling = True
            line = line_of(raw, ("defaults", name)) or line_of(raw, ("defaults",)) or 1
            problems.append(_Problem(str(path), line, f"defaults.{name}: node {target!r} does not exist"
                                     f"{_hint(target, known_ids)} (every question ends there when the caller "
                                     f"cannot be understood)"))
    for name, h in (("noinput", d.noinput), ("nomatch", d.nomatch)):
        if h.prompt:
            problems += _check_prompt(h.prompt, path, line_of(raw, ("defaults", name, "prompt")) or 1, ctx)

    graph: dict[str, list[tuple[str, str]]] = {}
    for node_id, node in nodes.items():
        graph[node_id] = []
        for label, target, loc in _edges(header, node_id, node):
            if target not in known_ids:
                if label in ("échec", "conseiller") and not getattr(node, "on_fail", None):
                    continue  # reported once on the defaults
                dangling = True
                problem(node_id, loc, f"{label} leads to {target!r}, which does not exist{_hint(target, known_ids)}")
            else:
                graph[node_id].append((label, target))
        for prompt, loc in _prompts_of(node):
            problems += _check_prompt(prompt, path, _field_line(raw, node_id, *loc), ctx)
        problems += _check_references(p, node_id, node, ctx, known_vars)

    # Reachability from the start node (unreachable nodes are a cascade of a missing target, if any).
    if header.start in graph:
        seen = {header.start}
        todo = [header.start]
        while todo:
            for _, t in graph.get(todo.pop(), []):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        # A node that failed its own checks leaves its targets looking unreachable: a cascade too.
        for node_id in nodes:
            if node_id not in seen:
                problems.append(_Problem(str(path), _node_line(raw, node_id), f"node {node_id!r} is unreachable "
                                         f"from the start node {header.start!r}",
                                         cascade=dangling or set(nodes) != known_ids))
    # Loops that never wait for the caller would spin forever.
    plain = {n: [t for _, t in ts] for n, ts in graph.items()}
    loops = _cycles_without_input(plain, nodes)
    for cycle in loops:
        first = min(cycle, key=lambda n: _node_line(raw, n))
        problems.append(_Problem(str(path), _node_line(raw, first), f"loop without input: "
                                 f"{' → '.join(cycle + [cycle[0]])} never waits for the caller"))
    if not loops:  # and a run of nodes so long a call would take it for one (the interpreter's limit)
        run = _longest_run_without_input(plain, nodes)
        if len(run) >= MAX_NODES_WITHOUT_INPUT:
            problems.append(_Problem(str(path), _node_line(raw, run[0]), f"node {run[0]!r}: {len(run)} nodes in a row "
                                     f"({run[0]} → … → {run[-1]}) run without asking the caller anything: a call is "
                                     f"handed to an agent after {MAX_NODES_WITHOUT_INPUT} such nodes (it looks "
                                     f"like a loop); put a question in the run or shorten it"))
    if not dangling and header.start in graph and set(nodes) == known_ids:  # every node's shape is sound
        problems += _check_assigned(p, graph, ctx)
    return problems


def _check_references(p: _Parsed, node_id: str, node: Any, ctx: ValidationContext, known_vars: set[str]) -> list[_Problem]:
    """What a node names outside itself: slots, services, queues, checks, filters, variables, keys."""
    path, raw, d = p.path, p.raw, p.header.defaults  # type: ignore[union-attr]
    out: list[_Problem] = []

    def problem(loc: tuple, message: str) -> None:
        out.append(_Problem(str(path), _field_line(raw, node_id, *loc), f"node {node_id!r}: {message}"))

    if isinstance(node, (MenuNode, CollectNode)) and node.slot is not None:
        spec = ctx.slots.get(node.slot)
        if spec is None:
            problem(("slot",), f"unknown slot {node.slot!r}{_hint(node.slot, ctx.slots)} "
                               f"(known: {', '.join(sorted(ctx.slots))})")
        elif isinstance(node, CollectNode) and not spec.digits:
            problem(("slot",), f"slot {node.slot!r} is not a digit string and cannot be collected")
        elif isinstance(node, MenuNode):
            if spec.digits:
                problem(("slot",), f"slot {node.slot!r} is a digit string: use a collect node")
            for i, c in enumerate(node.choices):
                if c.value not in spec.values:
                    problem(("choices", i, "value"), f"value {c.value!r} is not a value of slot {node.slot!r}"
                                                     f"{_hint(c.value, spec.values)} ({', '.join(spec.values)})")
    if isinstance(node, MenuNode):
        keys: dict[str, int] = {}
        values: dict[str, int] = {}
        for i, c in enumerate(node.choices):
            if c.key is not None and c.key == d.agent_key:
                problem(("choices", i, "key"), f"key {c.key} is the agent key (defaults.agent_key): a caller "
                                               f"pressing it reaches an agent, never this choice")
            if c.key is not None and c.key in keys:
                problem(("choices", i, "key"), f"two choices use key {c.key} (choice {keys[c.key] + 1} and {i + 1})")
            if c.value in values:
                problem(("choices", i, "value"), f"two choices have the value {c.value!r}")
            keys.setdefault(c.key or "", i)
            values.setdefault(c.value, i)
    if isinstance(node, RouteNode) and node.queue not in ctx.queues:
        problem(("queue",), f"route target {node.queue!r} is not a known queue{_hint(node.queue, ctx.queues)} "
                            f"({', '.join(ctx.queues)})")
    if isinstance(node, LookupNode):
        statuses = ctx.services.get(node.service)
        if statuses is None:
            problem(("service",), f"unknown lookup service {node.service!r}{_hint(node.service, ctx.services)} "
                                  f"(known: {', '.join(sorted(ctx.services)) or 'none'})")
        else:
            for status in node.on:
                if status not in statuses:
                    problem(("on", status), f"service {node.service!r} never returns {status!r}"
                                            f"{_hint(status, statuses)} ({', '.join(sorted(statuses))})")
    if isinstance(node, SubflowNode) and node.flow not in ctx.flows:
        problem(("flow",), f"subflow {node.flow!r} is not a known flow{_hint(node.flow, ctx.flows)}")
    if isinstance(node, CollectNode) and node.validator is not None and node.validator not in ctx.validators:
        problem(("validator",), f"unknown validator {node.validator!r}{_hint(node.validator, ctx.validators)} "
                                f"(known: {', '.join(sorted(ctx.validators)) or 'none'})")
    for template, loc in _templates_of(node):
        for var, flt in references(template):
            if flt is not None and flt not in ctx.filters:
                problem(loc, f"unknown template filter {flt!r}{_hint(flt, ctx.filters)} "
                             f"(known: {', '.join(sorted(ctx.filters))})")
            root = var.split(".", 1)[0]
            if root not in known_vars:
                problem(loc, f"{{{var}}} reads variable {root!r}, which no node sets{_hint(root, known_vars)}")
    if isinstance(node, BranchNode):
        for i, case in enumerate(node.cases):
            root = case.var.split(".", 1)[0]
            if root not in known_vars:
                problem(("cases", i, "var"), f"the branch tests variable {root!r}, which no node sets"
                                             f"{_hint(root, known_vars)}: this case would never be taken")
    return out


def _check_assigned(p: _Parsed, graph: dict[str, list[tuple[str, str]]], ctx: ValidationContext) -> list[_Problem]:
    """A lookup's arguments must be set on every path from the start to it (a must-be-assigned
    data-flow analysis): an empty argument would make every caller's lookup fail."""
    header, nodes = p.header, p.nodes
    assert header is not None
    everything = set().union(*(_sets(n) for n in nodes.values()), ctx.provided)
    assigned: dict[str, set[str]] = {n: set(everything) for n in nodes}
    assigned[header.start] = set(ctx.provided)
    incoming: dict[str, list[tuple[str, str]]] = {n: [] for n in nodes}
    for src, edges in graph.items():
        for label, dst in edges:
            incoming[dst].append((src, label))
    changed = True
    while changed:
        changed = False
        for node_id in nodes:
            if node_id == header.start and not incoming[node_id]:
                continue
            sets = [assigned[src] | _sets_on_edge(nodes[src], label) for src, label in incoming[node_id]]
            new = set.intersection(*sets) if sets else set()
            if node_id == header.start:
                new &= set(ctx.provided)
            if new != assigned[node_id]:
                assigned[node_id] = new
                changed = True
    out: list[_Problem] = []
    for node_id, node in nodes.items():
        if not isinstance(node, LookupNode):
            continue
        for name, template in node.args.items():
            for var, _ in references(template):
                root = var.split(".", 1)[0]
                if root not in assigned[node_id] and root in everything:
                    out.append(_Problem(str(p.path), _field_line(p.raw, node_id, "args", name),
                                        f"node {node_id!r}: argument {name!r} reads {{{var}}}, which is not set on "
                                        f"every way to this node: the lookup would run without it"))
    return out


def _cycles_without_input(graph: dict[str, list[str]], nodes: dict[str, Any]) -> list[list[str]]:
    """Strongly connected groups of non-input nodes that contain a cycle (Tarjan)."""
    sub = {n: [t for t in ts if t in nodes and nodes[t].kind not in INPUT_KINDS]
           for n, ts in graph.items() if nodes[n].kind not in INPUT_KINDS}
    return _strong_cycles(sub)


def _longest_run_without_input(graph: dict[str, list[str]], nodes: dict[str, Any]) -> list[str]:
    """The longest path of nodes that do not wait for the caller (the graph of those has no cycle)."""
    quiet = {n for n in graph if nodes[n].kind not in INPUT_KINDS}
    after = {n: [t for t in graph[n] if t in quiet] for n in quiet}
    # Longest path ending at each node, in an order where a node comes after every node leading to it.
    into = {n: 0 for n in quiet}
    for n in quiet:
        for t in after[n]:
            into[t] += 1
    order = [n for n in quiet if into[n] == 0]
    for n in order:  # grows while it is walked (Kahn's topological order)
        for t in after[n]:
            into[t] -= 1
            if into[t] == 0:
                order.append(t)
    best: dict[str, tuple[int, str | None]] = {n: (1, None) for n in quiet}
    for n in order:
        for t in after[n]:
            if best[n][0] + 1 > best[t][0]:
                best[t] = (best[n][0] + 1, n)
    if not best:
        return []
    end = max(best, key=lambda n: best[n][0])
    run = [end]
    while (previous := best[run[-1]][1]) is not None:
        run.append(previous)
    return run[::-1]


def _strong_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Groups of nodes that reach each other (and a node that leads to itself), each sorted.

    Tarjan's algorithm with an explicit stack: a flow of thousands of chained nodes is checked like
    any other (a recursive walk would stop at Python's recursion limit).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        # Each frame: a node and the iterator over its successors still to look at.
        frames = [(root, iter(graph.get(root, [])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while frames:
            v, successors = frames[-1]
            w = next(successors, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    frames.append((w, iter(graph.get(w, []))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            frames.pop()
            if frames:
                parent = frames[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1 or v in graph.get(v, []):
                    out.append(sorted(group))
    return out


# -- the whole set --------------------------------------------------------------------------------


def check_flows(paths: list[Path], ctx: ValidationContext) -> tuple[dict[str, LoadedFlow], list[str]]:
    """Load a set of flow files; returns the valid flows by name and every error, sorted by file and line.

    Two files may not define the same flow name, and no subflow may call its own flow.
    """
    problems: list[_Problem] = []
    parsed = []
    for path in paths:
        try:
            p = _parse(Path(path), problems)
        except Exception as exc:  # the checker itself failed: that is a rejection, never a crash
            problems.append(_checker_failed(path, exc))
            continue
        if p is not None:
            parsed.append(p)
    names: dict[str, _Parsed] = {}
    for p in parsed:
        if p.header is None:
            continue
        other = names.get(p.header.flow)
        if other is not None:
            problems.append(_Problem(str(p.path), line_of(p.raw, ("flow",)) or 1,
                                     f"flow name {p.header.flow!r} is already used by {other.path}: each flow "
                                     f"has one file (a backup copy in the flows folder is loaded too)"))
            continue
        names[p.header.flow] = p
    inner = dataclasses.replace(ctx, flows=set(ctx.flows) | set(names))
    known_vars = set(ctx.provided).union(*(_sets(n) for p in parsed for n in p.nodes.values()))
    for p in parsed:
        if p.header is not None:
            try:
                problems += _check_graph(p, inner, known_vars)
            except Exception as exc:
                problems.append(_checker_failed(p.path, exc))
    try:
        problems += _subflow_cycles(names)
    except Exception as exc:
        problems += [_checker_failed(p.path, exc) for p in names.values()]
    with_roots = {pr.path for pr in problems if not pr.cascade}
    shown = sorted(pr for pr in problems if not (pr.cascade and pr.path in with_roots))
    errors = [str(pr) for pr in shown]
    failed = {pr.path for pr in shown}
    loaded: dict[str, LoadedFlow] = {}
    for name, p in names.items():
        if str(p.path) in failed or p.header is None:
            continue
        model = FlowModel(flow=p.header.flow, description=p.header.description, start=p.header.start,
                          defaults=p.header.defaults, nodes=p.nodes)
        version = hashlib.sha256(p.text.encode()).hexdigest()[:12]
        loaded[name] = LoadedFlow(model, p.path, version, {n: _node_line(p.raw, n) for n in p.nodes})
    return loaded, errors


def _subflow_cycles(names: dict[str, _Parsed]) -> list[_Problem]:
    """A flow that runs itself as a subflow, directly or through others, would never end."""
    calls: dict[str, list[str]] = {name: [n.flow for n in p.nodes.values() if isinstance(n, SubflowNode)]
                                   for name, p in names.items()}
    out = []
    for cycle in _strong_cycles({n: [t for t in ts if t in calls] for n, ts in calls.items()}):
        for name in cycle:
            p = names[name]
            for node_id, node in p.nodes.items():
                if isinstance(node, SubflowNode) and node.flow in cycle:
                    out.append(_Problem(str(p.path), _field_line(p.raw, node_id, "flow"),
                                        f"node {node_id!r}: subflow {node.flow!r} leads back to flow {name!r} "
                                        f"({' → '.join(cycle + [cycle[0]])}): the call would never end"))
    return out
