"""Normalisation: ``bn``, ``layernorm``, ``lrn``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from ..shapes import RF, AxisRF, Shape, prod
from .base import (
    RUNNING_MEAN,
    RUNNING_VAR,
    SCALE,
    SHIFT,
    Arg,
    Pointwise,
    Shapes,
    Tensor,
    Tensors,
    Work,
    layer_class,
)

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from .arrays import Array


@layer_class
class BatchNorm(Pointwise):
    """Batch normalisation over channels. Params: γ and β, C each (2C). Buffers: running mean and
    variance, C each (2C; reported apart from params, as torchvision's state dict holds them).
    Work at inference: folded scale and shift, 2 operations per element (``full``)."""

    kind: ClassVar[str] = "bn"
    doc: ClassVar[str] = "batch normalisation"
    ALIASES: ClassVar[tuple[str, ...]] = ("batchnorm",)
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("affine", "bool", True, "learnable gamma and beta"),
        Arg("eps", "float", 1e-5, "variance epsilon (executor)"),
    )
    affine: bool = True
    eps: float = 1e-5

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        c = (ins[0][0],)
        stats = (Tensor("running_mean", c, RUNNING_MEAN), Tensor("running_var", c, RUNNING_VAR))
        if not self.affine:
            return stats
        return (Tensor("gamma", c, SCALE), Tensor("beta", c, SHIFT), *stats)

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=2 * prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Inference BN: ``γ·(x − μ)/√(σ² + ε) + β`` per channel, folded to one scale and
        shift."""
        return self._apply(inputs[0], w, None)

    def forward_inplace(self, y: Array, w: Tensors, ctx: Context) -> Array:
        return self._apply(y, w, y)

    def _apply(self, x: Array, w: Tensors, out: Array | None) -> Array:
        import numpy as np

        from .arrays import channel_view

        scale = 1.0 / np.sqrt(w["running_var"].astype(np.float64) + self.eps)
        shift = -w["running_mean"] * scale
        if self.affine:
            scale = scale * w["gamma"]
            shift = shift * w["gamma"] + w["beta"]
        y = np.multiply(x, channel_view(scale.astype(x.dtype), x.ndim), out=out)
        y += channel_view(shift.astype(x.dtype), x.ndim)
        return y

    def explain(self, ex: Derivation) -> None:
        self.explain_per_element(ex, "bn", "2", 2)

    def explain_post(self, ex: Derivation) -> None:
        ex.norm_tensors(self, ex.oshape, prefix="bn.")
        osyms, oenv = ex.out_symbols()
        ex.elementwise("bn", "2*" + "*".join(osyms), oenv, 2 * prod(ex.oshape))


@layer_class
class LayerNorm(Pointwise):
    """Layer normalisation over the channels of each position (``over: channels``, as ConvNeXt) or
    over the whole sample (``over: all``). Params γ, β of the normalised size. Work: mean, variance,
    normalise, scale, shift ≈ 5 operations per element (``full``)."""

    kind: ClassVar[str] = "layernorm"
    doc: ClassVar[str] = "layer normalisation"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("over", "choice:channels|all", "channels", "normalised axes"),
        Arg("eps", "float", 1e-5, "variance epsilon (executor)"),
    )
    over: str = "channels"
    eps: float = 1e-5

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        shape = ins[0][:1] if self.over == "channels" else ins[0]
        return (Tensor("gamma", shape, SCALE), Tensor("beta", shape, SHIFT))

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """Over channels: each position's own channels, the field unchanged. Over all: every
        output depends on the whole sample (its mean and variance), as a squeeze-and-excitation
        gate does — the field of a window over the whole map, the output on the map's grid
        (:meth:`archcalc.layers.Multiply.rf`): ``r' = r + (n − 1)·j``, ``j' = j``."""
        (rf,) = rfs
        if rf is None or self.over == "channels":
            return rf
        n = ins[0][1:]
        return tuple(AxisRF(axis.size + (n[a] - 1) * axis.jump, axis.jump, axis.start)
                     for a, axis in enumerate(rf))

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=5 * prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``(x − mean)/√(var + ε)·γ + β`` with the biased variance, over the channels of each
        position (γ, β per channel) or over the whole sample (γ, β of the sample's shape)."""
        import numpy as np

        from .arrays import channel_view

        (x,) = inputs
        axes = (1,) if self.over == "channels" else tuple(range(1, x.ndim))
        mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
        y = ((x - mean) / np.sqrt(var + self.eps)).astype(x.dtype)
        if self.over == "channels":
            gamma, beta = channel_view(w["gamma"], x.ndim), channel_view(w["beta"], x.ndim)
        else:
            gamma, beta = w["gamma"][None], w["beta"][None]
        out: Array = y * gamma + beta
        return out

    def explain(self, ex: Derivation) -> None:
        self.explain_per_element(ex, "layernorm", "5", 5)

    def explain_rf(self, rx: RFDerivation) -> None:
        if self.over == "channels":
            rx.unchanged()
            return
        n = rx.shape[1:]
        for ax in rx.axes([(n[a],) for a in range(rx.rank)]):
            a, x = ax.index[0], ax.sub
            rx.emit(ax, f"r_prev{x} + (n{x} - 1)*j_prev{x}", f"j_prev{x}", f"start_prev{x}",
                    {f"n{x}": n[a]}, "the statistics of the whole sample: every position")


@layer_class
class LRN(Pointwise):
    """Local response normalisation across ``size`` neighbouring channels (AlexNet):
    ``b = a / (k + α/n·Σ a²)^β``. Work per element: ``size`` squares-and-adds + scale, add, power,
    divide = ``size + 4`` operations (``full``). No params."""

    kind: ClassVar[str] = "lrn"
    doc: ClassVar[str] = "local response normalisation"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("size", "int+", 5, "channels in the window"),
        Arg("alpha", "float", 1e-4, "alpha"),
        Arg("beta", "float", 0.75, "beta"),
        Arg("k", "float", 2.0, "k (AlexNet: 2; PyTorch default: 1)"),
    )
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=(self.size + 4) * prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """PyTorch's ``local_response_norm``: ``b_c = a_c / (k + α/n·Σ a²)^β``, the sum over the
        channels ``c − ⌊n/2⌋ … c + ⌊(n − 1)/2⌋`` (zeros beyond the ends)."""
        import numpy as np

        (x,) = inputs
        sq = np.square(x, dtype=np.float64)
        n, c = self.size, x.shape[1]
        pad = np.zeros((x.shape[0], n // 2, *x.shape[2:]))
        tail = np.zeros((x.shape[0], (n - 1) // 2, *x.shape[2:]))
        padded = np.concatenate([pad, sq, tail], axis=1)
        total = np.zeros_like(sq)
        for j in range(n):
            total += padded[:, j:j + c]
        out: Array = (x / (self.k + self.alpha / n * total) ** self.beta).astype(x.dtype)
        return out

    def explain(self, ex: Derivation) -> None:
        self.explain_per_element(ex, "lrn", f"({self.size} + 4)", self.size + 4)
