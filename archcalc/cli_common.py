"""Options and helpers shared by the subcommands: parsing, rendering, safe output."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .engine import CONVENTIONS, DTYPE_BYTES
from .expr import Number
from .graph import Graph
from .report import Report

F = TypeVar("F", bound=Callable[..., Any])


def parse_shape(text: str) -> tuple[int, ...]:
    """``3x224x224`` (or ``3,224,224``) → (3, 224, 224)."""
    parts = text.replace(",", "x").replace("×", "x").lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a shape like 3x224x224") from None
    if not 2 <= len(dims) <= 4 or any(d <= 0 for d in dims):
        raise click.BadParameter(
            f"{text!r}: give channels and 1 to 3 spatial sizes, all positive, e.g. 3x224x224"
        )
    return dims


def parse_number(text: str) -> Number:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise click.BadParameter(f"{text!r} is not a number") from None


def parse_sets(values: tuple[str, ...]) -> dict[str, Number]:
    out: dict[str, Number] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: write NAME=VALUE, e.g. width=0.5")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_number(value.strip())
    return out


def _shape_cb(ctx: click.Context, param: click.Parameter,
              value: str | tuple[str, ...] | None) -> Any:
    """``--input 3x224x224`` → a shape (every input of the spec); ``--input left=1x64x64
    --input right=1x64x64`` → name → shape (the named inputs of a spec with several)."""
    values = (value,) if isinstance(value, str) else tuple(value or ())
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return parse_shape(values[0])
    named: dict[str, tuple[int, ...]] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: with several --input, write NAME=CxHxW each")
        key, shape = item.split("=", 1)
        named[key.strip()] = parse_shape(shape.strip())
    return named


spec_argument = click.argument("spec", metavar="SPEC")


def analysis_options(fn: F) -> F:
    """--input, --batch, --dtype, --convention, --set."""
    options = [
        click.option("--input", "input_shape", callback=_shape_cb, metavar="CxHxW",
                     multiple=True, help="Override the input size, e.g. 3x224x224 (several "
                     "inputs: NAME=CxHxW, repeated)."),
        click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Batch size (scales memory, MACs and FLOPs)."),
        click.option("--dtype", type=click.Choice(list(DTYPE_BYTES)), default="float32",
                     show_default=True, help="Element type for memory figures."),
        click.option("--convention", type=click.Choice(list(CONVENTIONS)), default="lecture",
                     show_default=True, help="How FLOPs are counted (MACs never change)."),
        click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
                     help="Override a scale parameter (width, resolution, depth, phi, ...)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def format_option(choices: tuple[str, ...]) -> Callable[[F], F]:
    return click.option("--format", "-f", "fmt", type=click.Choice(choices), default=None,
                        help="Output format (default: table, or from the -o extension).")


output_option = click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                             help="Write to FILE instead of standard output.")


def report_from_options(spec: str, *, input_shape: Any, batch: int,
                        dtype: str, convention: str, sets: tuple[str, ...]) -> Report:
    from . import analyze

    graph = graph_from_options(spec, input_shape=input_shape, sets=sets)
    return analyze(graph, batch=batch, dtype=dtype, convention=convention)


def graph_from_options(spec: str, *, input_shape: Any, sets: tuple[str, ...]) -> Graph:
    """The built graph of SPEC with ``--input`` and ``--set`` applied."""
    from . import load_spec, to_graph

    loaded = load_spec(spec)
    check_input_rank(loaded, input_shape)
    return to_graph(loaded, input_shape=input_shape, scale=parse_sets(sets))


def check_input_rank(loaded: Any, input_shape: Any) -> None:
    """A misuse of the command line (exit 2): ``--input`` of another rank than the spec's
    input(s), pointing at the ``input:`` it must match."""
    named = dict(loaded.inputs) if loaded.inputs else {"input": loaded.input}
    given = input_shape if isinstance(input_shape, dict) else (
        {} if input_shape is None else {name: input_shape for name in named})
    for name, shape in given.items():
        seq = named.get(name)
        if seq is None:
            raise click.BadParameter(f"{name}=…: the spec's inputs are {', '.join(named)}",
                                     param_hint="'--input'")
        rank = len(seq.items)
        if len(shape) != rank:
            pattern = {1: "C", 2: "CxL", 3: "CxHxW", 4: "CxDxHxW"}[rank]
            raise click.BadParameter(
                f"{'x'.join(map(str, shape))} has {len(shape)} sizes but the spec's "
                f"input ({seq.loc}) has {rank}; give --input as {pattern}",
                param_hint="'--input'",
            )


def render_report(report: Report, fmt: str, *, all_rows: bool = False) -> Any:
    """The rich lecture table for ``table``; every text format through :func:`export.render`."""
    if fmt == "table":
        from .render_rich import report_table

        return report_table(report, max_rows=None if all_rows else 400)
    from .export import render

    return render(report, fmt)


def emit(content: Any, output: str | None, *, rich: bool = False) -> None:
    """Print or write ``content`` (text or a rich renderable). Files are written atomically:
    a failure leaves no partial file behind."""
    if rich:
        from rich.console import Console

        if output is None:
            console = Console(soft_wrap=False)
            if not console.is_terminal:
                console = Console(width=160, soft_wrap=False)
            console.print(content)
            return
        with open(os.devnull, "w") as sink:  # render first, then write atomically
            capture = Console(file=sink, width=160, soft_wrap=False, color_system=None)
            with capture.capture() as cap:
                capture.print(content)
        content = cap.get()
    if output is None:
        click.echo(content, nl=False)
        return
    write_atomic(output, content if isinstance(content, (str, bytes)) else str(content))


def write_atomic(path: str, content: str | bytes) -> None:
    """Atomic file output (see :func:`archcalc.export.write_text_atomic`)."""
    from .export import write_text_atomic

    write_text_atomic(path, content)
