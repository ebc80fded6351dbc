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
- menu keys: no choice on the agent key (it could never be chosen), no two choices on one key or value;
- Asterisk's side (given in the context): every flow the dialplan runs exists, audio Asterisk would
  refuse is named, the prompts heard when only keys work do not ask the caller to speak;
- the paths a caller can take (:mod:`.paths`): failures never end in the IVR, no loop holds a silent
  caller, the longest wait for an agent stays under ``max_silent_wait``.

Messages are sorted by file and line; the root cause comes alone (nodes that look unreachable
because a ``next:`` is misspelt are not reported until the misspelling is fixed).
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import override

from ..yamlsrc import SourceError, line_of, load_yaml, read_source, to_plain, validation_messages
from .defaults import Defaults, Reaction
from .kinds import KINDS
from .model import FLOW_NAME, MAX_NODES_WITHOUT_INPUT, FlowModel
from .nodes.base import Checks, Location, NodeBase, Record, ValidationContext, hint
from .nodes.subflow import SubflowNode
from .paths import Graph, failures_ending_in_the_ivr, longest_wait_for_an_agent, loops_holding_callers, strong_cycles
from .template import references

__all__ = ["LoadedFlow", "ValidationContext", "check_flows", "flow_files"]


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flow: str = Field(pattern=FLOW_NAME)
    description: str = ""
    start: str
    defaults: Defaults = Defaults()
    nodes: dict[str, Any] = Field(min_length=1)


def _known_fields() -> list[str]:
    """Every field name a flow may use, for "did you mean" on a misspelt one (the kinds registered now)."""
    return sorted({name for model in (_Header, Defaults, Reaction) for name in model.model_fields}
                  | KINDS.field_names())


_FIELDS = _known_fields()


@dataclass
class LoadedFlow:
    """A checked flow and where it was read from."""

    model: FlowModel
    path: Path
    version: str
    lines: dict[str, int]  # node id → line
    #: What is legal yet suspicious (``file:line: message``): printed and shown, never blocking.
    warnings: list[str] = field(default_factory=list)


@dataclass(order=True)
class _Problem:
    path: str
    line: int
    message: str
    #: A consequence of another problem (a node unreachable because a target is misspelt).
    cascade: bool = field(default=False, compare=False)
    #: A node or the defaults lead to a node that does not exist (what the cascades come from).
    missing_target: bool = field(default=False, compare=False)

    @override
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
    #: Warnings found while checking (they do not reject the file).
    notices: list[_Problem] = field(default_factory=list)


def _checker_failed(path: Path | str, exc: BaseException) -> _Problem:
    """A check that broke on this file: the file is rejected with what broke, never half-applied."""
    return _Problem(str(path), 1, f"this file could not be checked ({type(exc).__name__}: {str(exc)[:200]}): "
                                  f"it is rejected, the running version stays; please report it")


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
        kinds = KINDS.names()
        if kind is None:
            problems.append(_Problem(str(path), _node_line(raw, node_id),
                                     f"node {node_id!r} has no kind (one of {', '.join(kinds)})"))
            continue
        model = KINDS.model(str(kind))
        if model is None:
            problems.append(_Problem(str(path), _field_line(raw, node_id, "kind"),
                                     f"node {node_id!r}: unknown node kind {kind!r}{hint(kind, kinds)} "
                                     f"(one of {', '.join(kinds)})"))
            continue
        try:
            nodes[node_id] = model.model_validate(to_plain(node_raw))
        except ValidationError as exc:
            for msg in validation_messages(path, raw, exc, prefix=("nodes", node_id)):
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
        return message.replace(f"{key}: Extra inputs are not permitted",
                               f"unknown field {key!r}{hint(key, _known_fields())}")
    message = message.replace("Input should be ", "should be ")
    if message.endswith("should be a valid string"):  # 1, true or 2026-12-24 unquoted: YAML read another type
        message += " (put it in quotes: YAML reads 1 as a number, true as a boolean, 2026-12-24 as a date)"
    return message


def _node_line(raw: Any, node_id: str) -> int:
    return line_of(raw, ("nodes", node_id)) or 1


def _field_line(raw: Any, node_id: str, *fields: str | int) -> int:
    return line_of(raw, ("nodes", node_id, *fields)) or _node_line(raw, node_id)


# -- graph and references -------------------------------------------------------------------------


def _check_prompt(prompt: str, path: Path, line: int, ctx: ValidationContext) -> list[_Problem]:
    if not ctx.check_prompts:
        return []
    if prompt not in ctx.prompts:
        return [_Problem(str(path), line, f"prompt {prompt!r} is not in the prompt catalog{hint(prompt, ctx.prompts)}")]
    if prompt in ctx.unrendered:
        return [_Problem(str(path), line, f"prompt {prompt!r} has no rendered WAV: run `ivr prompts build`")]
    if prompt in ctx.unplayable:
        return [_Problem(str(path), line, f"prompt {prompt!r}: its audio file is {ctx.unplayable[prompt]}; Asterisk "
                                          f"would not play it and the caller would hear nothing (convert it, e.g. "
                                          f"sox in.wav -r 8000 -c 1 -b 16 out.wav, or run `ivr prompts build`)")]
    if prompt in ctx.stale:
        return [_Problem(str(path), line, f"prompt {prompt!r}: its text changed since its audio was rendered "
                                          f"(callers would hear the old text): run `ivr prompts build`")]
    return []


def _check_graph(p: _Parsed, ctx: ValidationContext, known_vars: set[str]) -> list[_Problem]:
    """The flow as a whole: its defaults, every node, what the start reaches, loops; then, when every
    node is sound, what each path to a node has set."""
    assert p.header is not None
    problems = _check_defaults(p, ctx)
    graph = _check_nodes(p, ctx, known_vars, problems)
    # A target that does not exist makes the nodes behind it look unreachable: those come as a cascade.
    dangling = any(pr.missing_target for pr in problems)
    problems += _check_reachable(p, graph, cascade=dangling or set(p.nodes) != p.known_ids)
    loops = _check_loops(p, graph)
    problems += loops
    if not dangling and set(p.nodes) == p.known_ids:  # the paths a caller takes need every node sound
        problems += _check_paths(p, graph, ctx, loops_found=bool(loops))
    if not dangling and p.header.start in graph and set(p.nodes) == p.known_ids:  # every node's shape is sound
        problems += _check_assigned(p, graph, ctx)
    return problems


def _check_defaults(p: _Parsed, ctx: ValidationContext) -> list[_Problem]:
    """The start node, and where the defaults send callers, exist; the defaults' prompts are there."""
    path, raw, header, known_ids = p.path, p.raw, p.header, p.known_ids
    assert header is not None
    d = header.defaults
    problems = []
    if header.start not in known_ids:
        problems.append(_Problem(str(path), line_of(raw, ("start",)) or 1,
                                 f"start node {header.start!r} does not exist{hint(header.start, known_ids)}",
                                 missing_target=True))
    uses_defaults = {e.target for n in p.nodes.values() for e in n.edges(d) if e.from_defaults}
    for name, target in (("on_fail", d.on_fail), ("agent", d.agent)):
        if target in uses_defaults and target not in known_ids:
            line = line_of(raw, ("defaults", name)) or line_of(raw, ("defaults",)) or 1
            problems.append(_Problem(str(path), line, f"defaults.{name}: node {target!r} does not exist"
                                     f"{hint(target, known_ids)} (every question ends there when the caller "
                                     f"cannot be understood)", missing_target=True))
    for name, h in (("noinput", d.noinput), ("nomatch", d.nomatch)):
        if h.prompt:
            problems += _check_prompt(h.prompt, path, line_of(raw, ("defaults", name, "prompt")) or 1, ctx)
    return problems


def _check_nodes(p: _Parsed, ctx: ValidationContext, known_vars: set[str], problems: list[_Problem]) -> Graph:
    """Each node's edges, prompts and references (problems appended); returns the edges that lead somewhere."""
    assert p.header is not None
    graph: Graph = {}
    for node_id, node in p.nodes.items():
        graph[node_id] = []
        for edge in node.edges(p.header.defaults):
            if edge.target in p.known_ids:
                graph[node_id].append((edge.label, edge.target))
            elif not edge.from_defaults:  # those are reported once, on the defaults
                problems.append(_node_problem(p, node_id, edge.at, f"{edge.label} leads to {edge.target!r}, which "
                                                                   f"does not exist{hint(edge.target, p.known_ids)}",
                                              missing_target=True))
        for ref in node.prompt_refs():
            problems += _check_prompt(ref.value, p.path, _field_line(p.raw, node_id, *ref.at), ctx)
        for ref in node.keypad_prompt_refs():
            if ref.value in ctx.asks_to_speak:
                problems.append(_node_problem(p, node_id, ref.at, f"prompt {ref.value!r} asks the caller to speak, but "
                                              f"callers hear it when only keys work (speech off here, or a line "
                                              f"without a speech model): give it a keypad prompt that names the keys"))
        problems += _check_references(p, node_id, node, ctx, known_vars)
    return graph


def _node_problem(p: _Parsed, node_id: str, at: Location, message: str, *, missing_target: bool = False) -> _Problem:
    return _Problem(str(p.path), _field_line(p.raw, node_id, *at), f"node {node_id!r}: {message}",
                    missing_target=missing_target)


def _check_reachable(p: _Parsed, graph: Graph, *, cascade: bool) -> list[_Problem]:
    """Every node is reachable from the start node."""
    assert p.header is not None
    start = p.header.start
    if start not in graph:
        return []
    seen = {start}
    todo = [start]
    while todo:
        for _, t in graph.get(todo.pop(), []):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return [_Problem(str(p.path), _node_line(p.raw, node_id), f"node {node_id!r} is unreachable from the start "
                     f"node {start!r}", cascade) for node_id in p.nodes if node_id not in seen]


def _check_loops(p: _Parsed, graph: Graph) -> list[_Problem]:
    """No loop that never waits for the caller (it would spin forever), and no run of nodes so long a
    call would take it for one (the interpreter's limit)."""
    plain = {n: [t for _, t in ts] for n, ts in graph.items()}
    loops = _cycles_without_input(plain, p.nodes)
    problems = []
    for cycle in loops:
        first = min(cycle, key=lambda n: _node_line(p.raw, n))
        problems.append(_Problem(str(p.path), _node_line(p.raw, first), f"loop without input: "
                                 f"{' → '.join(cycle + [cycle[0]])} never waits for the caller"))
    if not loops:
        run = _longest_run_without_input(plain, p.nodes)
        if len(run) >= MAX_NODES_WITHOUT_INPUT:
            problems.append(_Problem(str(p.path), _node_line(p.raw, run[0]), f"node {run[0]!r}: {len(run)} nodes in a "
                                     f"row ({run[0]} → … → {run[-1]}) run without asking the caller anything: a call "
                                     f"is handed to an agent after {MAX_NODES_WITHOUT_INPUT} such nodes (it looks "
                                     f"like a loop); put a question in the run or shorten it"))
    return problems


def _check_paths(p: _Parsed, graph: Graph, ctx: ValidationContext, *, loops_found: bool) -> list[_Problem]:
    """What :mod:`.paths` proves of the ways a caller takes, placed at their lines (warnings kept apart)."""
    assert p.header is not None
    d = p.header.defaults
    findings = failures_ending_in_the_ivr(graph, p.nodes, d)
    held = loops_holding_callers(graph, p.nodes)
    findings += held
    if not held and not loops_found:  # the longest wait is only defined when no loop holds a caller
        findings += longest_wait_for_an_agent(graph, p.nodes, d, p.header.start,
                                              lambda prompt: ctx.prompt_seconds.get(prompt, 0.0))
    problems: list[_Problem] = []
    for f in findings:
        if f.node is None:
            problem = _Problem(str(p.path), line_of(p.raw, ("defaults", *f.at)) or line_of(p.raw, ("defaults",)) or 1,
                               f"defaults.{'.'.join(map(str, f.at))}: {f.message}")
        else:
            problem = _node_problem(p, f.node, f.at, f.message)
        (p.notices if f.warning else problems).append(problem)
    return problems


def _check_references(p: _Parsed, node_id: str, node: NodeBase, ctx: ValidationContext,
                      known_vars: set[str]) -> list[_Problem]:
    """What a node names outside itself (its kind's own checks), and the filters and variables its
    templates read."""
    assert p.header is not None
    checks = Checks(ctx, p.header.defaults, known_vars)
    node.check(checks)
    for ref in node.template_refs():
        if "{{" in ref.value or "}}" in ref.value:
            checks.problem(ref.at, f"{ref.value!r}: one pair of braces names a variable ({{file_number}}); with "
                                   f"two, the value would arrive wrapped in braces")
        for var, flt in references(ref.value):
            if flt is not None and flt not in ctx.filters:
                checks.problem(ref.at, f"unknown template filter {flt!r}{hint(flt, ctx.filters)} "
                                       f"(known: {', '.join(sorted(ctx.filters))})")
            root, _, rest = var.partition(".")
            if root not in known_vars:
                checks.unset(ref.at, f"{{{var}}} reads variable {root!r}, which no node sets{hint(root, known_vars)}")
            elif rest and root in ctx.records and (why := ctx.records[root].field_problem(root, rest)):
                checks.problem(ref.at, f"{{{var}}} {why}")
    p.notices += [_node_problem(p, node_id, at, message) for at, message in checks.notices]
    unset = [dataclasses.replace(_node_problem(p, node_id, at, message), cascade=not ctx.complete_set)
             for at, message in checks.unset_findings]
    return [_node_problem(p, node_id, at, message) for at, message in checks.findings] + unset


def _check_assigned(p: _Parsed, graph: Graph, ctx: ValidationContext) -> list[_Problem]:
    """What a node needs set (a lookup's arguments) must be set on every path from the start to it (a
    must-be-assigned data-flow analysis): an empty argument would make every caller's lookup fail."""
    header, nodes = p.header, p.nodes
    assert header is not None
    everything = set().union(*(n.sets() for n in nodes.values()), ctx.provided)
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
            sets = [assigned[src] | nodes[src].sets_on(label) for src, label in incoming[node_id]]
            new = set.intersection(*sets) if sets else set()
            if node_id == header.start:
                new &= set(ctx.provided)
            if new != assigned[node_id]:
                assigned[node_id] = new
                changed = True
    out: list[_Problem] = []
    for node_id, node in nodes.items():
        for ref in node.required_refs():
            for var, _ in references(ref.value):
                root = var.split(".", 1)[0]
                if root not in assigned[node_id] and root in everything:
                    out.append(_node_problem(p, node_id, ref.at, f"argument {ref.at[-1]!r} reads {{{var}}}, which is "
                                                                 f"not set on every way to this node: the lookup would "
                                                                 f"run without it"))
    return out


def _cycles_without_input(graph: dict[str, list[str]], nodes: dict[str, Any]) -> list[list[str]]:
    """Strongly connected groups of non-input nodes that contain a cycle (Tarjan)."""
    sub = {n: [t for t in ts if t in nodes and not nodes[t].waits_for_caller]
           for n, ts in graph.items() if not nodes[n].waits_for_caller}
    return strong_cycles(sub)


def _longest_run_without_input(graph: dict[str, list[str]], nodes: dict[str, Any]) -> list[str]:
    """The longest path of nodes that do not wait for the caller (the graph of those has no cycle)."""
    quiet = {n for n in graph if not nodes[n].waits_for_caller}
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


# -- the whole set --------------------------------------------------------------------------------


def check_flows(paths: list[Path], ctx: ValidationContext) -> tuple[dict[str, LoadedFlow], list[str]]:
    """Load a set of flow files; returns the valid flows by name and every error, sorted by file and line.

    Two files may not define the same flow name, and no subflow may call its own flow.
    """
    problems: list[_Problem] = []
    parsed = _parse_all(paths, problems)
    names = _by_name(parsed, problems)
    complete = len(parsed) == len(paths) and all(q.header is not None and set(q.nodes) == q.known_ids for q in parsed)
    inner = dataclasses.replace(ctx, flows=set(ctx.flows) | set(names), records=_records(parsed, ctx),
                                complete_set=complete)
    known_vars = set(ctx.provided).union(*(n.sets() for p in parsed for n in p.nodes.values()))
    for p in parsed:
        if p.header is not None:
            try:
                problems += _check_graph(p, inner, known_vars)
            except Exception as exc:
                problems.append(_checker_failed(p.path, exc))
    problems += _dialplan_flows(names, ctx)
    try:
        problems += _subflow_cycles(names)
    except Exception as exc:
        problems += [_checker_failed(p.path, exc) for p in names.values()]
    # A cascade is shown only when its file has no root problem to fix first.
    with_roots = {pr.path for pr in problems if not pr.cascade}
    shown = sorted(pr for pr in problems if not (pr.cascade and pr.path in with_roots))
    failed = {pr.path for pr in shown}
    loaded = {name: _loaded(p) for name, p in names.items() if str(p.path) not in failed and p.header is not None}
    return loaded, [str(pr) for pr in shown]


def _records(parsed: list[_Parsed], ctx: ValidationContext) -> dict[str, Record]:
    """Every variable a node of the set stores a record in, with what it may hold."""
    records: dict[str, Record] = {}
    for p in parsed:
        for node in p.nodes.values():
            for name, record in node.records(ctx).items():
                records[name] = records[name] | record if name in records else record
    return records


def _parse_all(paths: list[Path], problems: list[_Problem]) -> list[_Parsed]:
    parsed = []
    for path in paths:
        try:
            p = _parse(Path(path), problems)
        except Exception as exc:  # the checker itself failed: that is a rejection, never a crash
            problems.append(_checker_failed(path, exc))
            continue
        if p is not None:
            parsed.append(p)
    return parsed


def _by_name(parsed: list[_Parsed], problems: list[_Problem]) -> dict[str, _Parsed]:
    """The files by the flow name they define; a name defined twice is a problem at the second file."""
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
    return names


def _loaded(p: _Parsed) -> LoadedFlow:
    assert p.header is not None
    model = FlowModel(flow=p.header.flow, description=p.header.description, start=p.header.start,
                      defaults=p.header.defaults, nodes=p.nodes)
    version = hashlib.sha256(p.text.encode()).hexdigest()[:12]
    return LoadedFlow(model, p.path, version, {n: _node_line(p.raw, n) for n in p.nodes},
                      [str(notice) for notice in sorted(p.notices)])


def _dialplan_flows(names: dict[str, _Parsed], ctx: ValidationContext) -> list[_Problem]:
    """Every flow the dialplan runs is defined: a renamed flow would leave every call without its menu.

    Reported at the ``flow:`` line of the file most like the missing name (the renamed one), else of
    the first file: the edit is rejected, the running version stays.
    """
    if ctx.dialplan_flows is None or not names:
        return []
    out = []
    for name, where in sorted(ctx.dialplan_flows.items()):
        if name in names or name in ctx.flows:
            continue
        unused = [n for n in names if n not in ctx.dialplan_flows]
        close = difflib.get_close_matches(name, unused, n=1, cutoff=0.5)
        p = names[close[0]] if close else next(iter(names.values()))
        renamed = f"flow {close[0]!r}: " if close else ""
        out.append(_Problem(str(p.path), line_of(p.raw, ("flow",)) or 1,
                            f"{renamed}the dialplan runs flow {name!r} ({where}) and no flow file defines it now: "
                            f"every call would go without its menu (keep the name, or change the dialplan first)"))
    return out


def _subflow_cycles(names: dict[str, _Parsed]) -> list[_Problem]:
    """A flow that runs itself as a subflow, directly or through others, would never end."""
    calls: dict[str, list[str]] = {name: [n.flow for n in p.nodes.values() if isinstance(n, SubflowNode)]
                                   for name, p in names.items()}
    out = []
    for cycle in strong_cycles({n: [t for t in ts if t in calls] for n, ts in calls.items()}):
        for name in cycle:
            p = names[name]
            for node_id, node in p.nodes.items():
                if isinstance(node, SubflowNode) and node.flow in cycle:
                    out.append(_Problem(str(p.path), _field_line(p.raw, node_id, "flow"),
                                        f"node {node_id!r}: subflow {node.flow!r} leads back to flow {name!r} "
                                        f"({' → '.join(cycle + [cycle[0]])}): the call would never end"))
    return out
