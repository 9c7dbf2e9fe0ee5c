"""Fully connected and matrix products: ``fc`` (also per position on a map), ``gram`` (style
transfer's Gram matrix), ``matmul``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .. import torch_code as tc
from ..errors import LayerArgError
from ..shapes import RF, Shape, prod
from ..torch_code import TorchLayer
from .base import (
    ACT,
    BIAS,
    REQUIRED,
    WEIGHT,
    Arg,
    Layer,
    Saved,
    Shapes,
    Tensor,
    Tensors,
    Work,
    bilinear_backward,
    layer_class,
)

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from .arrays import Array


@layer_class
class Linear(Layer):
    """Fully connected layer on a flat ``[F]`` input (a ``[C, 1, 1]`` map counts as ``[C]``,
    so ``global_avgpool`` may feed it directly; a larger map needs ``flatten``).
    Weights ``out × F`` + ``out`` bias
    (the slides' ``C_in × C_out + C_out``). MACs ``F·out``; bias adds ``out`` (``full``).
    ``per_position: true`` applies it to the channels of every position of a map, ``[C, n…] →
    [out, n…]`` (ConvNeXt's Linear on channels-last features, a transformer's MLP): the counts
    of a 1×1 conv — MACs ``out·∏n·C``, bias adds ``out·∏n`` — and the field unchanged."""

    kind: ClassVar[str] = "fc"
    doc: ClassVar[str] = "fully connected (linear) layer on a flat input"
    ALIASES: ClassVar[tuple[str, ...]] = ("linear", "dense")
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("out", "int+", REQUIRED, "output features"),
        Arg("bias", "bool", True, "learnable bias"),
        Arg("per_position", "bool", False, "apply to the channels of every position of a map"),
    )
    POST_ARGS: ClassVar[tuple[str, ...]] = ("bn", "act")
    out: int
    bias: bool = True
    per_position: bool = False

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        if self.per_position:
            if len(shape) < 2:
                raise LayerArgError(
                    f"per_position applies the fc at every position of a map; the input "
                    f"{list(shape)} is flat", hint="remove `per_position:` for a flat input")
            return (self.out, *shape[1:])
        if len(shape) != 1 and any(n != 1 for n in shape[1:]):
            raise LayerArgError(
                f"fc expects a flat [features] input but receives the spatial tensor {list(shape)}",
                hint="add `- flatten` before this layer (or a global_avgpool and a flatten)",
            )
        return (self.out,)

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        fin = ins[0][0]
        found = [Tensor("weight", (self.out, fin), WEIGHT, fin)]
        if self.bias:
            found.append(Tensor("bias", (self.out,), BIAS))
        return tuple(found)

    def work(self, ins: Shapes, out: Shape) -> Work:
        positions = prod(out[1:])  # 1 for a flat fc
        return Work(macs=ins[0][0] * self.out * positions,
                    elementwise=self.out * positions if self.bias else 0)

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its input ``x`` only when the weight gradient ``∂W = ∂yᵀ·x`` is required: PyTorch's
        ``addmm``/``mm`` keeps an operand only for the other operand's gradient, and the input
        gradient ``∂x = ∂y·W`` reads the weight, a parameter (bench/training_types.py)."""
        return (Saved("x", ins[0], ACT),) if need_dw else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = ∂y·W``: ``F·out`` MACs (per position); ``∂W = ∂yᵀ·x``: ``F·out`` MACs; the bias
        gradient sums ∂y, ``out`` adds per position (``full``) — the rule of
        :func:`~archcalc.layers.base.bilinear_backward`."""
        return bilinear_backward(self.work(ins, out), need_dx, need_dw)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """Every output reads every input: no spatial layout, no receptive field after it
        (per position: each position's own channels, the field unchanged)."""
        return rfs[0] if self.per_position else None

    def refines(self, ins: Shapes) -> bool:
        return False

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``y = x·Wᵀ + b`` on ``(B, F)`` (a ``(B, C, 1…)`` map is read as ``(B, C)``):
        ``B·F·out`` MACs."""
        from ..errors import ExecError

        (x,) = inputs
        if self.per_position:  # (B, C, L) → W·x per sample: B products of out × C × L
            b, c = x.shape[:2]
            y = ctx.matmul(w["weight"], x.reshape(b, c, -1))
            if self.bias:
                y += w["bias"][:, None]
            out: Array = y.reshape(b, self.out, *x.shape[2:])
            return out
        if prod(x.shape[2:]) != 1:
            raise ExecError(f"fc received the spatial tensor {list(x.shape[1:])}",
                            hint="flatten first")
        y = ctx.matmul(x.reshape(x.shape[0], x.shape[1]), w["weight"].T)
        if self.bias:
            y += w["bias"]
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``∂x = δ @ W``, ``∂W = δᵀ @ x`` (the kept input), ``∂b = Σ_batch δ``: ``B·F·out``
        MACs each (at batch 1 ``∂W`` is an outer product, a broadcast multiply counted with
        ``ctx.count``). Per position, per sample: ``∂x = Wᵀ @ δ``, ``∂W = Σ δ @ xᵀ``."""
        import numpy as np

        from .adjoint import channel_sum

        b = gy.shape[0]
        shape = (b, *ctx.ins[0])
        grads: dict[str, Array] = {}
        if ctx.support:  # every weight is non-zero: each input reaches every output (of its
            # position): the gradient summed over the outputs, on every input channel
            total = gy.reshape(b, self.out, -1).sum(axis=1, keepdims=True)
            if not self.per_position:
                total = total.sum(axis=2, keepdims=True)
            spread = np.broadcast_to((total > 0).astype(gy.dtype),
                                     (b, shape[1], prod(shape[2:]) or 1))
            return (spread.reshape(shape),), {}  # a view: every channel alike
        if self.per_position:
            g = gy.reshape(b, self.out, -1)
            gx = ctx.matmul(w["weight"].T, g).reshape(shape) if need_dx else None
            if need_dw:
                x = saved["x"].reshape(b, shape[1], -1)
                # ∂Wᵀ = Σ_b x @ δᵀ: the long reduction over positions
                grads["weight"] = np.ascontiguousarray(
                    ctx.matmul(x, np.swapaxes(g, -1, -2)).sum(axis=0).T)
                if self.bias:
                    grads["bias"] = channel_sum(gy)
            return (gx,), grads
        flat = gy.reshape(b, self.out)
        gx = ctx.matmul(flat, w["weight"]).reshape(shape) if need_dx else None
        if need_dw:
            xf = saved["x"].reshape(b, shape[1])
            if b == 1:  # an outer product: a broadcast multiply, faster than a K = 1 GEMM
                grads["weight"] = np.multiply(flat.reshape(-1, 1), xf)
                ctx.count(grads["weight"].size)
            else:
                grads["weight"] = ctx.matmul(flat.T, xf)
            if self.bias:
                grads["bias"] = flat.sum(axis=0, dtype=np.float64).astype(gy.dtype)
        return (gx,), grads

    def explain(self, ex: Derivation) -> None:
        if self.per_position:
            self._explain_per_position(ex)
            return
        fin = ex.shape[0]
        ex.channels("F_out", {"F_out": self.out})
        ex.shape_checked()
        ex.section("weights")
        ex.tensor("weight", "F_out*F_in", {"F_out": self.out, "F_in": fin},
                  prod(self.params(ex.ins)["weight"]), times=True,
                  note="" if len(ex.shape) == 1 else
                  f"a {'×'.join(map(str, ex.shape))} map counts as F_in = C")
        if self.bias:
            ex.tensor("bias", "F_out", {"F_out": self.out}, self.out)
        ex.macs("F_in*F_out", {"F_in": fin, "F_out": self.out},
                "one multiply-accumulate per weight")
        if self.bias:
            ex.elementwise("bias", "F_out", {"F_out": self.out}, self.out)

    def _explain_per_position(self, ex: Derivation) -> None:
        c = ex.shape[0]
        ex.channels("C_out", {"C_out": self.out}, "the fc at every position")
        rank = len(ex.shape) - 1
        axes = ex.axes(ex.shape, [() for _ in range(rank)])
        ex.spatial(axes, lambda ax: (ax.name, {ax.name: ex.shape[1 + ax.index[0]]}))
        ex.section("weights")
        ex.tensor("weight", "C_out*C_in", {"C_out": self.out, "C_in": c}, self.out * c,
                  times=True, note="one matrix shared by every position (a 1×1 conv's)")
        if self.bias:
            ex.tensor("bias", "C_out", {"C_out": self.out}, self.out)
        osyms, oenv = ex.out_symbols()
        ex.macs("*".join(["C_out", *osyms[1:], "C_in"]), {**oenv, "C_out": self.out, "C_in": c},
                "each output element: C_in multiply-accumulates")
        if self.bias:
            ex.elementwise("bias", "*".join(["C_out", *osyms[1:]]), {**oenv, "C_out": self.out},
                           prod(ex.oshape))

    def explain_rf(self, rx: RFDerivation) -> None:
        if self.per_position:
            rx.unchanged()
            return
        rx.ends()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.Linear(F, out, bias)``; on a ``[C, 1…]`` map (read as ``[C]``) an
        ``nn.Flatten()`` first; ``per_position`` → the ``PositionwiseLinear`` helper."""
        (shape,) = ins
        bias = None if self.bias else False
        if self.per_position:
            return tc.call("PositionwiseLinear", ("in_features", shape[0]),
                           ("out_features", self.out), bias=bias, helper="PositionwiseLinear")
        module = tc.call("nn.Linear", ("in_features", shape[0]), ("out_features", self.out),
                         bias=bias)
        return module if len(shape) == 1 else tc.sequential(tc.call("nn.Flatten"), module)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Gemm", "MatMul")

    ONNX_ORDER: ClassVar[int] = -1

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Gemm (``x·Wᵀ + b``, alpha = beta = 1) → ``fc``; MatMul by a constant ``[F, out]``
        → ``fc``, an Add of a constant ``[out]`` after it its bias (a MatMul of two
        activations is a ``matmul``'s)."""
        if node.op_type == "Gemm":
            if r.attr(node, "transA", 0) or r.attr(node, "alpha", 1.0) != 1.0 or \
                    r.attr(node, "beta", 1.0) != 1.0:
                raise r.error(node, "only Gemm with transA = 0, alpha = 1 and beta = 1 is an "
                              "fc")
            w = r.weight(node, "a product of two activations has no archcalc layer")
            out = int(w.shape[0] if r.attr(node, "transB", 0) else w.shape[1])
            x = r.resolve(node.input[0])
            r.add(i, node, "fc", {"out": out, "bias": r.stored_input(node, 2)},
                  [x], name=r.fc_name(node, x))
            return True
        w = r.const(node.input[1])
        if w is None or len(w.shape) != 2:
            return False
        out_name = node.output[0]
        bias = False
        readers = r.readers(out_name)
        if len(readers) == 1 and readers[0].op_type == "Add":
            add_node = readers[0]
            other = [v for v in add_node.input if v != out_name]
            c = r.const(other[0]) if other else None
            if c is not None and prod(c.shape) == int(w.shape[1]):
                bias = True
                r.claimed.add(r.producer[add_node.output[0]])
                out_name = add_node.output[0]
        x = r.resolve(node.input[0])
        r.add(i, node, "fc", {"out": int(w.shape[1]), "bias": bias}, [x], out_name,
              name=r.fc_name(node, x))
        return True


@layer_class
class Gram(Layer):
    """The Gram matrix of a map's channels (Gatys et al. 2016, the style representation):
    ``[C, n…] → [C, C]`` with ``G_kk' = Σ_positions a_k·a_k'``, i.e. ``F·Fᵀ`` for the
    ``C × ∏n`` matrix F of the activations: ``C²·∏n`` MACs (the lecture's
    ``Σ_i Σ_j a_ijk·a_ijk'`` for every k, k'). ``normalize: true`` divides by ``C·∏n``
    (Johnson et al.): C² divides (``full``). No weights; no receptive field after it."""

    kind: ClassVar[str] = "gram"
    doc: ClassVar[str] = "Gram matrix F·Fᵀ of a map's channels (style transfer)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("normalize", "bool", False, "divide by C·H·W (Johnson et al.)"),
    )
    normalize: bool = False

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        if len(shape) < 2:
            raise LayerArgError(f"gram needs a map [C, H, W], got the flat {list(shape)}",
                                hint="take the Gram matrix of a conv layer's output")
        return (shape[0], shape[0])

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        c = ins[0][0]
        return Work(macs=c * c * prod(ins[0][1:]), elementwise=c * c if self.normalize else 0)

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its input ``x``: ``F·Fᵀ`` is a batched product whose operands are both views of x
        (one storage, counted once)."""
        return (Saved("x", ins[0], ACT),) if need_dx else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``G = F·Fᵀ`` with both factors the input: the product's backward gives each factor
        its gradient, ``∂G·F`` and ``∂Gᵀ·F``, ``C²·∏n`` MACs each (2× the forward), summed into
        ∂F (``C·∏n`` adds); normalised, ∂G is divided first (``C²`` divides). No weights."""
        c, n = ins[0][0], prod(ins[0][1:])
        if not need_dx:
            return Work(), Work()
        return Work(macs=2 * c * c * n, elementwise=c * n + (c * c if self.normalize else 0)),\
            Work()

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """None: every entry sums over all positions; no spatial layout remains."""
        return None

    def refines(self, ins: Shapes) -> bool:
        return False

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``F·Fᵀ`` per sample, ``F`` = the ``C × ∏n`` activations (÷ C·∏n if normalised)."""
        (x,) = inputs
        b, c = x.shape[:2]
        f = x.reshape(b, c, -1)
        g = ctx.matmul(f, f.transpose(0, 2, 1))
        if self.normalize:
            g /= x.dtype.type(prod(x.shape[1:]))
        return g

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``G = F·Fᵀ`` (÷ N): each factor's gradient as autograd's matrix product gives it,
        ``δ·F`` and ``δᵀ·F`` (÷ N), summed into ∂F, from the kept input: ``C²·∏n`` MACs each,
        twice the forward's (the rule's count; ``(δ + δᵀ)·F`` would take half)."""
        import numpy as np

        if ctx.support:
            raise NotImplementedError("gram has no receptive field")
        if not need_dx:
            return (None,), {}
        x = saved["x"]
        b, c = x.shape[:2]
        f = x.reshape(b, c, -1)
        gx = (ctx.matmul(gy, f) + ctx.matmul(np.swapaxes(gy, -1, -2), f)).reshape(x.shape)
        if self.normalize:
            gx /= x.dtype.type(prod(x.shape[1:]))
        return (gx,), {}

    def explain(self, ex: Derivation) -> None:
        c = ex.shape[0]
        ex.add("C′", "C", {"C": c}, c, note="one row per channel")
        ex.add("C″", "C", {"C": c}, c, note="one column per channel")
        ex.shape_checked()
        syms, env = ex.dims(ex.shape, False)
        ex.macs("C*" + "*".join(syms), env, "every pair of channels: one product per position")
        if self.normalize:
            ex.elementwise("divide", "C*C", {"C": c}, c * c)

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``Gram`` helper (``torch.bmm`` of the flattened map with its transpose)."""
        return tc.call("Gram", normalize=self.normalize or None, helper="Gram")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Reshape",)
    ONNX_ORDER: ClassVar[int] = -2

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """PyTorch's ``f = x.flatten(2); f @ f.transpose(1, 2)`` (÷ C·n: ``normalize``) —
        Reshape to ``[B, C, n]``, Transpose(0, 2, 1), MatMul of the two — → ``gram``."""
        x = r.resolve(node.input[0])
        shape, out = r.shape(x, node), r.shape(node.output[0], node)
        if len(shape) < 3 or len(out) != 3 or out[1] != shape[1] or out[2] != prod(shape[2:]):
            return False
        readers = r.readers(node.output[0])
        t = next((n for n in readers if n.op_type == "Transpose"), None)
        mm = next((n for n in readers if n.op_type == "MatMul"), None)
        if len(readers) != 2 or t is None or mm is None or list(r.attr(t, "perm")) != [0, 2, 1] \
                or list(mm.input) != [node.output[0], t.output[0]]:
            return False
        chain, args = [t, mm], {}
        after = r.readers(mm.output[0])
        if len(after) == 1 and after[0].op_type == "Div":
            c = r.const(after[0].input[1])
            if c is not None and c.value is not None and c.value.size == 1 and \
                    float(c.value.reshape(())) == prod(shape[1:]):
                chain.append(after[0])
                args["normalize"] = True
        for n in chain:
            r.claimed.add(r.producer[n.output[0]])
        r.add(i, node, "gram", args, [x], chain[-1].output[0])
        return True


@layer_class
class MatMul(Layer):
    """The matrix product of two 2-D tensors, ``[N, K]·[K, M] → [N, M]`` (``transpose_b:
    true``: ``[N, K]·[M, K]ᵀ``, attention's ``Q·Kᵀ``): ``N·K·M`` MACs. No weights; no receptive
    field after it."""

    kind: ClassVar[str] = "matmul"
    doc: ClassVar[str] = "matrix product of two [N, K] and [K, M] tensors"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("transpose_b", "bool", False, "multiply by the second input transposed"),
    )
    transpose_b: bool = False

    def _dims(self, ins: Shapes) -> tuple[int, int, int]:
        a, b = ins
        if len(a) != 2 or len(b) != 2:
            raise LayerArgError(f"matmul multiplies 2-D tensors, got {list(a)} and {list(b)}",
                                hint="reshape to [N, K] and [K, M] first")
        kb, m = (b[1], b[0]) if self.transpose_b else (b[0], b[1])
        if a[1] != kb:
            raise LayerArgError(
                f"matmul: {list(a)}·{list(b)}{'ᵀ' if self.transpose_b else ''} needs the inner "
                f"sizes to agree ({a[1]} vs {kb})",
                hint="set transpose_b: true to multiply by the second input transposed"
                if not self.transpose_b and a[1] == b[1] else "check the two inputs' shapes")
        return a[0], a[1], m

    def out_shape(self, ins: Shapes) -> Shape:
        n, _, m = self._dims(ins)
        return (n, m)

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        n, k, m = self._dims(ins)
        return Work(macs=n * k * m)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return None

    def refines(self, ins: Shapes) -> bool:
        return False

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Both inputs, ``x0`` and ``x1``: each factor's gradient reads the other."""
        return (Saved("x0", ins[0], ACT), Saved("x1", ins[1], ACT)) if need_dx else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂A = ∂Y·Bᵀ`` (``N·M·K`` MACs) and ``∂B = Aᵀ·∂Y`` (``K·N·M``): twice the forward's
        ``N·K·M``, both input gradients; no weights."""
        n, k, m = self._dims(ins)
        return (Work(macs=2 * n * k * m) if need_dx else Work()), Work()

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``A·B`` (or ``A·Bᵀ``) per sample: ``B·N·K·M`` MACs."""
        a, b = inputs
        return ctx.matmul(a, b.transpose(0, 2, 1) if self.transpose_b else b)

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``Y = A·B``: ``∂A = δ·Bᵀ``, ``∂B = Aᵀ·δ``; ``Y = A·Bᵀ``: ``∂A = δ·B``,
        ``∂B = δᵀ·A`` — from the kept inputs ``x0``, ``x1``, ``N·K·M`` MACs each."""
        import numpy as np

        if ctx.support:
            raise NotImplementedError("matmul has no receptive field")
        if not need_dx:
            return (None, None), {}
        a, bm = saved["x0"], saved["x1"]
        gt = np.swapaxes(gy, -1, -2)
        if self.transpose_b:
            return (ctx.matmul(gy, bm), ctx.matmul(gt, a)), {}
        return (ctx.matmul(gy, np.swapaxes(bm, -1, -2)),
                ctx.matmul(np.swapaxes(a, -1, -2), gy)), {}

    def explain(self, ex: Derivation) -> None:
        n, k, m = self._dims(ex.ins)
        ex.add("N′", "N", {"N": n}, n, note="the rows of the first input")
        ex.add("M′", "M", {"M": m}, m, note="the columns of the second" +
               (" (transposed)" if self.transpose_b else ""))
        ex.shape_checked()
        ex.macs("N*K*M", {"N": n, "K": k, "M": m}, "each output: K multiply-accumulates")

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``torch.matmul(a, b)`` (``b.transpose(1, 2)`` with ``transpose_b``) in forward."""
        tail = ".transpose(1, 2)" if self.transpose_b else ""
        return tc.merge(lambda names: f"torch.matmul({names[0]}, {names[1]}{tail})")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("MatMul",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """MatMul of two activations ``[B, N, K]·[B, K, M]`` → ``matmul``."""
        if any(v in r.consts for v in node.input[:2]):
            raise r.error(node, "a MatMul by a constant that is not a 2-D weight has no "
                          "archcalc layer", "only x @ W with a constant 2-D W is an fc")
        shapes = [r.shape(r.resolve(v), node) for v in node.input[:2]]
        if any(len(s) != 3 for s in shapes):
            raise r.error(node, f"a MatMul of {[list(s) for s in shapes]} has no archcalc "
                          "layer", "matmul multiplies [B, N, K] by [B, K, M]")
        r.add(i, node, "matmul", {})
        return True
