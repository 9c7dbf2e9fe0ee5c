"""Merges of several inputs: ``add``, ``multiply``, ``concat``, ``subtract``."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .. import torch_code as tc
from ..errors import LayerArgError
from ..shapes import RF, AxisRF, Shape, prod, rf_merge
from ..torch_code import TorchLayer
from .base import ACT, NO_WORK, Layer, Saved, Shapes, Tensor, Tensors, Work, layer_class

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from .arrays import Array

    Grads = tuple[tuple[Array | None, ...], dict[str, Array]]


class Merge(Layer):
    """Base of the merges: no weights, the grid kept; the receptive field of the output is the
    hull of the paths' fields (:func:`archcalc.shapes.rf_merge`)."""

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return rf_merge(rfs)

    def refines(self, ins: Shapes) -> bool:
        return False

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.merge()


@layer_class
class Add(Merge):
    """Element-wise sum of ≥ 2 inputs of identical shape (residual connections):
    ``(inputs − 1)`` adds per element (``full``). RF: the largest over the paths."""

    kind: ClassVar[str] = "add"
    doc: ClassVar[str] = "element-wise sum (residual merge)"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    POST_ARGS: ClassVar[tuple[str, ...]] = ("act",)

    def out_shape(self, ins: Shapes) -> Shape:
        for shape in ins[1:]:
            if shape != ins[0]:
                raise LayerArgError(
                    f"add needs equal shapes, got {' + '.join(str(list(s)) for s in ins)}",
                    hint="project the shortcut (1x1 conv with stride) or use shortcut: project",
                )
        return ins[0]

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing (also in place, as ResNet's ``out += identity``)."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """Every input's gradient is ∂y itself: no arithmetic."""
        return NO_WORK

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=(len(ins) - 1) * prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Element-wise sum of the inputs."""
        import numpy as np

        y = np.add(inputs[0], inputs[1])
        for more in inputs[2:]:
            y += more
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``∂L/∂x_i = g`` for every input — ``gy`` itself, not copied (the executor never
        writes into a gradient it received); keeps nothing."""
        return tuple(gy if need_dx else None for _ in ctx.ins), {}

    def explain(self, ex: Derivation) -> None:
        ex.same_shape("element-wise over inputs of one shape")
        osyms, oenv = ex.out_symbols()
        n = len(ex.ins)
        ex.elementwise("add", f"({n} - 1)*" + "*".join(osyms), oenv, (n - 1) * prod(ex.oshape))

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``a + b (+ c …)`` in forward."""
        return tc.merge(lambda names: " + ".join(names))

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Add", "Sum")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Add/Sum of two or more activations → ``add``."""
        if any(v in r.consts for v in node.input if v):
            raise r.error(node, "an Add of a constant tensor has no archcalc layer",
                          "only a bias after MatMul is read (as an fc's bias)")
        r.add(i, node, "add", {})
        return True


@layer_class
class Multiply(Merge):
    """Element-wise product of two inputs; a ``[C, 1…]`` or ``[C]`` gate broadcasts over the
    other's positions (squeeze-and-excitation). One multiply per output element (``full``)."""

    kind: ClassVar[str] = "multiply"
    doc: ClassVar[str] = "element-wise product, with channel-gate broadcasting (SE)"
    ALIASES: ClassVar[tuple[str, ...]] = ("mul",)
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2

    def out_shape(self, ins: Shapes) -> Shape:
        a, b = ins
        if a == b:
            return a
        for big, gate in ((a, b), (b, a)):
            if gate[0] == big[0] and all(v == 1 for v in gate[1:]) and len(gate) <= len(big):
                return big
        raise LayerArgError(
            f"multiply needs equal shapes or a [C, 1, 1] gate, got {list(a)} and {list(b)}",
            hint="a squeeze-and-excitation gate has the channels of the map and size 1",
        )

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Both inputs: each factor's gradient is ∂y times the other (bench/training_types.py,
        the SE gate and equal shapes)."""
        return (Saved("x0", ins[0], ACT), Saved("x1", ins[1], ACT)) if need_dx else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂a = ∂y·b`` and ``∂b = ∂y·a``: one multiply per output element each; a broadcast
        gate's gradient also sums over the positions (one add per element): 2 or 3 per output
        element (``full``)."""
        if not need_dx:
            return NO_WORK
        return Work(elementwise=(2 if ins[0] == ins[1] else 3) * prod(out)), Work()

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=prod(out))

    def gates(self) -> bool:
        return True

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """A broadcast gate (SE: global pool → 1×1 convs) sees the whole map: the field size is
        the larger of the two, but the output stays on the full-size input's grid (its jump and
        start), not the gate's single position, whose jump would inflate every later layer."""
        a, b = ins
        full, gate = (rfs[0], rfs[1]) if prod(a[1:]) >= prod(b[1:]) else (rfs[1], rfs[0])
        if a == b or full is None or gate is None or len(full) != len(gate):
            return rf_merge(rfs)
        return tuple(AxisRF(max(f.size, g.size), f.jump, f.start)
                     for f, g in zip(full, gate, strict=True))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Element-wise product; a ``(B, C, 1…)`` or ``(B, C)`` gate broadcasts over positions."""
        import numpy as np

        a, b = inputs
        if a.shape != b.shape:
            big, gate = (a, b) if a.size >= b.size else (b, a)
            b, a = gate.reshape(*gate.shape[:2], *([1] * (big.ndim - 2))), big
        y: Array = np.multiply(a, b)
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``∂L/∂a = g·b``, ``∂L/∂b = g·a`` from both inputs (kept, as PyTorch keeps them);
        a broadcast gate's gradient is summed over the positions it was spread over, back to
        its own shape (``(B, C, 1…)`` or ``(B, C)``). Support mode: as if the other factor were
        1 (the shapes from ``ctx.ins``)."""
        import numpy as np

        if not need_dx:
            return (None, None), {}
        if ctx.support:
            a, b = (np.ones((gy.shape[0], *shape), gy.dtype) for shape in ctx.ins)
        else:
            a, b = saved["x0"], saved["x1"]
        if a.shape == b.shape:
            return (gy * b, gy * a), {}
        swap = a.size < b.size
        big, gate = (b, a) if swap else (a, b)
        spread = gate.reshape(*gate.shape[:2], *([1] * (big.ndim - 2)))
        g_big: Array = gy * spread
        g_gate: Array = (gy * big).sum(axis=tuple(range(2, big.ndim))).reshape(gate.shape)
        return ((g_gate, g_big) if swap else (g_big, g_gate)), {}

    def explain(self, ex: Derivation) -> None:
        a, b = ex.ins
        ex.same_shape("the larger input's shape (a [C, 1, 1] gate broadcasts)",
                      a if prod(a) >= prod(b) else b)  # the map, whichever input it is
        osyms, oenv = ex.out_symbols()
        ex.elementwise("multiply", "*".join(osyms), oenv, prod(ex.oshape))

    def explain_rf(self, rx: RFDerivation) -> None:
        """An SE gate ([C, 1, 1]) widens the field to the whole map but keeps the full-size
        input's grid: r = max(r_map, r_gate), j and start of the map (:meth:`rf`)."""
        a_shape, b_shape = rx.ins
        if a_shape == b_shape:
            rx.merge()
            return
        full = 0 if prod(a_shape[1:]) >= prod(b_shape[1:]) else 1
        fp, gp = rx.prevs[full], rx.prevs[1 - full]
        assert fp is not None and gp is not None
        names = rx.axis_names()
        for a in range(rx.rank):
            x = "" if rx.rank == 1 else "_" + names[a].lower()
            env = {f"r_map{x}": fp[a].size, f"r_gate{x}": gp[a].size,
                   f"j_map{x}": fp[a].jump, f"start_map{x}": fp[a].start}
            rx.add(f"r{x}", f"max(r_map{x}, r_gate{x})", env, rx.got[a].size,
                   note="the gate sees the whole map")
            rx.add(f"j{x}", f"j_map{x}", env, rx.got[a].jump,
                   note="the output stays on the full-size input's grid")
            rx.add(f"start{x}", f"start_map{x}", env, rx.got[a].start)

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``a * b``; a flat ``[C]`` gate is given the map's spatial axes first."""
        a, b = ins
        n = max(len(a), len(b)) - 1

        def expr(names: Sequence[str]) -> str:
            x, y = names
            if len(a) != len(b):
                view = "[:, :" + ", None" * n + "]"
                x, y = (x, y + view) if len(a) > len(b) else (x + view, y)
            return f"{x} * {y}"

        return tc.merge(expr)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Mul",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Mul of two activations → ``multiply`` (a ``[C, 1, 1]`` gate broadcasts: SE)."""
        if any(v in r.consts for v in node.input if v):
            raise r.error(node, "a Mul by a constant tensor has no archcalc layer",
                          "a scalar is a scale, a stored per-channel tensor a layer_scale")
        r.add(i, node, "multiply", {})
        return True


@layer_class
class Concat(Merge):
    """Concatenation along channels of inputs with equal spatial size (Inception, DenseNet,
    U-Net). No arithmetic. RF: the largest over the paths."""

    kind: ClassVar[str] = "concat"
    doc: ClassVar[str] = "concatenate along channels"
    max_inputs: ClassVar[int | None] = None

    def out_shape(self, ins: Shapes) -> Shape:
        first = ins[0]
        for shape in ins[1:]:
            if shape[1:] != first[1:]:
                raise LayerArgError(
                    "concat needs equal spatial sizes, got "
                    + ", ".join(str(list(s)) for s in ins),
                    hint="crop the larger input first (U-Net: `crop: {in: [skip, up]}`)"
                    if len(shape) == len(first)
                    else "the inputs have different ranks",
                )
        return (sum(s[0] for s in ins), *first[1:])

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing: each input's gradient is its slice of ∂y."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """Slices of ∂y: no arithmetic."""
        return NO_WORK

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work()

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Concatenation along channels."""
        import numpy as np

        y: Array = np.concatenate(list(inputs), axis=1)
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """Each input's channels of ``g`` (views, split at the inputs' channel counts from
        ``ctx.ins``); keeps nothing."""
        if not need_dx:
            return tuple(None for _ in ctx.ins), {}
        ends = list(itertools.accumulate(shape[0] for shape in ctx.ins))
        return tuple(gy[:, lo:hi] for lo, hi in zip([0, *ends[:-1]], ends, strict=True)), {}

    def explain(self, ex: Derivation) -> None:
        syms = [f"C_{i + 1}" for i in range(len(ex.ins))]
        ex.channels(" + ".join(syms), {s: shp[0] for s, shp in zip(syms, ex.ins, strict=True)},
                    "channels of the inputs side by side")
        rank = len(ex.shape) - 1
        if rank:
            axes = ex.axes(ex.shape, [() for _ in range(rank)])
            ex.spatial(axes, lambda ax: (ax.name, {ax.name: ex.shape[1 + ax.index[0]]}),
                       lambda ax: "equal for every input")
        ex.shape_checked()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.merge(lambda names: f"torch.cat([{', '.join(names)}], dim=1)")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Concat",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        shape = r.shape(node.output[0], node)
        if int(r.attr(node, "axis")) % len(shape) != 1:
            raise r.error(node, "a Concat along an axis other than the channels has no "
                          "archcalc layer")
        r.add(i, node, "concat", {})
        return True


@layer_class
class Subtract(Merge):
    """Element-wise difference of two inputs of identical shape, ``a − b`` (a Siamese head's
    ``f(x₁) − f(x₂)``, before ``abs`` or a square): one operation per element (``full``).
    RF: the largest over the paths."""

    kind: ClassVar[str] = "subtract"
    doc: ClassVar[str] = "element-wise difference of two inputs (Siamese distance)"
    ALIASES: ClassVar[tuple[str, ...]] = ("sub",)
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2

    def out_shape(self, ins: Shapes) -> Shape:
        a, b = ins
        if a != b:
            raise LayerArgError(f"subtract needs equal shapes, got {list(a)} and {list(b)}",
                                hint="subtract two outputs of the same shape (the two "
                                "branches of a Siamese pair)")
        return a

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂a = ∂y``, ``∂b = −∂y``: one negation per element (``full``)."""
        return (Work(elementwise=prod(out)), Work()) if need_dx else NO_WORK

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``a − b``."""
        import numpy as np

        y: Array = np.subtract(inputs[0], inputs[1])
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``∂L/∂a = g``, ``∂L/∂b = −g``; keeps nothing (support mode: ``g`` for both)."""
        return ((gy, gy if ctx.support else -gy) if need_dx else (None, None)), {}

    def explain(self, ex: Derivation) -> None:
        ex.same_shape("element-wise over two inputs of one shape")
        osyms, oenv = ex.out_symbols()
        ex.elementwise("subtract", "*".join(osyms), oenv, prod(ex.oshape))

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``a - b`` in forward."""
        return tc.merge(lambda names: f"{names[0]} - {names[1]}")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Sub",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Sub of two activations of one shape → ``subtract``."""
        if any(v in r.consts for v in node.input if v):
            raise r.error(node, "a Sub of a constant tensor has no archcalc layer")
        r.add(i, node, "subtract", {})
        return True
