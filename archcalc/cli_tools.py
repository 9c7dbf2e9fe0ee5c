"""Commands for lecture tooling: ``plot``, ``list``, ``show`` and ``schema``.

Imported only when one of them runs (see ``LAZY_COMMANDS`` in :mod:`archcalc.cli`).
"""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import click

from .cli_common import analysis_options, emit, output_option, report_from_options
from .errors import ArchcalcError


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
    reports = [report_from_options(spec, **options) for spec in specs]
    if output is not None:
        charts.save(reports, output, metric, dpi=dpi, depth=depth, scale=scale)
        click.echo(f"wrote {output}", err=True)
        return
    emit(charts.terminal_bars(reports, metric, depth=depth), None, rich=True)
    if importlib.util.find_spec("matplotlib") is None:
        click.echo(f"for an image (-o chart.png): {charts.INSTALL_HINT}", err=True)


def _one_line(text: str, width: int = 72) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


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
            row["description"] = _one_line(spec.description or _first_comment(spec.text))
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
def list_specs(fmt: str) -> None:
    """The bundled specs with one-line descriptions and their totals (params, conv/fc MACs at
    the spec's own input size). `archcalc show NAME` prints one to copy and modify."""
    rows = spec_rows()
    if fmt == "json":
        emit(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", None)
    else:
        from rich import box
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, title="bundled specs", title_justify="left")
        table.add_column("name", no_wrap=True)
        table.add_column("description")
        table.add_column("input", no_wrap=True)
        table.add_column("params M", justify="right", no_wrap=True)
        table.add_column("GMACs", justify="right", no_wrap=True)
        for row in rows:
            if "error" in row:
                table.add_row(row["name"], f"[red]error: {row['error']}[/red]", "", "", "")
                continue
            description = row["description"]
            if row["variants"]:
                description += f" [dim](variants: {', '.join(row['variants'])})[/dim]"
            table.add_row(row["name"], description, "×".join(map(str, row["input"])),
                          f"{row['params'] / 1e6:,.2f}", f"{row['macs'] / 1e9:,.3f}")
        emit(table, None, rich=True)
    failed = [row["name"] for row in rows if "error" in row]
    if failed:
        raise ArchcalcError("bundled specs that do not analyse: " + ", ".join(failed))


@click.command()
@click.argument("name", metavar="NAME")
@output_option
def show(name: str, output: str | None) -> None:
    """Print the YAML of a bundled spec (or a variant such as mobilenet_v2_0.5), to copy and
    modify: `archcalc show alexnet -o mynet.yaml`."""
    from . import load_spec

    spec = load_spec(name)
    text = spec.text
    if spec.variant is not None:
        settings = ", ".join(f"{k}={v}" for k, v in spec.variants[spec.variant].items())
        text = (f"# {name}: variant {spec.variant!r} of {spec.file} ({settings}); select it "
                f"with `--set {settings.replace(', ', ' --set ')}`\n" + text)
    emit(text if text.endswith("\n") else text + "\n", output)


@click.command()
@output_option
def schema(output: str | None) -> None:
    """Print the JSON Schema of the spec format, for editors: save it with
    `archcalc schema -o archcalc.schema.json` and start a spec with
    `# yaml-language-server: $schema=archcalc.schema.json`."""
    from .schema import schema_text

    emit(schema_text(), output)
