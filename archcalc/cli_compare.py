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
    emit_table,
    format_option,
    layout_options,
    output_option,
    parse_number,
    parse_shape,
    scale_from_options,
    spec_argument,
    stdin_specs,
    table_width,
)
from .compare import (
    RewriteComparison,
    SpecComparison,
)
from .engine import CONVENTIONS, DTYPE_BYTES
from .expr import Number

# ===================================================================================== compare ==

_REWRITE_KEY = "archcalc.rewrites"


def _record(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A callback noting a rewrite option in command-line order (click processes options in
    the order they were given, so ``--factorize --separable`` is factorize, then separable)."""
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value and name == "bottleneck":
            from .errors import ArchcalcError
            from .rewrite import parse_bottleneck

            try:
                value = parse_bottleneck(_table_text(value))
            except ArchcalcError as exc:  # a bad option value: a usage error (exit 2)
                raise click.BadParameter(exc.what + (f" ({exc.hint})" if exc.hint else ""),
                                         ctx, param) from None
        if value:
            ctx.meta.setdefault(_REWRITE_KEY, []).append((name, value))
        return value
    return callback


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC [SPEC ...]")
@analysis_options
@click.option("--separable", is_flag=True, callback=_record("separable"),
              help="Every K×K conv made depthwise K×K + pointwise 1×1.")
@click.option("--full-conv", is_flag=True, callback=_record("full-conv"),
              help="Every depthwise + pointwise pair made one standard K×K conv (the reverse; "
                   "MobileNet's 'Conv MobileNet').")
@click.option("--bottleneck", default=None, metavar="R", callback=_record("bottleneck"),
              help="A 1×1 reduction before every K×K conv: R channels (16), a ratio of C_in "
                   "(1/4), or a table NAME=R,... (globs; a pooling layer named gets a 1×1 "
                   "projection after it).")
@click.option("--factorize", is_flag=True, callback=_record("factorize"),
              help="K×K convs as stacked 3×3, and 3×3 as 3×1 + 1×3.")
@click.option("--fc-to-conv", is_flag=True, callback=_record("fc-to-conv"),
              help="fc layers as convolutions (OverFeat); with --input, run on that larger "
                   "input: output grid, one pass against separate crops.")
@click.option("--only", multiple=True, metavar="PATTERN",
              help="Rewrite only the layers matching PATTERN (glob over layer and group "
                   "names, e.g. 'layer3.*'; repeatable).")
@click.option("--by-layer", is_flag=True,
              help="Align the layers (every layer, also the unchanged ones of a rewrite).")
@format_option(("table", "json", "csv", "markdown", "latex"))
@output_option
@layout_options
def compare(specs: tuple[str, ...], separable: bool, full_conv: bool, bottleneck: Any,
            factorize: bool, fc_to_conv: bool, only: tuple[str, ...], by_layer: bool,
            fmt: str | None, output: str | None, input_shape: Any, batch: int, dtype: str,
            convention: str, sets: tuple[str, ...], exact: bool, wide: bool) -> None:
    """Side-by-side totals of several specs with ratios against the first, or of one SPEC
    against rewrites of itself, per layer with the lecture's ratio formula next to the
    measured ratio. Rewrites chain in the order given (--factorize --separable).

    \b
    archcalc compare alexnet vgg16
    archcalc compare mobilenet_v1 mobilenet_v1 --set width=1,0.5
    archcalc compare separable_example --separable
    archcalc compare mobilenet_v1 --full-conv
    archcalc compare inception_module_example_naive --bottleneck 'b2=96,b3=16,b4=32'
    archcalc compare resnet50 --factorize --separable --only 'layer3.*'
    archcalc compare overfeat_example --fc-to-conv --input 3x16x16
    """
    from . import load_spec
    from .compare import compare_rewrite, compare_specs
    from .engine import analyze_graph
    from .graph import build

    ctx = click.get_current_context()
    chosen: list[tuple[str, Any]] = ctx.meta.get(_REWRITE_KEY, [])
    sources = stdin_specs(specs)  # `-`: the spec on standard input (its name stays `-`)
    fmt = fmt or _fmt_from_path(output) or "table"
    if chosen:
        if len(specs) != 1:
            raise click.UsageError(f"--{chosen[0][0]} compares one SPEC with its rewrite; "
                                   f"got {len(specs)} specs")
        result = compare_rewrite(_rewrite(sources[0], chosen, only, input_shape, sets),
                                 batch=batch, dtype=dtype, convention=convention, only=only)
        emit_table(_render_rewrite(result, fmt, by_layer, exact, wide), output)
        return
    if only:
        raise click.UsageError("--only selects the layers a rewrite changes; add a rewrite "
                               "(--separable, --full-conv, --bottleneck, --factorize, "
                               "--fc-to-conv)")
    loaded = [load_spec(s) for s in sources]
    per_spec = spec_sets(sets, list(specs), [dict(sp.scale) for sp in loaded])
    for sp, sc in zip(loaded, per_spec, strict=True):
        scale_from_options(sp, sc)  # CLI words (--set width=-1) before the library's
    reports = [analyze_graph(build(sp, input_shape=input_shape, scale=sc), batch=batch,
                             dtype=dtype, convention=convention)
               for sp, sc in zip(loaded, per_spec, strict=True)]
    labels = [name + (" (" + ", ".join(f"{k}={v:g}" for k, v in sc.items()) + ")" if sc else "")
              for name, sc in zip(("stdin" if s == "-" else s for s in specs), per_spec,
                                  strict=True)]
    comparison = compare_specs(reports, labels)
    emit_table(_render_specs(comparison, fmt, by_layer, exact, wide), output)


def _rewrite(spec: Any, chosen: list[tuple[str, Any]], only: tuple[str, ...],
             input_shape: Any, sets: tuple[str, ...]) -> Any:
    """The chain of rewrites the options ask for, applied to SPEC (fc-to-conv with --input:
    the original at the spec's input, the convolutional head on --input)."""
    from . import load_spec, to_graph
    from .rewrite import (
        bottleneck,
        chain,
        factorize,
        fc_to_conv,
        full_conv,
        select,
        separable,
        with_input,
    )

    kinds = [name for name, _ in chosen]
    sliding = "fc-to-conv" in kinds and input_shape is not None
    loaded = load_spec(spec)
    graph = to_graph(loaded, input_shape=None if sliding else input_shape,
                     scale=scale_from_options(loaded, sets))
    fixed = {"separable": separable, "full-conv": full_conv, "factorize": factorize,
             "fc-to-conv": fc_to_conv}
    transforms: list[Any] = []
    for name, value in chosen:
        if name == "bottleneck":
            transforms.append(lambda g, sel, t=value: bottleneck(g, t, sel))
        else:
            transforms.append(fixed[name])
    rw = chain(graph, transforms, select(only, graph))
    return with_input(rw, input_shape) if sliding else rw


def _table_text(value: str) -> str:
    """``--bottleneck @table.txt``: the table from a file, one ``NAME=R`` (or ``NAME,R``) a
    line; ``#`` starts a comment."""
    if not value.startswith("@"):
        return value
    from .errors import ArchcalcError

    path = value[1:]
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(1 << 20)
    except OSError as exc:
        raise ArchcalcError(f"cannot read the --bottleneck table {path}: "
                            f"{exc.strerror or exc}") from None
    items = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            items.append(line.replace(",", "=", 1) if "=" not in line else line)
    return ",".join(items)


def spec_sets(sets: tuple[str, ...], specs: list[str], declared: list[dict[str, Number]]
              ) -> list[dict[str, Number]]:
    """``--set`` for several specs: one scale dict per spec.

    * ``--set width=0.5`` applies to every spec that declares ``width`` (an error if none does);
    * ``--set width=1,0.5`` gives one value per spec, in order (each must declare it);
    * ``--set 2:width=0.5`` or ``--set mobilenet_v2:width=0.5`` targets one spec (its 1-based
      position, or its name as written).
    """
    out: list[dict[str, Number]] = [{} for _ in specs]
    for item in sets:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: write NAME=VALUE, e.g. width=0.5",
                                     param_hint="'--set'")
        key, text = (p.strip() for p in item.split("=", 1))
        target, _, name = key.rpartition(":")
        values = [parse_number(v.strip(), key) for v in text.split(",") if v.strip()]
        if not values:
            raise click.BadParameter(f"--set {key}= gives no value", param_hint="'--set'")
        if target:
            index = _spec_index(target, specs)
            if len(values) != 1:
                raise click.BadParameter(f"--set {key}={text}: one value for one spec",
                                         param_hint="'--set'")
            out[index][name] = values[0]
            continue
        if len(values) > 1:
            if len(values) != len(specs):
                raise click.BadParameter(
                    f"--set {name}={text} lists {len(values)} values for {len(specs)} specs",
                    param_hint="'--set'")
            for i, v in enumerate(values):
                out[i][name] = v
            continue
        having = [i for i, d in enumerate(declared) if name in d]
        if not having:
            from .errors import ArchcalcError

            listed = "; ".join(f"{s}: {', '.join(d) or 'none'}"
                               for s, d in zip(specs, declared, strict=True))
            raise ArchcalcError(f"--set {name}: none of the specs has a scale parameter {name!r}",
                                hint=f"scale parameters — {listed}")
        for i in having:
            out[i][name] = values[0]
    return out


def _spec_index(target: str, specs: list[str]) -> int:
    if target.isdigit() and 1 <= int(target) <= len(specs):
        return int(target) - 1
    if target in specs:
        if specs.count(target) > 1:
            raise click.BadParameter(f"{target} is compared {specs.count(target)} times; "
                                     "target it by position, e.g. --set 2:width=0.5",
                                     param_hint="'--set'")
        return specs.index(target)
    raise click.BadParameter(f"--set {target}:…: no spec {target!r} (give a spec as written "
                             f"or its position 1–{len(specs)})", param_hint="'--set'")


def _render_specs(c: SpecComparison, fmt: str, by_layer: bool, exact: bool = False,
                  wide: bool = False) -> Any:
    if fmt == "json":
        return c.to_json(by_layer=by_layer)
    if fmt == "csv":
        return c.to_csv(by_layer=by_layer)
    if fmt == "markdown":
        return c.to_markdown(by_layer=by_layer)
    if fmt == "latex":
        return c.to_latex(by_layer=by_layer)
    from .terminal import spec_comparison_lines

    return spec_comparison_lines(c, width=table_width(wide), exact=exact, by_layer=by_layer,
                                 convention_text=CONVENTIONS[c.reports[0].convention]
                                 .description)


def _render_rewrite(c: RewriteComparison, fmt: str, by_layer: bool, exact: bool = False,
                    wide: bool = False) -> Any:
    if fmt == "json":
        return c.to_json()
    if fmt == "csv":
        return c.to_csv()
    if fmt == "markdown":
        return c.to_markdown(by_layer=True)
    if fmt == "latex":
        return c.to_latex(by_layer=True)
    from .terminal import rewrite_lines

    return rewrite_lines(c, width=table_width(wide), exact=exact, by_layer=by_layer,
                         convention_text=CONVENTIONS[c.before.convention].description)


def _join(a: str, b: str) -> str:
    return f"{a}; {b}" if a and b else a or b


# ===================================================================================== explain ==


@click.command()
@spec_argument
@click.argument("layer", required=False, metavar="LAYER")
@analysis_options
@click.option("--all", "all_layers", is_flag=True, help="Explain every layer.")
@click.option("--training", is_flag=True,
              help="Also derive the layer's backward: gradients, their work, what it keeps.")
@click.option("--freeze", default=None, metavar="NAMES",
              help="With --training: frozen layers (as `table --training --freeze`).")
@format_option(("text", "markdown", "json"))
@output_option
def explain(spec: str, layer: str | None, all_layers: bool, fmt: str | None, output: str | None,
            input_shape: Any, batch: int, dtype: str, convention: str,
            sets: tuple[str, ...], training: bool = False, freeze: str | None = None) -> None:
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
    if training or freeze:  # the backward derivation (archcalc.training), after the forward's
        from .cli_training import explain_training

        emit(explain_training(graph, results, nodes, fmt, freeze, batch=batch, dtype=dtype,
                              convention=convention, training=training,
                              width=None if output is not None else table_width(False)), output)
        return
    if fmt == "json":
        data: Any = [r.to_dict() for r in results] if all_layers else results[0].to_dict()
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "markdown":
        text = "\n".join(r.to_markdown() for r in results)
    else:
        from .terminal import explanation_lines

        width = None if output is not None else table_width(False)
        text = "\n".join("".join(f"{line}\n" for line in explanation_lines(r, width=width))
                         for r in results)
    emit(text, output)


# ======================================================================================= sweep ==


def parse_grid(values: tuple[str, ...]) -> tuple[dict[str, list[Number]], dict[str, Number]]:
    """``--set width=0.25,0.5 --set divisor=8`` → ({"width": [0.25, 0.5]}, {"divisor": 8}).

    A comma list is swept; a single value is held fixed for every point; ``a:b:step`` is the
    inclusive range a, a + step, …, b (``width=0.25:1:0.25``)."""
    grid: dict[str, list[Number]] = {}
    fixed: dict[str, Number] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: write NAME=V1,V2,..., e.g. width=0.5,1")
        key, text = (p.strip() for p in item.split("=", 1))
        if key in grid or key in fixed:
            raise click.BadParameter(f"--set {key} is given twice")
        numbers = parse_values(text, f"--set {key}")
        if len(numbers) == 1 and "," not in text and ":" not in text:
            fixed[key] = numbers[0]
        else:
            grid[key] = numbers
    return grid, fixed


#: most values one range a:b:step may expand to
MAX_RANGE = 10_000


def parse_values(text: str, what: str) -> list[Number]:
    """``1,2,3``, ``0.25:1:0.25`` (inclusive, exact steps) or a mix: a list of numbers."""
    from fractions import Fraction

    out: list[Number] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if ":" not in part:
            out.append(parse_number(part, what.removeprefix("--set ")
                                    if what.startswith("--set ") else None))
            continue
        bits = part.split(":")
        if len(bits) != 3:
            raise click.BadParameter(f"{what}: {part!r} — write a range as start:stop:step")
        try:
            start, stop, step = (Fraction(b.strip()) for b in bits)
        except (ValueError, ZeroDivisionError):
            raise click.BadParameter(f"{what}: {part!r} is not a range of numbers") from None
        if step <= 0 or stop < start:
            raise click.BadParameter(f"{what}: {part!r} needs start ≤ stop and a positive step")
        count = int((stop - start) / step) + 1
        if count > MAX_RANGE:
            raise click.BadParameter(f"{what}: {part!r} gives {count:,} values; at most "
                                     f"{MAX_RANGE:,}")
        exact = all(b.strip().lstrip("-").isdigit() for b in bits)
        for i in range(count):
            v = start + i * step
            out.append(int(v) if exact else float(v))
    if not out:
        raise click.BadParameter(f"{what}= lists no values")
    return out


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


def _list_option(name: str, metavar: str, help_text: str) -> Callable[[Any], Any]:
    return click.option(name, default=None, metavar=metavar, help=help_text)


@click.command()
@spec_argument
@click.option("--set", "sets", multiple=True, metavar="NAME=V1,V2,...",
              help="A scale parameter to sweep (a single value is held fixed; a:b:step is a "
                   "range).")
@_list_option("--input", "SHAPES", "Input shapes to sweep: 3x160x160,3x224x224, or sizes "
              "160,224,320 (the spec's channels, square).")
@_list_option("--batch", "N1,N2,...", "Batch sizes to sweep (one value: fixed).")
@_list_option("--dtype", "T1,T2,...", "Element types to sweep: " + ", ".join(DTYPE_BYTES) + ".")
@click.option("--convention", type=click.Choice(list(CONVENTIONS)), default="lecture",
              show_default=True, help="How FLOPs are counted (MACs never change).")
@click.option("--zip", "zipped", is_flag=True,
              help="Take the lists side by side (point i = i-th values) instead of their "
                   "cartesian product.")
@click.option("--compound", is_flag=True,
              help="EfficientNet's compound-scaling search: α, β, γ with α·β²·γ² ≈ 2 at φ, "
                   "measured MAC ratio against 2^φ.")
@_list_option("--alpha", "LIST", "--compound: depth coefficients (default 1:1.4:0.05).")
@_list_option("--beta", "LIST", "--compound: width coefficients (default 1:1.4:0.05).")
@_list_option("--gamma", "LIST", "--compound: resolution coefficients (default 1:1.4:0.05).")
@click.option("--phi", default="1", show_default=True, help="--compound: the coefficient φ.")
@click.option("--tolerance", default="0.1", show_default=True,
              help="--compound: keep |α·β²·γ² − 2| ≤ this.")
@click.option("--training", is_flag=True,
              help="Sweep the training step over --batch and --optimizer (docs/training.md).")
@_list_option("--optimizer", "O1,O2,...", "--training: optimizers to sweep (sgd, momentum, "
              "adam, adamw).")
@click.option("--master-weights", default=None, metavar="DTYPE",
              help="--training: mixed precision, master weights in DTYPE.")
@click.option("--freeze", default=None, metavar="NAMES",
              help="--training: frozen layers (as `table --training --freeze`).")
@format_option(("table", "json", "csv", "markdown", "latex"))
@output_option
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr for long sweeps (default: when stderr is a terminal).")
@layout_options
def sweep(spec: str, sets: tuple[str, ...], input: str | None, batch: str | None,
          dtype: str | None, convention: str, zipped: bool, compound: bool, alpha: str | None,
          beta: str | None, gamma: str | None, phi: str, tolerance: str, fmt: str | None,
          output: str | None, progress: bool | None, exact: bool, wide: bool,
          training: bool = False, optimizer: str | None = None,
          master_weights: str | None = None, freeze: str | None = None) -> None:
    """Tabulate SPEC's totals over a grid: each --set NAME=V1,V2,... is one axis of the grid
    (a single value is held fixed), and so are --input, --batch and --dtype, for any spec.

    \b
    archcalc sweep mobilenet_v1 --set width=0.25,0.5,0.75,1 --set resolution=128,160,192,224
    archcalc sweep resnet50 --input 3x160x160,3x224x224,3x320x320
    archcalc sweep mobilenet_v2 --input 96:224:32 --batch 1,8 --dtype float32,float16
    archcalc sweep efficientnet --zip --set width=1,1,1.1,1.2 --set depth=1,1.1,1.2,1.4 \\
        --set resolution=224,240,260,300 --format csv -o effnet.csv
    archcalc sweep efficientnet_b0 --compound
    archcalc sweep resnet50 --training --batch 1,8,32 --optimizer sgd,adam
    """
    from . import load_spec

    if training or optimizer or master_weights or freeze:  # archcalc.training's sweep
        from .cli_training import training_sweep

        if not training:
            raise click.UsageError("--optimizer, --master-weights and --freeze need --training")
        if sets or input or compound or zipped:
            raise click.UsageError("sweep --training sweeps --batch and --optimizer only")
        training_sweep(spec, batch, optimizer, dtype, master_weights, freeze, convention,
                       fmt or _fmt_from_path(output) or "table", output, exact,
                       table_width(wide))
        return

    spec_obj = load_spec(spec)
    show = sys.stderr.isatty() if progress is None else progress
    bar = DelayedProgress(f"sweep {spec_obj.name}", delay=0.5 if progress is None else 0.0) \
        if show else None
    fmt = fmt or _fmt_from_path(output) or "table"
    try:
        if compound:
            result: Any = _compound(spec_obj, sets, input, batch, dtype, zipped, alpha, beta,
                                    gamma, phi, tolerance, convention, bar)
        else:
            if alpha or beta or gamma:
                raise click.UsageError("--alpha, --beta and --gamma go with --compound")
            result = _grid_sweep(spec_obj, sets, input, batch, dtype, zipped, convention, bar)
    finally:
        if bar is not None:
            bar.close()
    if fmt in ("json", "csv", "markdown", "latex"):
        emit(getattr(result, {"json": "to_json", "csv": "to_csv", "markdown": "to_markdown",
                              "latex": "to_latex"}[fmt])(), output)
        return
    from .terminal import sweep_lines

    emit_table(sweep_lines(result, width=table_width(wide), exact=exact), output)


def _grid_sweep(spec: Any, sets: tuple[str, ...], input: str | None, batch: str | None,
                dtype: str | None, zipped: bool, convention: str, bar: Any) -> Any:
    from .sweep import sweep as run_sweep

    grid_numbers, fixed = parse_grid(sets)
    scale_from_options(spec, fixed)  # every value, in CLI words, before the library checks
    for key, values in grid_numbers.items():
        for value in values:
            scale_from_options(spec, {key: value})
    grid: dict[str, list[Any]] = dict(grid_numbers)
    fixed_input: tuple[int, ...] | None = None
    fixed_batch, fixed_dtype = 1, "float32"
    if input is not None:
        shapes = _parse_inputs(input, spec)
        if len(shapes) == 1 and "," not in input and ":" not in input:
            fixed_input = shapes[0]
        else:
            grid["input"] = shapes
    if batch is not None:
        sizes = parse_values(batch, "--batch")
        if any(not isinstance(b, int) or b < 1 for b in sizes):
            raise click.BadParameter(f"{batch!r}: batch sizes are positive integers",
                                     param_hint="'--batch'")
        if len(sizes) == 1 and "," not in batch and ":" not in batch:
            fixed_batch = int(sizes[0])
        else:
            grid["batch"] = sizes
    if dtype is not None:
        names = [d.strip() for d in dtype.split(",") if d.strip()]
        bad = [d for d in names if d not in DTYPE_BYTES]
        if bad or not names:
            raise click.BadParameter(f"{bad[0] if bad else dtype!r}: choose among "
                                     + ", ".join(DTYPE_BYTES), param_hint="'--dtype'")
        if len(names) == 1:
            fixed_dtype = names[0]
        else:
            grid["dtype"] = names
    if not grid:
        raise click.UsageError("give at least one axis to sweep: --set NAME=V1,V2,..., "
                               "--input, --batch or --dtype with two or more values")
    if zipped and len({len(v) for v in grid.values()}) > 1:
        raise click.UsageError("with --zip every swept list must have the same length, got "
                               + ", ".join(f"{n}: {len(v)}" for n, v in grid.items()))
    return run_sweep(spec, grid, mode="zip" if zipped else "grid", batch=fixed_batch,
                     dtype=fixed_dtype, convention=convention, input_shape=fixed_input,
                     fixed=fixed, progress=bar)


def _parse_inputs(text: str, spec: Any) -> list[tuple[int, ...]]:
    """``3x160x160,3x224x224`` → shapes; bare sizes ``160,224`` (or a range ``96:224:32``) →
    the spec's channels with every spatial axis that size."""
    from . import to_graph

    shapes: list[tuple[int, ...]] = []
    base: tuple[int, ...] | None = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "x" in part.lower() or "×" in part:
            shape = parse_shape(part)
        else:
            if base is None:
                base = to_graph(spec).input_shape
            sizes = parse_values(part, "--input")
            for n in sizes:
                if not isinstance(n, int) or n < 1:
                    raise click.BadParameter(f"{part!r}: sizes are positive integers",
                                             param_hint="'--input'")
            shapes += [(base[0], *([int(n)] * (len(base) - 1))) for n in sizes]
            continue
        if len(shape) != len(spec.input.items):
            pattern = {1: "C", 2: "CxL", 3: "CxHxW", 4: "CxDxHxW"}[len(spec.input.items)]
            raise click.BadParameter(f"{part} has {len(shape)} sizes but the spec's input "
                                     f"({spec.input.loc}) has {len(spec.input.items)}; give "
                                     f"{pattern}", param_hint="'--input'")
        shapes.append(shape)
    if not shapes:
        raise click.BadParameter("lists no shapes", param_hint="'--input'")
    return shapes


def _compound(spec: Any, sets: tuple[str, ...], input: str | None, batch: str | None,
              dtype: str | None, zipped: bool, alpha: str | None, beta: str | None,
              gamma: str | None, phi: str, tolerance: str, convention: str, bar: Any) -> Any:
    from fractions import Fraction

    from .sweep import DEFAULT_STEPS, compound_search

    if sets or input or batch or zipped or dtype:
        raise click.UsageError("--compound searches depth, width and resolution itself; "
                               "drop --set, --input, --batch, --dtype and --zip")

    def coefficients(text: str | None, name: str) -> list[Fraction]:
        if text is None:
            return list(DEFAULT_STEPS)
        values = parse_values(text, name)
        if any(v <= 0 for v in values):
            raise click.BadParameter(f"{name}: coefficients must be positive")
        return [Fraction(str(v)) for v in values]

    try:
        phi_value: Fraction | int = Fraction(phi)
        tol = Fraction(tolerance)
    except (ValueError, ZeroDivisionError):
        raise click.BadParameter(f"{phi!r} / {tolerance!r}: numbers expected") from None
    if phi_value.denominator == 1:
        phi_value = int(phi_value)
    if not 0 < phi_value <= 10:
        raise click.BadParameter(f"φ = {phi} must be in (0, 10]", param_hint="'--phi'")
    return compound_search(spec, alphas=coefficients(alpha, "--alpha"),
                           betas=coefficients(beta, "--beta"),
                           gammas=coefficients(gamma, "--gamma"), phi=phi_value,
                           tolerance=tol, convention="macs" if convention == "lecture"
                           else convention, progress=bar)


def _fmt_from_path(path: str | None) -> str | None:
    if path is None:
        return None
    for ext, name in ((".json", "json"), (".csv", "csv"), (".md", "markdown"), (".tex", "latex")):
        if path.lower().endswith(ext):
            return name
    return None


__all__ = ["compare", "explain", "sweep"]
