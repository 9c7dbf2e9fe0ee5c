"""Architecture diagrams: a built graph as Graphviz DOT text, and its rendering through ``dot``.

One box per row of the report (a conv with its fused ``bn``/``act`` is one box, as it is one
row), labelled with the layer's name, its type and window geometry (kernel, stride, padding,
dilation, groups: the arguments that differ from the type's defaults), the output shape, and the
row's parameters and MACs — the same integers as the table, in readable units. Merges (residual
``add``, ``multiply``, ``concat``) are drawn as ellipses so the joins of a branching network
stand out; every input of a layer is an edge, so residual shortcuts and concatenated branches are
visible. Blocks, stage blocks and repeats (``Node.path``) are nested Graphviz clusters.

Colour is by layer kind (one pastel per family: conv, pool, fc, norm, activation, merge, shape)
or by cost: a heat scale on MACs, FLOPs, params or memory, where the colour of a layer says which
eighth of the most expensive layer's cost it reaches (ColorBrewer's YlOrRd, Graphviz's
``ylorrd9`` scheme): share ``v / max`` in ``(i − 1)/8 … i/8`` gets colour ``i + 1``; a zero gets
the palest colour 1. A legend node states the scale in the metric's units.

DOT text needs nothing; images need Graphviz's ``dot`` on PATH (Debian: ``apt-get install
graphviz``), run as a child process with a time limit (:func:`render`).

>>> import archcalc
>>> graph = archcalc.to_graph("alexnet")
>>> text = to_dot(graph)
>>> text.startswith('digraph "AlexNet') and text.count("->") == 12  # input→conv1, …, fc7→fc8
True
"""

from __future__ import annotations

import dataclasses
import html
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .engine import analyze_graph
from .errors import ArchcalcError
from .graph import INPUT, Graph, Node
from .hierarchy import Group, Subtotal
from .layers import Add, Concat, Dropout, DWConv, Identity, Layer, Multiply
from .layers.merge import Merge, Subtract
from .report import LayerRow, Report, fmt_shape
from .units import binary, si

#: what ``color=`` accepts: a pastel per layer family, a heat scale on a cost, or no fill
COLORS: tuple[str, ...] = ("kind", "macs", "flops", "params", "memory", "none")
#: Graphviz ``rankdir``: top to bottom, left to right
DIRECTIONS: tuple[str, ...] = ("TB", "LR")
#: image formats ``dot`` writes for :func:`render`
IMAGE_FORMATS: tuple[str, ...] = ("svg", "png", "pdf")
FONT = "DejaVu Sans"
INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install "
                "graphviz` (macOS), or see https://graphviz.org/download/; `archcalc table SPEC "
                "--format dot` writes the DOT text without it")
#: seconds ``dot`` may take before it is stopped (928-layer DenseNet-264 as SVG: 0.2–2 s)
DOT_TIMEOUT = 120.0
#: most boxes an image is drawn with (``to_dot(max_boxes=…)``): beyond, Graphviz's time and
#: memory grow without a readable picture to show for it; --depth collapses blocks
MAX_BOXES = 5000

#: legend title → pastel19 colour index, in legend order
_PALETTE: dict[str, int] = {
    "conv": 2, "pool": 3, "fc": 5, "norm": 4, "activation": 6, "merge": 1,  # blue … rose
    "shape": 9,  # flatten, reshape, pad, crop, upsample, slice, identity, dropout…: grey
}
#: family module of ``archcalc.layers`` → legend title (a type's colour follows the module it is
#: defined in, so a new class is coloured with its family without being listed here)
_MODULE_FAMILY: dict[str, str] = {
    "conv": "conv", "pool": "pool", "lenet": "pool", "linear": "fc", "norm": "norm",
    "activation": "activation", "merge": "merge",
}
#: types of a coloured family module that only pass values on (they read as shape operations)
_PASS_THROUGH: tuple[type[Layer], ...] = (Identity, Dropout)
_MERGE_SIGN = {Add: "+", Multiply: "×", Concat: "‖", Subtract: "−"}
#: arguments not shown in a label: the output shape says `out`, the type says `fn`, the params
#: say `bias`; `dims` and `connections` only constrain or restate the shapes
_HIDDEN_ARGS = frozenset({"out", "fn", "bias", "dims", "connections"})


@dataclass(frozen=True)
class HeatMetric:
    """A per-row cost to colour by: the row attribute and how a person reads its value."""

    name: str
    title: str
    attribute: str

    def of(self, row: LayerRow | Subtotal) -> int:
        value: int = getattr(row, self.attribute)
        return value

    def text(self, value: int) -> str:
        return binary(value) if self.name == "memory" else f"{si(value)} {self.title}"


HEAT: dict[str, HeatMetric] = {
    "macs": HeatMetric("macs", "MACs", "macs"),
    "flops": HeatMetric("flops", "FLOPs", "flops"),
    "params": HeatMetric("params", "params", "params"),
    "memory": HeatMetric("memory", "memory", "activation_bytes"),
}
HEAT_LEVELS = 9  # ylorrd9
GROUP_COLOR = "/pastel19/7"  # a collapsed block: tan


class GraphvizUnavailable(ArchcalcError):
    """Graphviz's ``dot`` is not on PATH."""


# ------------------------------------------------------------------------------- labels --

def family(layer: Layer) -> str:
    """The layer's family, as the kind colours and their legend name it: the family module of
    :mod:`archcalc.layers` its class is defined in."""
    if isinstance(layer, _PASS_THROUGH):
        return "shape"
    return _MODULE_FAMILY.get(type(layer).__module__.rpartition(".")[2], "shape")


def family_colors() -> dict[str, str]:
    """Family → Graphviz colour (``/pastel19/i``), in legend order."""
    return {name: f"/pastel19/{index}" for name, index in _PALETTE.items()}


def _defaults(layer: Layer) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(layer)  # type: ignore[arg-type]
            if f.default is not dataclasses.MISSING}


def _per_axis(value: Any) -> str:
    """``3`` → ``3``; ``(3, 1)`` → ``3×1``; ``(1, 1)`` → ``1``; ``((0, 1), (0, 1))`` →
    ``(0,1)×(0,1)``."""
    if isinstance(value, tuple):
        if len(set(value)) == 1:
            return _per_axis(value[0])
        return "×".join(_per_axis(v) for v in value)
    if isinstance(value, list):
        return _per_axis(tuple(value))
    return str(value)


def geometry_text(layer: Layer, in_shape: Sequence[int]) -> str:
    """Window geometry and other non-default arguments in a few characters:
    ``11×11 s4 p2`` (AlexNet conv1), ``3×3 s2`` (a pool), ``3×3 g32`` (grouped), ``5×5 dw``
    (depthwise), ``scale=2 bilinear`` (upsample). A kernel given as one number is written for
    every spatial axis of the input."""
    args = layer.describe_args()
    defaults = _defaults(layer)
    parts: list[str] = []
    if "k" in args:
        k = args["k"]
        rank = max(len(in_shape) - 1, 1)
        parts.append("×".join([str(k)] * rank) if isinstance(k, int) else _per_axis(k))
    for key, value in args.items():
        if key == "k" or key in _HIDDEN_ARGS or value is None:
            continue
        if key in defaults and _per_axis(value) == _per_axis(defaults[key]):
            continue  # the default, perhaps written per axis: s: [1, 1]
        if "k" in args and key in ("s", "p", "d"):
            parts.append(f"{key}{_per_axis(value)}" if not isinstance(value, str)
                         else f"{key}={value}")
        elif key == "groups":
            parts.append(f"g{value}")
        elif value is True:
            parts.append(key)
        elif isinstance(value, str):
            parts.append(value)
        else:
            parts.append(f"{key}={_per_axis(value)}")
    if isinstance(layer, DWConv):
        parts.append("dw")
    return " ".join(parts)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -------------------------------------------------------------------------------- graph --

@dataclass
class _Cluster:
    group: Group | None
    statements: list[str] = field(default_factory=list)  # node statements, in order
    children: dict[str, _Cluster] = field(default_factory=dict)


@dataclass(frozen=True)
class _Style:
    color: str
    heat: HeatMetric | None
    top: int  # the largest value of the heat metric over the boxes drawn (0: no heat)


def to_dot(graph: Graph, report: Report | None = None, *, direction: str = "TB",
           color: str = "kind", depth: int | None = None,
           max_boxes: int | None = None) -> str:
    """Graphviz DOT text of ``graph`` (``report`` gives the figures; analysed here when None).

    ``direction`` is ``TB`` (top to bottom) or ``LR``; ``color`` one of :data:`COLORS`.
    ``depth=N`` draws each group of level N (:mod:`archcalc.hierarchy`: ResNet-50 at depth 1 is
    stem, layer1 … layer4, head) as one box with its subtotals, the levels above as clusters;
    None draws every layer. With ``max_boxes``, more boxes than that are an error (images are
    drawn with :data:`MAX_BOXES`; the DOT text alone has no limit).
    """
    if direction not in DIRECTIONS:
        raise ArchcalcError(f"unknown direction {direction!r}",
                            hint="choose TB (top to bottom) or LR (left to right)")
    if color not in COLORS:
        raise ArchcalcError(f"unknown colouring {color!r}", hint="choose one of "
                            + ", ".join(COLORS))
    if depth is not None and depth < 1:
        raise ArchcalcError(f"depth must be at least 1, got {depth}",
                            hint="depth 1 draws each top-level block as one box")
    if report is None:
        report = analyze_graph(graph)
    tree = report.hierarchy
    rows = report.layers
    # what stands for each row: the row itself, or the collapsed group that holds it
    boxes: list[Group | int] = []
    for i in range(len(rows)):
        collapsed = tree.at_depth(i, depth) if depth is not None else None
        boxes.append(i if collapsed is None else collapsed)
    if max_boxes is not None:
        count = len({b if isinstance(b, int) else id(b) for b in boxes})
        if count > max_boxes:
            raise ArchcalcError(
                f"{count:,} boxes are more than a diagram can show (at most {max_boxes:,})",
                hint="--depth 1 or 2 draws each block as one box; .dot / .gv output has no "
                     "limit")
    heat = HEAT.get(color)
    top = max((heat.of(rows[b] if isinstance(b, int) else b.totals) for b in boxes),
              default=0) if heat else 0
    style = _Style(color, heat, top)
    group_ids = {id(g): f"g{k}" for k, g in enumerate(tree.groups)}

    def box_id(box: Group | int) -> str:
        return f"n{box}" if isinstance(box, int) else group_ids[id(box)]

    root = _Cluster(None)
    root.statements.extend(_input_statements(graph))
    drawn: set[str] = set()
    for i, box in enumerate(boxes):
        ident = box_id(box)
        if ident in drawn:
            continue
        drawn.add(ident)
        chain = tree.ancestors(i)
        if not isinstance(box, int):
            chain = chain[:box.level - 1]  # the clusters around a collapsed group
        cluster = root
        for group in chain:
            cluster = cluster.children.setdefault(group.name, _Cluster(group))
        inner = chain[-1] if chain else None
        if isinstance(box, int):
            statement = _node_statement(ident, graph.nodes[i], rows[i], inner, style)
        else:
            statement = _group_statement(ident, box, inner, style)
        cluster.statements.append(statement)
    lines = [
        f"digraph {_quote(graph.name)} {{",
        f'  graph [rankdir={direction}, fontname="{FONT}", fontsize=18, labelloc=t, '
        "nodesep=0.25, ranksep=0.32, newrank=true, ordering=in, "
        f"label=<{_title(report, depth)}>];",
        f'  node [shape=box, style="rounded,filled", fontname="{FONT}", fontsize=13, '
        'margin="0.10,0.05", penwidth=0.8, color="#555555"];',
        f'  edge [color="#555555", arrowsize=0.6, penwidth=0.9, fontname="{FONT}"];',
    ]
    lines.extend(_emit(root, 1))
    seen: set[tuple[str, str]] = set()
    for i, node in enumerate(graph.nodes):
        target = box_id(boxes[i])
        for source in node.inputs:
            origin = (_input_id(graph, source) if source in graph.input_names else
                      box_id(boxes[tree.index(source)]))
            if origin != target and (origin, target) not in seen:  # edges inside a box vanish
                seen.add((origin, target))
                lines.append(f"  {origin} -> {target};")
    lines.extend(_legend(graph, boxes, style))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _title(report: Report, depth: int | None) -> str:
    t = report.totals
    head = f"<B>{_esc(report.name)}</B>"
    inputs = (", ".join(f"{n} {fmt_shape(sh)}" for n, sh in report.inputs) if report.inputs
              else fmt_shape(report.input_shape))
    detail = (f"input{'s' if report.inputs else ''} {inputs} · batch {report.batch} · "
              f"{report.dtype}"
              f" · {si(t.params)} params · {si(t.macs)} MACs · "
              f"{si(t.flops)} FLOPs ({report.convention})"
              + (f" · depth {depth}" if depth is not None else ""))
    return f'{head}<BR/><FONT POINT-SIZE="13">{_esc(detail)}</FONT>'


def _input_id(graph: Graph, name: str) -> str:
    """The DOT id of an input box: ``input`` for a spec's one input, ``input_<i>`` otherwise."""
    return INPUT if len(graph.inputs) == 1 else f"input_{graph.input_names.index(name)}"


def _input_statements(graph: Graph) -> list[str]:
    """One box per network input (a Siamese pair has two), named as the spec names it."""
    out = []
    for name, shape in graph.inputs:
        label = (f'<<B>{_esc(name)}</B><BR/><FONT POINT-SIZE="11">{fmt_shape(shape)}'
                 "</FONT>>")
        out.append(f'{_input_id(graph, name)} [label=' + label +
                   ', style="rounded,filled,bold", fillcolor=white];')
    return out


def heat_level(value: int, top: int) -> int:
    """Colour 1 … 9 of ``value`` on a scale whose largest value is ``top``: 1 for zero, else
    ``1 + ⌈8·value/top⌉`` (share in ``((i − 1)/8, i/8]`` → ``i + 1``), exact in integers."""
    if value <= 0 or top <= 0:
        return 1
    return 1 + -(-8 * value // top)


def _fill(kind_colour: str, value: int, style: _Style) -> tuple[str, str]:
    """(fillcolor, fontcolor) of a box."""
    if style.color == "none":
        return "white", "black"
    if style.heat is None:
        return kind_colour, "black"
    level = heat_level(value, style.top)
    return f"/ylorrd9/{level}", "white" if level >= 8 else "black"


_SMALL = '<FONT POINT-SIZE="11">'


def _costs(params: int, macs: int, value: int, style: _Style) -> str:
    """``307 k params · 224 M MACs`` (and the heat metric when it is another one)."""
    costs = []
    if params:
        costs.append(f"{si(params)} params")
    if macs:
        costs.append(f"{si(macs)} MACs")
    if style.heat is not None and style.heat.name in ("memory", "flops"):
        costs.append(style.heat.text(value))
    return " · ".join(costs)


def _node_statement(node_id: str, node: Node, row: LayerRow, inner: Group | None,
                    style: _Style) -> str:
    value = style.heat.of(row) if style.heat else 0
    fill, font = _fill(family_colors()[family(node.op)], value, style)
    relative = _relative(row.name, inner)
    name = _esc(relative)
    # the type and its fused ops, unless the name already says the type: `flatten`, `add+relu`
    kind = "+".join((row.type, *row.post) if relative != row.type else
                    ("", *row.post) if row.post else ())
    attributes = f'fillcolor="{fill}", fontcolor="{font}", tooltip={_quote(row.name)}'
    if isinstance(node.op, Merge):
        sign = _MERGE_SIGN.get(type(node.op), "")
        detail = " · ".join(p for p in (kind, fmt_shape(row.output_shape)) if p)
        label = f"<<B>{sign} {name}</B><BR/>{_SMALL}{_esc(detail)}</FONT>>"
        return f"{node_id} [label={label}, shape=ellipse, style=filled, {attributes}];"
    geometry = geometry_text(node.op, node.in_shapes[0] if node.in_shapes else ())
    lines = [_esc(" ".join(p for p in (kind, geometry) if p)),
             _esc(fmt_shape(row.output_shape)),
             _esc(_costs(row.params, row.macs, value, style))]
    body = "<BR/>".join(line for line in lines if line)
    return f"{node_id} [label=<<B>{name}</B><BR/>{_SMALL}{body}</FONT>>, {attributes}];"


def _group_statement(node_id: str, group: Group, inner: Group | None, style: _Style) -> str:
    """A collapsed group: one box with its subtotals (a 3-D box: there is more inside)."""
    t = group.totals
    value = style.heat.of(t) if style.heat else 0
    fill, font = _fill(GROUP_COLOR, value, style)
    blocks = sum(1 for child in group.children if not isinstance(child, int))
    parts = ([f"{blocks} block{'s' if blocks > 1 else ''}"] if blocks else []) + [
        f"{t.layers:,} layer{'s' if t.layers > 1 else ''}"]
    lines = [" · ".join(parts), fmt_shape(group.output_shape),
             _costs(t.params, t.macs, value, style)]
    body = "<BR/>".join(_esc(line) for line in lines if line)
    name = _esc(group.name)  # in full: `layer1.0`, not `0`
    return (f"{node_id} [label=<<B>{name}</B><BR/>{_SMALL}{body}</FONT>>, shape=box3d, "
            f'style=filled, fillcolor="{fill}", fontcolor="{font}", '
            f"tooltip={_quote(group.name)}];")


def _relative(name: str, inner: Group | None) -> str:
    """``layer1.0.conv1`` inside cluster ``layer1.0`` → ``conv1`` (any of the group's names)."""
    if inner is not None:
        for prefix in sorted(inner.names, key=len, reverse=True):
            if name.startswith(prefix + "."):
                return name[len(prefix) + 1:]
    return name


_CLUSTER_FILLS = ("#f3f3f3", "#e6e6e6", "#f8f8f8", "#ececec")


def _emit(cluster: _Cluster, depth: int) -> Iterator[str]:
    pad = "  " * depth
    for statement in cluster.statements:
        yield pad + statement
    for child in cluster.children.values():
        group = child.group
        assert group is not None
        t = group.totals
        costs = " · ".join(c for c in (f"{si(t.params)} params" if t.params else "",
                                       f"{si(t.macs)} MACs" if t.macs else "") if c)
        label = f"<B>{_esc(group.name)}</B>" + (
            f'  <FONT POINT-SIZE="11">{_esc(costs)}</FONT>' if costs else "")
        border = "rounded,filled,dashed" if group.synthetic else "rounded,filled"
        yield f"{pad}subgraph {_quote('cluster_' + group.name)} {{"
        yield (f"{pad}  label=<{label}>; labeljust=l; fontsize=14; style=\"{border}\"; "
               f'color="#9a9a9a"; penwidth=0.8; '
               f'fillcolor="{_CLUSTER_FILLS[(depth - 1) % len(_CLUSTER_FILLS)]}";')
        yield from _emit(child, depth + 1)
        yield f"{pad}}}"


def _legend(graph: Graph, boxes: list[Group | int], style: _Style) -> list[str]:
    """A legend node: the families present (kind colours) or the heat scale in units."""
    cells: list[str] = []
    if style.color == "kind":
        present = {family(graph.nodes[b].op) for b in boxes if isinstance(b, int)}
        for name, colour in family_colors().items():
            if name in present:
                cells.append(f'<TD BGCOLOR="{colour}">{_esc(name)}</TD>')
        if any(not isinstance(b, int) for b in boxes):
            cells.append(f'<TD BGCOLOR="{GROUP_COLOR}">block (collapsed)</TD>')
        title = "layer kind"
    elif style.heat is not None:
        heat = style.heat
        cells.append('<TD BGCOLOR="/ylorrd9/1">0</TD>')
        for level in range(2, HEAT_LEVELS + 1):
            bound = style.top * (level - 1) // 8  # the level's upper bound, as a share of top
            font = ' COLOR="white"' if level >= 8 else ""
            text = heat.text(bound).replace(f" {heat.title}", "")
            cells.append(f'<TD BGCOLOR="/ylorrd9/{level}"><FONT{font}>≤ {_esc(text)}'
                         "</FONT></TD>")
        title = f"{heat.title} per box (colour: its share of the largest, in eighths)"
    else:
        return []
    table = ('<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">'
             f'<TR><TD COLSPAN="{len(cells)}" BORDER="0"><B>{_esc(title)}</B></TD></TR>'
             f"<TR>{''.join(cells)}</TR></TABLE>>")
    return [f'  legend [shape=plaintext, style="", fontsize=11, label={table}];']


# ------------------------------------------------------------------------------- render --

def find_dot() -> str:
    """The path of Graphviz's ``dot``, or :class:`GraphvizUnavailable` saying how to get it."""
    found = shutil.which("dot")
    if found is None:
        raise GraphvizUnavailable("drawing a diagram needs Graphviz's `dot`, which is not on "
                                  "PATH", hint=INSTALL_HINT)
    return found


class Rendered(NamedTuple):
    """An image made by ``dot`` and what ``dot`` warned about (e.g. a PNG scaled down to fit
    cairo's 32,767-pixel limit)."""

    data: bytes
    warnings: tuple[str, ...]


def render(dot_text: str, fmt: str, *, dpi: int | None = None,
           timeout: float = DOT_TIMEOUT) -> Rendered:
    """Run ``dot -T<fmt>`` on ``dot_text``: the image (SVG, PNG or PDF bytes) and ``dot``'s
    warnings. Bounded: ``dot`` is stopped after ``timeout`` seconds; its failure is an
    :class:`ArchcalcError` quoting its message."""
    if fmt not in IMAGE_FORMATS:
        raise ArchcalcError(f"Graphviz output {fmt!r} is not supported",
                            hint="use .svg, .png or .pdf (or .dot / .gv for the DOT text)")
    command = [find_dot(), f"-T{fmt}"]
    if dpi is not None:
        command.append(f"-Gdpi={dpi}")
    try:
        done = subprocess.run(command, input=dot_text.encode(), capture_output=True,
                              timeout=timeout, check=False,
                              env={**os.environ, "LC_ALL": "C.UTF-8"})
    except subprocess.TimeoutExpired:
        raise ArchcalcError(f"Graphviz's dot did not finish within {timeout:g} s",
                            hint="draw fewer boxes: --depth 1 or 2 collapses blocks") from None
    except OSError as exc:
        raise GraphvizUnavailable(f"cannot run Graphviz's dot: {exc.strerror or exc}",
                                  hint=INSTALL_HINT) from None
    messages = tuple(line.removeprefix("Warning: ").removeprefix("dot: ").strip()
                     for line in done.stderr.decode(errors="replace").splitlines()
                     if line.strip())
    if done.returncode != 0 or not done.stdout:
        raise ArchcalcError("Graphviz's dot failed: " + (
            messages[-1] if messages else f"exit code {done.returncode}"))
    return Rendered(done.stdout, messages)
