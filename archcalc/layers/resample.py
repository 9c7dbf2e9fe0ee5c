"""Resampling: ``upsample`` (nearest, bilinear), ``pixel_shuffle`` (sub-pixel)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from .. import torch_code as tc
from ..errors import BridgeError, LayerArgError
from ..shapes import RF, AxisRF, PerAxis, Shape, per_axis, prod, rf_upsample
from ..torch_code import TorchLayer
from .base import (
    NO_WORK,
    REQUIRED,
    Arg,
    Layer,
    Ref,
    Saved,
    Shapes,
    Tensor,
    Tensors,
    Work,
    layer_class,
    spatial_rank,
)

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
    REFS: ClassVar[Mapping[str, str]] = {
        "like": "a layer (or input) whose spatial size to take (FPN's top-down path, DeepLab's "
                "image pooling)"}
    scale: PerAxis | None = None
    size: PerAxis | None = None
    mode: str = "nearest"
    align_corners: bool = False

    @classmethod
    def from_refs(cls, refs: Mapping[str, Ref], given: Mapping[str, Any]) -> dict[str, Any]:
        """``like: NAME``: the output size is NAME's spatial size."""
        ref = refs["like"]
        if "scale" in given:
            raise LayerArgError("give either `like:` or `scale:`, not both",
                                hint="`like:` takes the size of the layer it names")
        if len(ref.shape) < 2:
            raise LayerArgError(f"`like: {ref.name}` names a flat tensor {list(ref.shape)}",
                                hint="name a layer with a spatial map")
        return {"size": list(ref.shape[1:])}

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

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing: ``upsample_nearest``/``upsample_bilinear`` backward need only the sizes
        (bench/training_types.py)."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """The transpose of the interpolation: nearest adds each output's ∂y into its source,
        one add per output element; (bi/tri)linear distributes each output's ∂y to its corners
        with the forward's weights, the same multiply-adds as the forward's lerps (``full``)."""
        if not need_dx:
            return NO_WORK
        fwd = self.work(ins, out)
        return Work(elementwise=fwd.elementwise or prod(out)), Work()

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

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Axis by axis in reverse, the transpose of each axis' resize: every output's gradient
        added to the input(s) it read, with its interpolation weight."""
        if not need_dx:
            return (None,), {}
        shape = ctx.ins[0]
        factors = self.factors(shape)
        g = gy
        for a in reversed(range(len(factors))):
            g = _resize_axis_backward(g, 2 + a, shape[1 + a], self.mode, self.align_corners,
                                      factors[a])
        return (g,), {}

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

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.Upsample`` (nearest, or linear/bilinear/trilinear by rank), by the output size
        the engine computed, or by the scale given."""
        n = tc.rank(self.kind, ins[0])
        mode = self.mode
        if mode == "bilinear":
            mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[n]
        scale = None
        if self.scale is not None:
            scale = tc.squeeze(tuple(float(v) for v in per_axis(self.scale, n, "scale")))
        return tc.call("nn.Upsample", size=tc.squeeze(tuple(out[1:])) if scale is None else None,
                       scale_factor=scale, mode=mode,
                       align_corners=self.align_corners if mode != "nearest" else None)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Resize", "Upsample")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Resize/Upsample → ``upsample`` (nearest as PyTorch's: asymmetric + floor; linear:
        half pixel, or align_corners)."""
        x = r.resolve(node.input[0])
        shape = r.shape(x, node)
        out = r.shape(node.output[0], node)
        mode = r.text_attr(node, "mode", "nearest")
        ctm = r.text_attr(node, "coordinate_transformation_mode", "half_pixel")
        args: dict[str, Any] = {}
        if mode == "nearest":
            nm = r.text_attr(node, "nearest_mode", "round_prefer_floor")
            if node.op_type == "Resize" and (ctm != "asymmetric" or nm != "floor"):
                raise r.error(node, f"nearest resize with {ctm}/{nm} is not PyTorch's nearest "
                              "(asymmetric, floor)")
        elif mode == "linear":
            if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
                raise r.error(node, f"linear resize with {ctm} has no archcalc upsample")
            args["mode"] = "bilinear"
            if ctm == "align_corners":
                args["align_corners"] = True
        else:
            raise r.error(node, f"a {mode} resize has no archcalc upsample")
        ratios = [out[a] / shape[a] for a in range(2, len(shape))]
        if out[:2] != shape[:2]:
            raise r.error(node, "a resize of the batch or channel axes has no archcalc layer")
        if all(q == int(q) for q in ratios):
            r.add(i, node, "upsample", {"scale": r.ints([int(q) for q in ratios]), **args}, [x])
        else:
            r.add(i, node, "upsample", {"size": r.ints(out[2:]), **args}, [x])
        return True


@layer_class
class PixelShuffle(Layer):
    """ESPCN's sub-pixel upsampling (Shi et al. 2016): ``[C·r², H, W] → [C, H·r, W·r]``,
    output ``(c, h·r + i, w·r + j)`` = input ``(c·r² + i·r + j, h, w)`` — PyTorch's
    ``PixelShuffle`` order; 1D and 3D inputs the same row-major way (``C·r^d`` channels). No
    weights, no arithmetic (a permutation). RF: each output copies one input position, so the
    grid is refined by r as nearest upsampling refines it.
    """

    kind: ClassVar[str] = "pixel_shuffle"
    doc: ClassVar[str] = "sub-pixel upsampling [C·r², H, W] → [C, H·r, W·r] (ESPCN)"
    ARGS: ClassVar[tuple[Arg, ...]] = (Arg("r", "int+", REQUIRED, "upscale factor"),)
    r: int

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        rank = spatial_rank(self.kind, shape)
        block = self.r ** rank
        if shape[0] % block:
            raise LayerArgError(
                f"pixel_shuffle with r={self.r} needs channels divisible by r^{rank} = {block}, "
                f"got {shape[0]}",
                hint=f"give the layer before C·{block} channels (e.g. a conv with out: C·{block})",
            )
        return (shape[0] // block, *(n * self.r for n in shape[1:]))

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing: a permutation of elements."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """The inverse permutation (pixel unshuffle): no arithmetic."""
        return NO_WORK

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work()

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        return tuple(rf_upsample(axis, self.r, centred=True) for axis in rf)

    def refines(self, ins: Shapes) -> bool:
        return self.r > 1

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``(B, C·r^d, n…) → (B, C, r…, n…)``, each offset axis moved after its spatial axis,
        then merged with it: ``(B, C, n₁·r, n₂·r, …)``."""
        import numpy as np

        (x,) = inputs
        b, n = x.shape[0], x.shape[2:]
        d, r = len(n), self.r
        split = x.reshape(b, x.shape[1] // r ** d, *([r] * d), *n)
        order = (0, 1, *(i for a in range(d) for i in (2 + d + a, 2 + a)))
        y: Array = np.ascontiguousarray(split.transpose(order)).reshape(
            b, x.shape[1] // r ** d, *(v * r for v in n))
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """The forward's permutation undone: ``(B, C, n₁·r, …) → (B, C·r^d, n…)``."""
        if not need_dx:
            return (None,), {}
        import numpy as np

        b = gy.shape[0]
        shape = (b, *ctx.ins[0])
        n = shape[2:]
        d, r = len(n), self.r
        split = gy.reshape(b, gy.shape[1], *(v for a in range(d) for v in (n[a], r)))
        # axes (B, C, n₁, r₁, n₂, r₂, …) → (B, C, r₁, r₂, …, n₁, n₂, …)
        order = (0, 1, *(3 + 2 * a for a in range(d)), *(2 + 2 * a for a in range(d)))
        gx: Array = np.ascontiguousarray(split.transpose(order)).reshape(shape)
        return (gx,), {}

    def explain(self, ex: Derivation) -> None:
        rank = len(ex.shape) - 1
        ex.channels("C/r" if rank == 1 else "C/(" + "*".join(["r"] * rank) + ")",
                    {"C": ex.shape[0], "r": self.r},
                    f"r^{rank} channels become one channel of an r-times finer grid")
        axes = ex.axes(ex.shape, [() for _ in range(rank)])
        ex.spatial(axes, lambda ax: (f"{ax.name}*r", {ax.name: ex.shape[1 + ax.index[0]],
                                                       "r": self.r}))

    def explain_rf(self, rx: RFDerivation) -> None:
        for ax in rx.axes([() for _ in range(rx.rank)]):
            x = ax.sub
            rx.emit(ax, f"r_prev{x}", f"j_prev{x}/f", f"start_prev{x} + (1/f - 1)/2*j_prev{x}",
                    {"f": self.r}, "each output copies one input position: the grid is refined "
                    "by f = r")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        if len(ins[0]) != 3:
            raise BridgeError(f"pixel_shuffle on the {len(ins[0]) - 1}D input {list(ins[0])}: "
                              "nn.PixelShuffle is 2D only")
        return tc.call("nn.PixelShuffle", ("upscale_factor", self.r))

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("DepthToSpace",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """DepthToSpace in CRD mode (PyTorch's pixel_shuffle) → ``pixel_shuffle``."""
        if r.text_attr(node, "mode", "DCR") != "CRD":
            raise r.error(node, "DepthToSpace in DCR mode is not PyTorch's pixel_shuffle "
                          "(CRD)")
        r.add(i, node, "pixel_shuffle", {"r": int(r.attr(node, "blocksize"))})
        return True


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
    i0, i1, frac = _linear_sources(n, out, align, scale)
    lam = frac.astype(x.dtype).reshape([-1 if b == axis else 1 for b in range(x.ndim)])
    a, b = x.take(i0, axis=axis), x.take(i1, axis=axis)
    lerp: Array = a + lam * (b - a)
    return lerp


def _linear_sources(n: int, out: int, align: bool, scale: Fraction) -> tuple[Any, Any, Any]:
    """PyTorch's linear resize of one axis: for each output, the two inputs it reads and the
    weight of the second — ``src = dst·(n − 1)/(out − 1)`` (align_corners) or
    ``max((dst + ½)/scale − ½, 0)``, inputs ``⌊src⌋`` and ``min(⌊src⌋ + 1, n − 1)``."""
    import numpy as np

    dst = np.arange(out)
    if align:
        src = dst * ((n - 1) / (out - 1)) if out > 1 else np.zeros(out)
    else:
        src = np.maximum((dst + 0.5) / float(scale) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    return i0, np.minimum(i0 + 1, n - 1), src - i0


def _resize_axis_backward(g: Array, axis: int, n: int, mode: str, align: bool,
                          scale: Fraction) -> Array:
    """The transpose of :func:`_resize_axis`: the ``n × out`` matrix of its weights (1 for the
    input a nearest output copies; ``1 − λ`` and ``λ`` for the two a linear one reads) applied
    to the gradient along ``axis``."""
    import numpy as np

    out = g.shape[axis]
    dst = np.arange(out)
    weights = np.zeros((n, out))
    if mode == "nearest":
        weights[np.minimum((dst * n) // out, n - 1), dst] = 1.0
    else:
        i0, i1, lam = _linear_sources(n, out, align, scale)
        np.add.at(weights, (i0, dst), 1.0 - lam)
        np.add.at(weights, (i1, dst), lam)
    moved = np.moveaxis(g, axis, -1)
    back = np.tensordot(moved, weights.astype(g.dtype).T, axes=([moved.ndim - 1], [0]))
    result: Array = np.ascontiguousarray(np.moveaxis(back, -1, axis))
    return result
