"""``archcalc verify``: run real tensors through a spec and hold the engine to them.

Imported only when ``verify`` runs (see ``LAZY_COMMANDS`` in :mod:`archcalc.cli`), so NumPy is
never loaded by ``archcalc table``. Exit status 0 when every layer agrees; 1 with the first
disagreeing layer named (shape, parameter count, MACs, non-finite output, receptive field).
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from .cli_common import emit, output_option, parse_sets, parse_shape, spec_argument
from .errors import ExecError


def _unit_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.replace("x", ",").split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a unit position such as 3,3") from None


def _shape_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    return None if value is None else parse_shape(value)


@click.command()
@spec_argument
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Samples in the batch.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the random weights and input.")
@click.option("--input", "input_shape", callback=_shape_cb, metavar="CxHxW",
              help="Override the input size, e.g. 3x224x224.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a scale parameter (width, resolution, ...).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table, or the same as JSON.")
@output_option
@click.option("--receptive-field", "-r", "rf", is_flag=True,
              help="Also measure a unit's receptive field by sensitivity.")
@click.option("--layer", default=None, metavar="NAME",
              help="Layer for --receptive-field, implies it (default: the last map larger "
                   "than one unit).")
@click.option("--unit", callback=_unit_cb, default=None, metavar="I,J",
              help="Output position for --receptive-field, implies it (default: the unit "
                   "nearest the centre whose field lies inside the image).")
@click.option("--progress/--no-progress", default=None,
              help="A progress bar on standard error (default: when it is a terminal).")
@click.option("--against", type=click.Choice(["numpy", "torch"]), default="numpy",
              show_default=True, help="numpy: archcalc's own executor; torch: the module "
              "`archcalc export` writes, run in PyTorch (shapes, params, buffers, "
              "FlopCounterMode MACs per row).")
def verify(spec: str, batch: int, seed: int, input_shape: tuple[int, ...] | None,
           sets: tuple[str, ...], fmt: str, output: str | None, rf: bool, layer: str | None,
           unit: tuple[int, ...] | None, progress: bool | None, against: str) -> None:
    """Run SPEC on real float32 tensors with seeded random weights (NumPy) and check, layer by
    layer, the engine's output shape, parameter count and MACs. Peak activation memory is
    measured beside the predicted peak. Exit status 1 names the first layer that disagrees."""
    from . import load_spec, to_graph
    from .execute import measure_receptive_field, run

    graph = to_graph(load_spec(spec), input_shape=input_shape, scale=parse_sets(sets))
    if against == "torch":
        from .cli_bridges import verify_torch

        verify_torch(graph, batch=batch, seed=seed, fmt=fmt, output=output)
        return
    show = progress if progress is not None else _stderr_is_terminal()
    if show:
        result = _run_with_bar(graph, batch, seed)
    else:
        result = run(graph, seed=seed, batch=batch, trace_memory=True)
    rf = rf or layer is not None or unit is not None  # --layer/--unit imply -r
    check = measure_receptive_field(graph, layer, unit) if rf else None
    data = result.to_dict()
    if check is not None:
        data["receptive_field"] = check.to_dict()
        data["ok"] = data["ok"] and check.ok
    if fmt == "json":
        emit(json.dumps(data, indent=2) + "\n", output)
    else:
        emit(_render(data), output, rich=True)
    failures = result.failures
    if failures:
        step = failures[0]
        raise ExecError("; ".join(step.problems), layer=f"layer {step.name!r} ({step.type})",
                        hint="the engine and the executor disagree: a bug in one of them")
    if len(result.steps) < result.planned:
        raise ExecError("the run stopped early")
    if check is not None and not check.ok:
        bad = next(a for a in check.axes if not a.ok)
        raise ExecError(
            f"measured receptive field {list(bad.measured)} on axis {bad.axis} but the engine "
            f"predicts {[_num(v) for v in bad.expected]} (clipped to the input)",
            layer=f"layer {check.layer!r}, unit {list(check.unit)}")


def _stderr_is_terminal() -> bool:
    try:
        return os.isatty(2)
    except OSError:  # pragma: no cover - closed stderr
        return False


def _run_with_bar(graph: Any, batch: int, seed: int) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .execute import run

    columns = (TextColumn("verify"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=len(graph.nodes))

        def step(index: int, total: int, name: str) -> None:
            bar.update(task, completed=index, description=name)

        return run(graph, seed=seed, batch=batch, trace_memory=True, on_step=step)


def _num(value: Any) -> Any:
    return int(value) if getattr(value, "denominator", 2) == 1 else float(value)


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.1f} MB"


def _shape(shape: list[int] | None) -> str:
    return "—" if shape is None else "×".join(str(v) for v in shape)


def _render(data: dict[str, Any]) -> Any:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = (f"{data['name']} — verified on real tensors: batch {data['batch']}, seed "
             f"{data['seed']}, input {_shape(data['input_shape'])}")
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for col, right in (("layer", False), ("type", False), ("predicted", False),
                       ("actual", False), ("params", True), ("MACs engine", True),
                       ("MACs counted", True), ("ms", True), ("verdict", False)):
        table.add_column(col, justify="right" if right else "left", no_wrap=col != "layer")
    for step in data["layers"]:
        style = "" if step["verdict"] == "ok" else "bold red"
        params = f"{step['params_created']:,}" if step["params_created"] == step["params"] else \
            f"{step['params_created']:,} ≠ {step['params']:,}"
        table.add_row(step["name"], step["type"], _shape(step["predicted_shape"]),
                      _shape(step["actual_shape"]), params, f"{step['macs']:,}",
                      f"{step['macs_counted']:,}", f"{step['seconds'] * 1e3:.1f}",
                      step["verdict"], style=style)
    totals, memory = data["totals"], data["memory"]
    table.add_section()
    table.add_row("total", "", "", "", f"{totals['params_created']:,}", f"{totals['macs']:,}",
                  f"{totals['macs_counted']:,}", f"{totals['seconds'] * 1e3:.0f}",
                  "ok" if data["ok"] else "FAILED", style="bold")
    parts: list[Any] = [table]
    parts.append(Text(f"ms: forward time per layer; the whole run, seeded weights included, took "
                      f"{totals['wall_seconds']:.2f} s", style="dim"))
    parts.append(Text(
        f"params: created {totals['params_created']:,} (engine {totals['params']:,}); buffers "
        f"{totals['buffers_created']:,} (engine {totals['buffers']:,})"))
    parts.append(Text(
        f"peak activations: engine {_mb(memory['predicted_peak_bytes'])}, measured live "
        f"{_mb(memory['peak_live_bytes'])}, allocated during forwards (temporaries and im2col "
        f"scratch included, weights excluded) {_mb(memory['peak_allocated_bytes'])}"))
    check = data.get("receptive_field")
    if check is not None:
        parts.append(Text(
            f"receptive field of {check['layer']} unit {check['unit']} "
            f"({check['forward_passes']} probe passes):",
            style="" if check["ok"] else "bold red"))
        for axis in check["axes"]:
            jump = "" if axis["measured_jump"] is None else (
                f", jump {axis['measured_jump']} (engine {axis['predicted_jump']})")
            parts.append(Text(
                f"  axis {axis['axis']}: measured input pixels {axis['measured'][0]}…"
                f"{axis['measured'][1]} ({axis['measured_size']}); engine "
                f"{axis['predicted'][0]}…{axis['predicted'][1]} ({axis['predicted_size']})"
                f"{'' if axis['expected'] == axis['predicted'] else ', clipped to the input'}"
                f"{jump}: {'ok' if axis['ok'] else 'MISMATCH'}",
                style="" if axis["ok"] else "bold red"))
    return Group(*parts)
