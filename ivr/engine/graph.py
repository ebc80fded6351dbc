"""Drawings of a flow: Mermaid, Graphviz DOT, or a self-contained SVG (no Graphviz needed).

The DOT drawing is the one meant for people: Graphviz lays it out (edges routed around the boxes,
labels placed apart), with every node's full description, a legend and a white background.
``ivr.server.drawings`` turns it into SVG; :func:`to_svg` is the fallback when Graphviz is not
installed (a plain layered layout: readable, but edges may cross boxes).
"""

from __future__ import annotations

import html
import textwrap
from collections import deque
from dataclasses import dataclass

from .model import FlowModel
from .nodes.base import FALLBACK_LABELS

__all__ = ["to_mermaid", "to_dot", "to_svg", "node_category", "LEGEND"]

#: The node categories, their fill colour and their French name (the legend).
LEGEND = {
    "question": ("#dbe8fd", "Question à l'appelant (clavier ou voix)"),
    "step": ("#f2f2f2", "Étape (message, recherche, calcul, horaires)"),
    "agent": ("#ffe3bf", "Transfert vers un conseiller"),
    "end": ("#d9f2dd", "Fin d'appel (servi, fermé)"),
}


def node_category(model: FlowModel, node_id: str) -> str:
    """``question``, ``step``, ``agent`` or ``end`` (the node's kind says)."""
    return model.nodes[node_id].category


def _lines(model: FlowModel, node_id: str, width: int = 30) -> tuple[str, list[str]]:
    """The node's title (its id and kind) and its text lines: the full description, wrapped, then
    what it does at the end (queue, outcome, tries)."""
    node = model.nodes[node_id]
    body = textwrap.wrap(node.description, width) if node.description else []
    return f"{node_id} · {node.kind}", body + node.summary(model.defaults)


def _label(model: FlowModel, node_id: str) -> str:
    title, body = _lines(model, node_id)
    return "\n".join([title, *body])


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


def _fallback(label: str) -> bool:
    return all(part in FALLBACK_LABELS for part in label.split(", "))


def _mid(node_id: str) -> str:
    """A Mermaid node id: ASCII letters, digits and ``_`` only (any other character by its code)."""
    return "n_" + "".join(ch if ch.isascii() and (ch.isalnum() or ch == "_") else f"_{ord(ch):x}_" for ch in node_id)


#: Characters a Mermaid label shows as they are; every other one is written as an entity (``#34;``).
_MERMAID_PLAIN = set(" .,:'-_()/+=?!àâäçéèêëîïôöùûüÿœÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒ·…→«»")


def _mermaid_text(text: str) -> str:
    """A flow's text inside a quoted Mermaid label: quotes, brackets, pipes, line breaks, ``<`` and ``#``
    become entities, so no field of a flow file can end the label or start a statement (``click``)."""
    return "".join(ch if (ch.isascii() and ch.isalnum()) or ch in _MERMAID_PLAIN else f"#{ord(ch)};" for ch in text)


def to_mermaid(model: FlowModel) -> str:
    """The flow as a Mermaid flowchart."""
    lines = ["flowchart TD"]
    for node_id, node in model.nodes.items():
        title, body = _lines(model, node_id)
        text = "<br/>".join(_mermaid_text(line) for line in [title, *body])
        if node.category == "question":
            lines.append(f'    {_mid(node_id)}{{"{text}"}}')
        elif node.category in ("agent", "end"):
            lines.append(f'    {_mid(node_id)}(["{text}"])')
        else:
            lines.append(f'    {_mid(node_id)}["{text}"]')
    for src, dst, label in _edges(model):
        arrow = "-.->" if _fallback(label) else "-->"
        lines.append(f'    {_mid(src)} {arrow}|"{_mermaid_text(label)}"| {_mid(dst)}')
    lines.append("    classDef start stroke-width:3px")
    lines.append(f"    class {_mid(model.start)} start")
    return "\n".join(lines) + "\n"


def _q(s: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, line breaks as ``\\n``, other control characters
    dropped (nothing a flow file holds can end the string or add an attribute)."""
    s = "".join(ch for ch in s if ch == "\n" or ch >= " ")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _xml(text: str) -> str:
    """Text for an XML or HTML-like label: escaped, without the control characters XML forbids."""
    return html.escape("".join(ch for ch in text if ch in "\t\n" or ch >= " "))


def _html_label(title: str, body: list[str]) -> str:
    rows = "".join(f"<BR/>{_xml(line)}" for line in body)
    return f"<<B>{_xml(title)}</B>{rows}>"


def to_dot(model: FlowModel) -> str:
    """Graphviz DOT: categories coloured, dashed edges for no-answer paths, a legend, white page."""
    heading = model.flow + (f" — {model.description}" if model.description else "")
    lines = [
        f"digraph {_q(model.flow)} {{",
        f'  graph [rankdir=TB, bgcolor="white", pad=0.4, nodesep=0.45, ranksep=0.6, newrank=true, '
        f'fontname="Helvetica", fontsize=16, labelloc=t, label={_q(heading)}];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.15,0.08", '
        'color="#444444"];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555", fontcolor="#333333", arrowsize=0.7];',
    ]
    for node_id in model.nodes:
        fill = LEGEND[node_category(model, node_id)][0]
        start = ", penwidth=2.5" if node_id == model.start else ""
        lines.append(f"  {_q(node_id)} [label={_html_label(*_lines(model, node_id))}, fillcolor={_q(fill)}{start}];")
    for src, dst, label in _edges(model):
        style = ', style=dashed, color="#999999"' if _fallback(label) else ""
        lines.append(f"  {_q(src)} -> {_q(dst)} [label={_q(' ' + label + ' ')}{style}];")
    legend = "".join(
        f'<TR><TD BGCOLOR="{fill}" WIDTH="28" BORDER="1"> </TD><TD ALIGN="LEFT">{_xml(text)}</TD></TR>'
        for fill, text in LEGEND.values())
    legend += ('<TR><TD>trait plein</TD><TD ALIGN="LEFT">réponse attendue</TD></TR>'
               '<TR><TD>tirets</TD><TD ALIGN="LEFT">silence, incompris, échec, conseiller</TD></TR>'
               '<TR><TD>bord épais</TD><TD ALIGN="LEFT">début du parcours</TD></TR>')
    lines.append(f'  legend [shape=plain, style="", label=<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="4" '
                 f'COLOR="#999999"><TR><TD COLSPAN="2"><B>Légende</B></TD></TR>{legend}</TABLE>>];')
    lines.append(f"  {{ rank=min; legend; {_q(model.start)}; }}")
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


_BOX_W, _LINE_H, _GAP_X, _GAP_Y, _LEGEND_W = 200, 14, 40, 60, 330


@dataclass
class _Layout:
    """Where each box stands (its top-left corner) and how tall it is, and the page's size."""

    pos: dict[str, tuple[float, float]]
    box_h: dict[str, int]
    width: float
    height: float


def to_svg(model: FlowModel) -> str:
    """A layered drawing (depth from the start node) that needs no Graphviz: full texts, a legend,
    a white page; edges are straight, so they may cross boxes (Graphviz routes around them)."""
    texts = {n: _lines(model, n, 28) for n in model.nodes}
    layout = _svg_layout(model, texts)
    width, height = layout.width, layout.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
           '<defs><marker id="a" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
           f'<title>{_xml(model.flow)}</title>',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="20" y="28" font-size="16" font-weight="bold">{_xml(model.flow)}</text>']
    out += _svg_edges(model, layout) + _svg_boxes(model, layout, texts) + _svg_legend(width)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_layout(model: FlowModel, texts: dict[str, tuple[str, list[str]]]) -> _Layout:
    """Rows by depth from the start node, each centred; boxes as tall as their text."""
    rows: dict[int, list[str]] = {}
    for n, d in _layers(model).items():
        rows.setdefault(d, []).append(n)
    box_h = {n: 14 + _LINE_H * (1 + len(body)) for n, (_, body) in texts.items()}
    width = max(len(r) for r in rows.values()) * (_BOX_W + _GAP_X) + _GAP_X + _LEGEND_W
    pos: dict[str, tuple[float, float]] = {}
    y = 50.0
    for d in sorted(rows):
        names = rows[d]
        x0 = (width - _LEGEND_W - (len(names) * (_BOX_W + _GAP_X) - _GAP_X)) / 2
        for i, n in enumerate(names):
            pos[n] = (x0 + i * (_BOX_W + _GAP_X), y)
        y += max(box_h[n] for n in names) + _GAP_Y
    return _Layout(pos, box_h, width, max(y, 220))


def _svg_edges(model: FlowModel, layout: _Layout) -> list[str]:
    out = []
    pos, box_h = layout.pos, layout.box_h
    for src, dst, label in _edges(model):
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        sx, sy, ex, ey = x1 + _BOX_W / 2, y1 + box_h[src], x2 + _BOX_W / 2, y2
        if y2 <= y1:  # back edge: leave from the side
            sx, sy, ex, ey = x1 + _BOX_W, y1 + box_h[src] / 2, x2 + _BOX_W, y2 + box_h[dst] / 2
        dash = ' stroke-dasharray="4 3"' if _fallback(label) else ""
        out.append(f'<line x1="{sx:.0f}" y1="{sy:.0f}" x2="{ex:.0f}" y2="{ey:.0f}" stroke="#888"{dash} '
                   f'marker-end="url(#a)"/>')
        out.append(f'<text x="{(sx + ex) / 2 + 4:.0f}" y="{(sy + ey) / 2:.0f}" fill="#444" font-size="9">'
                   f'{_xml(label)}</text>')
    return out


def _svg_boxes(model: FlowModel, layout: _Layout, texts: dict[str, tuple[str, list[str]]]) -> list[str]:
    out = []
    for n, (x, y0) in layout.pos.items():
        fill = LEGEND[node_category(model, n)][0]
        stroke = 2.5 if n == model.start else 1
        out.append(f'<rect x="{x:.0f}" y="{y0:.0f}" width="{_BOX_W}" height="{layout.box_h[n]}" rx="8" fill="{fill}" '
                   f'stroke="#444" stroke-width="{stroke}"/>')
        title, body = texts[n]
        out.append(f'<text x="{x + _BOX_W / 2:.0f}" y="{y0 + 17:.0f}" text-anchor="middle" font-weight="bold">'
                   f'{_xml(title)}</text>')
        for i, line in enumerate(body):
            out.append(f'<text x="{x + _BOX_W / 2:.0f}" y="{y0 + 17 + (i + 1) * _LINE_H:.0f}" text-anchor="middle">'
                       f'{_xml(line)}</text>')
    return out


def _svg_legend(width: float) -> list[str]:
    lx, ly = width - _LEGEND_W + 10, 50
    out = [f'<rect x="{lx}" y="{ly}" width="{_LEGEND_W - 20}" height="{30 + 20 * len(LEGEND)}" fill="white" '
           f'stroke="#999"/><text x="{lx + 10}" y="{ly + 18}" font-weight="bold">Légende</text>']
    for i, (fill, text) in enumerate(LEGEND.values()):
        out.append(f'<rect x="{lx + 10}" y="{ly + 26 + i * 20}" width="24" height="14" fill="{fill}" stroke="#444"/>'
                   f'<text x="{lx + 42}" y="{ly + 37 + i * 20}">{_xml(text)}</text>')
    return out
