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


def verify_torch(graph: Any, *, batch: int, seed: int, fmt: str, output: str | None,
                 width: int | None = None, exact: bool = False) -> None:
    """``verify --against torch``: the table (or JSON), then exit 1 naming the first row that
    disagrees."""
    from .cli_common import emit_table
    from .torch_check import check_against_torch

    result = check_against_torch(graph, batch=batch, seed=seed)
    data = result.to_dict()
    if fmt == "json":
        emit(json.dumps(data, indent=2) + "\n", output)
    else:
        emit_table(torch_lines(data, width=width, exact=exact), output)
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


def torch_lines(data: dict[str, Any], *, width: int | None, exact: bool = False) -> list[Any]:
    """Per row the shape, params, buffers and MACs, each ``engine ≠ torch`` where they differ
    (in exact integers), the largest value difference (max |torch − NumPy| over the largest
    magnitude the row reads or writes), the verdict; then the totals and the method."""
    from . import units
    from .terminal import _count, _prose, _table, _title
    from .textable import Column, Line, Row

    def shape(value: list[int] | None) -> str:
        return "—" if value is None else "×".join(str(v) for v in value)

    def pair(a: int, b: int | None, whole: bool) -> str:
        if b is None:
            return _count(a, whole)
        return _count(a, whole) if a == b else f"{units.exact(a)} ≠ {units.exact(b)}"

    lines = _title(f"{data['name']} — verified against PyTorch {data['torch_version']} · input "
                   f"{shape(data['input_shape'])} · batch {data['batch']}", width)
    cols = [Column("layer", "layer", kind="name"), Column("type", "type", align="left", drop=2),
            Column("shape", "output", align="left"), Column("params", "params"),
            Column("buffers", "buffers", drop=1), Column("macs", "MACs"),
            Column("delta", "max Δ", drop=3), Column("verdict", "verdict", align="left")]

    def delta(r: dict[str, Any]) -> str:
        # the row's largest value difference over the magnitude it reads or writes
        if r.get("max_abs_diff") is None or not r.get("value_scale"):
            return "—"
        ratio = r["max_abs_diff"] / r["value_scale"]
        return "0" if ratio == 0 else f"{ratio:.0e}"

    rows = []
    for r in data["layers"]:
        ok = r["verdict"] == "ok"
        out = shape(r["output_shape"]) if r["output_shape"] == r["torch_output_shape"] else \
            f"{shape(r['output_shape'])} ≠ {shape(r['torch_output_shape'])}"
        rows.append(Row((r["name"], r["type"], out,
                         pair(r["params"], r["torch_params"], exact or not ok),
                         pair(r["buffers"], r["torch_buffers"], exact or not ok),
                         pair(r["macs"], r["torch_macs"], exact or not ok), delta(r),
                         ("ok" if not r["note"] else "ok, note") if ok else "MISMATCH"),
                        "" if ok else "red"))
    t = data["totals"]
    rows.append(Row(("total", "", "", pair(t["params"], t["torch_params"], exact),
                     pair(t["buffers"], t["torch_buffers"], exact),
                     pair(t["macs"], t["torch_macs"], exact),
                     "—" if data.get("max_rel_diff") is None else f"{data['max_rel_diff']:.0e}",
                     "ok" if data["ok"] else "FAILED"),
                    "bold" if data["ok"] else "red", rule=True))
    lines += _table(cols, rows, width)
    lines.append(Line(""))
    lines += _prose("Each figure is archcalc's and PyTorch's alike unless written engine ≠ "
                    "torch. " + data["method"] + f". {data['seconds']:.1f} s.", width)
    for n in data["notes"]:
        lines += _prose(f"note: {n}", width, "")
    return lines
