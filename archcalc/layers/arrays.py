"""NumPy building blocks of the layer forwards: padding, window views, im2col, taps.

Imported only inside ``forward`` methods (``archcalc table`` never loads NumPy). Arrays are
batched and channel-first, ``(B, C, *spatial)``. Window counts are found by NumPy's own slicing
(``sliding_window_view`` and strides), never by the engine's size formulas, so the executor's
output shapes are an independent check of the shape rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

if TYPE_CHECKING:
    from ..executor import Context

Array = NDArray[Any]


def spatial(x: Array) -> tuple[int, ...]:
    return tuple(x.shape[2:])


def channel_view(v: Array, ndim: int) -> Array:
    """A per-channel vector shaped to broadcast over ``(B, C, …)`` of ``ndim`` axes."""
    return v.reshape(1, -1, *([1] * (ndim - 2)))


def reduce_to_channels(v: Array) -> Array:
    """``v`` summed over the batch and every position: one value per channel, ``(C,)`` — the
    gradient of a per-channel weight (BN's γ and β, a PReLU slope per channel)."""
    out: Array = v.sum(axis=(0, *range(2, v.ndim)))
    return out


def spread(g: Array, axes: tuple[int, ...]) -> Array:
    """``g`` summed over ``axes`` and spread back over them: in support mode (the receptive
    field by one backward pass), the input positions an output depends on when it depends on
    every element of its group along ``axes`` (statistics, a softmax)."""
    out: Array = np.broadcast_to(g.sum(axis=axes, keepdims=True), g.shape).copy()
    return out


def pad(x: Array, lo: Sequence[int], hi: Sequence[int], value: float) -> Array:
    """``x`` with ``lo``/``hi`` elements of ``value`` before/after each spatial axis."""
    if not any(lo) and not any(hi):
        return x
    n = spatial(x)
    shape = (*x.shape[:2], *(n[a] + lo[a] + hi[a] for a in range(len(n))))
    out = np.full(shape, value, x.dtype)
    out[(slice(None), slice(None), *(slice(lo[a], lo[a] + n[a]) for a in range(len(n))))] = x
    return out


def windows(xp: Array, k: Sequence[int], s: Sequence[int], d: Sequence[int]) -> Array:
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


def im2col(ctx: Context, xp: Array, k: Sequence[int], s: Sequence[int],
           d: Sequence[int], rows: tuple[int, int] | None = None) -> Array:
    """The windows copied once into scratch as ``(B, C, *k, *o)`` (the weight's ``C·∏k``
    order, then output positions): a ``(C·∏k) × ∏o`` matrix per sample; ``rows``: only the
    output rows ``[r0, r1)`` of the first spatial axis (a block of the matrix's columns)."""
    rank = len(k)
    win = windows(xp, k, s, d)
    view = win.transpose(0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank))
    if rows is not None:
        view = view[(*(slice(None),) * (2 + rank), slice(*rows))]
    cols = ctx.scratch(view.shape)
    np.copyto(cols, view)
    return cols


def taps(win: Array, rank: int) -> list[Array]:
    """The ``∏k`` views ``(B, C, *o)`` of a window view, one per kernel offset."""
    k = win.shape[2 + rank:]
    return [win[(Ellipsis, *idx)] for idx in np.ndindex(*k)]


def reduce_taps(win: Array, rank: int, fn: Callable[..., Array]) -> Array:
    """Fold the taps of a window view with ``fn`` (``np.maximum``, ``np.add``)."""
    views = taps(win, rank)
    out = np.array(views[0], copy=True)
    for tap in views[1:]:
        fn(out, tap, out=out)
    return out


def pool_windows(x: Array, k: Sequence[int], s: Sequence[int], p: Sequence[int],
                 d: Sequence[int], ceil_mode: bool, fill: float
                 ) -> tuple[Array, tuple[Array, ...]]:
    """Window view ``(B, C, *o, *k)`` of PyTorch's pooling, plus each axis' window starts
    (unpadded coordinates).

    Floor mode: every window inside the padded input. ``ceil_mode``: windows may run past the
    end by less than a stride, but a window must start inside the input or the left padding
    (PyTorch's rule) — the canvas gets ``s − 1`` extra cells of ``fill`` and windows starting
    at ``n + p`` or later are dropped.
    """
    n = spatial(x)
    rank = len(n)
    extra = [s[a] - 1 if ceil_mode else 0 for a in range(rank)]
    xp = pad(x, p, [p[a] + extra[a] for a in range(rank)], fill)
    win = windows(xp, k, s, d)
    starts = []
    keep: list[slice] = []
    for a in range(rank):
        start = np.arange(win.shape[2 + a]) * s[a] - p[a]
        # PyTorch drops a window that starts in the right padding: padded start ≥ n + p
        count = int(np.count_nonzero(start < n[a])) if ceil_mode else start.size
        starts.append(start[:count])
        keep.append(slice(0, count))
    return win[(slice(None), slice(None), *keep)], tuple(starts)
