"""NumPy executor speed: per conv layer of AlexNet and VGG-16 against this machine's float32
matmul rate (measured in the same run), and whole forward passes at batch 1.

Targets (issue 4): every conv layer of AlexNet and VGG-16 at >= 70% of the matmul rate; a whole
VGG-16 forward within 1.5x of PyTorch's CPU time. PyTorch is timed when it can be imported, or
through ``--torch-python PATH`` (an interpreter that has torch and torchvision; it runs a small
self-contained script, so it needs nothing of archcalc; ``$ARCHCALC_PEER_PYTHON`` is the default,
as for the peers). Numbers only: nothing here asserts.

    python bench/executor.py [--repeat 5] [--torch-python /path/to/python]
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

import numpy as np
from common import best_of, run_torch, save, table

import archcalc
from archcalc.executor import Context, init_weights, run
from archcalc.layers import Conv

CONV_MODELS = ("alexnet", "vgg16")
WHOLE_MODELS = {"alexnet": "alexnet", "vgg16": "vgg16", "resnet50": "resnet50",
                "mobilenet_v2": "mobilenet_v2"}  # spec → torchvision constructor
MATMUL_N = 2048
WEIGHTS: dict[tuple[str, str], Any] = {}  # (model, node) → seeded weights, made once per bench

TORCH_SCRIPT = r"""
import json, sys, time
import torch, torch.nn.functional as F, torchvision
torch.set_grad_enabled(False)
job = json.loads(sys.stdin.read())
def best(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)
out = {"threads": torch.get_num_threads(), "version": torch.__version__, "convs": [],
       "models": {}}
for c in job["convs"]:
    x = torch.randn(1, c["cin"], c["h"], c["w"])
    w = torch.randn(c["cout"], c["cin"], c["k"], c["k"])
    b = torch.randn(c["cout"])
    out["convs"].append(best(lambda: F.conv2d(x, w, b, c["s"], c["p"]), job["repeat"]))
for spec, (ctor, size) in job["models"].items():
    model = getattr(torchvision.models, ctor)().eval()
    x = torch.randn(1, 3, size, size)
    out["models"][spec] = best(lambda: model(x), max(3, job["repeat"] // 2))
print(json.dumps(out))
"""


def matmul_rate(repeat: int) -> float:
    """float32 GFLOP/s of one n×n by n×n product (2n³ FLOPs), best of ``repeat``."""
    rng = np.random.default_rng(0)
    a = rng.random((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.random((MATMUL_N, MATMUL_N), dtype=np.float32)
    out = np.empty_like(a)
    best, _ = best_of(lambda: np.matmul(a, b, out=out), repeat)
    return 2 * MATMUL_N**3 / best / 1e9


def conv_layers(name: str) -> list[dict[str, Any]]:
    graph = archcalc.to_graph(name)
    layers = []
    for node in graph.nodes:
        if type(node.op) is not Conv:
            continue
        k, s, _, _, lo, hi = node.op.geometry(node.in_shapes[0])
        assert len(set(k)) == 1 and len(set(s)) == 1 and lo == hi and len(set(lo)) == 1
        cin, h, w = node.in_shapes[0]
        macs = node.work().macs  # C_out·H'·W'·C_in·K·K at batch 1
        layers.append({"model": name, "name": node.name, "node": node, "cin": cin, "h": h,
                       "w": w, "cout": node.out_shape[0], "k": k[0], "s": s[0], "p": lo[0],
                       "macs": macs})
    return layers


def time_conv(layer: dict[str, Any], repeat: int, ctx: Context) -> tuple[float, float]:
    """(conv forward, its matrix product alone) best seconds at batch 1. The product is timed
    as the forward runs it, ``(O × K) @ (K × L)``, and transposed, ``(L × K) @ (K × O)``, which
    OpenBLAS blocks differently; the faster is the layer's ceiling."""
    node = layer["node"]
    params, _ = init_weights(node)
    x = np.random.default_rng(1).standard_normal((1, *node.in_shapes[0])).astype(np.float32)
    whole, _ = best_of(lambda: node.op.forward([x], params, ctx), repeat)
    kdim = layer["cin"] * layer["k"] ** 2
    length = node.out_shape[1] * node.out_shape[2]
    cols = np.random.default_rng(2).random((kdim, length), dtype=np.float32)
    weight = params["weight"].reshape(layer["cout"], kdim)
    out = np.empty((layer["cout"], length), np.float32)
    product, _ = best_of(lambda: np.matmul(weight, cols, out=out), repeat)
    cols_t, weight_t = np.ascontiguousarray(cols.T), np.ascontiguousarray(weight.T)
    out_t = np.empty((length, layer["cout"]), np.float32)
    transposed, _ = best_of(lambda: np.matmul(cols_t, weight_t, out=out_t), repeat)
    return whole, min(product, transposed)


def forward_seconds(name: str, repeat: int) -> float:
    """Best whole forward at batch 1: the sum of the per-layer forward times, best over
    ``repeat`` runs (seeded weight creation excluded, and done once: all runs share them)."""
    def weights(node: Any) -> Any:
        key = (name, node.name)
        if key not in WEIGHTS:
            WEIGHTS[key] = init_weights(node)
        return WEIGHTS[key]

    best = float("inf")
    for _ in range(repeat):
        result = run(name, weights=weights)
        best = min(best, sum(step.seconds for step in result.steps))
    return best


def torch_times(convs: list[dict[str, Any]], repeat: int,
                python: str | None) -> dict[str, Any] | None:
    job = {"repeat": repeat,
           "convs": [{k: c[k] for k in ("cin", "h", "w", "cout", "k", "s", "p")} for c in convs],
           "models": {spec: [ctor, archcalc.to_graph(spec).input_shape[1]]
                      for spec, ctor in WHOLE_MODELS.items()}}
    data: dict[str, Any] | None = run_torch(TORCH_SCRIPT, job, python)
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate NumPy and PyTorch passes; keep each layer's best")
    parser.add_argument("--torch-python", default=os.environ.get("ARCHCALC_PEER_PYTHON"),
                        help="an interpreter with torch + torchvision (default: "
                        "$ARCHCALC_PEER_PYTHON, as for bench/peers.py)")
    args = parser.parse_args(argv if argv is not None else [])
    started = time.perf_counter()
    convs = [layer for name in CONV_MODELS for layer in conv_layers(name)]
    ctx = Context()
    rates: list[float] = []
    forwards: dict[str, float] = {}
    torch: dict[str, Any] | None = None
    # Rounds alternate the NumPy pass (with its matmul rate) and the PyTorch pass, and keep
    # per layer the best of every round: a burst of load from other processes on a shared
    # machine then spoils one round, not the comparison.
    for _ in range(max(1, args.rounds)):
        rates.append(matmul_rate(args.repeat))
        for layer in convs:
            whole, product = time_conv(layer, args.repeat, ctx)
            layer["seconds"] = min(layer.get("seconds", whole), whole)
            layer["matmul_seconds"] = min(layer.get("matmul_seconds", product), product)
        for name in WHOLE_MODELS:
            forwards[name] = min(forwards.get(name, float("inf")), forward_seconds(name, 2))
        rates.append(matmul_rate(args.repeat))
        got = torch_times(convs, args.repeat, args.torch_python)
        if got is not None:
            if torch is None:
                torch = got
            else:
                torch["convs"] = [min(a, b) for a, b in zip(torch["convs"], got["convs"],
                                                            strict=True)]
                torch["models"] = {k: min(v, got["models"][k]) for k, v in torch["models"].items()}
    rate = max(rates)
    rows = []
    for i, layer in enumerate(convs):
        gflops = 2 * layer["macs"] / layer["seconds"] / 1e9
        layer["gflops"] = gflops
        layer["fraction_of_matmul"] = gflops / rate
        # the bare product's own rate bounds the conv's: no im2col can make it faster
        product_rate = 2 * layer["macs"] / layer["matmul_seconds"] / 1e9
        layer["product_fraction_of_matmul"] = product_rate / rate
        row = [f"{layer['model']}.{layer['name']}",
               f"{layer['cin']}x{layer['h']}x{layer['w']}", f"{layer['cout']} k{layer['k']} "
               f"s{layer['s']} p{layer['p']}", f"{layer['seconds'] * 1e3:.2f}", f"{gflops:.0f}",
               f"{100 * gflops / rate:.0f}%",
               f"{100 * layer['product_fraction_of_matmul']:.0f}%",
               f"{100 * layer['matmul_seconds'] / layer['seconds']:.0f}%"]
        if torch is not None:
            layer["torch_seconds"] = torch["convs"][i]
            torch_rate = 2 * layer["macs"] / torch["convs"][i] / 1e9
            row += [f"{layer['seconds'] / torch['convs'][i]:.2f}",
                    f"{100 * torch_rate / rate:.0f}%"]
        rows.append(row)
    headers = ["layer", "input", "conv", "ms", "GFLOP/s", "of matmul", "product alone",
               "BLAS share"]
    if torch is not None:
        headers += ["x torch", "torch of matmul"]
    print(f"float32 matmul {MATMUL_N}^3: {rate:.0f} GFLOP/s (best of {len(rates)} runs of "
          f"{args.repeat}: {', '.join(f'{r:.0f}' for r in rates)})")
    print(table(headers, rows))
    print("of matmul: the conv's rate / the matmul rate; product alone: its im2col product by "
          "itself (the faster orientation), the layer's ceiling; BLAS share: that product's time "
          "/ the conv's")
    whole_rows = []
    for name, seconds in forwards.items():
        row = [name, f"{seconds * 1e3:.0f}"]
        if torch is not None:
            ts = torch["models"][name]
            row += [f"{ts * 1e3:.0f}", f"{seconds / ts:.2f}"]
        whole_rows.append(row)
    print(f"\nwhole forward, batch 1 (ms, best of {2 * max(1, args.rounds)}; weight creation "
          "excluded)")
    print(table(["model", "numpy", *(["torch", "x torch"] if torch else [])], whole_rows))
    if torch is None:
        print("(PyTorch not importable: pass --torch-python to compare)")
    else:
        print(f"(torch {torch['version']}, {torch['threads']} threads)")
    results = {
        "matmul_gflops": rate, "matmul_runs": rates,
        "convs": [{k: v for k, v in layer.items() if k != "node"} for layer in convs],
        "forward_seconds": forwards,
        "torch": torch,
        "seconds": time.perf_counter() - started,
    }
    save("executor", results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
