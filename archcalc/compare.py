"""Comparisons the lectures argue with: spec against spec, and a spec against a rewrite of itself.

Two kinds of result, both pure values that the CLI renders:

* :func:`compare_specs` — totals of several reports side by side with ratios against the first
  (AlexNet vs VGG-16: params 2.3×, MACs 21.6×), and optionally their layers aligned by name.
* :func:`compare_rewrite` — a graph against a rewritten copy (:mod:`archcalc.rewrite`: separable,
  full-conv, bottleneck, factorize, fc-to-conv, and chains of them), per original layer and in
  total, with each step's totals; for an fc head made convolutional and run on a larger input,
  the output grid and one pass against separate crops (:class:`SlidingWindows`).

No cost is computed here: every figure comes from :func:`archcalc.engine.analyze_graph` on the
original and the rewritten graphs; this module pairs the rows and takes exact ratios.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .engine import CONVENTIONS, analyze_graph
from .errors import ArchcalcError
from .report import LayerRow, Report, fmt_shape
from .rewrite import REWRITES as REWRITE_NAMES
from .rewrite import (
    BottleneckTable,
    Replacement,
    Rewrite,
    Step,
    bottleneck,
    chain,
    factorize,
    fc_to_conv,
    full_conv,
    separable,
)
from .shapes import prod
from .tabular import latex_table, markdown_table

#: version of the JSON contract of `archcalc compare` (2: rewrite groups list their original
#: layers and rows, chains list their steps, fc-to-conv adds `sliding`; see the docs)
JSON_VERSION = 2

#: totals compared, in display order: (key of Totals.to_dict(), label)
METRICS: tuple[tuple[str, str], ...] = (
    ("params", "params"),
    ("macs", "MACs"),
    ("flops", "FLOPs"),
    ("activation_bytes", "activation memory"),
    ("peak_activation_bytes", "peak memory"),
)


def ratio(new: int, old: int) -> Fraction | None:
    """``new/old`` exactly; ``None`` when ``old`` is 0 (a ratio against nothing)."""
    return None if old == 0 else Fraction(new, old)


def _num(value: Fraction | int | None) -> int | float | None:
    """A JSON number: exact integers stay integers, other ratios become floats."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return float(value)


# =============================================================================== spec vs spec ==


@dataclass(frozen=True)
class AlignedRow:
    """One aligned layer name and the row of each report that has it (``None`` where absent)."""

    name: str
    rows: tuple[LayerRow | None, ...]


@dataclass(frozen=True)
class SpecComparison:
    """Several reports side by side; ratios are against the first (the baseline)."""

    reports: tuple[Report, ...]
    labels: tuple[str, ...]

    def total(self, i: int, key: str) -> int:
        value: int = self.reports[i].totals.to_dict()[key]
        return value

    def ratio(self, i: int, key: str) -> Fraction | None:
        """Totals of report ``i`` over the baseline's, e.g. ``ratio(1, "macs")``."""
        return ratio(self.total(i, key), self.total(0, key))

    def aligned(self) -> tuple[AlignedRow, ...]:
        """Layers of all reports aligned by name, in data-flow order.

        The union of the names is merged pairwise with :class:`difflib.SequenceMatcher`, so
        layers with the same name line up (AlexNet's and VGG-16's ``fc6``/``fc7``/``fc8``) and the
        others keep their order between them.
        """
        merged: list[str] = [row.name for row in self.reports[0].layers]
        for report in self.reports[1:]:
            names = [row.name for row in report.layers]
            matcher = difflib.SequenceMatcher(a=merged, b=names, autojunk=False)
            out: list[str] = []
            for tag, a0, a1, b0, b1 in matcher.get_opcodes():
                if tag == "equal":
                    out.extend(merged[a0:a1])
                else:
                    out.extend(merged[a0:a1])
                    out.extend(n for n in names[b0:b1] if n not in merged)
            merged = list(dict.fromkeys(out))
        lookup = [{row.name: row for row in r.layers} for r in self.reports]
        return tuple(AlignedRow(name, tuple(t.get(name) for t in lookup)) for name in merged)

    def to_dict(self, *, by_layer: bool = False) -> dict[str, Any]:
        """JSON contract of ``archcalc compare A B …`` (see docs/compare-explain-sweep.md)."""
        base = self.reports[0]
        out: dict[str, Any] = {
            "archcalc_compare": JSON_VERSION,
            "mode": "specs",
            "batch": base.batch,
            "dtype": base.dtype,
            "convention": base.convention,
            "columns": [
                {
                    "label": label,
                    "name": report.name,
                    "input_shape": list(report.input_shape),
                    "scale": dict(report.scale),
                    "totals": report.totals.to_dict(),
                    "ratios": {key: _num(self.ratio(i, key)) for key, _ in METRICS},
                }
                for i, (label, report) in enumerate(zip(self.labels, self.reports, strict=True))
            ],
        }
        if by_layer:
            out["layers"] = [
                {"name": a.name, "rows": [None if r is None else r.to_dict() for r in a.rows]}
                for a in self.aligned()
            ]
        return out

    def to_json(self, *, by_layer: bool = False) -> str:
        return json.dumps(self.to_dict(by_layer=by_layer), indent=2, ensure_ascii=False) + "\n"

    def to_csv(self, *, by_layer: bool = False) -> str:
        """Totals: one row per spec with its ratios; ``by_layer``: one row per aligned layer."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if by_layer:
            writer.writerow(["layer", *(f"{lab}:{m}" for lab in self.labels
                                        for m in ("params", "macs", "activation_bytes"))])
            for a in self.aligned():
                cells: list[Any] = [a.name]
                for row in a.rows:
                    cells += ["", "", ""] if row is None else [row.params, row.macs,
                                                               row.activation_bytes]
                writer.writerow(cells)
            return out.getvalue()
        writer.writerow(["spec", *(k for k, _ in METRICS), *(f"{k}_ratio" for k, _ in METRICS)])
        for i, label in enumerate(self.labels):
            writer.writerow([label, *(self.total(i, k) for k, _ in METRICS),
                             *(_fmt_ratio(self.ratio(i, k)) for k, _ in METRICS)])
        return out.getvalue()

    def totals_cells(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the totals table: a row per metric, a column per spec, each
        value with its ratio to the first spec."""
        header = ["", *self.labels]
        rows = []
        for key, label in METRICS:
            cells = [fmt_metric(key, self.total(0, key))]
            for i in range(1, len(self.reports)):
                r = self.ratio(i, key)
                cells.append(fmt_metric(key, self.total(i, key))
                             + ("" if r is None else f" ({fmt_times(r)})"))
            conv = f" ({self.reports[0].convention})" if key == "flops" else ""
            rows.append([label + conv, *cells])
        return header, rows

    def layer_cells(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the aligned layers: params and MACs of each spec."""
        header = ["layer", *(f"{lab} {m}" for lab in self.labels for m in ("params", "MACs"))]
        rows = []
        for a in self.aligned():
            cells = [a.name]
            for row in a.rows:
                cells += ["", ""] if row is None else [f"{row.params:,}", f"{row.macs:,}"]
            rows.append(cells)
        return header, rows

    def to_markdown(self, *, by_layer: bool = False) -> str:
        header, rows = self.totals_cells()
        text = markdown_table(header, rows, [False, *([True] * len(self.labels))])
        if by_layer:
            header, rows = self.layer_cells()
            text += "\n" + markdown_table(header, rows, [False, *([True] * (len(header) - 1))])
        return text

    def to_latex(self, *, by_layer: bool = False) -> str:
        """booktabs tables for a slide: the totals with ratios, then (``by_layer``) the aligned
        layers."""
        header, rows = self.totals_cells()
        conv = CONVENTIONS[self.reports[0].convention].description
        text = latex_table(header, rows, [False, *([True] * len(self.labels))],
                           title="compare: ratios against " + self.labels[0],
                           notes=["KB = bytes / 1024, MB = bytes / 1024^2", conv])
        if by_layer:
            header, rows = self.layer_cells()
            text += "\n" + latex_table(header, rows, [False, *([True] * (len(header) - 1))])
        return text


def compare_specs(reports: Sequence[Report], labels: Sequence[str] | None = None
                  ) -> SpecComparison:
    """Side-by-side totals; the first report is the baseline of every ratio."""
    if len(reports) < 2:
        raise ArchcalcError("compare needs at least two specs (or one spec and a rewrite)",
                            hint="e.g. `archcalc compare alexnet vgg16` or "
                                 "`archcalc compare separable_example --separable`")
    names = tuple(labels) if labels is not None else tuple(r.name for r in reports)
    if len(set(names)) != len(names):
        names = tuple(f"{n} [{i + 1}]" for i, n in enumerate(names))
    if len({(r.batch, r.dtype, r.convention) for r in reports}) != 1:
        raise ArchcalcError("the reports to compare use different batch, dtype or convention")
    return SpecComparison(tuple(reports), names)


# ================================================================================== rewrites ==
# The rewrites themselves live in archcalc.rewrite; they are re-exported here (the public names
# of this module since the first version).


@dataclass(frozen=True)
class LayerGroup:
    """Original layers and the layers that replaced them (``after`` equals ``before`` if kept).

    Usually one original layer; two for a depthwise + pointwise pair made one conv; none of the
    after rows for a removed flatten. ``reshaped``: kept, but its input (and so its row) changed.
    """

    before: tuple[LayerRow, ...]
    after: tuple[LayerRow, ...]
    changed: bool
    note: str
    theory: Fraction | None
    theory_text: str
    reshaped: bool = False

    @property
    def original(self) -> LayerRow:
        return self.before[0]

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.after)

    @property
    def params(self) -> int:
        return sum(r.params for r in self.after)

    @property
    def flops(self) -> int:
        return sum(r.flops for r in self.after)

    @property
    def before_macs(self) -> int:
        return sum(r.macs for r in self.before)

    @property
    def ratio(self) -> Fraction | None:
        """MACs after over MACs before."""
        return ratio(self.macs, self.before_macs)

    @property
    def shown(self) -> bool:
        """Worth a line in the per-layer table: replaced, re-shaped, or kept with a note."""
        return self.changed or self.reshaped

    def to_dict(self) -> dict[str, Any]:
        def rows(rs: tuple[LayerRow, ...]) -> list[dict[str, Any]]:
            return [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                     "params": r.params, "macs": r.macs, "flops": r.flops} for r in rs]

        def total(rs: tuple[LayerRow, ...]) -> dict[str, int]:
            return {k: sum(getattr(r, k) for r in rs) for k in ("params", "macs", "flops")}

        return {
            "layers": [r.name for r in self.before],
            "changed": self.changed,
            "reshaped": self.reshaped,
            "note": self.note,
            "before": rows(self.before),
            "before_total": total(self.before),
            "after": rows(self.after),
            "after_total": total(self.after),
            "ratio": _num(self.ratio),
            "theory": _num(self.theory),
            "theory_text": self.theory_text,
        }


@dataclass(frozen=True)
class SlidingWindows:
    """An fc head made convolutional and run on a larger input (OverFeat): the output grid is
    one result per window of the spec's input size (``crop_shape``), ``stride`` input pixels
    apart (the receptive-field jump of the output); one pass against a separate run per crop.

    ``field`` is the receptive field of one output unit. It equals the crop when the network
    does not pad (OverFeat's example: 14); with padding it is larger (AlexNet: 355 px for a
    227 px crop) and windows inside the image see real pixels where a separate crop sees the
    zeros of its padding, so only the cost, not every value, is that of separate crops.
    """

    crop_shape: tuple[int, ...]
    input_shape: tuple[int, ...]
    grid: tuple[int, ...]
    field: tuple[int | float, ...]
    stride: tuple[int | float, ...]
    pass_macs: int
    crop_macs: int

    @property
    def size(self) -> tuple[int, ...]:
        """Window size per axis: the spec's input size."""
        return tuple(self.crop_shape[1:])

    @property
    def windows(self) -> int:
        return prod(self.grid)

    @property
    def crops_macs(self) -> int:
        """``windows × crop_macs``: every window run through the network on its own."""
        return self.windows * self.crop_macs

    @property
    def ratio(self) -> Fraction | None:
        return ratio(self.pass_macs, self.crops_macs)

    def lines(self) -> list[str]:
        """The summary as a lecturer reads it, one statement per line."""
        axes = "×".join(map(str, self.grid))
        size, stride = _axis_text(self.size), _axis_text(self.stride)
        r = self.ratio
        out = [
            f"on {fmt_shape(self.input_shape)} the output grid is {axes} = "
            f"{self.windows:,} windows of {size} px (the spec's input), {stride} px apart",
            f"one pass: {self.pass_macs:,} MACs",
            f"{self.windows:,} separate crops: {self.windows:,} × {self.crop_macs:,} = "
            f"{self.crops_macs:,} MACs",
            "one pass / separate crops = " + ("–" if r is None else
                                              f"{fmt_times(r)} ({_saving(r)})"),
        ]
        if self.field != self.size:
            out.append(f"the network pads: each result sees {_axis_text(self.field)} px, so "
                       "windows inside the image see pixels where a lone crop sees padding")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "crop_shape": list(self.crop_shape),
            "input_shape": list(self.input_shape),
            "grid": list(self.grid),
            "windows": self.windows,
            "window_size": list(self.size),
            "window_stride": list(self.stride),
            "receptive_field": list(self.field),
            "pass_macs": self.pass_macs,
            "crop_macs": self.crop_macs,
            "crops_macs": self.crops_macs,
            "ratio": _num(self.ratio),
        }


def _exact(value: int | Fraction) -> int | float:
    frac = Fraction(value)
    return int(frac) if frac.denominator == 1 else float(frac)


def _axis_text(values: tuple[int | float, ...]) -> str:
    text = [f"{v:g}" for v in values]
    return text[0] if len(set(text)) == 1 else "×".join(text)


def _saving(r: Fraction) -> str:
    return (f"saves {float(1 - r):.1%}" if r < 1 else f"costs {float(r - 1):.1%} more")


@dataclass(frozen=True)
class RewriteComparison:
    """A graph's report against its rewrite's, per original layer and in total.

    ``stages`` has the report after each step of a chain (the last is ``after``); ``sliding`` is
    set when an fc head made convolutional ran on a larger input.
    """

    rewrite: Rewrite
    before: Report
    after: Report
    groups: tuple[LayerGroup, ...]
    stages: tuple[Report, ...] = ()
    sliding: SlidingWindows | None = None
    only: tuple[str, ...] = ()

    def total_ratio(self, key: str) -> Fraction | None:
        return ratio(self.after.totals.to_dict()[key], self.before.totals.to_dict()[key])

    @property
    def changed(self) -> tuple[LayerGroup, ...]:
        return tuple(g for g in self.groups if g.changed)

    @property
    def shown(self) -> tuple[LayerGroup, ...]:
        return tuple(g for g in self.groups if g.shown)

    def columns(self) -> list[tuple[str, Report]]:
        """(label, report): the original, then the result after each step of the chain."""
        steps = self.rewrite.steps or (Step(self.rewrite.kind, "", ""),)
        reports = self.stages or (self.after,)
        labels = [s.kind if i == 0 else f"+{s.kind}" for i, s in enumerate(steps)]
        return [("original", self.before), *zip(labels, reports, strict=True)]

    def to_dict(self, *, by_layer: bool = True) -> dict[str, Any]:
        """JSON contract of ``archcalc compare SPEC --separable`` (and the other rewrites)."""
        base = self.before.totals.to_dict()
        out: dict[str, Any] = {
            "archcalc_compare": JSON_VERSION,
            "mode": self.rewrite.kind,
            "description": self.rewrite.description,
            "theory_label": self.rewrite.theory_label,
            "steps": [{"kind": s.kind, "description": s.description,
                       "theory_label": s.theory_label} for s in self.rewrite.steps],
            "only": list(self.only),
            "batch": self.before.batch,
            "dtype": self.before.dtype,
            "convention": self.before.convention,
            "columns": [
                {"label": label, "name": report.name,
                 "input_shape": list(report.input_shape), "scale": dict(report.scale),
                 "totals": report.totals.to_dict(),
                 "ratios": {k: _num(ratio(report.totals.to_dict()[k], base[k]))
                            for k, _ in METRICS}}
                for label, report in self.columns()
            ],
            "sliding": None if self.sliding is None else self.sliding.to_dict(),
        }
        if by_layer:
            out["layers"] = [g.to_dict() for g in self.groups]
        return out

    def to_json(self, *, by_layer: bool = True) -> str:
        return json.dumps(self.to_dict(by_layer=by_layer), indent=2, ensure_ascii=False) + "\n"

    def to_csv(self, *, by_layer: bool = True) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if not by_layer:
            base = self.before.totals.to_dict()
            writer.writerow(["spec", *(k for k, _ in METRICS), *(f"{k}_ratio" for k, _ in METRICS)])
            for label, report in self.columns():
                t = report.totals.to_dict()
                writer.writerow([label, *(t[k] for k, _ in METRICS),
                                 *(_fmt_ratio(ratio(t[k], base[k])) for k, _ in METRICS)])
            return out.getvalue()
        writer.writerow(["layer", "type", "changed", "params_before", "macs_before",
                         "replaced_by", "params_after", "macs_after", "ratio", "theory"])
        for g in self.groups:
            writer.writerow([" ".join(r.name for r in g.before),
                             " ".join(layer_kind(r) for r in g.before), int(g.changed),
                             sum(r.params for r in g.before), g.before_macs,
                             " ".join(r.name for r in g.after), g.params, g.macs,
                             _fmt_ratio(g.ratio), _fmt_ratio(g.theory)])
        t0, t1 = self.before.totals, self.after.totals
        writer.writerow(["total", "", "", t0.params, t0.macs, "", t1.params, t1.macs,
                         _fmt_ratio(self.total_ratio("macs")), ""])
        return out.getvalue()

    def totals_cells(self) -> tuple[list[str], list[list[str]]]:
        """Header and rows of the totals table: a row per metric, a column per stage."""
        cols = self.columns()
        header = ["", *(label for label, _ in cols), "ratio"]
        rows = []
        for key, label in METRICS:
            a = self.before.totals.to_dict()[key]
            cells = [fmt_metric(key, r.totals.to_dict()[key]) for _, r in cols]
            r = self.total_ratio(key)
            rows.append([label + (f" ({self.before.convention})" if key == "flops" else ""),
                         *cells, "" if r is None or a == 0 else fmt_times(r)])
        return header, rows

    def layer_cells(self, *, every: bool = False) -> list[list[str]]:
        """Per-layer table rows: layer, type, MACs before, → replaced by, MACs after, ratio,
        formula (``every``: also the unchanged layers)."""
        rows = []
        for g in (self.groups if every else self.shown):
            before = " + ".join(r.name for r in g.before)
            parts = " + ".join(f"{r.name} {r.macs:,}" for r in g.after) or "(removed)"
            rows.append([before, " + ".join(layer_kind(r) for r in g.before),
                         f"{g.before_macs:,}", parts if g.shown else "", f"{g.macs:,}",
                         _fmt_ratio3(g.ratio) if g.shown else "", _theory_cell(g)])
        return rows

    def _layer_header(self) -> list[str]:
        return ["layer", "type", "MACs", "→", "MACs after", "ratio", self.rewrite.theory_label]

    def to_markdown(self, *, by_layer: bool = True) -> str:
        header, rows = self.totals_cells()
        right = [False, *([True] * (len(header) - 1))]
        text = f"**{self.before.name}** — {self.rewrite.description}\n\n"
        text += markdown_table(header, rows, right)
        if self.sliding is not None:
            text += "\n" + "".join(f"{line}  \n" for line in self.sliding.lines())
        if by_layer:
            text += "\n" + markdown_table(self._layer_header(), self.layer_cells(),
                                          [False, False, True, False, True, True, True])
        return text

    def to_latex(self, *, by_layer: bool = True) -> str:
        """booktabs tables for a slide: the totals, then (``by_layer``) the changed layers."""
        header, rows = self.totals_cells()
        notes = [CONVENTIONS[self.before.convention].description]
        if self.sliding is not None:
            notes = [*self.sliding.lines(), *notes]
        text = latex_table(header, rows, [False, *([True] * (len(header) - 1))],
                           title=f"{self.before.name}: {self.rewrite.description}", notes=notes)
        if by_layer:
            text += "\n" + latex_table(self._layer_header(), self.layer_cells(),
                                       [False, False, True, False, True, True, True])
        return text


def _theory_cell(g: LayerGroup) -> str:
    if g.theory is None:
        return ""
    return f"{g.theory_text} = {_fmt_ratio3(g.theory)}"


def _fmt_ratio3(r: Fraction | None) -> str:
    """Three significant digits, as every human format writes a ratio (0.311, 0.720)."""
    from .units import ratio as three_digits

    return "" if r is None else three_digits(r)


def compare_rewrite(rewrite: Rewrite, *, batch: int = 1, dtype: str = "float32",
                    convention: str = "lecture", only: Sequence[str] = ()) -> RewriteComparison:
    """Cost the original and every step's graph with the engine and pair every original layer
    with its replacement. When the rewritten graph runs on another input than the original
    (an fc head made convolutional, on a larger image), the sliding-window summary is added and
    the per-layer formulas (which hold at the original input) are dropped."""
    before = analyze_graph(rewrite.before, batch=batch, dtype=dtype, convention=convention)
    graphs = rewrite.graphs or (rewrite.after,)
    stages = tuple(analyze_graph(g, batch=batch, dtype=dtype, convention=convention)
                   for g in graphs)
    after = stages[-1]
    moved = after.input_shape != before.input_shape
    rows_before = {row.name: row for row in before.layers}
    rows_after = {row.name: row for row in after.layers}
    order = {row.name: i for i, row in enumerate(before.layers)}
    covered: set[str] = set()
    found: list[tuple[int, LayerGroup]] = []
    for rep in rewrite.replacements:
        covered.update(rep.originals)
        group = LayerGroup(
            tuple(rows_before[n] for n in rep.originals),
            tuple(rows_after[n] for n in rep.nodes), rep.changed, rep.note,
            None if moved else rep.theory, "" if moved else rep.theory_text,
            rep.reshaped)
        found.append((min(order[n] for n in rep.originals), group))
    for row in before.layers:
        if row.name not in covered:
            new = rows_after[row.name]
            reshaped = moved and (new.output_shape, new.macs) != (row.output_shape, row.macs)
            found.append((order[row.name], LayerGroup((row,), (new,), False, "", None, "",
                                                      reshaped)))
    groups = tuple(g for _, g in sorted(found, key=lambda item: item[0]))
    return RewriteComparison(rewrite, before, after, groups, stages,
                             _sliding(before, after) if moved else None, tuple(only))


def _sliding(before: Report, after: Report) -> SlidingWindows:
    out = after.layer(after.output)
    grid = tuple(out.output_shape[1:]) or (1,)
    rf = out.receptive_field
    size = tuple(_exact(a.size) for a in rf) if rf else tuple(before.input_shape[1:])
    stride = tuple(_exact(a.jump) for a in rf) if rf else tuple(0 for _ in grid)
    return SlidingWindows(tuple(before.input_shape), tuple(after.input_shape), grid, size,
                          stride, after.totals.macs, before.totals.macs)


#: rewrite name (as on the command line, without --) → what it does
REWRITES = REWRITE_NAMES


# ------------------------------------------------------------------------------- formatting --


def layer_kind(row: LayerRow) -> str:
    return "+".join((row.type, *row.post))


def fmt_times(r: Fraction) -> str:
    """A ratio as every format prints it (:func:`archcalc.units.ratio` and ``×``): ``2.26×``,
    ``21.6×``, ``0.311×``, ``0.00833×``."""
    from .units import ratio as three_digits

    return three_digits(r) + "×"


def _fmt_ratio(r: Fraction | None) -> str:
    return "" if r is None else f"{float(r):.6g}"


def fmt_metric(key: str, value: int) -> str:
    """Exact integers for counts; bytes as the lectures' KB (bytes / 1024) below 1 MB, else as
    MB (bytes / 1024²)."""
    if key.endswith("bytes"):
        if value < 2**20:
            return f"{value / 2**10:,.2f} KB"
        return f"{value / 2**20:,.2f} MB"
    return f"{value:,}"


__all__ = [
    "METRICS",
    "REWRITES",
    "AlignedRow",
    "BottleneckTable",
    "LayerGroup",
    "Replacement",
    "Rewrite",
    "RewriteComparison",
    "SlidingWindows",
    "SpecComparison",
    "bottleneck",
    "chain",
    "compare_rewrite",
    "compare_specs",
    "factorize",
    "fc_to_conv",
    "fmt_times",
    "full_conv",
    "separable",
]
