"""``archcalc compare``, ``explain`` and ``sweep``: thin click layers over
:mod:`archcalc.compare`, :mod:`archcalc.explain` and :mod:`archcalc.sweep` (which compute
everything); here options are parsed and results rendered.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click

from .cli_common import (
    analysis_options,
    emit,
    format_option,
    output_option,
    parse_number,
    parse_sets,
    scale_from_options,
    spec_argument,
)
from .compare import (
    METRICS,
    RewriteComparison,
    SpecComparison,
    fmt_metric,
    fmt_times,
    layer_kind,
)
from .engine import CONVENTIONS
from .expr import Number
from .report import LayerRow, fmt_shape

# ===================================================================================== compare ==


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC [SPEC ...]")
@analysis_options
@click.option("--separable", is_flag=True,
              help="Compare SPEC with every K×K conv made depthwise K×K + pointwise 1×1.")
@click.option("--bottleneck", type=click.IntRange(min=1), default=None, metavar="R",
              help="Compare SPEC with a 1×1 reduction to R channels before every K×K conv.")
@click.option("--factorize", is_flag=True,
              help="Compare SPEC with K×K convs as stacked 3×3, and 3×3 as 3×1 + 1×3.")
@click.option("--by-layer", is_flag=True,
              help="Align the layers (every layer, also the unchanged ones of a rewrite).")
@format_option(("table", "json", "csv", "markdown"))
@output_option
def compare(specs: tuple[str, ...], separable: bool, bottleneck: int | None, factorize: bool,
            by_layer: bool, fmt: str | None, output: str | None, input_shape: Any, batch: int,
            dtype: str, convention: str, sets: tuple[str, ...]) -> None:
    """Side-by-side totals of several specs with ratios against the first, or of one SPEC
    against a rewrite of itself (--separable, --bottleneck R, --factorize), per layer with the
    lecture's ratio formula next to the measured ratio.

    \b
    archcalc compare alexnet vgg16
    archcalc compare separable_example --separable
    archcalc compare inception_bottleneck_example_3a --bottleneck 16
    archcalc compare factorize_example --factorize
    """
    from . import load_spec, to_graph
    from .compare import bottleneck as bottleneck_rw
    from .compare import compare_rewrite, compare_specs
    from .compare import factorize as factorize_rw
    from .compare import separable as separable_rw
    from .engine import analyze_graph

    scale = parse_sets(sets)
    chosen = [name for name, on in (("--separable", separable),
                                    ("--bottleneck", bottleneck is not None),
                                    ("--factorize", factorize)) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"choose one rewrite at a time, not {' and '.join(chosen)}")
    fmt = fmt or _fmt_from_path(output) or "table"
    if chosen:
        if len(specs) != 1:
            raise click.UsageError(f"{chosen[0]} compares one SPEC with its rewrite; "
                                   f"got {len(specs)} specs")
        loaded = load_spec(specs[0])
        graph = to_graph(loaded, input_shape=input_shape,
                         scale=scale_from_options(loaded, scale))
        if separable:
            rewrite = separable_rw(graph)
        elif factorize:
            rewrite = factorize_rw(graph)
        else:
            assert bottleneck is not None
            rewrite = bottleneck_rw(graph, bottleneck)
        result = compare_rewrite(rewrite, batch=batch, dtype=dtype, convention=convention)
        emit(_render_rewrite(result, fmt, by_layer), output, rich=fmt == "table")
        return
    loaded_specs = [load_spec(s) for s in specs]
    reports = [analyze_graph(to_graph(s, input_shape=input_shape,
                                      scale=scale_from_options(s, scale)),
                             batch=batch, dtype=dtype, convention=convention)
               for s in loaded_specs]
    comparison = compare_specs(reports, list(specs))
    emit(_render_specs(comparison, fmt, by_layer), output, rich=fmt == "table")


def _render_specs(c: SpecComparison, fmt: str, by_layer: bool) -> Any:
    if fmt == "json":
        return c.to_json(by_layer=by_layer)
    if fmt == "csv":
        return c.to_csv(by_layer=by_layer)
    if fmt == "markdown":
        return c.to_markdown(by_layer=by_layer)
    from rich import box
    from rich.console import Group, RenderableType
    from rich.table import Table
    from rich.text import Text

    base = c.reports[0]
    table = Table(box=box.SIMPLE_HEAD, title_justify="left",
                  title=f"compare: ratios against {c.labels[0]}")
    table.add_column("")
    for label in c.labels:
        table.add_column(label, justify="right")
    for key, label in METRICS:
        cells = [fmt_metric(key, c.total(0, key))]
        for i in range(1, len(c.reports)):
            r = c.ratio(i, key)
            cells.append(fmt_metric(key, c.total(i, key)) + ("" if r is None else
                                                             f" ({fmt_times(r)})"))
        table.add_row(f"{label}" + (f" ({base.convention})" if key == "flops" else ""), *cells)
    parts: list[RenderableType] = [table]
    if by_layer:
        layers = Table(box=box.SIMPLE_HEAD, title="layers aligned by name", title_justify="left")
        layers.add_column("layer")
        for label in c.labels:
            layers.add_column(f"{label} output")
            layers.add_column("params", justify="right")
            layers.add_column("MACs", justify="right")
        for a in c.aligned():
            cells = [a.name]
            for row in a.rows:
                cells += (["", "", ""] if row is None else
                          [fmt_shape(row.output_shape), f"{row.params:,}", f"{row.macs:,}"])
            layers.add_row(*cells)
        parts.append(layers)
    parts.append(Text("KB = bytes / 1024, MB = bytes / 1024² (activations: every layer's "
                      "output; peak: largest set alive at once) · "
                      + CONVENTIONS[base.convention].description, style="dim"))
    return Group(*parts)


def _render_rewrite(c: RewriteComparison, fmt: str, by_layer: bool) -> Any:
    if fmt == "json":
        return c.to_json()
    if fmt == "csv":
        return c.to_csv()
    if fmt == "markdown":
        return c.to_markdown(by_layer=True)
    from rich import box
    from rich.console import Group, RenderableType
    from rich.table import Table
    from rich.text import Text

    kind = c.rewrite.kind
    totals = Table(box=box.SIMPLE_HEAD, title_justify="left",
                   title=f"{c.before.name}: {c.rewrite.description}")
    for col in ("", "original", kind, "ratio"):
        totals.add_column(col, justify="left" if not col else "right")
    for key, label in METRICS:
        a, b = c.before.totals.to_dict()[key], c.after.totals.to_dict()[key]
        r = c.total_ratio(key)
        totals.add_row(label, fmt_metric(key, a), fmt_metric(key, b),
                       "" if r is None else fmt_times(r))
    layers = Table(box=box.SIMPLE_HEAD, title="per layer (MACs ratio = after / before)",
                   title_justify="left")
    for col, right in (("layer", False), ("type", False), ("output", False),
                       ("params", True), ("MACs", True), ("ratio", True),
                       (c.rewrite.theory_label, True)):
        layers.add_column(col, justify="right" if right else "left")
    groups = c.groups if by_layer else c.changed
    for g in groups:
        layers.add_row(*_row_cells(g.original, ""), "", "")
        if not g.changed:
            if g.note:
                layers.add_row("", Text(g.note, style="dim"), "", "", "", "", "")
            continue
        for row in g.after:
            layers.add_row(*_row_cells(row, "  → "), "", "")
        theory = "" if g.theory is None else f"{g.theory_text} = {float(g.theory):.3f}"
        ratio = "" if g.ratio is None else f"{float(g.ratio):.3f}"
        layers.add_row("  = " + g.note, "", "", f"{g.params:,}", f"{g.macs:,}", ratio, theory,
                       style="bold")
        layers.add_section()
    parts: list[RenderableType] = [totals, layers]
    if not c.changed:
        parts.append(Text(f"no layer of {c.before.name} is changed by --{kind}",
                          style="yellow"))
    parts.append(Text("KB = bytes / 1024, MB = bytes / 1024² · "
                      + CONVENTIONS[c.before.convention].description, style="dim"))
    return Group(*parts)


def _row_cells(row: LayerRow, prefix: str) -> list[str]:
    return [prefix + row.name, layer_kind(row), fmt_shape(row.output_shape), f"{row.params:,}",
            f"{row.macs:,}"]


# ===================================================================================== explain ==


@click.command()
@spec_argument
@click.argument("layer", required=False, metavar="LAYER")
@analysis_options
@click.option("--all", "all_layers", is_flag=True, help="Explain every layer.")
@format_option(("text", "markdown", "json"))
@output_option
def explain(spec: str, layer: str | None, all_layers: bool, fmt: str | None, output: str | None,
            input_shape: Any, batch: int, dtype: str, convention: str,
            sets: tuple[str, ...]) -> None:
    """Derive every number of LAYER (a name, or a 1-based index) the way the slides do, with
    the layer's values substituted: output size, weight shapes, params, MACs, FLOPs, memory,
    receptive field. --format markdown gives LaTeX math for slides.

    \b
    archcalc explain alexnet conv1
    archcalc explain vgg16 conv1_1 --format markdown
    """
    import json

    from . import load_spec, to_graph
    from .engine import analyze_graph
    from .explain import explain as explain_layer
    from .explain import find_layer

    loaded = load_spec(spec)
    graph = to_graph(loaded, input_shape=input_shape, scale=scale_from_options(loaded, sets))
    if layer is None and not all_layers:
        names = ", ".join(n.name for n in graph.nodes[:20])
        raise click.UsageError(f"name a LAYER of {graph.name} (or --all): {names}"
                               + (", …" if len(graph.nodes) > 20 else ""))
    report = analyze_graph(graph, batch=batch, dtype=dtype, convention=convention)
    nodes = graph.nodes if all_layers else (find_layer(graph, layer or ""),)
    results = [explain_layer(graph, n.name, report=report) for n in nodes]
    fmt = fmt or {"json": "json", "markdown": "markdown"}.get(_fmt_from_path(output) or "",
                                                              "text")
    if fmt == "json":
        data: Any = [r.to_dict() for r in results] if all_layers else results[0].to_dict()
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "markdown":
        text = "\n".join(r.to_markdown() for r in results)
    else:
        text = "\n".join(r.to_text() for r in results)
    emit(text, output)


# ======================================================================================= sweep ==


def parse_grid(values: tuple[str, ...]) -> tuple[dict[str, list[Number]], dict[str, Number]]:
    """``--set width=0.25,0.5 --set divisor=8`` → ({"width": [0.25, 0.5]}, {"divisor": 8}).

    A comma list is swept; a single value is held fixed for every point."""
    grid: dict[str, list[Number]] = {}
    fixed: dict[str, Number] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: write NAME=V1,V2,..., e.g. width=0.5,1")
        key, text = (p.strip() for p in item.split("=", 1))
        if key in grid or key in fixed:
            raise click.BadParameter(f"--set {key} is given twice")
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise click.BadParameter(f"--set {key}= lists no values")
        numbers = [parse_number(p, key) for p in parts]
        if len(numbers) == 1 and "," not in text:
            fixed[key] = numbers[0]
        else:
            grid[key] = numbers
    return grid, fixed


class DelayedProgress:
    """A progress bar that appears only once a sweep has run longer than ``delay`` seconds
    and there is something left to do (quick sweeps print nothing). ``clock`` and ``factory``
    are injectable for tests."""

    def __init__(self, description: str, *, delay: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 factory: Callable[[], Any] | None = None) -> None:
        self.description = description
        self.delay = delay
        self.clock = clock
        self.factory = factory or _rich_progress
        self.started = clock()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            if done >= total or self.clock() - self.started < self.delay:
                return
            self.bar = self.factory()
            self.bar.start()
            self.task = self.bar.add_task(self.description, total=total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _rich_progress() -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)


@click.command()
@spec_argument
@analysis_options
@click.option("--zip", "zipped", is_flag=True,
              help="Take the --set lists side by side (point i = i-th values) instead of "
                   "their cartesian product.")
@format_option(("table", "json", "csv", "markdown"))
@output_option
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr for long sweeps (default: when stderr is a terminal).")
def sweep(spec: str, zipped: bool, fmt: str | None, output: str | None, progress: bool | None,
          input_shape: Any, batch: int, dtype: str, convention: str,
          sets: tuple[str, ...]) -> None:
    """Tabulate SPEC's totals over a grid of scale parameters: each --set NAME=V1,V2,... is one
    axis of the grid (a single value is held fixed).

    \b
    archcalc sweep mobilenet_v1 --set width=0.25,0.5,0.75,1 --set resolution=128,160,192,224
    archcalc sweep efficientnet --zip --set width=1,1,1.1,1.2 --set depth=1,1.1,1.2,1.4 \\
        --set resolution=224,240,260,300 --format csv -o effnet.csv
    """
    from . import load_spec
    from .sweep import sweep as run_sweep

    grid, fixed = parse_grid(sets)
    if not grid:
        raise click.UsageError("give at least one --set NAME=V1,V2,... to sweep")
    if zipped and len({len(v) for v in grid.values()}) > 1:
        raise click.UsageError("with --zip every --set list must have the same length, got "
                               + ", ".join(f"{n}: {len(v)}" for n, v in grid.items()))
    spec_obj = load_spec(spec)
    scale_from_options(spec_obj, fixed)
    for key, values in grid.items():
        for value in values:
            scale_from_options(spec_obj, {key: value})
    show = sys.stderr.isatty() if progress is None else progress
    bar = DelayedProgress(f"sweep {spec_obj.name}", delay=0.5 if progress is None else 0.0) \
        if show else None
    try:
        result = run_sweep(spec_obj, grid, mode="zip" if zipped else "grid", batch=batch,
                           dtype=dtype, convention=convention, input_shape=input_shape,
                           fixed=fixed, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    fmt = fmt or _fmt_from_path(output) or "table"
    if fmt == "json":
        emit(result.to_json(), output)
    elif fmt == "csv":
        emit(result.to_csv(), output)
    elif fmt == "markdown":
        emit(result.to_markdown(), output)
    else:
        from rich import box
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, title_justify="left",
                      title=f"{result.name}: {result.mode} sweep over "
                            f"{', '.join(result.parameters)} ({len(result.points)} points)")
        for i, col in enumerate([*result.parameters, "input", "params", "MACs",
                                 f"FLOPs ({result.convention})", "memory MB", "peak MB"]):
            table.add_column(col, justify="right" if i != len(result.parameters) else "left")
        for cells in result.cells():
            table.add_row(*cells)
        emit(table, output, rich=True)


def _fmt_from_path(path: str | None) -> str | None:
    if path is None:
        return None
    for ext, name in ((".json", "json"), (".csv", "csv"), (".md", "markdown")):
        if path.lower().endswith(ext):
            return name
    return None


__all__ = ["compare", "explain", "sweep"]
