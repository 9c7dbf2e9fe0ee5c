"""Reference counts of the detection, segmentation and Inception-v4 specs, measured with PyTorch.

    python bench/truths.py            # any Python with torch, torchvision and timm installed
    python bench/truths.py --json     # the same as JSON

archcalc never needs PyTorch: this script is how the torchvision/timm numbers asserted in
tests/test_zoo_beyond.py were obtained, so anyone can measure them again. Method, for every
model: built on the CPU with ``weights=None`` (timm: ``pretrained=False``), eval mode, one
forward of a tensor at the stated input size under ``torch.no_grad()``.

* params: ``sum(p.numel() for p in model.parameters())``;
* buffers: ``sum(b.numel())`` over the BN running mean and variance (``num_batches_tracked``
  left out) -- and, for FrozenBatchNorm2d, its weight and bias too, which it keeps as buffers;
* MACs: forward hooks on every ``nn.Conv2d`` (``out.numel()·(in/groups)·kh·kw``) and every
  ``nn.Linear`` (``out.numel()·in_features``), nothing else -- torchvision's "GFLOPS" metadata
  is the same count (e.g. ssd300_vgg16: 34.858).

Detection models are measured from their parts, so that the image transform (which resizes) and
the post-processing (which has no conv) stay out: the numbers are for exactly the stated input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _counts(model: Any) -> dict[str, int]:
    from torchvision.ops import misc

    params = sum(p.numel() for p in model.parameters())
    buffers = 0
    for module in model.modules():
        for name, buf in module.named_buffers(recurse=False):
            if name in ("running_mean", "running_var") or (
                    isinstance(module, misc.FrozenBatchNorm2d) and name in ("weight", "bias")):
                buffers += buf.numel()
    return {"params": params, "buffers": buffers}


class MacCounter:
    """Conv2d + Linear multiply-accumulates of every forward while active, per top-level part."""

    def __init__(self, model: Any) -> None:
        from torch import nn

        self.total = 0
        self.parts: dict[str, int] = {}
        self.handles = []
        for name, module in model.named_modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                self.handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        from torch import nn

        def count(module: Any, inputs: Any, out: Any) -> None:
            if isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                n = out.numel() * (module.in_channels // module.groups) * kh * kw
            else:
                n = out.numel() * module.in_features
            self.total += n
            part = ".".join(name.split(".")[:2])
            self.parts[part] = self.parts.get(part, 0) + n
        return count

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def _macs(model: Any, run: Any) -> tuple[int, dict[str, int], Any]:
    import torch

    counter = MacCounter(model)
    with torch.no_grad():
        out = run()
    counter.close()
    return counter.total, counter.parts, out


def ssd300_vgg16() -> dict[str, Any]:
    """torchvision's SSD300 (VGG-16 backbone, 91 COCO classes) at 3x300x300: backbone + heads."""
    import torch
    import torchvision

    model = torchvision.models.detection.ssd300_vgg16(weights=None, weights_backbone=None).eval()
    x = torch.zeros(1, 3, 300, 300)

    def run() -> Any:
        features = list(model.backbone(x).values())
        return features, model.head(features)

    macs, parts, (features, head) = _macs(model, run)
    return {**_counts(model), "macs": macs, "parts": parts,
            "feature_maps": [list(f.shape[1:]) for f in features],
            "scale_weight": model.backbone.scale_weight.numel(),
            "boxes": list(head["bbox_regression"].shape[1:]),
            "scores": list(head["cls_logits"].shape[1:])}


def fasterrcnn_resnet50_fpn(size: int = 800) -> dict[str, Any]:
    """torchvision's Faster R-CNN ResNet-50 FPN as it ships: the pretrained constructor freezes
    the backbone's BN (FrozenBatchNorm2d: γ, β and the statistics are buffers). An 800x800 image
    is what the transform makes of any square image (min_size 800), so the parts run on it
    directly; R = the proposals the RPN keeps at test time (post_nms_top_n 1000)."""
    import torch
    from torchvision.models import resnet50
    from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
    from torchvision.models.detection.faster_rcnn import FasterRCNN
    from torchvision.ops import misc

    backbone = _resnet_fpn_extractor(resnet50(weights=None, norm_layer=misc.FrozenBatchNorm2d), 3)
    model = FasterRCNN(backbone, num_classes=91).eval()
    torch.manual_seed(0)
    image = torch.rand(3, size, size)
    regions: list[int] = []
    model.roi_heads.box_head.register_forward_hook(
        lambda m, i, o: regions.append(int(i[0].shape[0])))
    macs, parts, _ = _macs(model, lambda: model([image]))
    per_region = (256 * 7 * 7 * 1024 + 1024 * 1024) + (1024 * 91 + 1024 * 364)
    return {**_counts(model), "input": [3, size, size], "regions": regions, "macs": macs,
            "parts": parts, "box_head_macs_per_region": per_region,
            "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad)}


def segmentation(name: str, size: int = 520) -> dict[str, Any]:
    """torchvision's deeplabv3_resnet50 / fcn_resnet50 at 3xSIZExSIZE, without and with the
    auxiliary FCN head on layer3 (trained with it, dropped at inference)."""
    import torch
    import torchvision

    out: dict[str, Any] = {"input": [3, size, size]}
    for aux in (False, True):
        model = getattr(torchvision.models.segmentation, name)(
            weights=None, weights_backbone=None, aux_loss=aux).eval()
        x = torch.zeros(1, 3, size, size)
        macs, parts, result = _macs(model, lambda model=model, x=x: model(x))
        out["with_aux" if aux else "inference"] = {
            **_counts(model), "macs": macs, "parts": parts,
            "outputs": {k: list(v.shape[1:]) for k, v in result.items()}}
    return out


def timm_model(name: str, size: int = 299) -> dict[str, Any]:
    import timm
    import torch

    model = timm.create_model(name, pretrained=False).eval()
    x = torch.zeros(1, 3, size, size)
    macs, _, result = _macs(model, lambda: model(x))
    return {**_counts(model), "input": [3, size, size], "macs": macs,
            "output": list(result.shape[1:])}


def small_modules() -> dict[str, Any]:
    """Parameter counts of single modules the layer classes are held to."""
    from torch import nn
    from torchvision.ops import DeformConv2d

    def params(m: Any) -> int:
        return sum(p.numel() for p in m.parameters())

    return {
        "DeformConv2d(64, 64, 3)": params(DeformConv2d(64, 64, 3)),
        "GroupNorm(32, 256)": params(nn.GroupNorm(32, 256)),
        "InstanceNorm2d(64, affine=True)": params(nn.InstanceNorm2d(64, affine=True)),
        "PReLU()": params(nn.PReLU()),
        "PReLU(64)": params(nn.PReLU(64)),
    }


MEASUREMENTS = {
    "ssd300_vgg16": ssd300_vgg16,
    "fasterrcnn_resnet50_fpn": fasterrcnn_resnet50_fpn,
    "deeplabv3_resnet50": lambda: segmentation("deeplabv3_resnet50"),
    "fcn_resnet50": lambda: segmentation("fcn_resnet50"),
    "inception_v4": lambda: timm_model("inception_v4"),
    "inception_resnet_v2": lambda: timm_model("inception_resnet_v2"),
    "modules": small_modules,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(MEASUREMENTS)}")
    args = parser.parse_args()
    try:
        import timm  # noqa: F401
        import torch
        import torchvision  # noqa: F401
    except ImportError as exc:
        print(f"needs torch, torchvision and timm: {exc}", file=sys.stderr)
        return 1
    torch.set_grad_enabled(False)
    results = {name: MEASUREMENTS[name]() for name in (args.names or MEASUREMENTS)}
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for name, found in results.items():
            print(f"{name}:")
            for key, value in found.items():
                print(f"  {key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
