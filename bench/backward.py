"""NumPy backward speed: one training step's backward (archcalc.backprop.train_step, every
layer's ``backward`` on the tensors its rule keeps) of VGG-16 and ResNet-50 at batch 1, side by
side with PyTorch's CPU backward of the torchvision models in train mode.

Target (issue 18): the NumPy backward within 1.5× of PyTorch's. PyTorch is timed when it can be
imported, or through ``--torch-python PATH`` (an interpreter with torch and torchvision; it runs
a small self-contained script, so it needs nothing of archcalc; ``$ARCHCALC_PEER_PYTHON`` is the
default, as for the peers); without either the torch columns are left out. Rounds alternate the
NumPy and the PyTorch passes; each round keeps each side's best of ``--repeat`` steps, and the
table shows the median over the rounds (and the best), so a burst of load from other processes
spoils one round, not the comparison. Each side records wall and CPU seconds
(``time.process_time`` of its own process, every thread): the ratio of wall times is the
target's; the CPU ratio, which time slices lost to other processes do not inflate, is printed
beside it. Numbers only: nothing here asserts.

Both sides run the same number of BLAS/OpenMP threads: NumPy's OpenBLAS reads
``$OPENBLAS_NUM_THREADS`` (or ``$OMP_NUM_THREADS``) when it is loaded, every core otherwise;
the PyTorch script is given that same count (``torch.set_num_threads``). On a machine other
processes load, one thread a side (``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 make bench``)
gives steady figures: a multi-threaded GEMM waits for its slowest thread, and a 1 ms product
then takes 10–40 ms whenever the other core is busy.

    python bench/backward.py [--repeat 3] [--rounds 3] [--torch-python /path/to/python]
"""

from __future__ import annotations

import argparse
import os
import statistics
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
torch.set_num_threads(job["threads"])  # the NumPy side's BLAS thread count
out = {"threads": torch.get_num_threads(), "version": torch.__version__, "models": {}}
for spec, (ctor, size) in job["models"].items():
    model = getattr(torchvision.models, ctor)(weights=None).train()
    x = torch.randn(1, 3, size, size)
    best = {}
    for i in range(job["repeat"] + 1):
        model.zero_grad(set_to_none=True)
        t, c = time.perf_counter(), time.process_time()
        y = model(x)
        f, fc = time.perf_counter() - t, time.process_time() - c
        g = torch.randn_like(y)
        t, c = time.perf_counter(), time.process_time()
        y.backward(g)
        b, bc = time.perf_counter() - t, time.process_time() - c
        if i:  # the first pass warms the allocator and the kernels up
            for key, v in (("forward", f), ("backward", b), ("forward_cpu", fc),
                           ("backward_cpu", bc)):
                best[key] = min(best.get(key, float("inf")), v)
    out["models"][spec] = best
print(json.dumps(out))
"""

#: what each side records per step, each round keeping its best: wall and CPU seconds
PASSES = ("forward", "backward", "forward_cpu", "backward_cpu")


def numpy_times(name: str, repeat: int, made: dict[str, Any]) -> dict[str, float]:
    """Best training forward and backward seconds of one step at batch 1, wall and CPU
    (``time.process_time``: this process, every thread) — seeded weights made once, outside
    the timing; both gradients in one call per layer, as PyTorch computes them."""
    def weights(node: Any) -> Any:
        if node.name not in made:
            made[node.name] = init_weights(node)
        return made[node.name]

    best = dict.fromkeys(PASSES, float("inf"))
    for _ in range(repeat):
        step = train_step(name, weights=weights, split=False)
        assert step.ok, name  # the step it times is the one verify --training checks
        for key, v in zip(PASSES, (step.forward_seconds, step.backward_seconds,
                                   step.forward_cpu_seconds, step.backward_cpu_seconds),
                          strict=True):
            best[key] = min(best[key], v)
    return best


def blas_threads() -> int:
    """The thread count NumPy's OpenBLAS started with (it reads the variable once, when it is
    loaded; every core without one), given to the PyTorch side too."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def torch_times(repeat: int, python: str | None, threads: int) -> dict[str, Any] | None:
    job = {"repeat": repeat, "threads": threads,
           "models": {spec: [ctor, archcalc.to_graph(spec).input_shape[1]]
                      for spec, ctor in MODELS.items()}}
    data: dict[str, Any] | None = run_torch(TORCH_SCRIPT, job, python)
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-python", default=os.environ.get("ARCHCALC_PEER_PYTHON"),
                        help="an interpreter with torch + torchvision (default: "
                        "$ARCHCALC_PEER_PYTHON, as for bench/peers.py)")
    args = parser.parse_args(argv if argv is not None else [])
    started = time.perf_counter()
    threads = blas_threads()
    # per model, per side ("numpy", "torch") and pass: each round's best of --repeat steps
    runs: dict[str, dict[str, dict[str, list[float]]]] = {
        name: {side: {key: [] for key in PASSES} for side in ("numpy", "torch")}
        for name in MODELS}
    info: dict[str, Any] = {}
    made: dict[str, dict[str, Any]] = {name: {} for name in MODELS}
    for _ in range(max(1, args.rounds)):
        for name in MODELS:
            for key, value in numpy_times(name, args.repeat, made[name]).items():
                runs[name]["numpy"][key].append(value)
        found = torch_times(args.repeat, args.torch_python, threads)
        if found is not None:
            info = {"threads": found["threads"], "version": found["version"]}
            for name in MODELS:
                for key, value in found["models"][name].items():
                    runs[name]["torch"][key].append(value)
    have_torch = bool(info)
    headers = ["model", "numpy fwd s", "numpy bwd s"]
    if have_torch:
        headers += ["torch fwd s", "torch bwd s", "bwd ratio", "(best)", "cpu ratio"]
    rows = []
    ours: dict[str, dict[str, float]] = {}
    for name in MODELS:
        mine = {f"{side}_{key}": statistics.median(values)
                for side, passes in runs[name].items() for key, values in passes.items()
                if values}
        row = [name, f"{mine['numpy_forward']:.3f}", f"{mine['numpy_backward']:.3f}"]
        if have_torch:
            mine["backward_ratio"] = mine["numpy_backward"] / mine["torch_backward"]
            mine["best_backward_ratio"] = (min(runs[name]["numpy"]["backward"])
                                           / min(runs[name]["torch"]["backward"]))
            mine["backward_cpu_ratio"] = (mine["numpy_backward_cpu"]
                                          / mine["torch_backward_cpu"])
            row += [f"{mine['torch_forward']:.3f}", f"{mine['torch_backward']:.3f}",
                    f"{mine['backward_ratio']:.2f}x", f"{mine['best_backward_ratio']:.2f}x",
                    f"{mine['backward_cpu_ratio']:.2f}x"]
        ours[name] = mine
        rows.append(row)
    print(table(headers, rows))
    if not have_torch:
        print("PyTorch not available: the torch columns are left out "
              "(pass --torch-python or set $ARCHCALC_PEER_PYTHON)")
    else:
        print(f"PyTorch {info['version']}, {info['threads']} thread(s) a side, batch 1; wall "
              f"seconds, medians over {args.rounds}\nalternated rounds of each side's best of "
              f"{args.repeat} (and the ratio of the bests);\ncpu ratio: the same of CPU time "
              "(time.process_time)")
    data = {"models": ours, "runs": runs, "threads": threads, "torch": info or None,
            "repeat": args.repeat, "rounds": args.rounds,
            "seconds": time.perf_counter() - started}
    save("backward", data)
    return data

if __name__ == "__main__":
    main(sys.argv[1:])
