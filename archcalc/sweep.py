"""Scaling sweeps: analyse one spec over a grid of scale-parameter values.

``sweep(spec, {"width": [0.25, 0.5, 0.75, 1], "resolution": [128, 160, 192, 224]})`` analyses
every point of the cartesian product (16 here) — MobileNet v1's Tables 6 and 7 — and returns the
totals of each point. With ``mode="zip"`` the value lists are taken together instead, point i
using the i-th value of every list: that is how EfficientNet's published (width, depth,
resolution) coefficient triples for B0–B7 are swept.

Any scale parameter the spec declares under ``scale:`` can be swept (``width``, ``resolution``,
``depth``, ``phi``, …); an unknown name is an error naming the spec's parameters. Every figure
comes from :func:`archcalc.analyze` — nothing is recomputed here. A ``progress`` callback, called
after each point with (done, total), lets the CLI draw a progress bar; the library never prints.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .engine import analyze_graph
from .errors import ArchcalcError
from .expr import Number
from .graph import build
from .report import Report, Totals
from .spec import Spec

JSON_VERSION = 1
MODES = ("grid", "zip")
#: totals reported per point (keys of :meth:`archcalc.report.Totals.to_dict`)
TOTAL_KEYS = ("params", "buffers", "macs", "flops", "activation_bytes", "param_bytes",
              "peak_activation_bytes")

Progress = Callable[[int, int], None]
#: points in one sweep, and layers analysed in all (points × the layers of the first point):
#: a sweep is refused before its first point (or after it) rather than run for hours
MAX_POINTS = 10_000
MAX_LAYERS = 10_000_000


@dataclass(frozen=True)
class SweepPoint:
    """The scale values of one point, the input shape they give, and the totals there."""

    scale: Mapping[str, Number]
    input_shape: tuple[int, ...]
    totals: Totals

    def to_dict(self) -> dict[str, Any]:
        return {"scale": dict(self.scale), "input_shape": list(self.input_shape),
                **self.totals.to_dict()}


@dataclass(frozen=True)
class SweepResult:
    """All points of a sweep, in grid order (the last parameter varies fastest)."""

    name: str
    parameters: tuple[str, ...]
    mode: str
    batch: int
    dtype: str
    convention: str
    points: tuple[SweepPoint, ...]

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
        """One row per point: the swept parameters, the input shape, then exact totals."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*self.parameters, "input_shape", *TOTAL_KEYS])
        for p in self.points:
            totals = p.totals.to_dict()
            writer.writerow([*(p.scale[k] for k in self.parameters),
                             "x".join(map(str, p.input_shape)), *(totals[k] for k in TOTAL_KEYS)])
        return out.getvalue()

    def to_markdown(self) -> str:
        head = [*self.parameters, "input", "params", "MACs", "FLOPs", "memory MB", "peak MB"]
        lines = [f"**{self.name}** — {self.mode} sweep over {', '.join(self.parameters)}", "",
                 "| " + " | ".join(head) + " |",
                 "|" + "---|" * (len(self.parameters) + 1) + "---:|" * 5]
        for cells in self.cells():
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def cells(self) -> list[list[str]]:
        """Display cells per point: parameters, input, params, MACs, FLOPs, memory, peak."""
        rows = []
        for p in self.points:
            t = p.totals
            rows.append([*(f"{p.scale[k]:g}" for k in self.parameters),
                         "×".join(map(str, p.input_shape)), f"{t.params:,}", f"{t.macs:,}",
                         f"{t.flops:,}", f"{t.activation_bytes / 2**20:,.2f}",
                         f"{t.peak_activation_bytes / 2**20:,.2f}"])
        return rows


def grid_points(grid: Mapping[str, Sequence[Number]], mode: str = "grid"
                ) -> list[dict[str, Number]]:
    """The points of a sweep: the cartesian product (``grid``) or the lists side by side
    (``zip``, all lists of one length)."""
    if mode not in MODES:
        raise ArchcalcError(f"unknown sweep mode {mode!r}; choose grid or zip")
    if not grid:
        raise ArchcalcError("a sweep needs at least one parameter with values",
                            hint="e.g. --set width=0.25,0.5,0.75,1")
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


def sweep(spec: Spec, grid: Mapping[str, Sequence[Number]], *, mode: str = "grid",
          batch: int = 1, dtype: str = "float32", convention: str = "lecture",
          input_shape: tuple[int, ...] | None = None, fixed: Mapping[str, Number] | None = None,
          progress: Progress | None = None) -> SweepResult:
    """Analyse ``spec`` at every point of ``grid``; ``fixed`` scale values apply to all points.

    Points are built and analysed one at a time (memory stays that of one graph).
    """
    points = grid_points(grid, mode)
    fixed = dict(fixed or {})
    clash = [k for k in grid if k in fixed]
    if clash:
        raise ArchcalcError(f"{', '.join(clash)} is both swept and fixed")
    done: list[SweepPoint] = []
    for i, point in enumerate(points):
        scale = {**fixed, **point}
        report: Report = analyze_graph(build(spec, input_shape=input_shape, scale=scale),
                                       batch=batch, dtype=dtype, convention=convention)
        done.append(SweepPoint(point, report.input_shape, report.totals))
        if i == 0 and len(points) * len(report.layers) > MAX_LAYERS:
            raise ArchcalcError(
                f"{len(points):,} points of {len(report.layers):,} layers make "
                f"{len(points) * len(report.layers):,} layer analyses; the limit is "
                f"{MAX_LAYERS:,}", hint="sweep fewer points, or a smaller spec")
        if progress is not None:
            progress(i + 1, len(points))
    return SweepResult(spec.name, tuple(grid), mode, batch, dtype, convention, tuple(done))
