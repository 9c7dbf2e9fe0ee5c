"""The report table, once for every format: its columns, its cells, its rows, its header line,
the totals block and the convention line.

The terminal table (``archcalc table``, ``str(report)``), Markdown, LaTeX and HTML all render
one :class:`TableView`; only the layout differs (widths for the terminal, ``|`` for Markdown…).

**Styles** (decided here, documented in the README):

* ``human`` (the default): figures in auto-scaled units (:func:`archcalc.units.si` for counts,
  :func:`~archcalc.units.binary` for bytes) — ``25.6 M``, ``4.09 G``, ``97.5 MiB`` — so no
  layer prints ``0.0`` and no column needs eight digits. Columns: layer, type, output, params,
  MACs, FLOPs, memory, RF.
* ``lecture``: the slides' fixed columns, one decimal — memory KB, params k, flop M — as the
  lecture tables print them. It is the default for the bundled specs of those tables
  (:data:`LECTURE_SPECS`: alexnet, vgg16, vgg19, googlenet_stem), whose tests hold every
  printed row.
* ``exact=True`` (``--exact``): exact integers with thousands separators in either style
  (memory in bytes), as JSON and CSV always carry them.

**Columns** (``--columns``): ``layer type input output kernel params buffers params% macs macs%
cum-macs flops memory rf``. When a terminal is too narrow, the columns with the highest drop
rank go first (:data:`DROP_ORDER`), and a footer says which (see :mod:`archcalc.textable`).

**Rows**: every layer; or, with ``depth``, the group tree collapsed at that depth
(:meth:`archcalc.hierarchy.Hierarchy.view`: a collapsed group is one row with its subtotals, an
expanded group is a header row followed by its members, indented); ``first``/``last`` keep a
range of rows and add its subtotal row. A view longer than ``max_rows`` (400) is collapsed to
the deepest depth that fits when the network has groups (DenseNet-264's 930 layers at depth 2),
otherwise cut in the middle — and a footer always says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, NamedTuple

from . import units
from .errors import ArchcalcError
from .report import LayerRow, Report, fmt_rf, fmt_shape
from .textable import Column, Line, Row, dropped_note, render, wrap

if TYPE_CHECKING:
    from .graph import Graph
    from .hierarchy import Group

STYLES = ("human", "lecture")
#: bundled specs that reproduce a lecture's table: ``--style lecture`` is their default
#: (the slides tabulate these in memory KB / params k / flop M; the LeNet slides print exact
#: parameter counts, so lenet5 and lenet_example read best in the human style)
LECTURE_SPECS = frozenset({"alexnet", "vgg16", "vgg19", "googlenet_stem"})
MAX_ROWS = 400
#: a depth below every group: the whole tree, every group a header over its members
FULL_DEPTH = 1_000_000_000

#: every column key, in the order the table shows them
COLUMN_KEYS = ("layer", "type", "input", "output", "kernel", "params", "buffers", "params%",
               "macs", "macs%", "cum-macs", "flops", "memory", "rf")
DEFAULT_COLUMNS = {
    "human": ("layer", "type", "output", "params", "macs", "flops", "memory", "rf"),
    "lecture": ("layer", "type", "output", "memory", "params", "flops", "rf"),
}
#: which columns a narrow terminal drops first (first in the tuple = dropped first); ``layer``
#: and ``params`` always stay. The lecture style keeps its flop column longer than MACs.
DROP_ORDER = {
    "human": ("cum-macs", "macs%", "params%", "input", "kernel", "buffers", "flops", "rf",
              "type", "memory", "output", "macs"),
    "lecture": ("cum-macs", "macs%", "params%", "input", "kernel", "buffers", "macs", "rf",
                "type", "memory", "output", "flops"),
}
#: short wording of each FLOP convention for the one-line convention note
SHORT_CONVENTION = {
    "lecture": "FLOPs = MACs + pooling-window reads, as the lecture tables count 'flop'",
    "full": "FLOPs = 2·MACs + pooling-window reads + element-wise operations",
    "macs": "FLOPs = MACs of conv/fc only (torchvision's and fvcore's 'FLOPs')",
}


class Options(NamedTuple):
    """What a table shows: ``style`` (``human`` or ``lecture``), ``exact`` integers, the
    ``columns`` (keys, or a ``+kernel,-rf`` edit of the style's default), the ``depth`` of the
    group tree (None: every layer), a ``first``…``last`` range, at most ``max_rows`` rows (None:
    all), the text of the ``kernel`` column per layer (:func:`kernel_texts`); after the table
    the totals block and a one-line convention (``full_convention``: the whole text;
    ``quiet``: neither)."""

    style: str = "human"
    exact: bool = False
    columns: str | Sequence[str] | None = None
    depth: int | None = None
    first: str | None = None
    last: str | None = None
    max_rows: int | None = MAX_ROWS
    kernels: Mapping[str, str] | None = None
    quiet: bool = False
    full_convention: bool = False


#: the default view: human style, every layer, at most 400 rows
DEFAULT = Options()


class ViewRow(NamedTuple):
    """One row: its cells (one per column), its ``kind`` (``layer``, ``group`` — collapsed,
    with subtotals —, ``header`` — an expanded group —, ``skip``, ``range`` or ``total``) and
    its indent level."""

    cells: tuple[str, ...]
    kind: str
    indent: int = 0


class TableView(NamedTuple):
    """The columns, rows and footer notes of one report table, and its header line."""

    header: str
    columns: tuple[Column, ...]
    rows: tuple[ViewRow, ...]
    notes: tuple[str, ...]
    style: str


def header_line(report: Report) -> str:
    """What was analysed, for the top of every format: name, input(s), batch, dtype,
    convention."""
    shown = (", ".join(f"{name} {fmt_shape(sh)}" for name, sh in report.inputs)
             if report.inputs else fmt_shape(report.input_shape))
    return (f"{report.name} · input{'s' if report.inputs else ''} {shown} · batch "
            f"{report.batch} · {report.dtype} · FLOPs: {report.convention}")


def graph_marks(row: LayerRow) -> str:
    """What the type cell adds for the graph features: ``×R`` regions per image, ``shared``
    weights (counted at the layer ``shares`` names), a ``training``-only layer."""
    marks = ""
    if row.multiplicity != 1:
        marks += f" ×{row.multiplicity:,}"
    if row.shares:
        marks += " shared"
    if row.training:
        marks += " training"
    return marks


def graph_lines(report: Report) -> list[str]:
    """Below the totals, for the graph features: each output's own totals, the totals with the
    training-only layers, and what the type cell's marks mean."""
    lines = [f"output {o.name} {fmt_shape(o.output_shape)}{' (training)' if o.training else ''}"
             f": params {units.exact(o.params)} · MACs {units.exact(o.macs)}"
             for o in report.outputs[:8]]
    if len(report.outputs) > 8:
        lines.append(f"… and {len(report.outputs) - 8} more outputs (JSON lists them all)")
    tt = report.training_totals
    if tt is not None:
        lines.append(f"with the training-only layers: params {units.exact(tt.params)} · MACs "
                     f"{units.exact(tt.macs)} (the totals leave them out)")
    if any(row.shares for row in report.layers):
        lines.append("shared: uses another layer's weights (share:), counted there")
    if any(row.multiplicity != 1 for row in report.layers):
        lines.append("×R: R regions per image: the work and memory R times, the weights once")
    return lines


def parse_columns(value: str | Sequence[str] | None, style: str = "human") -> tuple[str, ...]:
    """The column keys to show: None → the style's default; ``"+kernel,+macs%"`` or
    ``"-rf"`` → the default with those added or removed; ``"layer,output,macs"`` → exactly
    those (``layer`` is always first). Raises :class:`ArchcalcError` naming an unknown key."""
    if style not in STYLES:
        raise ArchcalcError(f"unknown table style {style!r}", hint="choose human or lecture")
    default = DEFAULT_COLUMNS[style]
    if value is None:
        return default
    items = [v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value)]
    items = [v for v in items if v]
    for item in items:
        key = item.lstrip("+-")
        if key not in COLUMN_KEYS:
            from .args import suggest

            near = suggest(key, COLUMN_KEYS)
            raise ArchcalcError(
                f"unknown column {key!r}",
                hint=(f"did you mean {near!r}? " if near else "")
                + "columns: " + " ".join(COLUMN_KEYS))
    if items and all(v[0] in "+-" for v in items):
        chosen = list(default)
        for item in items:
            key = item[1:]
            if item[0] == "+" and key not in chosen:
                chosen.append(key)
            elif item[0] == "-" and key in chosen and key != "layer":
                chosen.remove(key)
    else:
        chosen = [v.lstrip("+") for v in items if not v.startswith("-")]
    keep = set(chosen) | {"layer"}
    return tuple(k for k in COLUMN_KEYS if k in keep)


def _headers(style: str, exact: bool) -> dict[str, str]:
    lecture = style == "lecture" and not exact
    return {
        "layer": "layer", "type": "type", "input": "input", "output": "output",
        "kernel": "kernel", "rf": "RF",
        "params": "params k" if lecture else "params",
        "buffers": "buffers k" if lecture else "buffers",
        "params%": "params %", "macs%": "MACs %",
        "macs": "MACs M" if lecture else "MACs",
        "cum-macs": "cum. MACs M" if lecture else "cum. MACs",
        "flops": "flop M" if lecture else "FLOPs",
        "memory": "memory KB" if lecture else "memory B" if exact else "memory",
    }


def _columns(keys: tuple[str, ...], style: str, exact: bool) -> tuple[Column, ...]:
    """Layer names shorten (keeping their distinguishing tail); every other cell — figures,
    shapes, types, kernels — is a code that is never cut (its column is dropped instead)."""
    heads = _headers(style, exact)
    order = DROP_ORDER[style]
    return tuple(
        Column(key, heads[key], kind="name" if key == "layer" else "number",
               drop=len(order) - order.index(key) if key in order else 0,
               align="left" if key in ("layer", "type", "input", "output", "kernel", "rf")
               else "right")
        for key in keys)


class _Cells:
    """Cell text of every column for layers, groups, ranges and the totals (one place)."""

    def __init__(self, report: Report, keys: tuple[str, ...], style: str, exact: bool,
                 kernels: Mapping[str, str] | None) -> None:
        self.report, self.keys = report, keys
        lecture = style == "lecture" and not exact
        self.count = units.exact if exact else units.si
        self.big = units.exact if exact else units.lecture_m if lecture else units.si
        self.small = units.exact if exact else units.lecture_k if lecture else units.si
        self.bytes = units.exact if exact else units.lecture_kb if lecture else units.binary
        if "kernel" in keys and kernels is None:
            raise ArchcalcError("the kernel column needs the graph",
                                hint="pass kernels=kernel_texts(graph)")
        self.kernels = kernels or {}
        self.cum: list[int] = []
        if "cum-macs" in keys:
            self.cum = list(accumulate((r.macs for r in report.layers), initial=0))
        self.shapes: dict[str, tuple[int, ...]] = {}
        if "input" in keys:
            self.shapes = dict(report.inputs) if report.inputs else {"input": report.input_shape}
            self.shapes.update((r.name, r.output_shape) for r in report.layers)

    def _figures(self, params: int, buffers: int, macs: int, flops: int, memory: int,
                 cum: int | None) -> dict[str, str]:
        t = self.report.totals
        return {
            "params": self.small(params), "buffers": self.small(buffers),
            "params%": units.percent(params, t.params), "macs": self.big(macs),
            "macs%": units.percent(macs, t.macs), "flops": self.big(flops),
            "cum-macs": "" if cum is None else self.big(cum), "memory": self.bytes(memory),
        }

    def layer(self, i: int, row: LayerRow) -> tuple[str, ...]:
        values = self._figures(row.params, row.buffers, row.macs, row.flops,
                               row.activation_bytes, self.cum[i + 1] if self.cum else None)
        values.update(layer=row.name, type="+".join((row.type, *row.post)) + graph_marks(row),
                      output=fmt_shape(row.output_shape), rf=fmt_rf(row),
                      kernel=self.kernels.get(row.name, ""),
                      input=", ".join(fmt_shape(self.shapes[n]) for n in row.inputs
                                      if n in self.shapes) if self.shapes else "")
        return tuple(values[k] for k in self.keys)

    def group(self, group: Group) -> tuple[str, ...]:
        s = group.totals
        values = self._figures(s.params, s.buffers, s.macs, s.flops, s.activation_bytes,
                               self.cum[group.stop] if self.cum else None)
        first = self.report.layers[group.start]
        rows = self.report.layers[group.start:group.stop]
        # a group only training needs (an auxiliary head) says so, as its layers do
        marks = " training" if first.training and all(r.training for r in rows) else ""
        values.update(layer=group.name, type=f"{s.layers:,} layers{marks}",
                      output=fmt_shape(group.output_shape), kernel="",
                      rf=fmt_rf(self.report.layers[group.stop - 1]),
                      input=", ".join(fmt_shape(self.shapes[n]) for n in first.inputs
                                      if n in self.shapes) if self.shapes else "")
        return tuple(values[k] for k in self.keys)

    def header(self, group: Group) -> tuple[str, ...]:
        values = dict.fromkeys(self.keys, "")
        values.update(layer=group.name, type=f"{group.totals.layers:,} layers")
        return tuple(values[k] for k in self.keys)

    def sums(self, label: str, params: int, buffers: int, macs: int, flops: int, memory: int,
             cum: int | None) -> tuple[str, ...]:
        values = dict.fromkeys(self.keys, "")
        values.update(self._figures(params, buffers, macs, flops, memory, cum))
        values.update({"layer": label, "params%": "", "macs%": ""})
        return tuple(values[k] for k in self.keys)


def table_view(report: Report, options: Options = DEFAULT) -> TableView:
    """The rows and columns of ``report`` as ``options`` asks (see the module docstring)."""
    keys = parse_columns(options.columns, options.style)
    cells = _Cells(report, keys, options.style, options.exact, options.kernels)
    rows = report.layers
    notes: list[str] = []
    limit, depth = options.max_rows, options.depth
    if depth is not None and depth < 1:
        raise ArchcalcError(f"depth must be at least 1, got {depth}",
                            hint="depth 1 shows the top-level groups; None shows every layer")
    start, stop = 0, len(rows)
    span = None
    if options.first is not None or options.last is not None:
        span = report.hierarchy.span(options.first, options.last)
        start, stop = span.start, span.stop
    entries = None
    if depth is not None:
        entries = report.hierarchy.view(depth, start, stop)
    elif limit is not None and stop - start > limit and report.hierarchy.groups:
        tree = report.hierarchy
        for d in range(tree.max_level, 0, -1):  # the deepest depth that fits
            view = tree.view(d, start, stop)
            if len(view) <= limit:
                entries = view
                notes.append(f"{stop - start:,} layers shown at depth {d}, to fit {limit} rows;"
                             f" --depth N chooses, --all-rows shows every layer")
                break
    out: list[ViewRow] = []
    if entries is None:
        out = [ViewRow(cells.layer(i, rows[i]), "layer") for i in range(start, stop)]
    else:
        for e in entries:
            if e.group is None:
                out.append(ViewRow(cells.layer(e.row, rows[e.row]), "layer", e.indent))
            elif e.expanded:
                out.append(ViewRow(cells.header(e.group), "header", e.indent))
            else:
                out.append(ViewRow(cells.group(e.group), "group", e.indent))
    if limit is not None and len(out) > limit:
        half = max(limit // 2, 1)
        hidden = len(out) - 2 * half
        skip = dict.fromkeys(keys, "")
        skip["layer"] = f"… {hidden:,} rows …"
        out = [*out[:half], ViewRow(tuple(skip[k] for k in keys), "skip"), *out[-half:]]
        notes.append(f"{hidden:,} of {hidden + 2 * half:,} rows hidden; --all-rows shows them"
                     + (", --depth N collapses groups" if report.hierarchy.groups else ""))
    if span is not None:
        s = span.totals
        first, last = rows[span.start].name, rows[span.stop - 1].name
        out.append(ViewRow(cells.sums("range", s.params, s.buffers, s.macs, s.flops,
                                      s.activation_bytes, cells.cum[stop] if cells.cum
                                      else None), "range"))
        notes.insert(0, f"range = {first} … {last}: {s.layers:,} layers, output "
                        f"{fmt_shape(span.output_shape)}")
    t = report.totals
    out.append(ViewRow(cells.sums("total", t.params, t.buffers, t.macs, t.flops,
                                  t.activation_bytes, t.macs if cells.cum else None), "total"))
    return TableView(header_line(report), _columns(keys, options.style, options.exact),
                     tuple(out), tuple(notes), options.style)


# ------------------------------------------------------------------------ totals block --

def totals_block(report: Report, *, exact: bool = False) -> list[tuple[str, str, str]]:
    """The summary people know from torchinfo and Keras, as (label, figure, aside) triples.

    Counts are exact with the auto-scaled figure aside; sizes are in binary units (MiB =
    2²⁰ bytes) with torchinfo's MB (10⁶ bytes) aside, or exact bytes with ``exact``. Where the
    definitions differ from torchinfo's, the README says how (section "Totals").
    """
    t = report.totals

    def count(n: int) -> tuple[str, str]:
        return units.exact(n), "" if n < 1000 else f"({units.si(n)})"

    def size(n: int) -> tuple[str, str]:
        aside = f"({units.megabytes(n)})" if n >= 10_000 else ""  # below 0.01 MB: none
        return (f"{units.exact(n)} B" if exact else units.binary(n)), aside

    return [
        ("Total params", *count(t.params)),
        ("Trainable params", *count(t.params)),
        ("Non-trainable params", *count(0)),
        ("Buffers (BN mean, var)", *count(t.buffers)),
        ("Total MACs", *count(t.macs)),
        (f"Total FLOPs ({report.convention})", *count(t.flops)),
        ("Input size", *size(report.input_bytes)),
        ("Forward activations", *size(t.activation_bytes)),
        ("Peak live activations", *size(t.peak_activation_bytes)),
        ("Params size", *size(t.param_bytes)),
        ("Buffers size", *size(report.buffer_bytes)),
        ("Estimated total", *size(report.estimated_total_bytes)),
    ]


def totals_lines(report: Report, *, exact: bool = False) -> list[str]:
    """:func:`totals_block` aligned: labels, figures right-aligned, asides."""
    block = totals_block(report, exact=exact)
    lw = max(len(label) for label, _, _ in block) + 1
    vw = max(len(value) for _, value, _ in block)
    return [f"{label + ':':<{lw}} {value:>{vw}}  {aside}".rstrip() for label, value, aside in
            block]


def convention_lines(report: Report, *, full: bool = False, style: str = "human",
                     hint: str | None = "--explain-convention") -> list[str]:
    """The counting convention in one line (``full``: the engine's whole text), with the units
    of the table."""
    from .engine import DTYPE_BYTES

    units_text = units.LECTURE_UNITS_TEXT if style == "lecture" else units.UNITS_TEXT
    if full:
        return [f"convention: {report.convention_text}",
                f"units: {units_text} · RF = receptive field in input pixels",
                "estimated total = params + buffers + peak live activations (inference)"]
    short = SHORT_CONVENTION.get(report.convention, report.convention_text.split(";")[1]
                                 if ";" in report.convention_text else report.convention_text)
    width = DTYPE_BYTES.get(report.dtype, 0)
    text = (f"{short}; memory = outputs × batch × {width} B; {units_text}"
            + (f" ({hint}: the full text)" if hint else ""))
    return [text]


# -------------------------------------------------------------------------- plain text --

def after_table(report: Report, view: TableView, options: Options,
                hint: str | None = None) -> list[str]:
    """What follows a table in every format: its footers, then (unless ``quiet``) the totals
    block and the convention, then the warnings."""
    out = list(view.notes)
    if not options.quiet:
        extra = graph_lines(report)
        out += ["", *totals_lines(report, exact=options.exact), *(["", *extra] if extra else []),
                ""]
        out += convention_lines(report, full=options.full_convention, style=options.style,
                                hint=hint)
    out += [f"warning: {w}" for w in report.warnings]
    return out


def report_lines(report: Report, options: Options = DEFAULT, *, width: int | None = 100,
                 hint: str | None = "--explain-convention") -> list[Line]:
    """The terminal table: header line, table, footers, totals block and convention, each
    line at most ``width`` characters when the columns allow (see :mod:`archcalc.textable`)."""
    view = table_view(report, options)
    lines = wrap(view.header, width, indent="  ", style="bold")
    lines.append(Line(""))
    table = render(view.columns, [_text_row(r) for r in view.rows], width=width)
    lines.extend(table.lines)
    if table.dropped and width is not None:
        lines.extend(wrap(dropped_note(table.dropped, width, "--wide shows every column, "
                                       "--columns chooses"), width, indent="  ", style="dim"))
    block = set(totals_lines(report, exact=options.exact)) if not options.quiet else set()
    for text in after_table(report, view, options, hint):
        if text.startswith("warning: "):  # one line each, as error messages: file:line:col
            lines.append(Line(text, "warn"))
        elif text in block:  # aligned figures: never wrapped
            lines.append(Line(text))
        else:
            lines.extend(wrap(text, width, indent="  ", style="dim"))
    return lines


_STYLE_OF_KIND = {"total": "bold", "range": "bold", "header": "head", "skip": "dim"}


def _text_row(row: ViewRow) -> Row:
    return Row(row.cells, _STYLE_OF_KIND.get(row.kind, ""), row.indent,
               rule=row.kind == "total" or (row.kind == "range"))


def report_text(report: Report, options: Options = DEFAULT, *,
                width: int | None = 100) -> str:
    """:func:`report_lines` as plain text (what ``str(report)`` returns)."""
    return "".join(line.text + "\n" for line in report_lines(report, options, width=width,
                                                             hint=None))


# ---------------------------------------------------------------------------- kernels --

def kernel_texts(graph: Graph) -> dict[str, str]:
    """The ``kernel`` column: each windowed layer's kernel, stride, padding, dilation and
    groups, written compactly — ``7×7 s2 p3``, ``3×3 p1``, ``1×1``, ``3×3 s2 g32`` (defaults
    s1, p0, d1, g1 are left out)."""
    out: dict[str, str] = {}
    for node in graph.nodes:
        op = node.op
        k = getattr(op, "k", None)
        if k is None or not isinstance(k, (int, tuple)):
            continue
        rank = max(len(node.in_shapes[0]) - 1, 1) if node.in_shapes else 1
        parts = [_axes(k, rank)]
        s = getattr(op, "s", None)
        if s is None:  # pooling's default stride is its kernel
            s = k
        for prefix, value, default in (("s", s, 1), ("p", getattr(op, "p", 0), 0),
                                       ("d", getattr(op, "d", 1), 1)):
            if value != default and value != (default,) * rank:
                parts.append(prefix + _compact(value))
        groups = getattr(op, "groups", 1)
        if isinstance(groups, int) and groups > 1:
            parts.append(f"g{groups}")
        out[node.name] = " ".join(parts)
    return out


def _axes(k: int | tuple[int, ...], rank: int) -> str:
    values = (k,) * rank if isinstance(k, int) else k
    return "×".join(str(v) for v in values)


def _compact(value: object) -> str:
    if isinstance(value, (tuple, list)):
        if len(set(map(str, value))) == 1:
            return _compact(value[0])
        return ",".join(_compact(v) for v in value)
    return str(value)
