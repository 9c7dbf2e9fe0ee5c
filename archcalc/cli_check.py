"""``archcalc check SPEC TABLE``: a thin click layer over :mod:`archcalc.check`."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from .cli_common import (
    analysis_options,
    emit,
    format_option,
    output_option,
    parse_sets,
    stdin_specs,
)

if TYPE_CHECKING:
    from .check import CheckResult


def split_range(text: str) -> tuple[str, str | None, str | None]:
    """``vgg16:conv1_1..pool3`` → ("vgg16", "conv1_1", "pool3"); ``vgg16:..pool3`` → (vgg16,
    None, pool3); a plain spec (or a file that exists) → (spec, None, None)."""
    if os.path.exists(text) or ":" not in text:
        return text, None, None
    spec, _, span = text.rpartition(":")
    if ".." not in span:
        raise click.BadParameter(f"{text!r}: a layer range is SPEC:FIRST..LAST, e.g. "
                                 "vgg16:conv1_1..pool3 (either end may be left out)")
    first, _, last = span.partition("..")
    return spec, first.strip() or None, last.strip() or None


@click.command()
@click.argument("spec", metavar="SPEC")
@click.argument("table", metavar="TABLE", type=click.Path(dir_okay=False, allow_dash=True))
@analysis_options
@click.option("--against", default=None, metavar="SPEC2",
              help="A second network, for the lines that name it and for ratios such as "
                   "'(19.4x)'; SPEC2:FIRST..LAST takes the totals over those layers only.")
@click.option("--strict", is_flag=True,
              help="Also fail (exit 1) when a row, line or column could not be checked.")
@click.option("--all", "show_all", is_flag=True,
              help="List every figure checked, not only those that disagree.")
@format_option(("text", "json", "markdown"))
@output_option
def check(spec: str, table: str, against: str | None, strict: bool, show_all: bool,
          fmt: str | None, output: str | None, input_shape: Any, batch: int, dtype: str,
          convention: str, sets: tuple[str, ...]) -> None:
    """Check a slide's table against first principles: TABLE (Markdown, CSV or tab-separated,
    as pasted; '-' reads standard input) is read with its columns in the slide's units —
    layer, C, H / W, filters, kernel, stride, pad, memory (KB), params (k), flop (M), … — and
    its total lines, statements and arithmetic. Every figure that disagrees is shown with the
    first-principles value, its derivation and the likely cause. Exit 0 when every figure
    agrees within the slide's printed rounding, 1 otherwise.

    \b
    archcalc check alexnet slide.tsv
    archcalc check googlenet_stem stem.txt --against vgg16:..pool3
    archcalc check vgg16 totals.txt --against alexnet
    """
    from . import load_spec
    from .check import check as run_check
    from .check import network
    from .errors import ArchcalcError

    name, first, last = split_range(spec)
    if table == "-":
        text = sys.stdin.read()
        source = "<stdin>"
    else:
        try:
            with open(table, encoding="utf-8") as fh:
                text = fh.read(2 << 20)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ArchcalcError(f"cannot read {table}: {reason or exc}") from None
        source = table
    scale = parse_sets(sets)
    (source_spec,) = stdin_specs([name], stdin_taken="TABLE" if table == "-" else None)
    main_spec = load_spec(source_spec)
    main = network(main_spec, name, input_shape=input_shape, scale=scale, batch=batch,
                   dtype=dtype, convention=convention, first=first, last=last)
    other = None
    if against is not None:
        a_name, a_first, a_last = split_range(against)
        other = network(load_spec(a_name), a_name, batch=batch, dtype=dtype,
                        convention=convention, first=a_first, last=a_last)
    result = run_check(text, main, spec=main_spec, against=other, source=source)
    fmt = fmt or ("json" if (output or "").endswith(".json") else
                  "markdown" if (output or "").endswith(".md") else "text")
    if fmt == "json":
        body = result.to_json()
    elif fmt == "markdown":
        body = result.to_markdown()
    else:
        body = result.to_text() if not show_all else _all_text(result)
    emit(body, output)
    if not result.ok or (strict and result.skipped):
        click.get_current_context().exit(1)


def _all_text(result: CheckResult) -> str:
    lines = [f"{result.source}:{f.line}:{f.col}: {'ok ' if f.agrees else 'NO '} {f.where}: "
             f"slide {f.printed}, first principles {f.expected}" for f in result.findings]
    return "\n".join(lines) + "\n" + result.to_text()


__all__ = ["check", "split_range"]
