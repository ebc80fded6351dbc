"""Drawings of a flow: Mermaid, Graphviz DOT, or a self-contained SVG."""

from __future__ import annotations

import html
from collections import deque

from .model import FlowModel

__all__ = ["to_mermaid", "to_dot", "to_svg"]

_QUESTION = ("menu", "collect", "confirm")
_END = ("route", "hangup")


def _label(model: FlowModel, node_id: str) -> str:
    node = model.nodes[node_id]
    extra = ""
    if node.kind == "route":
        extra = f"\n→ {node.queue} ({node.reason})"
    elif node.kind == "hangup":
        extra = f"\n{node.outcome}"
    elif node.kind in _QUESTION:
        retries = getattr(node, "retries", None) or model.defaults.retries
        extra = f"\n{retries} essais"
    title = node.description or node_id
    return f"{node.kind}: {title}{extra}" if title == node_id else f"{node_id} ({node.kind})\n{title}{extra}"


def _edges(model: FlowModel) -> list[tuple[str, str, str]]:
    """One edge per (source, target), its labels joined (« 1, 2, 3, 4 » rather than four arrows)."""
    out = []
    for node_id in model.nodes:
        labels: dict[str, list[str]] = {}
        for label, target in model.targets(node_id):
            if target in model.nodes and label not in labels.setdefault(target, []):
                labels[target].append(label)
        out += [(node_id, target, ", ".join(names)) for target, names in labels.items()]
    return out


def _mid(node_id: str) -> str:
    return "n_" + "".join(ch if ch.isalnum() else "_" for ch in node_id)


def to_mermaid(model: FlowModel) -> str:
    lines = ["flowchart TD"]
    for node_id, node in model.nodes.items():
        text = _label(model, node_id).replace('"', "'").replace("\n", "<br/>")
        if node.kind in _QUESTION:
            lines.append(f'    {_mid(node_id)}{{"{text}"}}')
        elif node.kind in _END:
            lines.append(f'    {_mid(node_id)}(["{text}"])')
        else:
            lines.append(f'    {_mid(node_id)}["{text}"]')
    for src, dst, label in _edges(model):
        lines.append(f'    {_mid(src)} -->|"{label}"| {_mid(dst)}')
    lines.append("    classDef start stroke-width:3px")
    lines.append(f"    class {_mid(model.start)} start")
    return "\n".join(lines) + "\n"


def to_dot(model: FlowModel) -> str:
    def q(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    lines = [f"digraph {q(model.flow)} {{", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for node_id, node in model.nodes.items():
        shape = "diamond" if node.kind in _QUESTION else ("doubleoctagon" if node.kind in _END else "box")
        style = ', penwidth=3' if node_id == model.start else ""
        lines.append(f"  {q(node_id)} [label={q(_label(model, node_id))}, shape={shape}{style}];")
    for src, dst, label in _edges(model):
        lines.append(f"  {q(src)} -> {q(dst)} [label={q(label)}, fontsize=9];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _layers(model: FlowModel) -> dict[str, int]:
    depth = {model.start: 0}
    todo = deque([model.start])
    while todo:
        n = todo.popleft()
        for _, t in model.targets(n):
            if t in model.nodes and t not in depth:
                depth[t] = depth[n] + 1
                todo.append(t)
    last = max(depth.values(), default=0) + 1
    for n in model.nodes:
        depth.setdefault(n, last)
    return depth


def to_svg(model: FlowModel) -> str:
    """A layered drawing (depth from the start node) that needs no Graphviz."""
    depth = _layers(model)
    rows: dict[int, list[str]] = {}
    for n, d in depth.items():
        rows.setdefault(d, []).append(n)
    box_w, box_h, gap_x, gap_y = 190, 54, 30, 70
    width = max(len(r) for r in rows.values()) * (box_w + gap_x) + gap_x
    height = (max(rows) + 1) * (box_h + gap_y) + gap_y
    pos: dict[str, tuple[float, float]] = {}
    for d, names in rows.items():
        row_w = len(names) * (box_w + gap_x) - gap_x
        x0 = (width - row_w) / 2
        for i, n in enumerate(names):
            pos[n] = (x0 + i * (box_w + gap_x), gap_y / 2 + d * (box_h + gap_y))
    colours = {"question": "#e8f0fe", "end": "#fde8e8", "other": "#f4f4f4"}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'font-family="Helvetica, Arial, sans-serif" font-size="11">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           f'<title>{html.escape(model.flow)}</title>']
    for src, dst, label in _edges(model):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        sx, sy = x1 + box_w / 2, y1 + box_h
        ex, ey = x2 + box_w / 2, y2
        if y2 <= y1:  # back edge: leave from the side
            sx, sy, ex, ey = x1 + box_w, y1 + box_h / 2, x2 + box_w, y2 + box_h / 2
        out.append(f'<line x1="{sx:.0f}" y1="{sy:.0f}" x2="{ex:.0f}" y2="{ey:.0f}" stroke="#888" '
                   f'marker-end="url(#a)"/>')
        out.append(f'<text x="{(sx + ex) / 2:.0f}" y="{(sy + ey) / 2:.0f}" fill="#555" font-size="9">'
                   f'{html.escape(label)}</text>')
    for n, (x, y) in pos.items():
        kind = model.nodes[n].kind
        fill = colours["question" if kind in _QUESTION else "end" if kind in _END else "other"]
        stroke = 3 if n == model.start else 1
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="8" fill="{fill}" '
                   f'stroke="#333" stroke-width="{stroke}"/>')
        for i, line in enumerate(_label(model, n).split("\n")[:3]):
            out.append(f'<text x="{x + box_w / 2:.0f}" y="{y + 16 + i * 14:.0f}" text-anchor="middle">'
                       f'{html.escape(line[:34])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
