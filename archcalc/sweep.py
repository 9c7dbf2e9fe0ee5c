"""Sweeps: analyse one spec over a grid of values — scale parameters, input size, batch, dtype —
and EfficientNet's constrained compound-scaling search.

``sweep(spec, {"width": [0.25, 0.5, 0.75, 1], "resolution": [128, 160, 192, 224]})`` analyses
every point of the cartesian product (16 here) — MobileNet v1's Tables 6 and 7 — and returns the
totals of each point. With ``mode="zip"`` the value lists are taken together instead, point i
using the i-th value of every list: that is how EfficientNet's published (width, depth,
resolution) coefficient triples for B0–B7 are swept.

Besides the scale parameters a spec declares under ``scale:`` (``width``, ``resolution``,
``depth``, ``phi``, …), three axes exist for every spec: ``input`` (input shapes, e.g.
``[(3, 160, 160), (3, 224, 224)]``: a resolution sweep of any network), ``batch`` and ``dtype``.
An unknown name is an error naming the spec's parameters. Every figure comes from the engine —
nothing is recomputed here. A ``progress`` callback, called after each point with (done, total),
lets the CLI draw a progress bar; the library never prints.

:func:`compound_search` is the EfficientNet paper's step 1 (Tan & Le 2019, §3.3): a grid over
α, β, γ kept where ``α·β²·γ² ≈ 2``, each point applied at φ (depth α^φ, width β^φ, resolution
γ^φ) and its measured MAC ratio set against the ``2^φ`` the rule promises, with the measured
factor of each axis alone — which shows why the rule's B1 (φ = 1) costs 2.57× B0, not 1.92×.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .engine import CONVENTIONS, DTYPE_BYTES, analyze_graph
from .errors import ArchcalcError
from .expr import Number
from .graph import build
from .report import Report, Totals
from .spec import Spec
from .tabular import latex_table, markdown_table

#: version of the JSON contract of `archcalc sweep` (2: the input/batch/dtype axes — each point
#: carries its batch and dtype; `compound` results are their own document)
JSON_VERSION = 2
MODES = ("grid", "zip")
#: axes every spec has, besides its scale parameters
AXES = ("input", "batch", "dtype")
#: totals reported per point (keys of :meth:`archcalc.report.Totals.to_dict`)
TOTAL_KEYS = ("params", "buffers", "macs", "flops", "activation_bytes", "param_bytes",
              "peak_activation_bytes")
#: a sweep value: a scale number, an input shape, a batch size or a dtype name
Value = Number | tuple[int, ...] | str

Progress = Callable[[int, int], None]
#: points in one sweep, and layers analysed in all (points × the layers of the first point):
#: a sweep is refused before its first point (or after it) rather than run for hours
MAX_POINTS = 10_000
MAX_LAYERS = 10_000_000


@dataclass(frozen=True)
class SweepPoint:
    """The values of one point, the input shape, batch and dtype in force, and the totals."""

    scale: Mapping[str, Number]
    input_shape: tuple[int, ...]
    totals: Totals
    batch: int = 1
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {"scale": dict(self.scale), "input_shape": list(self.input_shape),
                "batch": self.batch, "dtype": self.dtype, **self.totals.to_dict()}


@dataclass(frozen=True)
class SweepResult:
    """All points of a sweep, in grid order (the last parameter varies fastest).

    ``parameters`` are the swept names (scale parameters and the axes ``input``, ``batch``,
    ``dtype``); ``batch`` and ``dtype`` are ``None`` when swept (each point has its own).
    """

    name: str
    parameters: tuple[str, ...]
    mode: str
    batch: int | None
    dtype: str | None
    convention: str
    points: tuple[SweepPoint, ...]

    @property
    def scale_parameters(self) -> tuple[str, ...]:
        return tuple(p for p in self.parameters if p not in AXES)

    def to_dict(self) -> dict[str, Any]:
        """JSON contract of ``archcalc sweep`` (see docs/compare-explain-sweep.md)."""
        return {
            "archcalc_sweep": JSON_VERSION,
            "name": self.name,
            "parameters": list(self.parameters),
            "mode": self.mode,
            "batch": self.batch,
            "dtype": self.dtype,
            "convention": self.convention,
            "points": [p.to_dict() for p in self.points],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        """One row per point: the swept scale parameters, the input shape, the batch and dtype
        when swept, then exact totals."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        extra = [a for a in ("batch", "dtype") if a in self.parameters]
        writer.writerow([*self.scale_parameters, "input_shape", *extra, *TOTAL_KEYS])
        for p in self.points:
            totals = p.totals.to_dict()
            writer.writerow([*(p.scale[k] for k in self.scale_parameters),
                             "x".join(map(str, p.input_shape)),
                             *(getattr(p, a) for a in extra), *(totals[k] for k in TOTAL_KEYS)])
        return out.getvalue()

    def header(self) -> list[str]:
        extra = [a for a in ("batch", "dtype") if a in self.parameters]
        return [*self.scale_parameters, "input", *extra, "params", "MACs", "FLOPs",
                "memory MB", "peak MB"]

    def right(self) -> list[bool]:
        """Alignment per column: numbers right, the input shape and dtype left."""
        return [h not in ("input", "dtype") for h in self.header()]

    def cells(self) -> list[list[str]]:
        """Display cells per point, in :meth:`header` order."""
        extra = [a for a in ("batch", "dtype") if a in self.parameters]
        rows = []
        for p in self.points:
            t = p.totals
            rows.append([*(f"{p.scale[k]:g}" for k in self.scale_parameters),
                         "×".join(map(str, p.input_shape)), *(str(getattr(p, a)) for a in extra),
                         f"{t.params:,}", f"{t.macs:,}", f"{t.flops:,}",
                         f"{t.activation_bytes / 2**20:,.2f}",
                         f"{t.peak_activation_bytes / 2**20:,.2f}"])
        return rows

    def title(self) -> str:
        return (f"{self.name} — {self.mode} sweep over {', '.join(self.parameters)}, FLOPs "
                f"{self.convention}")

    def to_markdown(self) -> str:
        return f"**{self.title()}**\n\n" + markdown_table(self.header(), self.cells(),
                                                          self.right())

    def to_latex(self) -> str:
        """A booktabs table for a slide (memory in MB = bytes / 1024²)."""
        return latex_table(self.header(), self.cells(), self.right(), title=self.title(),
                           notes=["MB = bytes / 1024^2",
                                  CONVENTIONS[self.convention].description])


def grid_points(grid: Mapping[str, Sequence[Value]], mode: str = "grid"
                ) -> list[dict[str, Value]]:
    """The points of a sweep: the cartesian product (``grid``) or the lists side by side
    (``zip``, all lists of one length)."""
    if mode not in MODES:
        raise ArchcalcError(f"unknown sweep mode {mode!r}; choose grid or zip")
    if not grid:
        raise ArchcalcError("a sweep needs at least one parameter with values",
                            hint="e.g. {'width': [0.25, 0.5, 0.75, 1]} or "
                            "{'input': [(3, 160, 160), (3, 224, 224)]}")
    names = list(grid)
    for name, values in grid.items():
        if not values:
            raise ArchcalcError(f"the sweep of {name} lists no values",
                                hint=f"give {name} at least one value")
    count = math.prod(len(v) for v in grid.values()) if mode == "grid" else max(
        len(v) for v in grid.values())
    if count > MAX_POINTS:
        sizes = " × ".join(f"{len(v):,}" for v in grid.values())
        raise ArchcalcError(
            f"a sweep of {count:,} points ({sizes}) is beyond the limit of {MAX_POINTS:,}",
            hint="sweep fewer values per parameter, or split the sweep")
    if mode == "zip":
        lengths = {name: len(v) for name, v in grid.items()}
        if len(set(lengths.values())) != 1:
            raise ArchcalcError(
                "with mode='zip' every list of values must have the same length, got "
                + ", ".join(f"{n}: {c}" for n, c in lengths.items()),
                hint="point i takes the i-th value of every list",
            )
        return [dict(zip(names, values, strict=True))
                for values in zip(*grid.values(), strict=True)]
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*grid.values())]


def _check_axes(spec: Spec, grid: Mapping[str, Sequence[Value]]) -> None:
    clash = [a for a in AXES if a in spec.scale]
    if clash:
        raise ArchcalcError(f"{spec.name} declares a scale parameter named {clash[0]!r}, "
                            "which a sweep uses as an axis", hint="rename the scale parameter")
    for value in grid.get("batch", ()):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ArchcalcError(f"batch {value!r} must be a positive integer")
    for value in grid.get("dtype", ()):
        if value not in DTYPE_BYTES:
            raise ArchcalcError(f"unknown dtype {value!r}",
                                hint="choose among " + ", ".join(DTYPE_BYTES))
    for value in grid.get("input", ()):
        if not isinstance(value, tuple) or not all(isinstance(v, int) for v in value):
            raise ArchcalcError(f"input {value!r} must be a shape such as (3, 224, 224)")


def sweep(spec: Spec, grid: Mapping[str, Sequence[Value]], *, mode: str = "grid",
          batch: int = 1, dtype: str = "float32", convention: str = "lecture",
          input_shape: tuple[int, ...] | None = None, fixed: Mapping[str, Number] | None = None,
          progress: Progress | None = None) -> SweepResult:
    """Analyse ``spec`` at every point of ``grid``; ``fixed`` scale values apply to all points.

    Grid keys are scale parameters or the axes ``input`` (shapes), ``batch`` (ints) and
    ``dtype`` (names); ``input_shape``, ``batch`` and ``dtype`` are used where not swept.
    Points are built and analysed one at a time (memory stays that of one graph); a point
    whose input or scale does not fit the network is an error naming the layer.
    """
    _check_axes(spec, grid)
    points = grid_points(grid, mode)
    fixed = dict(fixed or {})
    clash = [k for k in grid if k in fixed]
    if clash:
        raise ArchcalcError(f"{', '.join(clash)} is both swept and fixed")
    done: list[SweepPoint] = []
    for i, point in enumerate(points):
        swept: dict[str, Number] = {}
        shape, b, d = input_shape, batch, dtype
        for key, value in point.items():  # types checked by _check_axes
            if key == "input" and isinstance(value, tuple):
                shape = value
            elif key == "batch" and isinstance(value, int):
                b = value
            elif key == "dtype" and isinstance(value, str):
                d = value
            elif isinstance(value, (int, float)):
                swept[key] = value
            else:
                raise ArchcalcError(f"the sweep of {key}: {value!r} is not a number")
        graph = build(spec, input_shape=shape, scale={**fixed, **swept})
        report: Report = analyze_graph(graph, batch=b, dtype=d, convention=convention)
        done.append(SweepPoint(swept, report.input_shape, report.totals, b, d))
        if i == 0 and len(points) * len(report.layers) > MAX_LAYERS:
            raise ArchcalcError(
                f"{len(points):,} points of {len(report.layers):,} layers make "
                f"{len(points) * len(report.layers):,} layer analyses; the limit is "
                f"{MAX_LAYERS:,}", hint="sweep fewer points, or a smaller spec")
        if progress is not None:
            progress(i + 1, len(points))
    return SweepResult(spec.name, tuple(grid), mode, None if "batch" in grid else batch,
                       None if "dtype" in grid else dtype, convention, tuple(done))


# ======================================================================== compound scaling ==

#: the paper's grid-search result (Tan & Le 2019, §3.3): depth α, width β, resolution γ
PAPER_POINT = (Fraction(12, 10), Fraction(11, 10), Fraction(115, 100))
#: default search grid for each of α, β, γ: 1.00, 1.05, …, 1.40
DEFAULT_STEPS = tuple(Fraction(100 + 5 * i, 100) for i in range(9))
#: most candidate (α, β, γ) triples a search may test
MAX_CANDIDATES = 20_000
COMPOUND_VERSION = 1


@dataclass(frozen=True)
class CompoundPoint:
    """One (α, β, γ) of the search, applied at φ: the depth, width and resolution used, the
    totals there, and the measured MAC ratios against the baseline — in all, and for each axis
    scaled alone (the others at the baseline)."""

    alpha: Fraction
    beta: Fraction
    gamma: Fraction
    depth: float
    width: float
    resolution: int
    totals: Totals
    ratio: Fraction
    depth_ratio: Fraction
    width_ratio: Fraction
    resolution_ratio: Fraction
    #: the distinct feature-map sizes (first spatial axis), largest first
    maps: tuple[int, ...] = ()

    @property
    def product(self) -> Fraction:
        """``α·β²·γ²``: the FLOP factor per step of φ that the rule assumes."""
        return self.alpha * self.beta**2 * self.gamma**2

    @property
    def factors(self) -> Fraction:
        """Product of the three single-axis ratios; ``ratio / factors`` is their interaction."""
        return self.depth_ratio * self.width_ratio * self.resolution_ratio

    def to_dict(self) -> dict[str, Any]:
        return {
            "alpha": float(self.alpha), "beta": float(self.beta), "gamma": float(self.gamma),
            "product": float(self.product), "depth": self.depth, "width": self.width,
            "resolution": self.resolution, "params": self.totals.params,
            "macs": self.totals.macs, "ratio": float(self.ratio),
            "depth_ratio": float(self.depth_ratio), "width_ratio": float(self.width_ratio),
            "resolution_ratio": float(self.resolution_ratio),
        }


@dataclass(frozen=True)
class CompoundResult:
    """The feasible points of a compound-scaling search, best first (measured ratio closest to
    ``target^φ``), with the baseline they are measured against."""

    name: str
    phi: int | Fraction
    target: Fraction
    tolerance: Fraction
    base_depth: float
    base_width: float
    base_resolution: int
    base_totals: Totals
    candidates: int
    points: tuple[CompoundPoint, ...]
    base_maps: tuple[int, ...] = ()

    @property
    def promised(self) -> float:
        """``target^φ``: the MAC ratio the rule promises (2 per step: φ = 1 doubles)."""
        value: float = float(self.target) ** float(self.phi)
        return value

    def paper(self) -> CompoundPoint | None:
        """The paper's α = 1.2, β = 1.1, γ = 1.15, if it is among the points."""
        for p in self.points:
            if (p.alpha, p.beta, p.gamma) == PAPER_POINT:
                return p
        return None

    def why(self, point: CompoundPoint) -> list[str]:
        """Why ``point`` costs what it does, axis by axis, against the rule's ideal factors
        α (depth), β² (width) and γ² (resolution)."""
        phi = float(self.phi)
        ideal_d, ideal_w = float(point.alpha) ** phi, float(point.beta) ** (2 * phi)
        ideal_r = float(point.gamma) ** (2 * phi)
        inter = point.ratio / point.factors
        return [
            f"α·β²·γ² = {float(point.alpha):g}·{float(point.beta):g}²·{float(point.gamma):g}² = "
            f"{float(point.product):.3f}, so the rule promises {float(point.product) ** phi:.3f}× "
            f"(≈ {self.promised:g}×) at φ = {_fmt_phi(self.phi)}; "
            f"measured {float(point.ratio):.3f}×",
            f"depth {point.depth:g}: {float(point.depth_ratio):.3f}× (ideal α^φ = {ideal_d:.3f}) — "
            "layers per stage are rounded up, ceil(n·d): a one-block stage gets two",
            f"width {point.width:g}: {float(point.width_ratio):.3f}× (ideal β^2φ = {ideal_w:.3f}) "
            "— channels are rounded to multiples of 8",
            f"resolution {point.resolution} px: {float(point.resolution_ratio):.3f}× (ideal "
            f"γ^2φ = {ideal_r:.3f}) — maps {' → '.join(map(str, point.maps))} against "
            f"{' → '.join(map(str, self.base_maps))}: each stride 2 rounds an odd size up, "
            "so the small late maps grow by more than γ",
            f"{float(point.depth_ratio):.3f} × {float(point.width_ratio):.3f} × "
            f"{float(point.resolution_ratio):.3f} = {float(point.factors):.3f}; the axes "
            f"interact by {float(inter):.3f}× more (deeper stages run at the larger maps)",
        ]

    def header(self) -> list[str]:
        return ["α", "β", "γ", "αβ²γ²", "px", "ratio", "vs 2^φ", "depth×", "width×", "res×"]

    def cells(self) -> list[list[str]]:
        """One row per point (``*`` marks the paper's α, β, γ); MACs are in JSON and CSV."""
        rows = []
        for p in self.points:
            mark = "*" if (p.alpha, p.beta, p.gamma) == PAPER_POINT else ""
            rows.append([f"{float(p.alpha):g}{mark}", f"{float(p.beta):g}",
                         f"{float(p.gamma):g}", f"{float(p.product):.3f}", str(p.resolution),
                         f"{float(p.ratio):.3f}", f"{float(p.ratio) / self.promised:.3f}",
                         f"{float(p.depth_ratio):.3f}", f"{float(p.width_ratio):.3f}",
                         f"{float(p.resolution_ratio):.3f}"])
        return rows

    def title(self) -> str:
        return (f"{self.name}: compound scaling at φ = {_fmt_phi(self.phi)}, "
                f"α·β²·γ² = {float(self.target):g} ± {float(self.tolerance):g} "
                f"({len(self.points)} of {self.candidates} points)")

    def notes(self) -> list[str]:
        base = self.base_totals
        out = [f"baseline: depth {self.base_depth:g}, width {self.base_width:g}, "
               f"{self.base_resolution} px — {base.params:,} params, {base.macs:,} MACs",
               f"each point: depth·α^φ, width·β^φ, round(resolution·γ^φ); ratio = MACs / "
               f"baseline MACs; vs 2^φ = ratio / {self.promised:g}; depth×, width×, res× = "
               "the ratio with that axis alone scaled"]
        paper = self.paper()
        if paper is not None:
            out += ["* the paper's α = 1.2, β = 1.1, γ = 1.15:", *self.why(paper)]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "archcalc_compound": COMPOUND_VERSION,
            "name": self.name,
            "phi": float(self.phi),
            "target": float(self.target),
            "tolerance": float(self.tolerance),
            "promised": self.promised,
            "baseline": {"depth": self.base_depth, "width": self.base_width,
                         "resolution": self.base_resolution, **self.base_totals.to_dict()},
            "candidates": self.candidates,
            "points": [p.to_dict() for p in self.points],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        keys = list(self.points[0].to_dict()) if self.points else ["alpha", "beta", "gamma"]
        writer.writerow(keys)
        for p in self.points:
            writer.writerow(list(p.to_dict().values()))
        return out.getvalue()

    def to_markdown(self) -> str:
        right = [True] * len(self.header())
        text = f"**{self.title()}**\n\n" + markdown_table(self.header(), self.cells(), right)
        return text + "\n" + "".join(f"{n}  \n" for n in self.notes())

    def to_latex(self) -> str:
        return latex_table(self.header(), self.cells(), [True] * len(self.header()),
                           title=self.title(), notes=self.notes())


def _fmt_phi(phi: int | Fraction) -> str:
    return f"{float(phi):g}"


def compound_search(spec: Spec, *, alphas: Sequence[Fraction] = DEFAULT_STEPS,
                    betas: Sequence[Fraction] = DEFAULT_STEPS,
                    gammas: Sequence[Fraction] = DEFAULT_STEPS, phi: int | Fraction = 1,
                    target: Fraction = Fraction(2), tolerance: Fraction = Fraction(1, 10),
                    batch: int = 1, dtype: str = "float32", convention: str = "macs",
                    progress: Progress | None = None) -> CompoundResult:
    """EfficientNet's compound-scaling search on ``spec``, which must declare the scale
    parameters ``depth``, ``width`` and ``resolution`` (its defaults are the baseline, B0).

    Every (α, β, γ) of the grid with ``|α·β²·γ² − target| ≤ tolerance`` is applied at ``phi``:
    depth ``d₀·α^φ``, width ``w₀·β^φ``, resolution ``round(r₀·γ^φ)`` (halves up), analysed, and
    its MAC ratio to the baseline measured — in all and with each axis alone. The rule says
    FLOPs grow by ``(α·β²·γ²)^φ ≈ 2^φ``; the measured ratios show how the network's rounding
    (ceil of layers per stage, channels to multiples of 8, odd sizes after stride 2) departs
    from it. Points come best first: measured ratio closest to ``target^φ``.
    """
    missing = [k for k in ("depth", "width", "resolution") if k not in spec.scale]
    if missing:
        raise ArchcalcError(
            f"{spec.name} has no scale parameter {', '.join(map(repr, missing))}: compound "
            "scaling needs depth, width and resolution",
            hint="declare them under `scale:` (see specs/efficientnet.yaml)")
    if "phi" in spec.scale and spec.scale["phi"] != 0:
        raise ArchcalcError(f"{spec.name} already applies phi = {spec.scale['phi']}",
                            hint="search from the baseline: a spec whose phi is 0")
    if tolerance < 0:
        raise ArchcalcError(f"tolerance {float(tolerance):g} must not be negative")
    triples = [(a, b, g) for a in alphas for b in betas for g in gammas]
    if len(triples) > MAX_CANDIDATES:
        raise ArchcalcError(f"{len(triples):,} (α, β, γ) triples to test; at most "
                            f"{MAX_CANDIDATES:,}", hint="give fewer values per coefficient")
    feasible = [t for t in triples if abs(t[0] * t[1] ** 2 * t[2] ** 2 - target) <= tolerance]
    d0, w0, r0 = (float(spec.scale[k]) for k in ("depth", "width", "resolution"))
    cache: dict[tuple[float, float, int], tuple[Totals, tuple[int, ...]]] = {}

    def measured(depth: float, width: float, resolution: int) -> tuple[Totals, tuple[int, ...]]:
        key = (depth, width, resolution)
        if key not in cache:
            graph = build(spec, scale={"depth": depth, "width": width, "resolution": resolution})
            maps = sorted({graph.input_shape[1], *(n.out_shape[1] for n in graph.nodes
                                                   if len(n.out_shape) > 1 and n.out_shape[1] > 1)},
                          reverse=True)
            cache[key] = (analyze_graph(graph, batch=batch, dtype=dtype,
                                        convention=convention).totals, tuple(maps))
        return cache[key]

    def totals(depth: float, width: float, resolution: int) -> Totals:
        return measured(depth, width, resolution)[0]

    base_res = int(r0)
    base = totals(d0, w0, base_res)
    if base.macs == 0:
        raise ArchcalcError(f"{spec.name} has no MACs to scale")
    points = []
    for i, (a, b, g) in enumerate(feasible):
        p = float(phi)
        depth, width = d0 * float(a) ** p, w0 * float(b) ** p
        resolution = math.floor(r0 * float(g) ** p + 0.5)
        t = totals(depth, width, resolution)
        points.append(CompoundPoint(
            a, b, g, depth, width, resolution, t, Fraction(t.macs, base.macs),
            Fraction(totals(depth, w0, base_res).macs, base.macs),
            Fraction(totals(d0, width, base_res).macs, base.macs),
            Fraction(totals(d0, w0, resolution).macs, base.macs),
            measured(d0, w0, resolution)[1]))
        if progress is not None:
            progress(i + 1, len(feasible))
    promised = float(target) ** float(phi)
    points.sort(key=lambda q: (abs(float(q.ratio) - promised), q.alpha, q.beta, q.gamma))
    return CompoundResult(spec.name, phi, target, tolerance, d0, w0, base_res, base,
                          len(triples), tuple(points), measured(d0, w0, base_res)[1])


__all__ = [
    "AXES",
    "CompoundPoint",
    "CompoundResult",
    "SweepPoint",
    "SweepResult",
    "compound_search",
    "grid_points",
    "sweep",
]
