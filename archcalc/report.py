"""The analysis result, its JSON contract and CSV.

A :class:`Report` is immutable and computes nothing: every figure comes from
:mod:`archcalc.engine` (and :mod:`archcalc.hierarchy` for group subtotals). ``to_dict`` is the
public JSON contract documented in the README. The tables (terminal text, Markdown, LaTeX,
HTML) are laid out by :mod:`archcalc.tableview`, :mod:`archcalc.textable` and
:mod:`archcalc.export`, imported only when used.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from .shapes import AxisRF, prod

if TYPE_CHECKING:
    from .hierarchy import Group, Hierarchy

#: version of the JSON contract: 2 added each layer's ``path``, the ``groups`` with subtotals
#: and ``totals.input_bytes``/``buffer_bytes``/``estimated_total_bytes``; 3 the ``training``
#: block of ``table --training`` (README, "JSON output" and "Training cost")
JSON_VERSION = 3


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
    #: regions per sample (R after RoI pooling): ``macs``, ``flops`` and ``activation_bytes``
    #: include the factor, ``params`` do not
    multiplicity: int = 1
    #: the layer whose weights this one uses (``share:``); its own ``params`` are then 0
    shares: str = ""
    #: only training-only outputs need it (an auxiliary head): not in the inference totals
    training: bool = False

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
            "path": list(self.path),
            "inputs": list(self.inputs),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "receptive_field": self.rf_dict(),
            **self.graph_keys(),
        }

    def graph_keys(self) -> dict[str, Any]:
        """The optional keys of the contract: present only when they apply."""
        out: dict[str, Any] = {}
        if self.multiplicity != 1:
            out["multiplicity"] = self.multiplicity
        if self.shares:
            out["shares"] = self.shares
        if self.training:
            out["training"] = True
        return out


class OutputRow(NamedTuple):
    """One declared output and what it costs on its own: the sums over the layers it depends on
    (its ancestors and itself; a layer shared by several outputs counts in each, shared weights
    once per output)."""

    name: str
    output_shape: tuple[int, ...]
    training: bool
    params: int
    buffers: int
    macs: int
    flops: int
    activation_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "output_shape": list(self.output_shape),
                "training": self.training,
                "totals": {"params": self.params, "buffers": self.buffers, "macs": self.macs,
                           "flops": self.flops, "activation_bytes": self.activation_bytes}}


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
    #: every input (name, shape) when there are several (empty: the one ``input_shape``)
    inputs: tuple[tuple[str, tuple[int, ...]], ...] = ()
    #: every declared output with its own totals when there are several (empty: ``output``)
    outputs: tuple[OutputRow, ...] = ()
    #: totals with the training-only layers included (None when there are none); ``totals``
    #: then counts what runs at inference
    training_totals: Totals | None = None

    def layer(self, name: str) -> LayerRow:
        """The row of the layer called ``name``; :class:`~archcalc.hierarchy.NotFound` (a
        ``KeyError`` and an ``ArchcalcError``) with a did-you-mean hint otherwise; a name that
        is not a str is a TypeError."""
        if not isinstance(name, str):
            raise TypeError(f"layer names are str, got {type(name).__name__}")
        return self.layers[self.hierarchy.index(name)]

    @cached_property
    def hierarchy(self) -> Hierarchy:
        """The group tree of the rows, with subtotals (:mod:`archcalc.hierarchy`), built on
        first use in one linear pass."""
        from .hierarchy import Hierarchy

        return Hierarchy(self.layers)

    def group(self, name: str) -> Group:
        """The group (block call, stage block, repeat, or a top-level run such as ``stem``)
        called ``name``, by its full dotted name: ``report.group("layer1.0").totals.params``."""
        return self.hierarchy.group(name)

    @property
    def input_bytes(self) -> int:
        """The input tensor(s): ``prod(input_shape) × batch × dtype bytes`` (torchinfo's "Input
        size"), summed over every input of a spec with several."""
        from .engine import DTYPE_BYTES

        shapes = [sh for _, sh in self.inputs] or [self.input_shape]
        return sum(prod(sh) for sh in shapes) * self.batch * DTYPE_BYTES[self.dtype]

    @property
    def buffer_bytes(self) -> int:
        """BN running statistics held as ``buffers × dtype bytes`` (not counted in params)."""
        from .engine import DTYPE_BYTES

        return self.totals.buffers * DTYPE_BYTES[self.dtype]

    @property
    def estimated_total_bytes(self) -> int:
        """Memory to run inference: ``param_bytes + buffer_bytes + peak_activation_bytes``
        (the peak includes the input). torchinfo's "Estimated Total Size" is a training-step
        figure instead (input + 2 × some module outputs + params; see the README)."""
        t = self.totals
        return t.param_bytes + self.buffer_bytes + t.peak_activation_bytes

    def totals_dict(self) -> dict[str, int]:
        """``totals`` of the JSON contract: the engine's sums and the derived sizes."""
        return {**self.totals.to_dict(), "input_bytes": self.input_bytes,
                "buffer_bytes": self.buffer_bytes,
                "estimated_total_bytes": self.estimated_total_bytes}

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (see the README, section "JSON output"), version
        :data:`JSON_VERSION`."""
        return {
            **self._head(),
            "layers": [row.to_dict() for row in self.layers],
            "groups": [group_dict(g) for g in self.hierarchy.groups],
            "totals": self.totals_dict(),
            **self._training(),
            "warnings": list(self.warnings),
        }

    def _training(self) -> dict[str, Any]:
        """``training_totals``, only when a training-only output exists."""
        tt = self.training_totals
        return {} if tt is None else {"training_totals": tt.to_dict()}

    def _head(self) -> dict[str, Any]:
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
            **({"inputs": [{"name": n, "shape": list(sh)} for n, sh in self.inputs]}
               if self.inputs else {}),
            **({"outputs": [o.to_dict() for o in self.outputs]} if self.outputs else {}),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text, one line per layer and per group (readable, and
        diffable), written without building the dictionaries (see :func:`report_json`)."""
        return report_json(self)

    def to_csv(self) -> str:
        return report_csv(self)

    def to_markdown(self, **view: Any) -> str:
        """A Markdown table for slides and notebooks; keywords as :class:`~archcalc.tableview.
        Options` (``depth=1``, ``first="conv1_1"``, ``last="pool3"``, ``style="lecture"``…)."""
        from .export import report_markdown
        from .tableview import Options

        return report_markdown(self, Options(**view))

    def to_latex(self, **view: Any) -> str:
        """A booktabs ``tabular`` for a Beamer slide (see :func:`archcalc.export.report_latex`);
        keywords as :meth:`to_markdown`."""
        from .export import report_latex
        from .tableview import Options

        return report_latex(self, Options(**view))

    def to_text(self, width: int | None = 100, **view: Any) -> str:
        """The plain-text table ``archcalc table`` prints, laid out in ``width`` columns
        (None: every column); keywords as :meth:`to_markdown` (and ``quiet=True``,
        ``full_convention=True``)."""
        from .tableview import Options, report_text

        return report_text(self, Options(**view), width=width)

    def __str__(self) -> str:
        return self.to_text()

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per layer (exact integers, shapes as tuples, the receptive field per
        axis as tuples, the block ``path`` as a tuple and its innermost ``group``) for
        dataframes and spreadsheets."""
        tree = self.hierarchy
        out = []
        for i, row in enumerate(self.layers):
            group = tree.innermost(i)
            rf = row.rf_dict()
            out.append({
                "name": row.name, "type": row.type, "post": row.post, "path": row.path,
                "group": None if group is None else group.name, "inputs": row.inputs,
                "output_shape": row.output_shape, "params": row.params,
                "buffers": row.buffers, "macs": row.macs, "flops": row.flops,
                "activation_bytes": row.activation_bytes,
                "rf_size": None if rf is None else tuple(rf["size"]),
                "rf_jump": None if rf is None else tuple(rf["jump"]),
                "rf_start": None if rf is None else tuple(rf["start"]),
            })
        return out

    def to_pandas(self) -> Any:
        """:meth:`to_records` as a ``pandas.DataFrame`` indexed by layer name. Needs pandas
        (``pip install 'archcalc[pandas]'``), which archcalc does not otherwise use."""
        import importlib

        try:
            pandas = importlib.import_module("pandas")
        except ImportError:
            from .errors import ArchcalcError

            raise ArchcalcError("Report.to_pandas() needs pandas, which is not installed",
                                hint="pip install 'archcalc[pandas]' (or use to_records())"
                                ) from None
        frame = pandas.DataFrame.from_records(self.to_records())
        return frame.set_index("name")

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        """Jupyter shows the table (see :func:`archcalc.export.report_html`): more than 400
        rows are collapsed to a depth that fits, or cut in the middle, and it says so."""
        from .export import report_html

        return report_html(self)


# ------------------------------------------------------------------------------- cells --

def fmt_shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in shape)


def fmt_rf(row: LayerRow) -> str:
    if row.receptive_field is None:
        return "–"
    sizes = [_num(a.size) for a in row.receptive_field]
    text = [f"{s:g}" if isinstance(s, float) else str(s) for s in sizes]
    return text[0] if len(set(text)) == 1 else "×".join(text)


def group_dict(group: Group) -> dict[str, Any]:
    """One group of the JSON contract: its names, place in the tree, rows and subtotals."""
    s = group.totals
    return {
        "name": group.name, "aliases": list(group.aliases), "parent": group.parent,
        "level": group.level, "synthetic": group.synthetic, "first": group.first,
        "last": group.last, "layers": s.layers, "output_shape": list(group.output_shape),
        "params": s.params, "buffers": s.buffers, "macs": s.macs, "flops": s.flops,
        "activation_bytes": s.activation_bytes,
    }


# -------------------------------------------------------------------------------- JSON --

def report_json(report: Report) -> str:
    """The JSON contract as text, equal to ``json.dumps(report.to_dict())`` once parsed.

    Each layer and group is one line, written by string formatting with the C string escaper
    (no per-layer dictionary, list or pure-Python encoder: a 100k-layer report in a fraction
    of a second; ``indent=`` forces Python's pure-Python encoder). Lists that many rows share
    (a path, a shape, the fused ops) are encoded once. ``tests/test_exports.py`` holds the text
    to ``to_dict`` for every bundled spec.
    """
    import json
    from json.encoder import encode_basestring as esc  # the C escaper when available

    lists: dict[int, str] = {}  # id of a tuple the rows share → its JSON (all stay alive)

    def strs(items: tuple[str, ...]) -> str:
        text = lists.get(id(items))
        if text is None:
            text = lists[id(items)] = "[" + ", ".join(map(esc, items)) + "]"
        return text

    def ints(items: tuple[int, ...]) -> str:
        text = lists.get(id(items))
        if text is None:
            text = lists[id(items)] = "[" + ", ".join(map(str, items)) + "]"
        return text

    row_format = ('{"name": %s, "type": %s, "post": %s, "path": %s, "inputs": %s, '
                  '"output_shape": %s, "params": %d, "buffers": %d, "macs": %d, "flops": %d, '
                  '"activation_bytes": %d, "receptive_field": %s')
    out = ["{\n"]
    for key, value in report._head().items():
        out.append(f'  "{key}": {json.dumps(value, ensure_ascii=False)},\n')
    get = lists.get
    lines = [row_format % (esc(name), esc(kind), get(id(post)) or strs(post),
                           get(id(path)) or strs(path),
                           f"[{esc(inputs[0])}]" if len(inputs) == 1 else strs(inputs),
                           get(id(shape)) or ints(shape), p, b, m, f, a, _rf_json(rf))
             + ("}" if mult == 1 and not shares and not training else
                _graph_json(mult, shares, training))
             for name, kind, inputs, shape, p, b, m, f, a, rf, post, path, mult, shares, training
             in report.layers]
    out.append(_json_list("layers", lines))
    group_format = ('{"name": %s, "aliases": %s, "parent": %s, "level": %d, "synthetic": %s, '
                    '"first": %s, "last": %s, "layers": %d, "output_shape": %s, "params": %d, '
                    '"buffers": %d, "macs": %d, "flops": %d, "activation_bytes": %d}')
    groups = [group_format % (esc(g.name), strs(g.aliases),
                              "null" if g.parent is None else esc(g.parent), g.level,
                              "true" if g.synthetic else "false", esc(g.first), esc(g.last),
                              *g.totals[:1], ints(g.output_shape), *g.totals[1:])
              for g in report.hierarchy.groups]
    out.append(_json_list("groups", groups))
    out.append(f'  "totals": {json.dumps(report.totals_dict())},\n')
    for key, value in report._training().items():
        out.append(f'  "{key}": {json.dumps(value)},\n')
    out.append(f'  "warnings": {json.dumps(list(report.warnings), ensure_ascii=False)}\n')
    out.append("}\n")
    return "".join(out)


def _graph_json(mult: int, shares: str, training: bool) -> str:
    """The optional keys of a row (:meth:`LayerRow.graph_keys`) and its closing brace."""
    import json

    return "".join([f', "multiplicity": {mult}' if mult != 1 else "",
                    f', "shares": {json.dumps(shares)}' if shares else "",
                    ', "training": true' if training else "", "}"])


def _rf_json(rf: tuple[RFAxis, ...] | None) -> str:
    """``LayerRow.rf_dict()`` as JSON: ints as they are, fractions as floats (``repr``, as
    the json module writes them)."""
    if rf is None:
        return "null"
    if len(rf) == 2:  # the common case, two axes of integers, in one step
        (s0, j0, t0), (s1, j1, t1) = rf
        if type(s0) is type(j0) is type(t0) is type(s1) is type(j1) is type(t1) is int:
            return f'{{"size": [{s0}, {s1}], "jump": [{j0}, {j1}], "start": [{t0}, {t1}]}}'
    size = ", ".join([_num_json(a[0]) for a in rf])
    jump = ", ".join([_num_json(a[1]) for a in rf])
    start = ", ".join([_num_json(a[2]) for a in rf])
    return f'{{"size": [{size}], "jump": [{jump}], "start": [{start}]}}'


def _num_json(value: int | Fraction) -> str:
    if type(value) is int or value.denominator == 1:
        return str(int(value))
    return repr(float(value))


def _json_list(key: str, items: list[str]) -> str:
    if not items:
        return f'  "{key}": [],\n'
    return f'  "{key}": [\n    ' + ",\n    ".join(items) + "\n  ],\n"
# --------------------------------------------------------------------------------- CSV --

CSV_FIELDS = ("name", "type", "post", "inputs", "output_shape", "params", "buffers", "macs",
              "flops", "activation_bytes", "rf_size", "rf_jump", "rf_start", "path")


def report_csv(report: Report) -> str:
    """One row per layer with exact integers; shapes and per-axis values joined by 'x', the
    block path by spaces. The first line is a ``#`` comment saying what was analysed (read it
    with ``pandas.read_csv(path, comment="#")``)."""
    from .tableview import header_line

    out = io.StringIO()
    import csv

    out.write(f"# {header_line(report)}\n")
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
            " ".join(row.path),
        ])
    t = report.totals
    writer.writerow(["total", "", "", "", "", t.params, t.buffers, t.macs, t.flops,
                     t.activation_bytes, "", "", "", ""])
    return out.getvalue()
