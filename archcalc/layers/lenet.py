"""LeNet-5's own layer: ``subsample`` (its partial connection table is ``conv``'s
``connections`` argument)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .. import torch_code as tc
from ..errors import BridgeError
from ..shapes import PerAxis, Shape, per_axis, prod
from ..torch_code import TorchLayer
from .base import (
    ACT,
    BIAS,
    COEFFICIENT,
    Arg,
    Layer,
    Saved,
    Shapes,
    Tensor,
    Tensors,
    Work,
    layer_class,
)
from .pool import Pool

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation
    from .arrays import Array


@layer_class
class Subsample(Pool):
    """LeNet-5's subsampling (S2, S4): the sum of each K×K window times a trainable coefficient,
    plus a trainable bias, per map (LeCun et al. 1998, §II-B).

    Params: 2 per map (coefficient + bias) — S2: 6·2 = 12, S4: 16·2 = 32. MACs: one
    coefficient multiply per output, ``C·∏n'``; the window sum is ``C·∏n'·∏k`` window reads;
    the bias add is element-wise.
    """

    kind: ClassVar[str] = "subsample"
    doc: ClassVar[str] = "LeNet-5 subsampling: window sum x coefficient + bias per map"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("k", "ints+", 2, "window size"),
        Arg("s", "ints+", None, "stride (default: the window size)"),
    )
    POST_ARGS: ClassVar[tuple[str, ...]] = ("act",)
    k: PerAxis = 2

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        c = ins[0][0]
        return (Tensor("coefficient", (c,), COEFFICIENT), Tensor("bias", (c,), BIAS))

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Pool.work(self, ins, out) + Work(macs=prod(out), elementwise=prod(out))

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its input, only for the coefficient's gradient ``Σ ∂y·Σ window`` (the window sums are
        recomputed from it); ``∂x`` needs only the coefficient, a parameter."""
        return (Saved("x", ins[0], ACT),) if need_dw else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``y = a·Σ_window x + b``. Input gradient: ``a·∂y`` per output (one MAC each, as the
        forward counts the coefficient multiply), added to every element of its window (the
        forward's window reads, in adds; ``full``). Weight gradient: the window sums again (the
        forward's window reads), ``∂a = Σ ∂y·sum`` (one MAC per output) and ``∂b = Σ ∂y`` (one add
        per output)."""
        n = prod(out)
        reads = Pool.work(self, ins, out).window
        dx = Work(macs=n, elementwise=reads) if need_dx else Work()
        dw = Work(macs=n, elementwise=reads + n) if need_dw else Work()
        return dx, dw

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """LeNet-5's S-layers: ``coefficient[c]·Σ window + bias[c]`` (LeCun et al. 1998, §II-B);
        one coefficient multiply per output (counted as a MAC, as the engine does)."""
        import numpy as np

        from .arrays import channel_view, reduce_taps

        (x,) = inputs
        win, _ = self._windows(x, 0.0)
        total = reduce_taps(win, x.ndim - 2, np.add)
        total *= channel_view(w["coefficient"], total.ndim)
        ctx.count(total.size)
        total += channel_view(w["bias"], total.ndim)
        return total

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        return Layer.forward_train(self, inputs, w, ctx)

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``∂S = δ·coefficient`` (one MAC per output, as the forward's multiply) added onto
        each window; ``∂coefficient = Σ δ·S`` with the window sums ``S`` of the kept input (one
        MAC per output), ``∂bias = Σ δ``."""
        import numpy as np

        from .adjoint import channel_dot, channel_sum
        from .arrays import channel_view, reduce_taps

        shape = ctx.ins[0]
        gx = None
        if need_dx:
            scaled = gy * channel_view(w["coefficient"], gy.ndim)
            ctx.count(gy.size)
            gx = self._spread(scaled, shape)
        grads: dict[str, Array] = {}
        if need_dw:
            x = saved["x"]
            win, _ = self._windows(x, 0.0)
            sums = reduce_taps(win, x.ndim - 2, np.add)
            grads["coefficient"] = channel_dot(gy, sums)
            ctx.count(gy.size)
            grads["bias"] = channel_sum(gy)
        return (gx,), grads

    def _explain_more(self, ex: Derivation, osyms: list[str], oenv: dict[str, Any]) -> None:
        ex.section("weights")
        ex.tensor("coefficient", "C", {"C": ex.shape[0]}, ex.shape[0])
        ex.tensor("bias", "C", {"C": ex.shape[0]}, ex.shape[0])
        ex.macs("*".join(osyms), oenv, "one coefficient multiply per output")
        ex.elementwise("bias", "*".join(osyms), oenv, prod(ex.oshape))

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``Subsample`` helper: a k×k window sum times a coefficient plus a bias, per map
        (PyTorch has no such module)."""
        (shape,) = ins
        n = tc.rank(self.kind, shape)
        k = per_axis(self.k, n, "k")
        s = per_axis(self.s if self.s is not None else self.k, n, "s")
        if n != 2 or len(set(k)) != 1 or len(set(s)) != 1:
            raise BridgeError("subsample exports only with a square 2D window")
        return tc.call("Subsample", ("channels", shape[0]), ("kernel_size", k[0]),
                       ("stride", s[0]), helper="Subsample")

    ONNX: ClassVar[tuple[str, ...]] = ()
    ONNX_NONE: ClassVar[str] = (
        "ONNX has no subsampling: PyTorch writes it as AveragePool, a Mul by k² and a depthwise"
        " Conv")
