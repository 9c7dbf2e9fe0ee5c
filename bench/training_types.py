"""What PyTorch's autograd keeps for the backward pass of each layer type (not needed by archcalc).

For every archcalc layer type, the PyTorch module or function with the same semantics runs once
on a small input that requires grad (the output of an earlier op, as inside a network), in
three settings: everything trainable; the layer's parameters frozen; the input not requiring
grad (the first layer of a network, or the first after frozen ones). Every tensor autograd
saves is seen through ``torch.autograd.graph.saved_tensors_hooks`` and named by what its storage
is: the layer's ``input`` (or ``input1``…), its ``output``, a ``param``, a ``buffer``, or a new
tensor (``own``: indices, masks, statistics, a copy of an input an in-place op overwrites).

The rules of docs/training.md ("what each layer keeps") were read off this table:

    python bench/training_types.py            # a table
    python bench/training_types.py --json     # the same as data
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def se_gate(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return x * g


def channel_shuffle(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.reshape(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each position (ConvNeXt's): permute, normalise, permute."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerNormAll(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x)


class LayerScale(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((c,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma[None, :, None, None]


class L2Norm(nn.Module):
    """SSD's L2Norm (torchvision's SSD and the original): x / ‖x‖ over channels · weight."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((c,), 20.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight[None, :, None, None] * F.normalize(x)


class Subsample(nn.Module):
    """LeNet-5's S-layer: coefficient · (window sum) + bias per map."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.coefficient = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = F.avg_pool2d(x, 2) * 4
        return total * self.coefficient[None, :, None, None] + self.bias[None, :, None, None]


def maxout(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, c // 2, 2, h, w).max(2)[0]


def gram(x: torch.Tensor) -> torch.Tensor:
    f = x.flatten(2)
    return torch.bmm(f, f.transpose(1, 2))


def unpool(x: torch.Tensor) -> torch.Tensor:
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    return F.max_unpool2d(y * 1.0, idx, 2)


BOXES = torch.tensor([[0, 0.0, 0.0, 4.0, 4.0], [1, 1.0, 1.0, 5.0, 5.0], [0, 2.0, 0.0, 5.0, 3.0]])


class Fn(nn.Module):
    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return self.fn(*xs)


#: archcalc type → (module, input shapes without the batch)
CASES: dict[str, tuple[nn.Module, list[tuple[int, ...]]]] = {
    "conv": (nn.Conv2d(8, 16, 3, padding=1), [(8, 6, 6)]),
    "conv (groups 4)": (nn.Conv2d(8, 16, 3, padding=1, groups=4), [(8, 6, 6)]),
    "conv (dilation 2, stride 2)": (nn.Conv2d(8, 16, 3, 2, 2, 2), [(8, 9, 9)]),
    "conv1d": (nn.Conv1d(8, 16, 3), [(8, 10)]),
    "conv3d": (nn.Conv3d(4, 8, 3), [(4, 5, 5, 5)]),
    "dwconv": (nn.Conv2d(8, 8, 3, padding=1, groups=8), [(8, 6, 6)]),
    "pwconv": (nn.Conv2d(8, 16, 1), [(8, 6, 6)]),
    "deconv": (nn.ConvTranspose2d(8, 4, 2, 2), [(8, 5, 5)]),
    "fc": (nn.Linear(12, 5), [(12,)]),
    "maxpool": (nn.MaxPool2d(2), [(4, 6, 6)]),
    "maxpool (3/2, pad 1, ceil)": (nn.MaxPool2d(3, 2, 1, ceil_mode=True), [(4, 8, 8)]),
    "avgpool": (nn.AvgPool2d(2), [(4, 6, 6)]),
    "global_avgpool": (nn.AdaptiveAvgPool2d(1), [(4, 6, 6)]),
    "global_maxpool": (nn.AdaptiveMaxPool2d(1), [(4, 6, 6)]),
    "adaptive_avgpool (6 → 3)": (nn.AdaptiveAvgPool2d(3), [(4, 6, 6)]),
    "adaptive_avgpool (7 → 7)": (nn.AdaptiveAvgPool2d(7), [(4, 7, 7)]),
    "bn (train)": (nn.BatchNorm2d(4), [(4, 6, 6)]),
    "bn (affine false)": (nn.BatchNorm2d(4, affine=False), [(4, 6, 6)]),
    "layernorm (channels)": (LayerNorm2d(4), [(4, 6, 6)]),
    "layernorm (all)": (LayerNormAll((4, 6, 6)), [(4, 6, 6)]),
    "lrn": (nn.LocalResponseNorm(5, 1e-4, 0.75, 2.0), [(8, 6, 6)]),
    "dropout": (nn.Dropout(0.5), [(4, 6, 6)]),
    "relu": (nn.ReLU(), [(4, 6, 6)]),
    "relu (in place)": (nn.ReLU(inplace=True), [(4, 6, 6)]),
    "relu6": (nn.ReLU6(), [(4, 6, 6)]),
    "relu6 (in place)": (nn.ReLU6(inplace=True), [(4, 6, 6)]),
    "leaky_relu": (nn.LeakyReLU(0.1), [(4, 6, 6)]),
    "leaky_relu (in place)": (nn.LeakyReLU(0.1, inplace=True), [(4, 6, 6)]),
    "sigmoid": (nn.Sigmoid(), [(4, 6, 6)]),
    "tanh": (nn.Tanh(), [(4, 6, 6)]),
    "hardsigmoid": (nn.Hardsigmoid(), [(4, 6, 6)]),
    "hardsigmoid (in place)": (nn.Hardsigmoid(inplace=True), [(4, 6, 6)]),
    "hardswish": (nn.Hardswish(), [(4, 6, 6)]),
    "hardswish (in place)": (nn.Hardswish(inplace=True), [(4, 6, 6)]),
    "silu": (nn.SiLU(), [(4, 6, 6)]),
    "silu (in place)": (nn.SiLU(inplace=True), [(4, 6, 6)]),
    "gelu": (nn.GELU(), [(4, 6, 6)]),
    "softmax": (nn.Softmax(dim=1), [(4, 6, 6)]),
    "add": (Fn(torch.add), [(4, 6, 6), (4, 6, 6)]),
    "add (in place, ResNet)": (Fn(lambda a, b: a.add_(b)), [(4, 6, 6), (4, 6, 6)]),
    "multiply (SE gate)": (Fn(se_gate), [(4, 6, 6), (4, 1, 1)]),
    "multiply (equal shapes)": (Fn(torch.mul), [(4, 6, 6), (4, 6, 6)]),
    "concat": (Fn(lambda a, b: torch.cat([a, b], 1)), [(4, 6, 6), (2, 6, 6)]),
    "flatten": (nn.Flatten(), [(4, 6, 6)]),
    "reshape": (Fn(lambda a: a.reshape(a.shape[0], 9, 16)), [(4, 6, 6)]),
    "zeropad": (Fn(lambda a: F.pad(a, (1, 2, 1, 2))), [(4, 6, 6)]),
    "crop": (Fn(lambda a: a[:, :, 1:5, 1:5]), [(4, 6, 6)]),
    "channel_shuffle": (Fn(channel_shuffle), [(4, 6, 6)]),
    "channel_shuffle (nn)": (nn.ChannelShuffle(2), [(4, 6, 6)]),
    "slice": (Fn(lambda a: a[:, 1:3]), [(4, 6, 6)]),
    "identity": (nn.Identity(), [(4, 6, 6)]),
    "upsample (nearest)": (nn.Upsample(scale_factor=2, mode="nearest"), [(4, 6, 6)]),
    "upsample (bilinear)": (nn.Upsample(scale_factor=2, mode="bilinear"), [(4, 6, 6)]),
    # the types issue 15 added
    "prelu": (nn.PReLU(), [(4, 6, 6)]),
    "prelu (per channel)": (nn.PReLU(4), [(4, 6, 6)]),
    "elu": (nn.ELU(), [(4, 6, 6)]),
    "elu (in place)": (nn.ELU(inplace=True), [(4, 6, 6)]),
    "abs": (Fn(torch.abs), [(4, 6, 6)]),
    "scale (constant)": (Fn(lambda a: a * 0.2), [(4, 6, 6)]),
    "subtract": (Fn(torch.sub), [(4, 6, 6), (4, 6, 6)]),
    "groupnorm": (nn.GroupNorm(2, 4), [(4, 6, 6)]),
    "instancenorm": (nn.InstanceNorm2d(4), [(4, 6, 6)]),
    "instancenorm (affine, tracked)": (nn.InstanceNorm2d(4, affine=True,
                                                         track_running_stats=True), [(4, 6, 6)]),
    "layer_scale": (LayerScale(4), [(4, 6, 6)]),
    "l2norm (SSD)": (L2Norm(4), [(4, 6, 6)]),
    "maxout": (Fn(maxout), [(4, 6, 6)]),
    "gram": (Fn(gram), [(4, 6, 6)]),
    "matmul": (Fn(torch.bmm), [(3, 4), (4, 5)]),
    "pixel_shuffle": (nn.PixelShuffle(2), [(8, 3, 3)]),
    "max_unpool (with its pool)": (Fn(unpool), [(4, 6, 6)]),
    "dropout (p = 0)": (nn.Dropout(0.0), [(4, 6, 6)]),
    "subsample (LeNet)": (Subsample(4), [(4, 6, 6)]),
}
try:  # torchvision's ops: deformable conv, RoI pooling, frozen BN
    import torchvision.ops as tvo

    CASES["deform_conv"] = (tvo.DeformConv2d(4, 4, 3, padding=1), [(4, 6, 6), (18, 6, 6)])
    CASES["roi_pool (3 boxes)"] = (Fn(lambda a: tvo.roi_pool(a, BOXES, 2)), [(4, 6, 6)])
    CASES["roi_align (3 boxes)"] = (Fn(lambda a: tvo.roi_align(a, BOXES, 2, 1.0, 2)),
                                    [(4, 6, 6)])
    CASES["bn frozen (FrozenBatchNorm2d)"] = (tvo.FrozenBatchNorm2d(4), [(4, 6, 6)])
except ImportError:  # pragma: no cover - torchvision is in the reference environment
    pass

SETTINGS = {
    "trainable": (True, True),  # (input requires grad, params require grad)
    "frozen params": (True, False),
    "input without grad": (False, True),
}


def probe(module: nn.Module, shapes: list[tuple[int, ...]], input_grad: bool,
          param_grad: bool, batch: int = 2) -> list[dict[str, Any]]:
    module.train()
    for p in module.parameters():
        p.requires_grad_(param_grad)
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    buffers = {b.untyped_storage().data_ptr() for b in module.buffers()}
    torch.manual_seed(0)
    leaves = [torch.randn(batch, *s, requires_grad=input_grad) for s in shapes]
    # inputs produced by an earlier op, as inside a network (in-place ops may overwrite them)
    xs = [leaf * 1.0 if input_grad else leaf.clone() for leaf in leaves]
    ins = {x.untyped_storage().data_ptr(): f"input{i if len(xs) > 1 else ''}"
           for i, x in enumerate(xs)}
    saved: list[torch.Tensor] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = module(*xs)
    out = y.untyped_storage().data_ptr()
    found: dict[int, dict[str, Any]] = {}
    for t in saved:
        ptr = t.untyped_storage().data_ptr()
        if ptr in found:
            continue
        what = ("param" if ptr in params else "buffer" if ptr in buffers else
                ins.get(ptr) or ("output" if ptr == out else "own"))
        if what in ("output",) and ptr in ins:
            what = f"{ins[ptr]} = output (in place)"
        if ptr in ins and ptr == out:
            what = f"{ins[ptr]} = output (in place)"
        found[ptr] = {"what": what, "dtype": str(t.dtype).replace("torch.", ""),
                      "shape": list(t.shape), "elements_per_sample":
                      t.untyped_storage().nbytes() // t.element_size() / batch}
    if y.requires_grad:
        y.backward(torch.ones_like(y))  # the saved tensors suffice for the backward
    return list(found.values())


def describe(items: list[dict[str, Any]]) -> str:
    if not items:
        return "nothing"
    parts = []
    for it in items:
        per = it["elements_per_sample"]
        parts.append(f"{it['what']} {it['dtype']} {list(it['shape'][1:]) if it['shape'] else []}"
                     + (f" ({per:g}/sample)" if it["what"] == "own" else ""))
    return "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    result: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, (module, shapes) in CASES.items():
        result[name] = {}
        for setting, (ig, pg) in SETTINGS.items():
            if setting == "frozen params" and not any(True for _ in module.parameters()):
                continue
            if setting == "input without grad" and not any(True for _ in module.parameters()):
                continue
            result[name][setting] = probe(module, shapes, ig, pg)
    if a.json:
        print(json.dumps({"torch": torch.__version__, "cases": result}, indent=1))
        return
    print(f"torch {torch.__version__}; batch 2; what autograd keeps (unique storages)")
    for name, settings in result.items():
        for setting, items in settings.items():
            print(f"{name:30} {setting:19} {describe(items)}")


if __name__ == "__main__":
    main()
