"""The paths a caller can take through a flow, proven on its graph (sans-IO: nodes and edges in,
findings out; the validator places them at their file and line).

- no failure (no input, not understood, retries out, a lookup error) leads, without a question
  between, to an end in the IVR (the caller would be counted as served, or closed, never reaching
  an agent);
- no loop a caller who says nothing or is never understood can go round for ever;
- the longest such a caller hears prompts and waits before an agent stays under the flow's
  ``max_silent_wait`` (a warning near it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..calls.outcomes import Outcome
from .defaults import Defaults
from .nodes.base import Label, Location, NodeBase

__all__ = ["Graph", "Finding", "failures_ending_in_the_ivr", "loops_holding_callers", "longest_wait_for_an_agent",
           "strong_cycles", "CLOSE_TO_CAP"]

#: A flow's graph as checked: every node's edges whose target exists, as (label, target).
Graph = dict[str, list[tuple[str, str]]]
Nodes = Mapping[str, NodeBase]

#: Edges taken when the IVR could not serve the caller (no answer, not understood, a lookup error).
FAILURES = (Label.NOINPUT, Label.NOMATCH, Label.INVALID, Label.FAIL, Label.ERROR)
#: Edges a caller who says nothing, or is never understood, takes from a question.
STUCK = (Label.NOINPUT, Label.NOMATCH, Label.INVALID, Label.FAIL)
#: Above this share of ``max_silent_wait``, the longest wait for an agent is a warning.
CLOSE_TO_CAP = 0.8


@dataclass(frozen=True)
class Finding:
    """A problem (or, ``warning``, something suspicious) at a node's field, or at a field of the
    flow's ``defaults`` when ``node`` is None."""

    node: str | None
    message: str
    at: Location = ()
    warning: bool = False


def failures_ending_in_the_ivr(graph: Graph, nodes: Nodes, defaults: Defaults) -> list[Finding]:
    """No failure leads, without a question between, to an end in the IVR: a caller the IVR failed
    would hear « au revoir » (or « fermé ») and count as served (or closed), never reaching an agent.

    A question asked once the caller is served (a satisfaction note: whatever the answer, the call
    ends served) may end served on a failure too.
    """
    found: dict[tuple[str | None, Location, str], Finding] = {}
    may_end_unserved = _may_end_unserved(graph, nodes)
    for node_id, node in nodes.items():
        if node_id not in may_end_unserved:  # asked once the caller is served: whatever happens, served
            continue
        for edge in node.edges(defaults):
            if edge.label not in FAILURES or edge.target not in nodes:
                continue
            run = _quiet_path_to(edge.target, graph, nodes, lambda n: n.ends_as() is not None)
            if run is None:
                continue
            outcome = nodes[run[-1]].ends_as()
            message = (f"a failure ({edge.label}) leads to {' → '.join(run)}, which ends the call as {outcome}: a "
                       f"caller the IVR could not help would be hung up on and counted as "
                       f"{'served' if outcome == Outcome.SELF_SERVED else outcome}; send it to an agent (a route node)")
            # An edge from the defaults is reported once, on the defaults.
            where: tuple[str | None, Location] = (None, ("on_fail",)) if edge.from_defaults else (node_id, edge.at)
            found.setdefault((*where, run[-1]), Finding(where[0], message, where[1]))
    return list(found.values())


def _may_end_unserved(graph: Graph, nodes: Nodes) -> set[str]:
    """The nodes from which some way on ends the call other than served (at an agent, closed…);
    asking for an agent, which a caller may do at any question, does not count. One backward walk
    from those ends: linear in the size of the flow."""
    ways = {n: [t for label, t in edges if label != Label.AGENT] for n, edges in graph.items()}
    into: dict[str, list[str]] = {n: [] for n in graph}
    for source, targets in ways.items():
        for target in targets:
            into.setdefault(target, []).append(source)
    found = {n for n, targets in ways.items() if not targets and nodes[n].ends_as() != Outcome.SELF_SERVED}
    todo = list(found)
    while todo:
        for source in into.get(todo.pop(), []):
            if source not in found:
                found.add(source)
                todo.append(source)
    return found


def _quiet_path_to(start: str, graph: Graph, nodes: Nodes, wanted: Callable[[NodeBase], bool]) -> list[str] | None:
    """The nodes from ``start`` to the first node ``wanted`` holds for, passing no question; None if none."""
    came_from: dict[str, str | None] = {start: None}
    todo = [start]
    while todo:
        node_id = todo.pop(0)
        if wanted(nodes[node_id]):
            run = [node_id]
            while (previous := came_from[run[-1]]) is not None:
                run.append(previous)
            return run[::-1]
        if nodes[node_id].waits_for_caller:
            continue
        for _, target in graph.get(node_id, []):
            if target not in came_from:
                came_from[target] = node_id
                todo.append(target)
    return None


def _stuck_graph(graph: Graph, nodes: Nodes) -> dict[str, list[str]]:
    """The ways a caller who says nothing, or is never understood, can take: every way out of a node
    that does not wait for the caller, and the no-input / no-match / retries-out ways out of a question."""
    return {n: [t for label, t in edges if not nodes[n].waits_for_caller or label in STUCK]
            for n, edges in graph.items()}


def loops_holding_callers(graph: Graph, nodes: Nodes) -> list[Finding]:
    """A caller who says nothing, or is never understood, reaches an end: no loop through a
    question's no-input or no-match way out (the prompts would be replayed for ever)."""
    order = {n: i for i, n in enumerate(nodes)}
    out = []
    for cycle in strong_cycles(_stuck_graph(graph, nodes)):
        if not any(nodes[n].waits_for_caller for n in cycle):
            continue  # a loop without a question is reported as such by the validator
        first = min(cycle, key=lambda n: order[n])
        out.append(Finding(first, f"a caller who says nothing or is not understood goes round "
                                  f"{' → '.join(cycle + [cycle[0]])} without end (the prompts replay for ever): let "
                                  f"the questions' retries end at an agent instead"))
    return out


def longest_wait_for_an_agent(graph: Graph, nodes: Nodes, defaults: Defaults, start: str,
                              seconds: Callable[[str], float]) -> list[Finding]:
    """The longest a caller who says nothing, or is no longer understood, hears prompts and waits
    before an agent takes over (from the start and from every question, every way such a caller
    takes, each node at its longest; ``seconds``: a prompt's length) stays under ``max_silent_wait``.

    For a flow where no loop holds such a caller (:func:`loops_holding_callers` found none), so the
    ways they take have no cycle.
    """
    weight = {n: node.silent_seconds(defaults, seconds) for n, node in nodes.items()}
    stuck = _stuck_graph(graph, nodes)
    # Longest time from each node to an agent (-1: no agent that way), nodes after their successors.
    best: dict[str, tuple[float, str | None]] = {}
    for node_id in reversed(_topological(stuck)):
        if nodes[node_id].category == "agent":
            best[node_id] = (weight[node_id], None)
            continue
        after = max(((best[t][0], t) for t in stuck[node_id] if best.get(t, (-1.0, None))[0] >= 0), default=None)
        best[node_id] = (after[0] + weight[node_id], after[1]) if after else (-1.0, None)
    # From the start (a caller who never says anything), and from every question (a caller who answered
    # so far, then is no longer heard or understood): the longest of those waits.
    starts = [start, *(n for n, node in nodes.items() if node.waits_for_caller)]
    first = max(starts, key=lambda n: best.get(n, (-1.0, None))[0])
    total = best.get(first, (-1.0, None))[0]
    if total <= defaults.max_silent_wait * CLOSE_TO_CAP:
        return []
    path = [first]
    while (following := best[path[-1]][1]) is not None:
        path.append(following)
    heaviest = max(path, key=lambda n: weight[n])  # where shortening helps most
    cap = _duration(defaults.max_silent_wait)
    if total <= defaults.max_silent_wait:
        return [Finding(heaviest, f"a caller who says nothing waits {_duration(total)} before an agent "
                                  f"({' → '.join(path)}), close to defaults.max_silent_wait ({cap})", warning=True)]
    return [Finding(heaviest, f"a caller who says nothing hears prompts and waits {_duration(total)} before an agent "
                              f"({' → '.join(path)}; {_duration(weight[heaviest])} of it here), more than "
                              f"defaults.max_silent_wait ({cap}): fewer tries or shorter prompts on that way, or "
                              f"raise max_silent_wait")]


def _topological(graph: dict[str, list[str]]) -> list[str]:
    """The nodes of an acyclic graph, each before the nodes it leads to (Kahn's order)."""
    into = {n: 0 for n in graph}
    for targets in graph.values():
        for t in targets:
            into[t] = into.get(t, 0) + 1
    order = [n for n, count in into.items() if count == 0]
    for n in order:  # grows while it is walked
        for t in graph.get(n, []):
            into[t] -= 1
            if into[t] == 0:
                order.append(t)
    return order


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def strong_cycles(graph: dict[str, list[str]]) -> list[list[str]]:
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
