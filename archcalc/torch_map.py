"""Each layer type's PyTorch equivalent (becomes a ``to_torch`` method of each layer class).

``to_torch(layer, ins, out)`` returns the module (or the merge expression) that computes exactly
what the engine counts: the same weights (shapes and count), the same output shape and the same
multiply-accumulates as ``torch.utils.flop_counter.FlopCounterMode`` sees them. A type or an
argument PyTorch cannot express is a :class:`BridgeError` naming what was received.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .errors import BridgeError
from .shapes import Pair, Shape, effective_kernel, per_axis, same_padding
from .torch_code import TorchCall, TorchLayer, TorchMerge, call, sequential

Shapes = tuple[Shape, ...]
T = TypeVar("T")


def _rank(kind: str, shape: Shape) -> int:
    rank = len(shape) - 1
    if not 1 <= rank <= 3:
        raise BridgeError(f"{kind} on a {list(shape)} input has no PyTorch module "
                          f"(nn.*1d/2d/3d take 1 to 3 spatial axes)")
    return rank


def _squeeze(values: tuple[T, ...]) -> T | tuple[T, ...]:
    """One int when every axis agrees (``kernel_size=3``), else the tuple."""
    return values[0] if len(set(values)) == 1 else values


def _pads(p: Any, shape: Shape, k_eff: tuple[int, ...], s: tuple[int, ...]) -> tuple[Pair, ...]:
    rank = len(shape) - 1
    if p == "valid":
        return ((0, 0),) * rank
    if p == "same":
        return tuple(same_padding(shape[1 + a], k_eff[a], s[a]) for a in range(rank))
    if isinstance(p, int):
        return ((p, p),) * rank
    return tuple((v, v) if isinstance(v, int) else (v[0], v[1]) for v in p)


def _padding(pads: tuple[Pair, ...]) -> tuple[TorchCall | None, int | tuple[int, ...]]:
    """Symmetric padding goes into the layer (``padding=p``); uneven padding (``same`` with an
    even total, explicit pairs) becomes an ``nn.ConstantPadNd`` before it — PyTorch orders the
    pairs last axis first."""
    if all(lo == hi for lo, hi in pads):
        return None, _squeeze(tuple(lo for lo, _ in pads))
    flat = tuple(v for lo, hi in reversed(pads) for v in (lo, hi))
    return call(f"nn.ConstantPad{len(pads)}d", ("padding", flat), ("value", 0.0)), 0


#: PyTorch's defaults of the integer arguments of convolutions and pools
CONV_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "output_padding": 0}
#: a pool's stride defaults to its kernel size, so it is written whenever it differs
POOL_DEFAULTS = {"padding": 0, "dilation": 1}


def conv(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``conv``/``dwconv``/``pwconv`` → ``nn.ConvNd(in, out, kernel_size, stride, padding,
    dilation, groups, bias)``; LeNet's ``connections`` → ``PartialConv``."""
    (shape,) = ins
    rank = _rank(layer.kind, shape)
    k = per_axis(layer.k, rank, "k")
    s = per_axis(layer.s, rank, "s")
    d = per_axis(layer.d, rank, "d")
    pad, padding = _padding(_pads(layer.p, shape, tuple(
        effective_kernel(k[a], d[a]) for a in range(rank)), s))
    if layer.connections is not None:
        if rank != 2 or len(set(k)) != 1 or set(s) != {1} or set(d) != {1} or padding:
            raise BridgeError("a partial connection table exports only as a 2D square kernel "
                              "with stride 1, no dilation and no padding (LeNet-5's C3)")
        return call("PartialConv", ("connections", layer.connections), ("kernel_size", k[0]),
                    bias=layer.bias, helper="PartialConv")
    cin = shape[0]
    groups = cin if layer.kind == "dwconv" else layer.groups
    module = call(f"nn.Conv{rank}d", ("in_channels", cin), ("out_channels", out[0]),
                  kernel_size=_squeeze(k), stride=_squeeze(s), padding=padding,
                  dilation=_squeeze(d), groups=groups, bias=None if layer.bias else False,
                  defaults=CONV_DEFAULTS)
    return module if pad is None else sequential(pad, module)


def deconv(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``deconv`` → ``nn.ConvTransposeNd`` with PyTorch's own arguments (the engine's rule is
    PyTorch's)."""
    (shape,) = ins
    rank = _rank(layer.kind, shape)

    def ax(v: Any, name: str) -> int | tuple[int, ...]:
        return _squeeze(per_axis(v, rank, name))

    return call(f"nn.ConvTranspose{rank}d", ("in_channels", shape[0]), ("out_channels", out[0]),
                kernel_size=ax(layer.k, "k"), stride=ax(layer.s, "s"), padding=ax(layer.p, "p"),
                output_padding=ax(layer.output_padding, "output_padding"), groups=layer.groups,
                bias=None if layer.bias else False, dilation=ax(layer.d, "d"),
                defaults=CONV_DEFAULTS)


def pool(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``maxpool`` → ``nn.MaxPoolNd``; ``avgpool`` → ``nn.AvgPoolNd`` (count_include_pad as
    given); ``subsample`` → the ``Subsample`` helper."""
    (shape,) = ins
    rank = _rank(layer.kind, shape)
    k = per_axis(layer.k, rank, "k")
    s = per_axis(layer.s if layer.s is not None else layer.k, rank, "s")
    if layer.kind == "subsample":
        if rank != 2 or len(set(k)) != 1 or len(set(s)) != 1:
            raise BridgeError("subsample exports only with a square 2D window")
        return call("Subsample", ("channels", shape[0]), ("kernel_size", k[0]),
                    ("stride", s[0]), helper="Subsample")
    p = per_axis(layer.p, rank, "p")
    common: dict[str, Any] = {"stride": _squeeze(s) if s != k else None,
                              "padding": _squeeze(p)}
    if layer.kind == "avgpool":
        return call(f"nn.AvgPool{rank}d", ("kernel_size", _squeeze(k)), **common,
                    ceil_mode=layer.ceil_mode or None,
                    count_include_pad=None if layer.count_include_pad else False,
                    defaults=POOL_DEFAULTS)
    return call(f"nn.MaxPool{rank}d", ("kernel_size", _squeeze(k)), **common,
                dilation=_squeeze(per_axis(layer.d, rank, "d")),
                ceil_mode=layer.ceil_mode or None, defaults=POOL_DEFAULTS)


def global_pool(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``global_avgpool``/``global_maxpool`` → ``nn.AdaptiveAvg/MaxPoolNd(1)`` (the output kept
    as ``[C, 1…]``, as the engine keeps it)."""
    rank = _rank(layer.kind, ins[0])
    kind = "Max" if layer.kind == "global_maxpool" else "Avg"
    return call(f"nn.Adaptive{kind}Pool{rank}d", ("output_size", 1))


def adaptive_pool(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    rank = _rank(layer.kind, ins[0])
    return call(f"nn.AdaptiveAvgPool{rank}d", ("output_size", _squeeze(tuple(out[1:]))))


def linear(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``fc`` → ``nn.Linear(F, out, bias)``; on a ``[C, 1…]`` map (the engine reads it as
    ``[C]``) an ``nn.Flatten()`` goes first."""
    (shape,) = ins
    module = call("nn.Linear", ("in_features", shape[0]), ("out_features", layer.out),
                  bias=None if layer.bias else False)
    return module if len(shape) == 1 else sequential(call("nn.Flatten"), module)


def flatten(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return call("nn.Flatten")


def reshape(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return call("Reshape", ("shape", tuple(out)), helper="Reshape")


def zeropad(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    (shape,) = ins
    rank = _rank(layer.kind, shape)
    pads = _pads(layer.p, shape, (1,) * rank, (1,) * rank)
    flat = tuple(v for lo, hi in reversed(pads) for v in (lo, hi))
    return call(f"nn.ConstantPad{rank}d", ("padding", flat), ("value", 0.0))


def crop(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``crop`` → the ``Crop`` helper with the cuts the engine computed (a second input, U-Net's
    crop-to-size, only gives the size: the module for this input size, as every fc is)."""
    shape = ins[0]
    cuts = tuple(((n - m) // 2, n - m - (n - m) // 2) for n, m in zip(shape[1:], out[1:],
                                                                       strict=True))
    if layer.margin is not None:
        rank = len(shape) - 1
        cuts = _pads(layer.margin, shape, (1,) * rank, (1,) * rank)
    return call("Crop", ("cuts", cuts), helper="Crop")


def channel_shuffle(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """The ``ChannelShuffle`` helper (torchvision's view-transpose-view; ``nn.ChannelShuffle``
    does the same but has no ONNX export)."""
    return call("ChannelShuffle", ("groups", layer.groups), helper="ChannelShuffle")


def channel_slice(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return call("ChannelSlice", ("start", layer.start), ("stop", layer.stop),
                helper="ChannelSlice")


def upsample(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``upsample`` → ``nn.Upsample`` (nearest, or linear/bilinear/trilinear by rank), by the
    output size the engine computed."""
    rank = _rank(layer.kind, ins[0])
    mode = layer.mode
    if mode == "bilinear":
        mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[rank]
    size = _squeeze(tuple(out[1:]))
    scale = None
    if layer.scale is not None:
        scale = _squeeze(tuple(float(v) for v in per_axis(layer.scale, rank, "scale")))
    return call("nn.Upsample", size=size if scale is None else None, scale_factor=scale,
                mode=mode, align_corners=layer.align_corners if mode != "nearest" else None)


def pixel_shuffle(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    if len(ins[0]) != 3:
        raise BridgeError(f"pixel_shuffle on the {len(ins[0]) - 1}D input {list(ins[0])}: "
                          "nn.PixelShuffle is 2D only")
    return call("nn.PixelShuffle", ("upscale_factor", layer.r))


def identity(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return call("nn.Identity")


def dropout(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return call("nn.Dropout", ("p", layer.p))


def batchnorm(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``bn`` → ``nn.BatchNormNd(C)``: 1d for ``[C]`` and ``[C, L]``, 2d, 3d by rank. Its
    ``num_batches_tracked`` buffer is a step counter, not a statistic (not counted)."""
    shape = ins[0]
    rank = max(len(shape) - 1, 1)
    return call(f"nn.BatchNorm{rank}d", ("num_features", shape[0]),
                eps=layer.eps if layer.eps != 1e-5 else None,
                affine=None if layer.affine else False)


def layernorm(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    shape = ins[0]
    eps = layer.eps if layer.eps != 1e-5 else None
    if layer.over == "all":
        return call("nn.LayerNorm", ("normalized_shape", tuple(shape)), eps=eps)
    return call("ChannelLayerNorm", ("normalized_shape", shape[0]), eps=eps,
                helper="ChannelLayerNorm")


def lrn(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return call("nn.LocalResponseNorm", ("size", layer.size), alpha=layer.alpha,
                beta=layer.beta, k=layer.k)


#: activation function → its module (each a row of the activation rules)
ACTIVATIONS: dict[str, Callable[[Any], TorchCall]] = {
    "relu": lambda a: call("nn.ReLU"),
    "relu6": lambda a: call("nn.ReLU6"),
    "leaky_relu": lambda a: call("nn.LeakyReLU", ("negative_slope", a.slope)),
    "sigmoid": lambda a: call("nn.Sigmoid"),
    "tanh": lambda a: call("nn.Tanh"),
    "hardsigmoid": lambda a: call("nn.Hardsigmoid"),
    "hardswish": lambda a: call("nn.Hardswish"),
    "swish": lambda a: call("nn.SiLU"),
    "silu": lambda a: call("nn.SiLU"),
    "gelu": lambda a: call("nn.GELU"),
    "softmax": lambda a: call("nn.Softmax", ("dim", 1)),
}


def activation(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return ACTIVATIONS[layer.fn](layer)


def add(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``add`` → ``a + b (+ c …)`` in forward."""
    return TorchMerge(lambda names: " + ".join(names))


def multiply(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    """``multiply`` → ``a * b``; a flat ``[C]`` gate is given the map's spatial axes first."""
    a, b = ins
    rank = max(len(a), len(b)) - 1

    def expr(names: Sequence[str]) -> str:
        x, y = names
        if len(a) != len(b):
            view = "[:, :" + ", None" * rank + "]"
            x, y = (x, y + view) if len(a) > len(b) else (x + view, y)
        return f"{x} * {y}"

    return TorchMerge(expr)


def concat(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return TorchMerge(lambda names: f"torch.cat([{', '.join(names)}], dim=1)")


def subsample(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    return pool(layer, ins, out)


#: layer kind → its PyTorch rule
RULES: dict[str, Callable[[Any, Shapes, Shape], TorchLayer]] = {
    "conv": conv, "dwconv": conv, "pwconv": conv, "deconv": deconv,
    "maxpool": pool, "avgpool": pool, "subsample": subsample,
    "global_avgpool": global_pool, "global_maxpool": global_pool,
    "adaptive_avgpool": adaptive_pool, "fc": linear, "flatten": flatten, "reshape": reshape,
    "zeropad": zeropad, "crop": crop, "channel_shuffle": channel_shuffle,
    "slice": channel_slice, "upsample": upsample, "pixel_shuffle": pixel_shuffle,
    "identity": identity, "dropout": dropout, "bn": batchnorm, "layernorm": layernorm,
    "lrn": lrn, "activation": activation, "add": add, "multiply": multiply, "concat": concat,
}


def to_torch(layer: Any, ins: Shapes, out: Shape) -> TorchLayer:
    rule = RULES.get(layer.kind)
    if rule is None:
        raise BridgeError(f"layer type {layer.type_name!r} has no PyTorch equivalent yet",
                          hint="archcalc export refuses rather than approximate it")
    return rule(layer, ins, out)
