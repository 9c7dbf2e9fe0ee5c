"""``archcalc check SPEC TABLE``: every figure of a pasted slide against first principles.

The slide (:mod:`archcalc.check_parse` reads it) may hold a cost table — rows of layers with
columns such as output size, memory, params, flop, in the slide's units — total lines
("Memory: 7.5 MB", "AlexNet total: 1.9 MB"), statements about a layer ("S4 … Trainable params:
12", "C3: 16 kernels, 5x5"), arithmetic ("9216 × 4096 + 4096 = 37,725,832") and VGG-style stage
claims. Each figure becomes a :class:`Finding`: where it stands, what the slide prints, the
first-principles value (from the engine's report of SPEC, never recomputed here), whether the
printed number agrees within its own rounding (half a unit of its last printed digit), the
derivation (the ``explain`` lines of the layer) and, when the slide disagrees, the likely cause
— found by recomputing the figure under the usual mistakes (bias left out, the flop column
copied, the conv rule applied to a pooling row, K for K², digits transposed, truncated instead
of rounded, a total of the slide's own column) and keeping the first that reproduces the
printed number.

Rows are matched to layers by name when the row is named after one (``conv4``), otherwise in
order by type (``conv``, ``max-pool``, ``fc``, ``Conv dw / s2``), choosing among the layers of
that type the assignment in data-flow order that agrees with the most cells. A row, line or
column that cannot be read or matched is listed as not checked — never dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .check_parse import (
    Cell,
    Chain,
    Column,
    Part,
    Printed,
    Row,
    StageClaim,
    Statement,
    Table,
    printed_number,
    read,
    shape_numbers,
)
from .engine import CONVENTIONS, DTYPE_BYTES, analyze_graph
from .errors import ArchcalcError
from .explain import explain
from .graph import Graph, Node, build
from .layers import (
    AdaptiveAvgPool,
    AvgPool,
    Conv,
    ConvTranspose,
    DWConv,
    Flatten,
    GlobalAvgPool,
    GlobalMaxPool,
    Layer,
    Linear,
    Pool,
    Subsample,
)
from .report import LayerRow, Report
from .spec import Spec

JSON_VERSION = 1
_COUNTS = ("memory", "params", "flops", "macs", "elements")
_LABELS = {"in_c": "input C", "in_h": "input H", "in_w": "input W", "in_hw": "input H/W",
           "out_c": "output C", "out_h": "output H", "out_w": "output W",
           "out_hw": "output H/W", "filters": "filters", "kernel": "kernel", "stride": "stride",
           "pad": "pad", "memory": "memory", "params": "params", "flops": "flop",
           "macs": "mult-adds", "elements": "activation size", "out_shape": "output shape",
           "in_shape": "input size", "filter_shape": "filter shape", "type_stride": "stride"}


# =================================================================================== results ==


@dataclass(frozen=True)
class Finding:
    """One printed figure checked: where (``line``, ``col`` in the pasted file), what
    (``where``: the row or subject and the column), the slide's text, the first-principles value
    in the slide's unit (and exact), whether they agree, the derivation and the likely cause."""

    line: int
    col: int
    where: str
    quantity: str
    printed: str
    expected: str
    agrees: bool
    derivation: tuple[str, ...] = ()
    cause: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "col": self.col, "where": self.where,
                "quantity": self.quantity, "printed": self.printed, "expected": self.expected,
                "agrees": self.agrees, "derivation": list(self.derivation), "cause": self.cause}


@dataclass(frozen=True)
class Skipped:
    """Something on the slide that was not checked, and why."""

    line: int
    text: str
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text, "why": self.why}


@dataclass(frozen=True)
class CheckResult:
    """All findings of one check, in the order of the pasted file."""

    spec: str
    source: str
    convention: str
    dtype: str
    batch: int
    findings: tuple[Finding, ...]
    skipped: tuple[Skipped, ...] = ()
    against: str = ""

    @property
    def disagreements(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.agrees)

    @property
    def ok(self) -> bool:
        """Every checked figure agrees within the slide's printed rounding."""
        return not self.disagreements

    def summary(self) -> str:
        n, bad = len(self.findings), len(self.disagreements)
        text = (f"{self.source}: {n} figure{'s' if n != 1 else ''} checked against "
                f"{self.spec}" + (f" and {self.against}" if self.against else "") + ": "
                f"{n - bad} agree, {bad} disagree{'s' if bad == 1 else ''}")
        if self.skipped:
            text += f"; {len(self.skipped)} not checked"
        return text

    def conventions(self) -> str:
        return (f"flop = {CONVENTIONS[self.convention].description}; memory = output elements "
                f"× {DTYPE_BYTES[self.dtype]} B ({self.dtype}) × batch {self.batch}, KB = "
                "bytes/1024, MB = KB/1024; params k = /1000, M = /10^6; a printed number "
                "agrees when it is the value rounded to its last printed digit")

    def to_text(self, width: int = 80) -> str:
        """Each disagreeing figure — where, what the slide prints and the first-principles
        value, the derivation, the likely cause — then what was not checked, the tally and the
        counting convention; prose wrapped at ``width``."""
        import textwrap

        def wrap(text: str, indent: str, more: str) -> list[str]:
            return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=more,
                                 break_on_hyphens=False) or [indent]

        out: list[str] = []
        for f in self.disagreements:
            out.append(f"{self.source}:{f.line}:{f.col}: {f.where}")
            out += wrap(f"slide {f.printed}, first principles {f.expected}", "  ", "    ")
            out.extend(f"    {d}" for d in f.derivation)
            if f.cause:
                out += wrap(f"likely cause: {f.cause}", "  ", "    ")
        if self.skipped:
            out.append("not checked:")
            for sk in self.skipped:
                out += wrap(f"{self.source}:{sk.line}: {sk.text} — {sk.why}", "  ", "    ")
        out.append(self.summary())  # one line: what a script greps
        out += wrap("units: " + self.conventions(), "", "  ")
        return "\n".join(out) + "\n"

    def to_markdown(self) -> str:
        from .tabular import markdown_table

        rows = [[f"{f.line}:{f.col}", f.where, f.printed, f.expected,
                 "yes" if f.agrees else "**no**", f.cause] for f in self.findings]
        text = f"**{self.summary()}**\n\n" + markdown_table(
            ["at", "figure", "slide", "first principles", "agrees", "likely cause"], rows,
            [False, False, True, True, False, False])
        if self.skipped:
            text += "\nnot checked:\n\n" + "".join(f"- {s.line}: {s.text} — {s.why}\n"
                                                   for s in self.skipped)
        return text + "\n" + self.conventions() + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {"archcalc_check": JSON_VERSION, "spec": self.spec, "against": self.against,
                "source": self.source, "convention": self.convention, "dtype": self.dtype,
                "batch": self.batch, "ok": self.ok, "checked": len(self.findings),
                "disagree": len(self.disagreements),
                "findings": [f.to_dict() for f in self.findings],
                "skipped": [s.to_dict() for s in self.skipped]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


# ================================================================================= the check ==


@dataclass(frozen=True)
class Network:
    """A network to check against: its graph and report, the names it goes by, and an optional
    layer range (``vgg16:conv1_1..pool3``) that its totals cover."""

    label: str
    graph: Graph
    report: Report
    first: str | None = None
    last: str | None = None

    def rows(self) -> tuple[LayerRow, ...]:
        names = [r.name for r in self.report.layers]
        lo = names.index(self.first) if self.first else 0
        hi = names.index(self.last) if self.last else len(names) - 1
        return self.report.layers[lo:hi + 1]

    def total(self, quantity: str) -> int:
        rows = self.rows()
        if quantity == "elements":
            return sum(prod_shape(r.output_shape) * self.report.batch for r in rows)
        return sum(_row_value(r, quantity) for r in rows)

    def names(self) -> list[str]:
        return [self.label, self.graph.name, self.graph.name.split("(")[0].strip()]


def prod_shape(shape: Sequence[int]) -> int:
    out = 1
    for v in shape:
        out *= v
    return out


def network(spec: Spec, label: str, *, input_shape: tuple[int, ...] | None = None,
            scale: dict[str, Any] | None = None, batch: int = 1, dtype: str = "float32",
            convention: str = "lecture", first: str | None = None, last: str | None = None
            ) -> Network:
    """Build and cost ``spec``; ``first``/``last`` bound the layers its totals cover."""
    graph = build(spec, input_shape=input_shape, scale=scale)
    report = analyze_graph(graph, batch=batch, dtype=dtype, convention=convention)
    names = [n.name for n in graph.nodes]
    for end in (first, last):
        if end is not None and end not in names:
            from .args import suggest

            near = suggest(end, names)
            raise ArchcalcError(f"{label} has no layer {end!r} to bound the range",
                                hint=(f"did you mean {near!r}? " if near else "")
                                + "write SPEC:FIRST..LAST, e.g. vgg16:conv1_1..pool3")
    return Network(label, graph, report, first, last)


def check(text: str, main: Network, *, spec: Spec | None = None, against: Network | None = None,
          source: str = "table", fmt: str = "auto") -> CheckResult:
    """Check the pasted ``text`` against ``main`` (and ``against`` for the lines that name it
    and for ratios). ``spec`` lets rows that set a scale parameter be re-analysed."""
    subjects = [n.name for n in main.graph.nodes] + main.names()
    if against is not None:
        subjects += against.names()
    parsed = read(text, fmt=fmt, subjects=subjects,
                  scale_names=list(spec.scale) if spec is not None else [])
    ctx = _Ctx(main, against, spec, statements=list(parsed.statements))
    for table in parsed.tables:
        ctx.table(table)
    for st in parsed.statements:
        ctx.statement(st)
    for ch in parsed.chains:
        ctx.chain(ch)
    for claim in parsed.stages:
        ctx.stage(claim)
    for un in parsed.unread:
        ctx.skipped.append(Skipped(un.line, un.text, un.why))
    if not ctx.findings and not ctx.skipped:
        raise ArchcalcError(f"{source}: found no table, total, statement or arithmetic to check",
                            hint="paste a Markdown, CSV or tab-separated table with a header "
                                 "row (layer, memory (KB), params (k), flop (M), …)")
    findings = sorted(ctx.findings, key=lambda f: (f.line, f.col))
    return CheckResult(main.label, source, main.report.convention, main.report.dtype,
                       main.report.batch, tuple(findings),
                       tuple(sorted(ctx.skipped, key=lambda s: s.line)),
                       against.label if against is not None else "")


def _row_value(row: LayerRow, quantity: str) -> int:
    if quantity == "memory":
        return row.activation_bytes
    if quantity == "params":
        return row.params
    if quantity == "flops":
        return row.flops
    if quantity == "macs":
        return row.macs
    raise KeyError(quantity)


# --------------------------------------------------------------------------- row types --

def _row_type(label: str) -> str | None:
    low = label.lower()
    if re.match(r"^\s*input\b", low):
        return "input"
    if "dw" in low.split() or "dwise" in low or "depthwise" in low:
        return "dwconv"
    if "pool" in low or "subsampl" in low:
        return "maxpool" if "max" in low else "avgpool" if "avg" in low or "average" in low \
            else "pool"
    if low.startswith(("conv", "pw", "pointwise")):
        return "conv"
    if low.startswith(("fc", "linear", "dense", "fully")):
        return "fc"
    if low.startswith("flatten"):
        return "flatten"
    if low.startswith("softmax"):
        return "softmax"
    return None


def _type_from_shape(text: str) -> str | None:
    """A row whose type cell is empty (merged with the row above on the slide): its filter
    shape tells — ``3×3×512 dw`` a depthwise conv, ``1×1×512×512`` a conv, ``1024×1000`` an
    fc, ``Pool 7×7`` a pooling layer."""
    low = text.lower()
    n = len(shape_numbers(text))
    if "dw" in low:
        return "dwconv"
    if "pool" in low:
        return "pool"
    return {4: "conv", 2: "fc"}.get(n)


def _fits(kind: str, node: Node) -> bool:
    op = node.op
    if kind == "dwconv":
        return isinstance(op, DWConv)
    if kind == "conv":
        return isinstance(op, (Conv, ConvTranspose)) and not isinstance(op, DWConv)
    if kind == "maxpool":
        return (isinstance(op, (Pool, GlobalMaxPool)) and not isinstance(op, (AvgPool,
                                                                              Subsample)))
    if kind == "avgpool":
        return isinstance(op, (AvgPool, GlobalAvgPool, AdaptiveAvgPool))
    if kind == "pool":
        return isinstance(op, (Pool, GlobalAvgPool, GlobalMaxPool, AdaptiveAvgPool))
    if kind == "fc":
        return isinstance(op, Linear)
    if kind == "flatten":
        return isinstance(op, Flatten)
    if kind == "softmax":
        return op.type_name == "softmax" or any(p.type_name == "softmax" for p in node.post)
    return False


# ------------------------------------------------------------------------ expected values --


@dataclass(frozen=True)
class Expect:
    """A first-principles value: exact (base units) or a list of sizes, with display text."""

    value: Fraction | None = None
    sizes: tuple[tuple[int, ...], ...] = ()  # acceptable size lists (HWC or CHW order)
    text: str = ""
    applicable: bool = True


def _spatial(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(shape[1:]) if len(shape) > 1 else (1, 1)


def _geometry(op: Layer, node: Node) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]
                                              ] | None:
    """(kernel, stride, pad before) per axis of a windowed layer, None for others."""
    shape = node.in_shapes[0]
    if isinstance(op, Conv):
        k, s, _d, _ke, lo, _hi = op.geometry(shape)
        return k, s, lo
    if isinstance(op, Pool):
        k, s, _d, _ke, p, _hi = op.window(shape)
        return k, s, p
    if isinstance(op, (GlobalAvgPool, GlobalMaxPool)):
        n = tuple(shape[1:])
        return n, (1,) * len(n), (0,) * len(n)
    return None


def expect(kind: str, node: Node, row: LayerRow, column: Column, axis: int = 0,
           batch: int = 1) -> Expect:
    """The first-principles value of one cell kind for ``node`` (its report ``row``)."""
    op = node.op
    ins = node.in_shapes[0] if node.in_shapes else ()
    out = node.out_shape
    if kind in ("in_c", "out_c"):
        v = (ins if kind == "in_c" else out)[0]
        return Expect(Fraction(v), text=f"{v:,}")
    if kind in ("in_h", "in_w", "in_hw", "out_h", "out_w", "out_hw"):
        sp = _spatial(ins if kind.startswith("in") else out)
        i = 1 if kind.endswith("_w") and len(sp) > 1 else 0
        return Expect(Fraction(sp[i]), text=str(sp[i]))
    if kind == "filters":
        if isinstance(op, (Conv, ConvTranspose, Linear, Subsample)):
            return Expect(Fraction(out[0]), text=f"{out[0]:,}")
        return Expect(applicable=False, text=f"a {node.type_name} has no filters")
    if kind in ("stride", "type_stride") and isinstance(op, Linear):
        return Expect(Fraction(1), text="1")  # an fc reads its whole input once: stride 1
    if kind in ("kernel", "stride", "pad", "type_stride"):
        geo = _geometry(op, node)
        if geo is None:
            return Expect(applicable=False, text=f"a {node.type_name} has no {kind}")
        k, s, p = geo
        values = {"kernel": k, "stride": s, "type_stride": s, "pad": p}[kind]
        a = min(axis, len(values) - 1)
        return Expect(Fraction(values[a]), text=str(values[a]))
    if kind in ("out_shape", "in_shape"):
        shape = out if kind == "out_shape" else ins
        sp = _spatial(shape)
        c = shape[0]
        return Expect(sizes=((*sp, c), (c, *sp)), text="×".join(map(str, (*sp, c))))
    if kind == "filter_shape":
        geo = _geometry(op, node)
        if isinstance(op, DWConv):
            assert geo is not None
            return Expect(sizes=((*geo[0], ins[0]),), text="×".join(map(str, (*geo[0], ins[0])))
                          + " dw")
        if isinstance(op, Conv):
            assert geo is not None
            dims = (*geo[0], op.in_channels_per_group(ins[0]), out[0])
            return Expect(sizes=(dims,), text="×".join(map(str, dims)))
        if isinstance(op, Linear):
            return Expect(sizes=((ins[0], out[0]),), text=f"{ins[0]}×{out[0]}")
        if geo is not None:
            return Expect(sizes=(geo[0],), text="pool " + "×".join(map(str, geo[0])))
        return Expect(applicable=False, text=f"a {node.type_name} has no filter shape")
    if kind == "elements":
        v = prod_shape(out) * batch
        return Expect(Fraction(v), text=f"{v:,}")
    if kind in ("memory", "params", "flops", "macs"):
        v = _row_value(row, kind)
        return Expect(Fraction(v), text=_exact_text(kind, v))
    return Expect(applicable=False)


def _exact_text(kind: str, v: int) -> str:
    unit = {"memory": " B", "params": " params", "flops": " FLOPs", "macs": " MACs"}.get(kind, "")
    return f"{v:,}{unit}"


def _in_unit(value: Fraction, column_scale: Fraction, printed: Printed) -> str:
    """``value`` shown in the unit and precision the slide used."""
    scale = printed.scale or column_scale
    return f"{float(value / scale):,.{printed.decimals}f}"


def _digits_after_point(text: str) -> str:
    m = re.search(r"\.(\d+)", text)
    return m.group(1) if m else ""


# --------------------------------------------------------------------------------- causes --


def _digits(text: str) -> str:
    return "".join(sorted(re.sub(r"\D", "", text)))


def _transposed(printed: Printed, correct: Fraction) -> str:
    """The printed digits are the correct ones (rounded as printed) in another order."""
    shown = _round_as(printed, correct)
    if shown is not None and _digits(shown) == _digits(printed.text) and \
            re.sub(r"\D", "", shown) != re.sub(r"\D", "", printed.text):
        return f"digits transposed: the value rounds to {shown}"
    return ""


def _round_as(printed: Printed, value: Fraction) -> str | None:
    """``value`` rounded as ``printed`` is (same unit and number of decimals), as text."""
    if printed.tolerance == 0:
        return None
    unit = printed.tolerance * 2 * 10 ** len(_digits_after_point(printed.text))
    d = len(_digits_after_point(printed.text))
    shown = value / unit
    rounded = int(shown * 10**d + Fraction(1, 2)) / Fraction(10**d)
    return f"{float(rounded):,.{d}f}"


def _truncated(printed: Printed, correct: Fraction) -> str:
    if printed.tolerance == 0:
        return ""
    step = printed.tolerance * 2
    floor_value = (correct // step) * step
    if floor_value == printed.value and abs(correct - printed.value) > printed.tolerance:
        return (f"truncated, not rounded: the value is "
                f"{_round_one_more(printed, correct)}")
    return ""


def _round_one_more(printed: Printed, value: Fraction) -> str:
    d = len(_digits_after_point(printed.text)) + 2
    unit = printed.tolerance * 2 * 10 ** len(_digits_after_point(printed.text))
    return f"{float(value / unit):,.{d}f}".rstrip("0").rstrip(".")


def _one_digit(printed: Printed, correct: Fraction) -> str:
    shown = _round_as(printed, correct)
    if shown is None:
        return ""
    a, b = re.sub(r"\D", "", shown), re.sub(r"\D", "", printed.text)
    if len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1:
        i = next(i for i in range(len(a)) if a[i] != b[i])
        return f"a digit slip ({a[i]} → {b[i]}): the value rounds to {shown}"
    return ""


def _generic(printed: Printed, correct: Fraction) -> str:
    return (_transposed(printed, correct) or _truncated(printed, correct)
            or _one_digit(printed, correct))


# ============================================================================ the machinery ==


@dataclass
class _Ctx:
    main: Network
    against: Network | None
    spec: Spec | None
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    statements: list[Statement] = field(default_factory=list)

    # ------------------------------------------------------------------------------ tables --
    def table(self, table: Table) -> None:
        for label in table.unknown:
            self.skipped.append(Skipped(table.line, f"column {label!r}",
                                        "not a figure archcalc computes"))
        scale_cols = [c for c in table.columns if c.kind.startswith("scale:")]
        if scale_cols:
            self._configurations(table, scale_cols)
            return
        rows = [r for r in table.rows if not r.total]
        matched = self._match(table, rows)
        for row, node in zip(rows, matched, strict=True):
            if node is None:
                what = row.label or " ".join(c.text for c in row.cells if c.text)[:40]
                self.skipped.append(Skipped(row.line, f"row {what!r}",
                                            f"matches no layer of {self.main.label}"))
                continue
            if isinstance(node, Node):
                self._cells(table, row, node)
            else:
                self._input_row(table, row)
        nodes = [n for n in matched if isinstance(n, Node)]
        for row in table.rows:
            if row.total:
                self._total_row(table, row, nodes, rows, matched)

    def _match(self, table: Table, rows: Sequence[Row]) -> list[Node | str | None]:
        """Each row's layer: by name, else by type in data-flow order (best agreement)."""
        nodes = list(self.main.graph.nodes)
        index = {n.name: i for i, n in enumerate(nodes)}
        lower = {n.name.lower(): i for i, n in enumerate(nodes)}
        pinned: list[int | None] = []
        kinds: list[str | None] = []
        shape_cols = [c.index for c in table.columns if c.kind == "filter_shape"]
        for row in rows:
            name = row.label.strip()
            pinned.append(index.get(name, lower.get(name.lower())))
            kind = _row_type(name)
            if kind is None and not name and shape_cols:  # a merged type cell left empty
                kind = _type_from_shape(row.cells[shape_cols[0]].text
                                        if shape_cols[0] < len(row.cells) else "")
            kinds.append(kind)
        out: list[Node | str | None] = [None] * len(rows)
        # rows between two pinned rows are aligned within that interval
        bounds = [-1] + [p for p in pinned if p is not None] + [len(nodes)]
        b = 0
        segment: list[int] = []
        segments: list[tuple[list[int], int, int]] = []
        for i, p in enumerate(pinned):
            if p is None:
                segment.append(i)
                continue
            segments.append((segment, bounds[b], p))
            segment = []
            b += 1
            out[i] = nodes[p]
        segments.append((segment, bounds[b], len(nodes)))
        for seg, lo, hi in segments:
            self._align(table, rows, kinds, seg, lo, hi, nodes, out)
        return out

    def _align(self, table: Table, rows: Sequence[Row], kinds: Sequence[str | None],
               seg: Sequence[int], lo: int, hi: int, nodes: Sequence[Node],
               out: list[Node | str | None]) -> None:
        cands: list[list[int]] = []
        for i in seg:
            kind = kinds[i]
            if kind == "input":
                out[i] = "input"
                cands.append([])
                continue
            cands.append([j for j in range(lo + 1, hi) if kind and _fits(kind, nodes[j])])
        work = sum(len(c) for c in cands)
        scored = [[(self._score(table, rows[i], nodes[j]), j) for j in c]
                  for i, c in zip(seg, cands, strict=True)]
        if work > 200_000:  # very large graphs: first fit in order
            last = lo
            for k, i in enumerate(seg):
                pick = next((j for s, j in scored[k] if j > last), None)
                if pick is not None:
                    out[i] = nodes[pick]
                    last = pick
            return
        # best[k][m]: (agreeing cells, −total gap) of rows seg[:k+1] with row k at its m-th
        # candidate; rows without candidates are skipped
        best: list[list[tuple[int, int]]] = []
        back: list[list[int | None]] = []
        prev_k: int | None = None
        prevs: list[int | None] = []
        for k in range(len(seg)):
            row_best: list[tuple[int, int]] = []
            row_back: list[int | None] = []
            for s, j in scored[k]:
                choice: tuple[tuple[int, int], int | None] = ((s, -(j - lo)), None)
                if prev_k is not None:
                    for m, (_s2, j2) in enumerate(scored[prev_k]):
                        if j2 < j and best[prev_k][m][0] >= 0:
                            cand = (best[prev_k][m][0] + s, best[prev_k][m][1] - (j - j2))
                            if cand > choice[0]:
                                choice = (cand, m)
                row_best.append(choice[0])
                row_back.append(choice[1])
            best.append(row_best)
            back.append(row_back)
            prevs.append(prev_k)
            if scored[k]:
                prev_k = k
        if prev_k is None:
            return
        last_k = prev_k
        chosen: int | None = max(range(len(best[last_k])), key=lambda q: best[last_k][q])
        at: int | None = last_k
        while at is not None and chosen is not None:
            out[seg[at]] = nodes[scored[at][chosen][1]]
            chosen = back[at][chosen]
            at = prevs[at]

    def _score(self, table: Table, row: Row, node: Node) -> int:
        report_row = self.main.report.layer(node.name)
        score = 0
        for col, axis in _columns(table):
            cell = _cell(row, col)
            if cell is None or not cell.text or col.kind in ("label", "index", "unknown"):
                continue
            e = expect(col.kind, node, report_row, col, axis, self.main.report.batch)
            if e.applicable and _agree(e, cell, col):
                score += 1
        return score

    def _cells(self, table: Table, row: Row, node: Node) -> None:
        report_row = self.main.report.layer(node.name)
        for col, axis in _columns(table):
            cell = _cell(row, col)
            if cell is None or not cell.text or col.kind in ("label", "index", "unknown", ""):
                continue
            if col.kind == "type_stride" and not re.search(r"/\s*s\d", cell.text):
                continue
            e = expect(col.kind, node, report_row, col, axis, self.main.report.batch)
            label = row.label if row.label == node.name else \
                f"{row.label} ({node.name})" if row.label else node.name
            where = f"{label} · {col.label or _LABELS.get(col.kind, col.kind)}"
            if not e.applicable:
                self.skipped.append(Skipped(cell.line, f"{where} {cell.text!r}", e.text))
                continue
            printed = _printed(cell, col)
            if e.value is not None and printed is None and col.kind != "type_stride":
                self.skipped.append(Skipped(cell.line, f"{where} {cell.text!r}",
                                            "not a number"))
                continue
            agrees = _agree(e, cell, col)
            expected = f"stride {e.text}" if col.kind == "type_stride" else e.text \
                if e.value is None or col.kind not in _COUNTS else \
                f"{_in_unit(e.value, col.scale, printed)} ({e.text})" if printed else e.text
            cause = "" if agrees else self._cause(col.kind, node, report_row, printed, e, row,
                                                   table)
            self.findings.append(Finding(
                cell.line, cell.col, where, col.kind, cell.text, expected, agrees,
                () if agrees else self._derivation(col.kind, node), cause))

    def _input_row(self, table: Table, row: Row) -> None:
        shape = self.main.graph.input_shape
        for col, _axis in _columns(table):
            cell = _cell(row, col)
            if cell is None or not cell.text or col.kind in ("label", "index", "unknown"):
                continue
            where = f"{row.label} · {col.label}"
            if col.kind in ("out_shape", "in_shape"):
                sp = _spatial(shape)
                sizes = ((*sp, shape[0]), tuple(shape))
                ok = tuple(shape_numbers(cell.text)) in sizes
                self.findings.append(Finding(cell.line, cell.col, where, col.kind, cell.text,
                                             "×".join(map(str, sizes[0])), ok))
            elif col.kind in ("elements", "params"):
                value = prod_shape(shape) if col.kind == "elements" else 0
                p = printed_number(cell.text)
                ok = p is not None and p.agrees(Fraction(value))
                self.findings.append(Finding(cell.line, cell.col, where, col.kind, cell.text,
                                             f"{value:,}", ok))

    def _total_row(self, table: Table, row: Row, nodes: Sequence[Node], rows: Sequence[Row],
                   matched: Sequence[Node | str | None]) -> None:
        for col, cell, printed in _count_cells(table, row):
            if printed is None:
                continue
            per = [self._count(col.kind, n) for n in nodes]
            value = Fraction(sum(per))
            agrees = printed.agrees(value)
            where = f"{row.label or 'total'} · {col.label}"
            cause = ""
            if not agrees:
                cause = self._total_cause(col, printed, value, table, rows, matched)
            rows_text = " + ".join(f"{v:,}" for v in per)
            self.findings.append(Finding(
                cell.line, cell.col, where, col.kind, cell.text,
                f"{_in_unit(value, col.scale, printed)} ({int(value):,})", agrees,
                () if agrees else (f"sum of the {len(nodes)} rows: {rows_text} = "
                                   f"{int(value):,}",), cause))

    def _count(self, quantity: str, node: Node) -> int:
        row = self.main.report.layer(node.name)
        if quantity == "elements":
            return prod_shape(node.out_shape) * self.main.report.batch
        return _row_value(row, quantity)

    def _total_cause(self, col: Column, printed: Printed, value: Fraction, table: Table,
                     rows: Sequence[Row], matched: Sequence[Node | str | None]) -> str:
        column_sum = Fraction(0)
        complete = True
        for row in rows:
            cell = _cell(row, col)
            p = _printed(cell, col) if cell is not None and cell.text else None
            if p is None:
                if cell is not None and cell.text:
                    complete = False
                continue
            column_sum += p.value
        if complete and column_sum == printed.value:
            return ("the total of the slide's own column, which carries the slips above: "
                    f"{_in_unit(column_sum, col.scale, printed)}")
        nodes = [n for n in matched if isinstance(n, Node)]
        conv_fc = sum(self._count(col.kind, n) for n in nodes
                      if isinstance(n.op, (Conv, Linear)))
        if printed.agrees(Fraction(conv_fc)) and conv_fc != value:
            return "only the conv and fc rows were summed (the pooling and flatten rows left out)"
        return _generic(printed, value) or "no simple mis-computation found (a typing slip?)"

    def _derivation(self, kind: str, node: Node) -> tuple[str, ...]:
        ex = explain(self.main.graph, node.name, report=self.main.report)
        if kind in ("params",):
            lines = [ln.text() for ln in ex.lines if ln.section == "weights"]
        elif kind in ("flops", "macs"):
            lines = [ln.text() for ln in ex.lines if ln.section == "work" and (
                ln.label.startswith(("MACs", "window", "FLOPs")) or (kind == "flops" and
                self.main.report.convention == "full"))]
        elif kind in ("memory", "elements"):
            lines = [ln.text() for ln in ex.lines if ln.section == "memory"]
        elif kind in ("out_c", "out_h", "out_w", "out_hw", "out_shape"):
            lines = [ln.text() for ln in ex.lines if ln.section == "output shape"]
        else:
            lines = [ex.header]
        return tuple(lines)

    def _cause(self, kind: str, node: Node, row: LayerRow, printed: Printed | None, e: Expect,
               table_row: Row, table: Table) -> str:
        if kind in ("stride", "type_stride"):
            return "the spec's layer has another stride" + self._next_row_hint(
                table, table_row, node)
        if printed is None or e.value is None:
            if kind in ("out_shape", "in_shape", "filter_shape"):
                return "the slide's shape is not the spec's"
            return ""
        op = node.op
        weights = node.weights()
        if kind == "params":
            bias = sum(prod_shape(s) for k, s in weights.items() if k.endswith("bias"))
            bn = sum(prod_shape(s) for k, s in weights.items() if k.startswith("bn."))
            if bias and printed.agrees(Fraction(row.params - bias)):
                return (f"the bias left out: weights only = {row.params - bias:,} (the flop "
                        "column's MACs)" if row.params - bias == row.macs else
                        f"the bias left out: weights only = {row.params - bias:,}")
            if bn and printed.agrees(Fraction(row.params - bn)):
                return f"BN's γ and β left out: {row.params - bn:,}"
            if isinstance(op, (Pool, GlobalAvgPool, GlobalMaxPool)):
                geo = _geometry(op, node)
                c = node.out_shape[0]
                if geo is not None:
                    kk = prod_shape(geo[0])
                    conv_rule = kk * c * c + c
                    if printed.agrees(Fraction(conv_rule)):
                        k_text = "·".join(map(str, geo[0]))
                        return (f"the conv rule K·K·C_in·C_out + C_out applied to a pooling "
                                f"layer: {k_text}·{c}·{c} + {c} = {conv_rule:,}; pooling has "
                                "no weights")
            if isinstance(op, Conv) and not isinstance(op, DWConv):
                geo = _geometry(op, node)
                if geo is not None and len(geo[0]) > 1:
                    k_once = row.params // prod_shape(geo[0]) * geo[0][0]
                    if printed.agrees(Fraction(k_once)):
                        return f"K for K²: {k_once:,}"
            others = self._same_elsewhere("params", node, printed)
            if others:
                return others
        if kind in ("flops", "macs"):
            conv = CONVENTIONS[self.main.report.convention]
            work = node.work()
            if printed.agrees(Fraction(2 * row.macs)) and row.macs:
                return "counted 2 FLOPs per MAC (a multiply and an add)"
            if kind == "flops" and work.window and printed.agrees(Fraction(row.macs)):
                return "the pooling-window reads left out"
            if kind == "flops" and conv.count_window is False and printed.agrees(
                    Fraction(row.macs + work.window)):
                return "pooling-window reads counted"
        if kind == "memory":
            elements = prod_shape(node.out_shape)
            if printed.agrees(Fraction(elements)):
                return "elements, not bytes: the 4 bytes per element left out"
            # bytes/1000 printed as "KB" (bytes/10^6 as "MB"), expressed in our bytes
            for binary, name in ((1024, "kB = bytes/1000"), (1024**2, "MB = bytes/10^6")):
                alt = Fraction(row.activation_bytes * binary, 1000 if binary == 1024 else 10**6)
                if alt != e.value and printed.value and printed.agrees(alt):
                    return f"{name} used instead of the binary unit"
        return _generic(printed, e.value) or "no simple mis-computation found (a typing slip?)"

    def _next_row_hint(self, table: Table, row: Row, node: Node) -> str:
        """A stride the table itself contradicts: its next row's input is this layer's output."""
        rows = [r for r in table.rows if not r.total]
        try:
            i = next(k for k, r in enumerate(rows) if r is row)
        except StopIteration:
            return ""
        if i + 1 >= len(rows):
            return ""
        nxt = rows[i + 1]
        for col in table.columns:
            if col.kind == "in_shape" and col.index < len(nxt.cells):
                sizes = shape_numbers(nxt.cells[col.index].text)
                out_sp = _spatial(node.out_shape)
                geo = _geometry(node.op, node)
                if geo is not None and sizes[:len(out_sp)] == list(out_sp):
                    return (f": the table's next row reads {nxt.cells[col.index].text}, the "
                            f"size only stride {geo[1][0]} gives")
        return ""

    def _same_elsewhere(self, quantity: str, node: Node, printed: Printed) -> str:
        for other in self.main.graph.nodes:
            if other.name == node.name or type(other.op) is not type(node.op):
                continue
            v = _row_value(self.main.report.layer(other.name), quantity)
            if v and printed.agrees(Fraction(v)):
                return f"the value of {other.name} ({v:,}), copied?"
        return ""

    # ----------------------------------------------------------------- configuration rows --
    def _configurations(self, table: Table, scale_cols: Sequence[Column]) -> None:
        if self.spec is None:
            self.skipped.append(Skipped(table.line, "a table of configurations",
                                        "needs the spec itself"))
            return
        base_row: tuple[Fraction, int] | None = None
        results = []
        for row in table.rows:
            scale: dict[str, Any] = {}
            for col in scale_cols:
                name = col.kind.split(":", 1)[1]
                nums = re.findall(r"\d+(?:\.\d+)?", row.cells[col.index].text
                                  if col.index < len(row.cells) else "")
                if not nums:
                    continue
                text = nums[-1] if name in ("resolution", "size", "input") else nums[0]
                scale[name] = int(text) if text.isdigit() else float(text)
            if not scale:
                continue
            net = network(self.spec, self.main.label, scale=scale,
                          batch=self.main.report.batch, dtype=self.main.report.dtype,
                          convention=self.main.report.convention)
            results.append((row, scale, net))
        default = {k: v for k, v in (self.spec.scale or {}).items()}
        for _row, scale, net in results:
            if all(default.get(k) == v for k, v in scale.items()):
                base_row = (Fraction(net.total("macs")), int(next(iter(scale.values()))))
        for row, scale, net in results:
            setting = ", ".join(f"{k}={v:g}" for k, v in scale.items())
            for col, cell, printed in _count_cells(table, row):
                if printed is None:
                    self.skipped.append(Skipped(cell.line, f"{cell.text!r}", "not a number"))
                    continue
                value = Fraction(net.total(col.kind))
                ok = printed.agrees(value)
                cause = ""
                if not ok and base_row is not None and "resolution" in scale and \
                        col.kind in ("macs", "flops"):
                    r0 = base_row[1]
                    r = scale["resolution"]
                    scaled = _printed_base(table, col, results, r0) * Fraction(r, 1) ** 2 / r0**2
                    if printed.agrees(scaled):
                        cause = (f"the {r0} row's printed total scaled by ({r}/{r0})²: "
                                 f"{float(scaled / col.scale):,.1f}; not every layer "
                                 "scales with the input area (the fc head's MACs do not)")
                if not ok and not cause:
                    cause = _generic(printed, value) or \
                        "no simple mis-computation found (a typing slip?)"
                self.findings.append(Finding(
                    cell.line, cell.col, f"{setting} · {col.label}", col.kind, cell.text,
                    f"{_in_unit(value, col.scale, printed)} ({int(value):,})", ok, (), cause))

    # ---------------------------------------------------------------------- statements --
    def _network(self, subject: str) -> Network | None:
        key = _key(subject)
        if not key:
            return self.main
        for net in (self.main, self.against):
            if net is not None and any(_key(n) == key or _key(n).startswith(key)
                                       for n in net.names() if _key(n)):
                return net
        return None

    def statement(self, st: Statement) -> None:
        node = self._layer(st.subject)
        where = f"{st.subject or self.main.label} · {st.quantity}"
        if node is not None:
            self._layer_statement(st, node, where)
            return
        if st.quantity not in _COUNTS:
            self.skipped.append(Skipped(st.line, f"{where}: {st.value.text}",
                                        "a layer's figure, but no layer is named"))
            return
        net = self._network(st.subject)
        if net is None:
            self.skipped.append(Skipped(st.line, f"{st.subject} {st.quantity}: {st.value.text}",
                                        f"names {st.subject!r}, neither {self.main.label}"
                                        + (f" nor {self.against.label}" if self.against else
                                           " (compare with --against SPEC)")))
            return
        value = Fraction(net.total(st.quantity))
        ok = st.value.agrees(value)
        span = "" if not (net.first or net.last) else \
            f" ({net.first or net.rows()[0].name} … {net.last or net.rows()[-1].name})"
        where = f"{net.label}{span} total {_LABELS.get(st.quantity, st.quantity)}"
        cause = ""
        if not ok:
            cause = self._statement_total_cause(net, st, value)
        self.findings.append(Finding(
            st.line, st.col, where, st.quantity, st.value.text,
            f"{_in_unit(value, Fraction(1), st.value)}{_unit_suffix(st.value)} ({int(value):,})",
            ok,
            () if ok else (f"sum over {len(net.rows())} layers of {net.label}{span}",), cause))
        if st.ratio is not None:
            self._ratio(st, net, value, where)

    def _ratio(self, st: Statement, net: Network, value: Fraction, where: str) -> None:
        """``VGG-16 total: 13.6 GFLOP (19.4x)``: the subject's total over the other network's."""
        assert st.ratio is not None
        other = self.against if net is self.main else self.main
        if other is None:
            self.skipped.append(Skipped(st.line, f"ratio ({st.ratio.text}x)",
                                        "a ratio needs a second network: --against SPEC"))
            return
        base = other.total(st.quantity)
        r = value / base if base else Fraction(0)
        ok = st.ratio.agrees(r)
        cause = ""
        if not ok:
            mate = next((o for o in self.statements if o.quantity == st.quantity
                         and self._network(o.subject) is other), None)
            if mate is not None and mate.value.value:
                own = st.value.value / mate.value.value
                if st.ratio.agrees(own):
                    cause = (f"the ratio of the slide's own totals: {st.value.text} / "
                             f"{mate.value.text} = {float(own):.2f}")
            if not cause:
                cause = _generic(st.ratio, r) or "follows from the totals above"
        decimals = len(_digits_after_point(st.ratio.text))
        self.findings.append(Finding(
            st.line, st.ratio_col, f"{where} ratio to {other.label}", "ratio",
            f"{st.ratio.text}x", f"{float(r):.{decimals}f}x", ok,
            () if ok else (f"{int(value):,} / {base:,} = {float(r):.3f}",), cause))

    def _statement_total_cause(self, net: Network, st: Statement, value: Fraction) -> str:
        rows = net.rows()
        if st.quantity in ("memory", "params", "flops", "macs"):
            conv_fc = sum(_row_value(r, st.quantity) for r in rows
                          if r.type in ("conv", "fc", "pwconv", "dwconv"))
            if st.value.agrees(Fraction(conv_fc)) and conv_fc != value:
                return ("only the conv and fc rows were summed (the pooling and flatten rows "
                        f"left out): {conv_fc:,}")
        return _generic(st.value, value) or "no simple mis-computation found"

    def _layer(self, subject: str) -> Node | None:
        for n in self.main.graph.nodes:
            if subject and n.name == subject:
                return n
        return None

    def _layer_statement(self, st: Statement, node: Node, where: str) -> None:
        row = self.main.report.layer(node.name)
        kind = st.quantity
        column = Column(0, kind, kind)
        e = expect(kind, node, row, column, batch=self.main.report.batch)
        if not e.applicable or e.value is None:
            self.skipped.append(Skipped(st.line, f"{where}: {st.value.text}", e.text or
                                        "not a figure of this layer"))
            return
        ok = st.value.agrees(e.value)
        cause = ""
        if not ok:
            cause = self._cause(kind, node, row, st.value, e, Row((), "", st.line), Table(
                st.line, (), ()))
            if st.chain is not None:
                own = [p for p in st.chain.numeric if p.literal is None and p.value is not None]
                if own and own[-1].value == e.value:
                    slip = _one_digit(st.value, e.value) or _transposed(st.value, e.value)
                    cause = (f"the slide's own arithmetic {own[-1].text} gives "
                             f"{int(e.value):,}: the result is mistyped"
                             + (f" ({slip.split(':')[0]})" if slip else ""))
        self.findings.append(Finding(st.line, st.col, where, kind, st.value.text,
                                     e.text, ok, () if ok else self._derivation(kind, node),
                                     cause))

    # ------------------------------------------------------------------------ arithmetic --
    def chain(self, ch: Chain) -> None:
        """The numeric parts of ``a = b = c`` must agree: an expression exactly, a printed
        number within its rounding."""
        parts = ch.numeric
        exprs = [p for p in parts if p.literal is None]
        literals = [p for p in parts if p.literal is not None]
        if exprs:
            ref = exprs[0]
        else:
            ref = min(literals, key=lambda p: p.literal.tolerance if p.literal else 0)
        assert ref.value is not None
        for p in parts:
            if p is ref:
                continue
            assert p.value is not None
            ok = p.literal.agrees(ref.value) if p.literal is not None else p.value == ref.value
            flagged, correct, cause = p, ref.value, ""
            if not ok:
                flagged, correct, cause = self._arith_cause(ch, ref, p)
            shown = flagged.literal.text if flagged.literal is not None else flagged.text
            expected = (_round_as(flagged.literal, correct) or f"{float(correct):,g}"
                        if flagged.literal is not None else f"{_fmt(correct)}")
            if flagged.literal is not None and flagged.literal.tolerance:
                expected = f"{expected} ({_fmt(correct)})"
            self.findings.append(Finding(
                ch.line, flagged.col, "arithmetic", "arithmetic", shown, expected, ok,
                () if ok else (f"{ref.text} = {_fmt(ref.value)}",), cause))

    def _arith_cause(self, ch: Chain, ref: Part, other: Part) -> tuple[Part, Fraction, str]:
        """Which side is wrong, the value it should have, and why."""
        assert ref.value is not None and other.value is not None
        literal = other if other.literal is not None else None
        expr = ref if ref.literal is None else None
        if literal is not None and expr is not None:
            assert literal.literal is not None
            # the result is right and an operand was mistyped: a permutation of its digits
            # makes the expression agree (9216 × 6409 = 37,748,736: 6409 for 4096)
            for op in set(expr.operands) if literal.literal.tolerance <= Fraction(1, 2) else ():
                for perm in _permutations(op):
                    fixed = expr.text.replace(op, perm, 1)
                    from .check_parse import evaluate

                    v = evaluate(fixed)
                    if v is not None and literal.literal.agrees(v[0]):
                        known = self._known(v[0])
                        return (expr, literal.literal.value,
                                f"the result is right{known}: {op} should be {perm} "
                                f"(digits scrambled), {fixed} = {_fmt(v[0])}")
            assert expr.value is not None
            return (literal, expr.value, _generic(literal.literal, expr.value) or
                    "no simple mis-computation found (a typing slip?)")
        return other, ref.value, "the two sides differ"

    def _known(self, value: Fraction) -> str:
        for row in self.main.report.layers:
            for q in ("params", "macs", "flops"):
                if Fraction(_row_value(row, q)) == value and value:
                    return f" ({row.name}'s {_LABELS.get(q, q)})"
        return ""

    # ------------------------------------------------------------------------ stage claims --
    def stage(self, claim: StageClaim) -> None:
        net = self._network(claim.subject)
        if net is None:
            self.skipped.append(Skipped(claim.line, claim.text,
                                        f"names {claim.subject!r}, neither {self.main.label}"
                                        + (f" nor {self.against.label}" if self.against else
                                           " (compare with --against SPEC)")))
            return
        counts = _stage_convs(net.graph)
        if claim.exhaustive:
            having = tuple(i + 1 for i, c in enumerate(counts) if c == claim.low)
            ok = having == tuple(sorted(claim.stages))
            expected = (f"{claim.low} convs in stage{'s' if len(having) != 1 else ''} "
                        + ", ".join(map(str, having)) if having else f"no stage has {claim.low}")
        else:
            (n,) = claim.stages
            if n > len(counts):
                self.skipped.append(Skipped(claim.line, claim.text,
                                            f"{net.label} has {len(counts)} stages"))
                return
            ok = claim.low <= counts[n - 1] <= claim.high
            expected = "-".join(["conv"] * counts[n - 1] + ["pool"])
        per = ", ".join(f"stage {i + 1}: {c}" for i, c in enumerate(counts))
        self.findings.append(Finding(
            claim.line, claim.col, f"{net.label} stages", "stages", claim.text, expected, ok,
            () if ok else (f"convs before each pooling layer — {per}",),
            "" if ok else "the slide's pattern leaves out a conv" if not claim.exhaustive
            else "the stages listed are not all the stages with that many convs"))


def _stage_convs(graph: Graph) -> list[int]:
    """Convs between pooling layers: VGG's stages (the convs before each max-pool)."""
    counts = []
    current = 0
    for node in graph.nodes:
        if isinstance(node.op, Conv):
            current += 1
        elif isinstance(node.op, Pool) and not isinstance(node.op, Subsample):
            counts.append(current)
            current = 0
    return counts


def _permutations(digits: str) -> list[str]:
    from itertools import permutations

    if len(digits) > 7 or not digits.isdigit():
        return []
    return sorted({"".join(p) for p in permutations(digits)} - {digits})


def _unit_suffix(printed: Printed) -> str:
    return f" {printed.unit}" if printed.unit else ""


def _fmt(value: Fraction) -> str:
    if value.denominator == 1:
        return f"{int(value):,}"
    return f"{float(value):,.6g}"


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _columns(table: Table) -> list[tuple[Column, int]]:
    """Columns with the axis of repeated kinds (a ``Kernel`` spanning two columns: k_h, k_w)."""
    seen: dict[str, int] = {}
    out = []
    for col in table.columns:
        axis = seen.get(col.kind, 0)
        seen[col.kind] = axis + 1
        out.append((col, axis))
    return out


def _cell(row: Row, col: Column) -> Cell | None:
    return row.cells[col.index] if col.index < len(row.cells) else None


def _count_cells(table: Table, row: Row) -> list[tuple[Column, Cell, Printed | None]]:
    """The row's non-empty cells of count columns (memory, params, flop …), each read."""
    out = []
    for col in table.columns:
        cell = _cell(row, col)
        if col.kind in _COUNTS and cell is not None and cell.text:
            out.append((col, cell, _printed(cell, col)))
    return out


def _printed(cell: Cell | None, col: Column) -> Printed | None:
    """The cell's number in the column's unit; a cell that holds arithmetic (``(5 × 5 × 3 + 1)
    × 8``) stands for its exact value."""
    if cell is None:
        return None
    found = printed_number(cell.text, col.scale, col.unit)
    if found is None and col.kind in _COUNTS:
        from .check_parse import evaluate

        value = evaluate(cell.text)
        if value is not None:
            return Printed(cell.text, value[0] * col.scale, Fraction(0), col.unit, col.scale)
    return found


def _agree(e: Expect, cell: Cell, col: Column) -> bool:
    if e.sizes:
        nums = tuple(shape_numbers(cell.text))
        return nums in e.sizes
    if e.value is None:
        return False
    if col.kind == "type_stride":
        m = re.search(r"/\s*s(\d+)", cell.text)
        return m is not None and int(m.group(1)) == e.value
    p = _printed(cell, col)
    return p is not None and p.agrees(e.value)


def _printed_base(table: Table, col: Column, results: Sequence[tuple[Row, dict[str, Any],
                                                                     Network]],
                  r0: int) -> Fraction:
    for row, scale, _net in results:
        if scale.get("resolution") == r0:
            p = _printed(_cell(row, col), col)
            if p is not None:
                return p.value
    return Fraction(0)


__all__ = ["CheckResult", "Finding", "Network", "Skipped", "check", "network"]
