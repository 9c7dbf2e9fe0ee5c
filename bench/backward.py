"""NumPy backward speed: one training step's backward (archcalc.backprop.train_step, every
layer's ``backward`` on the tensors its rule keeps) of VGG-16 and ResNet-50 at batch 1, side by
side with PyTorch's CPU backward of the torchvision models in train mode.

Target (issue 18): the NumPy backward within 1.5× of PyTorch's. PyTorch is timed when it can be
imported, or through ``--torch-python PATH`` (an interpreter with torch and torchvision; it runs
a small self-contained script, so it needs nothing of archcalc; ``$ARCHCALC_PEER_PYTHON`` is the
default, as for the peers); without either the torch columns are left out. Rounds alternate the
NumPy and the PyTorch passes and keep each side's best, so a burst of load from other processes
spoils one round, not the comparison. Numbers only: nothing here asserts.

    python bench/backward.py [--repeat 3] [--rounds 2] [--torch-python /path/to/python]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import run_torch, save, table

import archcalc
from archcalc.backprop import train_step
from archcalc.executor import init_weights

MODELS = {"vgg16": "vgg16", "resnet50": "resnet50"}  # spec → torchvision constructor

TORCH_SCRIPT = r"""
import json, sys, time
import torch, torchvision
job = json.loads(sys.stdin.read())
out = {"threads": torch.get_num_threads(), "version": torch.__version__, "models": {}}
for spec, (ctor, size) in job["models"].items():
    model = getattr(torchvision.models, ctor)(weights=None).train()
    x = torch.randn(1, 3, size, size)
    fwd = bwd = float("inf")
    for i in range(job["repeat"] + 1):
        model.zero_grad(set_to_none=True)
        t = time.perf_counter(); y = model(x); f = time.perf_counter() - t
        g = torch.randn_like(y)
        t = time.perf_counter(); y.backward(g); b = time.perf_counter() - t
        if i:  # the first pass warms the allocator and the kernels up
            fwd, bwd = min(fwd, f), min(bwd, b)
    out["models"][spec] = {"forward": fwd, "backward": bwd}
print(json.dumps(out))
"""


def numpy_times(name: str, repeat: int, made: dict[str, Any]) -> dict[str, float]:
    """Best training forward and backward seconds of one step at batch 1 (seeded weights made
    once, outside the timing; both gradients in one call per layer, as PyTorch computes
    them)."""
    def weights(node: Any) -> Any:
        if node.name not in made:
            made[node.name] = init_weights(node)
        return made[node.name]

    fwd = bwd = float("inf")
    for _ in range(repeat):
        step = train_step(name, weights=weights, split=False)
        assert step.ok, name  # the step it times is the one verify --training checks
        fwd, bwd = min(fwd, step.forward_seconds), min(bwd, step.backward_seconds)
    return {"forward": fwd, "backward": bwd}


def torch_times(repeat: int, python: str | None) -> dict[str, Any] | None:
    job = {"repeat": repeat,
           "models": {spec: [ctor, archcalc.to_graph(spec).input_shape[1]]
                      for spec, ctor in MODELS.items()}}
    data: dict[str, Any] | None = run_torch(TORCH_SCRIPT, job, python)
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--torch-python", default=os.environ.get("ARCHCALC_PEER_PYTHON"),
                        help="an interpreter with torch + torchvision (default: "
                        "$ARCHCALC_PEER_PYTHON, as for bench/peers.py)")
    args = parser.parse_args(argv if argv is not None else [])
    started = time.perf_counter()
    ours: dict[str, dict[str, float]] = {}
    theirs: dict[str, dict[str, float]] | None = None
    info: dict[str, Any] = {}
    made: dict[str, dict[str, Any]] = {name: {} for name in MODELS}
    for _ in range(max(1, args.rounds)):
        for name in MODELS:
            got = numpy_times(name, args.repeat, made[name])
            best = ours.setdefault(name, got)
            ours[name] = {k: min(best[k], got[k]) for k in got}
        found = torch_times(args.repeat, args.torch_python)
        if found is not None:
            info = {"threads": found["threads"], "version": found["version"]}
            theirs = theirs or found["models"]
            theirs = {m: {k: min(theirs[m][k], found["models"][m][k]) for k in ("forward",
                                                                               "backward")}
                      for m in MODELS}
    headers = ["model", "numpy fwd s", "numpy bwd s"]
    if theirs is not None:
        headers += ["torch fwd s", "torch bwd s", "bwd numpy/torch"]
    rows = []
    for name in MODELS:
        row = [name, f"{ours[name]['forward']:.3f}", f"{ours[name]['backward']:.3f}"]
        if theirs is not None:
            ratio = ours[name]["backward"] / theirs[name]["backward"]
            ours[name]["torch_forward"] = theirs[name]["forward"]
            ours[name]["torch_backward"] = theirs[name]["backward"]
            ours[name]["backward_ratio"] = ratio
            row += [f"{theirs[name]['forward']:.3f}", f"{theirs[name]['backward']:.3f}",
                    f"{ratio:.2f}x"]
        rows.append(row)
    print(table(headers, rows))
    if theirs is None:
        print("PyTorch not available: the torch columns are left out "
              "(pass --torch-python or set $ARCHCALC_PEER_PYTHON)")
    else:
        print(f"PyTorch {info['version']}, {info['threads']} threads; batch 1, best of "
              f"{args.repeat} × {args.rounds} alternated rounds")
    data = {"models": ours, "torch": info or None, "repeat": args.repeat,
            "rounds": args.rounds, "seconds": time.perf_counter() - started}
    save("backward", data)
    return data


if __name__ == "__main__":
    main(sys.argv[1:])
