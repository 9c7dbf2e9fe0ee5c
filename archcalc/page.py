"""The report page: one self-contained HTML file for a browser, made from a graph and its report.

What the page holds, top to bottom:

* the header — network, input, batch, dtype, the counting convention in full, the totals as
  exact integers with readable units beside them, and the warnings;
* the architecture diagram (:mod:`archcalc.diagram`, drawn by Graphviz) as inline SVG: a click
  on a box selects its row. A network of more than :data:`DIAGRAM_BOXES` layers is drawn at the
  deepest depth that keeps at most that many boxes (DenseNet-264: depth 2), and the page says so;
* the per-layer table: every row of the report with the group rows of :mod:`archcalc.hierarchy`
  (blocks, stages, repeats, with their subtotals) as collapsible headers, sortable by any column
  (a click on a header: ascending, descending, network order), filterable by name or type, and
  collapsible to a depth; a click on a row shows its derivation (:func:`archcalc.explain.explain`,
  the text of ``archcalc explain``) in the side panel;
* the charts (:mod:`archcalc.plot`, matplotlib): per layer when there are at most
  :data:`CHART_LAYERS` rows, per stage when the network has stages.

Self-contained: the script and the style are inline, the charts are SVG ``data:`` images, and
nothing refers to the network. Without Graphviz or matplotlib the page is still written, and
says in place of the picture what to install; :attr:`Page.notes` carries the same sentences for
the command line. Every figure in the page is one the report already holds; nothing is computed
here but the text of the numbers.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from . import __version__
from .diagram import MAX_BOXES, GraphvizUnavailable, render, to_dot
from .errors import ArchcalcError
from .graph import Graph
from .hierarchy import Group, Hierarchy
from .report import LayerRow, Report, fmt_rf, fmt_shape
from .units import binary, si

DIAGRAM_BOXES = 150  # more layers than this: the diagram is drawn collapsed to a depth
CHART_LAYERS = 300  # more layers than this: only the per-stage chart is drawn
#: most layers a page holds: a 928-row DenseNet-264 page is 1.7 MB and sorts in a tenth of a
#: second; 10,000 rows are about 20 MB, past that a browser table stops being usable
MAX_ROWS = 10_000
#: the table's columns: key (the row attribute sorted on), heading, numeric
COLUMNS: tuple[tuple[str, str, bool], ...] = (
    ("index", "#", True),
    ("name", "layer", False),
    ("type", "type", False),
    ("shape", "output", True),
    ("params", "params", True),
    ("macs", "MACs", True),
    ("flops", "FLOPs", True),
    ("memory", "memory", True),
    ("rf", "RF", True),
)


@dataclass(frozen=True)
class Page:
    """The HTML text and what could not be drawn (e.g. Graphviz missing), in sentences."""

    html: str
    notes: tuple[str, ...]


def boxes_at(tree: Hierarchy, depth: int) -> int:
    """How many boxes the diagram has at ``depth``: collapsed groups and the layers above."""
    return sum(1 for entry in tree.view(depth) if not entry.expanded)


def diagram_depth(report: Report, limit: int = DIAGRAM_BOXES) -> int | None:
    """None (every layer) when the report has at most ``limit`` rows, else the deepest depth
    with at most ``limit`` boxes (the shallowest if none is small enough)."""
    tree = report.hierarchy
    if len(report.layers) <= limit or tree.max_level == 0:
        return None
    fitting = [d for d in range(1, tree.max_level + 1) if boxes_at(tree, d) <= limit]
    return max(fitting) if fitting else 1


def make_page(graph: Graph, report: Report, *, depth: int | None = None,
              diagram: bool = True, charts: bool = True) -> Page:
    """The report page of ``graph`` and its ``report``. ``depth`` sets the diagram's depth and
    the table's initial collapse (default: :func:`diagram_depth`); ``diagram``/``charts``
    False leave those sections out."""
    if len(report.layers) > MAX_ROWS:
        raise ArchcalcError(
            f"{report.name} has {len(report.layers):,} layers; a report page holds at most "
            f"{MAX_ROWS:,}",
            hint="`archcalc table SPEC -o net.csv` (or .json) carries every row")
    notes: list[str] = []
    chosen = depth if depth is not None else diagram_depth(report)
    svg = ""
    if diagram:
        try:
            dot = to_dot(graph, report, depth=chosen, max_boxes=MAX_BOXES)
            svg = _svg_body(render(dot, "svg").data)
        except GraphvizUnavailable as exc:
            notes.append(f"the diagram is left out: {exc.what} ({exc.hint})")
    images: list[tuple[str, str]] = []
    if charts:
        images, missing = _charts(report)
        notes.extend(missing)
    return Page(render_page(graph, report, diagram_svg=svg, diagram_depth=chosen,
                            charts=images, notes=notes), tuple(notes))


def _svg_body(svg: bytes) -> str:
    """Graphviz's SVG without the XML prolog and doctype, ready to sit inside HTML."""
    text = svg.decode()
    return text[text.index("<svg"):]


def _charts(report: Report) -> tuple[list[tuple[str, str]], list[str]]:
    """(caption, data: URI) of each chart, and a note when matplotlib is missing."""
    from . import plot

    try:
        plot.require_matplotlib()
    except plot.PlotUnavailable as exc:
        return [], [f"the charts are left out: {exc.what} ({plot.INSTALL_HINT})"]
    import io

    made: list[tuple[str, str]] = []
    wanted: list[tuple[str, int | None]] = []
    if len(report.layers) <= CHART_LAYERS:
        wanted.append(("per layer: memory, params and FLOPs", None))
    if report.hierarchy.max_level:
        wanted.append(("per stage: the subtotals of each top-level block", 1))
    for caption, depth in wanted:
        buffer = io.BytesIO()
        plot.figure(report, "all", depth=depth).savefig(buffer, format="svg")
        encoded = base64.b64encode(buffer.getvalue()).decode()
        made.append((caption, f"data:image/svg+xml;base64,{encoded}"))
    return made, []


# ---------------------------------------------------------------------------------- HTML --

_esc = html.escape


def _asset(name: str) -> str:
    return resources.files("archcalc").joinpath(name).read_text(encoding="utf-8")


def _exact(n: int) -> str:
    return f"{n:,}"


def _json_for_script(value: Any) -> str:
    """JSON inside a ``<script>`` element: ``</`` cannot close it early."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")


def _rf_size(row: LayerRow) -> float:
    if row.receptive_field is None:
        return -1.0
    return float(max(axis.size for axis in row.receptive_field))


def _cells(values: dict[str, tuple[str, Any]]) -> str:
    """``<td>`` per column: the text shown and the value sorted on (``data-v``)."""
    out = []
    for key, _, numeric in COLUMNS:
        text, value = values.get(key, ("", ""))
        klass = ' class="num"' if numeric else ""
        out.append(f'<td{klass} data-v="{_esc(str(value))}">{text}</td>')
    return "".join(out)


def _layer_row(i: int, row: LayerRow, tree: Hierarchy, group_ids: dict[int, str],
               order: int) -> str:
    chain = tree.ancestors(i)
    ancestors = " ".join(group_ids[id(g)] for g in chain)
    name = row.name
    inner = chain[-1] if chain else None
    short = name
    if inner is not None:
        for prefix in sorted(inner.names, key=len, reverse=True):
            if name.startswith(prefix + "."):
                short = name[len(prefix) + 1:]
                break
    size = 1
    for n in row.output_shape:
        size *= n
    values = {
        "index": (str(i + 1), i),
        "name": (f'<span class="indent" style="--level:{len(chain)}"></span>'
                 f'<span title="{_esc(name)}">{_esc(short)}</span>', name),
        "type": (_esc("+".join((row.type, *row.post))), row.type),
        "shape": (_esc(fmt_shape(row.output_shape)), size),
        "params": (_exact(row.params), row.params),
        "macs": (_exact(row.macs), row.macs),
        "flops": (_exact(row.flops), row.flops),
        "memory": (_esc(binary(row.activation_bytes)), row.activation_bytes),
        "rf": (_esc(fmt_rf(row)), _rf_size(row)),
    }
    return (f'<tr class="layer" data-id="n{i}" data-row="{i}" data-ancestors="{ancestors}" '
            f'data-order="{order}" tabindex="0">{_cells(values)}</tr>')


def _group_row(group: Group, tree: Hierarchy, group_ids: dict[int, str], order: int) -> str:
    ancestors = []
    parent = group.parent
    while parent is not None:
        outer = tree.group(parent)
        ancestors.append(group_ids[id(outer)])
        parent = outer.parent
    t = group.totals
    blocks = sum(1 for child in group.children if not isinstance(child, int))
    what = (f"{blocks} blocks · " if blocks else "") + f"{t.layers:,} layers"
    # under its parent a group is named by the rest of its name when that says something:
    # `denselayer.0` in denseblock1, but `layer1.0` in layer1 (not `0`)
    shown = group.name
    if group.parent is not None and group.name.startswith(group.parent + "."):
        rest = group.name[len(group.parent) + 1:]
        if any(ch.isalpha() for ch in rest):
            shown = rest
    values = {
        "name": (f'<span class="indent" style="--level:{group.level - 1}"></span>'
                 '<button class="toggle" aria-expanded="true" title="collapse / expand">'
                 f'</button><b title="{_esc(group.name)}">{_esc(shown)}</b> '
                 f'<span class="dim">{_esc(what)}</span>', group.name),
        "type": ("run" if group.synthetic else "block", ""),
        "shape": (_esc(fmt_shape(group.output_shape)), 0),
        "params": (_exact(t.params), t.params),
        "macs": (_exact(t.macs), t.macs),
        "flops": (_exact(t.flops), t.flops),
        "memory": (_esc(binary(t.activation_bytes)), t.activation_bytes),
    }
    return (f'<tr class="group" data-id="{group_ids[id(group)]}" data-level="{group.level}" '
            f'data-ancestors="{" ".join(reversed(ancestors))}" data-order="{order}" '
            f'data-first="{group.start}" data-last="{group.stop - 1}" tabindex="0">'
            f"{_cells(values)}</tr>")


def _table_rows(report: Report) -> list[str]:
    """Group headers and layer rows in network order (a group before its members)."""
    tree = report.hierarchy
    group_ids = {id(g): f"g{k}" for k, g in enumerate(tree.groups)}
    out: list[str] = []
    order = 0
    stack: list[Group | int] = list(reversed(tree.top))
    while stack:
        member = stack.pop()
        if isinstance(member, int):
            out.append(_layer_row(member, report.layers[member], tree, group_ids, order))
        else:
            out.append(_group_row(member, tree, group_ids, order))
            stack.extend(reversed(member.children))
        order += 1
    return out


def _explanations(graph: Graph, report: Report) -> list[str]:
    """The derivation of every row, as ``archcalc explain`` prints it; a row the explainer
    refuses carries the reason instead."""
    from .explain import explain

    out: list[str] = []
    for node in graph.nodes:
        try:
            out.append(explain(graph, node.name, report=report).to_text())
        except ArchcalcError as exc:
            out.append(f"{node.name}: no derivation: {exc.what}")
    return out


def _header(report: Report) -> str:
    t = report.totals
    lines = [
        ("input", (", ".join(f"{n} {fmt_shape(sh)}" for n, sh in report.inputs)
                   if report.inputs else fmt_shape(report.input_shape))
         + f" · batch {report.batch} · {report.dtype}"),
        ("params", f"{_exact(t.params)} ({si(t.params)}) + {_exact(t.buffers)} buffers · "
                   f"{binary(t.param_bytes)} of weights"),
        ("MACs", f"{_exact(t.macs)} ({si(t.macs)})"),
        (f"FLOPs ({report.convention})", f"{_exact(t.flops)} ({si(t.flops)})"),
        ("activations", f"{binary(t.activation_bytes)} in total · peak live "
                        f"{binary(t.peak_activation_bytes)}"),
        ("convention", report.convention_text),
    ]
    if report.scale:
        lines.insert(1, ("scale", ", ".join(f"{k}={v}" for k, v in report.scale.items())))
    items = "".join(f'<tr><th>{_esc(k)}</th><td data-total="{_esc(k)}">{_esc(v)}</td></tr>'
                    for k, v in lines)
    warnings = "".join(f'<p class="warning">warning: {_esc(w)}</p>' for w in report.warnings)
    return f'<table class="totals">{items}</table>{warnings}'


def render_page(graph: Graph, report: Report, *, diagram_svg: str = "",
                diagram_depth: int | None = None, charts: Sequence[tuple[str, str]] = (),
                notes: Sequence[str] = ()) -> str:
    """The page's HTML from its parts (pure: no Graphviz, no matplotlib here)."""
    rows = _table_rows(report)
    heads = "".join(
        f'<th data-key="{key}" class="{"num" if numeric else ""}" aria-sort="none">'
        f'<button>{_esc(title)}</button></th>' for key, title, numeric in COLUMNS)
    t = report.totals
    total_values = {
        "name": ("<b>total</b>", ""), "params": (_exact(t.params), t.params),
        "macs": (_exact(t.macs), t.macs), "flops": (_exact(t.flops), t.flops),
        "memory": (_esc(binary(t.activation_bytes)), t.activation_bytes)}
    tree = report.hierarchy
    depth_buttons = "".join(f'<button data-depth="{d}">{d}</button>'
                            for d in range(1, tree.max_level + 1))
    if diagram_svg:
        depth_note = ("every layer" if diagram_depth is None else
                      f"depth {diagram_depth}: each block that deep is one box with its "
                      f"subtotals; `archcalc draw SPEC -o full.svg` draws every layer")
        diagram_html = (f'<p class="dim">{_esc(depth_note)} · click a box to select its row'
                        '</p><div class="diagram" id="diagram">' + diagram_svg + "</div>")
    else:
        diagram_html = "".join(f'<p class="note">{_esc(n)}</p>' for n in notes
                               if "diagram" in n) or '<p class="note">no diagram</p>'
    chart_html = "".join(
        f'<figure><img alt="{_esc(caption)}" src="{uri}"><figcaption>{_esc(caption)}'
        "</figcaption></figure>" for caption, uri in charts)
    if not charts:
        chart_html = "".join(f'<p class="note">{_esc(n)}</p>' for n in notes
                             if "chart" in n) or '<p class="note">no charts</p>'
    data = {
        "name": report.name,
        "rows": len(report.layers),
        "explain": _explanations(graph, report),
        "initialDepth": diagram_depth,
    }
    title = f"{report.name} — archcalc report"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="archcalc {_esc(__version__)}">
<title>{_esc(title)}</title>
<style>
{_asset("page.css")}
</style>
</head>
<body>
<header>
<h1>{_esc(report.name)}</h1>
{_header(report)}
<nav><a href="#diagram-section">diagram</a> · <a href="#table-section">layers</a> ·
<a href="#charts-section">charts</a></nav>
</header>
<main>
<section id="diagram-section"><h2>Diagram</h2>
<div class="zoom"><button data-zoom="fit">fit width</button>
<button data-zoom="full">full size</button></div>
{diagram_html}
</section>
<section id="table-section"><h2>Layers</h2>
<div class="controls">
<input type="search" id="filter" placeholder="filter by name or type" aria-label="filter">
<span>depth: {depth_buttons}<button data-depth="all">all</button></span>
<span id="status" class="dim"></span>
</div>
<div class="layout">
<div class="scroll">
<table id="layers">
<thead><tr>{heads}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
<tfoot><tr class="total">{_cells(total_values)}</tr></tfoot>
</table>
</div>
<aside id="details"><h3>Derivation</h3>
<pre id="explain">Click a row to see how its numbers are derived.</pre></aside>
</div>
</section>
<section id="charts-section"><h2>Charts</h2>
{chart_html}
</section>
</main>
<footer class="dim">archcalc {_esc(__version__)} · {len(report.layers):,} layers ·
MAC = one multiply-accumulate; FLOPs under the {_esc(report.convention)} convention</footer>
<script type="application/json" id="archcalc-data">{_json_for_script(data)}</script>
<script>
{_asset("page.js")}
</script>
</body>
</html>
"""
