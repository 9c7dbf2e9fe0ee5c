"""Explain one layer: every number of its row derived the way the slides do, values substituted.

::

    W′ = ⌊(W − K + 2P)/S⌋ + 1 = ⌊(227 − 11 + 2·2)/4⌋ + 1 = 56
    weight = C_out × C_in × K × K = 64 × 3 × 11 × 11 = 23,232
    params = weight + bias = 23,232 + 64 = 23,296

Each layer class derives its own lines (``explain``, ``explain_rf``, and ``explain_post`` for a
fused layer, in :mod:`archcalc.layers`) through a :class:`Derivation`; this module holds the
machinery. Each line is a small formula *template* over named quantities
(``floor((W - K + 2*P)/S) + 1``) with an environment of the layer's actual values. The template
is rendered twice — with symbols and with the values — and evaluated exactly (fractions). The
evaluated result is then checked against the number the layer class itself produced
(``out_shape``, ``params``, ``work``, ``rf``, via the engine's report): if the shown arithmetic
ever disagreed with the layer's rule, :func:`explain` raises instead of printing a wrong
derivation. So the text and the table cannot drift apart, and ``Explanation.values`` equals the
report row.

Templates use ``+ - * /``, parentheses, integer literals, names, and ``floor``, ``ceil``, ``max``,
``min``. A name ending in ``_p`` is primed (``W_p`` → W′); ``C_out`` is C with subscript "out".
"""

from __future__ import annotations

import ast
import dataclasses
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .engine import CONVENTIONS, DTYPE_BYTES, analyze_graph
from .errors import ArchcalcError
from .graph import INPUT, Graph, Node
from .layers import LAYER_CLASSES, Layer, Work
from .report import LayerRow, Report, RFAxis
from .shapes import Shape, prod

Value = int | Fraction
Env = Mapping[str, Value]

# =============================================================== templates: parse, eval, render ==

_FUNCS = ("floor", "ceil", "max", "min")


def _parse(template: str) -> ast.expr:
    tree = ast.parse(template, mode="eval").body
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load,
                               ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.Call))
        if isinstance(node, ast.Constant) and not isinstance(node.value, int):
            ok = False
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name)
                                               and node.func.id in _FUNCS):
            ok = False
        if not ok:
            raise ValueError(f"template {template!r}: {ast.dump(node)} is not allowed")
    return tree


def _const(node: ast.Constant) -> int:
    assert isinstance(node.value, int)  # checked by _parse
    return node.value


def _eval(node: ast.expr, env: Env) -> Fraction:
    if isinstance(node, ast.Constant):
        return Fraction(_const(node))
    if isinstance(node, ast.Name):
        return Fraction(env[node.id])
    if isinstance(node, ast.UnaryOp):
        return -_eval(node.operand, env)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, env), _eval(node.right, env)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        return a / b
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    args = [_eval(a, env) for a in node.args]
    name = node.func.id
    if name == "floor":
        return Fraction(math.floor(args[0]))
    if name == "ceil":
        return Fraction(math.ceil(args[0]))
    return max(args) if name == "max" else min(args)


def fmt_value(value: Value, tex: bool = False) -> str:
    """Integers with thousands separators from 10,000 on; fractions as p/q."""
    v = Fraction(value)
    sign = "-" if tex else "−"
    if v.denominator == 1:
        n = int(v)
        body = f"{abs(n):,}" if abs(n) >= 10_000 else str(abs(n))
        if tex:
            body = body.replace(",", "{,}")
        return (sign if n < 0 else "") + body
    p, q = abs(v.numerator), v.denominator
    body = f"\\frac{{{p}}}{{{q}}}" if tex else f"{p}/{q}"
    return (sign if v < 0 else "") + body


def _symbol(name: str, tex: bool, names: Mapping[str, tuple[str, str]]) -> str:
    if name in names:
        return names[name][1 if tex else 0]
    base, _, sub = name.partition("_")
    if sub == "p":
        return base + ("'" if tex else "′")
    if not tex:
        return name
    head = base if len(base) == 1 else f"\\mathrm{{{base}}}"
    if not sub:
        return head
    if sub.endswith("_p"):
        return f"{head}_{{{sub[:-2]}}}'"
    return f"{head}_{{{sub}}}" if len(sub) == 1 or sub.isdigit() else \
        f"{head}_{{\\mathrm{{{sub}}}}}"


@dataclass(frozen=True)
class _Style:
    values: bool  # substitute values (else symbols)
    tex: bool
    times: bool  # render * as × (tensor shapes)
    env: Env
    names: Mapping[str, tuple[str, str]]


def _render(node: ast.expr, st: _Style) -> tuple[str, float]:
    """(text, precedence): 1 sum, 2 product, 3 unary, 5 atom; a substituted fraction 1.5 (bare
    in a sum, parenthesised in a product: ``(16/11)/2``); a negative value 0."""
    if isinstance(node, ast.Constant):
        return fmt_value(_const(node), st.tex), 5
    if isinstance(node, ast.Name):
        if not st.values:
            return _symbol(node.id, st.tex, st.names), 5
        v = Fraction(st.env[node.id])
        return fmt_value(v, st.tex), 0 if v < 0 else 5 if v.denominator == 1 else 1.5
    if isinstance(node, ast.UnaryOp):
        text, p = _render(node.operand, st)
        return ("-" if st.tex else "−") + _wrap(text, p < 3, st.tex), 3
    if isinstance(node, ast.BinOp):
        (lt, lp), (rt, rp) = _render(node.left, st), _render(node.right, st)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            minus = isinstance(node.op, ast.Sub)
            op = (" - " if st.tex else " − ") if minus else " + "
            lead = lp == 0 and isinstance(node.left, ast.Name)  # −3/2 + … needs none
            return _wrap(lt, lp < 1 and not lead, st.tex) + op + _wrap(
                rt, rp < 1 or (minus and rp == 1), st.tex), 1
        if isinstance(node.op, ast.Div):
            if st.tex:
                return f"\\frac{{{lt}}}{{{rt}}}", 5
            return _wrap(lt, lp < 2, False) + "/" + _wrap(rt, rp <= 2, False), 2
        if st.tex and st.values and (lp == 1.5 or rp == 1.5):
            lp, rp = (5 if lp == 1.5 else lp), (5 if rp == 1.5 else rp)  # \frac is an atom
        if st.times:
            op = " \\times " if st.tex else " × "
        elif (not st.values and isinstance(node.left, ast.Constant)
              and isinstance(node.right, ast.Name) and _const(node.left) != 1):
            op = ""  # 2P
        else:
            op = " \\cdot " if st.tex else "·"
        return _wrap(lt, lp < 2, st.tex) + op + _wrap(rt, rp < 2, st.tex), 2
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    args = [_render(a, st)[0] for a in node.args]
    name = node.func.id
    if name in ("floor", "ceil"):
        if st.tex:
            lo, hi = ("\\lfloor", "\\rfloor") if name == "floor" else ("\\lceil", "\\rceil")
            return f"\\left{lo} {args[0]} \\right{hi}", 5
        lo, hi = ("⌊", "⌋") if name == "floor" else ("⌈", "⌉")
        return f"{lo}{args[0]}{hi}", 5
    return (f"\\{name}(" if st.tex else f"{name}(") + ", ".join(args) + ")", 5


def _wrap(text: str, paren: bool, tex: bool) -> str:
    if not paren:
        return text
    return f"\\left({text}\\right)" if tex and "\\frac" in text else f"({text})"


def _terms(node: ast.expr) -> list[tuple[bool, ast.expr]] | None:
    """Top-level terms of a sum as (negative, term), if any term is a product worth evaluating."""
    out: list[tuple[bool, ast.expr]] = []

    def walk(n: ast.expr, neg: bool) -> None:
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Add, ast.Sub)):
            walk(n.left, neg)
            walk(n.right, neg ^ isinstance(n.op, ast.Sub))
        else:
            out.append((neg, n))

    walk(node, False)
    if len(out) < 2 or not any(isinstance(t, ast.BinOp) for _, t in out):
        return None
    return out


# ======================================================================================= lines ==


@dataclass(frozen=True)
class Line:
    """One derived quantity: ``label = formula = substituted (= partial) = value``."""

    section: str
    label: str
    template: str
    env: Env
    value: Fraction
    label_tex: str = ""
    times: bool = False
    sym_text: str | None = None  # replaces the symbolic rendering (e.g. Σ over a table)
    sym_tex: str | None = None
    unit: str = ""
    note: str = ""
    names: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    plain: bool = False  # a statement without arithmetic: label and sym_text only

    def _parts(self, tex: bool) -> list[str]:
        tree = _parse(self.template)
        sym = self.sym_tex if tex else self.sym_text
        if sym is None:
            sym = _render(tree, _Style(False, tex, self.times, self.env, self.names))[0]
        val = _render(tree, _Style(True, tex, self.times, self.env, self.names))[0]
        parts = [sym, val]
        terms = _terms(tree)
        if terms is not None:
            pieces = []
            minus = "-" if tex else "−"
            for i, (neg, t) in enumerate(terms):
                v = -_eval(t, self.env) if neg else _eval(t, self.env)
                text = fmt_value(abs(v), tex)
                if i == 0:
                    pieces.append(minus + text if v < 0 else text)
                else:
                    pieces.append(f" {minus} {text}" if v < 0 else f" + {text}")
            parts.append("".join(pieces))
        parts.append(fmt_value(self.value, tex) + (f"\\ \\mathrm{{{self.unit}}}" if tex and
                                                   self.unit else f" {self.unit}" if self.unit
                                                   else ""))
        out: list[str] = []
        for p in parts:
            if not out or out[-1] != p:
                out.append(p)
        return out

    def text(self) -> str:
        if self.plain:
            return f"{self.label}: {self.sym_text}"
        body = " = ".join([self.label, *self._parts(False)])
        return body + (f"  ({self.note})" if self.note else "")

    def latex(self) -> str:
        if self.plain:
            return f"{self.label_tex or _label_tex(self.label)}: {self.sym_tex}"
        return " = ".join([self.label_tex or _label_tex(self.label), *self._parts(True)])


def _label_tex(label: str) -> str:
    out = label.replace("′", "'").replace("·", " \\cdot ")
    if "_" in out and "{" not in out:
        base, _, sub = out.partition("_")
        out = f"{base}_{{\\mathrm{{{sub}}}}}" if len(sub) > 1 else f"{base}_{{{sub}}}"
    if out.isalpha() and len(out) > 1:
        out = f"\\mathrm{{{out}}}"
    return out.replace("−", "-")


class _Lines:
    """Collects lines, checking each evaluated template against the layer's own value."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lines: list[Line] = []
        self.section = ""

    def add(self, label: str, template: str, env: Env, expect: Value, **kw: Any) -> Fraction:
        got = _eval(_parse(template), env)
        if got != expect:  # the shown arithmetic must be the layer rule's
            raise RuntimeError(
                f"explain {self.where}: {label} = {template} gives {got} with {dict(env)}, but "
                f"the layer computes {expect}"
            )
        self.lines.append(Line(self.section, label, template, dict(env), got, **kw))
        return got

    def note(self, label: str, text: str) -> None:
        """A line without arithmetic (e.g. "no receptive field after flatten")."""
        self.lines.append(Line(self.section, label, "0", {}, Fraction(0), sym_text=text,
                               sym_tex=f"\\text{{{text}}}", plain=True))


# ============================================================================ axes and shapes ==

_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _axis_names(rank: int) -> tuple[str, ...]:
    return _AXES.get(rank, tuple(f"N{i + 1}" for i in range(rank)))


@dataclass(frozen=True)
class Axis:
    """How one (or several identical) spatial axes are named in a line."""

    index: tuple[int, ...]  # axes covered (0-based, spatial)
    name: str  # input symbol: W, H, L
    sub: str  # subscript for per-axis kernel symbols: "" or "_h"
    label: str  # W′ or "H′ = W′"


def _axes(shape: Shape, per_axis: Sequence[tuple[Any, ...]]) -> list[Axis]:
    """One combined axis when every spatial axis has the same input size and geometry."""
    rank = len(shape) - 1
    names = _axis_names(rank)
    keys = [(shape[1 + a], *per_axis[a]) for a in range(rank)]
    if rank > 1 and len(set(keys)) == 1:
        return [Axis(tuple(range(rank)), names[-1], "",
                      " = ".join(n + "′" for n in names))]
    return [Axis((a,), names[a], "" if rank == 1 else "_" + names[a].lower(), names[a] + "′")
            for a in range(rank)]


def _dims_product(shape: Shape, primed: bool) -> tuple[list[str], dict[str, Value]]:
    """Symbols and values of a shape: [C′, H′, W′] (primed) or [C, H, W]; flat [F]."""
    if len(shape) == 1:
        sym = "F_p" if primed else "F"
        return [sym], {sym: shape[0]}
    names = ["C", *_axis_names(len(shape) - 1)]
    syms = [n + "_p" if primed else n for n in names]
    return syms, dict(zip(syms, shape, strict=True))


def _product(symbols: Sequence[str]) -> str:
    return "*".join(symbols) if symbols else "1"


# ================================================================================ explanation ==


@dataclass(frozen=True)
class Explanation:
    """The derivation of one layer's row, as lines grouped in sections."""

    layer: str
    header: str
    lines: tuple[Line, ...]
    values: Mapping[str, Any]

    def sections(self) -> list[tuple[str, list[Line]]]:
        out: list[tuple[str, list[Line]]] = []
        for line in self.lines:
            if not out or out[-1][0] != line.section:
                out.append((line.section, []))
            out[-1][1].append(line)
        return out

    def to_text(self) -> str:
        """One line per quantity, sections separated by a heading."""
        parts = [self.header]
        for title, lines in self.sections():
            parts.append(f"{title}:")
            parts.extend(f"  {line.text()}" for line in lines)
        return "\n".join(parts) + "\n"

    def to_markdown(self) -> str:
        """Markdown with LaTeX math (``$…$``), ready for slides (Marp, reveal.js, Jupyter)."""
        parts = [f"**{_md(self.header)}**", ""]
        for title, lines in self.sections():
            parts.append(f"*{title}*")
            parts.append("")
            for line in lines:
                note = f" ({_md(line.note)})" if line.note else ""
                parts.append(f"- ${line.latex()}${note}")
            parts.append("")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "header": self.header,
            "lines": [{"section": ln.section, "text": ln.text(), "latex": ln.latex(),
                       "value": _json_value(ln.value)} for ln in self.lines],
            "values": {k: _json_any(v) for k, v in self.values.items()},
        }


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*")


def _json_value(v: Fraction) -> int | float:
    return int(v) if v.denominator == 1 else float(v)


def _json_any(v: Any) -> Any:
    if isinstance(v, Fraction):
        return _json_value(v)
    if isinstance(v, tuple):
        return [_json_any(x) for x in v]
    return v


def find_layer(graph: Graph, name: str) -> Node:
    """The node called ``name`` (or the 1-based index ``name``), with a suggestion if absent."""
    for node in graph.nodes:
        if node.name == name:
            return node
    if name.isdigit() and 1 <= int(name) <= len(graph.nodes):
        return graph.nodes[int(name) - 1]
    from .args import suggest

    near = suggest(name, [n.name for n in graph.nodes])
    shown = ", ".join(n.name for n in graph.nodes[:12])
    raise ArchcalcError(
        f"{graph.name} has no layer named {name!r}",
        hint=(f"did you mean {near!r}? " if near else "")
        + f"layers: {shown}{', …' if len(graph.nodes) > 12 else ''} (or a 1-based index)",
    )


def explain(graph: Graph, layer: str, *, batch: int = 1, dtype: str = "float32",
            convention: str = "lecture", report: Report | None = None) -> Explanation:
    """Derive every number of ``layer``'s row of the report of ``graph``."""
    node = find_layer(graph, layer)
    if report is None:
        report = analyze_graph(graph, batch=batch, dtype=dtype, convention=convention)
    return Derivation(graph, node, report).run()


def explain_all(graph: Graph, *, batch: int = 1, dtype: str = "float32",
                convention: str = "lecture") -> list[Explanation]:
    """Every layer of ``graph`` explained (one analysis shared by all)."""
    report = analyze_graph(graph, batch=batch, dtype=dtype, convention=convention)
    return [Derivation(graph, node, report).run() for node in graph.nodes]


# ================================================================================ the explainer ==


def _rf_of(report: Report, name: str, rank: int,
           inputs: Collection[str] = (INPUT,)) -> tuple[RFAxis, ...] | None:
    if name in inputs:
        return tuple(RFAxis(Fraction(1), Fraction(1), Fraction(0)) for _ in range(rank))
    return report.layer(name).receptive_field


def _args_text(op: Layer) -> str:
    """The layer's arguments that differ from their defaults, e.g. ``out=64, k=11, s=4, p=2``."""
    skip = {"dims", "connections", "fn"}
    defaults = {f.name: f.default for f in dataclasses.fields(op)  # type: ignore[arg-type]
                if f.default is not dataclasses.MISSING}
    parts = []
    for key, value in op.describe_args().items():
        if key in skip or value is None or (key in defaults and defaults[key] == value):
            continue
        text = "×".join(map(str, value)) if isinstance(value, tuple) and all(
            isinstance(v, int) for v in value) else str(value)
        parts.append(f"{key}={text}")
    return ", ".join(parts)


class Derivation:
    """The derivation of one node's row, built by its layers: each layer class's ``explain``
    (and a fused layer's ``explain_post``) calls the methods below to show its shape, weights and
    work; every line is checked against the value the layer's rules give (``_Lines.add``)."""

    def __init__(self, graph: Graph, node: Node, report: Report) -> None:
        self.graph = graph
        self.node = node
        self.report = report
        self.row: LayerRow = report.layer(node.name)
        self.out: _Lines = _Lines(node.name)
        self.ins = node.in_shapes
        self.shape = node.in_shapes[0]
        self.oshape = node.out_shape
        self.tensors: list[tuple[str, str, Fraction]] = []  # (symbol, display label, value)
        self.buffers: list[tuple[str, Fraction]] = []
        self.elementwise_lines: list[tuple[str, str, Fraction]] = []  # (label, template, value)
        self.ew_env: dict[str, Value] = {}
        self.macs_line: tuple[str, str, Env, str] | None = None
        self.window_line: tuple[str, str, Env, str] | None = None
        self.oshape_checked: Shape = ()
        self.macs_value = self.flops_value = self.memory_value = Fraction(0)
        self.params_value = self.buffers_value = Fraction(0)
        self.rf_value: tuple[tuple[Value, ...], ...] | None = None

    # ---------------------------------------------------------------------------- driver --
    def run(self) -> Explanation:
        node, op = self.node, self.node.op
        shapes = " + ".join("×".join(map(str, s)) for s in self.ins)
        # a fused layer with arguments of its own shows them: conv+leaky_relu(slope=0.1)
        kind = "+".join((op.type_name, *(f"{p.type_name}({_args_text(p)})" if _args_text(p)
                                         else p.type_name for p in node.post)))
        args = _args_text(op)
        header = (f"{node.name}: {kind}{f' ({args})' if args else ''} — input {shapes} → "
                  f"output {'×'.join(map(str, self.oshape))}")
        self.section("output shape")
        _call(op.explain, self, node.name, "a derivation")
        for layer in node.post:  # fused BN / activation: weights and work on the output
            _call(layer.explain_post, self, node.name, "a derivation as a fused layer")
        self._params()
        self._work(self.node.work())  # the main layer's and the fused layers' work
        self._memory()
        self._rf()
        values = {
            "output_shape": self.oshape_checked,
            "params": int(self.params_value),
            "buffers": int(self.buffers_value),
            "macs": int(self.macs_value),
            "flops": int(self.flops_value),
            "activation_bytes": int(self.memory_value),
            "receptive_field": self.rf_value,
        }
        return Explanation(node.name, header, tuple(self.out.lines), values)

    # ------------------------------------------------------------- the layers' vocabulary --
    def section(self, title: str) -> None:
        """Start a section ("output shape", "weights", …) for the lines that follow."""
        self.out.section = title

    def add(self, label: str, template: str, env: Env, expect: Value, **kw: Any) -> Fraction:
        """One line ``label = template = values = result``, refused unless the result is
        ``expect`` (the layer rule's value)."""
        return self.out.add(label, template, env, expect, **kw)

    def shape_checked(self) -> None:
        """The output-shape lines shown cover the whole shape."""
        self.oshape_checked = self.oshape

    def same_shape(self, note: str = "element-wise: the output has the input's shape",
                   source: Shape | None = None) -> None:
        """``C′ = C``, ``H′ = H``, …: the output has the shape of the input (``source``: of
        another input than the first, e.g. the map a gate multiplies)."""
        syms, env = _dims_product(self.shape if source is None else source, False)
        for i, sym in enumerate(syms):
            self.out.add(sym + "′", sym, env, self.oshape[i], note=note if i == 0 else "")
        self.oshape_checked = self.oshape

    def channels(self, template: str, env: Env, note: str = "") -> None:
        label = "F′" if len(self.oshape) == 1 else "C′"
        self.out.add(label, template, env, self.oshape[0], note=note)

    def spatial(self, axes: list[Axis], line: Callable[[Axis], tuple[str, dict[str, Value]]],
                note: Callable[[Axis], str] | None = None) -> None:
        for ax in axes:
            template, env = line(ax)
            expect = self.oshape[1 + ax.index[0]]
            if any(self.oshape[1 + i] != expect for i in ax.index):
                raise RuntimeError(f"explain {self.node.name}: axes {ax.index} differ")
            self.out.add(ax.label, template, env, expect, note=note(ax) if note else "")
        self.oshape_checked = self.oshape

    def axes(self, shape: Shape, per_axis: Sequence[tuple[Any, ...]]) -> list[Axis]:
        """The spatial axes of ``shape``, merged into one when size and geometry agree."""
        return _axes(shape, per_axis)

    def each_axis(self, rank: int) -> list[Axis]:
        """Every spatial axis on its own line (``H′``, ``W′``)."""
        names = _axis_names(rank)
        return [Axis((a,), names[a], "", names[a] + "′") for a in range(rank)]

    def axis_names(self, rank: int) -> tuple[str, ...]:
        return _axis_names(rank)

    def dims(self, shape: Shape, primed: bool) -> tuple[list[str], dict[str, Value]]:
        """Symbols and values of a shape: [C′, H′, W′] (primed) or [C, H, W]; flat [F]."""
        return _dims_product(shape, primed)

    def symbol(self, name: str, tex: bool) -> str:
        return _symbol(name, tex, {})

    def kernel_symbols(self, axes: list[Axis], k: Sequence[int]
                       ) -> tuple[list[str], dict[str, Value]]:
        syms: list[str] = []
        env: dict[str, Value] = {}
        for ax in axes:
            sym = "K" + ax.sub
            env[sym] = k[ax.index[0]]
            syms.extend([sym] * len(ax.index))
        return syms, env

    def out_symbols(self) -> tuple[list[str], dict[str, Value]]:
        return _dims_product(self.oshape, True)

    def window_shape(self, axes: list[Axis], k: Sequence[int], s: Sequence[int],
                     d: Sequence[int], lo: Sequence[int], hi: Sequence[int],
                     pool_ceil: bool, padding: str | None = None) -> None:
        """``W′ = ⌊(W − K + 2P)/S⌋ + 1`` per axis (``ceil`` with ``ceil_mode``); ``padding``
        names a ``same``/``valid`` padding the lines resolve."""

        def line(ax: Axis) -> tuple[str, dict[str, Value]]:
            a = ax.index[0]
            x = ax.sub
            env: dict[str, Value] = {ax.name: self.shape[1 + a], "S" + x: s[a]}
            if d[a] != 1:
                kern = f"K_eff{x}"
                env[kern] = self.out.add(kern, f"d{x}*(K{x} - 1) + 1",
                                         {f"d{x}": d[a], f"K{x}": k[a]}, d[a] * (k[a] - 1) + 1,
                                         note="dilation spreads the kernel")
            else:
                kern = f"K{x}"
                env[kern] = k[a]
            if lo[a] == hi[a]:
                pad = f"2*P{x}"
                env[f"P{x}"] = lo[a]
            else:
                pad = f"P_lo{x} + P_hi{x}"
                env[f"P_lo{x}"], env[f"P_hi{x}"] = lo[a], hi[a]
            inner = f"({ax.name} - {kern} + {pad})/S{x}"
            if not pool_ceil:
                return f"floor({inner}) + 1", env
            n = self.shape[1 + a]
            span = n + lo[a] + hi[a] - (d[a] * (k[a] - 1) + 1)
            out = -(-span // s[a]) + 1
            if (out - 1) * s[a] >= n + lo[a]:
                return f"ceil({inner})", env  # last window would start in the padding
            return f"ceil({inner}) + 1", env

        def note(ax: Axis) -> str:
            a = ax.index[0]
            if padding is not None:
                return f"padding {padding} = ({lo[a]}, {hi[a]})"
            if pool_ceil:
                return "ceil_mode"
            return ""

        self.spatial(axes, line, note)

    def tensor(self, key: str, template: str, env: Env, expect: int, *, times: bool = False,
               sym: tuple[str, str] | None = None, note: str = "") -> None:
        """A weight tensor's size (summed into ``params``)."""
        label = key
        value = self.out.add(label, template, env, expect, times=times,
                             sym_text=sym[0] if sym else None, sym_tex=sym[1] if sym else None,
                             note=note, label_tex=f"\\mathrm{{{_tex_name(label)}}}")
        symbol = "t" + str(len(self.tensors))
        self.tensors.append((symbol, label, value))

    def norm_tensors(self, op: Layer, shape: Shape, prefix: str) -> None:
        """The tensors of a normalisation layer on ``shape``: params, then buffers."""
        self.out.section = "weights"
        for key, tshape in op.params((shape,)).items():
            syms, env = _dims_product(tshape if len(tshape) > 1 else (tshape[0],), False)
            if len(tshape) == 1:
                syms, env = ["C"], {"C": tshape[0]}
            self.tensor(prefix + key, "*".join(syms), env, prod(tshape))
        for key, tshape in op.buffers((shape,)).items():
            self.buffer(prefix + key, tshape[0])

    def buffer(self, key: str, c: int) -> None:
        value = self.out.add(key, "C", {"C": c}, c, note="buffer (not a parameter)",
                             label_tex=f"\\mathrm{{{_tex_name(key)}}}")
        self.buffers.append((key, value))

    def macs(self, template: str, env: Env, note: str) -> None:
        """The multiply-accumulates (shown in the work section)."""
        self.macs_line = ("MACs", template, env, note)

    def window(self, template: str, env: Env, note: str) -> None:
        """The pooling-window reads (shown in the work section)."""
        self.window_line = ("window", template, env, note)

    def elementwise(self, label: str, template: str, env: Env, value: int) -> None:
        """One kind of element-wise operation (bias, bn, an activation, …)."""
        self.elementwise_lines.append((label, template, Fraction(value)))
        self.ew_env = {**self.ew_env, **env}

    # ------------------------------------------------------------------------ the rest --
    def _params(self) -> None:
        self.out.section = "weights"
        expect = self.row.params
        if self.node.shares:  # share: the tensors above are another layer's, counted there
            self.out.add("params", "0", {}, expect,
                         note=f"the weights of {self.node.shares} (share:), counted there once")
            self.params_value = Fraction(0)
            self.out.add("buffers", "0", {}, self.row.buffers,
                         note=f"those of {self.node.shares}")
            self.buffers_value = Fraction(0)
            return
        if not self.tensors:
            self.out.add("params", "0", {}, expect, note="no learnable weights")
            self.params_value = Fraction(0)
        else:
            names = {sym: (label, f"\\mathrm{{{_tex_name(label)}}}")
                     for sym, label, _ in self.tensors}
            env = {sym: v for sym, _, v in self.tensors}
            tmpl = " + ".join(sym for sym, _, _ in self.tensors)
            if len(self.tensors) == 1:
                self.params_value = self.out.add("params", tmpl, env, expect, names=names)
                # a single tensor: its line already shows the arithmetic
                self.out.lines[-1] = _with_sym(self.out.lines[-1], self.tensors[0][1])
            else:
                self.params_value = self.out.add("params", tmpl, env, expect, names=names)
        if self.buffers:
            env = {f"b{i}": v for i, (_, v) in enumerate(self.buffers)}
            names = {f"b{i}": (k, f"\\mathrm{{{_tex_name(k)}}}")
                     for i, (k, _) in enumerate(self.buffers)}
            self.buffers_value = self.out.add("buffers", " + ".join(env), env, self.row.buffers,
                                              names=names)
        else:
            if self.row.buffers:
                raise RuntimeError(f"explain {self.node.name}: buffers not derived")
            self.buffers_value = Fraction(0)

    def _work(self, work: Work) -> None:
        self.out.section = "work"
        batch = self.report.batch
        conv = CONVENTIONS[self.report.convention]
        macs_line = self.macs_line
        if macs_line is None:
            if work.macs:
                raise RuntimeError(f"explain {self.node.name}: MACs not derived")
            self.out.add("MACs", "0", {}, 0, note="no multiply-accumulates")
            macs = Fraction(0)
        else:
            label, tmpl, env, note = macs_line
            macs = self.out.add(label, tmpl, env, work.macs, note=note)
        window_line = self.window_line
        window = Fraction(0)
        if window_line is not None:
            label, tmpl, env, note = window_line
            window = self.out.add(label, tmpl, env, work.window, note=note)
        elif work.window:
            raise RuntimeError(f"explain {self.node.name}: window reads not derived")
        ew = Fraction(0)
        if self.elementwise_lines:
            env_all = self.ew_env
            for label, tmpl, value in self.elementwise_lines:
                self.out.add(label, tmpl, env_all, value,
                             note="element-wise operations" if label != "bias" else
                             "one add per output element")
            if len(self.elementwise_lines) > 1:
                env = {f"e{i}": v for i, (_, _, v) in enumerate(self.elementwise_lines)}
                names = {f"e{i}": (lab, f"\\mathrm{{{_tex_name(lab)}}}")
                         for i, (lab, _, _) in enumerate(self.elementwise_lines)}
                ew = self.out.add("element-wise", " + ".join(env), env, work.elementwise,
                                  names=names, label_tex="\\mathrm{elementwise}")
            else:
                ew = self.elementwise_lines[0][2]
                if ew != work.elementwise:
                    raise RuntimeError(f"explain {self.node.name}: element-wise {ew} != "
                                       f"{work.elementwise}")
        elif work.elementwise:
            raise RuntimeError(f"explain {self.node.name}: element-wise work not derived")
        terms = []
        env2: dict[str, Value] = {"MACs": macs, "window": window, "elementwise": ew}
        names = {"MACs": ("MACs", "\\mathrm{MACs}"), "window": ("window", "\\mathrm{window}"),
                 "elementwise": ("element-wise", "\\mathrm{elementwise}")}
        if macs:
            terms.append("MACs" if conv.mac_weight == 1 else f"{conv.mac_weight}*MACs")
        if conv.count_window and window:
            terms.append("window")
        if conv.count_elementwise and ew:
            terms.append("elementwise")
        tmpl = " + ".join(terms) or "0"  # the convention's terms that are not zero here
        regions = self.node.multiplicity
        factor = [*(["B"] if batch > 1 else []), *(["R"] if regions > 1 else [])]
        if factor:
            if batch > 1:
                env2["B"] = batch
            if regions > 1:
                env2["R"] = regions
            times = "*".join(factor)
            tmpl = f"{times}*({tmpl})"
            label = ("MACs (batch)" if regions == 1 else
                     "MACs (R regions)" if batch == 1 else "MACs (batch, R regions)")
            self.macs_value = self.out.add(
                label, f"{times}*MACs", env2, self.row.macs, names=names,
                note="" if regions == 1 else
                f"{regions:,} regions per sample: the work of one, {regions:,} times")
        else:
            self.macs_value = macs
            if macs != self.row.macs:
                raise RuntimeError(f"explain {self.node.name}: MACs {macs} != {self.row.macs}")
        self.flops_value = self.out.add("FLOPs", tmpl, env2, self.row.flops, names=names,
                                        note=f"convention {conv.name}")

    def _memory(self) -> None:
        self.out.section = "memory"
        syms, env = self.out_symbols()
        width = DTYPE_BYTES[self.report.dtype]
        tmpl = "*".join(syms) + f"*{width}"
        menv: dict[str, Value] = dict(env)
        if self.node.multiplicity > 1:
            tmpl = "R*" + tmpl
            menv["R"] = self.node.multiplicity
        if self.report.batch > 1:
            tmpl = "B*" + tmpl
            menv["B"] = self.report.batch
        self.memory_value = self.out.add(
            "memory", tmpl, menv, self.row.activation_bytes, unit="B",
            note=f"{fmt_kb(self.row.activation_bytes)} KB = bytes/1024; "
                 f"{width} B per {self.report.dtype}")

    def _rf(self) -> None:
        self.out.section = "receptive field"
        rank = len(self.shape) - 1
        got = self.row.receptive_field
        prevs = [_rf_of(self.report, name, rank, self.graph.input_names)
                 for name in self.node.inputs]
        self.rf_value = None if got is None else (
            tuple(a.size for a in got), tuple(a.jump for a in got), tuple(a.start for a in got))
        if got is None:
            if any(p is None for p in prevs):
                self.out.note("r", "none: no spatial map reaches this layer")
            else:
                self.out.note("r", "none: the spatial layout ends here")
            return
        _call(self.node.op.explain_rf, RFDerivation(self, prevs, got), self.node.name,
              "a receptive-field derivation")


def _call(method: Callable[[Any], None], arg: Any, node: str, what: str) -> None:
    """A layer's derivation method; a class without one is refused by name (never skipped)."""
    try:
        method(arg)
    except NotImplementedError:
        owner = type(getattr(method, "__self__", None)).__name__
        raise ArchcalcError(f"explain has no derivation for layer type {owner} ({what})",
                            layer=node, hint="every layer class needs its explain methods "
                            "(archcalc/layers/)") from None


def _with_note(line: Line, note: str) -> Line:
    return Line(line.section, line.label, line.template, line.env, line.value, line.label_tex,
                line.times, line.sym_text, line.sym_tex, line.unit, note, line.names)


def _with_sym(line: Line, label: str) -> Line:
    return Line(line.section, line.label, line.template, line.env, line.value, line.label_tex,
                line.times, label, f"\\mathrm{{{_tex_name(label)}}}", line.unit, line.note,
                line.names)


def _tex_name(name: str) -> str:
    return name.replace("_", "\\_")


def fmt_kb(n: int) -> str:
    """bytes/1024, exact when it has at most 2 decimals."""
    v = Fraction(n, 1024)
    if (v * 100).denominator == 1:
        return f"{float(v):,.2f}".rstrip("0").rstrip(".")
    return f"≈ {float(v):,.2f}"



# =========================================================================== receptive field ==


class RFDerivation:
    """Receptive-field lines: size r, jump j, start per axis, from the inputs' fields; the layer
    class's ``explain_rf`` calls the methods below."""

    def __init__(self, ex: Derivation, prevs: list[tuple[RFAxis, ...] | None],
                 got: tuple[RFAxis, ...]) -> None:
        self.ex = ex
        self.prevs = prevs
        self.got = got
        self.rank = len(got)
        self.ins = ex.ins
        self.shape = ex.shape
        self.oshape = ex.oshape

    def axis_names(self) -> tuple[str, ...]:
        return _axis_names(self.rank)

    def add(self, label: str, template: str, env: Env, expect: Value, **kw: Any) -> Fraction:
        return self.ex.out.add(label, template, env, expect, **kw)

    def axes(self, geometry: Sequence[tuple[Any, ...]]) -> list[Axis]:
        prev = self.prevs[0]
        assert prev is not None
        keys = [(prev[a].size, prev[a].jump, prev[a].start, *geometry[a])
                for a in range(self.rank)]
        names = _axis_names(self.rank)
        if self.rank > 1 and len(set(keys)) == 1:
            return [Axis(tuple(range(self.rank)), names[-1], "", "")]
        return [Axis((a,), names[a], "" if self.rank == 1 else "_" + names[a].lower(), "")
                for a in range(self.rank)]

    def emit(self, ax: Axis, r: str, j: str, start: str, env: Mapping[str, Value],
             note: str = "") -> None:
        """The three lines of one axis from the first input's field (``r_prev``, ``j_prev``,
        ``start_prev``) and ``env``."""
        a = ax.index[0]
        prev = self.prevs[0]
        assert prev is not None
        x = ax.sub
        full = {f"r_prev{x}": prev[a].size, f"j_prev{x}": prev[a].jump,
                f"start_prev{x}": prev[a].start, **env}
        got = self.got[a]
        for i in ax.index:
            if self.got[i] != got:
                raise RuntimeError(f"explain {self.ex.node.name}: RF axes {ax.index} differ")
        out = self.ex.out
        out.add(f"r{x}", r, full, got.size, note=note)
        out.add(f"j{x}", j, full, got.jump)
        out.add(f"start{x}", start, full, got.start)

    def window(self, k: Sequence[int], s: Sequence[int], p_lo: Sequence[int],
               d: Sequence[int] | None = None, note: str = "") -> None:
        """A sliding window: ``r' = r + (K − 1)·j``, ``j' = j·S``, ``start' = start +
        ((K − 1)/2 − P)·j``."""
        d = d or [1] * self.rank
        for ax in self.axes([(k[a], s[a], p_lo[a], d[a]) for a in range(self.rank)]):
            a, x = ax.index[0], ax.sub
            kern = f"K{x}" if d[a] == 1 else f"K_eff{x}"
            env: dict[str, Value] = {kern: (d[a] * (k[a] - 1) + 1), f"S{x}": s[a],
                                     f"P{x}": p_lo[a]}
            self.emit(ax, f"r_prev{x} + ({kern} - 1)*j_prev{x}", f"j_prev{x}*S{x}",
                      f"start_prev{x} + (({kern} - 1)/2 - P{x})*j_prev{x}", env, note)

    def shift(self, pads: Sequence[int], sign: str) -> None:
        """The grid moved by ``pads`` input steps (``-``: padding before, ``+``: a crop)."""
        for ax in self.axes([(v,) for v in pads]):
            a, x = ax.index[0], ax.sub
            self.emit(ax, f"r_prev{x}", f"j_prev{x}", f"start_prev{x} {sign} c{x}*j_prev{x}",
                      {f"c{x}": pads[a]})

    def unchanged(self) -> None:
        """An element-wise layer: its input's field."""
        for ax in self.axes([() for _ in range(self.rank)]):
            x = ax.sub
            self.emit(ax, f"r_prev{x}", f"j_prev{x}", f"start_prev{x}", {},
                      "element-wise: the field is unchanged")

    def ends(self) -> None:
        """A layer after which no spatial layout remains (its rule gives no field: the
        derivation shows a note instead, so this is never reached with a field)."""
        raise RuntimeError(f"explain {self.ex.node.name}: a receptive field after a layer "
                           "that ends the spatial layout")

    def merge(self) -> None:
        """Several paths: the largest field, with its jump and start (one path: unchanged)."""
        if len(self.prevs) == 1:
            self.unchanged()
            return
        known = [p for p in self.prevs if p is not None]
        out = self.ex.out
        names = _axis_names(self.rank)
        uniform = self.rank > 1 and all(len(set(p)) == 1 for p in known)
        for a in range(1 if uniform else self.rank):
            x = "" if self.rank == 1 or uniform else "_" + names[a].lower()
            env: dict[str, Value] = {}
            for i, p in enumerate(known):
                env[f"r_{i + 1}{x}"] = p[a].size
            best = max(range(len(known)), key=lambda i: (known[i][a].size, known[i][a].jump))
            env[f"j_{best + 1}{x}"] = known[best][a].jump
            env[f"start_{best + 1}{x}"] = known[best][a].start
            rs = ", ".join(f"r_{i + 1}{x}" for i in range(len(known)))
            out.add(f"r{x}", f"max({rs})", env, self.got[a].size,
                    note="the largest field over the paths")
            out.add(f"j{x}", f"j_{best + 1}{x}", env, self.got[a].jump,
                    note=f"jump and start of input {best + 1}, the largest field")
            out.add(f"start{x}", f"start_{best + 1}{x}", env, self.got[a].start)


def explained_types() -> frozenset[type[Layer]]:
    """Layer classes :func:`explain` can derive: those that define both derivation methods
    (a test holds this to every class)."""
    return frozenset(cls for cls in LAYER_CLASSES if cls.explain is not Layer.explain
                     and cls.explain_rf is not Layer.explain_rf)
