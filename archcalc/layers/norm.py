"""Normalisation: ``bn``, ``layernorm``, ``lrn``, ``groupnorm``, ``instancenorm``, ``l2norm``,
and ConvNeXt's learned per-channel ``layer_scale``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .. import torch_code as tc
from ..errors import BridgeError, LayerArgError
from ..shapes import RF, AxisRF, Shape, prod
from ..torch_code import TorchLayer
from .base import (
    ACT,
    FROZEN_SCALE,
    FROZEN_SHIFT,
    PARAM,
    REQUIRED,
    RUNNING_MEAN,
    RUNNING_VAR,
    SCALE,
    SHIFT,
    Arg,
    Pointwise,
    Saved,
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


Grads = tuple[tuple["Array | None", ...], dict[str, "Array"]]


def _stat_dtype(x: Array, w: Tensors) -> Any:
    """The dtype statistics are kept in (``PARAM`` in :meth:`saves`): the weights' — float32
    under autocast with float32 weights, as PyTorch keeps BN's mean and inverse deviation —
    or, for a layer without tensors, the input's."""
    return next(iter(w.values())).dtype if w else x.dtype


def _train_moments(x: Array, axes: tuple[int, ...], eps: float, kept: Any
                   ) -> tuple[Array, Array, Array, Array, Array]:
    """``(x̂, mean, invstd, mean₆₄, var₆₄)`` over ``axes`` (keepdims): ``mean``, the biased
    variance ``var``, ``invstd = 1/√(var + ε)``, ``x̂ = (x − mean)·invstd``. The sums
    accumulate in float64, the full-size arrays stay in the input's dtype (no float64 copy of
    a float32 map); the statistics in ``kept`` (:func:`_stat_dtype`), and the mean and biased
    variance in float64 as well, for the running statistics (:func:`_running_update`)."""
    import numpy as np

    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    xhat: Array = x - mean.astype(x.dtype)
    var = np.square(xhat).mean(axis=axes, keepdims=True, dtype=np.float64)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat *= invstd.astype(x.dtype)
    return xhat, mean.astype(kept), invstd.astype(kept), mean, var


def _check_momentum(layer: BatchNorm | InstanceNorm) -> None:
    """``0 ≤ momentum ≤ 1`` (the weight of the batch's statistics in the running update)."""
    if not 0.0 <= layer.momentum <= 1.0:
        raise LayerArgError(
            f"{layer.kind} momentum must be between 0 and 1, got {layer.momentum!r}",
            hint="the running statistics move by momentum·(batch − running) each training "
                 "step: PyTorch's default is 0.1 (0 keeps them, 1 replaces them)")


def _one_value(layer: BatchNorm | InstanceNorm, n: int) -> LayerArgError:
    """The refusal of a training step whose statistics each cover ``n`` < 2 values."""
    over = "channel" if isinstance(layer, BatchNorm) else "sample and channel"
    return LayerArgError(
        f"in training a {layer.kind} normalises {n} value per {over} here, and the running "
        "variance's update needs the unbiased batch variance, of 2 values or more (PyTorch "
        "refuses it too: 'Expected more than 1 value per channel when training')",
        hint="train it with a batch of 2 or more (--batch 2)" if over == "channel" else
        "give it a spatial map of 2 positions or more")


def _running_update(layer: BatchNorm | InstanceNorm, w: Tensors, mean: Array, var: Array,
                    n: int) -> dict[str, Array]:
    """The running statistics after one training step, as PyTorch's ``train()`` updates them
    (``torch.nn.functional.batch_norm``; ``instance_norm`` runs it per sample and channel and
    averages the updated copies over the batch):
    ``running_mean ← (1 − m)·running_mean + m·mean_B``,
    ``running_var ← (1 − m)·running_var + m·σ²_B·n/(n − 1)`` — the batch variance unbiased
    (divided by n − 1), n = the values each statistic covers (B·∏n per channel for batch
    norm, ∏n per sample and channel for instance norm), m = ``momentum``. ``mean`` and the
    biased ``var`` are float64, ``(C,)`` or ``(B, C)`` (averaged over the batch after the
    update); new arrays in the buffers' dtype (the given buffers are not touched). n = 1 has
    no unbiased variance: refused, as PyTorch refuses to train on one value per channel."""
    import numpy as np

    from ..errors import ExecError

    if n < 2:
        problem = _one_value(layer, n)
        raise ExecError(problem.what, hint=problem.hint)
    m = layer.momentum
    found = {}
    for name, batch in (("running_mean", mean), ("running_var", var * (n / (n - 1)))):
        old = w[name]
        step = (1.0 - m) * old.astype(np.float64) + m * batch
        found[name] = (step.mean(axis=0) if step.ndim == 2 else step).astype(old.dtype)
    return found


def _normalised(x: Array, mean: Array, invstd: Array) -> Array:
    """``x̂ = (x − mean)·invstd`` recomputed from the kept statistics (as PyTorch's backward
    does: x̂ itself is not kept)."""
    xhat: Array = (x - mean.astype(x.dtype)) * invstd.astype(x.dtype)
    return xhat


def _norm_backward(xhat: Array, invstd: Array, gxhat: Array, axes: tuple[int, ...]) -> Array:
    """``∂L/∂x`` of ``x̂ = (x − μ)·s`` with μ and the biased variance taken over ``axes`` (N
    elements), from ``gx̂ = ∂L/∂x̂``: ``s·(gx̂ − mean(gx̂) − x̂·mean(gx̂·x̂))``, the means over
    ``axes``. (∂μ/∂x = 1/N; ∂s/∂x = −s³(x − μ)/N; the two terms give the means.)"""
    dx: Array = invstd * (gxhat - gxhat.mean(axis=axes, keepdims=True)
                          - xhat * (gxhat * xhat).mean(axis=axes, keepdims=True))
    return dx


def _channel_backward(x: Array, mean: Array, invstd: Array, gamma: Array | None, gy: Array,
                      ctx: Context, per_sample: bool, need_dx: bool, need_dw: bool
                      ) -> tuple[Array | None, Array, Array]:
    """``(∂x, ∂γ, ∂β)`` of ``y = γ·x̂ + β``, ``x̂ = (x − μ)·s`` (``s`` = invstd) with the
    statistics of each channel — over the batch and its positions (batch norm, ``mean`` and
    ``invstd`` of shape ``(C,)``), or of each sample's channel over its positions
    (``per_sample``: instance norm, ``(B, C)``) — of N elements each; ∂x None unless
    ``need_dx``, ∂γ and ∂β (summed over the batch) computed only when ``need_dw``.

    With the two sums ``S₁ = Σ g`` and ``S₂ = Σ g·(x − μ)`` over each group:
    ``∂β = S₁``, ``∂γ = s·S₂`` (= Σ g·x̂), and :func:`_norm_backward`'s
    ``∂x = s·(γg − mean(γg) − x̂·mean(γg·x̂))`` becomes, with ``a = γ·s``,
    ``∂x = a·g − [(x − μ)·k + c]``, ``k = a·s²·S₂/N``, ``c = a·S₁/N`` — the same arithmetic as
    PyTorch's CPU ``batch_norm_backward`` (x̂ never materialised). In NumPy: ``x − μ`` once
    into the run's scratch buffer, both sums per group as BLAS dot products over the contiguous
    positions (element-wise work under ``full``, not products the MAC meter counts), the
    per-channel coefficients in float64, then three in-place passes and one new array for ∂x:
    no other full-size temporary."""
    import numpy as np

    b, c = x.shape[:2]
    x3 = x.reshape(b, c, -1)
    g3 = gy.reshape(b, c, -1)
    length = x3.shape[2]
    n = length if per_sample else b * length
    stat = (b, c, 1) if per_sample else (1, c, 1)
    xc = ctx.scratch(x3.shape) if ctx.dtype == x.dtype else np.empty_like(x3)
    np.subtract(x3, mean.reshape(stat).astype(x.dtype), out=xc)
    # Σ g·(x − μ) and Σ g per (sample, channel): one dot product each over the positions
    s2 = np.matmul(g3[:, :, None, :], xc[:, :, :, None]).reshape(b, c).astype(np.float64)
    s1 = np.matmul(g3, np.ones((length, 1), g3.dtype)).reshape(b, c).astype(np.float64)
    if not per_sample:
        s1, s2 = s1.sum(axis=0, keepdims=True), s2.sum(axis=0, keepdims=True)
    s = invstd.reshape(stat[:2]).astype(np.float64)
    dgamma = (s * s2).sum(axis=0).astype(gy.dtype) if need_dw else np.empty(0, gy.dtype)
    dbeta = s1.sum(axis=0).astype(gy.dtype) if need_dw else np.empty(0, gy.dtype)
    if not need_dx:
        return None, dgamma, dbeta
    a = s * gamma.astype(np.float64) if gamma is not None else s
    shape = (*stat[:2], 1)
    k = (a * s * s * s2 / n).reshape(shape).astype(x.dtype)
    const = (a * s1 / n).reshape(shape).astype(x.dtype)
    np.multiply(xc, k, out=xc)
    np.add(xc, const, out=xc)
    dx: Array = np.multiply(g3, a.reshape(shape).astype(x.dtype), dtype=gy.dtype)
    np.subtract(dx, xc, out=dx)
    return dx.reshape(gy.shape), dgamma, dbeta


def _stats_saves(x: Shape, stats: int, per_sample: bool = True) -> tuple[Saved, ...]:
    """A normalisation with statistics computed in the forward (PyTorch's
    ``native_batch_norm``/``native_layer_norm``/``native_group_norm``): its input ``x`` and the
    ``mean`` and ``invstd`` (1/√(σ² + ε)) of each normalised group, of the weights' dtype
    (bfloat16 in a bfloat16 model, float32 under autocast) — ``stats`` values each, per sample
    or (batch norm) for the batch."""
    return (Saved("x", x, ACT), Saved("mean", (stats,), PARAM, per_sample),
            Saved("invstd", (stats,), PARAM, per_sample))


def _stats_backward(out: Shape, affine: bool, need_dx: bool,
                    need_dw: bool) -> tuple[Work, Work]:
    """The backward of ``y = γ·x̂ + β``, ``x̂ = (x − μ)·invstd`` over groups of N elements:
    ``∂β = Σ ∂y`` (1 per element), ``∂γ = Σ ∂y·x̂`` (x̂ recomputed, 2; a multiply and an add,
    2) — 5 per element; ``∂x = γ·invstd·(∂y − Σ∂y/N − x̂·Σ(∂y·x̂)/N)``: given those two sums,
    4 per element (subtract, multiply, subtract, scale). The input gradient needs the same two
    sums, so without a weight gradient they count under the input gradient (9 per element);
    ``full`` convention."""
    n = prod(out)
    if need_dw and affine:
        return (Work(elementwise=4 * n) if need_dx else Work()), Work(elementwise=5 * n)
    return (Work(elementwise=9 * n) if need_dx else Work()), Work()


@layer_class
class BatchNorm(Pointwise):
    """Batch normalisation over channels. Params: γ and β, C each (2C). Buffers: running mean and
    variance, C each (2C; reported apart from params, as torchvision's state dict holds them).
    ``frozen: true`` (torchvision's FrozenBatchNorm2d, as detection backbones ship) keeps γ and β
    as buffers too: no params, 4C buffers. A fused ``bn: true`` takes the ``bn:`` defaults in
    scope. Work at inference: folded scale and shift, 2 operations per element (``full``)."""

    kind: ClassVar[str] = "bn"
    doc: ClassVar[str] = "batch normalisation"
    ALIASES: ClassVar[tuple[str, ...]] = ("batchnorm",)
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("affine", "bool", True, "learnable gamma and beta"),
        Arg("eps", "float", 1e-5, "variance epsilon (executor)"),
        Arg("frozen", "bool", False, "gamma and beta are buffers (FrozenBatchNorm2d)"),
        Arg("momentum", "float", 0.1, "running statistics' update weight in training, 0–1 "
                                      "(executor)"),
    )
    affine: bool = True
    eps: float = 1e-5
    frozen: bool = False
    momentum: float = 0.1
    #: what `momentum: null` would mean in PyTorch, refused with this reason
    NULL_ARGS: ClassVar[Mapping[str, str]] = {
        "momentum": "PyTorch's momentum=None (a cumulative average of the running statistics "
                    "over num_batches_tracked) is not supported: give a number between 0 and "
                    "1, e.g. 0.1 (PyTorch's default)"}

    def out_shape(self, ins: Shapes) -> Shape:
        _check_momentum(self)
        return ins[0]

    def check_training(self, ins: Shapes, batch: int) -> None:
        """Batch statistics over B·∏n values per channel: refused below 2
        (:func:`_running_update`); FrozenBatchNorm2d has none."""
        if not self.frozen and batch * prod(ins[0][1:]) < 2:
            raise _one_value(self, batch * prod(ins[0][1:]))

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        c = (ins[0][0],)
        stats = (Tensor("running_mean", c, RUNNING_MEAN), Tensor("running_var", c, RUNNING_VAR))
        if not self.affine:
            return stats
        if self.frozen:
            return (Tensor("gamma", c, FROZEN_SCALE), Tensor("beta", c, FROZEN_SHIFT), *stats)
        return (Tensor("gamma", c, SCALE), Tensor("beta", c, SHIFT), *stats)

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Training BN (batch statistics): the input and the per-channel ``mean`` and
        ``invstd``, C values each (the weights' dtype) for the whole batch
        (:func:`_stats_saves`) — also with γ, β frozen and without affine
        (bench/training_types.py) — and, as ``native_batch_norm`` does, its own running
        statistics (buffers: counted among the bytes saved, as PyTorch's saved-tensor hooks
        see them, but allocated once, as buffers). ``frozen: true`` (FrozenBatchNorm2d,
        ``x·scale + shift`` with buffers): the ``scale`` it multiplies by, C values of the
        activations' dtype, only when ∂x is required."""
        if self.frozen:
            return (Saved("scale", (ins[0][0],), ACT, False),) if need_dx else ()
        if not (need_dx or need_dw):
            return ()
        c = (ins[0][0],)
        return (*_stats_saves(ins[0], c[0], per_sample=False),
                Saved("running_mean", c, PARAM, False), Saved("running_var", c, PARAM, False))

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """Batch statistics: :func:`_stats_backward`. Frozen: ``∂x = scale·∂y``, one multiply
        per element; no weight gradient (γ, β are buffers)."""
        if self.frozen:
            return (Work(elementwise=prod(out)) if need_dx else Work()), Work()
        return _stats_backward(out, self.affine, need_dx, need_dw)

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=2 * prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Inference BN: ``γ·(x − μ)/√(σ² + ε) + β`` per channel, folded to one scale and
        shift."""
        return self._apply(inputs[0], w, None)

    def forward_inplace(self, y: Array, w: Tensors, ctx: Context) -> Array:
        return self._apply(y, w, y)

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """Training BN (PyTorch's ``train()`` semantics): the batch's own mean and biased
        variance per channel over the batch and every position, ``x̂ = (x − μ_B)/√(σ²_B + ε)``,
        ``y = γ·x̂ + β``; keeps ``mean`` and ``invstd`` (C each) besides ``x`` (the running
        statistics :meth:`saves` names too are its buffers). The running statistics move by
        ``momentum`` towards the batch's (:func:`_running_update`, the unbiased variance over
        B·∏n values): new arrays, handed to the executor in ``ctx.updates`` (they do not
        enter the gradient).
        ``frozen: true``: the inference arithmetic, keeping only the folded ``scale`` =
        γ/√(var + ε) (torchvision's FrozenBatchNorm2d, which updates nothing)."""
        import numpy as np

        from .arrays import channel_view

        (x,) = inputs
        if self.frozen:
            y = self._apply(x, w, None)
            return y, {"scale": self._scale(w).astype(x.dtype)}
        axes = (0, *range(2, x.ndim))
        xhat, mean, invstd, mean64, var64 = _train_moments(x, axes, self.eps, _stat_dtype(x, w))
        ctx.updates.update(_running_update(self, w, mean64.reshape(-1), var64.reshape(-1),
                                           x.size // x.shape[1]))
        if self.affine:
            xhat = xhat * channel_view(w["gamma"], x.ndim) + channel_view(w["beta"], x.ndim)
        out: Array = np.asarray(xhat, dtype=x.dtype)
        return out, {"mean": mean.reshape(-1), "invstd": invstd.reshape(-1)}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """Training BN, over the N = B·∏n elements of each channel: ``∂L/∂β = Σ g``,
        ``∂L/∂γ = Σ g·x̂``, ``∂L/∂x = γ·invstd·(g − Σg/N − x̂·Σ(g·x̂)/N)``
        (:func:`_norm_backward` with gx̂ = γ·g, fused by :func:`_channel_backward`), from
        ``x``, ``mean`` and ``invstd``. Frozen: ``∂L/∂x = scale·g`` and no weight gradient
        (γ, β are buffers)."""
        from .arrays import channel_view

        if ctx.support:  # at inference a per-channel affine map: each element its own
            return (gy if need_dx else None,), {}
        if self.frozen:
            return (gy * channel_view(saved["scale"], gy.ndim) if need_dx else None,), {}
        want_dw = need_dw and self.affine
        dx, dgamma, dbeta = _channel_backward(saved["x"], saved["mean"], saved["invstd"],
                                              w["gamma"] if self.affine else None, gy, ctx,
                                              False, need_dx, want_dw)
        return (dx,), ({"gamma": dgamma, "beta": dbeta} if want_dw else {})

    def forward_train_inplace(self, y: Array, w: Tensors,
                              ctx: Context) -> tuple[Array, dict[str, Array]]:
        """As :meth:`forward_train` on the op's output, into a new array (the backward reads
        the op's output, ``x``)."""
        return self.forward_train([y], w, ctx)

    def backward_post(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                      need_dw: bool) -> tuple[Array, dict[str, Array]]:
        (dx,), grads = self.backward(saved, w, gy, ctx, True, need_dw)
        assert dx is not None
        return dx, grads

    def _scale(self, w: Tensors) -> Array:
        """The folded inference scale ``γ/√(var + ε)`` per channel (float64)."""
        import numpy as np

        scale: Array = 1.0 / np.sqrt(w["running_var"].astype(np.float64) + self.eps)
        return scale * w["gamma"] if self.affine else scale

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

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.BatchNormNd(C)``: 1d for ``[C]`` and ``[C, L]``, 2d, 3d by rank (its
        ``num_batches_tracked`` is a step counter, not counted); ``frozen`` →
        ``torchvision.ops.FrozenBatchNorm2d`` (γ, β and the statistics all buffers)."""
        shape = ins[0]
        n = max(len(shape) - 1, 1)
        eps = self.eps if self.eps != 1e-5 else None
        if self.frozen and self.affine:
            if n != 2:
                raise BridgeError(f"a frozen bn on {list(shape)}: torchvision's "
                                  "FrozenBatchNorm2d is 2D only")
            return tc.call("torchvision.ops.FrozenBatchNorm2d", ("num_features", shape[0]),
                           eps=eps)
        return tc.call(f"nn.BatchNorm{n}d", ("num_features", shape[0]), eps=eps,
                       momentum=self.momentum if self.momentum != 0.1 else None,
                       affine=None if self.affine else False)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("BatchNormalization",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """BatchNormalization: ``epsilon``; its ``momentum`` weighs the running statistics
        (``running·momentum + batch·(1 − momentum)``, default 0.9, PyTorch's exporter writes
        1 − PyTorch's momentum), so archcalc's ``momentum`` is 1 − ONNX's."""
        eps = float(r.attr(node, "epsilon", 1e-5))
        args: dict[str, Any] = {} if abs(eps - 1e-5) < 1e-12 else {"eps": round(eps, 9)}
        # ONNX stores it as float32 (0.7 is 0.699999988): 7 significant digits are all it has
        momentum = float(f"{1.0 - float(r.attr(node, 'momentum', 0.9)):.7g}")
        if momentum != 0.1:
            args["momentum"] = momentum
        r.add(i, node, "bn", args)
        return True


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

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """``native_layer_norm``: the input, and ``mean``/``invstd`` float32 per normalised
        group — one per position over channels, one per sample over all
        (:func:`_stats_saves`; bench/training_types.py)."""
        if not (need_dx or need_dw):
            return ()
        return _stats_saves(ins[0], prod(ins[0][1:]) if self.over == "channels" else 1)

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """:func:`_stats_backward` (γ, β always learnable)."""
        return _stats_backward(out, True, need_dx, need_dw)

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

    def _axes(self, x: Array) -> tuple[int, ...]:
        return (1,) if self.over == "channels" else tuple(range(1, x.ndim))

    def _affine(self, w: Tensors, ndim: int) -> tuple[Array, Array]:
        from .arrays import channel_view

        if self.over == "channels":
            return channel_view(w["gamma"], ndim), channel_view(w["beta"], ndim)
        return w["gamma"][None], w["beta"][None]

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The forward (the same in training), keeping the statistics: ``mean`` and ``invstd``
        per position, ``∏n`` each (over channels), or one per sample (over all), as PyTorch's
        layer_norm keeps them."""
        import numpy as np

        (x,) = inputs
        xhat, mean, invstd, _, _ = _train_moments(x, self._axes(x), self.eps,
                                                  _stat_dtype(x, w))
        gamma, beta = self._affine(w, x.ndim)
        out: Array = np.asarray(xhat * gamma + beta, dtype=x.dtype)
        b = x.shape[0]
        return out, {"mean": mean.reshape(b, -1), "invstd": invstd.reshape(b, -1)}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``∂L/∂β = Σ g``, ``∂L/∂γ = Σ g·x̂`` over the batch (and the positions, over
        channels); ``∂L/∂x`` by :func:`_norm_backward` over the normalised axes with
        ``gx̂ = γ·g``. From ``x``, ``mean``, ``invstd``."""
        if ctx.support:  # every output depends on its whole normalised group
            from .arrays import spread

            return (spread(gy, self._axes(gy)) if need_dx else None,), {}
        x = saved["x"]
        # the statistics back to their place: [B, 1, n…] over channels, [B, 1, 1…] over all
        stat = (x.shape[0], 1, *(x.shape[2:] if self.over == "channels" else (1,) * (x.ndim - 2)))
        invstd = saved["invstd"].reshape(stat)
        xhat = _normalised(x, saved["mean"].reshape(stat), invstd)
        gamma, _ = self._affine(w, x.ndim)
        grads: dict[str, Array] = {}
        if need_dw:
            summed = (0, *range(2, x.ndim)) if self.over == "channels" else (0,)
            grads["gamma"] = (gy * xhat).sum(axis=summed).astype(gy.dtype)
            grads["beta"] = gy.sum(axis=summed).astype(gy.dtype)
        dx = None
        if need_dx:
            dx = _norm_backward(xhat, invstd, gy * gamma, self._axes(x)).astype(gy.dtype)
        return (dx,), grads

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

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.LayerNorm(shape)`` over everything, or the ``ChannelLayerNorm`` helper over the
        channels of each position (ConvNeXt's LayerNorm2d)."""
        shape = ins[0]
        eps = self.eps if self.eps != 1e-5 else None
        if self.over == "all":
            return tc.call("nn.LayerNorm", ("normalized_shape", tuple(shape)), eps=eps)
        return tc.call("ChannelLayerNorm", ("normalized_shape", shape[0]), eps=eps,
                       helper="ChannelLayerNorm")

    ONNX: ClassVar[tuple[str, ...]] = ()
    ONNX_NONE: ClassVar[str] = (
        "PyTorch writes LayerNorm over the last axes (channels-last); a channel-first layer "
        "normalisation has no single ONNX operator")


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

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """PyTorch's ``local_response_norm`` is a composition: it keeps the input, the
        zero-padded squares ``(C + size − 1)·∏n`` (for the window average), the denominator
        ``k + α·avg`` and its power (``x`` shape each) — bench/training_types.py's figures,
        (C + size − 1 + 2C)·∏n elements per sample besides the input."""
        if not need_dx:
            return ()
        c, n = ins[0][0], ins[0][1:]
        return (Saved("x", ins[0], ACT), Saved("padded", (c + self.size - 1, *n), ACT),
                Saved("denominator", ins[0], ACT), Saved("power", ins[0], ACT))

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``b = a·d^−β``, ``d = k + α/n·Σ_window a²``: ``∂a = ∂b·d^−β −
        2αβ/n·a·Σ_window(∂b·a·d^(−β−1))`` — per element the product ``∂b·b/d`` (2), the window
        sum (``size``), then ``2αβ/n·a·…`` (2) and ``∂b·d^−β`` with the subtraction (2):
        ``size + 6`` operations (``full``); no weights."""
        return (Work(elementwise=(self.size + 6) * prod(out)), Work()) if need_dx else \
            (Work(), Work())

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

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The forward as PyTorch's ``local_response_norm`` computes it, keeping what its
        autograd keeps: the zero-padded squares ``padded`` ``[C + n − 1, …]`` (its average
        pool's input), ``denominator = k + α/n·Σ a²`` and ``power = denominator^β``;
        ``b = a/power``."""
        import numpy as np

        (x,) = inputs
        n, c = self.size, x.shape[1]
        sq = np.square(x)
        padded = np.zeros((x.shape[0], c + n - 1, *x.shape[2:]), x.dtype)
        padded[:, n // 2:n // 2 + c] = sq
        total = np.zeros(x.shape, np.float64)
        for j in range(n):
            total += padded[:, j:j + c]
        scale = self.k + self.alpha / n * total
        div = scale ** self.beta
        out: Array = (x / div).astype(x.dtype)
        return out, {"padded": padded, "denominator": scale.astype(x.dtype),
                     "power": div.astype(x.dtype)}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``b_c = a_c·s_c^−β``, ``s_c = k + α/n·Σ_{j ∈ W(c)} a_j²`` with W(c) = c − ⌊n/2⌋ …
        c + ⌊(n − 1)/2⌋. ``∂b_c′/∂a_c = δ_cc′/div_c′ − (2αβ/n)·a_c·a_c′/(div_c′·s_c′)`` for
        every c′ whose window holds c, i.e. c′ = c − ⌊(n − 1)/2⌋ … c + ⌊n/2⌋ (the window
        reversed); div = s^β. So ``∂L/∂a = g/div − (2αβ/n)·a·Σ_reversed(g·a/(div·s))``. From
        ``x``, ``denominator`` (s) and ``power`` (div); ``padded`` is what PyTorch keeps for
        its average pool, not needed here."""
        if not need_dx:
            return (None,), {}
        n = self.size
        if ctx.support:  # each output depends on the channels of its window
            return (self._window_adjoint(gy),), {}
        x, scale, div = saved["x"], saved["denominator"], saved["power"]
        t = gy * x / (div * scale)
        total = self._window_adjoint(t)
        dx: Array = (gy / div - 2.0 * self.alpha * self.beta / n * x * total).astype(gy.dtype)
        return (dx,), {}

    def _window_adjoint(self, t: Array) -> Array:
        """``Σ t_c′`` over the outputs c′ whose window holds each channel c: c′ = c −
        ⌊(n − 1)/2⌋ … c + ⌊n/2⌋ (the window reversed), zeros beyond the ends."""
        import numpy as np

        n, c = self.size, t.shape[1]
        padded = np.zeros((t.shape[0], c + n - 1, *t.shape[2:]), np.float64)
        padded[:, (n - 1) // 2:(n - 1) // 2 + c] = t
        total: Array = np.zeros(t.shape, np.float64)
        for j in range(n):
            total += padded[:, j:j + c]
        return total

    def explain(self, ex: Derivation) -> None:
        self.explain_per_element(ex, "lrn", f"({self.size} + 4)", self.size + 4)

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("nn.LocalResponseNorm", ("size", self.size), alpha=self.alpha,
                       beta=self.beta, k=self.k)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("LRN",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        r.add(i, node, "lrn", {"size": int(r.attr(node, "size")),
                               "alpha": round(float(r.attr(node, "alpha", 1e-4)), 12),
                               "beta": round(float(r.attr(node, "beta", 0.75)), 9),
                               "k": round(float(r.attr(node, "bias", 1.0)), 9)})
        return True


def _moments(x: Array, axes: tuple[int, ...], eps: float) -> Array:
    """``(x − mean)/√(var + ε)`` over ``axes`` with the biased variance, in float64."""
    import numpy as np

    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + eps)
    return out


def _whole_map(ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
    """Statistics over each map: every output depends on the whole map (the field of a window
    as large as the map, on the map's grid, as LayerNorm over all): ``r' = r + (n − 1)·j``."""
    (rf,) = rfs
    if rf is None:
        return None
    n = ins[0][1:]
    return tuple(AxisRF(axis.size + (n[a] - 1) * axis.jump, axis.jump, axis.start)
                 for a, axis in enumerate(rf))


def _explain_whole_map(rx: RFDerivation, why: str) -> None:
    n = rx.shape[1:]
    for ax in rx.axes([(n[a],) for a in range(rx.rank)]):
        a, x = ax.index[0], ax.sub
        rx.emit(ax, f"r_prev{x} + (n{x} - 1)*j_prev{x}", f"j_prev{x}", f"start_prev{x}",
                {f"n{x}": n[a]}, why)


@layer_class
class GroupNorm(Pointwise):
    """Group normalisation (Wu & He 2018, arXiv:1803.08494): the channels in ``groups`` groups,
    each normalised by the mean and variance over its channels and the whole map; then a
    per-channel γ and β (PyTorch's ``nn.GroupNorm(G, C)``: 2C params, no buffers). Work: mean,
    variance, normalise, scale, shift ≈ 5 operations per element (``full``). RF: every output
    depends on its group's whole map."""

    kind: ClassVar[str] = "groupnorm"
    doc: ClassVar[str] = "group normalisation (G groups of channels)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("groups", "int+", REQUIRED, "number of channel groups (divides the channels)"),
        Arg("affine", "bool", True, "learnable per-channel gamma and beta"),
        Arg("eps", "float", 1e-5, "variance epsilon (executor)"),
    )
    groups: int
    affine: bool = True
    eps: float = 1e-5

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        if shape[0] % self.groups:
            raise LayerArgError(f"groups={self.groups} must divide the channels ({shape[0]})",
                                hint="choose a divisor of the channels (32 in most networks)")
        return shape

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        c = (ins[0][0],)
        return (Tensor("gamma", c, SCALE), Tensor("beta", c, SHIFT)) if self.affine else ()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """``native_group_norm``: the input and ``mean``/``invstd`` float32, G per sample."""
        if not (need_dx or need_dw):
            return ()
        return _stats_saves(ins[0], self.groups)

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """:func:`_stats_backward` over each group's channels and positions."""
        return _stats_backward(out, self.affine, need_dx, need_dw)

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=5 * prod(out))

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return _whole_map(ins, rfs)

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``(x − mean)/√(var + ε)`` over each group's channels and positions (biased variance),
        then ``γ_c·x + β_c`` (PyTorch's group_norm)."""
        from .arrays import channel_view

        (x,) = inputs
        b, c = x.shape[:2]
        grouped = x.reshape(b, self.groups, c // self.groups, *x.shape[2:])
        y = _moments(grouped, tuple(range(2, grouped.ndim)), self.eps).reshape(x.shape)
        if self.affine:
            y = y * channel_view(w["gamma"], x.ndim) + channel_view(w["beta"], x.ndim)
        out: Array = y.astype(x.dtype)
        return out

    def _grouped(self, x: Array) -> Array:
        b, c = x.shape[:2]
        return x.reshape(b, self.groups, c // self.groups, *x.shape[2:])

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The forward (the same in training), keeping ``mean`` and ``invstd`` per sample and
        group, ``[G]`` (PyTorch's native_group_norm keeps them)."""
        import numpy as np

        from .arrays import channel_view

        (x,) = inputs
        grouped = self._grouped(x)
        xhat, mean, invstd, _, _ = _train_moments(grouped, tuple(range(2, grouped.ndim)),
                                                  self.eps, _stat_dtype(x, w))
        y = xhat.reshape(x.shape)
        if self.affine:
            y = y * channel_view(w["gamma"], x.ndim) + channel_view(w["beta"], x.ndim)
        b = x.shape[0]
        out: Array = np.asarray(y, dtype=x.dtype)
        return out, {"mean": mean.reshape(b, self.groups), "invstd": invstd.reshape(b, self.groups)}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``∂L/∂β_c = Σ g``, ``∂L/∂γ_c = Σ g·x̂`` over the batch and positions; ``∂L/∂x`` by
        :func:`_norm_backward` over each group's channels and positions with
        ``gx̂ = γ_c·g``. From ``x``, ``mean``, ``invstd``."""
        from .arrays import channel_view, reduce_to_channels

        if ctx.support:  # every output depends on its group's channels and positions
            from .arrays import spread

            if not need_dx:
                return (None,), {}
            grouped = self._grouped(gy)
            return (spread(grouped, tuple(range(2, grouped.ndim))).reshape(gy.shape),), {}
        x = saved["x"]
        grouped = self._grouped(x)
        tail = (1,) * (grouped.ndim - 2)
        invstd = saved["invstd"].reshape(*saved["invstd"].shape, *tail)
        xhat = _normalised(grouped, saved["mean"].reshape(*saved["mean"].shape, *tail), invstd)
        grads: dict[str, Array] = {}
        if need_dw and self.affine:
            grads["gamma"] = reduce_to_channels(gy * xhat.reshape(x.shape)).astype(gy.dtype)
            grads["beta"] = reduce_to_channels(gy).astype(gy.dtype)
        dx = None
        if need_dx:
            gxhat = gy * channel_view(w["gamma"], x.ndim) if self.affine else gy
            dx = _norm_backward(xhat, invstd, self._grouped(gxhat),
                                tuple(range(2, grouped.ndim))).reshape(x.shape).astype(gy.dtype)
        return (dx,), grads

    def explain(self, ex: Derivation) -> None:
        self.explain_per_element(ex, "groupnorm", "5", 5)

    def explain_rf(self, rx: RFDerivation) -> None:
        _explain_whole_map(rx, "each group's statistics cover the whole map")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.GroupNorm(G, C, eps, affine)``."""
        return tc.call("nn.GroupNorm", ("num_groups", self.groups), ("num_channels", ins[0][0]),
                       eps=self.eps if self.eps != 1e-5 else None,
                       affine=None if self.affine else False)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("GroupNormalization",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """GroupNormalization (opset 18/21: scale and bias per channel, or per group in opset
        18 — refused) → ``groupnorm``."""
        c = r.shape(r.resolve(node.input[0]), node)[1]
        g = int(r.attr(node, "num_groups"))
        scale = r.const(node.input[1])
        if scale is None or prod(scale.shape) != c:
            raise r.error(node, f"a scale of {list(scale.shape) if scale else '?'} is not one "
                          f"per channel ({c})", "export with opset 21 (per-channel scale)")
        args: dict[str, Any] = {"groups": g}
        eps = float(r.attr(node, "epsilon", 1e-5))
        if abs(eps - 1e-5) > 1e-12:
            args["eps"] = round(eps, 9)
        r.add(i, node, "groupnorm", args)
        return True


@layer_class
class InstanceNorm(Pointwise):
    """Instance normalisation (Ulyanov et al. 2016, arXiv:1607.08022; style transfer): each
    channel of each sample normalised by its own mean and variance over the map. PyTorch's
    defaults: no affine, no running statistics; ``affine: true`` adds γ, β (2C params),
    ``track_running_stats: true`` 2C buffers — inference then uses them, a per-channel affine map
    as BN (2 operations per element, the field unchanged). Otherwise ≈ 5 operations per element
    (``full``) and every output depends on its channel's whole map."""

    kind: ClassVar[str] = "instancenorm"
    doc: ClassVar[str] = "instance normalisation (per sample and channel)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("affine", "bool", False, "learnable per-channel gamma and beta"),
        Arg("track_running_stats", "bool", False, "keep running mean and variance (used at "
                                                   "inference)"),
        Arg("eps", "float", 1e-5, "variance epsilon (executor)"),
        Arg("momentum", "float", 0.1, "running statistics' update weight in training, 0–1 "
                                      "(executor; with track_running_stats)"),
    )
    affine: bool = False
    track_running_stats: bool = False
    eps: float = 1e-5
    momentum: float = 0.1
    NULL_ARGS: ClassVar[Mapping[str, str]] = BatchNorm.NULL_ARGS

    def check_training(self, ins: Shapes, batch: int) -> None:
        """Tracked statistics over the ∏n positions of each sample's channel: refused below 2
        (:func:`_running_update`)."""
        if self.track_running_stats and prod(ins[0][1:]) < 2:
            raise _one_value(self, prod(ins[0][1:]))

    def out_shape(self, ins: Shapes) -> Shape:
        _check_momentum(self)
        (shape,) = ins
        if len(shape) < 2:
            raise LayerArgError(f"instancenorm needs a spatial map, got {list(shape)}",
                                hint="a flat vector has no positions to normalise over")
        return shape

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        c = (ins[0][0],)
        found = [Tensor("gamma", c, SCALE), Tensor("beta", c, SHIFT)] if self.affine else []
        if self.track_running_stats:
            found += [Tensor("running_mean", c, RUNNING_MEAN),
                      Tensor("running_var", c, RUNNING_VAR)]
        return tuple(found)

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Training normalises with each sample's statistics, tracked or not (PyTorch's
        ``instance_norm`` is a batch norm over ``[1, N·C, …]``): the input and ``mean``/
        ``invstd`` float32, C per sample; affine, also γ repeated per sample, and with tracked
        statistics the running statistics repeated per sample (the ``[N·C]`` copies that the
        batch norm keeps: bench/training_types.py, "instancenorm (affine, tracked)")."""
        if not (need_dx or need_dw):
            return ()
        c = (ins[0][0],)
        repeats = (Saved("running_mean_repeat", c, ACT), Saved("running_var_repeat", c, ACT)) \
            if self.track_running_stats else ()
        scale = (Saved("gamma_repeat", c, ACT),) if self.affine else ()
        return (*_stats_saves(ins[0], c[0]), *scale, *repeats)

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """:func:`_stats_backward` over each channel's map."""
        return _stats_backward(out, self.affine, need_dx, need_dw)

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=(2 if self.track_running_stats else 5) * prod(out))

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return rfs[0] if self.track_running_stats else _whole_map(ins, rfs)

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Per sample and channel ``(x − mean)/√(var + ε)`` over the map (biased variance), or
        the running statistics when tracked; then ``γ_c·x + β_c`` when affine."""
        import numpy as np

        from .arrays import channel_view

        (x,) = inputs
        if self.track_running_stats:
            mean = channel_view(w["running_mean"].astype(np.float64), x.ndim)
            var = channel_view(w["running_var"].astype(np.float64), x.ndim)
            y = (x - mean) / np.sqrt(var + self.eps)
        else:
            y = _moments(x, tuple(range(2, x.ndim)), self.eps)
        if self.affine:
            y = y * channel_view(w["gamma"], x.ndim) + channel_view(w["beta"], x.ndim)
        out: Array = y.astype(x.dtype)
        return out

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """Training uses each sample's own statistics even when running ones are tracked
        (PyTorch's ``use_input_stats`` in ``train()``). PyTorch runs batch_norm on the
        ``(1, B·C, …)`` view and keeps its ``mean`` and ``invstd`` (C per sample) — and, as
        that call takes per-(sample, channel) parameters and statistics, γ repeated per sample
        when affine (``gamma_repeat``) and the running statistics repeated per sample when
        tracked (``running_mean_repeat``, ``running_var_repeat``), C per sample each; they are
        kept here too. Tracked, the running statistics then move by ``momentum`` as PyTorch's
        do (:func:`_running_update`: each sample's copy updated with its own mean and unbiased
        variance over ∏n positions, the copies averaged over the batch), handed to the
        executor in ``ctx.updates``."""
        import numpy as np

        from .arrays import channel_view

        (x,) = inputs
        b, c = x.shape[:2]
        xhat, mean, invstd, mean64, var64 = _train_moments(x, tuple(range(2, x.ndim)),
                                                           self.eps, _stat_dtype(x, w))
        if self.track_running_stats:
            ctx.updates.update(_running_update(self, w, mean64.reshape(b, c),
                                               var64.reshape(b, c), x.size // (b * c)))
        if self.affine:
            xhat = xhat * channel_view(w["gamma"], x.ndim) + channel_view(w["beta"], x.ndim)
        kept = {"mean": mean.reshape(b, c), "invstd": invstd.reshape(b, c)}
        repeated = (("gamma",) if self.affine else ()) + (
            ("running_mean", "running_var") if self.track_running_stats else ())
        for name in repeated:
            kept[f"{name}_repeat"] = np.tile(w[name].astype(x.dtype), (b, 1))
        out: Array = np.asarray(xhat, dtype=x.dtype)
        return out, kept

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """As BN per sample and channel (N = ∏n positions): ``∂L/∂β_c = Σ g``,
        ``∂L/∂γ_c = Σ g·x̂`` over the batch and positions, ``∂L/∂x`` by
        :func:`_norm_backward` over the positions with ``gx̂ = γ_c·g`` (fused by
        :func:`_channel_backward`). From ``x``, ``mean``, ``invstd``."""
        if ctx.support:  # inference: its channel's whole map, or its element when tracked
            from .arrays import spread

            if not need_dx:
                return (None,), {}
            return (gy if self.track_running_stats else spread(gy, tuple(range(2, gy.ndim))),), {}
        want_dw = need_dw and self.affine
        dx, dgamma, dbeta = _channel_backward(saved["x"], saved["mean"], saved["invstd"],
                                              w["gamma"] if self.affine else None, gy, ctx,
                                              True, need_dx, want_dw)
        return (dx,), ({"gamma": dgamma, "beta": dbeta} if want_dw else {})

    def explain(self, ex: Derivation) -> None:
        ops = 2 if self.track_running_stats else 5
        self.explain_per_element(ex, "instancenorm", str(ops), ops)

    def explain_rf(self, rx: RFDerivation) -> None:
        if self.track_running_stats:
            rx.unchanged()
        else:
            _explain_whole_map(rx, "each channel's statistics cover the whole map")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.InstanceNormNd(C, eps, affine, track_running_stats)``."""
        n = tc.rank(self.kind, ins[0])
        return tc.call(f"nn.InstanceNorm{n}d", ("num_features", ins[0][0]),
                       eps=self.eps if self.eps != 1e-5 else None,
                       momentum=self.momentum if self.momentum != 0.1 else None,
                       affine=self.affine or None,
                       track_running_stats=self.track_running_stats or None)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("InstanceNormalization",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """InstanceNormalization → ``instancenorm``: ONNX always carries γ and β; PyTorch's
        default (``affine=False``) writes them as ones and zeros, which are no parameters."""
        scale, shift = (r.const(v) for v in node.input[1:3])
        filler = scale is not None and shift is not None and scale.value is not None and \
            shift.value is not None and bool((scale.value == 1).all() and
                                             (shift.value == 0).all())
        args: dict[str, Any] = {} if filler else {"affine": True}
        eps = float(r.attr(node, "epsilon", 1e-5))
        if abs(eps - 1e-5) > 1e-12:
            args["eps"] = round(eps, 9)
        r.add(i, node, "instancenorm", args)
        return True


@layer_class
class L2Norm(Pointwise):
    """L2 normalisation across the channels of each position, ``x/max(‖x‖₂, ε)`` (ParseNet,
    Liu et al. 2015; PyTorch's ``F.normalize``), with SSD's learnable per-channel scale
    (conv4_3: 512 params, initialised to 20) unless ``affine: false`` (FaceNet's unit
    embedding). Work per element: square and add (2), divide (1), scale (1, affine); one square
    root per position (``full``). RF: unchanged (each position's own channels)."""

    kind: ClassVar[str] = "l2norm"
    doc: ClassVar[str] = "L2 normalisation over channels, with a learnable scale (SSD)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("affine", "bool", True, "a learnable scale per channel"),
        Arg("eps", "float", 1e-12, "norm floor (executor)"),
    )
    affine: bool = True
    eps: float = 1e-12

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return (Tensor("weight", (ins[0][0],), SCALE),) if self.affine else ()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """As PyTorch's ``w·F.normalize(x)`` (SSD's L2Norm) keeps them
        (bench/training_types.py): for ∂x the input, the ``norm`` ‖x‖ of each position and the
        clamped norm ``max(‖x‖, ε)`` it divides by (``∏n`` values each); for the scale's
        gradient ``∂w = Σ ∂y·x̂`` the normalised ``xhat`` (the input's shape)."""
        positions = (prod(ins[0][1:]),)
        found: tuple[Saved, ...] = (Saved("x", ins[0], ACT), Saved("norm", positions, ACT),
                                    Saved("norm_clamped", positions, ACT)) if need_dx else ()
        if need_dw and self.affine:
            found += (Saved("xhat", ins[0], ACT),)
        return found

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``y = w·x̂``, ``x̂ = x/‖x‖``: ``∂w = Σ ∂y·x̂`` (x̂ recomputed 1, multiply-add 2: 3 per
        element); ``∂x̂ = w·∂y`` (1, affine) and ``∂x = (∂x̂ − x̂·Σ_c ∂x̂·x̂)/‖x‖`` (x̂ 1, product
        and channel sum 2, multiply, subtract, divide 3: 6) — ``full``."""
        n = prod(out)
        dx = Work(elementwise=(7 if self.affine else 6) * n) if need_dx else Work()
        dw = Work(elementwise=3 * n) if need_dw and self.affine else Work()
        return dx, dw

    def work(self, ins: Shapes, out: Shape) -> Work:
        positions = prod(out[1:])
        return Work(elementwise=(4 if self.affine else 3) * prod(out) + positions)

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``x / max(√Σ_c x², ε)`` per position, times the per-channel scale."""
        import numpy as np

        from .arrays import channel_view

        (x,) = inputs
        norm = np.sqrt(np.square(x, dtype=np.float64).sum(axis=1, keepdims=True))
        y = x / np.maximum(norm, self.eps)
        if self.affine:
            y = y * channel_view(w["weight"], x.ndim)
        out: Array = y.astype(x.dtype)
        return out

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The forward, keeping what PyTorch's ``w·F.normalize(x)`` keeps: the ``norm`` ‖x‖₂ of
        each position and the clamped ``norm_clamped`` = max(‖x‖₂, ε) it divides by (``∏n``
        values each) besides ``x``, and (affine) the normalised ``xhat`` = x/max(‖x‖₂, ε),
        which the scale's gradient reads."""
        import numpy as np

        from .arrays import channel_view

        (x,) = inputs
        norm = np.sqrt(np.square(x, dtype=np.float64).sum(axis=1, keepdims=True))
        clamped = np.maximum(norm, self.eps)
        xhat = (x / clamped).astype(x.dtype)
        b = x.shape[0]
        kept = {"norm": norm.reshape(b, -1).astype(x.dtype),
                "norm_clamped": clamped.reshape(b, -1).astype(x.dtype)}
        if not self.affine:
            return xhat, kept
        out: Array = (xhat * channel_view(w["weight"], x.ndim)).astype(x.dtype)
        return out, {**kept, "xhat": xhat}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``x̂ = x/d``, ``d = max(‖x‖, ε)``, ``y = w_c·x̂``: ``∂L/∂w_c = Σ g·x̂`` (batch and
        positions; from ``xhat``); with ``gz = w_c·g``, ``∂L/∂x = gz/d − x·Σ_c(gz·x)/(d²·‖x‖)``
        where ‖x‖ > ε (∂‖x‖/∂x = x/‖x‖), ``gz/ε`` where the floor holds. From ``x``, ``norm``
        and ``norm_clamped`` (d)."""
        import numpy as np

        from .arrays import channel_view, reduce_to_channels

        if ctx.support:  # every output depends on the channels of its position
            from .arrays import spread as spread_

            return (spread_(gy, (1,)) if need_dx else None,), {}
        grads: dict[str, Array] = {}
        if need_dw and self.affine:
            grads["weight"] = reduce_to_channels(gy * saved["xhat"]).astype(gy.dtype)
        if not need_dx:
            return (None,), grads
        x = saved["x"]
        stat = (x.shape[0], 1, *x.shape[2:])
        norm, denom = saved["norm"].reshape(stat), saved["norm_clamped"].reshape(stat)
        gz = gy * channel_view(w["weight"], x.ndim) if self.affine else gy
        live = norm > self.eps
        radial = (gz * x).sum(axis=1, keepdims=True) / (denom * denom * np.where(live, norm, 1))
        dx: Array = (gz / denom - x * np.where(live, radial, 0)).astype(gy.dtype)
        return (dx,), grads

    def explain(self, ex: Derivation) -> None:
        ex.same_shape()
        ex.section("weights")
        if self.affine:
            ex.tensor("weight", "C", {"C": ex.shape[0]}, ex.shape[0],
                      note="a learnable scale per channel")
        syms, env = ex.dims(ex.shape, False)
        ops = 4 if self.affine else 3
        positions = "*".join(syms[1:]) or "1"
        ex.elementwise("l2norm", f"{ops}*" + "*".join(syms) + f" + {positions}", env,
                       ops * prod(ex.shape) + prod(ex.shape[1:]))

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``L2Norm`` helper (``F.normalize`` over the channels, SSD's learned scale)."""
        return tc.call("L2Norm", ("channels", ins[0][0]),
                       eps=self.eps if self.eps != 1e-12 else None,
                       affine=None if self.affine else False, helper="L2Norm")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("LpNormalization", "ReduceL2")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """LpNormalization(p = 2, axis = 1) → ``l2norm`` without a scale (``affine: false``);
        PyTorch's ``F.normalize(x, dim=1)`` — ReduceL2 over the channels, Clip(ε), Expand,
        x / it — likewise, and a Mul by a stored per-channel tensor after it is its scale
        (SSD's L2Norm: ``affine``)."""
        if node.op_type == "LpNormalization":
            if int(r.attr(node, "p", 2)) != 2 or int(r.attr(node, "axis", -1)) != 1:
                raise r.error(node, "only LpNormalization with p = 2 over the channels "
                              "(axis 1) is an l2norm")
            r.add(i, node, "l2norm", {"affine": False})
            return True
        x = r.resolve(node.input[0])
        axes = r.attr(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in r.value(node.input[1], node, "axes")]
        chain, args = _normalize_chain(r, node, x, list(axes or []))
        if chain is None:
            raise r.error(node, "a ReduceL2 that is not F.normalize over the channels has no "
                          "archcalc layer")
        for n in chain:
            r.claimed.add(r.producer[n.output[0]])
        r.add(i, node, "l2norm", args, [x], chain[-1].output[0])
        return True


@layer_class
class LayerScale(Pointwise):
    """A learned per-channel scale, ``γ_c·x`` (CaiT, Touvron et al. 2021, arXiv:2103.17239;
    ConvNeXt's layer scale, initialised to 1e-6): C params, one multiply per element
    (``full``)."""

    kind: ClassVar[str] = "layer_scale"
    doc: ClassVar[str] = "learned per-channel scale (CaiT, ConvNeXt)"

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return (Tensor("gamma", (ins[0][0],), SCALE),)

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its input, only for γ's gradient ``Σ ∂y·x`` (PyTorch's ``mul`` keeps an operand for
        the other's gradient; ∂x = γ·∂y reads the parameter)."""
        return (Saved("x", ins[0], ACT),) if need_dw else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = γ·∂y``: one multiply per element; ``∂γ_c = Σ ∂y·x``: a multiply and an add
        per element (``full``)."""
        n = prod(out)
        return (Work(elementwise=n) if need_dx else Work()), \
            (Work(elementwise=2 * n) if need_dw else Work())

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``γ_c·x``."""
        from .arrays import channel_view

        (x,) = inputs
        y: Array = x * channel_view(w["gamma"].astype(x.dtype), x.ndim)
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``∂L/∂x = γ_c·g`` (nothing kept for it); ``∂L/∂γ_c = Σ g·x`` over the batch and
        positions, from ``x`` (kept only when γ trains)."""
        from .arrays import channel_view, reduce_to_channels

        if ctx.support:
            return (gy if need_dx else None,), {}
        dx = gy * channel_view(w["gamma"].astype(gy.dtype), gy.ndim) if need_dx else None
        grads = {"gamma": reduce_to_channels(gy * saved["x"]).astype(gy.dtype)} if need_dw else {}
        return (dx,), grads

    def explain(self, ex: Derivation) -> None:
        self.explain_per_element(ex, "layer_scale", "1", 1)

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("LayerScale", ("channels", ins[0][0]), helper="LayerScale")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Mul",)

    ONNX_ORDER: ClassVar[int] = -1

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """A Mul by a stored per-channel tensor (``[C]``, ``[C, 1, 1]``) → ``layer_scale``."""
        x, const = r.split_const(node)
        if const is None or not const.stored or x is None:
            return False
        c = r.shape(x, node)[1]
        if prod(const.shape) != c or c == 1:
            return False
        r.add(i, node, "layer_scale", {}, [x])
        return True


def _normalize_chain(r: Any, node: Any, x: str, axes: list[int]
                     ) -> tuple[list[Any] | None, dict[str, Any]]:
    """The nodes after a ReduceL2 that make ``F.normalize(x, dim=1)`` (Clip, an Expand,
    the Div of x), and a Mul by a stored per-channel scale after them; the l2norm's args."""
    shape = r.shape(x, node)
    if [a % len(shape) for a in axes] != [1] or not r.attr(node, "keepdims", 1):
        return None, {}
    chain: list[Any] = []
    cur = node
    args: dict[str, Any] = {}
    for op in ("Clip", "Expand", "Div"):
        readers = r.readers(cur.output[0])
        if len(readers) != 1 or readers[0].op_type != op:
            if op == "Expand":
                continue
            return None, {}
        cur = readers[0]
        chain.append(cur)
        if op == "Clip" and len(cur.input) > 1 and cur.input[1]:
            eps = float(r.value(cur.input[1], cur, "the norm floor"))
            if abs(eps - 1e-12) > 1e-18:
                args["eps"] = float(f"{eps:.7g}")
    if r.resolve(cur.input[0]) != x:
        return None, {}
    readers = r.readers(cur.output[0])
    _data, const = r.split_const(readers[0]) if len(readers) == 1 and \
        readers[0].op_type == "Mul" else (None, None)
    if const is not None and const.stored and prod(const.shape) == shape[1]:
        chain.append(readers[0])
    else:
        args["affine"] = False
    return chain, args
