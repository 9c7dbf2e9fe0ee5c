"""Pooling: ``maxpool``, ``avgpool``, ``global_avgpool``, ``global_maxpool``,
``adaptive_avgpool``, ``adaptive_maxpool``, ``maxout`` (over channels), the region poolings of
two-stage detectors ``roi_pool`` and ``roi_align``, and ``max_unpool`` (SegNet)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from .. import torch_code as tc
from ..errors import LayerArgError
from ..shapes import (
    RF,
    AxisRF,
    PerAxis,
    Shape,
    adaptive_window_max,
    adaptive_window_total,
    per_axis,
    pool_out,
    prod,
    rf_window,
)
from ..torch_code import TorchLayer
from .base import (
    ACT,
    NO_WORK,
    REQUIRED,
    Arg,
    Layer,
    Ref,
    Saved,
    Shapes,
    Tensor,
    Tensors,
    Window,
    Work,
    layer_class,
    spatial_rank,
    uniform_window,
)

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from .arrays import Array


def _argmax_saves(ins: Shapes, out: Shape, need_dx: bool) -> tuple[Saved, ...]:
    """A max's backward (PyTorch's ``max_pool2d_with_indices_backward``, the adaptive and
    global max alike): the input ``x`` (its shape and layout) and the argmax ``indices`` of
    every output, int64, of the output's shape (ResNet-50's max pool: 64·56·56·8 =
    1,605,632 bytes)."""
    if not need_dx:
        return ()
    return (Saved("x", ins[0], ACT), Saved("indices", out, "int64"))


def _scatter(out: Shape, need_dx: bool) -> tuple[Work, Work]:
    """A max's input gradient: each output's ∂y is added at its argmax, ``∂x[idx] += ∂y`` —
    one add per output element (``full``); no weights."""
    return (Work(elementwise=prod(out)), Work()) if need_dx else NO_WORK


def _spread(reads: int, divides: int, need_dx: bool) -> tuple[Work, Work]:
    """An average's input gradient: each output's ``∂y/n`` (``divides`` divides) is added to
    every element of its window (``reads`` adds, the forward's window reads) — ``full``."""
    return (Work(elementwise=reads + divides), Work()) if need_dx else NO_WORK


@layer_class
class Pool(Layer):
    """Max pooling (``maxpool``); average pooling is :class:`AvgPool`.

    Shape: :func:`archcalc.shapes.pool_out` (PyTorch's rule, with ``ceil_mode``); stride defaults
    to the kernel. No weights. Work: each output reads its K×K window — ``C·∏n'·∏k`` window
    elements (the slides' pooling flop ``(C_out·H'·W')·(K·K)``).
    """

    kind: ClassVar[str] = "maxpool"
    doc: ClassVar[str] = "max pooling"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("k", "ints+", REQUIRED, "window size"),
        Arg("s", "ints+", None, "stride (default: the window size)"),
        Arg("p", "ints0", 0, "padding per side (at most half the window)"),
        Arg("d", "ints+", 1, "dilation"),
        Arg("ceil_mode", "bool", False, "round the output size up (PyTorch's rule)"),
    )
    k: PerAxis
    s: PerAxis | None = None
    p: PerAxis = 0
    d: PerAxis = 1
    ceil_mode: bool = False

    def window(self, shape: Shape) -> Window:
        """Kernel, stride, dilation, effective kernel and padding (equal before and after) per
        axis; refuses padding of more than half the window (PyTorch's rule)."""
        rank = spatial_rank(self.kind, shape)
        k = per_axis(self.k, rank, "k")
        s = per_axis(self.s if self.s is not None else self.k, rank, "s")
        p, d = per_axis(self.p, rank, "p"), per_axis(self.d, rank, "d")
        for a in range(rank):
            if 2 * p[a] > k[a]:
                raise LayerArgError(
                    f"padding {p[a]} is more than half the window {k[a]}",
                    hint="pooling padding must be at most k/2 (PyTorch's rule)",
                )
        k_eff = tuple(d[a] * (k[a] - 1) + 1 for a in range(rank))
        return Window(k, s, d, k_eff, p, p)

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        k, s, d, _, p, _ = self.window(shape)
        spatial = tuple(
            pool_out(shape[1 + a], k[a], s[a], p[a], d[a], self.ceil_mode) for a in range(len(k))
        )
        return (shape[0], *spatial)

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """The input and the int64 argmax of each output (:func:`_argmax_saves`)."""
        return _argmax_saves(ins, out, need_dx)

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """One add per output at its argmax (:func:`_scatter`)."""
        return _scatter(out, need_dx)

    def work(self, ins: Shapes, out: Shape) -> Work:
        k = self.window(ins[0]).k
        # every output element reads its ∏k window
        return Work(window=prod(out) * prod(k))

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        u = uniform_window(self.k, self.s if self.s is not None else self.k, self.d, self.p)
        if u is not None:  # the same integer geometry on every axis: no per-axis tuples
            _, s, _, ke, p = u
            return tuple([rf_window(axis, ke, s, p) for axis in rf])
        _, s_, _, k_eff, lo, _ = self.window(ins[0])
        return tuple(rf_window(rf[a], k_eff[a], s_[a], lo[a]) for a in range(len(rf)))

    def refines(self, ins: Shapes) -> bool:
        return False

    def _windows(self, x: Array, fill: float) -> tuple[Array, tuple[Array, ...]]:
        from .arrays import pool_windows

        k, s, d, _, p, _ = self.window(x.shape[1:])
        return pool_windows(x, k, s, p, d, self.ceil_mode, fill)

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Max pooling: the largest element of each window; padding is −∞ (never chosen)."""
        import numpy as np

        from .arrays import reduce_taps

        (x,) = inputs
        win, _ = self._windows(x, -np.inf)
        return reduce_taps(win, x.ndim - 2, np.maximum)

    def forward_indices(self, inputs: Sequence[Array], w: Tensors,
                        ctx: Context) -> tuple[Array, Array]:
        """The output and, per output, the flat position of its maximum in the unpadded input
        map (PyTorch's ``return_indices``: the first maximum in window order), for
        ``max_unpool``."""
        import numpy as np

        (x,) = inputs
        rank = x.ndim - 2
        win, starts = self._windows(x, -np.inf)
        k, _, d, _, _, _ = self.window(x.shape[1:])
        flat = win.reshape(*win.shape[:2 + rank], -1)
        best = flat.argmax(axis=-1)
        y: Array = np.take_along_axis(flat, best[..., None], axis=-1)[..., 0]
        taps = np.unravel_index(best, k)
        n = x.shape[2:]
        index = np.zeros(best.shape, dtype=np.int64)
        for a in range(rank):
            at = starts[a].reshape([-1 if b == a else 1 for b in range(rank)]) + taps[a] * d[a]
            index = index * n[a] + at
        return y, index

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The output and ``indices``: the flat position of each maximum in its input plane
        (int64, the output's shape), as PyTorch's max pooling keeps them."""
        y, index = self.forward_indices(inputs, w, ctx)
        return y, {"indices": index}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Each output's gradient added at its maximum's kept index (support mode: onto every
        element of its window — a maximum depends on all of them)."""
        if not need_dx:
            return (None,), {}
        from .adjoint import scatter_planes

        shape = ctx.ins[0]
        if ctx.support:
            return (self._spread(gy, shape),), {}
        return (scatter_planes(gy, saved["indices"], shape),), {}

    def _spread(self, gy: Array, shape: Shape) -> Array:
        """Each output's gradient added onto every element of its window, cropped to the
        input (the transpose of reading the windows)."""
        from .adjoint import spread_windows

        k, s, d, _, p, _ = self.window(shape)
        return spread_windows(gy, shape, k, s, d, p, self.ceil_mode)

    def explain(self, ex: Derivation) -> None:
        k, s, d, _, p, _ = self.window(ex.shape)
        rank = len(k)
        ex.channels("C", {"C": ex.shape[0]}, "pooling keeps the channels")
        axes = ex.axes(ex.shape, [(k[a], s[a], p[a], d[a]) for a in range(rank)])
        ex.window_shape(axes, k, s, d, p, p, pool_ceil=self.ceil_mode)
        osyms, oenv = ex.out_symbols()
        kf, kenv = ex.kernel_symbols(axes, k)
        ex.window("*".join([*osyms, *kf]), {**oenv, **kenv},
                  "every output element reads its K×K window")
        self._explain_more(ex, osyms, oenv)

    def _explain_more(self, ex: Derivation, osyms: list[str], oenv: dict[str, Any]) -> None:
        """What a subclass computes beyond reading windows."""

    def explain_rf(self, rx: RFDerivation) -> None:
        k, s, d, _, p, _ = self.window(rx.shape)
        rx.window(k, s, p, d)

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.MaxPoolNd(kernel_size, stride, padding, dilation, ceil_mode)``."""
        (shape,) = ins
        n = tc.rank(self.kind, shape)
        k = per_axis(self.k, n, "k")
        s = per_axis(self.s if self.s is not None else self.k, n, "s")
        return tc.call(f"nn.MaxPool{n}d", ("kernel_size", tc.squeeze(k)),
                       stride=tc.squeeze(s) if s != k else None,
                       padding=tc.squeeze(per_axis(self.p, n, "p")),
                       dilation=tc.squeeze(per_axis(self.d, n, "d")),
                       ceil_mode=self.ceil_mode or None, defaults=tc.POOL_DEFAULTS)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("MaxPool",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """MaxPool → ``maxpool`` (ONNX strides default to 1, so ``s`` is always written); its
        indices output only when MaxUnpool nodes read it."""
        if len(node.output) > 1 and node.output[1] and any(
                n.op_type != "MaxUnpool" for n in r.readers(node.output[1])):
            raise r.error(node, "MaxPool's indices output has no archcalc layer (only a "
                          "MaxUnpool's indices: a max_unpool)")
        shape = r.shape(r.resolve(node.input[0]), node)
        r.add(i, node, "maxpool", r.pool_geometry(node, shape))
        return True


@layer_class
class AvgPool(Pool):
    """Average pooling: :class:`Pool`'s shape and window work, plus one divide per output
    (``full`` convention). ``count_include_pad`` (PyTorch default true) only matters to the
    executor."""

    kind: ClassVar[str] = "avgpool"
    doc: ClassVar[str] = "average pooling"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        *Pool.ARGS[:3],
        Pool.ARGS[4],
        Arg("count_include_pad", "bool", True, "divide by the full window, padding included"),
    )
    count_include_pad: bool = True

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """The input ``x``: PyTorch's ``avg_pool2d_backward`` takes it (bench/training_types.py),
        although only its shape is read."""
        return (Saved("x", ins[0], ACT),) if need_dx else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂y/|window|`` per output (one divide) added to each of its ``∏k`` window elements:
        ``C·∏n'·∏k`` adds + ``C·∏n'`` divides (:func:`_spread`)."""
        return _spread(Pool.work(self, ins, out).window, prod(out), need_dx)

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Pool.work(self, ins, out) + Work(elementwise=prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Average pooling: window sum / divisor, PyTorch's divisor per axis: the window clipped
        to the padded input (``count_include_pad``) or to the input; the product over axes."""
        import numpy as np

        from .arrays import reduce_taps

        (x,) = inputs
        win, starts = self._windows(x, 0.0)
        total = reduce_taps(win, x.ndim - 2, np.add)
        total /= self._divisor(x.shape[1:], starts).astype(x.dtype)
        return total

    def _divisor(self, shape: Shape, starts: tuple[Array, ...]) -> Array:
        """PyTorch's divisor per output position, from the windows' (unpadded) starts: the
        window clipped to the padded input (``count_include_pad``) or to the input, the
        product over axes."""
        import numpy as np

        rank = len(shape) - 1
        k, _, _, _, p, _ = self.window(shape)
        n = shape[1:]
        divisor = np.ones((1,) * (rank + 2))
        for a in range(rank):
            lo = starts[a]
            hi = np.minimum(lo + k[a], n[a] + p[a])
            size = hi - lo if self.count_include_pad else (
                np.minimum(hi, n[a]) - np.maximum(lo, 0))
            divisor = divisor * size.reshape((1, 1, *(-1 if b == a else 1 for b in range(rank))))
        return divisor

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        return Layer.forward_train(self, inputs, w, ctx)

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Each output's gradient over its divisor, added onto its window."""
        if not need_dx:
            return (None,), {}
        import numpy as np

        shape = ctx.ins[0]
        _, s, _, _, p, _ = self.window(shape)
        starts = tuple(np.arange(gy.shape[2 + a]) * s[a] - p[a] for a in range(len(s)))
        return (self._spread(gy / self._divisor(shape, starts).astype(gy.dtype), shape),), {}

    def _explain_more(self, ex: Derivation, osyms: list[str], oenv: dict[str, Any]) -> None:
        ex.elementwise("divide", "*".join(osyms), oenv, prod(ex.oshape))

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.AvgPoolNd(kernel_size, stride, padding, ceil_mode, count_include_pad)``."""
        (shape,) = ins
        n = tc.rank(self.kind, shape)
        k = per_axis(self.k, n, "k")
        s = per_axis(self.s if self.s is not None else self.k, n, "s")
        return tc.call(f"nn.AvgPool{n}d", ("kernel_size", tc.squeeze(k)),
                       stride=tc.squeeze(s) if s != k else None,
                       padding=tc.squeeze(per_axis(self.p, n, "p")),
                       ceil_mode=self.ceil_mode or None,
                       count_include_pad=None if self.count_include_pad else False,
                       defaults=tc.POOL_DEFAULTS)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("AveragePool",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """AveragePool → ``avgpool`` (ONNX's count_include_pad defaults to 0, PyTorch's to 1)."""
        shape = r.shape(r.resolve(node.input[0]), node)
        args = r.pool_geometry(node, shape)
        if "d" in args:
            raise r.error(node, "a dilated average pool has no archcalc layer")
        if "p" in args and not r.attr(node, "count_include_pad", 0):
            args["count_include_pad"] = False
        r.add(i, node, "avgpool", args)
        return True


@layer_class
class GlobalAvgPool(Layer):
    """Global average pooling: ``[C, n…] → [C, 1…]`` (kept as 1×1 like PyTorch's
    ``AdaptiveAvgPool2d(1)``; add ``flatten`` before an ``fc``). Work: ``C·∏n`` window reads
    (a pooling window as large as the map) + C divides (``full``). RF: a window of the whole map.
    """

    kind: ClassVar[str] = "global_avgpool"
    doc: ClassVar[str] = "global average pooling to [C, 1, 1]"
    ALIASES: ClassVar[tuple[str, ...]] = ("gap",)

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        rank = spatial_rank(self.kind, shape)
        return (shape[0], *([1] * rank))

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing: PyTorch computes a 1×1 adaptive average as a ``mean``, whose backward needs
        only the input's shape (bench/training_types.py)."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = ∂y/∏n`` broadcast over the map: C divides, the broadcast a copy."""
        return (Work(elementwise=self._divides(out)), Work()) if need_dx else NO_WORK

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(window=prod(ins[0]), elementwise=self._divides(out))

    def _divides(self, out: Shape) -> int:
        return prod(out)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        n = ins[0][1:]
        return tuple(rf_window(rf[a], n[a], n[a], 0) for a in range(len(rf)))

    def refines(self, ins: Shapes) -> bool:
        return False

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Mean over every spatial axis, kept as size 1 (``AdaptiveAvgPool(1)``)."""
        (x,) = inputs
        y: Array = x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=x.dtype)
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``δ/∏n`` on every position of its channel."""
        if not need_dx:
            return (None,), {}
        import numpy as np

        shape = (gy.shape[0], *ctx.ins[0])
        return (np.ascontiguousarray(np.broadcast_to(gy / gy.dtype.type(prod(shape[2:])),
                                                     shape)),), {}

    def explain(self, ex: Derivation) -> None:
        ex.channels("C", {"C": ex.shape[0]})
        rank = len(ex.shape) - 1
        axes = ex.axes(ex.shape, [() for _ in range(rank)])
        ex.spatial(axes, lambda ax: ("1", {}), lambda ax: "one window as large as the map")
        isyms, ienv = ex.dims(ex.shape, False)
        ex.window("*".join(isyms), ienv, "the window is the whole map")
        if self._divides(ex.oshape):
            ex.elementwise("divide", "C", {"C": ex.shape[0]}, ex.shape[0])

    def explain_rf(self, rx: RFDerivation) -> None:
        n = rx.shape[1:]
        rx.window(n, n, [0] * rx.rank, note="a window as large as the map")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.AdaptiveAvgPoolNd(1)`` (the output kept as ``[C, 1…]``, as the engine keeps
        it)."""
        return tc.call(f"nn.AdaptiveAvgPool{tc.rank(self.kind, ins[0])}d", ("output_size", 1))

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("GlobalAveragePool", "ReduceMean")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """GlobalAveragePool; ReduceMean over every spatial axis (keepdims = 0: a ``flatten``
        after it)."""
        return bool(r.global_pool(i, node, cls.kind))


@layer_class
class GlobalMaxPool(GlobalAvgPool):
    """Global max pooling: as :class:`GlobalAvgPool` without the divides."""

    kind: ClassVar[str] = "global_maxpool"
    doc: ClassVar[str] = "global max pooling to [C, 1, 1]"

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """The input and the int64 argmax of each channel (PyTorch's ``AdaptiveMaxPool2d(1)``,
        bench/training_types.py; :func:`_argmax_saves`)."""
        return _argmax_saves(ins, out, need_dx)

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """One add per channel at its argmax (:func:`_scatter`)."""
        return _scatter(out, need_dx)

    def _divides(self, out: Shape) -> int:
        return 0

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The output and ``indices``: each plane's first maximum, flat (int64, [C, 1…])."""
        import numpy as np

        (x,) = inputs
        flat = x.reshape(*x.shape[:2], -1)
        index = flat.argmax(axis=2)
        y = np.take_along_axis(flat, index[..., None], axis=2)
        shape = (*x.shape[:2], *([1] * (x.ndim - 2)))
        return y.reshape(shape), {"indices": index.astype(np.int64).reshape(shape)}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Each channel's gradient at its maximum (support mode: on every position)."""
        if not need_dx:
            return (None,), {}
        import numpy as np

        from .adjoint import scatter_planes

        shape = (gy.shape[0], *ctx.ins[0])
        if ctx.support:
            return (np.ascontiguousarray(np.broadcast_to(gy, shape)),), {}
        return (scatter_planes(gy, saved["indices"], shape[1:]),), {}

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Maximum over every spatial axis, kept as size 1."""
        (x,) = inputs
        y: Array = x.max(axis=tuple(range(2, x.ndim)), keepdims=True)
        return y

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.AdaptiveMaxPoolNd(1)``."""
        return tc.call(f"nn.AdaptiveMaxPool{tc.rank(self.kind, ins[0])}d", ("output_size", 1))

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("GlobalMaxPool", "ReduceMax")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """GlobalMaxPool; ReduceMax over every spatial axis."""
        return bool(r.global_pool(i, node, cls.kind))


@layer_class
class AdaptiveAvgPool(Layer):
    """Adaptive average pooling to a fixed output size (PyTorch's windows
    ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)``). Work: the exact sum of window sizes, per axis multiplied, times C;
    one divide per output (``full``). RF: the largest window and the mean stride ``n/o``
    (exact when o divides n).
    """

    kind: ClassVar[str] = "adaptive_avgpool"
    doc: ClassVar[str] = "adaptive average pooling to a given output size"
    ARGS: ClassVar[tuple[Arg, ...]] = (Arg("out", "ints+", REQUIRED, "output size per axis"),)
    out: PerAxis

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        rank = spatial_rank(self.kind, shape)
        return (shape[0], *per_axis(self.out, rank, "out"))

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """The input ``x`` (``_adaptive_avg_pool2d_backward`` takes it), except for an output of
        size 1, which PyTorch computes as a ``mean`` keeping nothing (bench/training_types.py:
        6 → 3 and 7 → 7 keep the input, → 1 nothing)."""
        if not need_dx or all(n == 1 for n in out[1:]):
            return ()
        return (Saved("x", ins[0], ACT),)

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """Each output's ``∂y/|window|`` added over its window: the forward's window reads in
        adds + one divide per output (:func:`_spread`)."""
        fwd = self.work(ins, out)
        return _spread(fwd.window, fwd.elementwise, need_dx)

    def work(self, ins: Shapes, out: Shape) -> Work:
        shape = ins[0]
        reads = shape[0]
        for a in range(len(shape) - 1):
            # Σ window sizes = n + o − gcd(n, o), O(1) however large o is
            reads *= adaptive_window_total(shape[1 + a], out[1 + a])
        return Work(window=reads, elementwise=self._divides(out))

    def _divides(self, out: Shape) -> int:
        return prod(out)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        shape = ins[0]
        rank = len(shape) - 1
        o = per_axis(self.out, rank, "out")
        result = []
        for a in range(rank):
            n = shape[1 + a]
            k = adaptive_window_max(n, o[a])  # ⌈(n + o − gcd)/o⌉, O(1)
            axis = rf[a]
            result.append(
                AxisRF(
                    size=axis.size + (k - 1) * axis.jump,
                    jump=axis.jump * Fraction(n, o[a]),
                    start=axis.start + Fraction(k - 1, 2) * axis.jump,
                )
            )
        return tuple(result)

    def refines(self, ins: Shapes) -> bool:
        """Uneven windows (o does not divide n) put outputs off the input's grid."""
        shape = ins[0]
        rank = len(shape) - 1
        o = per_axis(self.out, rank, "out")
        return any(shape[1 + a] % o[a] for a in range(rank))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """PyTorch's adaptive average: output ``i`` averages ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)`` per axis.
        A box average is separable: per axis, window sums from a float64 running sum, divided by
        the window length."""
        import numpy as np

        (x,) = inputs
        rank = x.ndim - 2
        o = per_axis(self.out, rank, "out")
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

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Per axis, each output's gradient over its window length added onto its window
        ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)``."""
        if not need_dx:
            return (None,), {}
        from .adjoint import spread_adaptive

        return (spread_adaptive(gy, ctx.ins[0], True),), {}

    def explain(self, ex: Derivation) -> None:
        ex.channels("C", {"C": ex.shape[0]})
        rank = len(ex.shape) - 1
        names = ex.axis_names(rank)
        axes = ex.each_axis(rank)
        ex.spatial(axes, lambda ax: (ax.label.rstrip("′") + "_out",
                                     {ax.label.rstrip("′") + "_out": ex.oshape[1 + ax.index[0]]}),
                   lambda ax: "the requested output size")
        env: dict[str, Any] = {"C": ex.shape[0]}
        syms = ["C"]
        for a in range(rank):
            n, o = ex.shape[1 + a], ex.oshape[1 + a]
            sym = f"N_{names[a].lower()}"
            env[sym] = adaptive_window_total(n, o)
            syms.append(sym)
        ex.window("*".join(syms), env,
                  "N = sum of PyTorch's window lengths ⌈(i+1)n/o⌉ − ⌊in/o⌋")
        if self._divides(ex.oshape):
            osyms, oenv = ex.out_symbols()
            ex.elementwise("divide", "*".join(osyms), oenv, prod(ex.oshape))

    def explain_rf(self, rx: RFDerivation) -> None:
        shape = rx.shape
        geo = []
        for a in range(rx.rank):
            n, o = shape[1 + a], rx.oshape[1 + a]
            geo.append((adaptive_window_max(n, o), n, o))
        for ax in rx.axes(geo):
            a, x = ax.index[0], ax.sub
            k, n, o = geo[a]
            env: dict[str, int | Fraction] = {f"K{x}": k, f"n{x}": n, f"o{x}": o}
            rx.emit(ax, f"r_prev{x} + (K{x} - 1)*j_prev{x}", f"j_prev{x}*n{x}/o{x}",
                    f"start_prev{x} + (K{x} - 1)/2*j_prev{x}", env,
                    "K = largest window, mean stride n/o")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.AdaptiveAvgPoolNd(output_size)``."""
        return tc.call(f"nn.AdaptiveAvgPool{tc.rank(self.kind, ins[0])}d",
                       ("output_size", tc.squeeze(tuple(out[1:]))))

    ONNX: ClassVar[tuple[str, ...]] = ()
    ONNX_NONE: ClassVar[str] = (
        "ONNX has no adaptive pool: PyTorch writes an evenly dividing one as AveragePool "
        "(imported as avgpool) and refuses the others")


@layer_class
class AdaptiveMaxPool(AdaptiveAvgPool):
    """Adaptive max pooling to a fixed output size: :class:`AdaptiveAvgPool`'s windows
    ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)``, shape, window reads and field, without the divides."""

    kind: ClassVar[str] = "adaptive_maxpool"
    doc: ClassVar[str] = "adaptive max pooling to a given output size"

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """The input and the int64 argmax of each output (:func:`_argmax_saves`)."""
        return _argmax_saves(ins, out, need_dx)

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """One add per output at its argmax (:func:`_scatter`)."""
        return _scatter(out, need_dx)

    def _divides(self, out: Shape) -> int:
        return 0

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """PyTorch's adaptive max: output ``i`` is the maximum of ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)``
        per axis; a box maximum is separable (axis by axis)."""
        import numpy as np

        (x,) = inputs
        rank = x.ndim - 2
        o = per_axis(self.out, rank, "out")
        cur: Array = x
        for a in range(rank):
            axis, n = 2 + a, cur.shape[2 + a]
            parts = [cur.take(range((i * n) // o[a], -(-((i + 1) * n) // o[a])), axis=axis)
                     .max(axis=axis, keepdims=True) for i in range(o[a])]
            cur = np.concatenate(parts, axis=axis)
        return cur

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The output and ``indices``: the flat position in the input plane of each window's
        first maximum (row-major window order, as PyTorch), int64, the output's shape."""
        import numpy as np

        from .adjoint import adaptive_bounds

        (x,) = inputs
        rank = x.ndim - 2
        n = x.shape[2:]
        o = per_axis(self.out, rank, "out")
        bounds = [adaptive_bounds(n[a], o[a]) for a in range(rank)]
        y = np.empty((*x.shape[:2], *o), x.dtype)
        index = np.empty(y.shape, np.int64)
        for pos in np.ndindex(*o):
            box = tuple(slice(int(bounds[a][0][pos[a]]), int(bounds[a][1][pos[a]]))
                        for a in range(rank))
            part = x[(slice(None), slice(None), *box)]
            flat = part.reshape(*x.shape[:2], -1)
            best = flat.argmax(axis=2)
            at: tuple[Any, ...] = (slice(None), slice(None), *pos)
            y[at] = np.take_along_axis(flat, best[..., None], axis=2)[..., 0]
            local = np.unravel_index(best, part.shape[2:])
            flat_at = np.zeros(best.shape, np.int64)
            for a in range(rank):
                flat_at = flat_at * n[a] + box[a].start + local[a]
            index[at] = flat_at
        return y, {"indices": index}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Each output's gradient at its maximum's kept index (support mode: onto every
        element of its window)."""
        if not need_dx:
            return (None,), {}
        from .adjoint import scatter_planes, spread_adaptive

        shape = ctx.ins[0]
        if ctx.support:
            return (spread_adaptive(gy, shape, False),), {}
        return (scatter_planes(gy, saved["indices"], shape),), {}

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.AdaptiveMaxPoolNd(output_size)``."""
        return tc.call(f"nn.AdaptiveMaxPool{tc.rank(self.kind, ins[0])}d",
                       ("output_size", tc.squeeze(tuple(out[1:]))))

    ONNX: ClassVar[tuple[str, ...]] = ()
    ONNX_NONE: ClassVar[str] = (
        "ONNX has no adaptive pool: PyTorch writes an evenly dividing one as MaxPool (imported "
        "as maxpool)")


@layer_class
class Maxout(Layer):
    """Maxout over channels (Goodfellow et al. 2013, arXiv:1302.4389): each output channel is
    the maximum of ``pieces`` consecutive input channels, ``[C, n…] → [C/pieces, n…]``. The
    linear pieces are the conv or fc before it, with ``pieces`` times the outputs. Work: every
    output reads its ``pieces`` inputs — ``C·∏n`` window reads, as a pool. RF: unchanged."""

    kind: ClassVar[str] = "maxout"
    doc: ClassVar[str] = "maximum over groups of `pieces` channels (Maxout)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("pieces", "int+", REQUIRED, "linear pieces per unit (channels per group)"),
    )
    pieces: int

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        if shape[0] % self.pieces:
            raise LayerArgError(f"pieces={self.pieces} must divide the channels ({shape[0]})",
                                hint="give the layer before it pieces × the units you want")
        return (shape[0] // self.pieces, *shape[1:])

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """The int64 argmax of each output among its pieces: PyTorch's ``max(dim)`` over the
        ``[C/pieces, pieces, …]`` view keeps its indices (and the input's shape, not its
        values)."""
        return (Saved("indices", out, "int64"),) if need_dx else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """One add per output at its argmax (:func:`_scatter`)."""
        return _scatter(out, need_dx)

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(window=prod(out) * self.pieces)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return rfs[0]

    def refines(self, ins: Shapes) -> bool:
        return False

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``max_j x[c·pieces + j]`` over ``j < pieces`` (groups of consecutive channels)."""
        (x,) = inputs
        b, c = x.shape[:2]
        y: Array = x.reshape(b, c // self.pieces, self.pieces, *x.shape[2:]).max(axis=2)
        return y

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The output and ``indices``: which piece (0 … pieces − 1) holds each maximum (int64,
        the output's shape), as PyTorch's ``max(dim)`` keeps them."""
        import numpy as np

        (x,) = inputs
        b, c = x.shape[:2]
        split = x.reshape(b, c // self.pieces, self.pieces, *x.shape[2:])
        index = split.argmax(axis=2)
        y = np.take_along_axis(split, index[:, :, None], axis=2)[:, :, 0]
        return y, {"indices": index.astype(np.int64)}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Each output's gradient to the piece that held its maximum (support mode: to every
        piece)."""
        if not need_dx:
            return (None,), {}
        import numpy as np

        b, c = gy.shape[0], ctx.ins[0][0]
        rest = gy.shape[2:]
        if ctx.support:
            spread = np.broadcast_to(gy[:, :, None], (b, c // self.pieces, self.pieces, *rest))
            return (np.ascontiguousarray(spread).reshape(b, c, *rest),), {}
        gx = np.zeros((b, c // self.pieces, self.pieces, *rest), gy.dtype)
        np.put_along_axis(gx, saved["indices"][:, :, None], gy[:, :, None], axis=2)
        return (gx.reshape(b, c, *rest),), {}

    def explain(self, ex: Derivation) -> None:
        ex.channels("C/m", {"C": ex.shape[0], "m": self.pieces},
                    f"the maximum of m = {self.pieces} pieces per unit")
        rank = len(ex.shape) - 1
        if rank:
            axes = ex.axes(ex.shape, [() for _ in range(rank)])
            ex.spatial(axes, lambda ax: (ax.name, {ax.name: ex.shape[1 + ax.index[0]]}))
        ex.shape_checked()
        osyms, oenv = ex.out_symbols()
        ex.window("*".join([*osyms, "m"]), {**oenv, "m": self.pieces},
                  "every output reads its m pieces")

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.unchanged()


# --------------------------------------------------------------------- regions of interest --

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``Maxout`` helper (a reshape and ``amax``; PyTorch has no maxout module)."""
        return tc.call("Maxout", ("pieces", self.pieces), helper="Maxout")

    ONNX: ClassVar[tuple[str, ...]] = ()
    ONNX_NONE: ClassVar[str] = (
        "ONNX has no maxout: exporters write Reshape and ReduceMax")

def region_boxes(regions: int, height: float, width: float) -> Any:
    """The ``regions`` boxes ``(x1, y1, x2, y2)`` in image coordinates the executor pools when a
    spec has no real proposals: a fixed low-discrepancy spread (the golden-ratio family) of
    centres over the image and sizes from 10 % to 70 % of each side, clipped to the image —
    deterministic, so the slow references of the tests pool the same boxes."""
    import numpy as np

    i = np.arange(regions, dtype=np.float64)
    cx = np.mod(0.5 + i * 0.7548776662466927, 1.0) * width
    cy = np.mod(0.5 + i * 0.5698402909980532, 1.0) * height
    bw = (0.1 + 0.6 * np.mod(0.3 + i * 0.6180339887498949, 1.0)) * width
    bh = (0.1 + 0.6 * np.mod(0.7 + i * 0.4142135623730950, 1.0)) * height
    return np.stack([np.clip(cx - bw / 2, 0, width), np.clip(cy - bh / 2, 0, height),
                     np.clip(cx + bw / 2, 0, width), np.clip(cy + bh / 2, 0, height)], axis=1)


def region_rows(boxes: Any, images: int, dtype: Any) -> Any:
    """torchvision's ``rois``: one row ``(image, x1, y1, x2, y2)`` per region of each image
    (rows ``b·R + r``), in ``dtype``."""
    import numpy as np

    image = np.repeat(np.arange(images, dtype=np.float64), len(boxes))[:, None]
    out = np.concatenate([image, np.tile(boxes, (images, 1))], axis=1)
    return out.astype(dtype)


def fpn_levels(boxes: Any, scales: Sequence[float]) -> Any:
    """The level of each box for several feature maps (torchvision's LevelMapper, Lin et al.
    2017 eq. 1): ``k = ⌊4 + log2(√(wh)/224)⌋`` clamped to the maps' levels ``−log2(scale)``,
    as an index into ``scales``."""
    import numpy as np

    k_min, k_max = -math.log2(scales[0]), -math.log2(scales[-1])
    size = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    k = np.floor(4 + np.log2(size / 224 + 1e-6))
    return (np.clip(k, k_min, k_max) - k_min).astype(np.int64)


@layer_class
class RegionPool(Layer):
    """Base of the RoI poolings: feature map(s) ``[C, H, W]`` → ``[C, P_h, P_w]`` for each of
    ``regions`` proposals per image. The output's multiplicity is R (:mod:`archcalc.graph`):
    what follows runs R times. No weights; no fixed receptive field (each region's bins span
    its own box)."""

    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("out", "ints+", REQUIRED, "output size per region (7 in Fast/Faster R-CNN)"),
        Arg("regions", "int+", REQUIRED, "regions (proposals) per image, R"),
        Arg("scale", "float", 1.0, "feature-map pixels per image pixel of the first input "
                                   "(1/16 at VGG-16's conv5); the executor's boxes only"),
    )
    out: PerAxis
    regions: int
    scale: float = 1.0

    def pooled(self, ins: Shapes) -> tuple[int, int]:
        shape = ins[0]
        spatial_rank(self.kind, shape, 2)
        for other in ins[1:]:
            if other[0] != shape[0] or len(other) != 3:
                raise LayerArgError(
                    f"every level must have the channels of the first, {shape[0]}; got "
                    + ", ".join(str(list(s)) for s in ins),
                    hint="pool regions from maps of one channel count (an FPN's P2-P5)")
        if not 0 < self.scale <= 1:
            raise LayerArgError(f"scale {self.scale} must be in (0, 1]: feature pixels per "
                                "image pixel", hint="VGG-16's conv5: scale: 0.0625 (1/16)")
        ph, pw = per_axis(self.out, 2, "out")
        return ph, pw

    def out_shape(self, ins: Shapes) -> Shape:
        return (ins[0][0], *self.pooled(ins))

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def region_count(self) -> int:
        return self.regions

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """None: a region's bins cover its own box, wherever the proposal put it."""
        return None

    def refines(self, ins: Shapes) -> bool:
        return False

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()

    def region_module(self, ins: Shapes, out: Shape, kw: dict[str, Any]) -> TorchLayer:
        """The exported ``RegionPool`` helper: the boxes of :meth:`boxes`, made in torch."""
        h0, w0 = ins[0][1], ins[0][2]
        _, scales = self.boxes(ins)
        return tc.call("RegionPool", ("op", self.kind), ("output_size", tuple(out[1:])),
                       ("regions", self.regions),
                       ("image_size", (h0 / self.scale, w0 / self.scale)),
                       ("scales", tuple(float(v) for v in scales)), **kw, helper="RegionPool")

    def boxes(self, ins: Shapes) -> tuple[Any, list[float]]:
        """The executor's boxes (:func:`region_boxes`, in the image the first map's ``scale``
        implies) and each input's scale (``2^round(log2(scale·H_l/H_0))``, as torchvision
        infers an FPN level's)."""
        h0, w0 = ins[0][1], ins[0][2]
        boxes = region_boxes(self.regions, h0 / self.scale, w0 / self.scale)
        scales = [self.scale] + [2.0 ** round(math.log2(self.scale * s[1] / h0))
                                 for s in ins[1:]]
        return boxes, scales

    def _explain_shape(self, ex: Derivation) -> None:
        ex.channels("C", {"C": ex.shape[0]}, f"R = {self.regions:,} regions per image, each "
                    "pooled on its own")
        axes = ex.each_axis(2)
        out = self.pooled(ex.ins)
        ex.spatial(axes, lambda ax: (f"P_{ax.name.lower()}",
                                     {f"P_{ax.name.lower()}": out[ax.index[0]]}),
                   lambda ax: "the fixed output size of every region")


@layer_class
class RoIPool(RegionPool):
    """RoI max pooling (Fast R-CNN, Girshick 2015, arXiv:1504.08083; torchvision's
    ``roi_pool``): each of R proposals is cut into P×P bins of its box, rounded to feature
    pixels, and each bin keeps its maximum. Window reads per bin depend on the box; archcalc
    counts a region as large as the feature map, ``⌈H/P_h⌉·⌈W/P_w⌉`` reads per bin — an upper
    bound: ``C·P_h·P_w·⌈H/P_h⌉·⌈W/P_w⌉`` per region."""

    kind: ClassVar[str] = "roi_pool"
    doc: ClassVar[str] = "RoI max pooling of R regions to P x P (Fast/Faster R-CNN)"

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """torchvision's ``roi_pool`` keeps the boxes (``rois``, 5 float32 per region: batch
        index and corners) and the argmax of each bin (int32, the output's shape per region);
        the feature map only by its shape."""
        if not need_dx:
            return ()
        return (Saved("rois", (5,), "float32"), Saved("argmax", out, "int32"))

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """One add per output at its argmax in the feature map (:func:`_scatter`)."""
        return _scatter(out, need_dx)

    def work(self, ins: Shapes, out: Shape) -> Work:
        c, h, w = ins[0]
        ph, pw = out[1:]
        return Work(window=c * ph * pw * -(-h // ph) * -(-w // pw))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """torchvision's roi_pool: box corners rounded to feature pixels (``scale``), the box
        (at least 1×1) cut into bins ``[⌊i·h/P⌋, ⌈(i+1)·h/P⌉)`` from its corner, clipped to the
        map; an empty bin gives 0. Batch rows ``b·R + r``. The corners and bin edges are
        computed as torchvision's kernel computes them, in the map's own precision (``T``:
        float for a float32 map): in float64, ``(29 / 7) · 7`` is ``29.000000000000004``, whose
        ceiling took the last bin one pixel past a 29-pixel box (found by ``verify --against
        torch``'s value check on Faster R-CNN VGG-16)."""
        return self.forward_train(inputs, w, ctx)[0]

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The output, ``rois`` (each region's ``(image, x1, y1, x2, y2)``) and ``argmax``:
        the flat position in its map of each bin's first maximum (row-major), −1 for an empty
        bin (int32, the output's shape), as torchvision's roi_pool keeps them."""
        import numpy as np

        (x,) = inputs
        bsz, c, height, width = x.shape
        ph, pw = self.pooled(tuple(tuple(a.shape[1:]) for a in inputs))
        boxes, _ = self.boxes((tuple(x.shape[1:]),))
        y = np.zeros((bsz, self.regions, c, ph, pw), x.dtype)
        index = np.full(y.shape, -1, np.int64)
        t = x.dtype.type
        scaled = boxes.astype(x.dtype) * t(self.scale)
        low = np.floor(scaled)
        corner = (low + (scaled - low >= 0.5)).astype(np.int64)  # C's round(), x ≥ 0
        for r in range(self.regions):
            x1, y1, x2, y2 = corner[r]
            bin_h, bin_w = t(max(y2 - y1 + 1, 1)) / t(ph), t(max(x2 - x1 + 1, 1)) / t(pw)
            for i in range(ph):
                h0 = min(max(math.floor(t(i) * bin_h) + y1, 0), height)
                h1 = min(max(math.ceil(t(i + 1) * bin_h) + y1, 0), height)
                for j in range(pw):
                    w0 = min(max(math.floor(t(j) * bin_w) + x1, 0), width)
                    w1 = min(max(math.ceil(t(j + 1) * bin_w) + x1, 0), width)
                    if h1 > h0 and w1 > w0:
                        part = x[:, :, h0:h1, w0:w1].reshape(bsz, c, -1)
                        best = part.argmax(axis=2)
                        y[:, r, :, i, j] = np.take_along_axis(part, best[..., None], 2)[..., 0]
                        index[:, r, :, i, j] = (h0 + best // (w1 - w0)) * width + (
                            w0 + best % (w1 - w0))
        return (y.reshape(bsz * self.regions, c, ph, pw),
                {"rois": region_rows(boxes, bsz, x.dtype),
                 "argmax": index.reshape(bsz * self.regions, c, ph, pw).astype(np.int32)})

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Each bin's gradient added at its maximum's kept index in the map of its image
        (summed over the R regions)."""
        import numpy as np

        if ctx.support:
            raise NotImplementedError("roi_pool has no fixed field")
        c, height, width = ctx.ins[0]
        bsz = gy.shape[0] // self.regions
        if not need_dx:
            return (None,), {}
        index = saved["argmax"].astype(np.int64).reshape(bsz, self.regions, c, -1)
        base = ((np.arange(bsz)[:, None, None, None] * c + np.arange(c)[None, None, :, None])
                * (height * width))
        keep = index >= 0
        flat = (index + base)[keep]
        total = np.bincount(flat, weights=gy.reshape(index.shape)[keep],
                            minlength=bsz * c * height * width)
        return (total.astype(gy.dtype).reshape(bsz, c, height, width),), {}

    def explain(self, ex: Derivation) -> None:
        self._explain_shape(ex)
        c, h, w = ex.shape
        ph, pw = ex.oshape[1:]
        ex.window("C*P_h*P_w*ceil(H/P_h)*ceil(W/P_w)",
                  {"C": c, "P_h": ph, "P_w": pw, "H": h, "W": w},
                  "per region: each bin of a region as large as the map (an upper bound)")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``RegionPool`` helper with torchvision's ``roi_pool`` on the executor's fixed
        boxes (a spec has no proposals)."""
        return self.region_module(ins, out, {})

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("MaxRoiPool",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """MaxRoiPool(X, rois) → ``roi_pool`` of as many regions as the rois tensor holds."""
        return bool(r.region_pool(i, node, "roi_pool", {
            "out": r.ints(list(r.attr(node, "pooled_shape"))),
            "scale": round(float(r.attr(node, "spatial_scale", 1.0)), 9)}))


@layer_class
class RoIAlign(RegionPool):
    """RoIAlign (Mask R-CNN, He et al. 2017, arXiv:1703.06870; torchvision's ``roi_align`` and
    ``MultiScaleRoIAlign``): each of R proposals is cut into P×P bins without rounding; each bin
    averages ``sampling_ratio²`` points, each a bilinear interpolation of 4 neighbours. With
    several inputs (an FPN's P2-P5) each region is pooled from the level its size selects
    (``k = ⌊4 + log2(√(wh)/224)⌋``). Per region: window reads ``C·P_h·P_w·g²·4`` (g = the
    sampling ratio); element-wise (``full``) ``C·P_h·P_w·7·g²``: 6 per sample (one lerp,
    3 operations, per axis) and g² per bin for the sum and the divide."""

    kind: ClassVar[str] = "roi_align"
    doc: ClassVar[str] = "RoIAlign of R regions to P x P, bilinear samples (Mask R-CNN, FPN)"
    max_inputs: ClassVar[int | None] = None
    ARGS: ClassVar[tuple[Arg, ...]] = (
        *RegionPool.ARGS,
        Arg("sampling_ratio", "int+", 2, "sample points per bin and axis (torchvision's "
                                         "MultiScaleRoIAlign: 2)"),
        Arg("aligned", "bool", False, "shift boxes by half a pixel (Detectron2's aligned)"),
    )
    sampling_ratio: int = 2
    aligned: bool = False

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """torchvision's ``roi_align`` keeps only the boxes (``rois``, 5 float32 per region) and
        the feature maps' shapes: its backward recomputes the sample positions."""
        return (Saved("rois", (5,), "float32"),) if need_dx else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """Each bin's ``∂y/g²`` (one divide) goes to its g² samples, each to its 4 corners with
        its bilinear weight (a multiply and an add each) after recomputing the weights (6 per
        sample, as the forward): ``C·P_h·P_w·(1 + g²·(8 + 6))`` operations (``full``)."""
        g2 = self.sampling_ratio ** 2
        return (Work(elementwise=prod(out) * (1 + g2 * 14)), Work()) if need_dx else NO_WORK

    def work(self, ins: Shapes, out: Shape) -> Work:
        g2 = self.sampling_ratio ** 2
        return Work(window=prod(out) * g2 * 4, elementwise=prod(out) * 7 * g2)

    def scratch_elements(self, ins: Shapes) -> int:
        """The forward pools its regions in chunks of at most 2²² float64 sums, with one
        corner's values and their weighted product beside them: about 6 float32 elements per
        sum (not per region: the chunks bound it)."""
        ph, pw = self.pooled(ins)
        sums = self.regions * ins[0][0] * ph * pw * self.sampling_ratio ** 2
        return 6 * min(sums, 1 << 22)

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """torchvision's roi_align on each region's level: bins of ``h/P`` (the box at least
        1×1 unless ``aligned``), ``g×g`` samples at ``(i + ½)/g`` of a bin, each bilinear with
        torchvision's border rules (0 beyond one pixel outside, clamped inside); the bin's mean.
        Batch rows ``b·R + r``."""
        import numpy as np

        shapes = tuple(tuple(a.shape[1:]) for a in inputs)
        ph, pw = self.pooled(shapes)
        boxes, scales = self.boxes(shapes)
        level = fpn_levels(boxes, scales) if len(inputs) > 1 else np.zeros(
            self.regions, np.int64)
        bsz, c = inputs[0].shape[:2]
        y = np.zeros((bsz, self.regions, c, ph, pw), inputs[0].dtype)
        g = self.sampling_ratio
        for lv, (feat, sc) in enumerate(zip(inputs, scales, strict=True)):
            picked = np.flatnonzero(level == lv)
            chunk = max(1, (1 << 22) // max(1, c * ph * pw * g * g * bsz))
            for lo in range(0, picked.size, chunk):
                ids = picked[lo:lo + chunk]
                y[:, ids] = _align(feat, boxes[ids] * sc - (0.5 if self.aligned else 0.0),
                                   (ph, pw), g, self.aligned)
        out: Array = y.reshape(bsz * self.regions, c, ph, pw)
        return out

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The output and ``rois``: each region's ``(image, x1, y1, x2, y2)``, as torchvision's
        roi_align keeps them."""
        boxes, _ = self.boxes(tuple(tuple(a.shape[1:]) for a in inputs))
        return (self.forward(inputs, w, ctx),
                {"rois": region_rows(boxes, inputs[0].shape[0], inputs[0].dtype)})

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Each bin's gradient over its ``g²`` samples, each added to its four neighbours with
        the bilinear weights the forward used, on the level its box (the kept ``rois``)
        selects."""
        import numpy as np

        if ctx.support:
            raise NotImplementedError("roi_align has no fixed field")
        shapes = tuple(tuple(sh) for sh in ctx.ins)
        if not need_dx:
            return tuple(None for _ in shapes), {}
        ph, pw = self.pooled(shapes)
        _, scales = self.boxes(shapes)
        boxes = saved["rois"][:self.regions, 1:].astype(np.float64)  # every image's are alike
        level = fpn_levels(boxes, scales) if len(shapes) > 1 else np.zeros(
            self.regions, np.int64)
        bsz = gy.shape[0] // self.regions
        c = shapes[0][0]
        g = self.sampling_ratio
        grads = gy.reshape(bsz, self.regions, c, ph, pw)
        out = []
        for lv, (one, sc) in enumerate(zip(shapes, scales, strict=True)):
            shape = (bsz, *one)
            gx = np.zeros(prod(shape))
            picked = np.flatnonzero(level == lv)
            chunk = max(1, (1 << 22) // max(1, c * ph * pw * g * g * bsz))
            for lo in range(0, picked.size, chunk):
                ids = picked[lo:lo + chunk]
                gx += _align_backward(shape, boxes[ids] * sc - (0.5 if self.aligned else 0.0),
                                      grads[:, ids], g, self.aligned)
            out.append(gx.astype(gy.dtype).reshape(shape))
        return tuple(out), {}

    def explain(self, ex: Derivation) -> None:
        self._explain_shape(ex)
        osyms, oenv = ex.out_symbols()
        env = {**oenv, "g": self.sampling_ratio}
        ex.window("*".join(osyms) + "*g*g*4", env,
                  "per region: g·g samples per bin, each reading 4 neighbours")
        ex.elementwise("sample", "*".join(osyms) + "*7*g*g", env,
                       prod(ex.oshape) * 7 * self.sampling_ratio ** 2)

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``RegionPool`` helper with torchvision's ``roi_align`` on the executor's fixed
        boxes, each from the level its size selects when there are several maps (as
        ``MultiScaleRoIAlign``)."""
        return self.region_module(ins, out, {"sampling_ratio": self.sampling_ratio,
                                             "aligned": self.aligned or None})

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("RoiAlign",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """RoiAlign(X, rois, batch_indices) → ``roi_align`` of as many regions as the rois
        tensor holds (average mode; half_pixel is torchvision's ``aligned``)."""
        mode = r.text_attr(node, "mode", "avg")
        if mode != "avg":
            raise r.error(node, f"RoiAlign mode {mode!r}: archcalc's roi_align averages")
        ratio = int(r.attr(node, "sampling_ratio", 0))
        if ratio <= 0:
            raise r.error(node, "sampling_ratio 0 (adaptive) has no fixed count",
                          "export with a fixed sampling_ratio (torchvision's 2)")
        args: dict[str, Any] = {
            "out": r.ints([int(r.attr(node, "output_height", 1)),
                           int(r.attr(node, "output_width", 1))]),
            "scale": round(float(r.attr(node, "spatial_scale", 1.0)), 9),
            "sampling_ratio": ratio}
        if r.text_attr(node, "coordinate_transformation_mode", "half_pixel") == "half_pixel":
            args["aligned"] = True
        return bool(r.region_pool(i, node, "roi_align", args))


def _align(feat: Array, boxes: Any, pooled: tuple[int, int], g: int, aligned: bool) -> Array:
    """RoIAlign of ``boxes`` (feature coordinates) on ``feat`` ``(B, C, H, W)``:
    ``(B, len(boxes), C, P_h, P_w)``."""
    import numpy as np

    bsz, c, height, width = feat.shape
    ph, pw = pooled
    x1, y1, x2, y2 = boxes.T
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = np.maximum(rw, 1.0), np.maximum(rh, 1.0)
    # sample coordinates (R, P·g) per axis: bin i, sample t at (i + (t + ½)/g)·bin
    frac = (np.arange(ph * g) // g + (np.arange(ph * g) % g + 0.5) / g)
    ys = y1[:, None] + frac[None, :] * (rh / ph)[:, None]
    frac = (np.arange(pw * g) // g + (np.arange(pw * g) % g + 0.5) / g)
    xs = x1[:, None] + frac[None, :] * (rw / pw)[:, None]
    (y_lo, y_hi, ly, y_ok), (x_lo, x_hi, lx, x_ok) = _corners(ys, height), _corners(xs, width)
    total = np.zeros((bsz, len(boxes), c, ph * g, pw * g))
    for yy, wy in ((y_lo, 1 - ly), (y_hi, ly)):
        for xx, wx in ((x_lo, 1 - lx), (x_hi, lx)):
            weight = (wy * y_ok)[:, :, None] * (wx * x_ok)[:, None, :]  # (R, Ph·g, Pw·g)
            vals = feat[:, :, yy[:, :, None], xx[:, None, :]]  # (B, C, R, Ph·g, Pw·g)
            total += vals.transpose(0, 2, 1, 3, 4) * weight[None, :, None]
    pooled_sum = total.reshape(bsz, len(boxes), c, ph, g, pw, g).sum(axis=(4, 6))
    out: Array = (pooled_sum / (g * g)).astype(feat.dtype)
    return out


def _align_backward(shape: Sequence[int], boxes: Any, gy: Array, g: int, aligned: bool) -> Any:
    """The transpose of :func:`_align`: ``gy`` ``(B, len(boxes), C, P_h, P_w)`` onto a flat
    float64 gradient of the map ``shape`` ``(B, C, H, W)``."""
    import numpy as np

    bsz, c, height, width = shape
    ph, pw = gy.shape[3:]
    x1, y1, x2, y2 = boxes.T
    rw, rh = x2 - x1, y2 - y1
    if not aligned:
        rw, rh = np.maximum(rw, 1.0), np.maximum(rh, 1.0)
    frac = (np.arange(ph * g) // g + (np.arange(ph * g) % g + 0.5) / g)
    ys = y1[:, None] + frac[None, :] * (rh / ph)[:, None]
    frac = (np.arange(pw * g) // g + (np.arange(pw * g) % g + 0.5) / g)
    xs = x1[:, None] + frac[None, :] * (rw / pw)[:, None]
    (y_lo, y_hi, ly, y_ok), (x_lo, x_hi, lx, x_ok) = _corners(ys, height), _corners(xs, width)
    # each sample's share of its bin's gradient: (B, R, C, Ph·g, Pw·g)
    share = np.repeat(np.repeat(gy.astype(np.float64) / (g * g), g, axis=3), g, axis=4)
    base = (np.arange(bsz)[:, None, None] * c + np.arange(c)[None, None, :]) * (height * width)
    total = np.zeros(bsz * c * height * width)
    for yy, wy in ((y_lo, 1 - ly), (y_hi, ly)):
        for xx, wx in ((x_lo, 1 - lx), (x_hi, lx)):
            weight = (wy * y_ok)[:, :, None] * (wx * x_ok)[:, None, :]  # (R, Ph·g, Pw·g)
            at = yy[:, :, None] * width + xx[:, None, :]  # (R, Ph·g, Pw·g)
            flat = base[:, :, :, None, None] + at[None, :, None]
            total += np.bincount(flat.ravel(), weights=(share * weight[None, :, None]).ravel(),
                                 minlength=total.size)
    return total


def _corners(v: Any, n: int) -> tuple[Any, Any, Any, Any]:
    """torchvision's bilinear rules on one axis: samples beyond ``[−1, n]`` read 0; others are
    clamped to ≥ 0; the upper neighbour clamped to ``n − 1``. (low, high, weight of high, ok)."""
    import numpy as np

    ok = ((v >= -1.0) & (v <= n)).astype(np.float64)
    v = np.maximum(v, 0.0)
    lo = np.floor(v).astype(np.int64)
    top = lo >= n - 1
    lo = np.where(top, n - 1, lo)
    hi = np.where(top, n - 1, lo + 1)
    frac = np.where(top, 0.0, v - lo)
    return lo, hi, frac, ok


@layer_class
class MaxUnpool(Layer):
    """Max unpooling (SegNet, Badrinarayanan et al. 2017; PyTorch's ``MaxUnpool2d``): each value
    goes back to the position its max pool took it from, the rest are zeros, and the map regains
    the pool's input size. ``indices: POOL`` names the max pool (its argmax positions are a
    second input: they stay alive from the pool to here, counted as a tensor of the pool's
    output size). No weights, no arithmetic. RF: none — where each value lands depends on the
    data (the argmax), the other outputs are zeros whatever the input.
    """

    kind: ClassVar[str] = "max_unpool"
    doc: ClassVar[str] = "max unpooling with the argmax positions of a named max pool (SegNet)"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    REFS: ClassVar[Mapping[str, str]] = {
        "indices": "the max pool whose argmax positions are used (its output's shape)"}
    REF_INPUTS: ClassVar[tuple[str, ...]] = ("indices",)
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("size", "ints+", None, "output spatial size (set from the pool's input)"),
    )
    size: PerAxis | None = None

    @classmethod
    def from_refs(cls, refs: Mapping[str, Ref], given: Mapping[str, Any]) -> dict[str, Any]:
        """The pool named by ``indices:`` gives the output size: its input's."""
        ref = refs["indices"]
        node = ref.node
        if node is None or type(node.op) is not Pool:
            kind = "a network input" if node is None else f"a layer of type {node.type_name}"
            raise LayerArgError(f"`indices: {ref.name}` names {kind}, not a max pool",
                                hint="name the maxpool whose positions the unpooling restores")
        return {"size": list(node.in_shapes[0][1:])}

    def out_shape(self, ins: Shapes) -> Shape:
        x, pooled = ins
        if x != pooled:
            raise LayerArgError(
                f"max_unpool's input {list(x)} must have the shape of the pool's output "
                f"{list(pooled)}", hint="unpool the map that mirrors that pool's output")
        if self.size is None:
            raise LayerArgError("max_unpool needs `indices: POOL`",
                                hint="name the max pool whose positions it restores")
        return (x[0], *per_axis(self.size, len(x) - 1, "size"))

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """The named max pool's int64 argmax, ``x1.indices`` (the private tensor ``indices`` of
        the layer producing input 1 — one storage, counted once with the pool's own)."""
        return (Saved("x1.indices", ins[1], "int64"),) if need_dx else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = ∂y[indices]``: a gather, no arithmetic; the indices get no gradient."""
        return NO_WORK

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work()  # a scatter: each value written once, no arithmetic

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """None: which position of a window holds the value depends on the data (the pool's
        argmax); the others are zeros, whatever the input. No fixed field exists."""
        return None

    def refines(self, ins: Shapes) -> bool:
        return False

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``y.flat[index[c, i]] = x[c, i]`` per sample and channel, zeros elsewhere (PyTorch's
        max_unpool: ``inputs[1]`` holds the pool's flat argmax positions)."""
        import numpy as np

        x, index = inputs
        out = self.out_shape((tuple(x.shape[1:]), tuple(x.shape[1:])))
        b, c = x.shape[:2]
        y = np.zeros((b, c, prod(out[1:])), x.dtype)
        np.put_along_axis(y, index.reshape(b, c, -1), x.reshape(b, c, -1), axis=2)
        return y.reshape(b, c, *out[1:])

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Each value's gradient read back from where it was put: ``∂x[c, i] =
        δ.flat[index[c, i]]`` with the kept positions ``x1`` (the index input has none)."""
        import numpy as np

        if ctx.support:
            raise NotImplementedError("max_unpool has no fixed field")
        if not need_dx:
            return (None, None), {}
        shape = (gy.shape[0], *ctx.ins[0])
        b, c = shape[:2]
        index = saved["x1.indices"].reshape(b, c, -1)
        gx = np.take_along_axis(gy.reshape(b, c, -1), index, axis=2)
        return (gx.reshape(shape), None), {}

    def explain(self, ex: Derivation) -> None:
        ex.channels("C", {"C": ex.shape[0]}, f"the values back where {ex.node.inputs[1]} "
                    "found them")
        rank = len(ex.shape) - 1
        axes = ex.each_axis(rank)
        ex.spatial(axes, lambda ax: (f"{ax.name}_pool",
                                     {f"{ax.name}_pool": ex.oshape[1 + ax.index[0]]}),
                   lambda ax: "the pool's input size")

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``MaxUnpool`` helper: a scatter of each value to its pool's flat argmax
        position (PyTorch's max_unpool for any rank); the exporter writes that pool with
        ``return_indices=True`` and hands its indices here."""
        return tc.call("MaxUnpool", ("size", tuple(out[1:])), helper="MaxUnpool")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("MaxUnpool",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """MaxUnpool(X, I) → ``max_unpool`` with ``indices:`` naming the MaxPool that made I
        (its output size is that pool's input size)."""
        pool = r.producer_node(node.input[1])
        if pool is None or pool.op_type != "MaxPool" or node.input[1] != pool.output[1]:
            raise r.error(node, "its indices do not come from a MaxPool")
        if len(node.input) > 2 and node.input[2]:
            want = [int(v) for v in r.value(node.input[2], node, "output_shape")][2:]
            if want != list(r.shape(r.resolve(pool.input[0]), node)[2:]):
                raise r.error(node, f"output_shape {want} is not its pool's input size")
        r.add(i, node, "max_unpool", {"indices": r.ref(pool.output[0])},
              [r.resolve(node.input[0])])
        return True
