"""Convolutions: ``conv`` (1D/2D/3D), ``dwconv``, ``pwconv``, ``deconv`` (transposed),
``deform_conv`` (deformable, v1 and modulated v2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from .. import torch_code as tc
from ..errors import BridgeError, LayerArgError
from ..shapes import (
    RF,
    PerAxis,
    Shape,
    conv_out,
    deconv_out,
    effective_kernel,
    per_axis,
    prod,
    rf_upsample,
    rf_window,
)
from ..torch_code import TorchLayer
from .base import (
    ACT,
    BIAS,
    REQUIRED,
    WEIGHT,
    Arg,
    Layer,
    Saved,
    Shapes,
    Tensor,
    Tensors,
    Window,
    Work,
    bilinear_backward,
    layer_class,
    resolve_pad,
    spatial_rank,
    uniform_window,
)

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from .arrays import Array


@layer_class
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
    SPELLINGS: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "conv1d": {"dims": 1}, "conv2d": {"dims": 2}, "conv3d": {"dims": 3}}
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

    # -- geometry, shared by every rule and by compare/explain/the executor
    def window(self, shape: Shape) -> Window:
        """Kernel, stride, dilation, effective kernel and padding (before, after) per axis for
        an input ``shape`` (``same`` padding depends on the input size)."""
        rank = spatial_rank(self.kind, shape, self.dims)
        u = uniform_window(self.k, self.s, self.d, self.p)
        if u is not None:
            k, s, d, ke, p = u
            pads = (p,) * rank
            return Window((k,) * rank, (s,) * rank, (d,) * rank, (ke,) * rank, pads, pads)
        k_ = per_axis(self.k, rank, "k")
        s_ = per_axis(self.s, rank, "s")
        d_ = per_axis(self.d, rank, "d")
        k_eff = tuple(effective_kernel(k_[a], d_[a]) for a in range(rank))
        both = resolve_pad(self.p, rank, shape[1:], k_eff, s_)
        return Window(k_, s_, d_, k_eff, tuple(p[0] for p in both), tuple(p[1] for p in both))

    geometry = window  # the name compare.py reads

    def kernel(self, shape: Shape) -> tuple[int, ...]:
        """The kernel size per spatial axis (the window's ``k``, without the padding work)."""
        k = self.k
        return (k,) * (len(shape) - 1) if type(k) is int else self.window(shape).k

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

    # -- the rules
    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        self._check_channels(shape[0])
        k, s, d, _, lo, hi = self.window(shape)
        spatial = tuple(
            conv_out(shape[1 + a], k[a], s[a], (lo[a], hi[a]), d[a]) for a in range(len(k))
        )
        return (self.out_channels(shape[0]), *spatial)

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        (shape,) = ins
        cin, cout = shape[0], self.out_channels(shape[0])
        k = self.kernel(shape)
        taps = prod(k)
        if self.connections is not None:
            # output map i has its own kernel over its len(conn_i) input maps
            found = [Tensor(f"weight[{i}]", (len(c), *k), WEIGHT, len(c) * taps)
                     for i, c in enumerate(self.connections)]
        else:
            cg = self.in_channels_per_group(cin)
            found = [Tensor("weight", (cout, cg, *k), WEIGHT, cg * taps)]
        if self.bias:
            found.append(Tensor("bias", (cout,), BIAS))
        return tuple(found)

    def work(self, ins: Shapes, out: Shape) -> Work:
        (shape,) = ins
        k = self.kernel(shape)
        if self.connections is not None:
            # each position of output map i: len(conn_i)·∏k multiply-accumulates
            macs = prod(out[1:]) * sum(len(c) for c in self.connections) * prod(k)
        else:
            # each output element: (C_in/groups)·∏k multiply-accumulates
            macs = prod(out) * self.in_channels_per_group(shape[0]) * prod(k)
        return Work(macs=macs, elementwise=prod(out) if self.bias else 0)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """A window of ``k_eff`` with stride ``s`` and left padding ``p_lo`` on every axis."""
        (rf,) = rfs
        if rf is None:
            return None
        k, s, d, p = self.k, self.s, self.d, self.p
        if type(k) is int and type(s) is int and type(d) is int and type(p) is int:
            ke = d * (k - 1) + 1  # the same integer geometry on every axis: no per-axis tuples
            if len(rf) == 2:  # images, the common case
                return (rf_window(rf[0], ke, s, p), rf_window(rf[1], ke, s, p))
            return tuple([rf_window(axis, ke, s, p) for axis in rf])
        _, s_, _, k_eff, lo, _ = self.window(ins[0])
        return tuple(rf_window(rf[a], k_eff[a], s_[a], lo[a]) for a in range(len(rf)))

    def refines(self, ins: Shapes) -> bool:
        return False

    def scratch_elements(self, ins: Shapes) -> int:
        """im2col copies every input element once per kernel tap (at most)."""
        return prod(ins[0]) * prod(self.window(ins[0]).k)

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Cross-correlation (PyTorch's ``convNd``):
        ``y[o, i] = b[o] + Σ_{c,κ} W[o, c, κ]·x̃[c, s·i + d·κ]`` with ``x̃`` the padded input.

        Padding (before, after) per axis as :meth:`window` resolves it (``same``: the extra
        pixel after). Dense and grouped: im2col ``(B, G, C/G·∏k, L)`` and one batched product
        with the weight ``(G, out/G, C/G·∏k)`` — ``B·G·(out/G)·(C/G·∏k)·L`` MACs, the engine's
        ``out·L·(C/G)·∏k``. Depthwise (``C/G = 1``): ``∏k`` shifted taps, each ``B·out·L`` MACs.
        ``connections``: one product per output map over its listed input maps,
        ``len(conn_i)·∏k·L`` MACs each.
        """
        from .arrays import channel_view, pad

        (x,) = inputs
        shape = x.shape[1:]
        k, s, d, _, lo, hi = self.window(shape)
        cin = shape[0]
        groups, cout = self.group_count(cin), self.out_channels(cin)
        xp = pad(x, lo, hi, 0.0)
        if self.connections is not None:
            y = _conv_connections(self.connections, xp, w, k, s, d, ctx)
        elif groups > 1 and cin == groups:
            y = _conv_depthwise(xp, w["weight"], cout // cin, k, s, d, ctx)
        else:
            y = _conv_dense(xp, w["weight"], groups, k, s, d, ctx)
        if self.bias:
            y += channel_view(w["bias"], 2 + len(k))
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """Every forward product ``W[o, c, κ]·x̃[c, s·i + d·κ]`` once per gradient: ``∂W`` from
        the kept input ``x`` (its im2col, ``δ @ colsᵀ`` per group), ``∂x`` as ``Wᵀ @ δ``
        added back over the kernel offsets (col2im) and cropped — a stride-1 'same' conv as
        the correlation of the padded ``δ`` with the flipped kernel (the same MACs, a longer
        BLAS reduction); depthwise per tap (``ctx.count``); a connection table per output map.
        ``∂b = Σ δ`` over the batch and positions. Each gradient: the forward's MACs."""
        from .adjoint import channel_sum, crop
        from .arrays import pad

        shape = (gy.shape[0], *ctx.ins[0])
        k, s, d, _, lo, hi = self.window(shape[1:])
        cin = shape[1]
        groups, cout = self.group_count(cin), self.out_channels(cin)
        if ctx.support:
            return (_conv_support(gy, shape, k, s, d, lo, hi, groups, self.connections),), {}
        xp = pad(saved["x"], lo, hi, 0.0) if need_dw else None
        canvas = (shape[0], cin, *(shape[2 + a] + lo[a] + hi[a] for a in range(len(k))))
        if self.connections is not None:
            gx, gw = _conv_connections_backward(self.connections, gy, xp, w, canvas, k, s, d,
                                                ctx, need_dx)
        elif groups > 1 and cin == groups:
            gx, gw = _conv_depthwise_backward(gy, xp, w["weight"], cout // cin, canvas, k, s,
                                              d, ctx, need_dx)
        else:
            gx, gw = _conv_dense_backward(gy, xp, w["weight"], groups, canvas, k, s, d, lo, hi,
                                          ctx, need_dx)
        if need_dw and self.bias:
            gw["bias"] = channel_sum(gy)
        if gx is not None and gx.shape[2:] != shape[2:]:
            gx = crop(gx, lo, hi)
        return (gx,), gw

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its input ``x``, whenever it is in the backward at all: PyTorch's
        ``ConvolutionBackward`` keeps the input and the weight (a parameter, not counted) even
        when only the input gradient is required (bench/training_types.py, "frozen params")."""
        return (Saved("x", ins[0], ACT),) if need_dx or need_dw else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """Every product ``W[o, c, κ]·x[c, s·i + d·κ]`` of the forward appears exactly once in
        each gradient: ``∂x[c, s·i + d·κ] += W[o, c, κ]·∂y[o, i]`` (a transposed conv of ∂y)
        and ``∂W[o, c, κ] += x[c, s·i + d·κ]·∂y[o, i]`` (a conv of x with ∂y). So each gradient
        costs the forward's MACs — ``out·∏n'·(C/g)·∏k`` whatever the stride, dilation, groups
        (depthwise: ``C·∏n'·∏k``; a product per (output, tap) pair, never ``C²``) or connection
        table. The bias gradient ``∂b[o] = Σ_i ∂y[o, i]``: one add per output element (``full``)."""
        return bilinear_backward(self.work(ins, out), need_dx, need_dw)

    def explain(self, ex: Derivation) -> None:
        cin = ex.shape[0]
        cout = self.out_channels(cin)
        g = self.group_count(cin)
        k, s, d, _, lo, hi = self.window(ex.shape)
        rank = len(k)
        self._explain_channels(ex, cin, cout)
        axes = ex.axes(ex.shape, [(k[a], s[a], d[a], lo[a], hi[a]) for a in range(rank)])
        ex.window_shape(axes, k, s, d, lo, hi, pool_ceil=False,
                        padding=self.p if isinstance(self.p, str) else None)
        ex.section("weights")
        kf, kenv = ex.kernel_symbols(axes, k)
        if self.connections is not None:
            sizes = [len(c) for c in self.connections]
            total = sum(sizes)
            tmpl = f"({' + '.join(map(str, sizes))})*" + "*".join(kf)
            ex.tensor("weights", tmpl, kenv, sum(prod(t.shape) for t in self.tensors(ex.ins)
                                                 if t.role == WEIGHT),
                      sym=("Σ_i |conn_i|·" + "·".join(ex.symbol(x, False) for x in kf),
                           "\\sum_i |\\mathrm{conn}_i| \\cdot " + " \\cdot ".join(
                               ex.symbol(x, True) for x in kf)),
                      note=f"partial connection table: {total} input maps in all")
        else:
            cin_sym = "C_in" if g == 1 else "(C_in/g)"
            env = {"C_out": cout, "C_in": cin, "g": g, **kenv}
            ex.tensor("weight", "*".join(["C_out", cin_sym, *kf]), env,
                      prod(self.params(ex.ins)["weight"]), times=True,
                      note="" if g == 1 else f"{g} groups: each filter sees C_in/g channels")
        if self.bias:
            ex.tensor("bias", "C_out", {"C_out": cout}, cout)
        osyms, oenv = ex.out_symbols()
        if self.connections is not None:
            tmpl = "*".join(osyms[1:]) + f"*{sum(len(c) for c in self.connections)}*" + \
                "*".join(kf)
            ex.macs(tmpl, {**oenv, **kenv},
                    "each output position of map i: |conn_i|·K² multiply-accumulates")
        else:
            cin_sym = "C_in" if g == 1 else "(C_in/g)"
            ex.macs("*".join(["C_out", *osyms[1:], cin_sym, *kf]),
                    {**oenv, "C_out": cout, "C_in": cin, "g": g, **kenv},
                    "each output element: (C_in/g)·∏K multiply-accumulates" if g > 1 else
                    "each output element: C_in·K·K multiply-accumulates" if kf == ["K", "K"]
                    else "each output element: C_in·∏K multiply-accumulates")
        if self.bias:
            ex.elementwise("bias", "*".join(["C_out", *osyms[1:]]), {**oenv, "C_out": cout},
                           prod(ex.oshape))

    def _explain_channels(self, ex: Derivation, cin: int, cout: int) -> None:
        ex.channels("C_out", {"C_out": cout}, "one output map per filter")

    def explain_rf(self, rx: RFDerivation) -> None:
        k, s, d, _, lo, _ = self.window(rx.shape)
        rx.window(k, s, lo, d, "each layer adds (K − 1) input steps of size j")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.ConvNd(in, out, kernel_size, stride, padding, dilation, groups, bias)`` (a
        ``dwconv`` has groups = in, uneven padding an ``nn.ConstantPadNd`` before it); LeNet's
        ``connections`` → the ``PartialConv`` helper."""
        (shape,) = ins
        n = tc.rank(self.kind, shape)
        k = per_axis(self.k, n, "k")
        s = per_axis(self.s, n, "s")
        d = per_axis(self.d, n, "d")
        pad, padding = tc.padding(tc.pads(self.p, shape, tuple(
            effective_kernel(k[a], d[a]) for a in range(n)), s))
        connections = getattr(self, "connections", None)
        if connections is not None:
            if n != 2 or len(set(k)) != 1 or set(s) != {1} or set(d) != {1} or padding:
                raise BridgeError("a partial connection table exports only as a 2D square "
                                  "kernel with stride 1, no dilation and no padding "
                                  "(LeNet-5's C3)")
            return tc.call("PartialConv", ("connections", connections), ("kernel_size", k[0]),
                           bias=self.bias, helper="PartialConv")
        cin = shape[0]
        groups = cin if self.kind == "dwconv" else self.groups
        module = tc.call(f"nn.Conv{n}d", ("in_channels", cin), ("out_channels", out[0]),
                         kernel_size=tc.squeeze(k), stride=tc.squeeze(s), padding=padding,
                         dilation=tc.squeeze(d), groups=groups,
                         bias=None if self.bias else False, defaults=tc.CONV_DEFAULTS)
        return module if pad is None else tc.sequential(pad, module)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Conv",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Conv → ``conv`` (groups, dilations, pads or auto_pad, a Pad before it folded in);
        groups = input channels is a ``dwconv``'s (that class claims it first)."""
        return _conv_from_onnx(cls.kind, r, i, node)


def _conv_from_onnx(kind: str, r: Any, i: int, node: Any) -> bool:
    """A Conv node as a ``conv`` or ``dwconv`` row."""
    w = r.weight(node)
    shape = r.shape(r.resolve(node.input[0]), node)
    rank = len(w.shape) - 2
    k = list(r.attr(node, "kernel_shape", w.shape[2:]))
    s = list(r.attr(node, "strides", [1] * rank))
    d = list(r.attr(node, "dilations", [1] * rank))
    g = int(r.attr(node, "group", 1))
    pairs = r.pads(node, rank, k, s, d, shape)
    args: dict[str, Any] = {}
    if kind == "conv" or int(w.shape[0]) != shape[1]:
        args["out"] = int(w.shape[0])
    args["k"] = r.ints(k)
    if set(s) != {1}:
        args["s"] = r.ints(s)
    if any(v for pair in pairs for v in pair):
        args["p"] = r.pad_arg(list(pairs))
    if set(d) != {1}:
        args["d"] = r.ints(d)
    if g > 1 and kind == "conv":
        args["groups"] = g
    args["bias"] = r.stored_input(node, 2)
    r.add(i, node, kind, args)
    return True


@layer_class
class DWConv(Conv):
    """Depthwise convolution: one K×K filter per input channel (groups = C_in).

    ``out`` defaults to C_in (depth multiplier 1); ``out = m·C_in`` gives multiplier m.
    MACs ``out·∏n'·1·∏k`` — the slides' ``D_K·D_K·M·D_F·D_F`` when out = M.
    """

    kind: ClassVar[str] = "dwconv"
    doc: ClassVar[str] = "depthwise convolution (groups = input channels)"
    INHERITS: ClassVar[tuple[str, ...]] = ("conv",)
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

    def _explain_channels(self, ex: Derivation, cin: int, cout: int) -> None:
        if cout == cin:
            ex.channels("C_in", {"C_in": cin}, "depthwise: one filter per input channel")
        else:
            ex.channels("m*C_in", {"m": cout // cin, "C_in": cin},
                        "depthwise with channel multiplier m")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.ConvNd`` with groups = in channels (the conv rule)."""
        return Conv.to_torch(self, ins, out)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Conv",)

    ONNX_ORDER: ClassVar[int] = -1

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """A Conv whose groups equal its input channels (> 1); other Convs are ``conv``'s."""
        g = int(r.attr(node, "group", 1))
        if g == 1 or g != r.shape(r.resolve(node.input[0]), node)[1]:
            return False
        return _conv_from_onnx("dwconv", r, i, node)


@layer_class
class PWConv(Conv):
    """Pointwise (1×1) convolution: a conv with k = 1. MACs ``out·∏n'·in`` (``M·N·D_F·D_F``)."""

    kind: ClassVar[str] = "pwconv"
    doc: ClassVar[str] = "pointwise 1x1 convolution"
    INHERITS: ClassVar[tuple[str, ...]] = ("conv",)
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Conv.ARGS[0],
        Arg("s", "ints+", 1, "stride"),
        Arg("groups", "int+", 1, "groups"),
        Arg("bias", "bool", True, "learnable bias per output channel"),
        Arg("dims", "int+", None, "insist on 1, 2 or 3 spatial axes"),
    )
    k: PerAxis = 1

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.ConvNd`` with a 1×1 kernel (the conv rule)."""
        return Conv.to_torch(self, ins, out)

    ONNX: ClassVar[tuple[str, ...]] = ()
    ONNX_NONE: ClassVar[str] = (
        "a 1×1 Conv imports as `conv` with k: 1, the same layer")


class DeconvGeometry(NamedTuple):
    """A transposed convolution's geometry per spatial axis."""

    k: tuple[int, ...]
    s: tuple[int, ...]
    p: tuple[int, ...]
    output_padding: tuple[int, ...]
    d: tuple[int, ...]


@layer_class
class ConvTranspose(Layer):
    """Transposed convolution (``deconv``).

    Shape: ``(n − 1)·s − 2p + d·(k − 1) + output_padding + 1`` per axis (PyTorch).
    Weights ``in × out/groups × k…`` (+ bias). MACs: every *input* element is multiplied into
    ``(out/groups)·∏k`` outputs: ``in·∏n·(out/groups)·∏k``. RF: zero-insertion by s refines the
    grid (jump/s), then a stride-1 window of k_eff with padding ``k_eff − 1 − p``.
    """

    kind: ClassVar[str] = "deconv"
    doc: ClassVar[str] = "transposed convolution"
    ALIASES: ClassVar[tuple[str, ...]] = ("convtranspose", "tconv")
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

    def geometry(self, shape: Shape) -> DeconvGeometry:
        """Kernel, stride, padding, output padding and dilation per axis of an input ``shape``;
        refuses an output padding a stride cannot produce."""
        rank = spatial_rank(self.kind, shape)
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
        return DeconvGeometry(k, s, p, op, d)

    def out_shape(self, ins: Shapes) -> Shape:
        (shape,) = ins
        cin = shape[0]
        if cin % self.groups or self.out % self.groups:
            raise LayerArgError(
                f"groups={self.groups} must divide input channels ({cin}) and out ({self.out})",
                hint="choose groups among the common divisors of in and out channels",
            )
        k, s, p, op, d = self.geometry(shape)
        spatial = tuple(
            deconv_out(shape[1 + a], k[a], s[a], p[a], op[a], d[a]) for a in range(len(k))
        )
        return (self.out, *spatial)

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        (shape,) = ins
        k = self.geometry(shape).k
        # PyTorch's layout and fan-in: in × out/groups × k…, fan-in (out/groups)·∏k
        per = self.out // self.groups
        found = [Tensor("weight", (shape[0], per, *k), WEIGHT, per * prod(k))]
        if self.bias:
            found.append(Tensor("bias", (self.out,), BIAS))
        return tuple(found)

    def work(self, ins: Shapes, out: Shape) -> Work:
        (shape,) = ins
        k = self.geometry(shape).k
        # each input element feeds (C_out/groups)·∏k outputs with one multiply-accumulate each
        macs = prod(shape) * (self.out // self.groups) * prod(k)
        return Work(macs=macs, elementwise=prod(out) if self.bias else 0)

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its input ``x`` whenever it is in the backward (PyTorch's ``ConvolutionBackward``,
        transposed: as :meth:`Conv.saves`)."""
        return (Saved("x", ins[0], ACT),) if need_dx or need_dw else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """Each input element ``x[c, i]`` is multiplied into ``(out/g)·∏k`` outputs,
        ``y[o, s·i + d·κ] += W[c, o, κ]·x[c, i]``; the input gradient is the plain conv of ∂y,
        ``∂x[c, i] = Σ W[c, o, κ]·∂y[o, s·i + d·κ]``, and ``∂W[c, o, κ] = Σ_i x[c, i]·∂y[o,
        s·i + d·κ]``: each the forward's ``C·∏n·(out/g)·∏k`` MACs. Bias: one add per output."""
        return bilinear_backward(self.work(ins, out), need_dx, need_dw)

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        (rf,) = rfs
        if rf is None:
            return None
        k, s, p, _, d = self.geometry(ins[0])
        result = []
        for a, axis in enumerate(rf):
            k_eff = effective_kernel(k[a], d[a])
            fine = rf_upsample(axis, s[a], centred=False)
            result.append(rf_window(fine, k_eff, 1, k_eff - 1 - p[a]))
        return tuple(result)

    def refines(self, ins: Shapes) -> bool:
        """Zero-insertion by a stride above 1 puts outputs between the input's grid points."""
        return any(v > 1 for v in self.geometry(ins[0]).s)

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """Transposed convolution (PyTorch's ``conv_transposeNd``): input element ``i`` adds
        ``x[c, i]·W[c, o, κ]`` to output ``i·s + κ·d − p``.

        Per group one product ``(out/G·∏k × C/G) @ (C/G × L_in)`` — ``C·L_in·(out/G)·∏k`` MACs,
        the engine's count — then col2im: each of the ``∏k`` kernel offsets scatters (adds) its
        plane into a full canvas of ``(n − 1)·s + d·(k − 1) + 1 + output_padding`` per axis,
        from which ``p`` is cropped on both sides.
        """
        import numpy as np

        from .arrays import channel_view, spatial

        (x,) = inputs
        b, cin = x.shape[:2]
        n = spatial(x)
        rank = len(n)
        k, s, p, op, d = self.geometry(x.shape[1:])
        g, cout = self.groups, self.out
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
        if self.bias:
            y += channel_view(w["bias"], y.ndim)
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """The output gradient padded back to the full canvas the forward cropped and gathered
        at each kernel offset (``cols``, ``(out/G·∏k) × L_in`` per group):
        ``∂x[c, i] = Σ_{o,κ} W[c, o, κ]·δ̃[o, i·s + κ·d]`` is ``W @ cols`` and
        ``∂W = x @ colsᵀ`` (the kept input) per group, through ``ctx.matmul``: the forward's
        MACs each; ``∂b = Σ δ``."""
        import numpy as np

        from .adjoint import channel_sum
        from .arrays import pad, windows

        b = gy.shape[0]
        shape = ctx.ins[0]
        cin, n = shape[0], shape[1:]
        k, s, p, _, d = self.geometry(shape)
        g, cout, kk = self.groups, self.out, prod(k)
        rank = len(k)
        if ctx.support:  # each group's gradient summed, gathered over every kernel offset
            sums = gy.reshape(b, g, cout // g, *gy.shape[2:]).sum(axis=2)
            view = windows(pad(sums, p, p, 0.0), k, s, d)[
                (slice(None), slice(None), *(slice(0, v) for v in n))]
            reach = (view.sum(axis=tuple(range(2 + rank, 2 + 2 * rank))) > 0).astype(gy.dtype)
            spread = np.broadcast_to(reach[:, :, None], (b, g, cin // g, *n))
            return (spread.reshape(b, cin, *n),), {}  # a view where it can be (see below)
        full = pad(gy, p, p, 0.0)
        view = windows(full, k, s, d)[(slice(None), slice(None), *(slice(0, v) for v in n))]
        # (B, out, *n, *k) → (B, G, out/G·∏k, L_in), the weight's (out/G, ∏k) order
        cols = np.ascontiguousarray(view.transpose(0, 1, *range(2 + rank, 2 + 2 * rank),
                                                   *range(2, 2 + rank)))
        cols = cols.reshape(b, g, cout // g * kk, prod(n))
        weight = w["weight"].reshape(g, cin // g, cout // g * kk)
        gx = ctx.matmul(weight, cols).reshape(b, cin, *n) if need_dx else None
        grads: dict[str, Array] = {}
        if need_dw:
            x = saved["x"].reshape(b, g, cin // g, prod(n))
            # ∂Wᵀ = cols @ xᵀ: the long reduction over positions, the orientation BLAS runs fast
            gw = np.swapaxes(ctx.matmul(cols, np.swapaxes(x, -1, -2)).sum(axis=0), -1, -2)
            grads["weight"] = np.ascontiguousarray(gw).reshape(w["weight"].shape).astype(
                gy.dtype)
            if self.bias:
                grads["bias"] = channel_sum(gy)
        return (gx,), grads

    def explain(self, ex: Derivation) -> None:
        k, s, p, opad, d = self.geometry(ex.shape)
        rank = len(k)
        cin, cout, g = ex.shape[0], self.out, self.groups
        ex.channels("C_out", {"C_out": cout})
        axes = ex.axes(ex.shape, [(k[a], s[a], p[a], opad[a], d[a]) for a in range(rank)])

        def line(ax: Any) -> tuple[str, dict[str, Any]]:
            a, x = ax.index[0], ax.sub
            env: dict[str, Any] = {ax.name: ex.shape[1 + a], f"S{x}": s[a], f"P{x}": p[a],
                                   f"K{x}": k[a], f"d{x}": d[a], f"P_out{x}": opad[a]}
            kern = f"K{x}" if d[a] == 1 else f"d{x}*(K{x} - 1) + 1"
            tail = f" + P_out{x}" if opad[a] else ""
            return f"({ax.name} - 1)*S{x} - 2*P{x} + {kern}{tail}", env

        ex.spatial(axes, line)
        ex.section("weights")
        kf, kenv = ex.kernel_symbols(axes, k)
        cout_sym = "C_out" if g == 1 else "(C_out/g)"
        ex.tensor("weight", "*".join(["C_in", cout_sym, *kf]),
                  {"C_in": cin, "C_out": cout, "g": g, **kenv},
                  prod(self.params(ex.ins)["weight"]), times=True)
        if self.bias:
            ex.tensor("bias", "C_out", {"C_out": cout}, cout)
        isyms, ienv = ex.dims(ex.shape, False)
        ex.macs("*".join([*isyms, cout_sym, *kf]), {**ienv, "C_out": cout, "g": g, **kenv},
                "every input element is multiplied into (C_out/g)·∏K outputs")
        osyms, oenv = ex.out_symbols()
        if self.bias:
            ex.elementwise("bias", "*".join(osyms), oenv, prod(ex.oshape))

    def explain_rf(self, rx: RFDerivation) -> None:
        k, s, p, _, d = self.geometry(rx.shape)
        geo = [(k[a], s[a], p[a], d[a]) for a in range(rx.rank)]
        for ax in rx.axes(geo):
            a, x = ax.index[0], ax.sub
            ke = d[a] * (k[a] - 1) + 1
            env: dict[str, int | Fraction] = {f"K{x}": ke, f"S{x}": s[a], f"P{x}": p[a]}
            rx.emit(ax, f"r_prev{x} + (K{x} - 1)*j_prev{x}/S{x}", f"j_prev{x}/S{x}",
                    f"start_prev{x} + ((K{x} - 1)/2 - (K{x} - 1 - P{x}))*j_prev{x}/S{x}",
                    env, "zero-insertion refines the grid by S, then a stride-1 window")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.ConvTransposeNd`` with PyTorch's own arguments (the shape rule is PyTorch's)."""
        (shape,) = ins
        n = tc.rank(self.kind, shape)

        def ax(v: Any, name: str) -> int | tuple[int, ...]:
            return tc.squeeze(per_axis(v, n, name))

        return tc.call(f"nn.ConvTranspose{n}d", ("in_channels", shape[0]),
                       ("out_channels", out[0]), kernel_size=ax(self.k, "k"),
                       stride=ax(self.s, "s"), padding=ax(self.p, "p"),
                       output_padding=ax(self.output_padding, "output_padding"),
                       groups=self.groups, bias=None if self.bias else False,
                       dilation=ax(self.d, "d"), defaults=tc.CONV_DEFAULTS)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("ConvTranspose",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """ConvTranspose → ``deconv`` (symmetric padding; PyTorch's rule)."""
        w = r.weight(node)
        rank = len(w.shape) - 2
        if r.attr(node, "output_shape") is not None:
            raise r.error(node, "output_shape is not supported", "export with explicit pads")
        g = int(r.attr(node, "group", 1))
        k = list(r.attr(node, "kernel_shape", w.shape[2:]))
        s = list(r.attr(node, "strides", [1] * rank))
        d = list(r.attr(node, "dilations", [1] * rank))
        p = list(r.attr(node, "pads", [0] * (2 * rank)))
        if p[:rank] != p[rank:]:
            raise r.error(node, f"asymmetric pads {p}: deconv crops the same on both sides")
        op = list(r.attr(node, "output_padding", [0] * rank))
        args: dict[str, Any] = {"out": int(w.shape[1]) * g, "k": r.ints(k)}
        if set(s) != {1}:
            args["s"] = r.ints(s)
        if any(p):
            args["p"] = r.ints(p[:rank])
        if any(op):
            args["output_padding"] = r.ints(op)
        if set(d) != {1}:
            args["d"] = r.ints(d)
        if g > 1:
            args["groups"] = g
        args["bias"] = r.stored_input(node, 2)
        r.add(i, node, "deconv", args)
        return True


@layer_class
class DeformConv(Layer):
    """Deformable convolution (Dai et al. 2017, arXiv:1703.06211; modulated: Zhu et al. 2019,
    arXiv:1811.11168), as torchvision's ``deform_conv2d``: a 2D conv whose K×K taps sample the
    input at ``p0 + pn + Δpn`` by bilinear interpolation. Inputs: the map ``[C, H, W]``, the
    offsets ``[2·G·K_h·K_w, H′, W′]`` (Δy, Δx per tap and offset group G — an ordinary conv of
    the spec computes them, with this layer's kernel, stride and padding), and optionally the
    modulation masks ``[G·K_h·K_w, H′, W′]``.

    Shape, weights and MACs are those of the conv: weights ``out × C/groups × K_h × K_w``
    (+ bias; torchvision's ``DeformConv2d(64, 64, 3)``: 36,928), MACs ``out·H′·W′·(C/groups)·
    K_h·K_w``. Sampling (``full`` convention): each of the ``C·K_h·K_w·H′·W′`` sampled values is
    a bilinear interpolation, one lerp per axis as ``upsample``: 6 operations; a mask multiplies
    each (+1); bias one add per output. RF: none — each tap moves by a learned, input-dependent
    offset ("adaptive receptive field"), so no fixed field exists.
    """

    kind: ClassVar[str] = "deform_conv"
    doc: ClassVar[str] = "deformable 3x3-style convolution with offset (and mask) inputs"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 3
    ARGS: ClassVar[tuple[Arg, ...]] = (
        *Conv.ARGS[:3],
        Arg("p", "ints0", 0, "padding per side"),
        Conv.ARGS[4],
        Conv.ARGS[5],
        Arg("offset_groups", "int+", 1, "offset groups G: channels split, each with its offsets"),
        Conv.ARGS[6],
    )
    POST_ARGS: ClassVar[tuple[str, ...]] = ("bn", "act")
    out: int
    k: PerAxis
    s: PerAxis = 1
    p: PerAxis = 0
    d: PerAxis = 1
    groups: int = 1
    offset_groups: int = 1
    bias: bool = True

    def window(self, shape: Shape) -> Window:
        rank = spatial_rank(self.kind, shape, 2)
        k, s = per_axis(self.k, rank, "k"), per_axis(self.s, rank, "s")
        p, d = per_axis(self.p, rank, "p"), per_axis(self.d, rank, "d")
        k_eff = tuple(effective_kernel(k[a], d[a]) for a in range(rank))
        return Window(k, s, d, k_eff, p, p)

    def out_shape(self, ins: Shapes) -> Shape:
        x = ins[0]
        cin = x[0]
        k, s, d, _, p, _ = self.window(x)
        if cin % self.groups or self.out % self.groups or cin % self.offset_groups:
            raise LayerArgError(
                f"groups={self.groups} must divide input ({cin}) and out ({self.out}) channels, "
                f"offset_groups={self.offset_groups} the input channels",
                hint="choose divisors of the channels")
        spatial = tuple(conv_out(x[1 + a], k[a], s[a], (p[a], p[a]), d[a]) for a in range(2))
        taps = k[0] * k[1]
        for what, shape, want in (("offsets", ins[1], 2 * self.offset_groups * taps),
                                  *((("mask", ins[2], self.offset_groups * taps),)
                                    if len(ins) > 2 else ())):
            if shape != (want, *spatial):
                raise LayerArgError(
                    f"the {what} input must be [{want}, {spatial[0]}, {spatial[1]}] "
                    f"({'2·' if what == 'offsets' else ''}G·K_h·K_w = {want} channels at the "
                    f"output size), got {list(shape)}",
                    hint=f"compute the {what} with a conv of {want} outputs, this layer's "
                    "kernel, stride and padding")
        return (self.out, *spatial)

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        cin = ins[0][0]
        k = self.window(ins[0]).k
        cg = cin // self.groups
        found = [Tensor("weight", (self.out, cg, *k), WEIGHT, cg * prod(k))]
        if self.bias:
            found.append(Tensor("bias", (self.out,), BIAS))
        return tuple(found)

    def work(self, ins: Shapes, out: Shape) -> Work:
        cin = ins[0][0]
        taps = prod(self.window(ins[0]).k)
        positions = prod(out[1:])
        samples = cin * taps * positions  # one bilinear sample per input channel, tap, position
        per_sample = 6 + (1 if len(ins) > 2 else 0)  # two lerps (3 each), a mask multiply
        return Work(macs=prod(out) * (cin // self.groups) * taps,
                    elementwise=samples * per_sample + (prod(out) if self.bias else 0))

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its inputs — the map ``x0``, the offsets ``x1`` and the masks ``x2`` — whenever it is
        in the backward: torchvision's ``deform_conv2d`` autograd function saves the input,
        weight, offset, mask and bias, and recomputes the sampled columns in its backward.
        Without a mask input (v1) the ``mask`` it saves is a placeholder ``[N, 1]`` of zeros
        (bench/training_types.py, "deform_conv")."""
        if not (need_dx or need_dw):
            return ()
        inputs = tuple(Saved(f"x{i}", shape, ACT) for i, shape in enumerate(ins))
        # without a mask input torchvision saves a placeholder mask of one value per sample
        return inputs if len(ins) > 2 else (*inputs, Saved("mask", (1,), ACT))

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """The forward is a conv over sampled columns ``v[c, κ, i] = bilerp(x, p_i + κ + Δ)``:
        ``y = W·v``. Weight gradient: ``∂W = ∂y·vᵀ``, the forward's MACs, after the columns are
        sampled again (the forward's sampling work) + the bias's one add per output. Input
        gradient: ``∂v = Wᵀ·∂y``, the forward's MACs, then each of the ``C·∏k·∏n'`` columns
        scatters into its 4 corners (4 multiply-adds = 8) and gives its two offsets their
        gradient (the corner differences, 2 × (3 + 2) = 10) and, modulated, its mask (2):
        18 (20) operations per sampled value (``full``)."""
        fwd = self.work(ins, out)
        cin = ins[0][0]
        taps = prod(self.window(ins[0]).k)
        samples = cin * taps * prod(out[1:])
        bias = prod(out) if self.bias else 0
        sampling = fwd.elementwise - bias
        dx = (Work(macs=fwd.macs, elementwise=samples * (18 + (2 if len(ins) > 2 else 0)))
              if need_dx else Work())
        dw = Work(macs=fwd.macs, elementwise=sampling + bias) if need_dw else Work()
        return dx, dw

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        """None: learned offsets move every tap, so no fixed field exists."""
        return None

    def refines(self, ins: Shapes) -> bool:
        return False

    def scratch_elements(self, ins: Shapes) -> int:
        """The sampling's working memory: the float64 samples, one corner's values and their
        weighted float64 product for every input channel, tap and output position (about 8
        float32 elements each), and the per-tap coordinates and weights (about 12)."""
        out = self.out_shape(ins)
        taps = prod(self.window(ins[0]).k)
        positions = prod(out[1:])
        return 8 * ins[0][0] * taps * positions + 12 * self.offset_groups * taps * positions

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """torchvision's deform_conv2d: tap ``(i, j)`` of output ``(y, x)`` samples channel c
        (offset group ``c // (C/G)``) at ``(y·s − p + i·d + Δy, x·s − p + j·d + Δx)`` by
        bilinear interpolation (0 outside the map), times the mask when given; the samples
        ``(C·K_h·K_w) × (H′·W′)`` then meet the weight in one product per group."""
        import numpy as np

        from .arrays import channel_view

        x, offset = inputs[0], inputs[1]
        mask = inputs[2] if len(inputs) > 2 else None
        b, cin, height, width = x.shape
        k, s, d, _, p, _ = self.window(x.shape[1:])
        ho, wo = offset.shape[2:]
        kh, kw = k
        taps = kh * kw
        og = self.offset_groups
        off = offset.reshape(b, og, taps, 2, ho, wo).astype(np.float64)
        ti, tj = np.divmod(np.arange(taps), kw)
        base_y = (np.arange(ho) * s[0] - p[0])[None, :, None] + (ti * d[0])[:, None, None]
        base_x = (np.arange(wo) * s[1] - p[1])[None, None, :] + (tj * d[1])[:, None, None]
        py = base_y[None, None] + off[:, :, :, 0]  # (B, G, taps, H′, W′)
        px = base_x[None, None] + off[:, :, :, 1]
        cols = _bilinear(x.reshape(b, og, cin // og, height, width), py, px)
        if mask is not None:
            cols = cols * mask.reshape(b, og, 1, taps, ho, wo)
        # (B, G, C/G, taps, L) → (B, groups, C/groups·taps, L), the weight's (c, i, j) order
        cols = cols.reshape(b, cin, taps, ho * wo).astype(x.dtype)
        g = self.groups
        cols = cols.reshape(b, g, cin // g * taps, ho * wo)
        weight = w["weight"].reshape(g, self.out // g, cin // g * taps)
        y = ctx.matmul(weight, cols).reshape(b, self.out, ho, wo)
        if self.bias:
            y += channel_view(w["bias"], 4)
        out: Array = y
        return out

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """From the kept map ``x0``, offsets ``x1`` (and masks ``x2``) the samples ``S`` are
        drawn again as the forward draws them; ``∂W = δ @ (S·m)ᵀ`` and ``∂cols = Wᵀ @ δ`` per
        group through ``ctx.matmul`` (the forward's MACs each); then, per sample,
        ``∂m = Σ_c ∂cols·S``, and ``∂cols·m`` flows to the four neighbours of each sample point
        with their bilinear weights (``∂x``) and, through the weights' slopes, to the sample
        coordinates (``∂Δy``, ``∂Δx``: ``Σ_corners v·∂w/∂p``, summed over the offset group's
        channels). ``∂b = Σ δ``."""
        import numpy as np

        from .adjoint import channel_sum

        if ctx.support:
            raise NotImplementedError("deform_conv has no fixed field")
        x, offset = saved["x0"], saved["x1"]
        mask = saved["x2"] if len(ctx.ins) > 2 else None
        b, cin, height, width = x.shape
        ho, wo = offset.shape[2:]
        og, g = self.offset_groups, self.groups
        taps = prod(self.window(x.shape[1:]).k)
        py, px = self._points(x.shape[1:], offset)
        xg = x.reshape(b, og, cin // og, height, width)
        samples = _bilinear(xg, py, px)  # (B, G, C/G, taps, H′, W′), float64
        m = None if mask is None else mask.reshape(b, og, 1, taps, ho, wo).astype(np.float64)
        cols = samples if m is None else samples * m
        flat = cols.reshape(b, g, cin // g * taps, ho * wo).astype(gy.dtype)
        gyr = gy.reshape(b, g, self.out // g, ho * wo)
        grads: dict[str, Array] = {}
        if need_dw:
            gw = np.swapaxes(ctx.matmul(flat, np.swapaxes(gyr, -1, -2)).sum(axis=0), -1, -2)
            grads["weight"] = np.ascontiguousarray(gw).reshape(w["weight"].shape).astype(
                gy.dtype)
            if self.bias:
                grads["bias"] = channel_sum(gy)
        if not need_dx:
            return (None, None, *((None,) if mask is not None else ())), grads
        weight = w["weight"].reshape(g, self.out // g, cin // g * taps)
        dcols = ctx.matmul(np.swapaxes(weight, -1, -2), gyr).astype(np.float64).reshape(
            b, og, cin // og, taps, ho, wo)
        dmask = None if m is None or mask is None else (dcols * samples).sum(axis=2).reshape(
            mask.shape)
        ds = dcols if m is None else dcols * m
        gx, gpy, gpx = _bilinear_backward(xg, py, px, ds)
        goff = np.stack([gpy, gpx], axis=3).reshape(offset.shape)
        dt = gy.dtype
        gxs = (gx.reshape(x.shape).astype(dt), goff.astype(dt),
               *(() if dmask is None else (dmask.astype(dt),)))
        return gxs, grads

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The forward; without a mask input (v1) also torchvision's placeholder ``mask``, one
        zero per sample, which its autograd function saves in place of the masks."""
        import numpy as np

        y = self.forward(inputs, w, ctx)
        if len(inputs) > 2:
            return y, {}
        return y, {"mask": np.zeros((inputs[0].shape[0], 1), inputs[0].dtype)}

    def _points(self, shape: Shape, offset: Array) -> tuple[Array, Array]:
        """The sample coordinates ``(py, px)`` ``(B, G, taps, H′, W′)`` of every tap: the
        conv's grid point plus the tap's offset."""
        import numpy as np

        b = offset.shape[0]
        k, s, d, _, p, _ = self.window(shape)
        ho, wo = offset.shape[2:]
        kh, kw = k
        taps = kh * kw
        off = offset.reshape(b, self.offset_groups, taps, 2, ho, wo).astype(np.float64)
        ti, tj = np.divmod(np.arange(taps), kw)
        base_y = (np.arange(ho) * s[0] - p[0])[None, :, None] + (ti * d[0])[:, None, None]
        base_x = (np.arange(wo) * s[1] - p[1])[None, None, :] + (tj * d[1])[:, None, None]
        return base_y[None, None] + off[:, :, :, 0], base_x[None, None] + off[:, :, :, 1]

    def explain(self, ex: Derivation) -> None:
        cin = ex.shape[0]
        k, s, d, _, p, _ = self.window(ex.shape)
        ex.channels("C_out", {"C_out": self.out}, "one output map per filter")
        axes = ex.axes(ex.shape, [(k[a], s[a], d[a], p[a]) for a in range(2)])
        ex.window_shape(axes, k, s, d, p, p, pool_ceil=False)
        ex.section("weights")
        kf, kenv = ex.kernel_symbols(axes, k)
        g = self.groups
        cin_sym = "C_in" if g == 1 else "(C_in/g)"
        ex.tensor("weight", "*".join(["C_out", cin_sym, *kf]),
                  {"C_out": self.out, "C_in": cin, "g": g, **kenv},
                  self.out * cin // g * prod(k), times=True,
                  note="a conv's weights; the offsets come from another layer")
        if self.bias:
            ex.tensor("bias", "C_out", {"C_out": self.out}, self.out)
        osyms, oenv = ex.out_symbols()
        ex.macs("*".join(["C_out", *osyms[1:], cin_sym, *kf]),
                {**oenv, "C_out": self.out, "C_in": cin, "g": g, **kenv},
                "as a conv: each output element, (C_in/g)·∏K multiply-accumulates")
        per = 6 + (1 if len(ex.ins) > 2 else 0)
        ex.elementwise("sampling", f"{per}*" + "*".join(["C_in", *kf, *osyms[1:]]),
                       {**oenv, "C_in": cin, **kenv}, per * cin * prod(k) * prod(ex.oshape[1:]))
        if self.bias:
            ex.elementwise("bias", "*".join(["C_out", *osyms[1:]]), {**oenv, "C_out": self.out},
                           prod(ex.oshape))

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.ends()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``torchvision.ops.DeformConv2d`` (offsets, and the mask when given, are its second
        and third inputs; offset groups follow from the offsets' channels, as in torchvision).
        FlopCounterMode has no rule for ``torchvision::deform_conv2d``: its MACs are not
        measured (``verify --against torch`` says so)."""
        k, s, d, _, p, _ = self.window(ins[0])
        if any(lo != hi for lo, hi in zip(p, self.window(ins[0]).hi, strict=True)):
            raise tc.refuse("uneven padding", "torchvision's DeformConv2d pads both sides "
                            "equally")
        return tc.call("torchvision.ops.DeformConv2d", ("in_channels", ins[0][0]),
                       ("out_channels", self.out), kernel_size=tc.squeeze(k),
                       stride=tc.squeeze(s), padding=tc.squeeze(p), dilation=tc.squeeze(d),
                       groups=self.groups, bias=None if self.bias else False,
                       defaults=tc.CONV_DEFAULTS)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("DeformConv",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """DeformConv (opset 19: X, W, offset, B, mask) → ``deform_conv`` on the map, the
        offsets and the mask when given."""
        w = r.weight(node)
        k = list(r.attr(node, "kernel_shape", w.shape[2:]))
        s = list(r.attr(node, "strides", [1, 1]))
        d = list(r.attr(node, "dilations", [1, 1]))
        p = list(r.attr(node, "pads", [0, 0, 0, 0]))
        if p[:2] != p[2:]:
            raise r.error(node, f"asymmetric pads {p}: deform_conv pads both sides equally")
        args: dict[str, Any] = {"out": int(w.shape[0]), "k": r.ints(k)}
        if set(s) != {1}:
            args["s"] = r.ints(s)
        if any(p):
            args["p"] = r.ints(p[:2])
        if set(d) != {1}:
            args["d"] = r.ints(d)
        if int(r.attr(node, "group", 1)) > 1:
            args["groups"] = int(r.attr(node, "group", 1))
        if int(r.attr(node, "offset_group", 1)) > 1:
            args["offset_groups"] = int(r.attr(node, "offset_group", 1))
        args["bias"] = r.stored_input(node, 3)
        data = [r.resolve(node.input[0]), r.resolve(node.input[2])]
        if len(node.input) > 4 and node.input[4]:
            data.append(r.resolve(node.input[4]))
        r.add(i, node, "deform_conv", args, data)
        return True


def _bilinear(x: Array, py: Array, px: Array) -> Array:
    """torchvision's deformable sampling of ``x`` ``(B, G, C/G, H, W)`` at ``(py, px)``
    ``(B, G, taps, H′, W′)``: 0 when ``y ≤ −1``, ``y ≥ H`` (or x); otherwise the four
    neighbours, each 0 outside the map. → ``(B, G, C/G, taps, H′, W′)``."""
    import numpy as np

    b, g, cg, height, width = x.shape
    inside = (py > -1) & (py < height) & (px > -1) & (px < width)
    y0, x0 = np.floor(py).astype(np.int64), np.floor(px).astype(np.int64)
    ly, lx = py - y0, px - x0
    out = np.zeros((b, g, cg, *py.shape[2:]))
    bi = np.arange(b)[:, None, None, None, None]
    gi = np.arange(g)[None, :, None, None, None]
    for yy, wy in ((y0, 1 - ly), (y0 + 1, ly)):
        for xx, wx in ((x0, 1 - lx), (x0 + 1, lx)):
            ok = inside & (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            vals = x[bi, gi, :, np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)]
            # advanced indices first: (B, G, taps, H′, W′, C/G)
            weight = np.where(ok, wy * wx, 0.0)
            out += np.moveaxis(vals * weight[..., None], -1, 2)
    return out


def _bilinear_backward(x: Array, py: Array, px: Array, ds: Array) -> tuple[Array, Array, Array]:
    """The transpose of :func:`_bilinear` for the sample gradients ``ds`` ``(B, G, C/G, taps,
    H′, W′)``: the map's gradient ``(B, G, C/G, H, W)`` (each sample's gradient added to its
    four neighbours with their weights) and the coordinates' ``(B, G, taps, H′, W′)``
    (``Σ_c ds·Σ_corners v·∂w/∂p``: a corner's weight ``1 − l`` or ``l`` has slope ∓1)."""
    import numpy as np

    b, g, cg, height, width = x.shape
    inside = (py > -1) & (py < height) & (px > -1) & (px < width)
    y0, x0 = np.floor(py).astype(np.int64), np.floor(px).astype(np.int64)
    ly, lx = py - y0, px - x0
    gx = np.zeros(b * g * cg * height * width)
    gpy = np.zeros(py.shape)
    gpx = np.zeros(px.shape)
    bi = np.arange(b)[:, None, None, None, None]
    gi = np.arange(g)[None, :, None, None, None]
    plane = (np.arange(b * g * cg) * (height * width)).reshape(b, g, cg, 1, 1, 1)
    for yy, wy, sy in ((y0, 1 - ly, -1.0), (y0 + 1, ly, 1.0)):
        for xx, wx, sx in ((x0, 1 - lx, -1.0), (x0 + 1, lx, 1.0)):
            ok = inside & (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
            yc, xc = np.clip(yy, 0, height - 1), np.clip(xx, 0, width - 1)
            vals = np.moveaxis(x[bi, gi, :, yc, xc], -1, 2) * ok[:, :, None]  # (B,G,C/G,…)
            dv = (ds * vals).sum(axis=2)  # Σ_c ds·v per sample point
            gpy += dv * (sy * wx)
            gpx += dv * (sx * wy)
            weight = np.where(ok, wy * wx, 0.0)
            index = plane + (yc * width + xc)[:, :, None]
            gx += np.bincount(index.ravel(), weights=(ds * weight[:, :, None]).ravel(),
                              minlength=gx.size)
    return gx.reshape(x.shape), gpy, gpx


# ------------------------------------------------------------------------ NumPy convolution --


#: the most elements a forward's im2col matrix takes at once (32 MiB of float32): a larger one
#: is made and multiplied in blocks of output rows (:func:`im2col_rows`)
IM2COL_BLOCK = 8 << 20


def im2col_rows(per_row: int, rows: int) -> int:
    """Output rows (positions along the first spatial axis) per block of a forward's im2col
    matrix when one row takes ``per_row`` elements (``B·C·∏k·∏o[1:]``): all ``rows`` when the
    whole matrix fits :data:`IM2COL_BLOCK`, else as many as fit, at least 1. VGG-16's conv1_2
    (``64·9 × 224²``, 116 MB) runs as 4 blocks of 63, 63, 63 and 35 rows (≤ 32 MiB each): its
    pages are faulted in once and reused instead of 116 MB the kernel must first zero, and
    each block's product, ``(64 × 576) @ (576 × 14,112)``, is still long enough for BLAS."""
    return rows if per_row * rows <= IM2COL_BLOCK else max(1, IM2COL_BLOCK // per_row)


def _conv_dense(xp: Array, weight: Array, groups: int, k: Sequence[int], s: Sequence[int],
                d: Sequence[int], ctx: Context) -> Array:
    import numpy as np

    from .arrays import im2col, spatial, windows

    b, c = xp.shape[:2]
    cout = weight.shape[0]
    rank = len(k)
    pointwise = all(v == 1 for v in (*k, *s, *d))
    o = spatial(xp) if pointwise else windows(xp, k, s, d).shape[2:2 + rank]
    length = prod(o)
    kdim = c // groups * prod(k)
    out = np.empty((b, groups, cout // groups, length), xp.dtype)
    # a large im2col matrix in blocks of output rows (the columns lo…hi of each product)
    rest = prod(o[1:])
    block = o[0] if pointwise else im2col_rows(b * c * prod(k) * rest, o[0])
    for r0 in range(0, o[0], block):
        r1 = min(o[0], r0 + block)
        lo, hi = r0 * rest, r1 * rest
        # a 1×1 stride-1 conv reads the input as it is: no copy
        cols = xp if pointwise else im2col(ctx, xp, k, s, d, None if block == o[0] else
                                           (r0, r1))
        if b == 1 and groups == 1:  # one plain product: no broadcast loop around the BLAS call
            ctx.matmul(weight.reshape(cout, kdim), cols.reshape(kdim, hi - lo),
                       out=out[0, 0, :, lo:hi])
        else:
            ctx.matmul(weight.reshape(groups, cout // groups, kdim),
                       cols.reshape(b, groups, kdim, hi - lo), out=out[..., lo:hi])
    return out.reshape(b, cout, *o)


def _conv_depthwise(xp: Array, weight: Array, mult: int, k: Sequence[int], s: Sequence[int],
                    d: Sequence[int], ctx: Context) -> Array:
    import numpy as np

    from .arrays import channel_view, taps, windows

    # output channel o reads input channel o // mult (depth multiplier)
    src = np.repeat(xp, mult, axis=1) if mult > 1 else xp
    rank = len(k)
    views = taps(windows(src, k, s, d), rank)
    kw = weight.reshape(weight.shape[0], -1)
    out = np.empty(views[0].shape, xp.dtype)
    tmp = np.empty_like(out)
    for t, tap in enumerate(views):
        coef = channel_view(np.ascontiguousarray(kw[:, t]), 2 + rank)
        np.multiply(tap, coef, out=out if t == 0 else tmp)
        if t:
            out += tmp
        ctx.count(out.size)  # one multiply-accumulate per output element and tap
    return out


def _conv_connections(conn: tuple[tuple[int, ...], ...], xp: Array, w: Tensors,
                      k: Sequence[int], s: Sequence[int], d: Sequence[int],
                      ctx: Context) -> Array:
    import numpy as np

    from .arrays import windows

    # LeNet-5's C3: output map i sees only the input maps conn[i] (a loop over its 16 maps)
    rank = len(k)
    win = windows(xp, k, s, d)
    o = tuple(win.shape[2:2 + rank])
    b = xp.shape[0]
    out = np.empty((b, len(conn), prod(o)), xp.dtype)
    perm = (0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank))
    for i, maps in enumerate(conn):
        cols = np.ascontiguousarray(win[:, list(maps)].transpose(perm))
        cols = cols.reshape(b, len(maps) * prod(k), prod(o))
        out[:, i:i + 1] = ctx.matmul(w[f"weight[{i}]"].reshape(1, -1), cols)
    return out.reshape(b, len(conn), *o)


# ------------------------------------------------------------------- NumPy conv backward --


def _conv_support(gy: Array, shape: Sequence[int], k: Sequence[int], s: Sequence[int],
                  d: Sequence[int], lo: Sequence[int], hi: Sequence[int], groups: int,
                  connections: tuple[tuple[int, ...], ...] | None) -> Array:
    """Support mode (the receptive field by one backward pass): input element ``(c, j)`` is
    reached when some output ``o`` of ``c``'s group (or, with a connection table, an output map
    listing ``c``) is non-zero at a window holding ``j`` — every weight is non-zero. So each
    group's (map's) gradient, summed over its output channels, is added onto its windows once
    per kernel offset (a one-channel transposed conv of ones) and shared by the group's input
    channels: ``O(C_out·∏n′ + G·∏k·∏n)``, not the dense ``C_in·C_out·∏k·∏n′`` of ``∂x``. The
    result is 1 where reached and 0 elsewhere (non-negative, the support exact)."""
    import numpy as np

    from .adjoint import crop, tap_slices

    b, cin = shape[0], shape[1]
    cout = gy.shape[1]
    o = gy.shape[2:]
    if connections is not None:  # input map c gathers the output maps that list it
        reads = np.zeros((cout, cin), gy.dtype)
        for i, maps in enumerate(connections):
            reads[i, list(maps)] = 1
        sums = np.einsum("bo...,oc->bc...", gy, reads)
        planes = cin
    else:
        sums = gy.reshape(b, groups, cout // groups, *o).sum(axis=2)
        planes = groups
    rank = len(k)
    canvas = np.zeros((b, planes, *(shape[2 + a] + lo[a] + hi[a] for a in range(rank))),
                      gy.dtype)
    for place in tap_slices(k, s, d, o):
        canvas[(slice(None), slice(None), *place)] += sums
    # 1 where reached, 0 elsewhere: only the support matters, and sums over channels and taps
    # would overflow float32 within a few dozen layers
    reach = (crop(canvas, lo, hi) > 0).astype(gy.dtype)
    if connections is not None:
        return reach
    # shared by the group's channels: a read-only view with a channel stride of 0 when there
    # is one group (no copy of C_in identical maps; the pools and merges keep it so)
    spread = np.broadcast_to(reach[:, :, None], (b, groups, cin // groups, *shape[2:]))
    out: Array = spread.reshape(shape)
    return out


def _conv_dense_backward(gy: Array, xp: Array | None, weight: Array, groups: int,
                         canvas: tuple[int, ...], k: Sequence[int], s: Sequence[int],
                         d: Sequence[int], lo: Sequence[int], hi: Sequence[int], ctx: Context,
                         want_x: bool) -> tuple[Array | None, dict[str, Array]]:
    """The weight gradient ``δ @ colsᵀ`` per group (``xp``: the padded kept input, None when no
    weight gradient is wanted); the input gradient as ``Wᵀ @ δ`` added back (col2im, cropped
    by the caller) — or, when the output has the input's size (a stride-1 'same' conv) and a
    group has no more input channels than positions, as the
    correlation of the zero-padded ``δ`` with the flipped kernel, ``(C_in/G × C_out/G·∏k) @
    (C_out/G·∏k × L)`` per group: the same ``C_in·L·(C_out/G)·∏k`` MACs with the reduction
    over ``C_out·∏k``, which BLAS runs much faster than col2im's over ``C_out``; a 1×1 one is
    ``Wᵀ @ δ`` itself."""
    import numpy as np

    from .adjoint import col2im
    from .arrays import im2col, pad

    b, cout = gy.shape[:2]
    o = gy.shape[2:]
    length = prod(o)
    cin = canvas[1]
    kdim = cin // groups * prod(k)
    g = gy.reshape(b, groups, cout // groups, length)
    grads: dict[str, Array] = {}
    plain = b == 1 and groups == 1  # one 2-D product: no broadcast loop around the BLAS call
    if xp is not None:
        pointwise = all(v == 1 for v in (*k, *s, *d))
        cols = xp if pointwise else im2col(ctx, xp, k, s, d)
        cols = cols.reshape(b, groups, kdim, length)
        # ∂W = δ @ colsᵀ, or ∂Wᵀ = cols @ δᵀ transposed: the same products; OpenBLAS (one
        # thread) runs the one whose result has the more rows faster — δ @ colsᵀ when
        # C_out > C_in·∏k (ResNet's 1×1 expansions and projections: 9–33% faster), cols @ δᵀ
        # otherwise (8–16% at 576·3136·64): right on 18 of ResNet-50's 20 shapes, the other
        # two within 9% (one thread, best of 7; 18p's measurement)
        if plain and cout > kdim:
            gw = ctx.matmul(g[0, 0], cols[0, 0].T)
        elif plain:
            gw = ctx.matmul(cols[0, 0], g[0, 0].T).T
        else:
            gw = np.swapaxes(ctx.matmul(cols, np.swapaxes(g, -1, -2)).sum(axis=0), -1, -2)
        # a view in the weight's layout where it can be one (splitting an axis needs no copy;
        # a transposed copy of a large weight cost more than its product)
        grads["weight"] = gw.reshape(weight.shape)
    if not want_x:
        return None, grads
    rank = len(k)
    n = tuple(canvas[2 + a] - lo[a] - hi[a] for a in range(rank))
    same = all(v == 1 for v in s) and tuple(o) == n
    if same and all(v == 1 for v in k):  # 1×1, no padding: the input gradient is Wᵀ @ δ
        wt = weight.reshape(groups, cout // groups, cin // groups)
        if plain:
            return ctx.matmul(wt[0].T, g[0, 0]).reshape(1, cin, *n), grads
        return ctx.matmul(np.swapaxes(wt, -1, -2), g).reshape(b, cin, *n), grads
    # The flipped-kernel correlation copies the weight re-laid (C_in/G × C_out/G·∏k per group)
    # and δ's im2col (C_out/G·∏k × L); col2im writes and adds back C_in/G·∏k × L. With more
    # input channels per group than positions (ResNet's layer3/4, VGG's conv5: 512 channels
    # at 14×14 or 7×7) the weight copy is the larger and col2im is the faster (≈1.9× at
    # 512 × 7×7, 1.2× at 256 × 14×14; 0.7× at 128 × 28×28, one thread, 18n's measurement).
    if same and cin // groups <= length:
        # ∂x[c, j] = Σ_{o,κ′} W[o, c, k−1−κ′]·ĝ[o, j − lo + d·κ′], ĝ = δ padded by d(k − 1)
        reach = [d[a] * (k[a] - 1) for a in range(rank)]
        gp = pad(gy, [reach[a] - lo[a] for a in range(rank)],
                 [reach[a] - hi[a] for a in range(rank)], 0.0)
        cols = im2col(ctx, gp, k, (1,) * rank, d).reshape(b, groups,
                                                          cout // groups * prod(k), length)
        flipped = np.flip(weight, axis=tuple(range(2, 2 + rank)))
        # (G, C_in/G, C_out/G·∏k): for each input channel, its kernels of every output channel
        per = flipped.reshape(groups, cout // groups, cin // groups, prod(k))
        wf = np.ascontiguousarray(per.transpose(0, 2, 1, 3)).reshape(
            groups, cin // groups, cout // groups * prod(k))
        if plain:
            return ctx.matmul(wf[0], cols[0, 0]).reshape(1, cin, *n), grads
        return ctx.matmul(wf, cols).reshape(b, cin, *n), grads
    wt = weight.reshape(groups, cout // groups, kdim)
    if plain:
        # into the run's scratch (the weight gradient's columns are no longer needed, and
        # col2im reads these once): no fresh pages to fault in for a temporary
        mine = ctx.scratch((kdim, length)) if gy.dtype == weight.dtype == ctx.dtype else None
        dcols = ctx.matmul(wt[0].T, g[0, 0], out=mine).reshape(1, 1, kdim, length)
    else:
        dcols = ctx.matmul(np.swapaxes(wt, -1, -2), g)
    return col2im(dcols.reshape(b, cin, *k, *o), canvas, k, s, d), grads


def _conv_depthwise_backward(gy: Array, xp: Array | None, weight: Array, mult: int,
                             canvas: tuple[int, ...], k: Sequence[int], s: Sequence[int],
                             d: Sequence[int], ctx: Context, want_x: bool
                             ) -> tuple[Array | None, dict[str, Array]]:
    """Depthwise: per kernel tap, ``∂W[o, κ] = Σ δ[o]·x̃[o // m, tap κ]`` and ``δ[o]·W[o, κ]``
    added at the tap's strided place — one MAC per output element and tap each, as the
    forward (``ctx.count``); a depth multiplier m sums its m output channels' gradients."""
    import numpy as np

    from .adjoint import channel_dot, tap_slices
    from .arrays import channel_view, taps, windows

    rank = len(k)
    kw = weight.reshape(weight.shape[0], -1)
    grads: dict[str, Array] = {}
    if xp is not None:
        src = np.repeat(xp, mult, axis=1) if mult > 1 else xp
        views = taps(windows(src, k, s, d), rank)
        gw = np.empty(kw.shape, gy.dtype)
        for t, tap in enumerate(views):
            gw[:, t] = channel_dot(gy, tap)
            ctx.count(gy.size)  # one multiply-accumulate per output element and tap
        grads["weight"] = gw.reshape(weight.shape)
    if not want_x:
        return None, grads
    b, cin = canvas[:2]
    out = np.zeros((b, cin * mult, *canvas[2:]), gy.dtype)
    tmp = np.empty_like(gy)
    for t, place in enumerate(tap_slices(k, s, d, gy.shape[2:])):
        coef = channel_view(np.ascontiguousarray(kw[:, t]), 2 + rank)
        np.multiply(gy, coef, out=tmp)
        out[(slice(None), slice(None), *place)] += tmp
        ctx.count(gy.size)
    gx = out.reshape(b, cin, mult, *canvas[2:]).sum(axis=2) if mult > 1 else out
    return gx, grads


def _conv_connections_backward(conn: tuple[tuple[int, ...], ...], gy: Array,
                               xp: Array | None, w: Tensors, canvas: tuple[int, ...],
                               k: Sequence[int], s: Sequence[int], d: Sequence[int],
                               ctx: Context, want_x: bool
                               ) -> tuple[Array | None, dict[str, Array]]:
    """LeNet-5's C3: per output map i, ``∂W_i = δ_i @ colsᵀ`` over its listed input maps and
    ``W_iᵀ @ δ_i`` added back onto those maps (col2im): ``len(conn_i)·∏k·L`` MACs each."""
    import numpy as np

    from .adjoint import col2im
    from .arrays import windows

    rank = len(k)
    b = gy.shape[0]
    o = gy.shape[2:]
    length = prod(o)
    grads: dict[str, Array] = {}
    perm = (0, 1, *range(2 + rank, 2 + 2 * rank), *range(2, 2 + rank))
    win = windows(xp, k, s, d) if xp is not None else None
    gx = np.zeros(canvas, gy.dtype) if want_x else None
    for i, maps in enumerate(conn):
        gi = gy[:, i:i + 1].reshape(b, 1, length)
        weight = w[f"weight[{i}]"].reshape(1, -1)
        if win is not None:
            cols = np.ascontiguousarray(win[:, list(maps)].transpose(perm))
            cols = cols.reshape(b, len(maps) * prod(k), length)
            gw = ctx.matmul(cols, np.swapaxes(gi, -1, -2)).sum(axis=0)  # ∂Wᵀ, as the conv's
            grads[f"weight[{i}]"] = np.ascontiguousarray(gw.T).reshape(w[f"weight[{i}]"].shape)
        if gx is not None:
            dcols = ctx.matmul(weight.T, gi).reshape(b, len(maps), *k, *o)
            gx[:, list(maps)] += col2im(dcols, (b, len(maps), *canvas[2:]), k, s, d)
    return gx, grads
