"""Hypothesis strategies: random *valid* specs, and random mutations of specs.

:func:`valid_specs` builds a spec layer by layer while tracking the shape with the textbook
formulas written out here, independently of archcalc (PyTorch's documented rules):

* convolution / pooling (floor): ``⌊(n + p_lo + p_hi − d·(k − 1) − 1)/s⌋ + 1``; ``same``:
  ``⌈n/s⌉``;
* pooling with ``ceil_mode``: ``⌈(n + 2p − d·(k − 1) − 1)/s⌉ + 1``, minus one when the last
  window would start in the right padding (``(out − 1)·s ≥ n + p``);
* transposed convolution: ``(n − 1)·s − 2p + d·(k − 1) + output_padding + 1``;
* everything else by its definition (flatten ``C·∏n``, concat sums channels, …).

Arguments are drawn only where they are valid (kernels that fit, groups that divide, padding at
most half a pooling window, ``output_padding < max(s, d)``), so archcalc must analyse every
spec, and its output shape must equal the tracked one. Sizes stay tiny (≤ 12 per axis, ≤ 16
channels) so the NumPy executor runs each spec in milliseconds.

:func:`mutate_tree` and :func:`mutate_text` break specs the ways students do: junk values
(``three``, ``3.5``, ``-1``, ``1e3``, ``sama``, ``$foo``, ``1/0``, ``10**10**10``), unknown
keys, typos in types, missing or duplicated keys and ids, dangling ``in:``, swapped or deleted
layers, and raw text damage (deleted/inserted characters, tabs, broken indentation, truncation).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml
from hypothesis import strategies as st

Draw = Callable[..., Any]
Entry = dict[str, Any]

MAX_SIZE = 12  # per spatial axis (3D: 6)
MAX_CHANNELS = 16
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "sigmoid", "tanh", "hardsigmoid", "hardswish",
               "swish", "silu", "gelu", "softmax")


@dataclass
class State:
    """The tensor flowing at the current point: channels and spatial sizes (``()``: flat)."""

    c: int
    sizes: tuple[int, ...]
    name: str | None = None  # the id of the layer that produced it, if it has one

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.c, *self.sizes)

    @property
    def rank(self) -> int:
        return len(self.sizes)


@dataclass
class Ctx:
    """Generation context: a counter for unique ids and the top-level named shapes."""

    next_id: int = 0
    named: dict[str, tuple[int, ...]] = field(default_factory=dict)
    max_size: int = MAX_SIZE

    def new_id(self) -> str:
        self.next_id += 1
        return f"n{self.next_id}"


# ------------------------------------------------------------------------------ formulas --


def conv_size(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    """``⌊(n + lo + hi − d·(k − 1) − 1)/s⌋ + 1`` (PyTorch Conv/MaxPool, floor mode)."""
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def pool_ceil_size(n: int, k: int, s: int, p: int, d: int) -> int:
    """PyTorch's ``ceil_mode=True``: ``⌈(n + 2p − d(k−1) − 1)/s⌉ + 1``, minus one if the last
    window starts in the right padding."""
    out = -(-(n + 2 * p - d * (k - 1) - 1) // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return out


def deconv_size(n: int, k: int, s: int, p: int, op: int, d: int) -> int:
    """``(n − 1)·s − 2p + d·(k − 1) + output_padding + 1`` (PyTorch ConvTranspose)."""
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


def _divisors(n: int) -> list[int]:
    return [g for g in range(1, n + 1) if n % g == 0]


def _axis_value(values: list[int]) -> int | list[int]:
    """One int when all axes agree (the usual spelling), else the per-axis list."""
    return values[0] if len(set(values)) == 1 else values


# ---------------------------------------------------------------------- layer generators --
# Each takes (draw, state, ctx) and returns (entry, new state) or None when not applicable.

Step = tuple[Entry, State] | None


def _maybe_id(draw: Draw, args: Entry, ctx: Ctx, top: bool) -> str | None:
    if top and draw(st.integers(0, 3)) == 0:
        ident = ctx.new_id()
        args["id"] = ident
        return ident
    return None


def gen_conv(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    if s.rank == 0:
        return None
    kind = draw(st.sampled_from(["conv", "conv", "dwconv", "pwconv", f"conv{s.rank}d"]))
    stride = draw(st.sampled_from([1, 1, 1, 2, 3]))
    d = 1 if kind == "pwconv" else draw(st.sampled_from([1, 1, 1, 2]))
    mode = "int" if kind == "pwconv" else draw(
        st.sampled_from(["int", "int", "same", "valid", "pairs"]))
    ks, sizes, pads = [], [], []
    for n in s.sizes:
        if mode == "same":
            k = draw(st.integers(1, 5))
            sizes.append(-(-n // stride))
        else:
            if mode == "pairs":
                lo, hi = draw(st.integers(0, 2)), draw(st.integers(0, 2))
            else:
                lo = hi = 0 if mode == "valid" or kind == "pwconv" else draw(st.integers(0, 2))
            # the dilated kernel must fit the padded input: d·(k − 1) + 1 ≤ n + lo + hi
            kmax = 1 if kind == "pwconv" else min(5, (n + lo + hi - 1) // d + 1)
            k = draw(st.integers(1, kmax))
            pads.append((lo, hi))
            sizes.append(conv_size(n, k, stride, lo, hi, d))
        ks.append(k)
    args: Entry = {}
    if kind == "dwconv":
        mult = draw(st.sampled_from([1, 1, 2]))
        out = s.c * mult
        if out > MAX_CHANNELS:
            return None
        if mult != 1 or draw(st.booleans()):
            args["out"] = out
    else:
        out = draw(st.integers(1, 8))
        args["out"] = out
        if kind != "pwconv" or draw(st.booleans()):
            common = [g for g in _divisors(s.c) if out % g == 0]
            g = draw(st.sampled_from(common))
            if g != 1:
                args["groups"] = g
    if kind != "pwconv":
        args["k"] = _axis_value(ks)
    if stride != 1 or draw(st.booleans()):
        args["s"] = stride
    if mode == "same":
        args["p"] = "same"
    elif mode == "valid":
        args["p"] = "valid"
    elif mode == "pairs":
        args["p"] = [list(p) for p in pads]
    elif kind != "pwconv" and (any(lo for lo, _ in pads) or draw(st.booleans())):
        args["p"] = _axis_value([p[0] for p in pads])
    if d != 1:
        args["d"] = d
    if draw(st.booleans()):
        args["bias"] = draw(st.booleans())
    if draw(st.booleans()):
        args["bn"] = True
    if draw(st.booleans()):
        args["act"] = draw(st.sampled_from([*ACTIVATIONS[:4], "none"]))
    name = _maybe_id(draw, args, ctx, top)
    return {kind: args}, State(out, tuple(sizes), name)


def gen_deconv(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    if s.rank == 0:
        return None
    k, stride, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.sampled_from([1, 2]))
    p = draw(st.integers(0, (d * (k - 1)) // 2))
    op = draw(st.integers(0, max(stride, d) - 1))
    sizes = tuple(deconv_size(n, k, stride, p, op, d) for n in s.sizes)
    if min(sizes) < 1 or max(sizes) > ctx.max_size:
        return None
    out = draw(st.integers(1, 8))
    g = draw(st.sampled_from([g for g in _divisors(s.c) if out % g == 0]))
    args: Entry = {"out": out, "k": k, "s": stride}
    if p:
        args["p"] = p
    if op:
        args["output_padding"] = op
    if d != 1:
        args["d"] = d
    if g != 1:
        args["groups"] = g
    name = _maybe_id(draw, args, ctx, top)
    return {draw(st.sampled_from(["deconv", "tconv"])): args}, State(out, sizes, name)


def gen_pool(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    if s.rank == 0:
        return None
    kind = draw(st.sampled_from(["maxpool", "avgpool", "subsample"]))
    k = draw(st.integers(1, 3))
    p = 0 if kind == "subsample" else draw(st.integers(0, k // 2))  # at most half the window
    d = draw(st.sampled_from([1, 1, 2])) if kind == "maxpool" else 1
    if min(s.sizes) + 2 * p < d * (k - 1) + 1:
        return None
    stride = draw(st.one_of(st.none(), st.integers(1, 3)))
    ceil_mode = kind != "subsample" and draw(st.booleans())
    step = stride or k
    if ceil_mode:
        sizes = tuple(pool_ceil_size(n, k, step, p, d) for n in s.sizes)
    else:
        sizes = tuple(conv_size(n, k, step, p, p, d) for n in s.sizes)
    args: Entry = {"k": k}
    if stride is not None:
        args["s"] = stride
    if p:
        args["p"] = p
    if d != 1:
        args["d"] = d
    if ceil_mode:
        args["ceil_mode"] = True
    if kind == "avgpool" and draw(st.booleans()):
        args["count_include_pad"] = draw(st.booleans())
    name = _maybe_id(draw, args, ctx, top)
    return {kind: args}, State(s.c, sizes, name)


def gen_global(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    if s.rank == 0:
        return None
    kind = draw(st.sampled_from(["global_avgpool", "global_maxpool", "gap", "adaptive_avgpool"]))
    args: Entry = {}
    sizes: tuple[int, ...] = (1,) * s.rank
    if kind == "adaptive_avgpool":
        outs = [draw(st.integers(1, 4)) for _ in s.sizes]
        args["out"] = _axis_value(outs)
        sizes = tuple(outs)
    name = _maybe_id(draw, args, ctx, top)
    return {kind: args or None}, State(s.c, sizes, name)


def gen_resize(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    if s.rank == 0:
        return None
    kind = draw(st.sampled_from(["upsample", "zeropad", "crop"]))
    args: Entry = {}
    if kind == "upsample":
        if draw(st.booleans()):
            scale = [draw(st.integers(1, 3)) for _ in s.sizes]
            sizes = tuple(n * f for n, f in zip(s.sizes, scale, strict=True))
            args["scale"] = _axis_value(scale)
        else:
            size = [draw(st.integers(1, ctx.max_size)) for _ in s.sizes]
            sizes = tuple(size)
            args["size"] = _axis_value(size)
        if draw(st.booleans()):
            args["mode"] = "bilinear"
            args["align_corners"] = draw(st.booleans())
    elif kind == "zeropad":
        pairs = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in s.sizes]
        sizes = tuple(n + lo + hi for n, (lo, hi) in zip(s.sizes, pairs, strict=True))
        args["p"] = [list(p) for p in pairs]
    else:
        margins = [draw(st.integers(0, (n - 1) // 2)) for n in s.sizes]
        sizes = tuple(n - 2 * m for n, m in zip(s.sizes, margins, strict=True))
        args["margin"] = _axis_value(margins)
    if max(sizes) > ctx.max_size:
        return None
    name = _maybe_id(draw, args, ctx, top)
    return {kind: args}, State(s.c, sizes, name)


def gen_channels(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    kind = draw(st.sampled_from(["channel_shuffle", "slice"]))
    args: Entry = {}
    c = s.c
    if kind == "channel_shuffle":
        if s.rank == 0:
            return None
        args["groups"] = draw(st.sampled_from(_divisors(s.c)))
    else:
        start = draw(st.integers(0, s.c - 1))
        stop = draw(st.integers(start + 1, s.c))
        args = {"start": start, "stop": stop} if start else {"stop": stop}
        c = stop - start
    name = _maybe_id(draw, args, ctx, top)
    return {kind: args}, State(c, s.sizes, name)


def gen_elementwise(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    kind = draw(st.sampled_from(["identity", "dropout", "bn", "batchnorm", "layernorm", "lrn",
                                 *ACTIVATIONS]))
    if kind in ("lrn",) and s.rank == 0:
        return None
    args: Entry = {}
    if kind == "dropout" and draw(st.booleans()):
        args["p"] = draw(st.sampled_from([0.0, 0.1, 0.5]))
    elif kind == "leaky_relu" and draw(st.booleans()):
        args["slope"] = 0.2
    elif kind == "layernorm":
        args["over"] = draw(st.sampled_from(["channels", "all"]))
    elif kind == "lrn":
        args["size"] = draw(st.integers(1, 5))
    name = _maybe_id(draw, args, ctx, top)
    return {kind: args or None}, State(s.c, s.sizes, name)


def gen_head(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    """flatten / reshape to flat, or fc on a flat (or all-ones) input."""
    if (s.rank == 0 or all(n == 1 for n in s.sizes)) and draw(st.booleans()):
        args: Entry = {"out": draw(st.integers(1, 8))}
        if draw(st.booleans()):
            args["act"] = "relu"
        name = _maybe_id(draw, args, ctx, top)
        return {draw(st.sampled_from(["fc", "linear", "dense"])): args}, State(
            args["out"], (), name)
    total = s.c * math.prod(s.sizes)
    if total > 256:
        return None
    if draw(st.booleans()):
        return {"flatten": None}, State(total, ())
    return {"reshape": {"shape": [-1]}}, State(total, ())


def _preserving(draw: Draw, s: State, ctx: Ctx, out: int | None) -> tuple[list[Entry], int]:
    """0-2 layers that keep the spatial size (stride 1, ``same``-like padding); the last conv
    produces ``out`` channels when given. Returns (layers, channels)."""
    layers: list[Entry] = []
    c = s.c
    for _ in range(draw(st.integers(0 if out is None else 1, 2))):
        kind = draw(st.sampled_from(["conv", "conv", "maxpool", "relu", "bn", "dwconv"]))
        if kind == "conv":
            k = draw(st.sampled_from([1, 3]))
            c = draw(st.integers(1, 8))
            layers.append({"conv": {"out": c, "k": k, "p": (k - 1) // 2}})
        elif kind == "maxpool":
            layers.append({"maxpool": {"k": 3, "s": 1, "p": 1}})
        elif kind == "dwconv":
            layers.append({"dwconv": {"k": 3, "p": "same"}})
        else:
            layers.append(kind)
    if out is not None and c != out:
        layers.append({"conv": {"out": out, "k": 1}})
        c = out
    return layers, c


def gen_concat(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    if s.rank == 0:
        return None
    branches = []
    total = 0
    for _ in range(draw(st.integers(2, 3))):
        layers, c = _preserving(draw, s, ctx, None)
        branches.append(layers)
        total += c
    if total > MAX_CHANNELS:
        return None
    if draw(st.booleans()):
        return {"concat": branches}, State(total, s.sizes)
    return {"concat": {"branches": branches}}, State(total, s.sizes)


def gen_residual(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    if s.rank == 0:
        return None
    args: Entry = {}
    if draw(st.booleans()):  # identity shortcut: the body keeps the shape
        body, _ = _preserving(draw, s, ctx, s.c)
        out, sizes = s.c, s.sizes
    else:  # projection: a strided `same` conv; 1x1 stride round(n/m) maps n → ⌈n/2⌉ for any n
        out = draw(st.integers(1, 8))
        body = [{"conv": {"out": out, "k": 3, "s": 2, "p": "same"}}]
        sizes = tuple(-(-n // 2) for n in s.sizes)
        args["shortcut"] = "project"
    args["body"] = body
    if draw(st.booleans()):
        args["act"] = "relu"
    return {"residual": args}, State(out, sizes)


def gen_merge(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    """``add``/``concat``/``multiply`` by name: the current tensor (it must have an id) with an
    earlier named one of a compatible shape, or an SE gate built on the spot."""
    if not top or s.name is None:
        return None
    same = [n for n, shape in ctx.named.items() if shape == s.shape and n != s.name]
    if same and draw(st.booleans()):
        other = draw(st.sampled_from(same))
        return {"add": {"in": [other, s.name], "id": ctx.new_id()}}, State(s.c, s.sizes)
    if s.rank >= 1:  # squeeze-and-excitation: gate = sigmoid(conv1x1(global_avgpool(x)))
        gate = ctx.new_id()
        return {"sequential": {"layers": [
            {"global_avgpool": {"in": s.name}},
            {"conv": {"out": s.c, "k": 1, "act": "sigmoid", "id": gate}},
            {"multiply": {"in": [s.name, gate]}},
        ]}}, State(s.c, s.sizes)
    return None


def gen_repeat(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    if s.rank == 0:
        return None
    layers, _ = _preserving(draw, s, ctx, s.c)
    n = draw(st.integers(1, 3))
    return {"repeat": {"n": n, "layers": layers}}, State(s.c, s.sizes)


def gen_block(draw: Draw, s: State, ctx: Ctx, top: bool) -> Step:
    """A call of the spec's block ``unit`` (``conv {out: $w, k: 1}`` then ``conv {out:
    '$cin * $m', k: 1}``): ``w·m`` channels out, spatial size kept."""
    if s.rank == 0:
        return None
    w, m = draw(st.integers(1, 4)), draw(st.integers(1, 2))
    call: Entry = {"w": w}
    if m != 1:
        call["m"] = m
    return {"unit": call}, State(w * m, s.sizes)


GENERATORS = (gen_conv, gen_conv, gen_conv, gen_deconv, gen_pool, gen_pool, gen_global,
              gen_resize, gen_channels, gen_elementwise, gen_elementwise, gen_head, gen_concat,
              gen_residual, gen_merge, gen_repeat, gen_block)
BLOCKS: dict[str, Any] = {
    "unit": {
        "params": {"w": None, "m": 1},
        "layers": [{"conv": {"out": "$w", "k": 1}}, {"conv": {"out": "$cin * $m", "k": 1}}],
    },
}


@dataclass(frozen=True)
class Generated:
    """A random valid spec (as Python data) and the output shape tracked while building it."""

    spec: dict[str, Any]
    out_shape: tuple[int, ...]
    named: dict[str, tuple[int, ...]]

    def text(self) -> str:
        return to_yaml(self.spec)


@st.composite
def valid_specs(draw: Draw, max_layers: int = 6) -> Generated:
    rank = draw(st.sampled_from([1, 2, 2, 2, 3]))
    ctx = Ctx(max_size=MAX_SIZE if rank < 3 else 6)
    c = draw(st.integers(1, 6))
    sizes = tuple(draw(st.integers(1, ctx.max_size)) for _ in range(rank))
    state = State(c, sizes)
    ctx.named["input"] = state.shape
    layers: list[Entry] = []
    uses_block = False
    for _ in range(draw(st.integers(1, max_layers))):
        gen = draw(st.sampled_from(GENERATORS))
        step = gen(draw, state, ctx, True)
        if step is None:
            continue
        entry, state = step
        layers.append(entry)
        uses_block = uses_block or "unit" in entry
        if state.name is not None:
            ctx.named[state.name] = state.shape
    if not layers:
        layers.append("relu")
    spec: dict[str, Any] = {"archcalc": 1, "name": "fuzz", "input": [c, *sizes]}
    if uses_block:
        spec["blocks"] = BLOCKS
    spec["layers"] = layers
    named = {k: v for k, v in ctx.named.items() if k != "input"}
    return Generated(spec, state.shape, named)


def to_yaml(spec: Any) -> str:
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)


# ------------------------------------------------------------------------------ mutations --

JUNK: tuple[Any, ...] = (
    -1, 0, 3.5, 7, 64, 10**6, 10**20, True, None, "three", "1e3", "sama", "same", "$foo",
    "$cin * 2", "1/0", "10**10**10", "__import__('os')", "", [], {}, [3, 3], [[1, 2]],
    {"out": 4}, "relu", "conv", "input", "n1", "nope",
)
KEYS = ("stride", "kernel_size", "in", "id", "if", "bn", "act", "out", "k", "s", "p", "groups",
        "layer", "include", "n", "body", "branches", "shortcut", "scale", "size", "<<")
TOKENS = (":", ": ", "{", "}", "[", "]", ",", "-", "- ", " ", "  ", "\t", "\n", "&a ", "*a",
          "!!python/object:os.system ", "#", "'", '"', "0", "9", "x", "$", "1e3", "010", "%",
          "@", "\x00", "\x01", "é", "\ufeff")


def _junk(draw: Draw) -> Any:
    return copy.deepcopy(draw(st.sampled_from(JUNK)))  # never share the list/dict literals


def _positions(node: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) pair in the tree, depth-first."""
    if isinstance(node, dict):
        for key in list(node):
            out.append((node, key))
            _positions(node[key], out)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _positions(node[i], out)
    return out


def _typo(draw: Draw, word: str) -> str:
    if not word:
        return "x"
    i = draw(st.integers(0, len(word) - 1))
    op = draw(st.sampled_from(["drop", "double", "swap", "case"]))
    if op == "drop":
        return word[:i] + word[i + 1:] or "x"
    if op == "double":
        return word[:i] + word[i] + word[i:]
    if op == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word.upper()


@st.composite
def mutate_tree(draw: Draw, spec: Any) -> Any:
    """One structural mistake in a copy of ``spec`` (plain data from YAML)."""
    tree = yaml.safe_load(yaml.safe_dump(spec))  # a deep copy
    positions = _positions(tree, [])
    if not positions:
        return tree
    container, key = draw(st.sampled_from(positions))
    op = draw(st.sampled_from(["junk", "junk", "junk", "delete", "add_key", "rename", "dup",
                               "swap", "in", "nest"]))
    if op == "junk":
        container[key] = _junk(draw)
    elif op == "delete":
        del container[key]
    elif op == "add_key":
        target = container[key] if isinstance(container[key], dict) else container
        if isinstance(target, dict):
            target[draw(st.sampled_from(KEYS))] = _junk(draw)
        else:
            target.append({draw(st.sampled_from(KEYS)): _junk(draw)})
    elif op == "rename" and isinstance(container, dict):
        value = container.pop(key)
        container[_typo(draw, str(key))] = value
    elif op == "rename" and isinstance(container[key], str):
        container[key] = _typo(draw, container[key])
    elif op == "dup" and isinstance(container, list):
        container.insert(key, yaml.safe_load(yaml.safe_dump(container[key])))
    elif op == "swap" and isinstance(container, list) and len(container) > 1:
        other = draw(st.integers(0, len(container) - 1))
        container[key], container[other] = container[other], container[key]
    elif op == "in":
        target = container[key] if isinstance(container[key], dict) else None
        if target is not None:
            target["in"] = draw(st.sampled_from(["input", "nope", "n1", "n2", "n9", ["n1", "n2"],
                                                 []]))
    elif op == "nest":
        container[key] = [container[key]]
    return tree


@st.composite
def mutate_text(draw: Draw, text: str) -> str:
    """Raw damage to YAML text: characters, tokens, lines, indentation, truncation."""
    lines = text.split("\n")
    op = draw(st.sampled_from(["delete", "insert", "insert", "line_dup", "line_del", "indent",
                               "dedent", "truncate", "replace_line"]))
    if op in ("delete", "insert", "truncate") and text:
        i = draw(st.integers(0, len(text) - 1))
        if op == "delete":
            n = draw(st.integers(1, 3))
            return text[:i] + text[i + n:]
        if op == "truncate":
            return text[:i]
        return text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
    if not lines:
        return text
    j = draw(st.integers(0, len(lines) - 1))
    if op == "line_dup":
        lines.insert(j, lines[j])
    elif op == "line_del":
        del lines[j]
    elif op == "indent":
        lines[j] = draw(st.sampled_from([" ", "  ", "\t"])) + lines[j]
    elif op == "dedent":
        lines[j] = lines[j][draw(st.integers(1, 2)):]
    elif op == "replace_line":
        lines[j] = draw(st.sampled_from(["- conv", "layers:", "  - conv: {out: 4}", "input: 3",
                                         "archcalc: 2", "---", "...", "%YAML 1.2", "? x"]))
    return "\n".join(lines)


@st.composite
def mutated(draw: Draw, text: str) -> str:
    """A tree mutation (if ``text`` parses as a mapping) or a text mutation of ``text``."""
    if draw(st.booleans()):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        if isinstance(data, dict):
            return to_yaml(draw(mutate_tree(data)))
    return str(draw(mutate_text(text)))

