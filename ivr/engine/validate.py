"""Load and validate flow files, reporting every problem at once as ``file:line: message``.

Checks, in order: YAML syntax; the shape of the header and of each node
(unknown kinds, unknown or missing fields, bad values); then the graph: the
start node and every target exist, every node is reachable from the start,
no loop can run without waiting for the caller, prompts exist in the catalog
and are rendered, slots and lookup services are known, route targets are
known queues, subflows exist.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..interfaces import SlotSpec
from ..yamlsrc import SourceError, line_of, load_yaml, to_plain, validation_messages
from .model import (
    INPUT_KINDS,
    NODE_KINDS,
    CollectNode,
    ConfirmNode,
    Defaults,
    FlowModel,
    HangupNode,
    LookupNode,
    MenuNode,
    Node,
    PlayNode,
    RouteNode,
    SayNode,
    SetNode,
    SubflowNode,
)
from .template import FILTERS, references

__all__ = ["LoadedFlow", "ValidationContext", "load_flow", "check_flows"]

_NODE = TypeAdapter(Node)


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    start: str
    defaults: Defaults = Defaults()
    nodes: dict[str, Any] = Field(min_length=1)


@dataclass
class ValidationContext:
    """What a flow may refer to outside itself."""

    prompts: set[str] = field(default_factory=set)
    #: Prompts that exist in the catalog but have no rendered WAV yet.
    unrendered: set[str] = field(default_factory=set)
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


@dataclass
class LoadedFlow:
    model: FlowModel
    path: Path
    version: str
    lines: dict[str, int]  # node id → line


def _node_line(raw: Any, node_id: str) -> int:
    return line_of(raw, ("nodes", node_id)) or 1


def _field_line(raw: Any, node_id: str, *fields: str | int) -> int:
    return line_of(raw, ("nodes", node_id, *fields)) or _node_line(raw, node_id)


def load_flow(path: str | Path, ctx: ValidationContext, text: str | None = None) -> LoadedFlow:
    """Load one flow file; raise :class:`SourceError` listing every problem found."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SourceError([f"{path}: cannot read: {exc.strerror}"]) from None
    raw = load_yaml(path, text)
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise SourceError([f"{path}:1: a flow is a mapping with flow, start, nodes"])
    plain = to_plain(raw)
    try:
        header = _Header.model_validate(plain)
    except ValidationError as exc:
        errors += validation_messages(path, raw, exc)
        header = None
    raw_nodes = raw.get("nodes") if isinstance(raw.get("nodes"), dict) else {}
    nodes: dict[str, Any] = {}
    for node_id, node_raw in (raw_nodes or {}).items():
        node_id = str(node_id)
        line = _node_line(raw, node_id)
        kind = node_raw.get("kind") if isinstance(node_raw, dict) else None
        if kind is None:
            errors.append(f"{path}:{line}: node {node_id!r} has no kind (one of {', '.join(NODE_KINDS)})")
            continue
        if kind not in NODE_KINDS:
            errors.append(f"{path}:{_field_line(raw, node_id, 'kind')}: node {node_id!r}: unknown node kind "
                          f"{kind!r} (one of {', '.join(NODE_KINDS)})")
            continue
        try:
            nodes[node_id] = _NODE.validate_python(to_plain(node_raw))
        except ValidationError as exc:
            for msg in validation_messages(path, raw, exc, prefix=("nodes", node_id), tag=kind):
                errors.append(msg.replace(f"nodes.{node_id}.", f"node {node_id!r}: ", 1)
                              .replace(f"nodes.{node_id}:", f"node {node_id!r}:", 1))
    known_ids = {str(k) for k in (raw_nodes or {})}
    if header is not None:
        errors += _check_graph(path, raw, header, nodes, known_ids, ctx)
    if errors:
        raise SourceError(errors)
    assert header is not None
    model = FlowModel(flow=header.flow, description=header.description, start=header.start,
                      defaults=header.defaults, nodes=nodes)
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return LoadedFlow(model, path, version, {n: _node_line(raw, n) for n in nodes})


def _edges(header: _Header, node_id: str, node: Any) -> list[tuple[str, str, tuple]]:
    """(label, target, yaml location of the reference) for every edge of a node."""
    model = FlowModel.model_construct(flow=header.flow, start=header.start, defaults=header.defaults,
                                      nodes={node_id: node})
    out = []
    for label, target in model.targets(node_id):
        out.append((label, target, _ref_location(node, label)))
    return out


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


def _check_graph(path: Path, raw: Any, header: _Header, nodes: dict[str, Any], known_ids: set[str],
                 ctx: ValidationContext) -> list[str]:
    errors: list[str] = []
    d = header.defaults

    def at(node_id: str, loc: tuple) -> str:
        return f"{path}:{_field_line(raw, node_id, *loc)}"

    if header.start not in known_ids:
        errors.append(f"{path}:{line_of(raw, ('start',)) or 1}: start node {header.start!r} does not exist")
    for name, target in (("on_fail", d.on_fail), ("agent", d.agent)):
        if target not in known_ids and any(isinstance(n, (MenuNode, CollectNode, ConfirmNode)) for n in nodes.values()):
            line = line_of(raw, ("defaults", name)) or line_of(raw, ("defaults",)) or 1
            errors.append(f"{path}:{line}: defaults.{name}: node {target!r} does not exist "
                          f"(every question ends there when the caller cannot be understood)")
    # Prompts from the flow defaults.
    default_prompts = [(h.prompt, ("defaults", name, "prompt")) for name, h in (("noinput", d.noinput), ("nomatch", d.nomatch)) if h.prompt]
    for prompt, loc in default_prompts:
        errors += _check_prompt(prompt, f"{path}:{line_of(raw, loc) or 1}", ctx)

    graph: dict[str, list[str]] = {}
    for node_id, node in nodes.items():
        graph[node_id] = []
        for label, target, loc in _edges(header, node_id, node):
            if target not in known_ids:
                if label in ("échec", "conseiller"):
                    continue  # reported once on the defaults
                errors.append(f"{at(node_id, loc)}: node {node_id!r}: {label} leads to {target!r}, "
                              f"which does not exist")
            else:
                graph[node_id].append(target)
        for prompt, loc in _prompts_of(node):
            errors += _check_prompt(prompt, at(node_id, loc), ctx)
        if isinstance(node, (MenuNode, CollectNode)) and node.slot is not None:
            spec = ctx.slots.get(node.slot)
            if spec is None:
                errors.append(f"{at(node_id, ('slot',))}: node {node_id!r}: unknown slot {node.slot!r} "
                              f"(known: {', '.join(sorted(ctx.slots))})")
            elif isinstance(node, CollectNode) and not spec.digits:
                errors.append(f"{at(node_id, ('slot',))}: node {node_id!r}: slot {node.slot!r} is not a digit "
                              f"string and cannot be collected")
            elif isinstance(node, MenuNode):
                if spec.digits:
                    errors.append(f"{at(node_id, ('slot',))}: node {node_id!r}: slot {node.slot!r} is a digit "
                                  f"string: use a collect node")
                for i, c in enumerate(node.choices):
                    if c.value not in spec.values:
                        errors.append(f"{at(node_id, ('choices', i, 'value'))}: node {node_id!r}: value "
                                      f"{c.value!r} is not a value of slot {node.slot!r} "
                                      f"({', '.join(spec.values)})")
        for template, loc in _templates_of(node):
            for _, flt in references(template):
                if flt is not None and flt not in ctx.filters:
                    errors.append(f"{at(node_id, loc)}: node {node_id!r}: unknown template filter {flt!r} "
                                  f"(known: {', '.join(sorted(ctx.filters))})")
        if isinstance(node, CollectNode) and node.validator is not None and node.validator not in ctx.validators:
            errors.append(f"{at(node_id, ('validator',))}: node {node_id!r}: unknown validator {node.validator!r} "
                          f"(known: {', '.join(sorted(ctx.validators)) or 'none'})")
        if isinstance(node, RouteNode) and node.queue not in ctx.queues:
            errors.append(f"{at(node_id, ('queue',))}: node {node_id!r}: route target {node.queue!r} is not a "
                          f"known queue ({', '.join(ctx.queues)})")
        if isinstance(node, LookupNode):
            statuses = ctx.services.get(node.service)
            if statuses is None:
                errors.append(f"{at(node_id, ('service',))}: node {node_id!r}: unknown lookup service "
                              f"{node.service!r} (known: {', '.join(sorted(ctx.services)) or 'none'})")
            else:
                for status in node.on:
                    if status not in statuses:
                        errors.append(f"{at(node_id, ('on', status))}: node {node_id!r}: service "
                                      f"{node.service!r} never returns {status!r} ({', '.join(sorted(statuses))})")
        if isinstance(node, SubflowNode) and node.flow not in ctx.flows:
            errors.append(f"{at(node_id, ('flow',))}: node {node_id!r}: subflow {node.flow!r} is not a known flow")

    # Reachability from the start node.
    if header.start in graph:
        seen = {header.start}
        todo = [header.start]
        while todo:
            for t in graph.get(todo.pop(), []):
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        for node_id in nodes:
            if node_id not in seen:
                errors.append(f"{path}:{_node_line(raw, node_id)}: node {node_id!r} is unreachable from "
                              f"the start node {header.start!r}")
    # Loops that never wait for the caller would spin forever.
    for cycle in _cycles_without_input(graph, nodes):
        first = min(cycle, key=lambda n: _node_line(raw, n))
        errors.append(f"{path}:{_node_line(raw, first)}: loop without input: {' → '.join(cycle + [cycle[0]])} "
                      f"never waits for the caller")
    return errors


def _check_prompt(prompt: str, where: str, ctx: ValidationContext) -> list[str]:
    if not ctx.check_prompts:
        return []
    if prompt not in ctx.prompts:
        return [f"{where}: prompt {prompt!r} is not in the prompt catalog"]
    if prompt in ctx.unrendered:
        return [f"{where}: prompt {prompt!r} has no rendered WAV: run `ivr prompts build`"]
    return []


def _cycles_without_input(graph: dict[str, list[str]], nodes: dict[str, Any]) -> list[list[str]]:
    """Strongly connected groups of non-input nodes that contain a cycle (Tarjan)."""
    sub = {n: [t for t in ts if t in nodes and nodes[t].kind not in INPUT_KINDS]
           for n, ts in graph.items() if nodes[n].kind not in INPUT_KINDS}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sub.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in sub.get(v, []):
                out.append(sorted(group))

    for v in sub:
        if v not in index:
            visit(v)
    return out


def check_flows(paths: list[Path], ctx: ValidationContext) -> tuple[dict[str, LoadedFlow], list[str]]:
    """Load several flow files; returns the valid flows by name and every error found."""
    loaded: dict[str, LoadedFlow] = {}
    errors: list[str] = []
    # Subflows may refer to any flow in the set: collect the names first.
    names = set(ctx.flows)
    for p in paths:
        try:
            data = load_yaml(p)
            if isinstance(data, dict) and isinstance(data.get("flow"), str):
                names.add(data["flow"])
        except (SourceError, OSError):
            pass
    inner = dataclasses.replace(ctx, flows=names)
    for p in paths:
        try:
            flow = load_flow(p, inner)
        except SourceError as exc:
            errors += exc.messages
            continue
        if flow.model.flow in loaded:
            errors.append(f"{p}:1: flow name {flow.model.flow!r} is already used by {loaded[flow.model.flow].path}")
            continue
        loaded[flow.model.flow] = flow
    return loaded, errors
