"""Shape changes without arithmetic: ``flatten``, ``reshape``, ``zeropad``, ``crop``,
``channel_shuffle``, ``slice``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .. import torch_code as tc
from ..errors import LayerArgError
from ..shapes import RF, Pair, PerAxis, Shape, per_axis, prod, rf_window
from ..torch_code import TorchLayer
from .base import (
    REQUIRED,
    Arg,
    Layer,
    Shapes,
    Tensor,
    Tensors,
    Work,
    layer_class,
    resolve_pad,
    spatial_rank,
)

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from .arrays import Array


class Rearrange(Layer):
    """Base of the layers that only move or drop elements: no weights, no arithmetic, the grid
    kept (a flatten or reshape ends the spatial layout instead)."""

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work()

    def refines(self, ins: Shapes) -> bool:
        return False


@layer_class
class Flatten(Rearrange):
    """``[C, n…] → [C·∏n]`` (row-major, as torch.flatten). No work. RF: none after it."""

    kind: ClassVar[str] = "flatten"
    doc: ClassVar[str] = "flatten to a vector"

    def out_shape(self, ins: Shapes) -> Shape:
        return (prod(ins[0]),)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return None

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Row-major ``(B, C·∏n)`` (``torch.flatten(x, 1)``)."""
        (x,) = inputs
        return x.reshape(x.shape[0], -1)

    def explain(self, ex: Derivation) -> None:
        syms, env = ex.dims(ex.shape, False)
        ex.add("F′", "*".join(syms) if syms else "1", env, ex.oshape[0],
               note="row-major, as torch")
        ex.shape_checked()

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("nn.Flatten")


@layer_class
class Reshape(Rearrange):
    """Reshape to ``shape`` (one entry may be −1). No work; the receptive field ends here."""

    kind: ClassVar[str] = "reshape"
    doc: ClassVar[str] = "reshape (one entry may be -1)"
    ARGS: ClassVar[tuple[Arg, ...]] = (Arg("shape", "shape", REQUIRED, "target shape, no batch"),)
    shape: tuple[int, ...]

    def out_shape(self, ins: Shapes) -> Shape:
        total = prod(ins[0])
        known = prod([v for v in self.shape if v != -1])
        if self.shape.count(-1) > 1:
            raise LayerArgError(f"reshape may have at most one -1, got {list(self.shape)}",
                                hint="give every size but one; -1 is inferred")
        if -1 in self.shape:
            if known == 0 or total % known:
                raise LayerArgError(
                    f"cannot reshape {list(ins[0])} ({total} elements) to {list(self.shape)}",
                    hint=f"the known sizes must divide {total}",
                )
            return tuple(total // known if v == -1 else v for v in self.shape)
        if known != total:
            raise LayerArgError(
                f"cannot reshape {list(ins[0])} ({total} elements) to {list(self.shape)} "
                f"({known} elements)",
                hint="use -1 for the entry to infer",
            )
        return self.shape

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return None

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Row-major reshape of each sample."""
        (x,) = inputs
        return x.reshape(x.shape[0], *self.shape)

    def explain(self, ex: Derivation) -> None:
        total = prod(ex.shape)
        known = prod([v for v in self.shape if v != -1])
        for i, v in enumerate(self.shape):
            if v == -1:
                ex.add(f"d{i + 1}′", "N/M", {"N": total, "M": known}, ex.oshape[i],
                       note="−1: N input elements over the product M of the others")
            else:
                ex.add(f"d{i + 1}′", str(v), {}, ex.oshape[i])
        ex.shape_checked()

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("Reshape", ("shape", tuple(out)), helper="Reshape")


@layer_class
class ZeroPad(Rearrange):
    """Zero padding: ``n + before + after`` per axis. RF: shifts the start by −before·jump."""

    kind: ClassVar[str] = "zeropad"
    doc: ClassVar[str] = "zero padding"
    ALIASES: ClassVar[tuple[str, ...]] = ("pad",)
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("p", "pad", REQUIRED, "int, per-axis list or [before, after] pairs"),
    )
    p: Any

    def pads(self, shape: Shape) -> tuple[Pair, ...]:
        """(before, after) per spatial axis."""
        rank = spatial_rank(self.kind, shape)
        if isinstance(self.p, str):
            raise LayerArgError(f"zeropad needs explicit sizes, got {self.p!r}",
                                hint="write p: 1, a per-axis list, or [before, after] pairs")
        return resolve_pad(self.p, rank, shape[1:], (1,) * rank, (1,) * rank)

    def out_shape(self, ins: Shapes) -> Shape:
        shape = ins[0]
        pads = self.pads(shape)
        return (shape[0], *(shape[1 + a] + lo + hi for a, (lo, hi) in enumerate(pads)))

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        pads = self.pads(ins[0])
        return tuple(rf_window(rf[a], 1, 1, pads[a][0]) for a in range(len(rf)))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Zeros before/after each spatial axis."""
        from .arrays import pad

        (x,) = inputs
        pads = self.pads(x.shape[1:])
        return pad(x, [lo for lo, _ in pads], [hi for _, hi in pads], 0.0)

    def explain(self, ex: Derivation) -> None:
        pads = self.pads(ex.shape)
        ex.channels("C", {"C": ex.shape[0]})
        axes = ex.axes(ex.shape, [pads[a] for a in range(len(pads))])

        def line(ax: Any) -> tuple[str, dict[str, Any]]:
            lo, hi = pads[ax.index[0]]
            x = ax.sub
            if lo == hi:
                return f"{ax.name} + 2*P{x}", {ax.name: ex.shape[1 + ax.index[0]], f"P{x}": lo}
            return f"{ax.name} + P_lo{x} + P_hi{x}", {ax.name: ex.shape[1 + ax.index[0]],
                                                      f"P_lo{x}": lo, f"P_hi{x}": hi}

        ex.spatial(axes, line)

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.shift([p[0] for p in self.pads(rx.shape)], "-")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.ConstantPadNd(pairs, 0.0)``."""
        (shape,) = ins
        n = tc.rank(self.kind, shape)
        return tc.constant_pad(tc.pads(self.p, shape, (1,) * n, (1,) * n))


@layer_class
class Crop(Rearrange):
    """Crop spatially: ``margin`` (per side, like padding) removes pixels; ``size`` centre-crops;
    a second input (U-Net's crop-and-copy) centre-crops the first to the second's size, with
    offset ``⌊(n − m)/2⌋`` before. RF: shifts the start by +offset·jump.
    """

    kind: ClassVar[str] = "crop"
    doc: ClassVar[str] = "crop: margins, centre crop to size, or to a second input's size"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("margin", "pad", None, "pixels removed: int, per axis, or [before, after] pairs"),
        Arg("size", "ints+", None, "centre-crop to this spatial size"),
    )
    max_inputs: ClassVar[int | None] = 2
    margin: Any = None
    size: PerAxis | None = None

    def cuts(self, ins: Shapes) -> tuple[Pair, ...]:
        """(before, after) removed per spatial axis of the first input."""
        shape = ins[0]
        rank = spatial_rank(self.kind, shape)
        given = (self.margin is not None) + (self.size is not None) + (len(ins) == 2)
        if given != 1:
            raise LayerArgError(
                "crop needs exactly one of: margin, size, or a second input to match",
                hint="e.g. `crop: {in: [enc4, up4]}` crops enc4 to up4's size",
            )
        if self.margin is not None:
            if isinstance(self.margin, str):
                raise LayerArgError(f"crop margins must be numbers, got {self.margin!r}",
                                    hint="write margin: 1, a per-axis list, or pairs")
            return resolve_pad(self.margin, rank, shape[1:], (1,) * rank, (1,) * rank)
        if self.size is not None:
            target = per_axis(self.size, rank, "size")
        else:
            ref = ins[1]
            if len(ref) != len(shape):
                raise LayerArgError(f"cannot crop {list(shape)} to the rank of {list(ref)}",
                                    hint="the two inputs must have the same number of axes")
            target = ref[1:]
        cuts = []
        for a in range(rank):
            extra = shape[1 + a] - target[a]
            if extra < 0:
                raise LayerArgError(
                    f"cannot crop axis {a} of size {shape[1 + a]} to the larger size {target[a]}",
                    hint="crop the larger tensor to the smaller one (U-Net crops the skip)",
                )
            cuts.append((extra // 2, extra - extra // 2))
        return tuple(cuts)

    def out_shape(self, ins: Shapes) -> Shape:
        shape = ins[0]
        cuts = self.cuts(ins)
        spatial = tuple(shape[1 + a] - lo - hi for a, (lo, hi) in enumerate(cuts))
        if any(n <= 0 for n in spatial):
            raise LayerArgError(f"cropping {list(shape)} by {list(cuts)} leaves nothing",
                                hint="use smaller margins")
        return (shape[0], *spatial)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """The first input's field, its start moved by the cut before (the second input only
        gives the size)."""
        rf = rfs[0]
        if rf is None:
            return None
        cuts = self.cuts(ins)
        return tuple(rf_window(rf[a], 1, 1, -cuts[a][0]) for a in range(len(rf)))

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Remove the layer's cuts (margins, centre crop, or to a second input's size)."""
        import numpy as np

        cuts = self.cuts(tuple(a.shape[1:] for a in inputs))
        x = inputs[0]
        keep = tuple(slice(lo, x.shape[2 + a] - hi) for a, (lo, hi) in enumerate(cuts))
        return np.ascontiguousarray(x[(slice(None), slice(None), *keep)])

    def explain(self, ex: Derivation) -> None:
        cuts = self.cuts(ex.ins)
        ex.channels("C", {"C": ex.shape[0]})
        axes = ex.axes(ex.shape, [cuts[a] for a in range(len(cuts))])

        def line(ax: Any) -> tuple[str, dict[str, Any]]:
            lo, hi = cuts[ax.index[0]]
            x = ax.sub
            return f"{ax.name} - c_lo{x} - c_hi{x}", {ax.name: ex.shape[1 + ax.index[0]],
                                                      f"c_lo{x}": lo, f"c_hi{x}": hi}

        ex.spatial(axes, line, lambda ax: "centre crop: ⌊(n − m)/2⌋ before"
                   if len(ex.ins) == 2 or self.size is not None else "")

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.shift([c[0] for c in self.cuts(rx.ins)], "+")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``Crop`` helper with the cuts the engine computed (U-Net's crop-to-size gives
        only the size: the module for this input size, as every fc is)."""
        return tc.call("Crop", ("cuts", tuple(self.cuts(ins))), helper="Crop")


@layer_class
class ChannelShuffle(Rearrange):
    """ShuffleNet's channel shuffle: reshape to (groups, C/groups), transpose, flatten. No work."""

    kind: ClassVar[str] = "channel_shuffle"
    doc: ClassVar[str] = "channel shuffle (ShuffleNet)"
    ARGS: ClassVar[tuple[Arg, ...]] = (Arg("groups", "int+", REQUIRED, "number of groups"),)
    groups: int

    def out_shape(self, ins: Shapes) -> Shape:
        if ins[0][0] % self.groups:
            raise LayerArgError(f"groups={self.groups} must divide the channels ({ins[0][0]})",
                                hint="choose a divisor of the channel count")
        return ins[0]

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return rfs[0]

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``(B, g, C/g, …) → (B, C/g, g, …)`` flattened back (PyTorch's ``channel_shuffle``)."""
        import numpy as np

        (x,) = inputs
        b, c = x.shape[:2]
        split = x.reshape(b, self.groups, c // self.groups, *x.shape[2:])
        return np.ascontiguousarray(split.swapaxes(1, 2)).reshape(x.shape)

    def explain(self, ex: Derivation) -> None:
        ex.same_shape()

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.unchanged()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``ChannelShuffle`` helper (torchvision's view-transpose-view;
        ``nn.ChannelShuffle`` does the same but has no ONNX export)."""
        return tc.call("ChannelShuffle", ("groups", self.groups), helper="ChannelShuffle")


@layer_class
class Slice(Rearrange):
    """Take channels ``[start, stop)`` (ShuffleNet v2's channel split). No work."""

    kind: ClassVar[str] = "slice"
    doc: ClassVar[str] = "channel slice [start, stop)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("start", "int0", 0, "first channel"),
        Arg("stop", "int+", REQUIRED, "one past the last channel"),
    )
    stop: int
    start: int = 0

    def out_shape(self, ins: Shapes) -> Shape:
        c = ins[0][0]
        if not 0 <= self.start < self.stop <= c:
            raise LayerArgError(f"slice [{self.start}, {self.stop}) is outside channels 0..{c}",
                                hint=f"need 0 <= start < stop <= {c}")
        return (self.stop - self.start, *ins[0][1:])

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return rfs[0]

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Channels ``[start, stop)``."""
        import numpy as np

        (x,) = inputs
        return np.ascontiguousarray(x[:, self.start:self.stop])

    def explain(self, ex: Derivation) -> None:
        ex.channels("stop - start", {"stop": self.stop, "start": self.start})
        rank = len(ex.shape) - 1
        axes = ex.axes(ex.shape, [() for _ in range(rank)])
        ex.spatial(axes, lambda ax: (ax.name, {ax.name: ex.shape[1 + ax.index[0]]}))

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.unchanged()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("ChannelSlice", ("start", self.start), ("stop", self.stop),
                       helper="ChannelSlice")
