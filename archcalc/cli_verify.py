"""``archcalc verify``: run real tensors through a spec and hold the engine to them.

Imported only when ``verify`` runs (see ``LAZY_COMMANDS`` in :mod:`archcalc.cli`), so NumPy is
never loaded by ``archcalc table``. Exit status 0 when every layer agrees; 1 with the first
disagreeing layer named (shape, parameter count, MACs, non-finite output, receptive field;
with ``--training`` each gradient's MACs, the bytes kept for backward, the training peak).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from .cli_common import (
    BATCH,
    emit,
    emit_table,
    layout_options,
    output_option,
    scale_from_options,
    shape_option_callback,
    spec_argument,
    table_width,
)
from .errors import ExecError


def _unit_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.replace("x", ",").split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a unit position such as 3,3") from None


def _size_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from .budget import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@spec_argument
@click.option("--batch", type=BATCH, default=1, show_default=True,
              help="Samples in the batch.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the random weights and input.")
@click.option("--input", "input_shape", callback=shape_option_callback, metavar="CxHxW",
              multiple=True, help="Override the input size, e.g. 3x224x224 (several inputs: "
              "NAME=CxHxW, repeated).")
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
@click.option("--max-memory", "max_memory", callback=_size_cb, default=None, metavar="SIZE",
              help="Memory the run may take (512M, 2G, 1.5GiB; K/M/G = KiB/MiB/GiB, KB/MB/GB "
                   "= 1000s). Default: 80% of the available memory. A run predicted to need "
                   "more is refused before anything is allocated.")
@click.option("--training", is_flag=True,
              help="Also run one training step (archcalc.backprop): each layer's backward on "
                   "the tensors its rule keeps, its MACs per gradient, the bytes kept and the "
                   "training peak against the engine's (`table --training`).")
@click.option("--freeze", default=None, metavar="NAMES",
              help="With --training: frozen layers (as `table --training --freeze`).")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
              help="BLAS threads of the run. Default: $OPENBLAS_NUM_THREADS or "
                   "$OMP_NUM_THREADS when set, else the cores idle now (the cores less the "
                   "1-minute load average, at least 1): a product split over threads waits for "
                   "the slowest, which stalls on a core another process keeps busy.")
@layout_options
@click.option("--against", type=click.Choice(["numpy", "torch"]), default="numpy",
              show_default=True, help="numpy: archcalc's own executor; torch: the module "
              "`archcalc export` writes, run in PyTorch (shapes, params, buffers, "
              "FlopCounterMode MACs per row, and each row's values against archcalc's "
              "executor on the same weights and input).")
def verify(spec: str, batch: int, seed: int, input_shape: Any,
           sets: tuple[str, ...], fmt: str, output: str | None, rf: bool, layer: str | None,
           unit: tuple[int, ...] | None, progress: bool | None, max_memory: int | None,
           training: bool, freeze: str | None, threads: int | None, exact: bool, wide: bool,
           against: str) -> None:
    """Run SPEC on real float32 tensors with seeded random weights (NumPy) and check, layer by
    layer, the engine's output shape, parameter count and MACs. Peak activation memory is
    measured beside the predicted peak. Exit status 1 names the first layer that disagrees."""
    blas_threads(threads)  # before anything loads NumPy
    from . import budget, load_spec, to_graph
    from .executor import measure_receptive_field, run

    loaded = load_spec(spec)
    graph = to_graph(loaded, input_shape=input_shape, scale=scale_from_options(loaded, sets))
    budget.check(graph, batch, max_memory, knob="--max-memory ")  # before anything is allocated
    if against == "torch":
        from .cli_bridges import verify_torch

        if rf or layer is not None or unit is not None:
            raise click.UsageError("the receptive field is measured by archcalc's own "
                                   "executor: drop --against torch for -r/--layer/--unit")
        if training or freeze is not None:
            raise click.UsageError("the training step runs on archcalc's own executor: drop "
                                   "--against torch for --training/--freeze")
        verify_torch(graph, batch=batch, seed=seed, fmt=fmt, output=output,
                     width=table_width(wide), exact=exact)
        return
    if training or freeze is not None:  # a step that cannot run is refused before the forward
        from .backprop import check_step
        from .training import parse_freeze

        check_step(graph, batch=batch, freeze=None if freeze is None else parse_freeze(freeze),
                   max_memory=max_memory)
    show = progress if progress is not None else _stderr_is_terminal()
    if show:
        result = _run_with_bar(graph, batch, seed, max_memory)
    else:
        result = run(graph, seed=seed, batch=batch, trace_memory=True, max_memory=max_memory)
    rf = rf or layer is not None or unit is not None  # --layer/--unit imply -r
    check = measure_receptive_field(graph, layer, unit) if rf else None
    step = None
    if training or freeze is not None:
        from .backprop import train_step

        step = train_step(graph, seed=seed, batch=batch, freeze=freeze, max_memory=max_memory)
    data = {"archcalc_verify": VERIFY_JSON, **result.to_dict()}
    if check is not None:
        data["receptive_field"] = check.to_dict()
        data["ok"] = data["ok"] and check.ok
    if step is not None:
        data["training"] = step.to_dict()
        data["ok"] = data["ok"] and step.ok
    if fmt == "json":
        emit(json.dumps(data, indent=2) + "\n", output)
    else:
        from .terminal import verify_lines

        width = table_width(wide)
        lines = verify_lines(data, width=width, exact=exact)
        if step is not None:
            from .terminal import training_verify_lines

            lines += training_verify_lines(data["training"], width=width, exact=exact)
        emit_table(lines, output)
    failures = result.failures
    if failures:  # a count that disagrees first; else the first non-finite output
        bad = next((s for s in failures if s.verdict != "non-finite"), failures[0])
        raise ExecError("; ".join(bad.problems), layer=f"layer {bad.name!r} ({bad.type})",
                        hint=_non_finite_hint(result, bad) if bad.verdict == "non-finite"
                        else "the engine and the executor disagree: a bug in one of them")
    if len(result.steps) < result.planned:
        raise ExecError("the run stopped early")
    if step is not None and not step.ok:
        first = step.failures[0] if step.failures else None
        raise ExecError("; ".join(first.all_problems if first is not None else step.problems),
                        layer=None if first is None else f"layer {first.name!r} ({first.type})",
                        hint="the engine's training rules and the executor disagree: a bug in "
                             "one of them")
    if check is not None and not check.ok:
        bad = next(a for a in check.axes if not a.ok)
        raise ExecError(
            f"measured receptive field {list(bad.measured)} on axis {bad.axis} but the engine "
            f"predicts {[_num(v) for v in bad.expected]} (clipped to the input)",
            layer=f"layer {check.layer!r}, unit {list(check.unit)}")


#: version of `verify --format json` (README, "Verify with real tensors"): 1 is the first
#: versioned form — per layer, totals, memory; ``receptive_field`` with -r; ``training`` with
#: --training, its ``buffers`` the running statistics after the step
VERIFY_JSON = 1

#: the environment variables OpenBLAS reads its thread count from, first the one that wins
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def blas_threads(requested: int | None) -> int | None:
    """Set the BLAS thread count of this process before NumPy loads OpenBLAS (which reads
    ``$OPENBLAS_NUM_THREADS`` once, when it loads); the count set, or None when OpenBLAS's own
    choice stands.

    ``requested``, or by default — unless the environment already names a count — the cores
    idle now: the cores this process may use less the 1-minute load average, rounded, at least
    1 (None when that is every core). A product split over two threads waits for the slower:
    with the other core busy, a 1 ms product of ResNet-50's backward took 10–40 ms (one
    thread: 1.0–1.4 ms), and the measured effect on ``verify -r`` is in docs/executor.md
    ("Speed of verify"). NumPy already loaded (``verify`` called in-process) keeps
    its threads: an explicit count is then a usage error, the default changes nothing."""
    if "numpy" in sys.modules:
        if requested is not None:
            raise click.UsageError("--threads takes effect only before NumPy loads: run "
                                   "`archcalc verify` in a process of its own")
        return None
    if requested is None:
        if any(os.environ.get(name) for name in THREAD_VARIABLES):
            return None
        try:
            cores = len(os.sched_getaffinity(0))
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # pragma: no cover - neither on this platform
            return None
        idle = max(1, min(cores, round(cores - load)))
        if idle == cores:
            return None
        requested = idle
    os.environ["OPENBLAS_NUM_THREADS"] = str(requested)
    return requested


#: inputs at least this large overflowing float32 (3.4e38) in a sum, a square or an exponential
#: is growth through depth, not a faulty forward
_GROWN = 1e15


def _non_finite_hint(result: Any, bad: Any) -> str:
    """The hint for a run whose first failure is a non-finite output (every count agreeing up
    to it): random weights that let the activations grow until float32 overflowed, or a forward
    that made inf/NaN from ordinary inputs."""
    depth = result.steps.index(bad) + 1
    counted = all(s.verdict == "non-finite" for s in result.failures)
    counts = ("every layer's shape, params and MACs agree with the engine" if counted
              and len(result.steps) == result.planned else
              f"the shapes, params and MACs of the {depth} layers up to it agree with the engine")
    magnitude = bad.input_magnitude or 0.0
    shown = f"{magnitude:.2g}".replace("e+", "e")
    if magnitude >= _GROWN:
        return (f"the seeded random float32 weights let the activations grow through the "
                f"{depth - 1} layers before it (its inputs reach {shown}) until float32 "
                f"overflowed (max 3.4e38): the values only — {counts}, so the counts are not "
                f"affected. A shallower network stays in range; from Python, "
                f"archcalc.executor.run(spec, dtype=numpy.float64) has room to 1.8e308")
    return (f"its inputs are finite (at most {shown}) yet its output is not: the layer's "
            f"forward made inf or NaN of them (a bug, or values outside its domain); {counts}")


def _stderr_is_terminal() -> bool:
    try:
        return os.isatty(2)
    except OSError:  # pragma: no cover - closed stderr
        return False


def _run_with_bar(graph: Any, batch: int, seed: int, max_memory: int | None) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .executor import run

    columns = (TextColumn("verify"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("", total=len(graph.nodes))

        def step(index: int, total: int, name: str) -> None:
            bar.update(task, completed=index, description=name)

        return run(graph, seed=seed, batch=batch, trace_memory=True, on_step=step,
                   max_memory=max_memory)


def _num(value: Any) -> Any:
    return int(value) if getattr(value, "denominator", 2) == 1 else float(value)


