"""Options and helpers shared by the subcommands: parsing, rendering, safe output."""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from . import validate
from .engine import CONVENTIONS, DTYPE_BYTES
from .errors import quote
from .expr import MAX_INT, Number
from .graph import Graph
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


def shape_option_callback(ctx: click.Context, param: click.Parameter,
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


def _spec_cb(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    """``-`` reads the spec from standard input (at most the spec size limit)."""
    return read_stdin_spec() if value == "-" else value


def read_stdin_spec() -> Any:
    """The spec on standard input, parsed (at most the spec size limit)."""
    from .spec import parse_bytes
    from .ytree import MAX_SPEC_BYTES

    return parse_bytes(sys.stdin.buffer.read(MAX_SPEC_BYTES + 1), "<stdin>")


def stdin_specs(specs: Sequence[str], stdin_taken: str | None = None) -> list[Any]:
    """SPEC arguments with ``-`` read from standard input, which can be read once: a second
    ``-`` (or one where ``stdin_taken`` — another argument's name — already reads it) is a usage
    error."""
    dashes = sum(1 for s in specs if s == "-")
    if dashes and stdin_taken is not None:
        raise click.UsageError(f"SPEC and {stdin_taken} are both '-': standard input can be "
                               f"read once; give one of them as a file")
    if dashes > 1:
        raise click.UsageError("'-' is given as SPEC more than once: standard input can be "
                               "read once; give the others as files or bundled names")
    return [read_stdin_spec() if s == "-" else s for s in specs]


spec_argument = click.argument("spec", metavar="SPEC", callback=_spec_cb)


def analysis_options(fn: F) -> F:
    """--input, --batch, --dtype, --convention, --set."""
    options = [
        click.option("--input", "input_shape", callback=shape_option_callback, metavar="CxHxW",
                     multiple=True, help="Override the input size, e.g. 3x224x224 (several "
                     "inputs: NAME=CxHxW, repeated)."),
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
    """--format/-f among ``choices``; the first choice is the default (or the -o extension)."""
    return click.option("--format", "-f", "fmt", type=click.Choice(choices), default=None,
                        help=f"Output format (default: {choices[0]}, or from the -o "
                             "extension).")


output_option = click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
                             help="Write to FILE instead of standard output.")


def report_from_options(spec: str | Spec, *, input_shape: Any, batch: int,
                        dtype: str, convention: str, sets: tuple[str, ...]) -> Report:
    from . import analyze

    graph = graph_from_options(spec, input_shape=input_shape, sets=sets)
    return analyze(graph, batch=batch, dtype=dtype, convention=convention)


def graph_from_options(spec: str | Spec, *, input_shape: Any, sets: tuple[str, ...]) -> Graph:
    """The built graph of SPEC with ``--input`` and ``--set`` applied."""
    from . import load_spec, to_graph

    if isinstance(spec, str) and spec.lower().endswith(".onnx") and input_shape is not None:
        if isinstance(input_shape, dict):
            raise click.BadParameter("an ONNX model is re-inferred at one size: give --input "
                                     "as CxHxW", param_hint="'--input'")
        from .onnx_import import onnx_spec  # the ONNX model re-inferred at that size

        loaded = onnx_spec(spec, input_shape)
    else:
        loaded = load_spec(spec)
    check_input_rank(loaded, input_shape)
    return to_graph(loaded, input_shape=input_shape, scale=scale_from_options(loaded, sets))


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


def _depth_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None or value.lower() in ("full", "all"):
        return None if value is None else "full"
    try:
        depth = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a depth such as 1 or 2, or full") from None
    if depth < 1:
        raise click.BadParameter(f"{depth}: depth 1 is the top-level groups; give 1 or more")
    return depth


def _columns_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    from .errors import ArchcalcError
    from .tableview import parse_columns

    try:
        parse_columns(value)
    except ArchcalcError as exc:
        raise click.BadParameter(f"{exc.what}; {exc.hint}") from None
    return value


VIEW_KEYS = ("style", "exact", "columns", "depth", "first", "last", "wide", "quiet",
             "explain_convention")


def view_options(fn: F) -> F:
    """How the table reads: --style, --exact, --columns, --depth, --from/--to, --wide,
    --quiet, --explain-convention; passed to the command as one ``view`` dict."""
    from .tableview import COLUMN_KEYS

    options = [
        click.option("--depth", callback=_depth_cb, metavar="N|full",
                     help="Collapse groups below depth N into one row each with subtotals "
                          "(ResNet-50 at 1: stem, layer1 ... layer4, head; full: every layer "
                          "under its group headers)."),
        click.option("--from", "first", metavar="LAYER",
                     help="Start the table at LAYER (a layer or a group) and add the range's "
                          "subtotal."),
        click.option("--to", "last", metavar="LAYER",
                     help="End the table at LAYER (a layer or a group), e.g. --to pool3."),
        click.option("--style", type=click.Choice(["human", "lecture"]), default=None,
                     help="human: auto-scaled units (25.6 M, 4.09 G, 97.5 MiB); lecture: the "
                          "slides' memory KB / params k / flop M. Default: lecture for the "
                          "lecture tables' specs (alexnet, vgg16, vgg19, googlenet_stem), "
                          "else human."),
        click.option("--exact", is_flag=True,
                     help="Exact integers (memory in bytes) instead of scaled units."),
        click.option("--columns", callback=_columns_cb, metavar="LIST",
                     help="Columns to show: a list, or +KEY/-KEY to edit the default. Keys: "
                          + " ".join(COLUMN_KEYS) + "."),
        click.option("--wide", is_flag=True,
                     help="Every column, however wide the table (default: fit the terminal, "
                          "dropping columns in a stated order with a footer)."),
        click.option("--quiet", "-q", is_flag=True,
                     help="Only the header line and the table: no totals block, no "
                          "convention line."),
        click.option("--explain-convention", is_flag=True,
                     help="The full counting convention after the table (default: one line)."),
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        view = {key: kwargs.pop(key) for key in VIEW_KEYS}
        return fn(*args, view=view, **kwargs)

    out: Any = wrapper
    for option in reversed(options):
        out = option(out)
    return out  # type: ignore[no-any-return]


def output_width() -> int:
    """The width tables are laid out in: ``$COLUMNS`` when set, else the terminal of stdout (or
    of stderr, when stdout is piped: ``archcalc list | head`` fits the terminal it shows in),
    else 100 (no terminal at all: a file, CI)."""
    value = os.environ.get("COLUMNS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream.isatty():
                return os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):  # no real file behind the stream
            continue
    return 100


def file_width() -> int:
    """The width of a text table written with ``-o``: ``$COLUMNS`` when set, else 100."""
    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else 100


def emit_report(report: Report, fmt: str, output: str | None, *, spec: str = "",
                all_rows: bool = False, style: str | None = None, exact: bool = False,
                columns: str | None = None, depth: int | str | None = None,
                first: str | None = None, last: str | None = None, wide: bool = False,
                quiet: bool = False, explain_convention: bool = False,
                graph: Any = None) -> None:
    """Render ``report`` as ``fmt`` with the view options and print or write it."""
    from .tableview import FULL_DEPTH, LECTURE_SPECS, Options, kernel_texts

    shaped = [name for name, on in (("--depth", depth is not None), ("--from", first),
                                    ("--to", last)) if on]
    if fmt in ("json", "csv") and shaped:
        raise click.UsageError(
            f"{' and '.join(shaped)} shape the table, Markdown, LaTeX and HTML views; "
            f"{fmt.upper()} always carries every layer with its block path (and JSON the "
            "group subtotals)")
    chosen_style = style or ("lecture" if isinstance(spec, str) and spec in LECTURE_SPECS
                             else "human")
    kernels = None
    if columns is not None and "kernel" in columns:
        from . import to_graph

        kernels = kernel_texts(graph if graph is not None else to_graph(spec))
    options = Options(style=chosen_style, exact=exact, columns=columns,
                      depth=FULL_DEPTH if depth == "full" else
                      None if depth is None else int(depth),
                      first=first, last=last, max_rows=None if all_rows else 400,
                      kernels=kernels, quiet=quiet, full_convention=explain_convention)
    if fmt == "table":
        from .tableview import report_lines

        width = None if wide else output_width() if output is None else file_width()
        emit_lines(report_lines(report, options, width=width), output)
        return
    from .export import render

    emit(render(report, fmt, options), output)


def layout_options(fn: F) -> F:
    """--exact and --wide, for the commands whose tables are not the report table."""
    fn = click.option("--wide", is_flag=True,
                      help="Every column, however wide (default: fit the terminal, dropping "
                           "columns in a stated order with a footer).")(fn)
    return click.option("--exact", is_flag=True,
                        help="Exact integers instead of scaled units (25.6 M).")(fn)


def table_width(wide: bool) -> int | None:
    """The width to lay a table out in: none with ``--wide``, else :func:`output_width`."""
    return None if wide else output_width()


def standard_stream(output: str | None) -> int | None:
    """1 or 2 when ``output`` is standard output or error — no ``-o``, ``-o -``, ``/dev/stdout``,
    ``/proc/self/fd/2``, a link to one — else None (a path to write)."""
    if output is None or output == "-":
        return 1
    from .outfile import own_descriptor

    fd = own_descriptor(output)
    return fd if fd in (1, 2) else None


def emit_table(content: Any, output: str | None) -> None:
    """Text as it is, or :class:`~archcalc.textable.Line` s styled for a terminal."""
    if isinstance(content, list):
        emit_lines(content, output)
    else:
        emit(content, output)


def emit_lines(lines: Any, output: str | None) -> None:
    """Print styled lines (bold/dim in a terminal, plain in a pipe) or write them plain."""
    from .textable import styled

    stream = standard_stream(output)
    if stream is not None:  # click strips ANSI off a terminal
        click.echo(styled(lines, color=stream == 1), nl=False, err=stream == 2)
        return
    assert output is not None
    write_atomic(output, styled(lines, color=False))


def emit(content: Any, output: str | None, *, rich: bool = False) -> None:
    """Print or write ``content`` (text or a rich renderable). ``-o -`` (and ``-o /dev/stdout``)
    is standard output; files are written as :mod:`archcalc.outfile` says: a regular file
    atomically (a failure leaves no partial file behind), a FIFO or device written through."""
    stream = standard_stream(output)
    if stream == 1:  # standard output, through click (and its test runner)
        output = None
    elif stream == 2:
        click.echo(_plain(content) if rich else content, nl=False, err=True)
        return
    if rich:
        from rich.console import Console

        if output is None:
            console = Console(soft_wrap=False)
            if not console.is_terminal:
                console = Console(width=output_width(), soft_wrap=False)
            console.print(content)
            return
        content = _plain(content)
    if output is None:
        click.echo(content, nl=False)
        return
    write_atomic(output, content if isinstance(content, (str, bytes)) else str(content))


def _plain(content: Any) -> str:
    """A rich renderable as plain text :func:`output_width` wide (for files: rendered first,
    then written in one piece)."""
    from rich.console import Console

    with open(os.devnull, "w") as sink:
        capture = Console(file=sink, width=output_width(), soft_wrap=False, color_system=None)
        with capture.capture() as cap:
            capture.print(content)
    return cap.get()


def write_atomic(path: str, content: str | bytes) -> None:
    """``-o PATH`` output: standard output or error by name (``-``, ``/dev/stdout``, …),
    else as :mod:`archcalc.outfile` writes (a regular file atomically, a FIFO or device
    through; see :func:`archcalc.export.write_text_atomic`)."""
    stream = standard_stream(path)
    if stream is not None:
        click.echo(content, nl=False, err=stream == 2)
        return
    from .export import write_text_atomic

    write_text_atomic(path, content)
