"""Terminal renderings of ``compare``, ``sweep``, ``verify``, ``explain`` and ``list``.

Each function takes the command's result (a pure value computed elsewhere) and a width and
returns :class:`~archcalc.textable.Line` s laid out by :func:`archcalc.textable.render`: a
number is never cut, a name keeps its distinguishing part, columns that do not fit are dropped
in a stated order with a footer, and prose wraps. Figures are auto-scaled
(:func:`archcalc.units.si`, :func:`~archcalc.units.binary`) unless ``exact``; ratios are
:func:`archcalc.units.ratio` with ``×`` in every format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from . import units
from .report import LayerRow, fmt_shape
from .textable import Column, Line, Row, dropped_note, render, wrap

if TYPE_CHECKING:
    from .compare import RewriteComparison, SpecComparison
    from .explain import Explanation
    from .sweep import SweepResult

WIDE_HINT = "--wide shows every column"


def times(value: Fraction | float | None) -> str:
    """A ratio as every format prints it: ``2.26×``, ``0.311×``, ``21.6×`` (empty: none)."""
    return "" if value is None else units.ratio(value) + "×"


def figure(key: str, value: int, exact: bool = False) -> str:
    """A total by its kind: bytes in binary units, counts with SI prefixes (``exact``: the
    integer, bytes with a ``B``)."""
    if key.endswith("bytes"):
        return f"{units.exact(value)} B" if exact else units.binary(value)
    return units.exact(value) if exact else units.si(value)


def _table(columns: Sequence[Column], rows: list[Row], width: int | None,
           hint: str = WIDE_HINT) -> list[Line]:
    out = render(columns, rows, width=width)
    lines = list(out.lines)
    if out.dropped and width is not None:
        lines.extend(wrap(dropped_note(out.dropped, width, hint), width, indent="  ",
                          style="dim"))
    return lines


def _title(text: str, width: int | None) -> list[Line]:
    return [*wrap(text, width, indent="  ", style="bold"), Line("")]


def _prose(text: str, width: int | None, style: str = "dim") -> list[Line]:
    return wrap(text, width, indent="  ", style=style)


# ----------------------------------------------------------------------------- compare --

def spec_comparison_lines(c: SpecComparison, *, width: int | None, exact: bool = False,
                          by_layer: bool = False, convention_text: str = "") -> list[Line]:
    """Totals of several specs, one column per spec, each figure with its ratio to the first;
    ``by_layer``: the layers aligned by name, params and MACs per spec."""
    from .compare import METRICS

    base = c.reports[0]
    head = (f"compare: ratios against {c.labels[0]} · batch {base.batch} · {base.dtype} · "
            f"FLOPs: {base.convention}")
    lines = _title(head, width)
    inputs = {fmt_shape(r.input_shape) for r in c.reports}
    columns = [Column("metric", "", kind="text", min_width=6)]  # "activation memory" wraps
    columns += [Column(f"spec{i}", label) for i, label in enumerate(c.labels)]

    def rows(sep: str) -> list[Row]:
        out = []
        if len(inputs) > 1:
            out.append(Row(("input", *(fmt_shape(r.input_shape) for r in c.reports))))
        for key, label in METRICS:
            cells = [figure(key, c.total(0, key), exact)]
            for i in range(1, len(c.reports)):
                r = c.ratio(i, key)
                cells.append(figure(key, c.total(i, key), exact)
                             + ("" if r is None else f"{sep}({times(r)})"))
            out.append(Row((label, *cells)))
        return out

    # each figure with its ratio beside it; when that is too wide, the ratio under it
    table = render(columns, rows(" "), width=width)
    if width is not None and table.width > width:
        table = render(columns, rows("\n"), width=width)
    lines += table.lines
    if by_layer:
        lines += [Line(""), Line("layers aligned by name", "bold")]
        cols = [Column("layer", "layer", kind="name")]
        drop = 2 * len(c.labels)
        for i, label in enumerate(c.labels):
            cols += [Column(f"out{i}", f"{label} output", align="left", drop=drop + 1 + i),
                     Column(f"params{i}", f"{label} params", drop=1 + i),
                     Column(f"macs{i}", f"{label} MACs")]
        layer_rows = []
        for a in c.aligned():
            aligned: list[str] = [a.name]
            for row in a.rows:
                aligned += (["", "", ""] if row is None else
                            [fmt_shape(row.output_shape), _count(row.params, exact),
                             _count(row.macs, exact)])
            layer_rows.append(Row(aligned))
        lines += _table(cols, layer_rows, width)
    lines.append(Line(""))
    lines += _prose(_units_note(exact) + " · " + convention_text, width)
    return lines


def _count(value: int, exact: bool) -> str:
    return units.exact(value) if exact else units.si(value)


def _units_note(exact: bool) -> str:
    return ("exact integers, bytes" if exact else units.UNITS_TEXT) + \
        "; activation memory: every layer's output, peak: the largest set alive at once"


def rewrite_lines(c: RewriteComparison, *, width: int | None, exact: bool = False,
                  by_layer: bool = False, convention_text: str = "") -> list[Line]:
    """A spec against its rewrite (or a chain of them): the totals after each step with the
    ratio of the last to the original, then per changed layer (every layer with
    ``by_layer``) the original rows, their replacements indented and their sum with the
    measured MAC ratio beside the lecture's formula."""
    from .compare import METRICS

    before = c.before
    only = f" (only {', '.join(c.only)})" if c.only else ""
    head = (f"{before.name}: {c.rewrite.description}{only} · input "
            f"{fmt_shape(before.input_shape)} · batch {before.batch} · {before.dtype} · "
            f"FLOPs: {before.convention}")
    lines = _title(head, width)
    columns = c.columns()
    cols = [Column("metric", "", kind="text", min_width=6),
            *(Column(f"c{i}", label) for i, (label, _) in enumerate(columns)),
            Column("ratio", "ratio")]
    rows = []
    for key, label in METRICS:
        values = [report.totals.to_dict()[key] for _, report in columns]
        r = c.total_ratio(key)
        rows.append(Row((label, *(figure(key, v, exact) for v in values),
                         "" if r is None or values[0] == 0 else times(r))))
    lines += _table(cols, rows, width)
    if c.sliding is not None:
        for text in c.sliding.lines():
            lines += _prose(text, width, "bold")
    lines += [Line(""), Line("per layer (ratio = MACs after / before)", "bold")]
    cols = [Column("layer", "layer", kind="name"),
            Column("type", "type", align="left", drop=2),
            Column("output", "output", align="left", drop=3),
            Column("params", "params", drop=1), Column("macs", "MACs"),
            Column("ratio", "ratio"), Column("theory", c.rewrite.theory_label, align="left")]
    layer_rows: list[Row] = []
    notes: dict[str, list[str]] = {}
    for g in (c.groups if by_layer else c.shown):
        for n, row in enumerate(g.before):
            layer_rows.append(Row((*_rewrite_cells(row, exact), "", ""),
                                  rule=bool(layer_rows) and n == 0))
        if not g.shown:
            if g.note:
                layer_rows.append(Row((g.note,), "dim", indent=1, note=True))
            continue
        if g.note:
            notes.setdefault(g.note, []).append(" + ".join(r.name for r in g.before))
        for row in g.after:
            layer_rows.append(Row((*_rewrite_cells(row, exact), "", ""), indent=1))
        if not g.after:
            layer_rows.append(Row(("(removed)", "", "", "", "", "", ""), "dim", indent=1))
        theory = "" if g.theory is None else f"{g.theory_text} = {units.ratio(g.theory)}"
        layer_rows.append(Row(("= together", "", "", _count(g.params, exact),
                               _count(g.macs, exact), "" if g.ratio is None else
                               units.ratio(g.ratio), theory), "bold", indent=1))
    if layer_rows:
        lines += _table(cols, layer_rows, width)
    for note, names in notes.items():
        which = names[0] if len(names) == 1 else f"{names[0]} … {names[-1]} ({len(names)})"
        lines += _prose(f"{which}: {note}", width)
    if not c.changed:
        lines.append(Line(f"no layer of {before.name} is changed by --{c.rewrite.kind}", "warn"))
    lines.append(Line(""))
    lines += _prose(_units_note(exact) + " · " + convention_text, width)
    return lines


def _rewrite_cells(row: LayerRow, exact: bool) -> tuple[str, ...]:
    return (row.name, "+".join((row.type, *row.post)), fmt_shape(row.output_shape),
            _count(row.params, exact), _count(row.macs, exact))


# ------------------------------------------------------------------------------- sweep --

def sweep_columns(result: SweepResult, exact: bool = False
                  ) -> tuple[list[Column], list[tuple[str, ...]]]:
    """The sweep's terminal table: one row per point — the swept scale values, the input, the
    batch and dtype when swept, then params, MACs, FLOPs, activation memory and peak."""
    extra = [a for a in ("batch", "dtype") if a in result.parameters]
    cols = [*(Column(p, p) for p in result.scale_parameters),
            Column("input", "input", align="left", drop=3),
            *(Column(a, a, align="left" if a == "dtype" else "") for a in extra),
            Column("params", "params"), Column("macs", "MACs"),
            Column("flops", f"FLOPs ({result.convention})", drop=4),
            Column("memory", "memory", drop=2), Column("peak", "peak", drop=1)]
    rows = []
    for p in result.points:
        t = p.totals
        rows.append((*(f"{p.scale[k]:g}" for k in result.scale_parameters),
                     fmt_shape(p.input_shape), *(str(getattr(p, a)) for a in extra),
                     _count(t.params, exact), _count(t.macs, exact), _count(t.flops, exact),
                     figure("activation_bytes", t.activation_bytes, exact),
                     figure("peak_activation_bytes", t.peak_activation_bytes, exact)))
    return cols, rows


def sweep_lines(result: Any, *, width: int | None, exact: bool = False) -> list[Line]:
    """``archcalc sweep`` in the terminal. A total that is the same at every point (the params
    of an input, batch or dtype sweep) is said once under the table instead of in a column.
    A compound-scaling search is laid out as its own table and notes."""
    from .sweep import CompoundResult

    if isinstance(result, CompoundResult):
        header = result.header()
        cols = [Column(f"c{i}", h) for i, h in enumerate(header)]
        lines = _title(result.title(), width)
        lines += _table(cols, [Row(tuple(r)) for r in result.cells()], width)
        for note in result.notes():
            lines += _prose(note, width)
        return lines
    batch = "swept" if result.batch is None else result.batch
    dtype = "dtype swept" if result.dtype is None else result.dtype
    head = (f"{result.name}: {result.mode} sweep over {', '.join(result.parameters)} "
            f"({len(result.points)} points) · batch {batch} · {dtype} · FLOPs: "
            f"{result.convention}")
    cols, rows = sweep_columns(result, exact)
    notes = []
    if len(rows) > 1:
        first = len(cols) - 5  # params, MACs, FLOPs, memory, peak
        same = [i for i in range(first, len(cols)) if len({r[i] for r in rows}) == 1]
        for i in same:
            notes.append(f"{cols[i].header} {rows[0][i]} at every point")
        keep = [i for i in range(len(cols)) if i not in same]
        cols = [cols[i] for i in keep]
        rows = [tuple(r[i] for i in keep) for r in rows]
    lines = _title(head, width)
    lines += _table(cols, [Row(r) for r in rows], width)
    for note in notes:
        lines += _prose(note, width, "")
    lines.append(Line(""))
    lines += _prose(("exact integers, bytes" if exact else units.UNITS_TEXT)
                    + "; memory: every layer's output, peak: the largest set alive at once",
                    width)
    return lines


def markdown_table(cols: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table of the same columns and cells (``|`` escaped)."""
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(esc(c.header) for c in cols) + " |",
           "|" + "|".join("---:" if c.right else "---" for c in cols) + "|"]
    out += ["| " + " | ".join(esc(cell) for cell in row) + " |" for row in rows]
    return out


# ------------------------------------------------------------------------------ verify --

def verify_lines(data: Mapping[str, Any], *, width: int | None,
                 exact: bool = False) -> list[Line]:
    """``archcalc verify``: per layer the predicted and the actual shape, params and MACs,
    the forward time and the verdict; then the totals and the memory check."""
    def shape(value: Sequence[int] | None) -> str:
        return "—" if value is None else "×".join(str(v) for v in value)

    inputs = data.get("inputs")  # several: each by name
    shown = (", ".join(f"{i['name']} {shape(i['shape'])}" for i in inputs) if inputs
             else shape(data["input_shape"]))
    head = (f"{data['name']} — verified on real tensors · input{'s' if inputs else ''} {shown}"
            f" · batch {data['batch']} · seed {data['seed']} · float32")
    lines = _title(head, width)
    cols = [Column("layer", "layer", kind="name"), Column("type", "type", align="left", drop=4),
            Column("predicted", "predicted", align="left", drop=3),
            Column("actual", "actual", align="left"), Column("params", "params", drop=2),
            Column("macs", "MACs engine", drop=1), Column("counted", "MACs counted"),
            Column("ms", "ms", drop=5), Column("verdict", "verdict", align="left")]
    rows = []
    for step in data["layers"]:
        ok = step["verdict"] == "ok"  # a disagreement is shown in exact integers
        params = _count(step["params_created"], exact or not ok)
        if step["params_created"] != step["params"]:
            params = f"{units.exact(step['params_created'])} ≠ {units.exact(step['params'])}"
        rows.append(Row((step["name"], step["type"], shape(step["predicted_shape"]),
                         shape(step["actual_shape"]), params,
                         _count(step["macs"], exact or not ok),
                         _count(step["macs_counted"], exact or not ok),
                         f"{step['seconds'] * 1e3:.1f}", step["verdict"]), "" if ok else "red"))
    totals, memory = data["totals"], data["memory"]
    rows.append(Row(("total", "", "", "", _count(totals["params_created"], exact),
                     _count(totals["macs"], exact), _count(totals["macs_counted"], exact),
                     f"{totals['seconds'] * 1e3:.0f}", "ok" if data["ok"] else "FAILED"),
                    "bold" if data["ok"] else "red", rule=True))
    lines += _table(cols, rows, width)
    lines.append(Line(""))

    def mib(n: int | None) -> str:
        return "n/a" if n is None else units.binary(n) if not exact else f"{units.exact(n)} B"

    lines += _prose(f"ms: forward time per layer; the whole run, seeded weights included, took "
                    f"{totals['wall_seconds']:.2f} s", width)
    lines += _prose(f"params: created {units.exact(totals['params_created'])} (engine "
                    f"{units.exact(totals['params'])}); buffers "
                    f"{units.exact(totals['buffers_created'])} (engine "
                    f"{units.exact(totals['buffers'])})", width, "")
    lines += _prose(f"peak activations: engine {mib(memory['predicted_peak_bytes'])}, measured "
                    f"live {mib(memory['peak_live_bytes'])}, allocated during forwards "
                    f"(temporaries and im2col scratch included, weights excluded) "
                    f"{mib(memory['peak_allocated_bytes'])}", width, "")
    check = data.get("receptive_field")
    if check is not None:
        style = "" if check["ok"] else "red"
        how = (f"{check['forward_passes']} probe passes" if check["forward_passes"]
               else "one backward pass")
        lines += _prose(f"receptive field of {check['layer']} unit {check['unit']} ({how}):",
                        width, style)
        for axis in check["axes"]:
            jump = "" if axis["measured_jump"] is None else (
                f", jump {axis['measured_jump']} (engine {axis['predicted_jump']})")
            lines += _prose(
                f"  axis {axis['axis']}: measured input pixels {axis['measured'][0]}…"
                f"{axis['measured'][1]} ({axis['measured_size']}); engine "
                f"{axis['predicted'][0]}…{axis['predicted'][1]} ({axis['predicted_size']})"
                f"{'' if axis['expected'] == axis['predicted'] else ', clipped to the input'}"
                f"{jump}: {'ok' if axis['ok'] else 'MISMATCH'}", width,
                "" if axis["ok"] else "red")
    return lines


def training_verify_lines(data: Mapping[str, Any], *, width: int | None,
                          exact: bool = False) -> list[Line]:
    """``archcalc verify --training``: per layer the engine's backward MACs of each gradient
    beside the counted ones, and the bytes it is the first to keep for backward beside those
    kept; then the totals and the training peak, engine beside measurement."""
    lines = [Line(""), *_title(f"{data['name']} — one training step on real tensors · batch "
                               f"{data['batch']} · seed {data['seed']} · float32", width)]
    cols = [Column("layer", "layer", kind="name"), Column("type", "type", align="left", drop=5),
            Column("dx", "∂x MACs engine", drop=2), Column("dx_counted", "∂x counted"),
            Column("dw", "∂W MACs engine", drop=1), Column("dw_counted", "∂W counted"),
            Column("kept", "kept engine", drop=3), Column("kept_measured", "kept measured",
                                                          drop=4),
            Column("ms", "ms", drop=6), Column("verdict", "verdict", align="left")]

    def size(n: int, plain: bool) -> str:
        return f"{units.exact(n)} B" if plain else units.binary(n) if n else "0"

    rows = []
    for step in data["layers"]:
        ok = step["verdict"] == "ok"
        plain = exact or not ok
        if not (step["input_gradient"] or step["weight_gradient"]) or step["verdict"] in (
                "not run", "error"):
            cells = ["—"] * 6
        else:
            cells = [_count(step["backward_input_macs"], plain),
                     _count(step["backward_input_macs_counted"], plain),
                     _count(step["backward_weight_macs"], plain),
                     _count(step["backward_weight_macs_counted"], plain),
                     size(step["saved_bytes"], plain), size(step["saved_bytes_kept"], plain)]
        rows.append(Row((step["name"], step["type"], *cells, f"{step['seconds'] * 1e3:.1f}",
                         step["verdict"]), "" if ok else "red"))
    totals, memory = data["totals"], data["memory"]
    rows.append(Row(("total", "", _count(totals["backward_input_macs"], exact),
                     _count(totals["backward_input_macs_counted"], exact),
                     _count(totals["backward_weight_macs"], exact),
                     _count(totals["backward_weight_macs_counted"], exact),
                     size(totals["saved_bytes"], exact), size(totals["saved_bytes_kept"], exact),
                     f"{(totals['forward_seconds'] + totals['backward_seconds']) * 1e3:.0f}",
                     "ok" if data["ok"] else "FAILED"), "bold" if data["ok"] else "red",
                    rule=True))
    lines += _table(cols, rows, width)
    lines.append(Line(""))
    lines += _prose(f"∂x, ∂W: the MACs of the input and the weight gradient (batch included); "
                    f"—: not in the backward (frozen, or before the first trainable layer); "
                    f"kept: bytes a layer is the first to keep for backward; ms: training "
                    f"forward + backward per layer (forward {totals['forward_seconds']:.2f} s, "
                    f"backward {totals['backward_seconds']:.2f} s)", width)
    if memory["peak_at"]:  # the step ran to the end
        lines += _prose(f"training peak (weights, buffers, gradients, kept tensors, "
                        f"activations; SGD): engine {size(memory['predicted_peak_bytes'], exact)}"
                        f", measured {size(memory['peak_bytes'], exact)} at the "
                        f"{memory['peak_at']}, every point of the schedule compared", width, "")
    moved = data.get("buffers") or {}
    if moved:
        lines += _prose(f"running statistics updated as PyTorch's train() does (momentum, "
                        f"unbiased batch variance): {sum(map(len, moved.values()))} buffers "
                        f"of {len(moved)} layers, in the JSON's training.buffers", width, "")
    for problem in data["problems"]:
        lines += _prose(problem, width, "red")
    return lines


# ----------------------------------------------------------------------------- explain --

def explanation_lines(e: Explanation, *, width: int | None) -> list[str]:
    """A derivation with every line fitted to ``width``: a line too long breaks before its
    ``=`` signs, the continuations aligned under the first one, like a worked example."""
    out = wrap_plain(e.header, width, "  ")
    for title, lines in e.sections():
        out.append(f"{title}:")
        for line in lines:
            out += derivation(line.text(), width, line.label, "  ")
    return out


def derivation(text: str, width: int | None, label: str, indent: str) -> list[str]:
    """One ``label = a = b = c  (note)`` line, broken before ``=`` when wider than ``width``."""
    full = indent + text
    if width is None or len(full) <= width:
        return [full]
    body, note = text, ""
    if text.endswith(")") and "  (" in text:
        body, note = text.rsplit("  (", 1)
        note = f"({note}"
    if not body.startswith(label + " = "):
        return wrap_plain(full, width, indent + "    ")
    steps = body[len(label) + 3:].split(" = ")
    pad = indent + " " * len(label) + " = "
    out = [indent + label + " = " + steps[0]]
    for step in steps[1:]:
        if len(out[-1]) + 3 + len(step) <= width:
            out[-1] += " = " + step
        else:
            out.append(pad + step)
    if note:
        if len(out[-1]) + 2 + len(note) <= width:
            out[-1] += "  " + note
        else:
            out += wrap_plain(indent + " " * len(label) + "   " + note, width,
                              indent + " " * len(label) + "    ")
    return [part for line in out for part in (wrap_plain(line, width, pad)
                                               if len(line) > width else [line])]


def wrap_plain(text: str, width: int | None, indent: str) -> list[str]:
    return [line.text for line in wrap(text, width, indent=indent)]


# -------------------------------------------------------------------------------- list --

def spec_list_lines(rows: Sequence[Mapping[str, Any]], *, width: int | None,
                    exact: bool = False) -> list[Line]:
    """``archcalc list``: name, input, params and MACs per bundled spec, in units that read at
    a glance (lenet5: 60.8 k params, 328 k MACs), with its description — in a column when the
    width leaves it 40 characters, else on the lines under the name."""
    figures = [Column("input", "input", align="left"), Column("params", "params"),
               Column("macs", "MACs")]
    name = Column("name", "name", kind="name")
    entries = []
    for row in rows:
        if "error" in row:
            entries.append((row["name"], f"error: {row['error']}", ("", "", ""), "red"))
            continue
        description = row["description"]
        if row["variants"]:
            description += f" (variants: {', '.join(row['variants'])})"
        entries.append((row["name"], description, ("×".join(map(str, row["input"])),
                                                   _count(row["params"], exact),
                                                   _count(row["macs"], exact)), ""))
    lines = _title("bundled specs (params and conv/fc MACs at each spec's own input)", width)
    fixed = render([name, *figures], [Row((n, *f)) for n, _, f, _ in entries]).width
    if width is None or width - fixed - 2 >= 40:
        cols = [name, Column("description", "description", kind="text", min_width=40),
                *figures]
        lines += _table(cols, [Row((n, d, *f), style) for n, d, f, style in entries], width)
        return lines
    table: list[Row] = []
    for n, d, f, style in entries:
        table.append(Row((n, *f), style))
        table.append(Row((d,), style or "dim", indent=1, note=True))
    lines += _table([name, *figures], table, width)
    return lines


_SPACES = re.compile(r"\s+")


def one_line(text: str) -> str:
    """Whitespace runs as single spaces (descriptions come from YAML comments)."""
    return _SPACES.sub(" ", text).strip()


def styled_lines(lines: Sequence[Line | str]) -> list[Line]:
    return [line if isinstance(line, Line) else Line(line) for line in lines]


Formatter = Callable[[int], str]
