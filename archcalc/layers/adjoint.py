"""NumPy building blocks of the backwards of the window layers: the transposes of
:mod:`.arrays`' reads (crop the padding, add columns back onto a canvas, scatter at argmax
indices, spread a gradient over each window).

Imported only inside ``backward`` methods, like :mod:`.arrays` inside the forwards. Arrays are
batched and channel-first, ``(B, C, *spatial)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .arrays import spatial

Array = NDArray[Any]


def crop(x: Array, lo: Sequence[int], hi: Sequence[int]) -> Array:
    """``x`` without ``lo``/``hi`` elements before/after each spatial axis (the transpose of
    :func:`.arrays.pad`), contiguous."""
    if not any(lo) and not any(hi):
        return x
    n = spatial(x)
    keep = tuple(slice(lo[a], n[a] - hi[a]) for a in range(len(n)))
    return np.ascontiguousarray(x[(slice(None), slice(None), *keep)])


def tap_slices(k: Sequence[int], s: Sequence[int], d: Sequence[int],
               o: Sequence[int]) -> list[tuple[slice, ...]]:
    """For each kernel offset κ (row-major), the slices of a (padded) input that the windows'
    offset-κ elements occupy: ``κ·d + i·s`` for the ``o`` window starts ``i`` per axis."""
    rank = len(k)
    return [tuple(slice(idx[a] * d[a], idx[a] * d[a] + (o[a] - 1) * s[a] + 1, s[a])
                  for a in range(rank)) for idx in np.ndindex(*k)]


def col2im(cols: Array, canvas: Sequence[int], k: Sequence[int], s: Sequence[int],
           d: Sequence[int]) -> Array:
    """The transpose of :func:`.arrays.im2col`: ``cols`` ``(B, C, *k, *o)`` added back onto a
    zero canvas of the padded input's shape, each kernel offset's plane at its strided place."""
    rank = len(k)
    o = cols.shape[2 + rank:]
    out = np.zeros(tuple(canvas), cols.dtype)
    for idx, place in zip(np.ndindex(*k), tap_slices(k, s, d, o), strict=True):
        out[(slice(None), slice(None), *place)] += cols[(slice(None), slice(None), *idx)]
    return out


def scatter_planes(grad: Array, indices: Array, shape: Sequence[int]) -> Array:
    """The transpose of an indexed pick (max pooling): ``grad`` added, per sample and channel,
    at the flat positions ``indices`` (``−1``: none) of the input plane ``shape`` ``(C, *n)``."""
    b, c = grad.shape[:2]
    plane = int(np.prod(shape[1:]))
    index = indices.reshape(b * c, -1)
    flat = index + (np.arange(b * c, dtype=np.int64) * plane)[:, None]
    weights = grad.reshape(b * c, -1)
    if (index < 0).any():
        keep = index >= 0
        flat, weights = flat[keep], weights[keep]
    total = np.bincount(flat.ravel(), weights=weights.ravel(), minlength=b * c * plane)
    return total.astype(grad.dtype).reshape(b, *shape)


def spread_windows(grad: Array, shape: Sequence[int], k: Sequence[int], s: Sequence[int],
                   d: Sequence[int], p: Sequence[int], ceil_mode: bool) -> Array:
    """Each output's gradient added onto every element of its pooling window (the transpose of
    :func:`.arrays.pool_windows`' reads), the padding cropped away. A gradient whose channels
    are one map broadcast (channel stride 0: a convolution's support) is spread once and
    broadcast back."""
    if grad.shape[1] > 1 and grad.strides[1] == 0:
        one = spread_windows(grad[:, :1], shape, k, s, d, p, ceil_mode)
        return np.broadcast_to(one, (grad.shape[0], grad.shape[1], *one.shape[2:]))
    rank = len(k)
    n = shape[1:]
    o = grad.shape[2:]
    extra = [s[a] - 1 if ceil_mode else 0 for a in range(rank)]
    canvas = (*grad.shape[:2], *(n[a] + 2 * p[a] + extra[a] for a in range(rank)))
    out = np.zeros(canvas, grad.dtype)
    for place in tap_slices(k, s, d, o):
        out[(slice(None), slice(None), *place)] += grad
    return crop(out, p, [p[a] + extra[a] for a in range(rank)])


def channel_sum(g: Array) -> Array:
    """``Σ_{batch, positions} g`` per channel (a bias gradient), summed in float64."""
    out: Array = g.sum(axis=(0, *range(2, g.ndim)), dtype=np.float64).astype(g.dtype)
    return out


def channel_dot(a: Array, b: Array) -> Array:
    """``Σ_{batch, positions} a·b`` per channel of two ``(B, C, …)`` arrays (the gradient of a
    per-channel factor)."""
    sa = a.reshape(a.shape[0], a.shape[1], -1)
    out: Array = np.einsum("bcl,bcl->c", sa, b.reshape(sa.shape))
    return out


def adaptive_bounds(n: int, o: int) -> tuple[Array, Array]:
    """PyTorch's adaptive windows ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)`` of one axis, starts and ends."""
    i = np.arange(o)
    return (i * n) // o, -(-((i + 1) * n) // o)


def spread_adaptive(grad: Array, shape: Sequence[int], divide: bool) -> Array:
    """Per axis, each output's gradient (over its window length when ``divide``) added onto its
    adaptive window — a difference array and a running sum, in float64."""
    rank = len(shape) - 1
    cur: Array = grad.astype(np.float64)
    for a in range(rank):
        axis, n, o = 2 + a, shape[1 + a], grad.shape[2 + a]
        lo, hi = adaptive_bounds(n, o)
        share = cur / (hi - lo).reshape([-1 if b == axis else 1 for b in range(cur.ndim)]) \
            if divide else cur
        diff = np.zeros((*cur.shape[:axis], n + 1, *cur.shape[axis + 1:]))
        for idx, sign in ((lo, 1.0), (hi, -1.0)):
            where: Any = (*(slice(None),) * axis, idx)
            np.add.at(diff, where, sign * share)
        cur = np.cumsum(diff, axis=axis).take(np.arange(n), axis=axis)
    return cur.astype(grad.dtype)
