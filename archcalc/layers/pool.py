"""Pooling: ``maxpool``, ``avgpool``, ``global_avgpool``, ``global_maxpool``,
``adaptive_avgpool``."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

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
from .base import (
    REQUIRED,
    Arg,
    Layer,
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

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Pool.work(self, ins, out) + Work(elementwise=prod(out))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Average pooling: window sum / divisor, PyTorch's divisor per axis: the window clipped
        to the padded input (``count_include_pad``) or to the input; the product over axes."""
        import numpy as np

        from .arrays import reduce_taps, spatial

        (x,) = inputs
        rank = x.ndim - 2
        win, starts = self._windows(x, 0.0)
        total = reduce_taps(win, rank, np.add)
        k, _, _, _, p, _ = self.window(x.shape[1:])
        n = spatial(x)
        divisor = np.ones((1,) * (rank + 2))
        for a in range(rank):
            lo = starts[a]
            hi = np.minimum(lo + k[a], n[a] + p[a])
            size = hi - lo if self.count_include_pad else (
                np.minimum(hi, n[a]) - np.maximum(lo, 0))
            divisor = divisor * size.reshape((1, 1, *(-1 if b == a else 1 for b in range(rank))))
        total /= divisor.astype(x.dtype)
        return total

    def _explain_more(self, ex: Derivation, osyms: list[str], oenv: dict[str, Any]) -> None:
        ex.elementwise("divide", "*".join(osyms), oenv, prod(ex.oshape))


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


@layer_class
class GlobalMaxPool(GlobalAvgPool):
    """Global max pooling: as :class:`GlobalAvgPool` without the divides."""

    kind: ClassVar[str] = "global_maxpool"
    doc: ClassVar[str] = "global max pooling to [C, 1, 1]"

    def _divides(self, out: Shape) -> int:
        return 0

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Maximum over every spatial axis, kept as size 1."""
        (x,) = inputs
        y: Array = x.max(axis=tuple(range(2, x.ndim)), keepdims=True)
        return y


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

    def work(self, ins: Shapes, out: Shape) -> Work:
        shape = ins[0]
        reads = shape[0]
        for a in range(len(shape) - 1):
            # Σ window sizes = n + o − gcd(n, o), O(1) however large o is
            reads *= adaptive_window_total(shape[1 + a], out[1 + a])
        return Work(window=reads, elementwise=prod(out))

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
