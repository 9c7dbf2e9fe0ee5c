"""Commands that draw: ``draw`` (an architecture diagram through Graphviz) and ``report`` (one
self-contained HTML page), and the DOT text behind ``table --format dot``.

Imported only when one of them runs (see ``LAZY_COMMANDS`` in :mod:`archcalc.cli`).
"""

from __future__ import annotations

import os
from typing import Any

import click

from .cli_common import analysis_options, graph_from_options, spec_argument, write_atomic
from .diagram import COLORS, DIRECTIONS, IMAGE_FORMATS
from .errors import ArchcalcError

#: file extensions ``draw -o`` understands: images through Graphviz, or the DOT text itself
DOT_EXTENSIONS = (".dot", ".gv")


def dot_text(spec: str, *, direction: str = "TB", color: str = "kind",
             depth: int | None = None, max_boxes: int | None = None, input_shape: Any = None,
             batch: int = 1, dtype: str = "float32", convention: str = "lecture",
             sets: tuple[str, ...] = ()) -> str:
    """DOT text of SPEC with the command line's analysis options applied."""
    from .diagram import to_dot
    from .engine import analyze_graph

    graph = graph_from_options(spec, input_shape=input_shape, sets=sets)
    report = analyze_graph(graph, batch=batch, dtype=dtype, convention=convention)
    return to_dot(graph, report, direction=direction, color=color, depth=depth,
                  max_boxes=max_boxes)


def _draw_format(output: str) -> str:
    extension = os.path.splitext(output)[1].lower()
    if extension in DOT_EXTENSIONS:
        return "dot"
    if extension.lstrip(".") in IMAGE_FORMATS:
        return extension.lstrip(".")
    raise ArchcalcError(
        f"cannot draw a diagram as {extension or 'a file without extension'!r}",
        hint="use .svg, .png or .pdf (drawn by Graphviz), or .dot / .gv for the DOT text",
    )


direction_option = click.option(
    "--direction", type=click.Choice(DIRECTIONS, case_sensitive=False), default="TB",
    show_default=True, callback=lambda _c, _p, v: v.upper(),
    help="TB: top to bottom; LR: left to right.")
color_option = click.option(
    "--color", "--colour", "color", type=click.Choice(COLORS), default="kind",
    show_default=True,
    help="Fill by layer kind, or a heat scale on a cost (macs, flops, params, memory: the "
         "expensive layers stand out), or none.")

depth_option = click.option(
    "--depth", type=click.IntRange(min=1), default=None, metavar="N",
    help="Draw each block N levels down as one box with its subtotals (ResNet-50 at depth 1: "
         "stem, layer1 … layer4, head); default: every layer.")


@click.command()
@spec_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="FILE.svg, .png or .pdf (drawn by Graphviz's dot), or .dot/.gv (the DOT "
                   "text, no Graphviz needed).")
@direction_option
@color_option
@depth_option
@click.option("--dpi", type=click.IntRange(min=10, max=600), default=None,
              help="Resolution of a PNG (Graphviz's default: 96).")
@analysis_options
def draw(spec: str, output: str, direction: str, color: str, depth: int | None,
         dpi: int | None, **options: Any) -> None:
    """Architecture diagram of SPEC: one box per layer with its type, kernel and stride, output
    shape, params and MACs; blocks and stages as clusters; residual adds and concats as
    ellipses. Images need Graphviz (`apt-get install graphviz`)."""
    from .diagram import MAX_BOXES, find_dot, render

    fmt = _draw_format(output)
    if fmt != "dot":
        find_dot()  # before the analysis: say at once what is missing
    text = dot_text(spec, direction=direction, color=color, depth=depth,
                    max_boxes=None if fmt == "dot" else MAX_BOXES, **options)
    if fmt == "dot":
        write_atomic(output, text)
    else:
        image = render(text, fmt, dpi=dpi)
        write_atomic(output, image.data)
        for warning in image.warnings:
            hint = (" (an .svg has no size limit; --depth draws fewer boxes)"
                    if "too large" in warning else "")
            click.echo(f"warning: Graphviz: {warning}{hint}", err=True)
    click.echo(f"wrote {output}", err=True)


@click.command()
@spec_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The HTML file to write (self-contained: open it in any browser, offline).")
@click.option("--depth", type=click.IntRange(min=1), default=None, metavar="N",
              help="Draw the diagram and collapse the table to depth N (default: every layer "
                   "up to 150 layers, else the deepest depth with at most 150 boxes).")
@click.option("--no-diagram", is_flag=True, help="Leave the diagram out (no Graphviz needed).")
@click.option("--no-charts", is_flag=True, help="Leave the charts out (no matplotlib needed).")
@analysis_options
def report(spec: str, output: str, depth: int | None, no_diagram: bool, no_charts: bool,
           **options: Any) -> None:
    """One self-contained HTML page for SPEC: the totals and convention, the diagram, the
    per-layer table (collapsible by block, sortable by any column, the derivation of a row on
    click) and the charts. The diagram needs Graphviz and the charts matplotlib; without them
    the page says what is missing."""
    from .engine import analyze_graph
    from .page import make_page

    if not output.lower().endswith((".html", ".htm")):
        raise ArchcalcError(f"the report page is HTML; {output!r} does not end in .html",
                            hint="write e.g. -o net.html")
    graph = graph_from_options(spec, input_shape=options["input_shape"], sets=options["sets"])
    analysed = analyze_graph(graph, batch=options["batch"], dtype=options["dtype"],
                             convention=options["convention"])
    page = make_page(graph, analysed, depth=depth, diagram=not no_diagram,
                     charts=not no_charts)
    write_atomic(output, page.html)
    for note in page.notes:
        click.echo(f"warning: {note}", err=True)
    click.echo(f"wrote {output}", err=True)
