"""Resampling: ``upsample`` (nearest, bilinear)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import LayerArgError
from ..shapes import RF, AxisRF, PerAxis, Shape, per_axis, prod, rf_upsample
from .base import Arg, Layer, Shapes, Tensor, Tensors, Work, layer_class, spatial_rank

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from .arrays import Array


@layer_class
class Upsample(Layer):
    """Resize by an integer ``scale`` or to a ``size``. ``nearest``: each output copies one input
    (no arithmetic). ``bilinear``: each output interpolates 2 inputs per axis: per axis one lerp
    ``a + t·(b − a)`` = 3 operations, ``3·rank`` per output element (``full``). RF: the grid is
    refined by the scale; bilinear widens the field by one input pixel per axis.
    """

    kind: ClassVar[str] = "upsample"
    doc: ClassVar[str] = "nearest or bilinear upsampling by a scale or to a size"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("scale", "ints+", None, "integer scale factor per axis"),
        Arg("size", "ints+", None, "output spatial size"),
        Arg("mode", "choice:nearest|bilinear", "nearest", "interpolation"),
        Arg("align_corners", "bool", False, "bilinear corner alignment (executor)"),
    )
    ARG_HINTS: ClassVar[Mapping[str, str]] = {
        "scale": "scale is a whole factor; for a non-integer resize give the output size "
        "instead, e.g. size: [12, 12]",
    }
    scale: PerAxis | None = None
    size: PerAxis | None = None
    mode: str = "nearest"
    align_corners: bool = False

    def factors(self, shape: Shape) -> tuple[Fraction, ...]:
        """Output size over input size, per spatial axis."""
        rank = spatial_rank(self.kind, shape)
        if (self.scale is None) == (self.size is None):
            raise LayerArgError("upsample needs exactly one of scale or size",
                                hint="write `scale: 2` or `size: [H, W]`")
        if self.scale is not None:
            return tuple(Fraction(f) for f in per_axis(self.scale, rank, "scale"))
        size = per_axis(self.size, rank, "size")  # type: ignore[arg-type]
        return tuple(Fraction(size[a], shape[1 + a]) for a in range(rank))

    def out_shape(self, ins: Shapes) -> Shape:
        shape = ins[0]
        f = self.factors(shape)
        return (shape[0], *(int(shape[1 + a] * f[a]) for a in range(len(f))))

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        if self.mode == "nearest":
            return Work()
        return Work(elementwise=3 * (len(out) - 1) * prod(out))

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        result = []
        for a, f in enumerate(self.factors(ins[0])):
            axis = rf[a]
            if f.denominator != 1:
                # a non-integer resize: the mean spacing n/o, field widened by one pixel
                fine = AxisRF(axis.size + axis.jump, axis.jump / f, axis.start)
            else:
                fine = rf_upsample(axis, f.numerator, centred=True)
                if self.mode == "bilinear":
                    fine = AxisRF(fine.size + axis.jump, fine.jump, fine.start)
            result.append(fine)
        return tuple(result)

    def refines(self, ins: Shapes) -> bool:
        return any(f != 1 for f in self.factors(ins[0]))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Nearest or (bi/tri)linear resize by a scale or to a size, axis by axis (separable)."""
        (x,) = inputs
        factors = self.factors(x.shape[1:])
        y = x
        for a, f in enumerate(factors):
            size = int(x.shape[2 + a] * f)
            y = _resize_axis(y, 2 + a, size, self.mode, self.align_corners, f)
        return y if y is not x else x.copy()

    def explain(self, ex: Derivation) -> None:
        factors = self.factors(ex.shape)
        ex.channels("C", {"C": ex.shape[0]})
        axes = ex.axes(ex.shape, [(factors[a],) for a in range(len(factors))])

        def line(ax: Any) -> tuple[str, dict[str, Any]]:
            f = factors[ax.index[0]]
            x = ax.sub
            if f.denominator == 1:
                return f"{ax.name}*f{x}", {ax.name: ex.shape[1 + ax.index[0]],
                                           f"f{x}": f.numerator}
            return f"{ax.name}_out", {f"{ax.name}_out": ex.oshape[1 + ax.index[0]]}

        ex.spatial(axes, line)
        if self.mode == "bilinear":
            osyms, oenv = ex.out_symbols()
            rank = len(ex.oshape) - 1
            ex.elementwise("interpolation", f"3*{rank}*" + "*".join(osyms), oenv,
                           3 * rank * prod(ex.oshape))

    def explain_rf(self, rx: RFDerivation) -> None:
        factors = self.factors(rx.shape)
        for ax in rx.axes([(f,) for f in factors]):
            a, x = ax.index[0], ax.sub
            f = factors[a]
            if f.denominator != 1:
                env: dict[str, int | Fraction] = {f"n{x}": rx.shape[1 + a],
                                                  f"o{x}": rx.oshape[1 + a]}
                rx.emit(ax, f"r_prev{x} + j_prev{x}", f"j_prev{x}*n{x}/o{x}",
                        f"start_prev{x}", env, "non-integer resize: mean spacing n/o")
                continue
            env = {f"f{x}": f.numerator}
            r = f"r_prev{x} + j_prev{x}" if self.mode == "bilinear" else f"r_prev{x}"
            rx.emit(ax, r, f"j_prev{x}/f{x}", f"start_prev{x} + (1/f{x} - 1)/2*j_prev{x}",
                    env, "the grid is refined by f" + (
                        "; bilinear reads one more input pixel" if self.mode == "bilinear"
                        else ""))


def _resize_axis(x: Array, axis: int, out: int, mode: str, align: bool,
                 scale: Fraction) -> Array:
    """Resize one axis as PyTorch's ``interpolate``: nearest reads ``⌊dst·n/out⌋``; linear reads
    ``src = dst·(n − 1)/(out − 1)`` (align_corners) or ``max((dst + ½)/scale − ½, 0)``, then
    lerps ``x[⌊src⌋]`` and ``x[min(⌊src⌋ + 1, n − 1)]``."""
    import numpy as np

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
