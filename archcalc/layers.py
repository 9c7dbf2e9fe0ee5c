"""Layer types: one immutable dataclass each, holding every rule of that type in one place.

Each type defines

* ``out_shape(ins)``   — the shape rule (channel-first, no batch),
* ``params(ins)`` / ``buffers(ins)`` — the weight tensors it owns, as name → shape; the parameter
  count is derived from these and the NumPy executor allocates exactly these tensors,
* ``work(ins, out)``   — the arithmetic it performs (:class:`Work`), from which the MAC and FLOP
  columns are computed under a named convention,
* ``rf(ins, rfs)``     — its receptive-field geometry.

Its NumPy forward lives in :mod:`archcalc.execute` under the same type (the obvious pair); a test
fails if any type lacks one. Arguments arrive already typed (see :data:`Arg` kinds); these classes
raise :class:`LayerArgError`, to which the graph builder adds the layer name and location.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from fractions import Fraction
from typing import Any, ClassVar

from .errors import LayerArgError
from .shapes import (
    RF,
    AxisRF,
    Pair,
    PerAxis,
    Shape,
    adaptive_window_max,
    adaptive_window_total,
    conv_out,
    deconv_out,
    effective_kernel,
    per_axis,
    pool_out,
    prod,
    rf_merge,
    rf_upsample,
    rf_window,
    same_padding,
)

Shapes = tuple[Shape, ...]
Weights = dict[str, Shape]


@dataclass(frozen=True)
class Work:
    """Arithmetic a layer performs for one sample.

    * ``macs``: multiply-accumulates of convolutions and matrix products (one multiply + one add).
    * ``window``: elements read by pooling windows, C·H'·W'·K·K (the lectures' pooling "flop").
    * ``elementwise``: other arithmetic — bias adds, normalisation, activations, merges — in
      operations per element as each type's docstring states; only the ``full`` convention
      counts it.
    """

    macs: int = 0
    window: int = 0
    elementwise: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(
            self.macs + other.macs,
            self.window + other.window,
            self.elementwise + other.elementwise,
        )


REQUIRED: Any = object()


@dataclass(frozen=True)
class Arg:
    """One argument of a layer type: name, kind (see :func:`archcalc.args.coerce`), default, doc."""

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""


def _spatial_rank(layer: str, shape: Shape, dims: int | None = None) -> int:
    rank = len(shape) - 1
    if rank < 1:
        raise LayerArgError(
            f"{layer} needs a spatial input [C, L], [C, H, W] or [C, D, H, W]; got {list(shape)}",
            hint="a flat vector has no spatial axes; remove the flatten/fc before this layer",
        )
    if dims is not None and rank != dims:
        raise LayerArgError(
            f"{layer} is {dims}D but its input {list(shape)} has {rank} spatial "
            f"ax{'is' if rank == 1 else 'es'}",
            hint=f"use `{layer.rstrip('123d')}` to take the rank from the input",
        )
    return rank


def _resolve_pad(
    p: Any, rank: int, n: tuple[int, ...], k_eff: tuple[int, ...], s: tuple[int, ...]
) -> tuple[Pair, ...]:
    """Padding per axis as (before, after): int, per-axis ints or pairs, ``same``, ``valid``."""
    if p == "valid":
        return ((0, 0),) * rank
    if p == "same":
        return tuple(same_padding(n[a], k_eff[a], s[a]) for a in range(rank))
    if isinstance(p, int):
        return ((p, p),) * rank
    if len(p) != rank:
        raise LayerArgError(
            f"p has {len(p)} values {list(p)} but the input has {rank} spatial axes",
            hint=f"give one value, {rank} values, or {rank} [before, after] pairs",
        )
    return tuple((v, v) if isinstance(v, int) else (v[0], v[1]) for v in p)


class Layer:
    """Base of all layer types. Subclasses are dataclasses whose fields are their ARGS, made
    immutable values (keyword construction, equality, hashing, repr) by the methods below."""

    kind: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    ARGS: ClassVar[tuple[Arg, ...]] = ()
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    #: argument names that are not layer fields but node options (bn/act post-ops)
    POST_ARGS: ClassVar[tuple[str, ...]] = ()
    #: argument name → the fix to suggest when a value of that argument is refused
    ARG_HINTS: ClassVar[Mapping[str, str]] = {}

    def out_shape(self, ins: Shapes) -> Shape:
        raise NotImplementedError

    def params(self, ins: Shapes) -> Weights:
        return {}

    def buffers(self, ins: Shapes) -> Weights:
        return {}

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work()

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """Default geometry: element-wise or merge — the largest field over the inputs."""
        return rf_merge(rfs)

    @property
    def type_name(self) -> str:
        return self.kind

    def describe_args(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name, _ in self._fields()}

    # Construction, immutability, equality, hashing and repr, written once for every layer
    # class. `@dataclass` would generate six functions per class with exec at import: 174 of
    # them for the layer classes, 20 ms of `archcalc table`'s start-up. The dataclass
    # decorator stays (with nothing to generate) so that dataclasses.fields() describes them.
    @classmethod
    def _fields(cls) -> tuple[tuple[str, Any], ...]:
        """(name, default) of each field, in declaration order; computed once per class."""
        found: tuple[tuple[str, Any], ...] | None = cls.__dict__.get("_field_defaults")
        if found is None:
            found = tuple((f.name, f.default) for f in fields(cls))  # type: ignore[arg-type]
            type.__setattr__(cls, "_field_defaults", found)
        return found

    def __init__(self, **kwargs: Any) -> None:
        for name, default in self._fields():
            value = kwargs.pop(name, default)
            if value is MISSING:
                raise TypeError(f"{type(self).__name__}() missing keyword argument {name!r}")
            object.__setattr__(self, name, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{next(iter(kwargs))!r}")

    def __setattr__(self, name: str, value: object) -> None:
        if not name.startswith("_"):  # private memo slots (Conv geometry) are not fields
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name, _ in self._fields())

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Layer)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe_args().items())
        return f"{self.__class__.__qualname__}({args})"


# ------------------------------------------------------------------------------ convolutions --


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Conv(Layer):
    """Convolution, 1D/2D/3D by the input's rank (``conv1d``/``conv2d``/``conv3d`` insist on one).

    Shape: ``[out, ⌊(n + p_lo + p_hi − d(k − 1) − 1)/s⌋ + 1 per axis]``.
    Weights: ``out × in/groups × k…`` (+ ``out`` bias). MACs: each output element costs
    ``(in/groups)·∏k`` multiply-accumulates, so ``out·∏n'·(in/groups)·∏k`` (the slides'
    ``(C_out·H'·W')·(C_in·K·K)``). Bias: one add per output element (``full`` convention).
    With ``connections`` (LeNet-5's C3) output map i sees only the listed input maps: weights
    ``len(conn_i) × ∏k`` + 1 bias each; MACs ``∏n'·Σ_i len(conn_i)·∏k``.
    """

    kind: ClassVar[str] = "conv"
    doc: ClassVar[str] = "convolution (rank from the input: 1D, 2D or 3D)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("out", "int+", REQUIRED, "output channels (filters)"),
        Arg("k", "ints+", REQUIRED, "kernel size, int or per-axis list"),
        Arg("s", "ints+", 1, "stride"),
        Arg("p", "pad", 0, "padding: int, per-axis list, [before, after] pairs, same, valid"),
        Arg("d", "ints+", 1, "dilation"),
        Arg("groups", "int+", 1, "groups (in and out channels must both be divisible)"),
        Arg("bias", "bool", True, "learnable bias per output channel"),
        Arg("connections", "conn", None, "partial connection table: input maps per output map"),
        Arg("dims", "int+", None, "insist on 1, 2 or 3 spatial axes"),
    )
    POST_ARGS: ClassVar[tuple[str, ...]] = ("bn", "act")
    out: int
    k: PerAxis
    s: PerAxis = 1
    p: Any = 0
    d: PerAxis = 1
    groups: int = 1
    bias: bool = True
    connections: tuple[tuple[int, ...], ...] | None = None
    dims: int | None = None

    # -- geometry helpers shared by the subclasses
    def geometry(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        """(k, s, d, k_eff, p_lo, p_hi) per axis for an input ``shape``.

        The shape, params, work and rf rules all need it for the same input; the result for the
        shapes seen is memoised on the instance (not a field: equality and hashing ignore it);
        a shared layer meets few shapes (a DenseNet unit's conv: one per channel count).
        """
        memo: dict[Shape, tuple[tuple[int, ...], ...]] | None = self.__dict__.get(
            "_geometry_memo")
        if memo is None:
            memo = {}
            object.__setattr__(self, "_geometry_memo", memo)
        result = memo.get(shape)
        if result is None:
            result = memo[shape] = self._geometry(shape)
        return result

    def _geometry(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        rank = _spatial_rank(self.kind, shape, self.dims)
        k = per_axis(self.k, rank, "k")
        s = per_axis(self.s, rank, "s")
        d = per_axis(self.d, rank, "d")
        k_eff = tuple(effective_kernel(k[a], d[a]) for a in range(rank))
        pads = _resolve_pad(self.p, rank, shape[1:], k_eff, s)
        return k, s, d, k_eff, tuple(p[0] for p in pads), tuple(p[1] for p in pads)

    def in_channels_per_group(self, cin: int) -> int:
        return cin // self.group_count(cin)

    def group_count(self, cin: int) -> int:
        return self.groups

    def out_channels(self, cin: int) -> int:
        return self.out

    def _check_channels(self, cin: int) -> None:
        g, cout = self.group_count(cin), self.out_channels(cin)
        if cin % g or cout % g:
            raise LayerArgError(
                f"groups={g} must divide both input channels ({cin}) and out ({cout})",
                hint="choose groups among the common divisors of in and out channels",
            )
        if self.connections is not None:
            if len(self.connections) != cout:
                raise LayerArgError(
                    f"connections lists {len(self.connections)} output maps but out={cout}",
                    hint="give one list of input maps per output map",
                )
            if g != 1:
                raise LayerArgError("connections cannot be combined with groups",
                                    hint="remove `groups:`; the table already says which "
                                    "input maps each output sees")
            for i, conn in enumerate(self.connections):
                bad = [c for c in conn if c >= cin]
                if bad or not conn or len(set(conn)) != len(conn):
                    raise LayerArgError(
                        f"connections[{i}] = {list(conn)} must list distinct input maps "
                        f"0..{cin - 1}",
                        hint="input maps are numbered from 0 to channels − 1",
                    )

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        self._check_channels(shape[0])
        k, s, d, _, lo, hi = self.geometry(shape)
        spatial = tuple(
            conv_out(shape[1 + a], k[a], s[a], (lo[a], hi[a]), d[a]) for a in range(len(k))
        )
        return (self.out_channels(shape[0]), *spatial)

    def params(self, ins: Shapes) -> Weights:
        (shape,) = ins
        cin, cout = shape[0], self.out_channels(shape[0])
        k = self.geometry(shape)[0]
        weights: Weights
        if self.connections is not None:
            weights = {f"weight[{i}]": (len(c), *k) for i, c in enumerate(self.connections)}
        else:
            weights = {"weight": (cout, self.in_channels_per_group(cin), *k)}
        if self.bias:
            weights["bias"] = (cout,)
        return weights

    def work(self, ins: Shapes, out: Shape) -> Work:
        (shape,) = ins
        k = self.geometry(shape)[0]
        positions = prod(out[1:])
        if self.connections is not None:
            # each position of output map i: len(conn_i)·∏k multiply-accumulates
            macs = positions * sum(len(c) for c in self.connections) * prod(k)
        else:
            # each output element: (C_in/groups)·∏k multiply-accumulates
            macs = prod(out) * self.in_channels_per_group(shape[0]) * prod(k)
        return Work(macs=macs, elementwise=prod(out) if self.bias else 0)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        _, s, _, k_eff, lo, _ = self.geometry(ins[0])
        if len(rf) == 2:  # images, the common case: no generator per layer
            return (rf_window(rf[0], k_eff[0], s[0], lo[0]),
                    rf_window(rf[1], k_eff[1], s[1], lo[1]))
        return tuple(rf_window(rf[a], k_eff[a], s[a], lo[a]) for a in range(len(rf)))


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class DWConv(Conv):
    """Depthwise convolution: one K×K filter per input channel (groups = C_in).

    ``out`` defaults to C_in (depth multiplier 1); ``out = m·C_in`` gives multiplier m.
    MACs ``out·∏n'·1·∏k`` — the slides' ``D_K·D_K·M·D_F·D_F`` when out = M.
    """

    kind: ClassVar[str] = "dwconv"
    doc: ClassVar[str] = "depthwise convolution (groups = input channels)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("out", "int+", None, "output channels, a multiple of the input's (default: same)"),
        *Conv.ARGS[1:6],
        Arg("bias", "bool", True, "learnable bias per output channel"),
        Arg("dims", "int+", None, "insist on 1, 2 or 3 spatial axes"),
    )
    out: int = 0  # 0: same as the input channels

    def group_count(self, cin: int) -> int:
        return cin

    def out_channels(self, cin: int) -> int:
        return self.out or cin


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class PWConv(Conv):
    """Pointwise (1×1) convolution: a conv with k = 1. MACs ``out·∏n'·in`` (``M·N·D_F·D_F``)."""

    kind: ClassVar[str] = "pwconv"
    doc: ClassVar[str] = "pointwise 1x1 convolution"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Conv.ARGS[0],
        Arg("s", "ints+", 1, "stride"),
        Arg("groups", "int+", 1, "groups"),
        Arg("bias", "bool", True, "learnable bias per output channel"),
        Arg("dims", "int+", None, "insist on 1, 2 or 3 spatial axes"),
    )
    k: PerAxis = 1


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class ConvTranspose(Layer):
    """Transposed convolution (``deconv``).

    Shape: ``(n − 1)·s − 2p + d·(k − 1) + output_padding + 1`` per axis (PyTorch).
    Weights ``in × out/groups × k…`` (+ bias). MACs: every *input* element is multiplied into
    ``(out/groups)·∏k`` outputs: ``in·∏n·(out/groups)·∏k``. RF: zero-insertion by s refines the
    grid (jump/s), then a stride-1 window of k_eff with padding ``k_eff − 1 − p``.
    """

    kind: ClassVar[str] = "deconv"
    doc: ClassVar[str] = "transposed convolution"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("out", "int+", REQUIRED, "output channels"),
        Arg("k", "ints+", REQUIRED, "kernel size"),
        Arg("s", "ints+", 1, "stride (upsampling factor)"),
        Arg("p", "ints0", 0, "padding removed from each side of the full output"),
        Arg("output_padding", "ints0", 0, "extra rows/cols added on one side, < max(s, d)"),
        Arg("d", "ints+", 1, "dilation"),
        Arg("groups", "int+", 1, "groups"),
        Arg("bias", "bool", True, "learnable bias per output channel"),
    )
    POST_ARGS: ClassVar[tuple[str, ...]] = ("bn", "act")
    out: int
    k: PerAxis
    s: PerAxis = 1
    p: PerAxis = 0
    output_padding: PerAxis = 0
    d: PerAxis = 1
    groups: int = 1
    bias: bool = True

    def _geo(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        rank = _spatial_rank(self.kind, shape)
        k, s = per_axis(self.k, rank, "k"), per_axis(self.s, rank, "s")
        p, d = per_axis(self.p, rank, "p"), per_axis(self.d, rank, "d")
        op = per_axis(self.output_padding, rank, "output_padding")
        for a in range(rank):
            if op[a] >= max(s[a], d[a]):
                raise LayerArgError(
                    f"output_padding {op[a]} must be smaller than max(stride, dilation) = "
                    f"{max(s[a], d[a])}",
                    hint="output_padding only picks among the sizes a stride can produce",
                )
        return k, s, p, op, d

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        cin = shape[0]
        if cin % self.groups or self.out % self.groups:
            raise LayerArgError(
                f"groups={self.groups} must divide input channels ({cin}) and out ({self.out})",
                hint="choose groups among the common divisors of in and out channels",
            )
        k, s, p, op, d = self._geo(shape)
        spatial = tuple(
            deconv_out(shape[1 + a], k[a], s[a], p[a], op[a], d[a]) for a in range(len(k))
        )
        return (self.out, *spatial)

    def params(self, ins: Shapes) -> Weights:
        (shape,) = ins
        k = self._geo(shape)[0]
        weights: Weights = {"weight": (shape[0], self.out // self.groups, *k)}
        if self.bias:
            weights["bias"] = (self.out,)
        return weights

    def work(self, ins: Shapes, out: Shape) -> Work:
        (shape,) = ins
        k = self._geo(shape)[0]
        # each input element feeds (C_out/groups)·∏k outputs with one multiply-accumulate each
        macs = prod(shape) * (self.out // self.groups) * prod(k)
        return Work(macs=macs, elementwise=prod(out) if self.bias else 0)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        k, s, p, _, d = self._geo(ins[0])
        result = []
        for a, axis in enumerate(rf):
            k_eff = effective_kernel(k[a], d[a])
            fine = rf_upsample(axis, s[a], centred=False)
            result.append(rf_window(fine, k_eff, 1, k_eff - 1 - p[a]))
        return tuple(result)


# ---------------------------------------------------------------------------------- pooling --


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
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

    def _geo(self, shape: Shape) -> tuple[tuple[int, ...], ...]:
        rank = _spatial_rank(self.kind, shape)
        k = per_axis(self.k, rank, "k")
        s = per_axis(self.s if self.s is not None else self.k, rank, "s")
        p, d = per_axis(self.p, rank, "p"), per_axis(self.d, rank, "d")
        for a in range(rank):
            if 2 * p[a] > k[a]:
                raise LayerArgError(
                    f"padding {p[a]} is more than half the window {k[a]}",
                    hint="pooling padding must be at most k/2 (PyTorch's rule)",
                )
        return k, s, p, d

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        k, s, p, d = self._geo(shape)
        spatial = tuple(
            pool_out(shape[1 + a], k[a], s[a], p[a], d[a], self.ceil_mode) for a in range(len(k))
        )
        return (shape[0], *spatial)

    def work(self, ins: Shapes, out: Shape) -> Work:
        k = self._geo(ins[0])[0]
        # every output element reads its ∏k window
        return Work(window=prod(out) * prod(k))

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        k, s, p, d = self._geo(ins[0])
        return tuple(
            rf_window(rf[a], effective_kernel(k[a], d[a]), s[a], p[a]) for a in range(len(rf))
        )


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
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


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Subsample(Pool):
    """LeNet-5's subsampling (S2, S4): the sum of each K×K window times a trainable coefficient,
    plus a trainable bias, per map (LeCun et al. 1998, §II-B).

    Params: 2 per map (coefficient + bias) — S2: 6·2 = 12, S4: 16·2 = 32. MACs: one
    coefficient multiply per output, ``C·∏n'``; the window sum is ``C·∏n'·∏k`` window reads;
    the bias add is element-wise.
    """

    kind: ClassVar[str] = "subsample"
    doc: ClassVar[str] = "LeNet-5 subsampling: window sum x coefficient + bias per map"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("k", "ints+", 2, "window size"),
        Arg("s", "ints+", None, "stride (default: the window size)"),
    )
    POST_ARGS: ClassVar[tuple[str, ...]] = ("act",)
    k: PerAxis = 2

    def params(self, ins: Shapes) -> Weights:
        c = ins[0][0]
        return {"coefficient": (c,), "bias": (c,)}

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Pool.work(self, ins, out) + Work(macs=prod(out), elementwise=prod(out))


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class GlobalAvgPool(Layer):
    """Global average pooling: ``[C, n…] → [C, 1…]`` (kept as 1×1 like PyTorch's
    ``AdaptiveAvgPool2d(1)``; add ``flatten`` before an ``fc``). Work: ``C·∏n`` window reads
    (a pooling window as large as the map) + C divides (``full``). RF: a window of the whole map.
    """

    kind: ClassVar[str] = "global_avgpool"
    doc: ClassVar[str] = "global average pooling to [C, 1, 1]"

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        rank = _spatial_rank(self.kind, shape)
        return (shape[0], *([1] * rank))

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


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class GlobalMaxPool(GlobalAvgPool):
    """Global max pooling: as :class:`GlobalAvgPool` without the divides."""

    kind: ClassVar[str] = "global_maxpool"
    doc: ClassVar[str] = "global max pooling to [C, 1, 1]"

    def _divides(self, out: Shape) -> int:
        return 0


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
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
        rank = _spatial_rank(self.kind, shape)
        return (shape[0], *per_axis(self.out, rank, "out"))

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


# --------------------------------------------------------------------------- fully connected --


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Linear(Layer):
    """Fully connected layer on a flat ``[F]`` input (a ``[C, 1, 1]`` map counts as ``[C]``,
    so ``global_avgpool`` may feed it directly; a larger map needs ``flatten``).
    Weights ``out × F`` + ``out`` bias
    (the slides' ``C_in × C_out + C_out``). MACs ``F·out``; bias adds ``out`` (``full``)."""

    kind: ClassVar[str] = "fc"
    doc: ClassVar[str] = "fully connected (linear) layer on a flat input"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("out", "int+", REQUIRED, "output features"),
        Arg("bias", "bool", True, "learnable bias"),
    )
    POST_ARGS: ClassVar[tuple[str, ...]] = ("bn", "act")
    out: int
    bias: bool = True

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        if len(shape) != 1 and any(n != 1 for n in shape[1:]):
            raise LayerArgError(
                f"fc expects a flat [features] input but receives the spatial tensor {list(shape)}",
                hint="add `- flatten` before this layer (or a global_avgpool and a flatten)",
            )
        return (self.out,)

    def params(self, ins: Shapes) -> Weights:
        weights: Weights = {"weight": (self.out, ins[0][0])}
        if self.bias:
            weights["bias"] = (self.out,)
        return weights

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(macs=ins[0][0] * self.out, elementwise=self.out if self.bias else 0)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return None


# ---------------------------------------------------------------------------- shape changes --


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Flatten(Layer):
    """``[C, n…] → [C·∏n]`` (row-major, as torch.flatten). No work. RF: none after it."""

    kind: ClassVar[str] = "flatten"
    doc: ClassVar[str] = "flatten to a vector"

    def out_shape(self, ins: Shapes) -> Shape:
        return (prod(ins[0]),)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return None


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Reshape(Layer):
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


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class ZeroPad(Layer):
    """Zero padding: ``n + before + after`` per axis. RF: shifts the start by −before·jump."""

    kind: ClassVar[str] = "zeropad"
    doc: ClassVar[str] = "zero padding"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("p", "pad", REQUIRED, "int, per-axis list or [before, after] pairs"),
    )
    p: Any

    def pads(self, shape: Shape) -> tuple[Pair, ...]:
        rank = _spatial_rank(self.kind, shape)
        if isinstance(self.p, str):
            raise LayerArgError(f"zeropad needs explicit sizes, got {self.p!r}",
                                hint="write p: 1, a per-axis list, or [before, after] pairs")
        return _resolve_pad(self.p, rank, shape[1:], (1,) * rank, (1,) * rank)

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


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Crop(Layer):
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
        shape = ins[0]
        rank = _spatial_rank(self.kind, shape)
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
            return _resolve_pad(self.margin, rank, shape[1:], (1,) * rank, (1,) * rank)
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
        rf = rfs[0]
        if rf is None:
            return None
        cuts = self.cuts(ins)
        return tuple(rf_window(rf[a], 1, 1, -cuts[a][0]) for a in range(len(rf)))


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
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
        rank = _spatial_rank(self.kind, shape)
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


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class ChannelShuffle(Layer):
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


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Slice(Layer):
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


# ------------------------------------------------------------------------------ element-wise --


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Identity(Layer):
    """Passes its input through unchanged: same shape, no weights, no arithmetic."""

    kind: ClassVar[str] = "identity"
    doc: ClassVar[str] = "identity"

    def out_shape(self, ins: Shapes) -> Shape:
        return ins[0]


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Dropout(Identity):
    """Dropout: identity at inference, so no arithmetic is counted."""

    kind: ClassVar[str] = "dropout"
    doc: ClassVar[str] = "dropout (identity at inference)"
    ARGS: ClassVar[tuple[Arg, ...]] = (Arg("p", "prob", 0.5, "drop probability"),)
    p: float = 0.5


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class BatchNorm(Layer):
    """Batch normalisation over channels. Params: γ and β, C each (2C). Buffers: running mean and
    variance, C each (2C; reported apart from params, as torchvision's state dict holds them).
    Work at inference: folded scale and shift, 2 operations per element (``full``)."""

    kind: ClassVar[str] = "bn"
    doc: ClassVar[str] = "batch normalisation"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("affine", "bool", True, "learnable gamma and beta"),
        Arg("eps", "float", 1e-5, "variance epsilon (executor)"),
    )
    affine: bool = True
    eps: float = 1e-5

    def out_shape(self, ins: Shapes) -> Shape:
        return ins[0]

    def params(self, ins: Shapes) -> Weights:
        c = ins[0][0]
        return {"gamma": (c,), "beta": (c,)} if self.affine else {}

    def buffers(self, ins: Shapes) -> Weights:
        c = ins[0][0]
        return {"running_mean": (c,), "running_var": (c,)}

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=2 * prod(out))


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class LayerNorm(Layer):
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

    def out_shape(self, ins: Shapes) -> Shape:
        return ins[0]

    def params(self, ins: Shapes) -> Weights:
        shape = ins[0][:1] if self.over == "channels" else ins[0]
        return {"gamma": shape, "beta": shape}

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=5 * prod(out))


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class LRN(Layer):
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

    def out_shape(self, ins: Shapes) -> Shape:
        return ins[0]

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=(self.size + 4) * prod(out))


#: Activation functions: operations per element counted by the ``full`` convention.
#: relu max(x,0): 1 · relu6 min(max(x,0),6): 2 · leaky_relu max(x, a·x): 2 · sigmoid
#: 1/(1+e^-x): 4 (neg, exp, add, div) · tanh: 4 · hardsigmoid min(max(x/6+½,0),1): 4 ·
#: hardswish x·hardsigmoid(x): 5 · swish/silu x·sigmoid(x): 5 · gelu (erf form
#: ½x(1+erf(x/√2))): 5 · softmax over channels exp, sum, divide: 3.
ACTIVATION_OPS: dict[str, int] = {
    "relu": 1,
    "relu6": 2,
    "leaky_relu": 2,
    "sigmoid": 4,
    "tanh": 4,
    "hardsigmoid": 4,
    "hardswish": 5,
    "swish": 5,
    "silu": 5,
    "gelu": 5,
    "softmax": 3,
}


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Activation(Layer):
    """Element-wise activation (``relu``, ``relu6``, ``leaky_relu``, ``sigmoid``, ``tanh``,
    ``hardsigmoid``, ``hardswish``, ``swish``/``silu``, ``gelu``, ``softmax`` over channels).
    No params; work per :data:`ACTIVATION_OPS` (``full``)."""

    kind: ClassVar[str] = "activation"
    doc: ClassVar[str] = "element-wise activation"
    ARGS: ClassVar[tuple[Arg, ...]] = (Arg("slope", "float", 0.01, "leaky_relu negative slope"),)
    fn: str = "relu"
    slope: float = 0.01

    @property
    def type_name(self) -> str:
        return self.fn

    def out_shape(self, ins: Shapes) -> Shape:
        return ins[0]

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=ACTIVATION_OPS[self.fn] * prod(out))


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Add(Layer):
    """Element-wise sum of ≥ 2 inputs of identical shape (residual connections):
    ``(inputs − 1)`` adds per element (``full``). RF: the largest over the paths."""

    kind: ClassVar[str] = "add"
    doc: ClassVar[str] = "element-wise sum (residual merge)"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    POST_ARGS: ClassVar[tuple[str, ...]] = ("act",)

    def out_shape(self, ins: Shapes) -> Shape:
        for shape in ins[1:]:
            if shape != ins[0]:
                raise LayerArgError(
                    f"add needs equal shapes, got {' + '.join(str(list(s)) for s in ins)}",
                    hint="project the shortcut (1x1 conv with stride) or use shortcut: project",
                )
        return ins[0]

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=(len(ins) - 1) * prod(out))


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Multiply(Layer):
    """Element-wise product of two inputs; a ``[C, 1…]`` or ``[C]`` gate broadcasts over the
    other's positions (squeeze-and-excitation). One multiply per output element (``full``)."""

    kind: ClassVar[str] = "multiply"
    doc: ClassVar[str] = "element-wise product, with channel-gate broadcasting (SE)"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2

    def out_shape(self, ins: Shapes) -> Shape:
        a, b = ins
        if a == b:
            return a
        for big, gate in ((a, b), (b, a)):
            if gate[0] == big[0] and all(v == 1 for v in gate[1:]) and len(gate) <= len(big):
                return big
        raise LayerArgError(
            f"multiply needs equal shapes or a [C, 1, 1] gate, got {list(a)} and {list(b)}",
            hint="a squeeze-and-excitation gate has the channels of the map and size 1",
        )

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=prod(out))

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """A broadcast gate (SE: global pool → 1×1 convs) sees the whole map: the field size is
        the larger of the two, but the output stays on the full-size input's grid (its jump and
        start), not the gate's single position, whose jump would inflate every later layer."""
        a, b = ins
        full, gate = (rfs[0], rfs[1]) if prod(a[1:]) >= prod(b[1:]) else (rfs[1], rfs[0])
        if a == b or full is None or gate is None or len(full) != len(gate):
            return rf_merge(rfs)
        return tuple(AxisRF(max(f.size, g.size), f.jump, f.start)
                     for f, g in zip(full, gate, strict=True))


@dataclass(init=False, repr=False, eq=False, kw_only=True)  # methods: see Layer
class Concat(Layer):
    """Concatenation along channels of inputs with equal spatial size (Inception, DenseNet,
    U-Net). No arithmetic. RF: the largest over the paths."""

    kind: ClassVar[str] = "concat"
    doc: ClassVar[str] = "concatenate along channels"
    max_inputs: ClassVar[int | None] = None

    def out_shape(self, ins: Shapes) -> Shape:
        first = ins[0]
        for shape in ins[1:]:
            if shape[1:] != first[1:]:
                raise LayerArgError(
                    "concat needs equal spatial sizes, got "
                    + ", ".join(str(list(s)) for s in ins),
                    hint="crop the larger input first (U-Net: `crop: {in: [skip, up]}`)"
                    if len(shape) == len(first)
                    else "the inputs have different ranks",
                )
        return (sum(s[0] for s in ins), *first[1:])


# ------------------------------------------------------------------------------- registry --

LayerFactory = Callable[[Mapping[str, Any]], Layer]


def _activation_type(fn: str) -> tuple[type[Layer], dict[str, Any]]:
    return (Activation, {"fn": fn})


#: YAML name → (class, preset fields). Aliases map to the same class.
LAYER_TYPES: dict[str, tuple[type[Layer], dict[str, Any]]] = {
    "conv": (Conv, {}),
    "conv1d": (Conv, {"dims": 1}),
    "conv2d": (Conv, {"dims": 2}),
    "conv3d": (Conv, {"dims": 3}),
    "dwconv": (DWConv, {}),
    "pwconv": (PWConv, {}),
    "deconv": (ConvTranspose, {}),
    "maxpool": (Pool, {}),
    "avgpool": (AvgPool, {}),
    "subsample": (Subsample, {}),
    "global_avgpool": (GlobalAvgPool, {}),
    "global_maxpool": (GlobalMaxPool, {}),
    "adaptive_avgpool": (AdaptiveAvgPool, {}),
    "fc": (Linear, {}),
    "flatten": (Flatten, {}),
    "reshape": (Reshape, {}),
    "zeropad": (ZeroPad, {}),
    "crop": (Crop, {}),
    "upsample": (Upsample, {}),
    "channel_shuffle": (ChannelShuffle, {}),
    "slice": (Slice, {}),
    "identity": (Identity, {}),
    "dropout": (Dropout, {}),
    "bn": (BatchNorm, {}),
    "layernorm": (LayerNorm, {}),
    "lrn": (LRN, {}),
    "add": (Add, {}),
    "multiply": (Multiply, {}),
    "concat": (Concat, {}),
    **{name: _activation_type(name) for name in ACTIVATION_OPS},
}

#: Other spellings accepted for convenience.
ALIASES: dict[str, str] = {
    "linear": "fc",
    "dense": "fc",
    "convtranspose": "deconv",
    "tconv": "deconv",
    "batchnorm": "bn",
    "pad": "zeropad",
    "mul": "multiply",
    "gap": "global_avgpool",
}

#: Every concrete class (the executor and tests iterate these).
LAYER_CLASSES: tuple[type[Layer], ...] = tuple(
    dict.fromkeys(cls for cls, _ in LAYER_TYPES.values())
)


def layer_args(kind: str) -> tuple[Arg, ...]:
    cls, preset = LAYER_TYPES[kind]
    args = tuple(a for a in cls.ARGS if a.name not in preset)
    if cls is Activation and kind != "leaky_relu":
        return ()
    return args


def post_arg_names(kind: str) -> tuple[str, ...]:
    return LAYER_TYPES[kind][0].POST_ARGS


_INSTANCES: dict[tuple[object, ...], Layer] = {}


def make_layer(kind: str, values: Mapping[str, Any]) -> Layer:
    """Instantiate ``kind`` from already-coerced argument values (defaults filled by the class).

    Layers are immutable, so equal arguments share one instance (a network repeats the same conv
    many times): less memory, and the engine's per-layer memo compares them by identity first.
    Argument values are ints, floats, bools, strings and tuples of them — all hashable.
    """
    key = (kind, *values.items())
    found = _INSTANCES.get(key)
    if found is None:
        cls, preset = LAYER_TYPES[kind]
        kwargs = {**preset, **{k: v for k, v in values.items() if v is not None or k in preset}}
        found = cls(**kwargs)
        if len(_INSTANCES) < 100_000:  # bounded: a pathological spec cannot grow it forever
            _INSTANCES[key] = found
    return found
