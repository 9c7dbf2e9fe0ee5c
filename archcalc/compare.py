"""Comparisons the lectures argue with: spec against spec, and a spec against a rewrite of itself.

Two kinds of result, both pure values that the CLI renders:

* :func:`compare_specs` — totals of several reports side by side with ratios against the first
  (AlexNet vs VGG-16: params 2.3×, MACs 21.6×), and optionally their layers aligned by name.
* :func:`compare_rewrite` — a graph against a rewritten copy, per original layer and in total.
  The rewrites work on the built :class:`~archcalc.graph.Graph`:

  - :func:`separable`: every standard K×K conv (K > 1, groups = 1) → depthwise K×K + pointwise
    1×1; per layer the MAC ratio is exactly ``1/N + 1/K²`` (N output channels; seed 000:
    (432 + 240)/2160 = 672/2160 = 14/45 = 1/5 + 1/9 ≈ 0.31);
  - :func:`bottleneck`: a 1×1 reduction to R channels before each K×K conv; at stride 1 the ratio
    is ``R/C_in + R/(K²·N)`` (seed 000: (2.4M + 10M)/120M; seed 001: (1.5M + 3.8M)/112.9M);
  - :func:`factorize`: a K×K conv (odd K ≥ 5) → (K − 1)/2 stacked 3×3 convs (25 → 18 per
    position for 5×5), a 3×3 conv → 3×1 then 1×3 (9 → 6 per position).

No cost is computed here: new nodes are instances of the layer classes of :mod:`archcalc.layers`,
shapes are re-derived through their ``out_shape`` rules, and both graphs are costed by
:func:`archcalc.engine.analyze_graph`. Every replacement is checked to produce exactly the shape
of the layer it replaces, so the rest of the graph is unchanged.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .engine import analyze_graph
from .errors import ArchcalcError, LayerArgError, ShapeError
from .graph import INPUT, Graph, Node
from .layers import Conv, DWConv, Layer, PWConv
from .report import LayerRow, Report
from .shapes import Shape, prod

JSON_VERSION = 1

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


def _num(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


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

    def to_markdown(self, *, by_layer: bool = False) -> str:
        base = self.reports[0]
        inputs = " / ".join(dict.fromkeys("×".join(map(str, r.input_shape))
                                          for r in self.reports))
        lines = [f"**compare** — ratios against {self.labels[0]} · input {inputs} · batch "
                 f"{base.batch} · {base.dtype} · FLOPs: {base.convention}", "",
                 "| | " + " | ".join(self.labels) + " |",
                 "|---|" + "---:|" * len(self.labels)]
        for key, label in METRICS:
            cells = [fmt_metric(key, self.total(0, key))]
            for i in range(1, len(self.reports)):
                r = self.ratio(i, key)
                cells.append(fmt_metric(key, self.total(i, key))
                             + ("" if r is None else f" ({fmt_times(r)})"))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        text = "\n".join(lines) + "\n"
        if by_layer:
            head = "| layer | " + " | ".join(f"{lab} params | {lab} MACs" for lab in self.labels)
            rows = [head + " |", "|---|" + "---:|---:|" * len(self.labels)]
            for a in self.aligned():
                cells = []
                for row in a.rows:
                    cells += ["", ""] if row is None else [f"{row.params:,}", f"{row.macs:,}"]
                rows.append(f"| {a.name} | " + " | ".join(cells) + " |")
            text += "\n" + "\n".join(rows) + "\n"
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


@dataclass(frozen=True)
class Part:
    """One layer of a replacement chain: name suffix, main layer, fused post layers."""

    suffix: str
    op: Layer
    post: tuple[Layer, ...]


@dataclass(frozen=True)
class Plan:
    """What a rewrite does to one node: a chain of parts (``()``: kept) and why."""

    parts: tuple[Part, ...]
    note: str
    theory: Fraction | None = None
    theory_text: str = ""


@dataclass(frozen=True)
class Replacement:
    """One node of the original graph and the names of the nodes that replace it."""

    original: str
    nodes: tuple[str, ...]
    note: str
    theory: Fraction | None = None
    theory_text: str = ""

    @property
    def changed(self) -> bool:
        return self.nodes != (self.original,)


@dataclass(frozen=True)
class Rewrite:
    """A rewritten graph and the node-by-node correspondence with the original."""

    kind: str
    description: str
    theory_label: str
    before: Graph
    after: Graph
    replacements: tuple[Replacement, ...]


Planner = Callable[[Node], Plan | None]


def _std_conv(node: Node) -> tuple[Conv, tuple[tuple[int, ...], ...]] | str:
    """The conv and its geometry if ``node`` is a standard conv, else why not (a note)."""
    op = node.op
    if not isinstance(op, Conv) or isinstance(op, DWConv):
        return ""
    cin = node.in_shapes[0][0]
    if op.connections is not None:
        return "partial connection table: kept"
    if op.group_count(cin) != 1:
        return f"grouped conv (groups = {op.group_count(cin)}): kept"
    return op, op.geometry(node.in_shapes[0])


def _kernel_text(k: tuple[int, ...]) -> str:
    return "×".join(map(str, k))


def _separable_plan(node: Node) -> Plan | None:
    found = _std_conv(node)
    if isinstance(found, str):
        return Plan((), found) if found else None
    op, (k, _s, _d, _ke, _lo, _hi) = found
    if prod(k) == 1:
        return Plan((), "1×1 conv: already pointwise")
    cout = node.out_shape[0]
    dims = op.dims
    dw = DWConv(k=op.k, s=op.s, p=op.p, d=op.d, bias=op.bias, dims=dims)
    pw = PWConv(out=cout, bias=op.bias, dims=dims)
    theory = Fraction(1, cout) + Fraction(1, prod(k))
    return Plan(
        (Part("dw", dw, node.post), Part("pw", pw, node.post)),
        f"{_kernel_text(k)} conv → depthwise {_kernel_text(k)} + pointwise 1×1",
        theory,
        f"1/{cout} + 1/{prod(k)}",
    )


def separable(graph: Graph) -> Rewrite:
    """Every standard K×K conv (K > 1, groups = 1) → depthwise K×K + pointwise 1×1.

    The depthwise conv keeps the kernel, stride, padding and dilation (so the spatial size is
    unchanged) and maps C_in → C_in; the pointwise conv maps C_in → N. Each takes the original's
    bias flag and fused BN/activation (MobileNet's Fig. 3: dw-BN-ReLU, pw-BN-ReLU). MACs per output
    position: ``C_in·K²`` + ``C_in·N`` against ``C_in·K²·N``, i.e. the ratio ``1/N + 1/K²``.
    """
    return _rewrite(graph, "separable", "depthwise-separable rewrite of every K×K conv",
                    "1/N + 1/K²", _separable_plan)


def bottleneck(graph: Graph, channels: int) -> Rewrite:
    """Insert a 1×1 conv reducing to ``channels`` (R) before each standard K×K conv (K > 1).

    Convs whose input already has ≤ R channels are kept (no reduction possible). The 1×1 takes
    the original's bias flag and fused BN/activation. MACs: ``H·W·R·C_in`` (1×1 at the input
    size) + ``H′·W′·K²·R·N`` against ``H′·W′·K²·C_in·N``; at stride 1 the ratio is
    ``R/C_in + R/(K²·N)``.
    """
    if channels < 1:
        raise ArchcalcError(f"--bottleneck needs a positive channel count, got {channels}")

    def plan(node: Node) -> Plan | None:
        found = _std_conv(node)
        if isinstance(found, str):
            return Plan((), found) if found else None
        op, (k, s, *_rest) = found
        if prod(k) == 1:
            return Plan((), "1×1 conv: kept")
        cin, cout = node.in_shapes[0][0], node.out_shape[0]
        if cin <= channels:
            return Plan((), f"C_in = {cin} ≤ R = {channels}: nothing to reduce")
        reduce = PWConv(out=channels, bias=op.bias, dims=op.dims)
        theory = None
        text = ""
        if all(v == 1 for v in s):
            theory = Fraction(channels, cin) + Fraction(channels, prod(k) * cout)
            text = f"{channels}/{cin} + {channels}/({prod(k)}·{cout})"
        return Plan(
            (Part("reduce", reduce, node.post), Part("conv", op, node.post)),
            f"1×1 reduction {cin} → {channels}, then the {_kernel_text(k)} conv",
            theory,
            text,
        )

    return _rewrite(graph, "bottleneck", f"1×1 bottleneck to {channels} channels before each "
                    "K×K conv", "R/C_in + R/(K²·N)", plan)


def _stack_pads(n: int, lo: int, hi: int, s: int, target: int, m: int
                ) -> list[tuple[int, int]] | None:
    """Per-layer (before, after) padding of ``m`` stacked 3×3 convs on one axis, the first with
    stride ``s``, so that ``n`` maps to ``target`` — the original K×K conv's output size.

    The first conv gives ``⌊(n + P₁ − 3)/s⌋ + 1``; each later stride-1 conv removes ``2 − Q_i``
    (Q_i its total padding, 0 to 2). Stride 1 keeps the original padding shared out (any split
    works: the sizes add up). Otherwise P₁ = P − (K − 3) and "same" later convs are tried first
    (the usual design: 5×5/2 p2 → 3×3/2 p1 + 3×3/1 p1), then the nearest P₁ that works.
    """
    if s == 1:
        los = [lo // m + (1 if i < lo % m else 0) for i in range(m)]
        his = [hi // m + (1 if i < hi % m else 0) for i in range(m)]
        return list(zip(los, his, strict=True))
    ideal = lo + hi - 2 * (m - 1)
    for p1 in sorted(range(0, lo + hi + 3), key=lambda v: (abs(v - ideal), v)):
        if n + p1 < 3:
            continue
        surplus = (n + p1 - 3) // s + 1 - target  # to remove with the stride-1 convs
        if not 0 <= surplus <= 2 * (m - 1):
            continue
        cuts = [min(2, surplus - 2 * i) if surplus > 2 * i else 0 for i in range(m - 1)]
        rest = [(1, 1) if c == 0 else (0, 1) if c == 1 else (0, 0) for c in cuts]
        return [(p1 // 2, p1 - p1 // 2), *rest]
    return None


def _factorize_plan(node: Node) -> Plan | None:
    found = _std_conv(node)
    if isinstance(found, str):
        return Plan((), found) if found else None
    op, (k, s, d, _ke, lo, hi) = found
    rank = len(k)
    cout = node.out_shape[0]
    if any(v != 1 for v in d):
        return Plan((), "dilated conv: kept")
    if len(set(k)) != 1:
        return Plan((), f"non-square kernel {_kernel_text(k)}: kept")
    kk = k[0]
    if kk >= 5 and kk % 2 == 1:
        # K = 2m + 1 → m stacked 3×3 convs, the stride on the first (Inception-v3's stem)
        m = (kk - 1) // 2
        in_sizes = node.in_shapes[0][1:]
        per_axis = [_stack_pads(in_sizes[a], lo[a], hi[a], s[a], node.out_shape[1 + a], m)
                    for a in range(rank)]
        if any(p is None for p in per_axis):
            return Plan((), f"{_kernel_text(k)} stride {_kernel_text(s)}: no 3×3 stack gives "
                        "the same output size; kept")
        parts = []
        for i in range(m):
            pads = tuple(p[i] for p in per_axis if p is not None)
            conv = Conv(out=cout, k=3, s=s if i == 0 else 1, p=pads, bias=op.bias, dims=op.dims)
            parts.append(Part(f"3x3_{i + 1}", conv, node.post))
        return Plan(tuple(parts), f"{_kernel_text(k)} conv → {m} stacked "
                    f"{_kernel_text((3,) * rank)} convs", Fraction(m * 3**rank, kk**rank),
                    f"{m}·{3**rank}/{kk**rank}")
    if kk == 3 and rank >= 2:
        # 3×3 → 3×1 then 1×3: each conv spans one axis, with that axis' stride and padding
        parts = []
        kernels = []
        for a in range(rank):
            kernel = tuple(3 if b == a else 1 for b in range(rank))
            kernels.append(_kernel_text(kernel))
            stride = tuple(s[a] if b == a else 1 for b in range(rank))
            pads = tuple((lo[a], hi[a]) if b == a else (0, 0) for b in range(rank))
            conv = Conv(out=cout, k=kernel, s=stride, p=pads, bias=op.bias, dims=op.dims)
            parts.append(Part(_kernel_text(kernel).replace("×", "x"), conv, node.post))
        return Plan(tuple(parts), f"{_kernel_text(k)} conv → {' + '.join(kernels)}",
                    Fraction(3 * rank, 3**rank), f"{3 * rank}/{3**rank}")
    if prod(k) == 1:
        return Plan((), "1×1 conv: kept")
    if kk == 3:
        return Plan((), "a 1D kernel of 3 has no smaller factorisation: kept")
    return Plan((), f"{_kernel_text(k)} kernel: only odd K factorizes")


def factorize(graph: Graph) -> Rewrite:
    """Inception-v3's factorisations of standard convs (groups = 1, no dilation, square K).

    * K×K with odd K ≥ 5 → (K − 1)/2 stacked 3×3 convs, each C → N (the first C_in → N): per
      output position and channel pair ``m·9`` against ``K²`` weights (5×5: 18 vs 25, −28 %).
      The first conv takes the stride (as Inception-v3's stem); paddings are chosen by
      :func:`_stack_pads` so that the output size is exactly the original's (a strided conv
      whose size no stack reproduces is kept, with a note).
    * 3×3 → 3×1 then 1×3 (in 3D: 3×1×1, 1×3×1, 1×1×3): ``3 + 3`` against ``9`` (−33 %).

    Every new conv takes the original's bias flag and fused BN/activation (Inception-v3 follows
    each conv by BN-ReLU). The per-position ratios are exact when C_in = N and the stride is 1.
    """
    return _rewrite(graph, "factorize", "K×K → stacked 3×3; 3×3 → 3×1 + 1×3",
                    "weights per position", _factorize_plan)


def _rewrite(graph: Graph, kind: str, description: str, theory_label: str,
             planner: Planner) -> Rewrite:
    taken = {INPUT, *(n.name for n in graph.nodes)}
    rename: dict[str, str] = {INPUT: INPUT}
    shapes: dict[str, Shape] = {INPUT: graph.input_shape}
    nodes: list[Node] = []
    replacements: list[Replacement] = []
    for node in graph.nodes:
        inputs = tuple(rename[i] for i in node.inputs)
        plan = planner(node)
        if plan is None or not plan.parts:
            new = _shaped(node, node.name, node.op, node.post, inputs, shapes)
            nodes.append(new)
            rename[node.name] = node.name
            if plan is not None:
                replacements.append(Replacement(node.name, (node.name,), plan.note))
            continue
        names: list[str] = []
        cur = inputs
        for part in plan.parts:
            name = _unique(f"{node.name}.{part.suffix}", taken)
            new = _shaped(node, name, part.op, part.post, cur, shapes)
            nodes.append(new)
            names.append(name)
            cur = (name,)
        if shapes[names[-1]] != node.out_shape:  # internal invariant of every planner
            raise RuntimeError(
                f"{kind} rewrite of {node.name} gives {list(shapes[names[-1]])}, "
                f"not {list(node.out_shape)}"
            )
        rename[node.name] = names[-1]
        replacements.append(Replacement(node.name, tuple(names), plan.note, plan.theory,
                                        plan.theory_text))
    after = Graph(
        name=f"{graph.name} ({kind})",
        file=graph.file,
        input_shape=graph.input_shape,
        nodes=tuple(nodes),
        output=rename[graph.output],
        scale=dict(graph.scale),
        warnings=graph.warnings,
    )
    return Rewrite(kind, description, theory_label, graph, after, tuple(replacements))


def _unique(name: str, taken: set[str]) -> str:
    candidate, i = name, 1
    while candidate in taken:
        i += 1
        candidate = f"{name}{i}"
    taken.add(candidate)
    return candidate


def _shaped(origin: Node, name: str, op: Layer, post: tuple[Layer, ...],
            inputs: tuple[str, ...], shapes: dict[str, Shape]) -> Node:
    """A node with its shapes derived by the layer rules (errors name the layer)."""
    in_shapes = tuple(shapes[i] for i in inputs)
    try:
        out = op.out_shape(in_shapes)
        for layer in post:
            layer.out_shape((out,))
    except LayerArgError as exc:
        raise ShapeError(exc.what, loc=origin.loc, layer=f"{name} (rewritten from "
                         f"{origin.name})", hint=exc.hint) from None
    shapes[name] = out
    return Node(name, op, post, inputs, in_shapes, out, origin.loc, origin.context, origin.path)


# ------------------------------------------------------------------------ rewrite comparison --


@dataclass(frozen=True)
class LayerGroup:
    """One original layer and the layers that replace it (``after`` is the same row if kept)."""

    original: LayerRow
    after: tuple[LayerRow, ...]
    changed: bool
    note: str
    theory: Fraction | None
    theory_text: str

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
    def ratio(self) -> Fraction | None:
        """MACs after over MACs before."""
        return ratio(self.macs, self.original.macs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.original.name,
            "type": self.original.type,
            "changed": self.changed,
            "note": self.note,
            "before": {"params": self.original.params, "macs": self.original.macs,
                       "flops": self.original.flops},
            "after": [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                       "params": r.params, "macs": r.macs, "flops": r.flops}
                      for r in self.after],
            "after_total": {"params": self.params, "macs": self.macs, "flops": self.flops},
            "ratio": _num(self.ratio),
            "theory": _num(self.theory),
            "theory_text": self.theory_text,
        }


@dataclass(frozen=True)
class RewriteComparison:
    """A graph's report against its rewrite's, per original layer and in total."""

    rewrite: Rewrite
    before: Report
    after: Report
    groups: tuple[LayerGroup, ...]

    def total_ratio(self, key: str) -> Fraction | None:
        return ratio(self.after.totals.to_dict()[key], self.before.totals.to_dict()[key])

    @property
    def changed(self) -> tuple[LayerGroup, ...]:
        return tuple(g for g in self.groups if g.changed)

    def to_dict(self, *, by_layer: bool = True) -> dict[str, Any]:
        """JSON contract of ``archcalc compare SPEC --separable`` (and the other rewrites)."""
        out: dict[str, Any] = {
            "archcalc_compare": JSON_VERSION,
            "mode": self.rewrite.kind,
            "description": self.rewrite.description,
            "theory_label": self.rewrite.theory_label,
            "batch": self.before.batch,
            "dtype": self.before.dtype,
            "convention": self.before.convention,
            "columns": [
                {"label": "original", "name": self.before.name,
                 "input_shape": list(self.before.input_shape), "scale": dict(self.before.scale),
                 "totals": self.before.totals.to_dict(),
                 "ratios": {k: 1.0 if self.before.totals.to_dict()[k] else None
                            for k, _ in METRICS}},
                {"label": self.rewrite.kind, "name": self.after.name,
                 "input_shape": list(self.after.input_shape), "scale": dict(self.after.scale),
                 "totals": self.after.totals.to_dict(),
                 "ratios": {k: _num(self.total_ratio(k)) for k, _ in METRICS}},
            ],
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
            writer.writerow(["spec", *(k for k, _ in METRICS), *(f"{k}_ratio" for k, _ in METRICS)])
            for label, report in (("original", self.before), (self.rewrite.kind, self.after)):
                t = report.totals.to_dict()
                writer.writerow([label, *(t[k] for k, _ in METRICS), *(
                    _fmt_ratio(ratio(t[k], self.before.totals.to_dict()[k])) for k, _ in METRICS)])
            return out.getvalue()
        writer.writerow(["layer", "type", "changed", "params_before", "macs_before",
                         "replaced_by", "params_after", "macs_after", "ratio", "theory"])
        for g in self.groups:
            writer.writerow([g.original.name, g.original.type, int(g.changed), g.original.params,
                             g.original.macs, " ".join(r.name for r in g.after), g.params, g.macs,
                             _fmt_ratio(g.ratio), _fmt_ratio(g.theory)])
        t0, t1 = self.before.totals, self.after.totals
        writer.writerow(["total", "", "", t0.params, t0.macs, "", t1.params, t1.macs,
                         _fmt_ratio(self.total_ratio("macs")), ""])
        return out.getvalue()

    def to_markdown(self, *, by_layer: bool = True) -> str:
        base = self.before
        lines = [f"**{base.name}** — {self.rewrite.description} · input "
                 f"{'×'.join(map(str, base.input_shape))} · batch {base.batch} · {base.dtype} · "
                 f"FLOPs: {base.convention}", "",
                 "| | original | " + self.rewrite.kind + " | ratio |", "|---|---:|---:|---:|"]
        for key, label in METRICS:
            a, b = self.before.totals.to_dict()[key], self.after.totals.to_dict()[key]
            r = ratio(b, a)
            lines.append(f"| {label} | {fmt_metric(key, a)} | {fmt_metric(key, b)} | "
                         f"{'' if r is None else fmt_times(r)} |")
        if by_layer:
            lines += ["", f"| layer | type | MACs | → | MACs after | ratio | "
                      f"{self.rewrite.theory_label} |", "|---|---|---:|---|---:|---:|---:|"]
            for g in self.changed:
                parts = " + ".join(f"{r.name} {r.macs:,}" for r in g.after)
                lines.append(
                    f"| {g.original.name} | {layer_kind(g.original)} | {g.original.macs:,} | "
                    f"{parts} | {g.macs:,} | {'' if g.ratio is None else fmt_times(g.ratio)} | "
                    f"{_theory_cell(g)} |"
                )
        return "\n".join(lines) + "\n"


def _theory_cell(g: LayerGroup) -> str:
    if g.theory is None:
        return ""
    from .units import ratio as three_digits

    return f"{g.theory_text} = {three_digits(g.theory)}"


def compare_rewrite(rewrite: Rewrite, *, batch: int = 1, dtype: str = "float32",
                    convention: str = "lecture") -> RewriteComparison:
    """Cost both graphs with the engine and pair every original layer with its replacement."""
    before = analyze_graph(rewrite.before, batch=batch, dtype=dtype, convention=convention)
    after = analyze_graph(rewrite.after, batch=batch, dtype=dtype, convention=convention)
    rows_after = {row.name: row for row in after.layers}
    plans = {r.original: r for r in rewrite.replacements}
    groups = []
    for row in before.layers:
        rep = plans.get(row.name)
        if rep is None:
            groups.append(LayerGroup(row, (rows_after[row.name],), False, "", None, ""))
            continue
        groups.append(LayerGroup(row, tuple(rows_after[n] for n in rep.nodes), rep.changed,
                                 rep.note, rep.theory, rep.theory_text))
    return RewriteComparison(rewrite, before, after, tuple(groups))


REWRITES: Mapping[str, str] = {
    "separable": "depthwise K×K + pointwise 1×1 for every K×K conv",
    "bottleneck": "1×1 reduction to R channels before every K×K conv",
    "factorize": "K×K → stacked 3×3, 3×3 → 3×1 + 1×3",
}


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


def fmt_metric(key: str, value: int, exact: bool = False) -> str:
    """A total as the terminal table writes it (:func:`archcalc.terminal.figure`): counts with
    SI prefixes, bytes in binary units; ``exact``: integers (bytes with a ``B``)."""
    from .terminal import figure

    return figure(key, value, exact)


__all__ = [
    "METRICS",
    "REWRITES",
    "AlignedRow",
    "LayerGroup",
    "Replacement",
    "Rewrite",
    "RewriteComparison",
    "SpecComparison",
    "bottleneck",
    "compare_rewrite",
    "compare_specs",
    "factorize",
    "fmt_times",
    "separable",
]
