"""Commands for lecture tooling: ``plot``, ``list``, ``show`` and ``schema``.

Imported only when one of them runs (see ``LAZY_COMMANDS`` in :mod:`archcalc.cli`).
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import click

from .cli_common import (
    analysis_options,
    emit,
    emit_table,
    layout_options,
    output_option,
    report_from_options,
    stdin_specs,
    table_width,
)
from .errors import ArchcalcError
from .textable import wrap


@click.command()
@click.argument("specs", nargs=-1, required=True, metavar="SPEC [SPEC...]")
@click.option("--metric", "-m", type=click.Choice(["memory", "params", "flops", "all"]),
              default="all", show_default=True,
              help="Per-layer activation memory (KB), parameters (k) or FLOPs (M); all: the "
                   "three panels stacked.")
@click.option("--depth", type=click.IntRange(min=1), default=None, metavar="N",
              help="One bar per block N levels down, with its subtotals: 1 gives one bar per "
                   "stage (the ResNet / EfficientNet stage tables as bars).")
@click.option("--scale", type=click.Choice(["auto", "linear", "log"]), default="auto",
              show_default=True,
              help="auto: log when a linear axis would flatten most bars.")
@analysis_options
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the chart to FILE (.png, .svg or .pdf; needs matplotlib). Without it "
                   "the bars are drawn in the terminal.")
@click.option("--dpi", type=click.IntRange(min=10, max=1200), default=120, show_default=True,
              help="Resolution of a PNG (the figure is 16 x 9 inches: 1920 x 1080 at 120).")
def plot(specs: tuple[str, ...], metric: str, depth: int | None, scale: str,
         output: str | None, dpi: int, **options: Any) -> None:
    """Per-layer bar charts of SPEC for a slide (16:9), as on the AlexNet slide: most memory
    in the early conv layers, nearly all parameters in the FC layers, most FLOPs in the conv
    layers. Two or more SPECs are compared with bars aligned by layer name (or by stage with
    --depth 1). Images need `pip install 'archcalc[plot]'`."""
    from . import plot as charts

    if output is not None:
        charts.require_matplotlib()  # before the analysis: say at once what is missing
    reports = [report_from_options(spec, **options) for spec in stdin_specs(specs)]
    if output is not None:
        charts.save(reports, output, metric, dpi=dpi, depth=depth, scale=scale)
        click.echo(f"wrote {output}", err=True)
        return
    emit(charts.terminal_bars(reports, metric, depth=depth), None, rich=True)
    if importlib.util.find_spec("matplotlib") is None:
        click.echo(f"for an image (-o chart.png): {charts.INSTALL_HINT}", err=True)


def _first_comment(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") and stripped.strip("# "):
            return stripped.lstrip("# ")
        if stripped and not stripped.startswith("#"):
            break
    return ""


def spec_rows() -> list[dict[str, Any]]:
    """One entry per bundled spec: name, description, input, variants and totals (params,
    buffers, conv/fc MACs); a spec that fails to analyse carries its error instead."""
    from . import analyze, bundled_names, load_spec

    rows: list[dict[str, Any]] = []
    for name in bundled_names():
        row: dict[str, Any] = {"name": name}
        try:
            spec = load_spec(name)
            row["description"] = " ".join((spec.description or
                                           _first_comment(spec.text)).split())
            row["variants"] = [f"{name}_{v}" for v in spec.variants]
            report = analyze(spec, convention="macs")
            row["input"] = list(report.input_shape)
            row["params"] = report.totals.params
            row["buffers"] = report.totals.buffers
            row["macs"] = report.totals.macs
        except ArchcalcError as exc:
            row["error"] = exc.what
        rows.append(row)
    return rows


@click.command("list")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Output format.")
@layout_options
def list_specs(fmt: str, exact: bool, wide: bool) -> None:
    """The bundled specs with their descriptions and totals (params, conv/fc MACs at the
    spec's own input size). `archcalc show NAME` prints one to copy and modify."""
    rows = spec_rows()
    if fmt == "json":
        emit(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", None)
    else:
        from .terminal import spec_list_lines

        width = table_width(wide)
        lines = spec_list_lines(rows, width=width, exact=exact)
        lines += wrap("slide decks 000–004 in the descriptions: the five lectures whose tables "
                      "the lecture specs reproduce (docs/lecture-errata.md lists them)", width,
                      indent="  ", style="dim")
        emit_table(lines, None)
    failed = [row["name"] for row in rows if "error" in row]
    if failed:
        raise ArchcalcError("bundled specs that do not analyse: " + ", ".join(failed))


@click.command()
@click.argument("name", metavar="NAME")
@output_option
def show(name: str, output: str | None) -> None:
    """Print the YAML of a bundled spec (or a variant such as mobilenet_v2_0.5), to copy and
    modify: `archcalc show alexnet -o mynet.yaml`. A variant's copy has the variant's values
    as its `scale:` defaults, so it analyses the same as the variant."""
    from . import load_spec

    spec = load_spec(name)
    text = spec.text if spec.variant is None else variant_text(spec, name)
    emit(text if text.endswith("\n") else text + "\n", output)


def variant_text(spec: Any, name: str) -> str:
    """The spec's text with its top-level ``scale:`` replaced by the scale in force for the
    selected variant (one flow mapping), under a comment saying where it came from."""
    assert spec.variant is not None
    settings = ", ".join(f"{k}: {v}" for k, v in spec.scale.items())
    note = (f"# {name}: variant {spec.variant!r} of {spec.file}, its values written as the "
            f"`scale:` defaults below")
    lines = spec.text.splitlines(keepends=True)
    key = "scale" if "scale" in spec.root.keypos else "variants"
    start = spec.root.keypos[key][0] - 1  # the key's line, 0-based
    stop = start + 1
    if key == "scale":
        while stop < len(lines) and (lines[stop][:1] in (" ", "\t") or not lines[stop].strip()):
            stop += 1  # a block mapping's indented lines
    else:  # no `scale:` to replace: add one before `variants:`
        stop = start
    lines[start:stop] = [f"scale: {{{settings}}}   # variant {spec.variant!r}\n"]
    return note + "\n" + "".join(lines)


@click.command()
@output_option
def schema(output: str | None) -> None:
    """Print the JSON Schema of the spec format, for editors: save it with
    `archcalc schema -o archcalc.schema.json` and start a spec with
    `# yaml-language-server: $schema=archcalc.schema.json`."""
    from .schema import schema_text

    emit(schema_text(), output)
