"""Ground truth for the training-cost rules, measured with PyTorch (not needed by archcalc).

For a torchvision model in train mode (weights=None) at a batch size, with optionally every
parameter outside some modules frozen (``requires_grad=False``), this runs one forward and one
backward on CPU and reports:

* forward MACs: ``aten.convolution``, ``aten.addmm``/``mm``/``bmm``, each by its shape
  (PyTorch's ``torch.utils.flop_counter`` formulas, FLOPs / 2; their forward counts are right);
* backward MACs, split into input gradient and weight gradient. Which gradients are computed is
  PyTorch's decision (the ``output_mask`` autograd hands to ``aten.convolution_backward``, the
  ``mm`` calls it makes for a linear layer); their size is counted per op:
  - matrix products by ``torch.utils.flop_counter`` (right);
  - a convolution's input gradient and weight gradient each cost exactly the forward's MACs
    (every product ``W[o, c, κ]·x[c, s·i + d·κ]`` of the forward appears once in each), which
    ``FlopCounterMode`` also gives for an ungrouped conv; for a *grouped* conv its formula
    ignores the groups for the weight gradient (it counts ``conv(x, grad_out)`` as dense over
    all channel pairs: ``groups``× too much), so the raw ``FlopCounterMode`` figure is reported
    beside ours (``flopcounter_backward_macs``) and we hold grouped convs to the rule;
* bytes saved for backward: every tensor autograd saves, seen through
  ``torch.autograd.graph.saved_tensors_hooks``, reduced to unique storages (a tensor saved by
  two nodes, or a view of a saved storage, counts once), parameters excluded. Buffers (BN's
  running statistics, which autograd also saves for ``native_batch_norm``'s backward) are
  reported apart (``buffer_bytes``) and not included, like the parameters: they exist with or
  without training. Each saved tensor is attributed to the autograd node that saved it and to
  the innermost module running when it was saved.

Run with a Python that has torch and torchvision::

    python bench/training_reference.py resnet50 --batch 1
    python bench/training_reference.py resnet50 --batch 1 --train layer4 fc --per-module
    python bench/training_reference.py --all -o bench/results/training_reference.json

The figures it printed for this project's tests are in docs/training.md with this method.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections import defaultdict
from typing import Any

import torch
import torchvision
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

aten = torch.ops.aten

#: the models of the ground truth, the constructor's arguments that make them the bundled spec,
#: and the frozen variants measured (trainable module-name prefixes)
MODELS: dict[str, dict[str, Any]] = {
    "alexnet": {"spec": "alexnet_torchvision", "kwargs": {},
                "variants": {"classifier": ["classifier"]}},
    "vgg16": {"spec": "vgg16_torchvision", "kwargs": {},
              "variants": {"classifier": ["classifier"]}},
    "resnet18": {"spec": "resnet18", "kwargs": {}, "variants": {"layer4": ["layer4", "fc"],
                                                               "fc": ["fc"]}},
    "resnet50": {"spec": "resnet50", "kwargs": {}, "variants": {"layer4": ["layer4", "fc"],
                                                               "fc": ["fc"]}},
    "mobilenet_v2": {"spec": "mobilenet_v2", "kwargs": {},
                     "variants": {"features.14": [f"features.{i}" for i in range(14, 19)]
                                  + ["classifier"]}},
    # stochastic depth: off, as in the bundled spec (it saves one [N, 1, 1, 1] noise tensor
    # per block with a non-zero drop rate: 15 blocks × 4·N bytes; run with --sd to see it)
    "efficientnet_b0": {"spec": "efficientnet_b0", "kwargs": {"stochastic_depth_prob": 0.0},
                        "variants": {"features.6": ["features.6", "features.7", "features.8",
                                                    "classifier"]}},
    # the auxiliary classifiers run only in training; the bundled spec is the inference graph
    "googlenet": {"spec": "googlenet", "kwargs": {"aux_logits": False, "init_weights": True},
                  "variants": {"inception5a": ["inception5a", "inception5b", "fc"]}},
    "densenet121": {"spec": "densenet121", "kwargs": {},
                    "variants": {"denseblock4": ["features.denseblock4", "features.norm5",
                                                 "classifier"]}},
}


def conv_macs(x_shape: Any, w_shape: Any, out_shape: Any, transposed: bool) -> int:
    """MACs of a convolution from its shapes: each output element (each input element for a
    transposed one) meets ``∏ w_shape[1:]`` weights — ``(C_in/g)·∏k`` (``(C_out/g)·∏k``)."""
    cells = math.prod(x_shape if transposed else out_shape)
    return cells * math.prod(w_shape[1:])


class Counter(TorchDispatchMode):
    """Counts MACs of convolutions and matrix products, forward or backward, per module."""

    def __init__(self, owner: dict[int, str], linear_inputs: dict[int, str]) -> None:
        super().__init__()
        self.owner = owner  # parameter storage → module name
        self.linear_inputs = linear_inputs  # input storage of a Linear → module name
        self.totals: dict[str, int] = defaultdict(int)
        self.per_module: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.copies: set[int] = set()  # storages of autocast's low-precision weight copies
        self.keepalive: list[torch.Tensor] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        if packet is aten._to_copy and isinstance(args[0], torch.Tensor):
            # autocast's casts: a weight's copy belongs to its module, an fc input's copy too
            src, dst = args[0].untyped_storage().data_ptr(), out.untyped_storage().data_ptr()
            self.keepalive.append(out)  # so that no later tensor reuses its address
            if src in self.owner:
                self.owner[dst] = self.owner[src]
                self.copies.add(dst)
            elif src in self.linear_inputs:
                self.linear_inputs[dst] = self.linear_inputs[src]
        if packet is aten.convolution:
            x, w = args[0], args[1]
            m = conv_macs(x.shape, w.shape, out.shape, bool(args[6]))
            self._add("forward", m, w)
        elif packet is aten.convolution_backward:
            grad, x, w = args[0], args[1], args[2]
            transposed, mask = bool(args[7]), args[10]
            m = conv_macs(x.shape, w.shape, grad.shape, transposed)
            if mask[0]:
                self._add("backward_input", m, w)
            if mask[1]:
                self._add("backward_weight", m, w)
            raw = flop_registry[packet](*args, out_val=out) // 2  # FlopCounterMode's figure
            self.totals["flopcounter_backward"] += raw
        elif packet in (aten.mm, aten.addmm, aten.bmm, aten.baddbmm):
            m = flop_registry[packet](*args, out_val=out) // 2
            operands = args[1:3] if packet in (aten.addmm, aten.baddbmm) else args[:2]
            self._add_mm(m, operands)
        return out

    def _module(self, t: torch.Tensor) -> str:
        return self.owner.get(t.untyped_storage().data_ptr(), "?")

    def _add(self, kind: str, macs: int, w: torch.Tensor) -> None:
        self.totals[kind] += macs
        self.per_module[self._module(w)][kind] += macs

    def _add_mm(self, macs: int, operands: Any) -> None:
        """A matrix product: the forward of a linear layer, or in the backward its input
        gradient (``grad_out @ W``, an operand is the weight) or weight gradient
        (``x.t() @ grad_out``, an operand is the layer's input)."""
        ptrs = [o.untyped_storage().data_ptr() for o in operands]
        weight = next((self.owner[p] for p in ptrs if p in self.owner), None)
        if weight is not None:
            kind, module = ("forward" if self.phase == "forward" else "backward_input"), weight
        else:
            module = next((self.linear_inputs[p] for p in ptrs if p in self.linear_inputs), "")
            if not module:
                raise RuntimeError(f"a matrix product of {macs} MACs matched no module")
            kind = "backward_weight"
        self.totals[kind] += macs
        self.per_module[module][kind] += macs
        if kind != "forward":  # FlopCounterMode counts matrix products right
            self.totals["flopcounter_backward"] += macs

    #: "forward" while the model runs, "backward" during loss.backward()
    phase = "forward"


def measure(name: str, batch: int, train: list[str] | None, size: int = 224,
            per_module: bool = False, sd: bool = False, dtype: str = "float32",
            autocast: str | None = None) -> dict[str, Any]:
    torch.manual_seed(0)
    kwargs = dict(MODELS[name]["kwargs"]) if name in MODELS else {}
    if sd:
        kwargs.pop("stochastic_depth_prob", None)
    model = getattr(torchvision.models, name)(weights=None, **kwargs).train()
    model = model.to(getattr(torch, dtype))
    modules = dict(model.named_modules())
    owner: dict[int, str] = {}
    param_ptrs: set[int] = set()
    buffer_ptrs: set[int] = set()
    trainable = 0
    for pname, p in model.named_parameters():
        mname = pname.rsplit(".", 1)[0]
        owner[p.untyped_storage().data_ptr()] = mname
        param_ptrs.add(p.untyped_storage().data_ptr())
        keep = train is None or any(mname == t or mname.startswith(t + ".") for t in train)
        p.requires_grad_(keep)
        trainable += p.numel() if keep else 0
    for _, b in model.named_buffers():
        buffer_ptrs.add(b.untyped_storage().data_ptr())

    stack: list[str] = []
    linear_inputs: dict[int, str] = {}

    def pre(mname: str) -> Any:
        def hook(mod: torch.nn.Module, inputs: Any) -> None:
            stack.append(mname)
            if isinstance(mod, torch.nn.Linear):
                linear_inputs[inputs[0].untyped_storage().data_ptr()] = mname
        return hook

    def post(mod: torch.nn.Module, inputs: Any, output: Any) -> None:
        stack.pop()

    for mname, mod in modules.items():
        if mname:
            mod.register_forward_pre_hook(pre(mname))
            mod.register_forward_hook(post)

    records: list[dict[str, Any]] = []
    kept: list[torch.Tensor] = []
    unpacked: list[int] = []

    def pack(t: torch.Tensor) -> int:
        kept.append(t)
        records.append({"module": stack[-1] if stack else "", "shape": list(t.shape),
                        "dtype": str(t.dtype).replace("torch.", ""),
                        "storage": t.untyped_storage().data_ptr(),
                        "nbytes": t.untyped_storage().nbytes()})
        return len(kept) - 1

    def unpack(i: int) -> torch.Tensor:
        unpacked.append(i)
        return kept[i]

    counter = Counter(owner, linear_inputs)
    x = torch.randn(batch, 3, size, size, dtype=getattr(torch, dtype))
    amp = (torch.autocast("cpu", dtype=getattr(torch, autocast)) if autocast else
           contextlib.nullcontext())
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack), counter, amp:
        y = model(x)
    # the autograd node that saved each tensor: read every node's saved fields once
    seen: set[int] = set()
    todo = [y.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        for attr in dir(node):
            if attr.startswith("_saved_"):
                unpacked.clear()
                try:
                    getattr(node, attr)
                except Exception:  # a freed or non-tensor field
                    continue
                for i in unpacked:
                    records[i].setdefault("nodes", []).append(type(node).__name__)
        todo.extend(fn for fn, _ in node.next_functions)
    counter.phase = "backward"
    with counter:
        y.backward(torch.ones_like(y))

    # FlopCounterMode on its own, forward + backward, for the comparison in the docs
    model.zero_grad(set_to_none=True)
    fc = FlopCounterMode(display=False)
    amp = (torch.autocast("cpu", dtype=getattr(torch, autocast)) if autocast else
           contextlib.nullcontext())
    with fc:
        with amp:
            y2 = model(x)
        y2.backward(torch.ones_like(y2))
    fc_total_macs = fc.get_total_flops() // 2

    storages: dict[int, dict[str, Any]] = {}
    for r in records:
        if r["storage"] in param_ptrs:
            r["kind"] = "param"
        elif r["storage"] in counter.copies:
            r["kind"] = "weight copy"
        elif r["storage"] in buffer_ptrs:
            r["kind"] = "buffer"
        else:
            r["kind"] = "activation"
        storages.setdefault(r["storage"], r)
    by_dtype: dict[str, int] = defaultdict(int)
    per_mod_bytes: dict[str, int] = defaultdict(int)
    saved = buffer_bytes = copy_bytes = 0
    for r in storages.values():
        if r["kind"] == "weight copy":
            copy_bytes += r["nbytes"]
        if r["kind"] == "activation":
            saved += r["nbytes"]
            by_dtype[r["dtype"]] += r["nbytes"]
            per_mod_bytes[r["module"]] += r["nbytes"]
        elif r["kind"] == "buffer":
            buffer_bytes += r["nbytes"]
    t = counter.totals
    result: dict[str, Any] = {
        "model": name, "spec": MODELS.get(name, {}).get("spec", name), "batch": batch,
        "input": [3, size, size], "trainable": train, "trainable_params": trainable,
        "forward_macs": t["forward"],
        "backward_macs": t["backward_input"] + t["backward_weight"],
        "backward_input_macs": t["backward_input"],
        "backward_weight_macs": t["backward_weight"],
        "flopcounter_backward_macs": t["flopcounter_backward"],
        "flopcounter_step_macs": fc_total_macs,
        "saved_bytes": saved, "saved_bytes_by_dtype": dict(by_dtype),
        "buffer_bytes": buffer_bytes, "weight_copy_bytes": copy_bytes,
        "dtype": dtype, "autocast": autocast,
        "torch": torch.__version__, "torchvision": torchvision.__version__,
    }
    if per_module:
        result["per_module"] = {
            m: {**counter.per_module.get(m, {}), "saved_bytes": per_mod_bytes.get(m, 0)}
            for m in modules if m and (m in counter.per_module or m in per_mod_bytes)}
        result["saved"] = [r for r in storages.values() if r["kind"] == "activation"]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--train", nargs="*", help="module prefixes left trainable (others frozen)")
    ap.add_argument("--per-module", action="store_true")
    ap.add_argument("--sd", action="store_true", help="EfficientNet: keep stochastic depth")
    ap.add_argument("--dtype", default="float32", help="the model's and input's dtype")
    ap.add_argument("--autocast", default=None, help="mixed precision: torch.autocast dtype")
    ap.add_argument("--all", action="store_true", help="every model, variant and batch 1, 8")
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.all:
        out = []
        for name, info in MODELS.items():
            for batch in (1, 8):
                for variant, train in [("full", None), *info["variants"].items()]:
                    r = measure(name, batch, train, per_module=True)
                    r.pop("saved")
                    r["variant"] = variant
                    print(json.dumps({k: v for k, v in r.items() if k != "per_module"}),
                          file=sys.stderr)
                    out.append(r)
        # precision: pure bfloat16 (model and input cast), and mixed precision (float32
        # master weights under torch.autocast, which keeps bfloat16 weight copies)
        for name in ("resnet50", "mobilenet_v2"):
            for batch in (1, 8):
                for dtype, amp in (("bfloat16", None), ("float32", "bfloat16")):
                    r = measure(name, batch, None, per_module=True, dtype=dtype, autocast=amp)
                    r.pop("saved")
                    r["variant"] = "full"
                    out.append(r)
        r = measure("efficientnet_b0", 1, None, per_module=True, sd=True)
        r.pop("saved")
        r["variant"] = "stochastic depth"
        out.append(r)
        text = json.dumps(out, indent=1)
    else:
        text = json.dumps(measure(a.model, a.batch, a.train, a.size, a.per_module, a.sd,
                                  a.dtype, a.autocast), indent=1)
    if a.output:
        with open(a.output, "w") as f:
            f.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
