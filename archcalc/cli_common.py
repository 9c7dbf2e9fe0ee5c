"""Options and helpers shared by the subcommands: parsing, rendering, safe output."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from . import validate
from .engine import CONVENTIONS, DTYPE_BYTES
from .errors import quote
from .expr import MAX_INT, Number
from .report import Report
from .spec import Spec
from .validate import Words


class _Batch(click.IntRange):
    """``--batch``: 1 to 10^15 samples (click's own words below 1, ours above the bound)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, str) and len(value.strip().lstrip("+-")) > 16:
            self.fail(f"{quote(value)} is beyond the limit 10^15", param, ctx)
        n = super().convert(value, param, ctx)
        if n > MAX_INT:
            self.fail(f"{n} is beyond the limit 10^15", param, ctx)
        return n


BATCH = _Batch(min=1)

F = TypeVar("F", bound=Callable[..., Any])


def parse_shape(text: str) -> tuple[int, ...]:
    """``3x224x224`` (or ``3,224,224``) → (3, 224, 224); each size from 1 to 10^15."""
    parts = text.replace(",", "x").replace("×", "x").lower().split("x")
    if not all(p.strip().isdigit() for p in parts):
        raise click.BadParameter(f"{quote(text)} is not a shape like 3x224x224")
    if not 2 <= len(parts) <= 4 or any(len(p.strip()) > 16 for p in parts):
        raise click.BadParameter(f"{quote(text)}: give channels and 1 to 3 spatial sizes, all "
                                 "positive and at most 10^15, e.g. 3x224x224")
    dims = tuple(int(p) for p in parts)
    if any(not 1 <= d <= MAX_INT for d in dims):
        raise click.BadParameter(f"{quote(text)}: give channels and 1 to 3 spatial sizes, all "
                                 "positive and at most 10^15, e.g. 3x224x224")
    return dims


def parse_number(text: str, setting: str | None = None) -> Number:
    """A command-line number: an int or a float, finite and at most 10^15 in size (the bound of
    every number in a spec). ``setting`` (``width``) names it in the message as ``--set``."""
    try:
        return _parse_number(text)
    except click.BadParameter as exc:
        if setting is None:
            raise
        raise click.BadParameter(f"{setting}={text}: {exc.message}",
                                 param_hint="'--set'") from None


def _parse_number(text: str) -> Number:
    value: Number
    digits = text.strip().lstrip("+-")
    try:
        if digits.isdigit() and len(digits) > 16:  # int() refuses 4,300+ digits: say why
            raise click.BadParameter(f"{quote(text)} is beyond the limit 10^15")
        value = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            raise click.BadParameter(f"{quote(text)} is not a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise click.BadParameter(f"{quote(text)} is not a finite number")
    if abs(value) > MAX_INT:
        raise click.BadParameter(f"{quote(text)} is beyond the limit 10^15")
    return value


def parse_sets(values: tuple[str, ...]) -> dict[str, Number]:
    out: dict[str, Number] = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: write NAME=VALUE, e.g. width=0.5")
        key, value = item.split("=", 1)
        out[key.strip()] = parse_number(value.strip(), key.strip())
    return out


#: ``--set`` words in the messages of the CLI (the library says ``width=nan``)
CLI_WORDS = Words(lambda name, value: f"--set {name}={value}", lambda name, value: f"--set {name}")


def scale_from_options(spec: Spec, sets: tuple[str, ...] | dict[str, Number]
                       ) -> dict[str, Number]:
    """The ``--set`` overrides for ``spec``, checked against its ``scale:`` with CLI words."""
    given = parse_sets(sets) if isinstance(sets, tuple) else sets
    validate.scale_values(spec.scale, given, file=spec.file, words=CLI_WORDS)
    return given


def _shape_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    return None if value is None else parse_shape(value)


def _spec_cb(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    """``-`` reads the spec from standard input (at most the spec size limit)."""
    if value != "-":
        return value
    from .spec import parse_bytes
    from .ytree import MAX_SPEC_BYTES

    return parse_bytes(sys.stdin.buffer.read(MAX_SPEC_BYTES + 1), "<stdin>")


spec_argument = click.argument("spec", metavar="SPEC", callback=_spec_cb)


def analysis_options(fn: F) -> F:
    """--input, --batch, --dtype, --convention, --set."""
    options = [
        click.option("--input", "input_shape", callback=_shape_cb, metavar="CxHxW",
                     help="Override the input size, e.g. 3x224x224."),
        click.option("--batch", type=BATCH, default=1, show_default=True,
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


def report_from_options(spec: str | Spec, *, input_shape: tuple[int, ...] | None, batch: int,
                        dtype: str, convention: str, sets: tuple[str, ...]) -> Report:
    from . import analyze, load_spec

    loaded = load_spec(spec)
    rank = len(loaded.input.items)
    if input_shape is not None and len(input_shape) != rank:
        # a misuse of the command line (exit 2), pointing at the spec's `input:` it must match
        pattern = {1: "C", 2: "CxL", 3: "CxHxW", 4: "CxDxHxW"}[rank]
        raise click.BadParameter(
            f"{'x'.join(map(str, input_shape))} has {len(input_shape)} sizes but the spec's "
            f"input ({loaded.input.loc}) has {rank}; give --input as {pattern}",
            param_hint="'--input'",
        )
    return analyze(loaded, batch=batch, dtype=dtype, convention=convention,
                   input_shape=input_shape, **scale_from_options(loaded, sets))


def render_report(report: Report, fmt: str, *, all_rows: bool = False) -> Any:
    """The rich lecture table for ``table``; every text format through :func:`export.render`."""
    if fmt == "table":
        from .render_rich import report_table

        return report_table(report, max_rows=None if all_rows else 400)
    from .export import render

    return render(report, fmt)


def emit(content: Any, output: str | None, *, rich: bool = False) -> None:
    """Print or write ``content`` (text or a rich renderable). ``-o -`` (and ``-o /dev/stdout``)
    is standard output; files are written as :mod:`archcalc.outfile` says: a regular file
    atomically (a failure leaves no partial file behind), a FIFO or device written through."""
    if output is not None:
        from .outfile import own_descriptor

        fd = -1 if output == "-" else own_descriptor(output)
        if fd in (-1, 1):  # standard output, through click (and its test runner)
            output = None
        elif fd == 2:
            text = _plain(content) if rich else content
            click.echo(text, nl=False, err=True)
            return
    if rich:
        from rich.console import Console

        if output is None:
            console = Console(soft_wrap=False)
            if not console.is_terminal:
                console = Console(width=160, soft_wrap=False)
            console.print(content)
            return
        content = _plain(content)
    if output is None:
        click.echo(content, nl=False)
        return
    write_atomic(output, content if isinstance(content, (str, bytes)) else str(content))


def _plain(content: Any) -> str:
    """A rich renderable as plain text 160 columns wide (for files: rendered first, then
    written in one piece)."""
    from rich.console import Console

    with open(os.devnull, "w") as sink:
        capture = Console(file=sink, width=160, soft_wrap=False, color_system=None)
        with capture.capture() as cap:
            capture.print(content)
    return cap.get()


def write_atomic(path: str, content: str | bytes) -> None:
    """Atomic file output (see :func:`archcalc.export.write_text_atomic`)."""
    from .export import write_text_atomic

    write_text_atomic(path, content)
