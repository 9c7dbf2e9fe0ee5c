"""The analysis result and its plain-text renderings (JSON contract, CSV, Markdown).

A :class:`Report` is immutable and computes nothing: every figure comes from
:mod:`archcalc.engine`. ``to_dict`` is the public JSON contract documented in the README.
Rich terminal rendering lives in :mod:`archcalc.render_rich` so that importing the library
does not import rich.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from .errors import unknown_name
from .shapes import AxisRF

JSON_VERSION = 1


def _num(value: int | Fraction) -> int | float:
    return int(value) if value.denominator == 1 else float(value)


#: Receptive field on one spatial axis: ``size`` and ``jump`` in input pixels, ``start`` = input
#: coordinate of the centre of the first output unit's field (ints, or Fractions when a grid is
#: refined by upsampling).
RFAxis = AxisRF


class LayerRow(NamedTuple):
    """One layer of a report, in exact integers: ``macs``, ``flops`` and ``activation_bytes``
    are for the whole batch, ``params`` and ``buffers`` do not depend on it. ``post`` lists the
    fused element-wise ops (``bn``, ``relu``) counted in this row."""

    name: str
    type: str
    inputs: tuple[str, ...]
    output_shape: tuple[int, ...]
    params: int
    buffers: int
    macs: int
    flops: int
    activation_bytes: int
    receptive_field: tuple[RFAxis, ...] | None
    post: tuple[str, ...] = ()
    #: enclosing groups (block calls, stage blocks, repeats), outermost first: ``Node.path``
    path: tuple[str, ...] = ()

    def rf_dict(self) -> dict[str, list[int | float]] | None:
        if self.receptive_field is None:
            return None
        return {
            "size": [_num(a.size) for a in self.receptive_field],
            "jump": [_num(a.jump) for a in self.receptive_field],
            "start": [_num(a.start) for a in self.receptive_field],
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "post": list(self.post),
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "receptive_field": self.rf_dict(),
        }


@dataclass(frozen=True)
class Totals:
    """Sums over the layers, plus ``param_bytes`` (params × dtype bytes) and
    ``peak_activation_bytes`` (largest sum of tensors alive at once, input included)."""

    params: int
    buffers: int
    macs: int
    flops: int
    activation_bytes: int
    param_bytes: int
    peak_activation_bytes: int

    def to_dict(self) -> dict[str, int]:
        return {
            "params": self.params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes,
            "peak_activation_bytes": self.peak_activation_bytes,
        }


@dataclass(frozen=True)
class Report:
    """Per-layer rows and totals of one analysis, with the counting convention that made them."""

    name: str
    input_shape: tuple[int, ...]
    batch: int
    dtype: str
    convention: str
    convention_text: str
    layers: tuple[LayerRow, ...]
    totals: Totals
    output: str = ""
    warnings: tuple[str, ...] = ()
    scale: Mapping[str, float | int] = field(default_factory=dict)

    def layer(self, name: str) -> LayerRow:
        """The row named ``name``; else an :class:`~archcalc.errors.UnknownNameError` (also a
        KeyError) naming the closest names that exist."""
        if not isinstance(name, str):
            raise TypeError(f"layer names are str, got {type(name).__name__}")
        for row in self.layers:
            if row.name == name:
                return row
        raise unknown_name("layer", name, (row.name for row in self.layers),
                           f"report {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (see the README, section "JSON output")."""
        return {
            "archcalc_json": JSON_VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "batch": self.batch,
            "dtype": self.dtype,
            "convention": self.convention,
            "convention_text": self.convention_text,
            "scale": dict(self.scale),
            "output": self.output,
            "layers": [row.to_dict() for row in self.layers],
            "totals": self.totals.to_dict(),
            "warnings": list(self.warnings),
        }

    def to_json(self) -> str:
        import json  # here, not at import time: `archcalc table` renders without it

        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_csv(self) -> str:
        return report_csv(self)

    def to_markdown(self) -> str:
        return report_markdown(self)

    def to_latex(self) -> str:
        """A booktabs ``tabular`` for a Beamer slide (see :func:`archcalc.export.report_latex`)."""
        from .export import report_latex

        return report_latex(self)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        """Jupyter shows the lecture table (see :func:`archcalc.export.report_html`)."""
        from .export import report_html

        return report_html(self, max_rows=400)


# --------------------------------------------------------------------------- table cells --

COLUMNS = ("layer", "type", "output", "memory KB", "params k", "flop M", "RF")


def fmt_shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in shape)


def fmt_rf(row: LayerRow) -> str:
    if row.receptive_field is None:
        return "–"
    sizes = [_num(a.size) for a in row.receptive_field]
    text = [f"{s:g}" if isinstance(s, float) else str(s) for s in sizes]
    return text[0] if len(set(text)) == 1 else "×".join(text)


def kb(n: int) -> str:
    return f"{n / 1024:,.1f}"


def kilo(n: int) -> str:
    return f"{n / 1000:,.1f}"


def mega(n: int) -> str:
    return f"{n / 1e6:,.1f}"


def row_cells(row: LayerRow) -> tuple[str, ...]:
    kind = "+".join((row.type, *row.post))
    return (row.name, kind, fmt_shape(row.output_shape), kb(row.activation_bytes),
            kilo(row.params), mega(row.flops), fmt_rf(row))


def total_cells(report: Report) -> tuple[str, ...]:
    t = report.totals
    return ("total", "", "", kb(t.activation_bytes), kilo(t.params), mega(t.flops), "")


def summary_lines(report: Report) -> list[str]:
    t = report.totals
    shape = fmt_shape(report.input_shape)
    return [
        f"{report.name}: input {shape}, batch {report.batch}, {report.dtype}",
        f"params {t.params:,} (+ {t.buffers:,} buffers, {t.param_bytes / 2**20:,.2f} MiB)"
        f" · MACs {t.macs:,} · FLOPs {t.flops:,} ({report.convention})",
        f"activations {t.activation_bytes / 2**20:,.2f} MiB in total · peak live "
        f"{t.peak_activation_bytes / 2**20:,.2f} MiB",
        f"convention: {report.convention_text}",
        "units: memory KB = bytes/1024 · params k = /1000 · flop M = /10^6 · RF = receptive"
        " field in input pixels",
    ]


def report_markdown(report: Report) -> str:
    out = io.StringIO()
    out.write(f"**{report.name}** — input {fmt_shape(report.input_shape)}\n\n")
    out.write("| " + " | ".join(COLUMNS) + " |\n")
    out.write("|" + "|".join(["---"] * 3 + ["---:"] * 3 + ["---:"]) + "|\n")
    for row in report.layers:
        out.write("| " + " | ".join(_md_escape(c) for c in row_cells(row)) + " |\n")
    out.write("| " + " | ".join(f"**{c}**" if c else "" for c in total_cells(report)) + " |\n\n")
    for line in summary_lines(report)[1:]:
        out.write(f"{_md_escape(line)}  \n")
    for warning in report.warnings:
        out.write(f"warning: {_md_escape(warning)}  \n")
    return out.getvalue()


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


CSV_FIELDS = ("name", "type", "post", "inputs", "output_shape", "params", "buffers", "macs",
              "flops", "activation_bytes", "rf_size", "rf_jump", "rf_start")


def report_csv(report: Report) -> str:
    """One row per layer with exact integers; shapes and per-axis values joined by 'x'."""
    out = io.StringIO()
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in report.layers:
        rf = row.rf_dict()
        writer.writerow([
            row.name, row.type, "+".join(row.post), " ".join(row.inputs),
            "x".join(map(str, row.output_shape)), row.params, row.buffers, row.macs,
            row.flops, row.activation_bytes,
            *(["x".join(f"{v:g}" for v in rf[k]) for k in ("size", "jump", "start")]
              if rf else ["", "", ""]),
        ])
    t = report.totals
    writer.writerow(["total", "", "", "", "", t.params, t.buffers, t.macs, t.flops,
                     t.activation_bytes, "", "", ""])
    return out.getvalue()
