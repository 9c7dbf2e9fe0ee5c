"""The PyTorch side of a layer, as values: what a layer class returns from ``to_torch`` and how
it is written as Python text. No torch here: the exporter writes code that imports torch.

A layer is either a **module** (:class:`TorchCall`: ``nn.Conv2d(3, 64, kernel_size=11, …)``,
a submodule named after the spec's id) or a **merge** (:class:`TorchMerge`: an expression over
its inputs written in ``forward``, ``torch.cat([a, b], dim=1)``). Helper modules that PyTorch
lacks (LeNet-5's subsampling, a channel slice, …) are named by :class:`TorchCall.helper` and their
source is written once into the generated file (:data:`HELPERS`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from .errors import BridgeError
from .shapes import Pair, Shape, same_padding

T = TypeVar("T")


class TorchCall(NamedTuple):
    """A constructor call ``fn(args…)``. ``args`` are (name, value) pairs; the first
    ``positional`` are written without their names (``nn.Conv2d(3, 64, kernel_size=3)``), the
    names still say what they are (a shared class's parameters are named after them). Values:
    int, float, bool, str, None, tuples of those, or nested :class:`TorchCall`."""

    fn: str
    args: tuple[tuple[str, Any], ...] = ()
    positional: int = 0
    #: the helper class (a key of :data:`HELPERS`) this call needs in the generated file
    helper: str = ""

    def visible(self) -> tuple[tuple[str, Any], ...]:
        """The arguments written out: a keyword left at its PyTorch default is not."""
        return tuple((k, v) for i, (k, v) in enumerate(self.args)
                     if i < self.positional or not isinstance(v, Default))


class Default(NamedTuple):
    """An integer argument left at PyTorch's default (``stride=1``): not written, but a slot
    when instances of a shared class differ in it (one block's stride 1, the next one's 2)."""

    value: int


class Param(NamedTuple):
    """A constructor parameter standing for an argument of a shared class (written as its
    name)."""

    name: str


class TorchMerge(NamedTuple):
    """A merge written in ``forward``: ``expr(input names)`` is one Python expression."""

    expr: Callable[[Sequence[str]], str]


TorchLayer = TorchCall | TorchMerge


def call(fn: str, *positional: tuple[str, Any], helper: str = "",
         defaults: dict[str, int] | None = None, **kw: Any) -> TorchCall:
    """``call("nn.Conv2d", ("in_channels", 3), ("out_channels", 64), kernel_size=3)``;
    keyword values of None are left out (PyTorch's default applies), and so are integer values
    equal to their entry in ``defaults`` (kept as :class:`Default`)."""
    defaults = defaults or {}
    args = (*positional, *((k, Default(v) if defaults.get(k, None) == v
                            and not isinstance(v, bool) else v)
                           for k, v in kw.items() if v is not None))
    return TorchCall(fn, tuple(args), len(positional), helper)


def sequential(*calls: TorchCall) -> TorchCall:
    """``nn.Sequential(a, b, …)``, nested sequentials flattened (a padded conv with its fused
    bn and activation is one ``nn.Sequential(pad, conv, bn, act)``)."""
    flat: list[TorchCall] = []
    for c in calls:
        flat.extend(v for _, v in c.args) if c.fn == "nn.Sequential" else flat.append(c)
    if len(flat) == 1:
        return flat[0]
    return TorchCall("nn.Sequential", tuple((str(i), c) for i, c in enumerate(flat)), len(flat))


def merge(expr: Callable[[Sequence[str]], str]) -> TorchMerge:
    return TorchMerge(expr)


# ------------------------------------------------- argument arithmetic the layer rules share --

#: PyTorch's defaults of the integer arguments of convolutions and pools
CONV_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "output_padding": 0}
#: a pool's stride defaults to its kernel size, so it is written whenever it differs
POOL_DEFAULTS = {"padding": 0, "dilation": 1}


def rank(kind: str, shape: Shape) -> int:
    """The spatial rank of ``shape`` for an ``nn.*1d/2d/3d`` module, or a refusal."""
    found = len(shape) - 1
    if not 1 <= found <= 3:
        raise BridgeError(f"{kind} on a {list(shape)} input has no PyTorch module "
                          f"(nn.*1d/2d/3d take 1 to 3 spatial axes)")
    return found


def squeeze(values: tuple[T, ...]) -> T | tuple[T, ...]:
    """One int when every axis agrees (``kernel_size=3``), else the tuple."""
    return values[0] if len(set(values)) == 1 else values


def pads(p: Any, shape: Shape, k_eff: tuple[int, ...], s: tuple[int, ...]) -> tuple[Pair, ...]:
    """A spec's padding (int, per axis, pairs, ``same``, ``valid``) as (before, after) pairs."""
    n = len(shape) - 1
    if p == "valid":
        return ((0, 0),) * n
    if p == "same":
        return tuple(same_padding(shape[1 + a], k_eff[a], s[a]) for a in range(n))
    if isinstance(p, int):
        return ((p, p),) * n
    return tuple((v, v) if isinstance(v, int) else (v[0], v[1]) for v in p)


def padding(pairs: tuple[Pair, ...]) -> tuple[TorchCall | None, int | tuple[int, ...]]:
    """Symmetric padding goes into the layer (``padding=p``); uneven padding (``same`` with an
    even total, explicit pairs) becomes an ``nn.ConstantPadNd`` before it — PyTorch orders the
    pairs last axis first."""
    if all(lo == hi for lo, hi in pairs):
        return None, squeeze(tuple(lo for lo, _ in pairs))
    return constant_pad(pairs), 0


def constant_pad(pairs: tuple[Pair, ...]) -> TorchCall:
    flat = tuple(v for lo, hi in reversed(pairs) for v in (lo, hi))
    return call(f"nn.ConstantPad{len(pairs)}d", ("padding", flat), ("value", 0.0))


def refuse(what: str, why: str) -> BridgeError:
    """A layer archcalc export does not write, and why (the exporter adds name and place)."""
    return BridgeError(f"{what}: {why}", hint="archcalc export refuses rather than approximate "
                       "a layer; change the layer or leave it out")


def literal(value: Any) -> str:
    """A value as Python source: ``(3, 3)``, ``'nearest'``, ``1e-05``, ``True``."""
    if isinstance(value, TorchCall):
        return render(value)
    if isinstance(value, Param):
        return value.name
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def render(c: TorchCall, indent: int = 0, start: int | None = None, width: int = 100,
           tail: int = 0) -> str:
    """``fn(a, b, k=v)`` on one line when it fits in ``width`` from column ``start`` (default:
    ``indent``; ``tail`` characters follow it), else one argument per line at ``indent + 4``
    (nested calls the same way)."""
    parts = [literal(v) if i < c.positional else f"{k}={literal(v)}"
             for i, (k, v) in enumerate(c.visible())]
    one = f"{c.fn}({', '.join(parts)})"
    if (indent if start is None else start) + len(one) + tail <= width:
        return one
    pad = " " * (indent + 4)
    lines = []
    for i, (k, v) in enumerate(c.visible()):
        head = "" if i < c.positional else f"{k}="
        if isinstance(v, TorchCall):
            body = render(v, indent + 4, indent + 4 + len(head), width, tail=1)
        else:
            body = _long_literal(v, indent + 4, indent + 4 + len(head), width)
        lines.append(f"{pad}{head}{body},")
    return f"{c.fn}(\n" + "\n".join(lines) + f"\n{' ' * indent})"


def _long_literal(v: Any, indent: int, start: int, width: int) -> str:
    """A literal, a tuple too long for the line written one element per line."""
    text = literal(v)
    if start + len(text) + 1 <= width or not isinstance(v, tuple):
        return text
    pad = " " * (indent + 4)
    return "(\n" + "".join(f"{pad}{literal(x)},\n" for x in v) + " " * indent + ")"


def helpers_of(c: TorchCall) -> set[str]:
    """Every helper class a call (and the calls nested in it) needs."""
    found = {c.helper} if c.helper else set()
    for _, v in c.args:
        if isinstance(v, TorchCall):
            found |= helpers_of(v)
    return found


#: Source of the helper modules, written into a generated file only when a layer uses them.
#: Each does exactly what the engine counts (the docstrings say how FlopCounterMode sees it).
HELPERS: dict[str, str] = {
    "Subsample": '''
class Subsample(nn.Module):
    """LeNet-5's subsampling: the sum of each k×k window times a trainable coefficient plus a
    trainable bias, per map. The coefficient multiply is a depthwise 1×1 convolution, so
    FlopCounterMode counts its C·H′·W′ multiply-accumulates as archcalc does."""

    def __init__(self, channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.coefficient = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        window_sum = F.avg_pool2d(x, k, self.stride) * (k * k)
        weight = self.coefficient.view(-1, 1, 1, 1)
        return F.conv2d(window_sum, weight, self.bias, groups=x.shape[1])
''',
    "PartialConv": '''
class PartialConv(nn.Module):
    """A convolution whose output map i sees only the input maps ``connections[i]`` (LeNet-5's
    C3): one kernel of len(connections[i]) × k × k per output map, plus a bias each."""

    def __init__(self, connections: tuple[tuple[int, ...], ...], kernel_size: int,
                 bias: bool = True) -> None:
        super().__init__()
        self.connections = connections
        self.weight = nn.ParameterList(
            nn.Parameter(torch.randn(1, len(maps), kernel_size, kernel_size) * 0.1)
            for maps in connections)
        self.bias = nn.Parameter(torch.zeros(len(connections))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [F.conv2d(x[:, list(c)], w) for c, w in zip(self.connections, self.weight)]
        y = torch.cat(maps, dim=1)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)
''',
    "Reshape": '''
class Reshape(nn.Module):
    """Reshape each sample to ``shape`` (the batch axis kept)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)
''',
    "ChannelShuffle": '''
class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle: (B, g, C/g, …) → (B, C/g, g, …), flattened back."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        y = x.reshape(b, self.groups, c // self.groups, *x.shape[2:]).transpose(1, 2)
        return y.reshape(x.shape)
''',
    "ChannelSlice": '''
class ChannelSlice(nn.Module):
    """Channels [start, stop) (ShuffleNet v2's channel split)."""

    def __init__(self, start: int, stop: int) -> None:
        super().__init__()
        self.start, self.stop = start, stop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.start:self.stop]
''',
    "Crop": '''
class Crop(nn.Module):
    """Remove (before, after) elements per spatial axis. U-Net's crop-to-size passes the
    tensor whose size it matches as ``like``; the cuts were computed for this input size."""

    def __init__(self, cuts: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        self.cuts = cuts

    def forward(self, x: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:
        keep = tuple(slice(lo, n - hi) for (lo, hi), n in zip(self.cuts, x.shape[2:]))
        return x[(slice(None), slice(None), *keep)]
''',
    "Chain": '''
class Chain(nn.Sequential):
    """nn.Sequential whose first module takes every input (a deformable conv's map and
    offsets), the fused bn/act after it one."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        first, *rest = list(self)
        y = first(*inputs)
        for module in rest:
            y = module(y)
        return y
''',
    "RegionPool": '''
class RegionPool(nn.Module):
    """RoI pooling of ``regions`` boxes per image (torchvision's roi_align / roi_pool), the
    output batch ``b·R + r``. The boxes are the fixed spread archcalc's executor pools (a spec
    has no proposals): centres at golden-ratio steps over the image, sides 10-70 %. With
    several maps (an FPN), each box is pooled from the level its size selects (torchvision's
    LevelMapper: k = ⌊4 + log2(√(wh)/224)⌋). torchvision's RoI ops have no FlopCounterMode
    rule; their arithmetic is window reads, no MACs, as archcalc counts them."""

    def __init__(self, op: str, output_size: tuple[int, int], regions: int,
                 image_size: tuple[float, float], scales: tuple[float, ...],
                 sampling_ratio: int = 2, aligned: bool = False) -> None:
        super().__init__()
        self.op, self.output_size, self.scales = op, output_size, scales
        self.sampling_ratio, self.aligned = sampling_ratio, aligned
        height, width = image_size
        i = torch.arange(regions, dtype=torch.float64)
        cx = torch.remainder(0.5 + i * 0.7548776662466927, 1.0) * width
        cy = torch.remainder(0.5 + i * 0.5698402909980532, 1.0) * height
        bw = (0.1 + 0.6 * torch.remainder(0.3 + i * 0.6180339887498949, 1.0)) * width
        bh = (0.1 + 0.6 * torch.remainder(0.7 + i * 0.4142135623730950, 1.0)) * height
        self.boxes = torch.stack([(cx - bw / 2).clamp(0, width), (cy - bh / 2).clamp(0, height),
                                  (cx + bw / 2).clamp(0, width), (cy + bh / 2).clamp(0, height)],
                                 dim=1).float()  # a plain attribute: no parameter or buffer
        k_min, k_max = -math.log2(scales[0]), -math.log2(scales[-1])
        size = ((self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1]))
        k = torch.floor(4 + torch.log2(size.double().sqrt() / 224 + 1e-6))
        self.level = (k.clamp(k_min, k_max) - k_min).long()

    def _pool(self, x: torch.Tensor, boxes: torch.Tensor, scale: float) -> torch.Tensor:
        per_image = [boxes] * x.shape[0]
        if self.op == "roi_pool":
            return torchvision.ops.roi_pool(x, per_image, self.output_size, scale)
        return torchvision.ops.roi_align(x, per_image, self.output_size, scale,
                                         self.sampling_ratio, self.aligned)

    def forward(self, *maps: torch.Tensor) -> torch.Tensor:
        if len(maps) == 1:
            return self._pool(maps[0], self.boxes, self.scales[0])
        b, c = maps[0].shape[:2]
        regions = self.boxes.shape[0]
        y = maps[0].new_zeros(b, regions, c, *self.output_size)
        for level, (x, scale) in enumerate(zip(maps, self.scales)):
            picked = torch.nonzero(self.level == level).flatten()
            if picked.numel():
                pooled = self._pool(x, self.boxes[picked], scale)
                y[:, picked] = pooled.view(b, picked.numel(), c, *self.output_size)
        return y.view(b * regions, c, *self.output_size)
''',
    "MaxUnpool": '''
class MaxUnpool(nn.Module):
    """Max unpooling (SegNet): each value back at the position its max pool took it from
    (the pool's flat argmax indices), zeros elsewhere, at the pool's input size."""

    def __init__(self, size: tuple[int, ...]) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        y = x.new_zeros(b, c, math.prod(self.size))
        y.scatter_(2, indices.flatten(2), x.flatten(2))
        return y.view(b, c, *self.size)
''',
    "Maxout": '''
class Maxout(nn.Module):
    """Maxout over channels: the maximum of each ``pieces`` consecutive channels."""

    def __init__(self, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[:2]
        return x.reshape(b, c // self.pieces, self.pieces, *x.shape[2:]).amax(dim=2)
''',
    "Gram": '''
class Gram(nn.Module):
    """The Gram matrix of the channels, F·Fᵀ for the C × positions matrix F (a batched matrix
    product: FlopCounterMode counts its C·C·positions MACs); ``normalize`` divides by C·n."""

    def __init__(self, normalize: bool = False) -> None:
        super().__init__()
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = x.flatten(2)
        g = torch.bmm(f, f.transpose(1, 2))
        return g / f.shape[1:].numel() if self.normalize else g
''',
    "Abs": '''
class Abs(nn.Module):
    """|x|, element-wise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()
''',
    "Scale": '''
class Scale(nn.Module):
    """Multiplication by a constant (Inception-ResNet's residual scaling)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor
''',
    "LayerScale": '''
class LayerScale(nn.Module):
    """A learned per-channel scale γ·x (CaiT, ConvNeXt), γ initialised to 1e-6."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma.view(-1, *([1] * (x.dim() - 2)))
''',
    "L2Norm": '''
class L2Norm(nn.Module):
    """x / max(‖x‖₂, ε) over the channels of each position (F.normalize), times a learned
    per-channel scale initialised to 20 (SSD's conv4_3) when ``affine``."""

    def __init__(self, channels: int, eps: float = 1e-12, affine: bool = True) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.full((channels,), 20.0)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.normalize(x, dim=1, eps=self.eps)
        if self.weight is None:
            return y
        return y * self.weight.view(-1, *([1] * (x.dim() - 2)))
''',
    "PositionwiseLinear": '''
class PositionwiseLinear(nn.Linear):
    """nn.Linear on the channels of every position of a map (channels-last inside)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)
''',
    "ChannelLayerNorm": '''
class ChannelLayerNorm(nn.LayerNorm):
    """Layer normalisation over the channels of each position (ConvNeXt's LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return super().forward(x)
        moved = x.movedim(1, -1)
        return super().forward(moved).movedim(-1, 1)
''',
}
