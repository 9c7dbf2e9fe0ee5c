"""The NumPy reference executor: the engine predicts, the executor proves.

:func:`run` instantiates every node of a shaped :class:`~archcalc.graph.Graph` with seeded
random weights, pushes a real batched float32 tensor (``N, C, …``) through it and records, per
node, what it actually saw beside what the engine predicted:

* the output shape — found by the array operations themselves (NumPy's window slicing, the
  scatter of a transposed convolution), never by the engine's size formulas;
* the parameter and buffer counts — the executor allocates exactly the tensors named by
  ``node.weights()`` / ``node.buffer_shapes()`` (the rule the engine counts), and sums their
  sizes;
* the MACs — :class:`Context` counts the multiply-accumulates of every matrix product it
  performs (``m·k·n`` per product, times the broadcast batch), and of the two element-wise
  products the engine counts as MACs (depthwise taps, LeNet's subsampling coefficient);
* memory — activations are dropped after their last consumer (the engine's liveness rule), so
  the largest sum of live activation bytes can be set beside the engine's predicted peak.

One forward per layer class, registered in :data:`FORWARDS` in the order of
:mod:`archcalc.layers` (the obvious pair); a test fails when a class has none. The semantics are
PyTorch's wherever PyTorch defines them: cross-correlation, padding per side, ``ceil_mode``,
``count_include_pad``, ``output_padding``, dilation, groups, adaptive windows
``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)``, nearest and (bi)linear resizing with ``align_corners``,
``channel_shuffle``, LRN.

Convolution is im2col (a strided window view copied once into a reusable scratch buffer, no
Python loop over pixels or channels) followed by one BLAS matrix product per group; depthwise
convolution accumulates its ``∏k`` shifted taps; grouped convolution is a batched product over
groups, never a dense block-diagonal weight.

This module needs NumPy; ``import archcalc`` does not import it.
"""

from __future__ import annotations

import math
import sys
import time
import tracemalloc
import types
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from .engine import analyze_graph
from .errors import ArchcalcError, ExecError
from .graph import INPUT, Graph, Node, ancestors
from .layers import (
    LRN,
    Activation,
    AdaptiveAvgPool,
    Add,
    AvgPool,
    BatchNorm,
    ChannelShuffle,
    Concat,
    Conv,
    ConvTranspose,
    Crop,
    Dropout,
    DWConv,
    Flatten,
    GlobalAvgPool,
    GlobalMaxPool,
    Identity,
    Layer,
    LayerNorm,
    Linear,
    Multiply,
    Pool,
    PWConv,
    Reshape,
    Slice,
    Subsample,
    Upsample,
    ZeroPad,
)
from .report import Report
from .shapes import Shape, per_axis, prod

Array = NDArray[Any]
Weights = Mapping[str, Array]
#: a forward: (layer, batched inputs, its weight tensors, run context) → batched output
Forward = Callable[[Any, Sequence[Array], Weights, "Context"], Array]

__all__ = [
    "FORWARDS",
    "Context",
    "Execution",
    "RFAxisCheck",
    "RFCheck",
    "Step",
    "execute",
    "forward",
    "init_weights",
    "measure_receptive_field",
    "run",
]


class Context:
    """State of one run shared by the forwards: the MAC meter and a reusable scratch buffer.

    ``matmul`` is the only way a forward multiplies matrices, so ``macs`` is the number of
    multiply-accumulates actually performed: ``m·k·n`` for an ``(m × k) @ (k × n)`` product, times
    the number of products NumPy broadcasts over the leading axes.
    """

    def __init__(self, dtype: np.dtype[Any] | type = np.float32) -> None:
        self.dtype: np.dtype[Any] = np.dtype(dtype)
        self.macs = 0
        self._scratch: Array = np.empty(0, self.dtype)

    def scratch(self, shape: Sequence[int]) -> Array:
        """A C-contiguous array of ``shape`` in the run's scratch buffer (grown on demand and
        reused, so the im2col copies of successive layers do not page-fault fresh memory).
        Valid until the next call: never return it from a forward."""
        n = prod(shape)
        if self._scratch.size < n:
            self._scratch = np.empty(n, self.dtype)
        return self._scratch[:n].reshape(tuple(shape))

    def matmul(self, a: Array, b: Array, out: Array | None = None) -> Array:
        """``a @ b`` with NumPy broadcasting; counts ``∏batch·m·k·n`` MACs."""
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        self.macs += prod(batch) * a.shape[-2] * a.shape[-1] * b.shape[-1]
        result: Array = np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
        return result

    def count(self, macs: int) -> None:
        """Record multiply-accumulates done element-wise (depthwise taps, subsampling)."""
        self.macs += macs


FORWARDS: dict[type[Layer], Forward] = {}


def forward(*classes: type[Layer]) -> Callable[[Forward], Forward]:
    """Register a forward for the layer classes (exact classes: subclasses register apart)."""

    def register(fn: Forward) -> Forward:
        for cls in classes:
            FORWARDS[cls] = fn
        return fn

    return register


# ------------------------------------------------------------------------------ helpers --


def _spatial(x: Array) -> tuple[int, ...]:
    return tuple(x.shape[2:])


def _channel_view(v: Array, ndim: int) -> Array:
    """A per-channel vector shaped to broadcast over ``(B, C, …)`` of ``ndim`` axes."""
    return v.reshape(1, -1, *([1] * (ndim - 2)))


def _pad(x: Array, lo: Sequence[int], hi: Sequence[int], value: float) -> Array:
    """``x`` with ``lo``/``hi`` elements of ``value`` before/after each spatial axis."""
    if not any(lo) and not any(hi):
        return x
    n = _spatial(x)
    shape = (*x.shape[:2], *(n[a] + lo[a] + hi[a] for a in range(len(n))))
    out = np.full(shape, value, x.dtype)
    out[(slice(None), slice(None), *(slice(lo[a], lo[a] + n[a]) for a in range(len(n))))] = x
    return out


def _windows(xp: Array, k: Sequence[int], s: Sequence[int], d: Sequence[int]) -> Array:
    """A view ``(B, C, *o, *k)`` of every window of a (padded) input.

    NumPy finds the window count: ``n − d(k − 1)`` start positions, every ``s``-th kept, i.e.
    ``⌊(n − d(k − 1) − 1)/s⌋ + 1`` — the engine's formula is not consulted.
    """
    rank = len(k)
    span = tuple(d[a] * (k[a] - 1) + 1 for a in range(rank))
    view = sliding_window_view(xp, span, axis=tuple(range(2, 2 + rank)))
    keep = (
        slice(None),
        slice(None),
        *(slice(None, None, s[a]) for a in range(rank)),
        *(slice(None, None, d[a]) for a in range(rank)),
    )
    return view[keep]


def _im2col(ctx: Context, xp: Array, k: Sequence[int], s: Sequence[int],
            d: Sequence[int]) -> Array:
    """The windows copied once into scratch as ``(B, C, *k, *o)`` (the weight's ``C·∏k``
    order, then output positions): a ``(C·∏k) × ∏o`` matrix per sample."""
    rank = len(k)
    win = _windows(xp, k, s, d)
    view = win.transpose(0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank))
    cols = ctx.scratch(view.shape)
    np.copyto(cols, view)
    return cols


def _taps(win: Array, rank: int) -> list[Array]:
    """The ``∏k`` views ``(B, C, *o)`` of a window view, one per kernel offset."""
    k = win.shape[2 + rank:]
    return [win[(Ellipsis, *idx)] for idx in np.ndindex(*k)]


# ------------------------------------------------------------------------------ convolutions --


@forward(Conv, DWConv, PWConv)
def conv_forward(layer: Conv, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Cross-correlation (PyTorch's ``convNd``):
    ``y[o, i] = b[o] + Σ_{c,κ} W[o, c, κ]·x̃[c, s·i + d·κ]`` with ``x̃`` the padded input.

    Padding (before, after) per axis as the layer resolves it (``same``: extra pixel after).
    Dense and grouped: im2col ``(B, G, C/G·∏k, L)`` and one batched product with the weight
    ``(G, out/G, C/G·∏k)`` — ``B·G·(out/G)·(C/G·∏k)·L`` MACs, the engine's ``out·L·(C/G)·∏k``.
    Depthwise (``C/G = 1``): ``∏k`` shifted taps, each ``B·out·L`` MACs. ``connections``: one
    product per output map over its listed input maps, ``len(conn_i)·∏k·L`` MACs each.
    """
    (x,) = inputs
    shape = x.shape[1:]
    k, s, d, _, lo, hi = layer.geometry(shape)
    rank = len(k)
    cin = shape[0]
    groups, cout = layer.group_count(cin), layer.out_channels(cin)
    xp = _pad(x, lo, hi, 0.0)
    if layer.connections is not None:
        y = _conv_connections(layer.connections, xp, w, k, s, d, ctx)
    elif groups > 1 and cin == groups:
        y = _conv_depthwise(xp, w["weight"], cout // cin, k, s, d, ctx)
    else:
        y = _conv_dense(xp, w["weight"], groups, k, s, d, ctx)
    if layer.bias:
        y += _channel_view(w["bias"], 2 + rank)
    return y


def _conv_dense(xp: Array, weight: Array, groups: int, k: Sequence[int], s: Sequence[int],
                d: Sequence[int], ctx: Context) -> Array:
    b, c = xp.shape[:2]
    cout = weight.shape[0]
    rank = len(k)
    if all(v == 1 for v in (*k, *s, *d)):
        cols = xp  # a 1×1 stride-1 conv reads the input as it is: no copy
        o = _spatial(xp)
    else:
        cols = _im2col(ctx, xp, k, s, d)
        o = tuple(cols.shape[2 + rank:])
    length = prod(o)
    kdim = c // groups * prod(k)
    out = np.empty((b, groups, cout // groups, length), xp.dtype)
    if b == 1 and groups == 1:  # one plain product: no broadcast loop around the BLAS call
        ctx.matmul(weight.reshape(cout, kdim), cols.reshape(kdim, length), out=out[0, 0])
    else:
        ctx.matmul(weight.reshape(groups, cout // groups, kdim),
                   cols.reshape(b, groups, kdim, length), out=out)
    return out.reshape(b, cout, *o)


def _conv_depthwise(xp: Array, weight: Array, mult: int, k: Sequence[int], s: Sequence[int],
                    d: Sequence[int], ctx: Context) -> Array:
    # output channel o reads input channel o // mult (depth multiplier)
    src = np.repeat(xp, mult, axis=1) if mult > 1 else xp
    rank = len(k)
    taps = _taps(_windows(src, k, s, d), rank)
    kw = weight.reshape(weight.shape[0], -1)
    out = np.empty(taps[0].shape, xp.dtype)
    tmp = np.empty_like(out)
    for t, tap in enumerate(taps):
        coef = _channel_view(np.ascontiguousarray(kw[:, t]), 2 + rank)
        np.multiply(tap, coef, out=out if t == 0 else tmp)
        if t:
            out += tmp
        ctx.count(out.size)  # one multiply-accumulate per output element and tap
    return out


def _conv_connections(conn: tuple[tuple[int, ...], ...], xp: Array, w: Weights,
                      k: Sequence[int], s: Sequence[int], d: Sequence[int],
                      ctx: Context) -> Array:
    # LeNet-5's C3: output map i sees only the input maps conn[i] (a loop over its 16 maps)
    rank = len(k)
    win = _windows(xp, k, s, d)
    o = tuple(win.shape[2:2 + rank])
    b = xp.shape[0]
    out = np.empty((b, len(conn), prod(o)), xp.dtype)
    perm = (0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank))
    for i, maps in enumerate(conn):
        cols = np.ascontiguousarray(win[:, list(maps)].transpose(perm))
        cols = cols.reshape(b, len(maps) * prod(k), prod(o))
        out[:, i:i + 1] = ctx.matmul(w[f"weight[{i}]"].reshape(1, -1), cols)
    return out.reshape(b, len(conn), *o)


@forward(ConvTranspose)
def deconv_forward(layer: ConvTranspose, inputs: Sequence[Array], w: Weights,
                   ctx: Context) -> Array:
    """Transposed convolution (PyTorch's ``conv_transposeNd``): input element ``i`` adds
    ``x[c, i]·W[c, o, κ]`` to output ``i·s + κ·d − p``.

    Per group one product ``(out/G·∏k × C/G) @ (C/G × L_in)`` — ``C·L_in·(out/G)·∏k`` MACs, the
    engine's count — then col2im: each of the ``∏k`` kernel offsets scatters (adds) its plane
    into a full canvas of ``(n − 1)·s + d·(k − 1) + 1 + output_padding`` per axis, from which
    ``p`` is cropped on both sides.
    """
    (x,) = inputs
    b, cin = x.shape[:2]
    n = _spatial(x)
    rank = len(n)
    k = per_axis(layer.k, rank, "k")
    s, d = per_axis(layer.s, rank, "s"), per_axis(layer.d, rank, "d")
    p, op = per_axis(layer.p, rank, "p"), per_axis(layer.output_padding, rank, "output_padding")
    g, cout = layer.groups, layer.out
    kk = prod(k)
    weight = w["weight"].reshape(g, cin // g, cout // g * kk)
    planes = ctx.matmul(np.swapaxes(weight, 1, 2), x.reshape(b, g, cin // g, prod(n)))
    planes = planes.reshape(b, cout, *k, *n)
    full = np.zeros((b, cout, *((n[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 + op[a]
                                for a in range(rank))), x.dtype)
    for idx in np.ndindex(*k):
        place = tuple(slice(idx[a] * d[a], idx[a] * d[a] + (n[a] - 1) * s[a] + 1, s[a])
                      for a in range(rank))
        full[(slice(None), slice(None), *place)] += planes[(slice(None), slice(None), *idx)]
    crop = tuple(slice(p[a], full.shape[2 + a] - p[a]) for a in range(rank))
    y = np.ascontiguousarray(full[(slice(None), slice(None), *crop)])
    if layer.bias:
        y += _channel_view(w["bias"], y.ndim)
    return y


# ---------------------------------------------------------------------------------- pooling --


def _pool_geometry(layer: Pool, rank: int) -> tuple[tuple[int, ...], ...]:
    k = per_axis(layer.k, rank, "k")
    s = per_axis(layer.s if layer.s is not None else layer.k, rank, "s")
    return k, s, per_axis(layer.p, rank, "p"), per_axis(layer.d, rank, "d")


def _pool_windows(layer: Pool, x: Array, fill: float) -> tuple[Array, tuple[Array, ...]]:
    """Window view ``(B, C, *o, *k)`` of PyTorch's pooling, plus each axis' window starts
    (unpadded coordinates).

    Floor mode: every window inside the padded input. ``ceil_mode``: windows may run past the
    end by less than a stride, but a window must start inside the input or the left padding
    (PyTorch's rule) — the canvas gets ``s − 1`` extra cells of ``fill`` and windows starting
    at ``n + p`` or later are dropped.
    """
    n = _spatial(x)
    rank = len(n)
    k, s, p, d = _pool_geometry(layer, rank)
    extra = [s[a] - 1 if layer.ceil_mode else 0 for a in range(rank)]
    xp = _pad(x, p, [p[a] + extra[a] for a in range(rank)], fill)
    win = _windows(xp, k, s, d)
    starts = []
    keep: list[slice] = []
    for a in range(rank):
        start = np.arange(win.shape[2 + a]) * s[a] - p[a]
        # PyTorch drops a window that starts in the right padding: padded start ≥ n + p
        count = int(np.count_nonzero(start < n[a])) if layer.ceil_mode else start.size
        starts.append(start[:count])
        keep.append(slice(0, count))
    return win[(slice(None), slice(None), *keep)], tuple(starts)


def _reduce_taps(win: Array, rank: int, fn: Callable[..., Array]) -> Array:
    taps = _taps(win, rank)
    out = np.array(taps[0], copy=True)
    for tap in taps[1:]:
        fn(out, tap, out=out)
    return out


@forward(Pool)
def maxpool_forward(layer: Pool, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Max pooling: the largest element of each window; padding is −∞ (never chosen)."""
    (x,) = inputs
    win, _ = _pool_windows(layer, x, -np.inf)
    return _reduce_taps(win, x.ndim - 2, np.maximum)


@forward(AvgPool)
def avgpool_forward(layer: AvgPool, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Average pooling: window sum / divisor, PyTorch's divisor per axis: the window clipped to
    the padded input (``count_include_pad``) or to the input; the product over axes."""
    (x,) = inputs
    rank = x.ndim - 2
    if per_axis(layer.d, rank, "d") != (1,) * rank:
        raise ExecError("average pooling has no dilation", hint="remove d from avgpool")
    win, starts = _pool_windows(layer, x, 0.0)
    total = _reduce_taps(win, rank, np.add)
    k, _, p, _ = _pool_geometry(layer, rank)
    n = _spatial(x)
    divisor = np.ones((1,) * (rank + 2))
    for a in range(rank):
        lo = starts[a]
        hi = np.minimum(lo + k[a], n[a] + p[a])
        size = hi - lo if layer.count_include_pad else (
            np.minimum(hi, n[a]) - np.maximum(lo, 0))
        divisor = divisor * size.reshape((1, 1, *(-1 if b == a else 1 for b in range(rank))))
    total /= divisor.astype(x.dtype)
    return total


@forward(Subsample)
def subsample_forward(layer: Subsample, inputs: Sequence[Array], w: Weights,
                      ctx: Context) -> Array:
    """LeNet-5's S-layers: ``coefficient[c]·Σ window + bias[c]`` (LeCun et al. 1998, §II-B);
    one coefficient multiply per output (counted as a MAC, as the engine does)."""
    (x,) = inputs
    win, _ = _pool_windows(layer, x, 0.0)
    total = _reduce_taps(win, x.ndim - 2, np.add)
    total *= _channel_view(w["coefficient"], total.ndim)
    ctx.count(total.size)
    total += _channel_view(w["bias"], total.ndim)
    return total


@forward(GlobalAvgPool)
def global_avgpool_forward(layer: GlobalAvgPool, inputs: Sequence[Array], w: Weights,
                           ctx: Context) -> Array:
    """Mean over every spatial axis, kept as size 1 (``AdaptiveAvgPool(1)``)."""
    (x,) = inputs
    y: Array = x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=x.dtype)
    return y


@forward(GlobalMaxPool)
def global_maxpool_forward(layer: GlobalMaxPool, inputs: Sequence[Array], w: Weights,
                           ctx: Context) -> Array:
    """Maximum over every spatial axis, kept as size 1."""
    (x,) = inputs
    y: Array = x.max(axis=tuple(range(2, x.ndim)), keepdims=True)
    return y


@forward(AdaptiveAvgPool)
def adaptive_avgpool_forward(layer: AdaptiveAvgPool, inputs: Sequence[Array], w: Weights,
                             ctx: Context) -> Array:
    """PyTorch's adaptive average: output ``i`` averages ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)`` per axis.
    A box average is separable: per axis, window sums from a float64 running sum, divided by
    the window length."""
    (x,) = inputs
    rank = x.ndim - 2
    o = per_axis(layer.out, rank, "out")
    cur: Array = x.astype(np.float64)
    for a in range(rank):
        axis, n = 2 + a, cur.shape[2 + a]
        i = np.arange(o[a])
        lo, hi = (i * n) // o[a], -(-((i + 1) * n) // o[a])
        run = np.cumsum(cur, axis=axis)
        run = np.concatenate([np.zeros_like(run.take([0], axis=axis)), run], axis=axis)
        sums = run.take(hi, axis=axis) - run.take(lo, axis=axis)
        cur = sums / (hi - lo).reshape([-1 if b == axis else 1 for b in range(cur.ndim)])
    return cur.astype(x.dtype)


# --------------------------------------------------------------------------- fully connected --


@forward(Linear)
def linear_forward(layer: Linear, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """``y = x·Wᵀ + b`` on ``(B, F)`` (a ``(B, C, 1…)`` map is read as ``(B, C)``):
    ``B·F·out`` MACs."""
    (x,) = inputs
    if prod(x.shape[2:]) != 1:
        raise ExecError(f"fc received the spatial tensor {list(x.shape[1:])}",
                        hint="flatten first")
    y = ctx.matmul(x.reshape(x.shape[0], x.shape[1]), w["weight"].T)
    if layer.bias:
        y += w["bias"]
    return y


# ---------------------------------------------------------------------------- shape changes --


@forward(Flatten)
def flatten_forward(layer: Flatten, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Row-major ``(B, C·∏n)`` (``torch.flatten(x, 1)``)."""
    (x,) = inputs
    return x.reshape(x.shape[0], -1)


@forward(Reshape)
def reshape_forward(layer: Reshape, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Row-major reshape of each sample."""
    (x,) = inputs
    return x.reshape(x.shape[0], *layer.shape)


@forward(ZeroPad)
def zeropad_forward(layer: ZeroPad, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Zeros before/after each spatial axis."""
    (x,) = inputs
    pads = layer.pads(x.shape[1:])
    return _pad(x, [lo for lo, _ in pads], [hi for _, hi in pads], 0.0)


@forward(Crop)
def crop_forward(layer: Crop, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Remove the layer's cuts (margins, centre crop, or to a second input's size)."""
    cuts = layer.cuts(tuple(a.shape[1:] for a in inputs))
    x = inputs[0]
    keep = tuple(slice(lo, x.shape[2 + a] - hi) for a, (lo, hi) in enumerate(cuts))
    return np.ascontiguousarray(x[(slice(None), slice(None), *keep)])


def _resize_axis(x: Array, axis: int, out: int, mode: str, align: bool,
                 scale: Fraction) -> Array:
    """Resize one axis as PyTorch's ``interpolate``: nearest reads ``⌊dst·n/out⌋``; linear reads
    ``src = dst·(n − 1)/(out − 1)`` (align_corners) or ``max((dst + ½)/scale − ½, 0)``, then
    lerps ``x[⌊src⌋]`` and ``x[min(⌊src⌋ + 1, n − 1)]``."""
    n = x.shape[axis]
    dst = np.arange(out)
    if mode == "nearest":
        near: Array = x.take(np.minimum((dst * n) // out, n - 1), axis=axis)
        return near
    if align:
        src = dst * ((n - 1) / (out - 1)) if out > 1 else np.zeros(out)
    else:
        src = np.maximum((dst + 0.5) / float(scale) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    lam = (src - i0).astype(x.dtype).reshape([-1 if b == axis else 1 for b in range(x.ndim)])
    a, b = x.take(i0, axis=axis), x.take(i1, axis=axis)
    lerp: Array = a + lam * (b - a)
    return lerp


@forward(Upsample)
def upsample_forward(layer: Upsample, inputs: Sequence[Array], w: Weights,
                     ctx: Context) -> Array:
    """Nearest or (bi/tri)linear resize by a scale or to a size, axis by axis (separable)."""
    (x,) = inputs
    factors = layer.factors(x.shape[1:])
    y = x
    for a, f in enumerate(factors):
        size = int(x.shape[2 + a] * f)
        y = _resize_axis(y, 2 + a, size, layer.mode, layer.align_corners, f)
    return y if y is not x else x.copy()


@forward(ChannelShuffle)
def channel_shuffle_forward(layer: ChannelShuffle, inputs: Sequence[Array], w: Weights,
                            ctx: Context) -> Array:
    """``(B, g, C/g, …) → (B, C/g, g, …)`` flattened back (PyTorch's ``channel_shuffle``)."""
    (x,) = inputs
    b, c = x.shape[:2]
    split = x.reshape(b, layer.groups, c // layer.groups, *x.shape[2:])
    return np.ascontiguousarray(split.swapaxes(1, 2)).reshape(x.shape)


@forward(Slice)
def slice_forward(layer: Slice, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Channels ``[start, stop)``."""
    (x,) = inputs
    return np.ascontiguousarray(x[:, layer.start:layer.stop])


# ------------------------------------------------------------------------------ element-wise --


@forward(Identity, Dropout)
def identity_forward(layer: Identity, inputs: Sequence[Array], w: Weights,
                     ctx: Context) -> Array:
    """The input itself (dropout is the identity at inference)."""
    return inputs[0]


def _batchnorm(layer: BatchNorm, x: Array, w: Weights, out: Array | None) -> Array:
    scale = 1.0 / np.sqrt(w["running_var"].astype(np.float64) + layer.eps)
    shift = -w["running_mean"] * scale
    if layer.affine:
        scale = scale * w["gamma"]
        shift = shift * w["gamma"] + w["beta"]
    y = np.multiply(x, _channel_view(scale.astype(x.dtype), x.ndim), out=out)
    y += _channel_view(shift.astype(x.dtype), x.ndim)
    return y


@forward(BatchNorm)
def batchnorm_forward(layer: BatchNorm, inputs: Sequence[Array], w: Weights,
                      ctx: Context) -> Array:
    """Inference BN: ``γ·(x − μ)/√(σ² + ε) + β`` per channel, folded to one scale and shift."""
    return _batchnorm(layer, inputs[0], w, None)


@forward(LayerNorm)
def layernorm_forward(layer: LayerNorm, inputs: Sequence[Array], w: Weights,
                      ctx: Context) -> Array:
    """``(x − mean)/√(var + ε)·γ + β`` with the biased variance, over the channels of each
    position (γ, β per channel) or over the whole sample (γ, β of the sample's shape)."""
    (x,) = inputs
    axes = (1,) if layer.over == "channels" else tuple(range(1, x.ndim))
    mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = ((x - mean) / np.sqrt(var + layer.eps)).astype(x.dtype)
    if layer.over == "channels":
        gamma, beta = _channel_view(w["gamma"], x.ndim), _channel_view(w["beta"], x.ndim)
    else:
        gamma, beta = w["gamma"][None], w["beta"][None]
    out: Array = y * gamma + beta
    return out


@forward(LRN)
def lrn_forward(layer: LRN, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """PyTorch's ``local_response_norm``: ``b_c = a_c / (k + α/n·Σ a²)^β``, the sum over the
    channels ``c − ⌊n/2⌋ … c + ⌊(n − 1)/2⌋`` (zeros beyond the ends)."""
    (x,) = inputs
    sq = np.square(x, dtype=np.float64)
    n, c = layer.size, x.shape[1]
    pad = np.zeros((x.shape[0], n // 2, *x.shape[2:]))
    tail = np.zeros((x.shape[0], (n - 1) // 2, *x.shape[2:]))
    padded = np.concatenate([pad, sq, tail], axis=1)
    total = np.zeros_like(sq)
    for j in range(n):
        total += padded[:, j:j + c]
    return (x / (layer.k + layer.alpha / n * total) ** layer.beta).astype(x.dtype)


def _erf(x: Array) -> Array:
    """erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), in float64."""
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    erf: Array = np.sign(x) * (1.0 - poly * np.exp(-x * x))
    return erf


def _sigmoid(x: Array) -> Array:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def activate(layer: Activation, x: Array, out: Array | None = None) -> Array:
    """The activation ``layer.fn`` of ``x`` (into ``out`` when given; may be ``x`` itself)."""
    fn = layer.fn
    if fn == "relu":
        return np.maximum(x, 0, out=out)
    if fn == "relu6":
        return np.clip(x, 0, 6, out=out)
    if fn == "leaky_relu":
        y = np.where(x >= 0, x, x * x.dtype.type(layer.slope))
    elif fn == "sigmoid":
        y = _sigmoid(x)
    elif fn == "tanh":
        y = np.tanh(x)
    elif fn == "hardsigmoid":
        y = np.clip(x / 6 + 0.5, 0, 1)
    elif fn == "hardswish":
        y = x * np.clip(x / 6 + 0.5, 0, 1)
    elif fn in ("swish", "silu"):
        y = x * _sigmoid(x)
    elif fn == "gelu":
        wide = x.astype(np.float64)
        y = 0.5 * wide * (1.0 + _erf(wide / math.sqrt(2.0)))
    elif fn == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
    else:
        raise ExecError(f"no NumPy forward for the activation {fn!r}")
    if out is None:
        return np.asarray(y, dtype=x.dtype)
    np.copyto(out, y, casting="same_kind")
    return out


@forward(Activation)
def activation_forward(layer: Activation, inputs: Sequence[Array], w: Weights,
                       ctx: Context) -> Array:
    """relu, relu6, leaky_relu, sigmoid, tanh, hardsigmoid ``clip(x/6 + ½, 0, 1)``, hardswish
    ``x·hardsigmoid(x)``, swish/silu ``x·σ(x)``, gelu ``½x(1 + erf(x/√2))``, softmax over
    channels."""
    return activate(layer, inputs[0])


@forward(Add)
def add_forward(layer: Add, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Element-wise sum of the inputs."""
    y = np.add(inputs[0], inputs[1])
    for more in inputs[2:]:
        y += more
    return y


@forward(Multiply)
def multiply_forward(layer: Multiply, inputs: Sequence[Array], w: Weights,
                     ctx: Context) -> Array:
    """Element-wise product; a ``(B, C, 1…)`` or ``(B, C)`` gate broadcasts over positions."""
    a, b = inputs
    if a.shape != b.shape:
        big, gate = (a, b) if a.size >= b.size else (b, a)
        b, a = gate.reshape(*gate.shape[:2], *([1] * (big.ndim - 2))), big
    return np.multiply(a, b)


@forward(Concat)
def concat_forward(layer: Concat, inputs: Sequence[Array], w: Weights, ctx: Context) -> Array:
    """Concatenation along channels."""
    return np.concatenate(list(inputs), axis=1)


def _post(layer: Layer, y: Array, w: Weights, ctx: Context) -> Array:
    """A fused post-op (``bn: true``, ``act: …``) applied in place on its op's fresh output."""
    if isinstance(layer, BatchNorm):
        return _batchnorm(layer, y, w, y)
    if isinstance(layer, Activation):
        return activate(layer, y, y)
    fn = FORWARDS.get(type(layer))
    if fn is None:
        raise ExecError(f"no NumPy forward for the fused {layer.type_name}")
    return fn(layer, [y], w, ctx)


# ---------------------------------------------------------------------------------- weights --

WeightFn = Callable[[Node], tuple[dict[str, Array], dict[str, Array]]]


def _init_tensor(name: str, shape: Shape, rng: np.random.Generator, node: Node) -> Array:
    """One tensor by the role its name gives it (the part after an optional ``bn.`` prefix).

    Weights: He uniform (PyTorch's ``kaiming_uniform_`` with gain √2): U(−a, a), a = √(6/fan_in),
    variance 2/fan_in, fan_in the elements one output reads (``∏shape[1:]``; ``∏shape`` for a
    LeNet connection's ``weight[i]``), so activations stay O(1) at any depth.
    Biases and β: U(−0.1, 0.1). γ and subsampling coefficients: U(0.5, 1.5). BN running mean:
    N(0, 0.1²); running variance: U(0.5, 1.5).
    """
    role = name.rsplit(".", 1)[-1]
    if role == "weight" or role.startswith("weight["):
        fan_in = prod(shape[1:]) if role == "weight" else prod(shape)
        bound = np.float32(math.sqrt(6.0 / max(fan_in, 1)))
        t = rng.random(shape, dtype=np.float32)
        t *= 2 * bound
        t -= bound
        return t
    if role in ("bias", "beta"):
        return rng.random(shape, dtype=np.float32) * np.float32(0.2) - np.float32(0.1)
    if role in ("gamma", "coefficient", "running_var"):
        return rng.random(shape, dtype=np.float32) + np.float32(0.5)
    if role == "running_mean":
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.1)
    raise ExecError(f"the executor does not know how to initialise the tensor {name!r} "
                    f"{list(shape)}", layer=node.name,
                    hint="teach archcalc.execute._init_tensor its role")


def init_weights(node: Node, seed: int = 0,
                 dtype: np.dtype[Any] | type = np.float32) -> tuple[dict[str, Array],
                                                                    dict[str, Array]]:
    """(params, buffers) of ``node``, exactly the shapes the engine counts, seeded by
    ``(seed, crc32(node name))`` so a node's weights do not depend on the rest of the graph."""
    rng = np.random.default_rng([seed, zlib.crc32(node.name.encode())])
    params = {k: _init_tensor(k, s, rng, node).astype(dtype, copy=False)
              for k, s in node.weights().items()}
    buffers = {k: _init_tensor(k, s, rng, node).astype(dtype, copy=False)
               for k, s in node.buffer_shapes().items()}
    return params, buffers


# ------------------------------------------------------------------------------------- run --


@dataclass(frozen=True)
class Step:
    """What the executor observed for one node beside the engine's prediction (batch included
    in the MACs, excluded from the shapes)."""

    name: str
    type: str
    predicted_shape: Shape
    actual_shape: Shape | None
    params: int
    params_created: int
    buffers: int
    buffers_created: int
    macs: int
    macs_counted: int
    seconds: float
    finite: bool = True
    error: str | None = None

    @property
    def problems(self) -> tuple[str, ...]:
        out = []
        if self.error is not None:
            out.append(self.error)
        elif self.actual_shape != self.predicted_shape:
            out.append(f"output shape {_fmt(self.actual_shape)} but the engine predicts "
                       f"{_fmt(self.predicted_shape)}")
        if self.params_created != self.params or self.buffers_created != self.buffers:
            out.append(f"created {self.params_created:,} params / {self.buffers_created:,} "
                       f"buffers but the engine counts {self.params:,} / {self.buffers:,}")
        if self.error is None and self.macs_counted != self.macs:
            out.append(f"performed {self.macs_counted:,} MACs but the engine counts "
                       f"{self.macs:,}")
        if not self.finite:
            out.append("non-finite values in the output")
        return tuple(out)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "error"
        if self.actual_shape != self.predicted_shape:
            return "shape mismatch"
        if self.params_created != self.params or self.buffers_created != self.buffers:
            return "params mismatch"
        if self.macs_counted != self.macs:
            return "MACs mismatch"
        return "ok" if self.finite else "non-finite"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "predicted_shape": list(self.predicted_shape),
            "actual_shape": None if self.actual_shape is None else list(self.actual_shape),
            "params": self.params,
            "params_created": self.params_created,
            "buffers": self.buffers,
            "buffers_created": self.buffers_created,
            "macs": self.macs,
            "macs_counted": self.macs_counted,
            "seconds": self.seconds,
            "verdict": self.verdict,
            "problems": list(self.problems),
        }


def _fmt(shape: Shape | None) -> str:
    return "none" if shape is None else "×".join(str(v) for v in shape)


@dataclass(frozen=True)
class Execution:
    """The outcome of :func:`run`: per-node :class:`Step` records, the kept activations
    (batched NumPy arrays by node name, ``"input"`` included) and memory figures in bytes."""

    name: str
    batch: int
    seed: int
    input_shape: Shape
    steps: tuple[Step, ...]
    activations: Mapping[str, Array]
    output: str
    predicted_peak_bytes: int
    peak_live_bytes: int
    peak_allocated_bytes: int | None
    seconds: float
    planned: int
    report: Report = field(repr=False)

    @property
    def ok(self) -> bool:
        """Every planned node ran and agreed with the engine."""
        return len(self.steps) == self.planned and all(step.ok for step in self.steps)

    @property
    def failures(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if not step.ok)

    @property
    def params_created(self) -> int:
        return sum(step.params_created for step in self.steps)

    @property
    def macs_counted(self) -> int:
        return sum(step.macs_counted for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        totals = self.report.totals
        return {
            "name": self.name,
            "batch": self.batch,
            "seed": self.seed,
            "input_shape": list(self.input_shape),
            "ok": self.ok,
            "layers": [step.to_dict() for step in self.steps],
            "totals": {
                "params": totals.params,
                "params_created": self.params_created,
                "buffers": totals.buffers,
                "buffers_created": sum(step.buffers_created for step in self.steps),
                "macs": totals.macs,
                "macs_counted": self.macs_counted,
                "seconds": sum(step.seconds for step in self.steps),
                "wall_seconds": self.seconds,
            },
            "memory": {
                "predicted_peak_bytes": self.predicted_peak_bytes,
                "peak_live_bytes": self.peak_live_bytes,
                "peak_allocated_bytes": self.peak_allocated_bytes,
            },
        }


def _input_tensor(graph: Graph, x: ArrayLike | None, batch: int | None, seed: int,
                  dtype: np.dtype[Any]) -> Array:
    want = tuple(graph.input_shape)
    if x is None:
        rng = np.random.default_rng([seed, 0x1A2B])
        return rng.standard_normal((batch or 1, *want)).astype(dtype)
    arr = np.array(x, dtype=dtype, copy=True)
    if arr.shape == want:
        arr = arr[None]
    if arr.shape[1:] != want or (batch is not None and arr.shape[0] != batch):
        raise ExecError(
            f"the input has shape {list(arr.shape)} but {graph.name} expects "
            f"[{batch or 'batch'}, {', '.join(str(v) for v in want)}]",
            hint="pass one sample shaped like the spec's input, or a batch of them",
        )
    return arr


def run(spec: Any, x: ArrayLike | None = None, *, seed: int = 0, batch: int | None = None,
        keep: str | Collection[str] = "output", targets: Collection[str] | None = None,
        weights: WeightFn | None = None, dtype: np.dtype[Any] | type = np.float32,
        trace_memory: bool = False, context: Context | None = None,
        on_step: Callable[[int, int, str], None] | None = None,
        max_memory: int | str | None = None) -> Execution:
    """Run ``spec`` (anything :func:`archcalc.to_graph` takes) on real tensors.

    ``x``: the input, one sample ``(C, …)`` or a batch ``(B, C, …)`` (default: seeded standard
    normal, batch ``batch`` or 1). ``keep``: ``"output"`` keeps only the graph output (and frees
    every activation after its last consumer, the engine's liveness), ``"all"`` keeps every
    activation, or a collection of node names. ``targets``: run only the nodes these names
    depend on. ``weights``: ``node → (params, buffers)`` (default: :func:`init_weights`).
    ``trace_memory``: also measure, with :mod:`tracemalloc`, the peak bytes NumPy allocates
    during any forward (temporaries and scratch included, the node's own weights excluded).
    ``context``: a :class:`Context` to reuse (its scratch buffer) across runs of one ``dtype``.
    Stops at the first node whose forward fails or whose output shape differs from the
    prediction; the result says so (``ok``, ``failures``) rather than raising.
    ``max_memory``: bytes (or a size such as ``"2G"``) the run may take, by the prediction of
    :mod:`archcalc.budget`; default 80 % of the available memory. A run that needs more is
    refused with :class:`ExecError` before anything is allocated.
    """
    from . import budget, to_graph, validate

    x, seed, batch = validate.run_arguments(x, seed, batch)
    graph = to_graph(spec)
    budget.check_run(graph, x, batch, max_memory, keep=keep, targets=targets, dtype=dtype)
    ctx = context if context is not None and context.dtype == np.dtype(dtype) else Context(dtype)
    tracing = trace_memory and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    try:
        return _run(graph, ctx, x, seed, batch, keep, targets, weights, trace_memory, on_step)
    finally:
        if tracing:
            tracemalloc.stop()


def _run(graph: Graph, ctx: Context, x: ArrayLike | None, seed: int, batch: int | None,
         keep: str | Collection[str], targets: Collection[str] | None,
         weights: WeightFn | None, trace_memory: bool,
         on_step: Callable[[int, int, str], None] | None) -> Execution:
    base = tracemalloc.get_traced_memory()[0] if trace_memory else 0
    xin = _input_tensor(graph, x, batch, seed, ctx.dtype)
    batch = xin.shape[0]
    report = analyze_graph(graph, batch=batch)
    rows = {row.name: row for row in report.layers}
    make = weights or (lambda node: init_weights(node, seed, ctx.dtype))
    nodes = graph.nodes
    if targets is not None:
        need = ancestors(graph, targets)
        nodes = tuple(node for node in nodes if node.name in need)
    keep_all = keep == "all"
    kept = {graph.output} if keep == "output" else set() if keep_all else set(keep)
    last: dict[str, int] = {INPUT: -1}
    for step, node in enumerate(nodes):
        last[node.name] = step
        for name in node.inputs:
            last[name] = step
    env: dict[str, Array] = {INPUT: xin}
    live = peak = xin.nbytes
    peak_alloc = 0
    steps: list[Step] = []
    started = time.perf_counter()
    for index, node in enumerate(nodes):
        if on_step is not None:
            on_step(index, len(nodes), node.name)
        row = rows[node.name]
        params, buffers = make(node)
        made = sum(a.size for a in params.values()), sum(a.size for a in buffers.values())
        wbytes = sum(a.nbytes for a in (*params.values(), *buffers.values()))
        if trace_memory:
            tracemalloc.reset_peak()
        macs0 = ctx.macs
        t0 = time.perf_counter()
        error: str | None = None
        y: Array | None = None
        try:
            y = _forward_node(node, [env[i] for i in node.inputs], {**params, **buffers}, ctx)
        except (ArchcalcError, ValueError, IndexError, TypeError, KeyError) as exc:
            error = f"the forward failed: {exc}"
        seconds = time.perf_counter() - t0
        if trace_memory:
            peak_alloc = max(peak_alloc, tracemalloc.get_traced_memory()[1] - base - wbytes)
        del params, buffers
        actual = None if y is None else tuple(y.shape[1:])
        if y is not None and (y.shape[0] != batch or y.dtype != ctx.dtype):
            error = (f"the forward returned {y.dtype} {list(y.shape)}, not {ctx.dtype} with "
                     f"batch {batch}")
        finite = y is None or bool(np.isfinite(y).all())
        steps.append(Step(node.name, node.type_name, node.out_shape, actual, row.params, made[0],
                          row.buffers, made[1], row.macs, ctx.macs - macs0, seconds, finite,
                          error))
        if y is None or error is not None or actual != node.out_shape:
            break
        env[node.name] = y
        live += y.nbytes
        peak = max(peak, live)
        if not keep_all:
            for name in [*node.inputs, node.name]:
                if last.get(name) == index and name not in kept and name in env:
                    live -= env.pop(name).nbytes
    seconds = time.perf_counter() - started
    return Execution(graph.name, batch, seed, tuple(graph.input_shape), tuple(steps), env,
                     graph.output, report.totals.peak_activation_bytes, peak,
                     peak_alloc if trace_memory else None, seconds, len(nodes), report)


def _forward_node(node: Node, inputs: list[Array], tensors: dict[str, Array],
                  ctx: Context) -> Array:
    fn = FORWARDS.get(type(node.op))
    if fn is None:
        raise ExecError(f"no NumPy forward for layer type {type(node.op).__name__} "
                        f"({node.type_name})", layer=node.name,
                        hint="add one to archcalc/execute.py (see FORWARDS)")
    prefixes = tuple(f"{p.type_name}." for p in node.post)
    own = {k: v for k, v in tensors.items() if not k.startswith(prefixes)}
    y = fn(node.op, inputs, own, ctx)
    if node.post and any(np.may_share_memory(y, a) for a in inputs):
        y = y.copy()  # post-ops work in place: never on an input
    for post in node.post:
        head = f"{post.type_name}."
        y = _post(post, y, {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)},
                  ctx)
    return y


def execute(spec: Any, x: ArrayLike | None = None, seed: int = 0, *,
            batch: int | None = None) -> dict[str, Array]:
    """Every activation of ``spec`` on input ``x`` (default: seeded noise), by node name
    (``"input"`` included), as batched NumPy arrays. Raises :class:`ExecError` naming the layer
    if a forward fails or an output shape, parameter or MAC count disagrees with the engine."""
    result = run(spec, x, seed=seed, batch=batch, keep="all")
    for step in result.failures:
        raise ExecError("; ".join(step.problems), layer=f"layer {step.name!r} ({step.type})")
    return dict(result.activations)


# ----------------------------------------------------------------------- receptive field --


@dataclass(frozen=True)
class RFAxisCheck:
    """One spatial axis of a measured receptive field.

    ``measured``: the first and last input index whose change changes the unit (the extent of
    its support). ``predicted``: the engine's field of that unit, ``centre ∓ (size − 1)/2`` with
    ``centre = start + unit·jump``; ``expected``: that field clipped to the input ``[0, n − 1]``
    (the border cuts a field larger than the image). ``neighbour``: the adjacent unit (±1) whose
    field gives ``measured_jump`` when both fields lie inside the image.

    ``tolerance`` is 0 — exact agreement required — unless a resize (transposed convolution or
    upsampling with stride > 1, adaptive pooling with uneven windows) lies on the unit's path:
    then each output's field depends on its phase on the coarse grid, which the engine's
    uniform grid (size, jump, start) cannot express; each end must then lie within one
    coarse-grid step (the largest input jump entering such a resize) and the jump is not
    compared.
    """

    axis: int
    unit: int
    neighbour: int | None
    measured: tuple[int, int]
    predicted: tuple[Fraction, Fraction]
    expected: tuple[Fraction, Fraction]
    measured_jump: Fraction | None
    predicted_jump: Fraction
    tolerance: Fraction = Fraction(0)

    @property
    def ok(self) -> bool:
        lo, hi = self.measured
        elo, ehi = self.expected
        if self.tolerance == 0:
            return lo == elo and hi == ehi and self.measured_jump in (None, self.predicted_jump)
        return abs(lo - elo) <= self.tolerance and abs(hi - ehi) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "unit": self.unit,
            "measured": list(self.measured),
            "measured_size": self.measured[1] - self.measured[0] + 1,
            "predicted": [_num(v) for v in self.predicted],
            "predicted_size": _num(self.predicted[1] - self.predicted[0] + 1),
            "expected": [_num(v) for v in self.expected],
            "neighbour": self.neighbour,
            "measured_jump": None if self.measured_jump is None else _num(self.measured_jump),
            "predicted_jump": _num(self.predicted_jump),
            "tolerance": _num(self.tolerance),
            "ok": self.ok,
        }


def _num(v: Fraction) -> int | float:
    return int(v) if v.denominator == 1 else float(v)


@dataclass(frozen=True)
class RFCheck:
    """The empirical receptive field of one unit of one layer, axis by axis."""

    layer: str
    unit: tuple[int, ...]
    axes: tuple[RFAxisCheck, ...]
    forwards: int

    @property
    def ok(self) -> bool:
        return all(axis.ok for axis in self.axes)

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "unit": list(self.unit), "ok": self.ok,
                "forward_passes": self.forwards, "axes": [a.to_dict() for a in self.axes]}


def probe_weights(node: Node) -> tuple[dict[str, Array], dict[str, Array]]:
    """Weights that make every unit a strictly increasing function of each input it reads:
    conv/fc weights U(0.5, 1.5) normalised to sum 1 per output (values stay O(1), so no
    activation saturates), biases, β and BN means 0, γ and variances 1, subsampling
    coefficient ¼."""
    rng = np.random.default_rng(zlib.crc32(node.name.encode()))
    out: list[dict[str, Array]] = [{}, {}]
    for which, shapes in enumerate((node.weights(), node.buffer_shapes())):
        for name, shape in shapes.items():
            role = name.rsplit(".", 1)[-1]
            if role == "weight" or role.startswith("weight["):
                t = rng.uniform(0.5, 1.5, shape)
                if role == "weight" and len(shape) > 1:
                    t /= t.reshape(shape[0], -1).sum(axis=1).reshape(-1, *[1] * (len(shape) - 1))
                else:
                    t /= t.sum()
            elif role in ("bias", "beta", "running_mean"):
                t = np.zeros(shape)
            elif role in ("gamma", "running_var"):
                t = np.ones(shape)
            elif role == "coefficient":
                t = np.full(shape, 0.25)
            else:
                raise ExecError(f"no probe value for the tensor {name!r}", layer=node.name)
            out[which][name] = t
    return out[0], out[1]


def _resizes(node: Node) -> bool:
    """Does ``node`` refine the grid (each output's field then depends on its phase)?"""
    op, shape = node.op, node.in_shapes[0]
    rank = len(shape) - 1
    if isinstance(op, ConvTranspose):
        return any(v > 1 for v in per_axis(op.s, rank, "s"))
    if isinstance(op, Upsample):
        return any(f != 1 for f in op.factors(shape))
    if isinstance(op, AdaptiveAvgPool):
        o = per_axis(op.out, rank, "out")
        return any(shape[1 + a] % o[a] for a in range(rank))
    return False


def measure_receptive_field(spec: Any, layer: str | None = None,
                            unit: Sequence[int] | None = None) -> RFCheck:
    """Measure the receptive field of one output unit by sensitivity and set it beside the
    engine's.

    The network runs in float64 with :func:`probe_weights` (every path positive: no
    cancellation, no dead ReLU); a unit is *sensitive* to a set of pixels when adding 1 to them
    changes its value — on a base input of zeros, where an unlit path is exactly 0 so that a lit
    one wins every max pool, and, when the graph multiplies (SE gates), also on a base of ones,
    where the gate's path is live. Per spatial axis a bisection over half-spaces ``{x_a ≤ j}``
    finds the first pixel of the support and one over ``{x_a ≥ j}`` the last, for the unit and a
    neighbour (for the jump); all searches share each batched forward pass: about
    ``⌈log₂ n⌉ + 2`` passes. Only the layer's ancestors run.

    ``layer``: a node name (default: the last node with a receptive field on a map larger than
    one unit); ``unit``: its output position (default: the unit nearest the centre whose
    predicted field lies inside the image, else the centre unit).
    """
    from . import to_graph

    graph = to_graph(spec)
    report = analyze_graph(graph)
    rows = [row for row in report.layers if row.receptive_field is not None
            and len(row.output_shape) > 1 and prod(row.output_shape[1:]) > 1]
    if layer is None:
        if not rows:
            raise ExecError(f"no layer of {graph.name} has a receptive field on a map larger "
                            f"than one unit", hint="name a layer with --layer")
        layer = rows[-1].name
    try:
        node, row = graph.node(layer), report.layer(layer)
    except KeyError:
        raise ExecError(f"no layer named {layer!r}",
                        hint="layer names are in the first column of `archcalc table`") from None
    rf = row.receptive_field
    if rf is None:
        raise ExecError("has no receptive field (it follows a flatten or fc)",
                        layer=layer, hint="choose a spatial layer before the classifier")
    n = graph.input_shape[1:]
    o = node.out_shape[1:]
    rank = len(n)
    if len(o) != rank or len(rf) != rank:
        raise ExecError(f"output {list(node.out_shape)} is not a spatial map of the input's "
                        f"rank", layer=layer)
    geo = [(Fraction(rf[a].size), Fraction(rf[a].jump), Fraction(rf[a].start))
           for a in range(rank)]

    def field(a: int, i: int) -> tuple[Fraction, Fraction]:
        size, jump, start = geo[a]
        centre = start + i * jump
        return centre - (size - 1) / 2, centre + (size - 1) / 2

    def inside(a: int, i: int) -> bool:
        lo, hi = field(a, i)
        return 0 <= i < o[a] and lo >= 0 and hi <= n[a] - 1

    if unit is None:
        centre = [(v - 1) // 2 for v in o]
        u = tuple(min((i for i in range(o[a]) if inside(a, i)),
                      key=lambda i, a=a: abs(i - centre[a]), default=centre[a])  # type: ignore[misc]
                  for a in range(rank))
    else:
        u = tuple(unit)
    if len(u) != rank or any(not 0 <= u[a] < o[a] for a in range(rank)):
        raise ExecError(f"unit {list(u)} is outside the output {list(o)}", layer=layer)
    near: dict[int, int | None] = {}
    for a in range(rank):
        options = [i for i in (u[a] + 1, u[a] - 1) if 0 <= i < o[a]]
        near[a] = next((i for i in options if inside(a, i)), options[0] if options else None)
    # searches: (axis, position on that axis, bound) → [low, high] bracket of the answer
    searches: dict[tuple[int, int, str], list[int]] = {}
    for a in range(rank):
        for pos in (u[a], near[a]):
            if pos is not None:
                for bound in ("lo", "hi"):
                    searches[(a, pos, bound)] = [0, n[a] - 1]
    passes = 0
    channels = graph.input_shape[0]
    # A multiplicative gate (SE) needs a live path on a base of ones, checked in float64. On
    # the zero base an unlit unit is exactly 0 and a lit one is a sum of positive terms, so
    # float32 detects any contribution — unless a layer maps 0 to non-zero (sigmoid, …).
    gated = any(isinstance(nd.op, Multiply) for nd in graph.nodes)
    bases = (0.0, 1.0) if gated else (0.0,)
    dtype = np.float64 if gated or any(isinstance(layer_, Activation) and layer_.fn in
                                       _NONZERO_AT_ZERO for nd in graph.nodes
                                       for layer_ in nd.layers) else np.float32
    # samples per forward: keep one batched run near 256 MiB (im2col included)
    per_sample = np.dtype(dtype).itemsize * max(
        prod(nd.out_shape) + prod(nd.in_shapes[0]) * _window_size(nd) for nd in graph.nodes)
    chunk = max(len(bases), (256 << 20) // per_sample // len(bases) * len(bases))
    ctx = Context(dtype)
    cache: dict[str, tuple[dict[str, Array], dict[str, Array]]] = {}

    def weights(nd: Node) -> tuple[dict[str, Array], dict[str, Array]]:
        if nd.name not in cache:
            params, buffers = probe_weights(nd)
            cache[nd.name] = ({k: v.astype(dtype) for k, v in params.items()},
                              {k: v.astype(dtype) for k, v in buffers.items()})
        return cache[nd.name]

    def forward_unit(batch: Array, where: list[tuple[int, int]]) -> list[Array]:
        """The channels at unit ``u`` moved to ``pos`` on ``axis`` for each input of ``batch``."""
        nonlocal passes
        out: list[Array] = []
        for lo in range(0, batch.shape[0], chunk):
            result = run(graph, batch[lo:lo + chunk], keep=[layer], targets=[layer],
                         weights=weights, dtype=dtype, context=ctx)
            passes += 1
            if not result.ok:
                raise ExecError("; ".join(result.failures[0].problems) if result.failures
                                else "the probe run stopped early", layer=layer)
            act = result.activations[layer]
            for i in range(act.shape[0]):
                axis, pos = where[lo + i]
                index: tuple[Any, ...] = (i, slice(None), *(
                    pos if b == axis else u[b] for b in range(rank)))
                out.append(act[index].copy())
        return out

    def mask(a: int, bound: str, j: int) -> Array:
        idx = np.arange(n[a]).reshape([-1 if b == a else 1 for b in range(rank)])
        half = idx <= j if bound == "lo" else idx >= j
        return np.broadcast_to(half, n).astype(np.float64)[None].repeat(channels, axis=0)

    units = sorted({(key[0], key[1]) for key in searches})
    base_batch = np.stack([np.full(graph.input_shape, b) for _ in units for b in bases])
    reference = dict(zip([(un, b) for un in units for b in bases],
                         forward_unit(base_batch, [un for un in units for _ in bases]),
                         strict=True))

    def hits(probes: list[tuple[tuple[int, int, str], int]]) -> list[bool]:
        """Does lighting ``{x_a ≤ j}`` (``lo``) or ``{x_a ≥ j}`` (``hi``) change the unit?"""
        batch = np.stack([np.full(graph.input_shape, b) + mask(key[0], key[2], j)
                          for key, j in probes for b in bases])
        values = forward_unit(batch, [(key[0], key[1]) for key, _ in probes for _ in bases])
        out = []
        for i, (key, _) in enumerate(probes):
            hit = False
            for bi, b in enumerate(bases):
                ref = reference[((key[0], key[1]), b)]
                change = float(np.abs(values[i * len(bases) + bi] - ref).max())
                floor = 0.0 if b == 0.0 and dtype == np.float32 else 1e-12 * max(
                    1.0, float(np.abs(ref).max()))
                hit = hit or change > floor
            out.append(hit)
        return out

    def middle(key: tuple[int, int, str], lo: int, hi: int) -> int:
        return (lo + hi) // 2 if key[2] == "lo" else (lo + hi + 1) // 2

    # the support is [lo, hi]: {x ≤ j} reaches it iff j ≥ lo; {x ≥ j} iff j ≤ hi
    while any(lo < hi for lo, hi in searches.values()):
        open_ = [(key, br) for key, br in searches.items() if br[0] < br[1]]
        answers = hits([(key, middle(key, *br)) for key, br in open_])
        for (key, br), hit in zip(open_, answers, strict=True):
            mid = middle(key, *br)
            if key[2] == "lo":
                br[:] = [br[0], mid] if hit else [mid + 1, br[1]]
            else:
                br[:] = [mid, br[1]] if hit else [br[0], mid - 1]
    # confirm the found ends really are in the support (an insensitive unit has none)
    ends = [(key, br[0]) for key, br in searches.items()]
    for (key, _), hit in zip(ends, hits(ends), strict=True):
        if not hit:
            raise ExecError(f"unit {list(u)} does not respond to any input pixel along axis "
                            f"{key[0]}", layer=layer)
    # resizes on the path: the tolerance is the coarsest grid step entering one
    jumps: dict[str, Fraction] = {INPUT: Fraction(1)}
    for r in report.layers:
        if r.receptive_field is not None:
            jumps[r.name] = max(Fraction(axis.jump) for axis in r.receptive_field)
    path = ancestors(graph, [layer])
    tolerance = max((jumps.get(nd.inputs[0], Fraction(1)) for nd in graph.nodes
                     if nd.name in path and _resizes(nd)), default=Fraction(0))
    axes = []
    for a in range(rank):
        pred = field(a, u[a])
        expected = (max(pred[0], Fraction(0)), min(pred[1], Fraction(n[a] - 1)))
        ends_u = (searches[(a, u[a], "lo")][0], searches[(a, u[a], "hi")][0])
        m_jump: Fraction | None = None
        other = near[a]
        if other is not None:  # from an end that the border cuts in neither field
            ends_o = searches[(a, other, "lo")][0], searches[(a, other, "hi")][0]
            lo_u, hi_u = field(a, u[a])
            lo_o, hi_o = field(a, other)
            for end, free in ((0, min(lo_u, lo_o) >= 0), (1, max(hi_u, hi_o) <= n[a] - 1)):
                if free:
                    m_jump = Fraction(ends_o[end] - ends_u[end], other - u[a])
                    break
        axes.append(RFAxisCheck(a, u[a], other, ends_u, pred, expected, m_jump, geo[a][1],
                                tolerance))
    return RFCheck(layer, u, tuple(axes), passes)


#: activations whose value at 0 is not 0 (the zero-base probe then needs float64)
_NONZERO_AT_ZERO = frozenset({"sigmoid", "hardsigmoid", "softmax"})


def _window_size(node: Node) -> int:
    """Kernel elements per output of a convolution (its im2col expansion), else 1."""
    if isinstance(node.op, Conv):
        return prod(node.op.geometry(node.in_shapes[0])[0])
    return 1


# ----------------------------------------------- `archcalc.execute(...)` as the module itself --


class _CallableModule(types.ModuleType):
    """``archcalc.execute`` is both this module and the function :func:`execute`: importing the
    submodule rebinds the package attribute to the module, so the module forwards calls."""

    def __call__(self, spec: Any, x: ArrayLike | None = None, seed: int = 0, *,
                 batch: int | None = None) -> dict[str, Array]:
        return execute(spec, x, seed, batch=batch)


sys.modules[__name__].__class__ = _CallableModule
