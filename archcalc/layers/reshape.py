"""Shape changes without arithmetic: ``flatten``, ``reshape``, ``zeropad``, ``crop``,
``channel_shuffle``, ``slice``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .. import torch_code as tc
from ..errors import LayerArgError
from ..shapes import RF, Pair, PerAxis, Shape, per_axis, prod, rf_window
from ..torch_code import TorchLayer
from .base import (
    NO_WORK,
    REQUIRED,
    Arg,
    Layer,
    Saved,
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

    Grads = tuple[tuple[Array | None, ...], dict[str, Array]]


class Rearrange(Layer):
    """Base of the layers that only move or drop elements: no weights, no arithmetic, the grid
    kept (a flatten or reshape ends the spatial layout instead)."""

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing: the backward moves ∂y back by the shapes alone (bench/training_types.py:
        flatten, reshape, pad, crop, channel shuffle, slice keep nothing)."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """The inverse move (a pad's crop, a crop's zero pad, the inverse permutation): no
        arithmetic."""
        return NO_WORK

    def refines(self, ins: Shapes) -> bool:
        return False

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool) -> Grads:
        """``g`` moved back where each element came from (:meth:`_unmove`); keeps nothing —
        the input's shape comes from ``ctx.ins``, as autograd keeps sizes, not tensors."""
        if not need_dx:
            return tuple(None for _ in ctx.ins), {}
        return (self._unmove(gy, ctx.ins), *(None for _ in ctx.ins[1:])), {}

    def _unmove(self, gy: Array, ins: Shapes) -> Array:
        """The gradient of the first input: the inverse move of ``gy``."""
        raise NotImplementedError(f"{type(self).__name__} has no backward")


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

    def _unmove(self, gy: Array, ins: Shapes) -> Array:
        """Reshaped back to the input's shape (a view)."""
        return gy.reshape(gy.shape[0], *ins[0])

    def explain(self, ex: Derivation) -> None:
        syms, env = ex.dims(ex.shape, False)
        ex.add("F′", "*".join(syms) if syms else "1", env, ex.oshape[0],
               note="row-major, as torch")
        ex.shape_checked()

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("nn.Flatten")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Flatten", "Reshape", "Squeeze")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Flatten(axis = 1), a Reshape to ``[B, F]``, a Squeeze of ``[B, C, 1, 1]`` →
        ``flatten`` (left out before an fc that reads the ``[C, 1, 1]`` map directly)."""
        x = r.resolve(node.input[0])
        out = r.shape(node.output[0], node)
        if node.op_type == "Flatten":
            if int(r.attr(node, "axis", 1)) != 1:
                raise r.error(node, "only Flatten(axis = 1) keeps the batch axis")
        elif node.op_type == "Squeeze":
            if len(out) != 2:
                raise r.error(node, f"a Squeeze to {list(out)} has no archcalc layer")
        else:
            shape = r.shape(x, node)
            if out[0] != shape[0]:
                raise r.error(node, f"a Reshape of {list(shape)} to {list(out)} moves the "
                              "batch axis")
            if len(out) != 2:
                return False
        r.flatten_or_absorb(i, node, x)
        return True


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

    def _unmove(self, gy: Array, ins: Shapes) -> Array:
        """Reshaped back to the input's shape (a view)."""
        return gy.reshape(gy.shape[0], *ins[0])

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
        """The ``Reshape`` helper with the spec's shape (a −1 stays one: the module fits any
        size, so an RPN head shared by five levels is one module)."""
        return tc.call("Reshape", ("shape", tuple(self.shape)), helper="Reshape")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Reshape",)

    ONNX_ORDER: ClassVar[int] = 1

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Any other Reshape that keeps the batch axis → ``reshape``."""
        x = r.resolve(node.input[0])
        r.add(i, node, "reshape", {"shape": list(r.shape(node.output[0], node)[1:])}, [x])
        return True


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

    def _unmove(self, gy: Array, ins: Shapes) -> Array:
        """The padding cut off again: the gradient of a zero is dropped."""
        import numpy as np

        pads = self.pads(ins[0])
        keep = tuple(slice(lo, gy.shape[2 + a] - hi) for a, (lo, hi) in enumerate(pads))
        return np.ascontiguousarray(gy[(slice(None), slice(None), *keep)])

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

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Pad",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Pad with zeros of the spatial axes → ``zeropad``, or into the padding of the Conv
        that alone reads it."""
        mode = r.text_attr(node, "mode", "constant")
        pads = r.attr(node, "pads")
        if pads is None:
            pads = [int(v) for v in r.value(node.input[1], node, "pads")]
        value = 0.0
        if len(node.input) > 2 and node.input[2]:
            value = float(r.value(node.input[2], node, "the pad value"))
        rank = len(pads) // 2
        if mode != "constant" or value != 0.0 or any(pads[j] or pads[j + rank] for j in (0, 1)) \
                or any(v < 0 for v in pads):
            raise r.error(node, f"Pad({mode}, value {value}, pads {list(pads)}) is no zero "
                          "padding of the spatial axes")
        x = r.resolve(node.input[0])
        spatial = [(int(pads[j]), int(pads[j + rank])) for j in range(2, rank)]
        readers = r.readers(node.output[0])
        if len(readers) == 1 and readers[0].op_type == "Conv" and \
                r.text_attr(readers[0], "auto_pad", "NOTSET") == "NOTSET":
            r.extra_pads[readers[0].output[0]] = [lo for lo, _ in spatial] + [
                hi for _, hi in spatial]
            r.alias[node.output[0]] = x
            return True
        r.add(i, node, "zeropad", {"p": r.pad_arg(spatial)}, [x])
        return True


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

    def gradient_inputs(self, ins: Shapes) -> tuple[bool, ...]:
        """A second input gives only its size: no gradient reaches it."""
        return (True, False) if len(ins) == 2 else (True,)

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

    def _unmove(self, gy: Array, ins: Shapes) -> Array:
        """Zeros of the first input's shape with ``g`` where the kept window was (the cropped
        pixels get no gradient); the second input only gives a size: None."""
        import numpy as np

        cuts = self.cuts(ins)
        gx: Array = np.zeros((gy.shape[0], *ins[0]), gy.dtype)
        keep = tuple(slice(lo, lo + gy.shape[2 + a]) for a, (lo, _) in enumerate(cuts))
        gx[(slice(None), slice(None), *keep)] = gy
        return gx

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

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Slice",)

    ONNX_ORDER: ClassVar[int] = -1

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """A Slice of spatial axes (PyTorch writes ``x[:, :, a:b, c:d]`` as one Slice per
        axis: the chain is one crop) → ``crop`` with margins; a Slice of the channels is a
        ``slice``'s."""
        x = r.resolve(node.input[0])
        shape = r.shape(x, node)
        begin = r.slice_starts(node, shape)
        axes = list(begin)
        steps = [int(v) for v in r.value(node.input[4], node, "steps")] \
            if len(node.input) > 4 and node.input[4] else [1] * len(axes)
        if set(steps) != {1} or 0 in axes:
            raise r.error(node, "a strided Slice or one of the batch axis has no archcalc "
                          "layer")
        if axes == [1]:
            return False
        if 1 in axes:
            raise r.error(node, "a Slice of channels and spatial axes at once has no archcalc "
                          "layer")
        chain = [node]
        while True:
            readers = r.readers(chain[-1].output[0])
            if len(readers) != 1 or readers[0].op_type != "Slice" or \
                    any(v not in r.consts for v in readers[0].input[1:] if v):
                break
            chain.append(readers[0])
            r.claimed.add(r.producer[readers[0].output[0]])
        for later in chain[1:]:
            for ax, start in r.slice_starts(later, shape).items():
                begin[ax] = start
        final = r.shape(chain[-1].output[0], node)
        if any(final[k] != shape[k] for k in (0, 1)):
            raise r.error(node, "a chain of Slices that also cuts the channels has no "
                          "archcalc layer")
        margin = []
        for ax in range(2, len(shape)):
            lo = max(0, min(begin.get(ax, 0), shape[ax]))
            margin.append((lo, shape[ax] - final[ax] - lo))
        r.add(i, node, "crop", {"margin": r.pad_arg(margin)}, [x], chain[-1].output[0])
        return True


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

    def _unmove(self, gy: Array, ins: Shapes) -> Array:
        """The inverse permutation: ``(B, C/g, g, …) → (B, g, C/g, …)`` flattened back."""
        import numpy as np

        b, c = gy.shape[:2]
        split = gy.reshape(b, c // self.groups, self.groups, *gy.shape[2:])
        return np.ascontiguousarray(split.swapaxes(1, 2)).reshape(gy.shape)

    def explain(self, ex: Derivation) -> None:
        ex.same_shape()

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.unchanged()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The ``ChannelShuffle`` helper (torchvision's view-transpose-view;
        ``nn.ChannelShuffle`` does the same but has no ONNX export)."""
        return tc.call("ChannelShuffle", ("groups", self.groups), helper="ChannelShuffle")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Reshape", "Transpose")

    ONNX_ORDER: ClassVar[int] = -1

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """ShuffleNet's Reshape to ``[B, g, C/g, …]``, Transpose 1↔2, Reshape back →
        ``channel_shuffle``; a Transpose outside that pattern is refused."""
        if node.op_type == "Transpose":
            raise r.error(node, "a Transpose has no archcalc layer (outside ShuffleNet's "
                          "channel shuffle: reshape, transpose, reshape)")
        x = r.resolve(node.input[0])
        shape = r.shape(x, node)
        out = r.shape(node.output[0], node)
        readers = r.readers(node.output[0])
        if len(out) != len(shape) + 1 or len(readers) != 1 or readers[0].op_type != "Transpose":
            return False
        t = readers[0]
        perm = list(r.attr(t, "perm"))
        back = r.readers(t.output[0])
        if perm != [0, 2, 1, *range(3, len(out))] or len(back) != 1 or \
                back[0].op_type != "Reshape" or r.shape(back[0].output[0], node) != shape:
            return False
        for n in (t, back[0]):
            r.claimed.add(r.producer[n.output[0]])
        r.add(i, node, "channel_shuffle", {"groups": int(out[1])}, [x], back[0].output[0])
        return True


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

    def _unmove(self, gy: Array, ins: Shapes) -> Array:
        """Zeros of the input's channels with ``g`` in ``[start, stop)``."""
        import numpy as np

        gx: Array = np.zeros((gy.shape[0], *ins[0]), gy.dtype)
        gx[:, self.start:self.stop] = gy
        return gx

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

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Slice", "Split")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Split along the channels → one ``slice`` per output (ShuffleNet v2's channel
        split); a Slice of the channels → ``slice``."""
        x = r.resolve(node.input[0])
        shape = r.shape(x, node)
        if node.op_type == "Slice":
            lo = max(0, min(r.slice_starts(node, shape)[1], shape[1]))
            r.add(i, node, "slice", {"start": lo, "stop": lo + r.shape(node.output[0],
                                                                      node)[1]}, [x])
            return True
        if int(r.attr(node, "axis", 0)) % len(shape) != 1:
            raise r.error(node, "a Split along an axis other than the channels has no archcalc "
                          "layer")
        start = 0
        base = r.module_name(node)
        for k, out in enumerate(node.output):
            c = r.shape(out, node)[1]
            r.add(i, node, "slice", {"start": start, "stop": start + c}, [x], out,
                  name=f"{base}{k}")
            start += c
        return True
