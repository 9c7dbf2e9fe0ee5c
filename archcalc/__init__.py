"""archcalc — what does this CNN architecture cost?

Public API::

    import archcalc
    spec = archcalc.load_spec("alexnet")            # bundled name, path, YAML text or a dict
    report = archcalc.analyze(spec, batch=1, dtype="float32")
    report.totals.params, report.layer("conv1").macs, report.to_dict()

The pipeline is pure: spec → :func:`build` (graph with shapes) → :func:`analyze` (report) →
renderers (``Report.to_markdown()``, ``to_csv()``, ``to_json()``, ``to_latex()``). Specs can be
built in Python with :mod:`archcalc.builder`; charts are in :mod:`archcalc.plot`, exports in
:mod:`archcalc.export`; docs/api.md walks through it. The library never prints.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .engine import CONVENTIONS, DTYPE_BYTES, analyze_graph
from .errors import ArchcalcError, ExecError, Loc, ShapeError, SpecError
from .expr import Number
from .graph import Graph, Node, build
from .report import LayerRow, Report, Totals
from .shapes import Shape
from .spec import Spec, bundled_names, load_spec

__version__ = "0.1.0"

if TYPE_CHECKING:
    from . import builder
    from .schema import json_schema


def __getattr__(name: str) -> Any:
    """``builder`` and ``json_schema`` load on first use: ``archcalc table`` needs neither, and
    a cold start stays fast."""
    import importlib

    if name == "builder":
        return importlib.import_module(".builder", __name__)
    if name == "json_schema":
        return importlib.import_module(".schema", __name__).json_schema
    raise AttributeError(f"module 'archcalc' has no attribute {name!r}")

SpecLike = Spec | Graph | str | os.PathLike[str] | Mapping[str, Any]


def to_graph(spec: SpecLike, *, input_shape: Shape | None = None,
             scale: Mapping[str, Number] | None = None) -> Graph:
    """Anything spec-like → a shaped :class:`Graph` (a Graph is returned as it is)."""
    if isinstance(spec, Graph):
        if input_shape is not None or scale:
            raise ArchcalcError("a built Graph cannot be re-scaled; pass the Spec instead")
        return spec
    if not isinstance(spec, Spec):
        spec = load_spec(spec)
    return build(spec, input_shape=input_shape, scale=scale)


def analyze(spec: SpecLike, *, batch: int = 1, dtype: str = "float32",
            convention: str = "lecture", input_shape: Shape | None = None,
            **scale: Number) -> Report:
    """Analyse a spec: per-layer output shape, params, MACs, FLOPs, memory, receptive field.

    ``scale`` keywords override the spec's scale parameters (``width=0.5, resolution=160``);
    ``input_shape`` replaces the input (channel-first, no batch); ``convention`` is one of
    :data:`CONVENTIONS` (``lecture``, ``full``, ``macs``); ``dtype`` one of :data:`DTYPE_BYTES`.
    """
    graph = to_graph(spec, input_shape=input_shape, scale=scale)
    return analyze_graph(graph, batch=batch, dtype=dtype, convention=convention)


def execute(spec: SpecLike, x: Any = None, seed: int = 0, *,
            batch: int | None = None) -> dict[str, Any]:
    """Run ``spec`` on a real float32 input (default: seeded noise) with seeded weights and
    return every activation by node name, batched NumPy arrays. NumPy loads only here; see
    :mod:`archcalc.executor` (``run`` for the per-layer checks; ``archcalc verify``)."""
    from .executor import execute as run_forward

    return run_forward(spec, x, seed, batch=batch)


__all__ = [
    "CONVENTIONS",
    "DTYPE_BYTES",
    "ArchcalcError",
    "ExecError",
    "Graph",
    "LayerRow",
    "Loc",
    "Node",
    "Report",
    "ShapeError",
    "Spec",
    "SpecError",
    "Totals",
    "analyze",
    "build",
    "builder",
    "bundled_names",
    "execute",
    "json_schema",
    "load_spec",
    "to_graph",
]
