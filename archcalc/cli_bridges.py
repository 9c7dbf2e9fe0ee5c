"""``archcalc export SPEC --to pytorch``, ``archcalc import model.onnx`` and the rendering of
``archcalc verify SPEC --against torch``. Imported only when one of them runs; torch and onnx
only inside (optional extras)."""

from __future__ import annotations

import json
from typing import Any

import click

from .cli_common import emit, graph_from_options, output_option, parse_shape, spec_argument
from .errors import BridgeError


def _shape_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    return None if value is None else parse_shape(value)


@click.command()
@spec_argument
@click.option("--to", "target", type=click.Choice(["pytorch"]), default="pytorch",
              show_default=True, help="What to write.")
@click.option("--input", "input_shape", callback=_shape_cb, metavar="CxHxW",
              help="Override the input size, e.g. 3x224x224.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a scale parameter (width, resolution, ...).")
@output_option
def export(spec: str, target: str, input_shape: tuple[int, ...] | None, sets: tuple[str, ...],
           output: str | None) -> None:
    """Write SPEC as a standalone PyTorch module (needs only torch to run): every table row is
    the submodule of the same name, blocks and stages are submodules, fused bn/act are the
    layers they are, merges are written in forward. A layer PyTorch cannot express is refused
    by name."""
    from .torch_export import export_pytorch

    graph = graph_from_options(spec, input_shape=input_shape, sets=sets)
    emit(export_pytorch(graph, source=spec).code, output)


@click.command("import")
@click.argument("model", metavar="MODEL.onnx")
@click.option("--input", "input_shape", callback=_shape_cb, metavar="CxHxW",
              help="Fix an input whose sizes are symbolic, e.g. 3x224x224.")
@click.option("--name", default=None, help="The spec's name (default: the file's).")
@output_option
def import_onnx(model: str, input_shape: tuple[int, ...] | None, name: str | None,
                output: str | None) -> None:
    """Read an ONNX model and write it as an archcalc spec: one layer per line, named after the
    ONNX nodes, Conv+BN+activation as one row, shape plumbing folded. `archcalc table
    MODEL.onnx` does the same in memory."""
    from .onnx_import import import_onnx as run_import

    emit(run_import(model, input_shape=input_shape, name=name).text, output)


def verify_torch(graph: Any, *, batch: int, seed: int, fmt: str, output: str | None) -> None:
    """``verify --against torch``: the table (or JSON), then exit 1 naming the first row that
    disagrees."""
    from .torch_check import check_against_torch

    result = check_against_torch(graph, batch=batch, seed=seed)
    data = result.to_dict()
    if fmt == "json":
        emit(json.dumps(data, indent=2) + "\n", output)
    else:
        emit(_render(data), output, rich=True)
    failures = result.failures
    if failures:
        row = failures[0]
        raise BridgeError("; ".join(row.problems), layer=f"layer {row.name!r} ({row.type})",
                          hint="archcalc and PyTorch disagree: a bug in the engine or in "
                               "the exporter")
    if not result.ok:
        raise BridgeError(
            f"totals disagree: params {result.params:,} vs {result.torch_params:,}, buffers "
            f"{result.buffers:,} vs {result.torch_buffers:,}, MACs {result.macs:,} vs "
            f"{result.torch_macs:,}", hint="archcalc and PyTorch disagree")


def _shape(shape: list[int] | None) -> str:
    return "—" if shape is None else "×".join(str(v) for v in shape)


def _render(data: dict[str, Any]) -> Any:
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = (f"{data['name']} — verified against PyTorch {data['torch_version']}: input "
             f"{_shape(data['input_shape'])}, batch {data['batch']}")
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for col, right in (("layer", False), ("module", False), ("shape", False),
                       ("params", True), ("buffers", True), ("MACs", True),
                       ("verdict", False)):
        table.add_column(col, justify="right" if right else "left", no_wrap=col != "layer")
    for row in data["layers"]:
        bad = row["verdict"] != "ok"

        def pair(a: Any, b: Any) -> str:
            return f"{a:,}" if a == b else f"{a:,} ≠ {b:,}"

        shape = _shape(row["output_shape"]) if row["output_shape"] == \
            row["torch_output_shape"] else (f"{_shape(row['output_shape'])} ≠ "
                                            f"{_shape(row['torch_output_shape'])}")
        macs = "—" if row["torch_macs"] is None else pair(row["macs"], row["torch_macs"])
        table.add_row(row["name"], row["module"] or "(forward)", shape,
                      pair(row["params"], row["torch_params"]),
                      pair(row["buffers"], row["torch_buffers"]), macs,
                      ("ok" if not row["note"] else "ok (note)") if not bad else "MISMATCH",
                      style="bold red" if bad else "")
    t = data["totals"]
    table.add_section()
    table.add_row("total", "", "", f"{t['params']:,}", f"{t['buffers']:,}", f"{t['macs']:,}",
                  "ok" if data["ok"] else "FAILED", style="bold")
    parts: list[Any] = [table, Text(
        "engine = torch in every column unless written a ≠ b. Method: "
        + data["method"] + f"; {data['seconds']:.1f} s. (forward): a merge written in "
        "forward, no module.", style="dim")]
    parts += [Text(f"note: {n}") for n in data["notes"]]
    return Group(*parts)
