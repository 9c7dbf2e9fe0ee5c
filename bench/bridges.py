"""Ground truth and speed of the bridges (needs torch, torchvision and onnx; run it with the
crosscheck environment: `make crosscheck` builds one, or any Python that has them).

    python bench/bridges.py torchvision   # torchvision models → ONNX → archcalc import
    python bench/bridges.py roundtrip     # every bundled spec → PyTorch → ONNX → spec
    python bench/bridges.py import-speed  # import of a generated 1,000-node ONNX graph

torchvision's figures are measured here, not copied: params = Σ p.numel() over
model.parameters(); MACs = torch.utils.flop_counter.FlopCounterMode's forward FLOPs / 2 at
batch 1 (conv and linear multiply-accumulates; nothing else is counted by either side).
ONNX export: torch.onnx.export(..., dynamo=False, do_constant_folding=False, opset 17) in eval
mode, which keeps BatchNormalization nodes (constant folding would fold BN into the convs and
change the parameter count to conv biases).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

#: the models the issue names, with torchvision's builder and input size
TORCHVISION = {
    "resnet50": (3, 224, 224),
    "mobilenet_v2": (3, 224, 224),
    "efficientnet_b0": (3, 224, 224),
    "googlenet": (3, 224, 224),
    "densenet121": (3, 224, 224),
}


def export_onnx(model: Any, shape: tuple[int, ...], path: str) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, *shape),), path, dynamo=False,
                          do_constant_folding=False, opset_version=17)


def torch_counts(model: Any, shape: tuple[int, ...]) -> tuple[int, int]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.zeros(1, *shape))
    return int(params), int(counter.get_total_flops()) // 2


def torchvision_table() -> list[dict[str, Any]]:
    import torchvision

    from archcalc import analyze, load_spec
    from archcalc.onnx_import import import_onnx

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in TORCHVISION.items():
            kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
            model = getattr(torchvision.models, name)(weights=None, **kwargs)
            params, macs = torch_counts(model, shape)
            path = os.path.join(tmp, f"{name}.onnx")
            export_onnx(model, shape, path)
            started = time.perf_counter()
            imported = import_onnx(path)
            seconds = time.perf_counter() - started
            report = analyze(load_spec(imported.text))
            rows.append({"model": name, "torch_params": params, "params": report.totals.params,
                         "torch_macs": macs, "macs": report.totals.macs,
                         "onnx_nodes": imported.nodes, "layers": imported.layers,
                         "import_s": round(seconds, 3),
                         "ok": params == report.totals.params and macs == report.totals.macs})
    return rows


def roundtrip_table() -> list[dict[str, Any]]:
    """Every bundled spec (and variant) → exported module → ONNX → imported spec: the same
    rows (type, output shape, params, buffers, MACs, FLOPs under `full`) and totals."""
    from archcalc import analyze, bundled_names, load_spec, to_graph
    from archcalc.onnx_import import import_onnx
    from archcalc.torch_export import export_pytorch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in bundled_names():
            graph = to_graph(load_spec(name))
            export = export_pytorch(graph)
            namespace: dict[str, Any] = {}
            exec(compile(export.code, name, "exec"), namespace)
            model = namespace[export.class_name]()
            path = os.path.join(tmp, f"{name}.onnx")
            row: dict[str, Any] = {"spec": name}
            try:
                export_onnx(model, tuple(graph.input_shape), path)
                back = analyze(load_spec(import_onnx(path).text), convention="full")
            except Exception as exc:  # reported in the table, not hidden
                row.update(ok=False, problem=f"{type(exc).__name__}: {exc}"[:200])
                rows.append(row)
                continue
            there = analyze(graph, convention="full")
            row.update(compare_reports(there, back))
            rows.append(row)
    return rows


def _key(layer: Any) -> tuple[Any, ...]:
    return (layer.output_shape, layer.params, layer.buffers, layer.macs, layer.flops)


def compare_reports(a: Any, b: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"layers": len(a.layers), "back": len(b.layers),
                             "params": a.totals.params == b.totals.params,
                             "macs": a.totals.macs == b.totals.macs,
                             "flops": a.totals.flops == b.totals.flops}
    same_rows = len(a.layers) == len(b.layers) and all(
        _key(x) == _key(y) for x, y in zip(a.layers, b.layers, strict=True))
    found["rows"] = same_rows
    if not same_rows:
        for i, (x, y) in enumerate(zip(a.layers, b.layers, strict=False)):
            if _key(x) != _key(y):
                found["first_difference"] = f"row {i}: {x.name} {_key(x)} vs {y.name} {_key(y)}"
                break
    found["ok"] = same_rows and found["params"] and found["macs"] and found["flops"]
    return found


def make_chain(path: str, nodes: int) -> None:
    """A straight chain of `nodes` ONNX nodes: Conv → BN → Relu repeated, 3×3 on 8×16×16."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, graph_nodes = [], []
    x = "x"
    for i in range(nodes // 3):
        w = numpy_helper.from_array(np.zeros((8, 8, 3, 3), np.float32), f"c{i}.weight")
        stats = [numpy_helper.from_array(np.ones(8, np.float32), f"b{i}.{k}")
                 for k in ("scale", "bias", "mean", "var")]
        inits += [w, *stats]
        graph_nodes += [
            helper.make_node("Conv", [x, w.name], [f"c{i}"], name=f"/c{i}/Conv",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("BatchNormalization", [f"c{i}", *(s.name for s in stats)],
                             [f"b{i}"], name=f"/b{i}/BatchNormalization"),
            helper.make_node("Relu", [f"b{i}"], [f"r{i}"], name=f"/r{i}/Relu"),
        ]
        x = f"r{i}"
    graph = helper.make_graph(graph_nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             [1, 8, 16, 16])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def import_speed(nodes: int = 1002, runs: int = 5) -> dict[str, Any]:
    from archcalc.onnx_import import import_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "chain.onnx")
        make_chain(path, nodes)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            imported = import_onnx(path)
            times.append(time.perf_counter() - started)
    times.sort()
    return {"onnx_nodes": imported.nodes, "layers": imported.layers,
            "best_s": round(times[0], 3), "median_s": round(times[len(times) // 2], 3)}


def main() -> None:
    what = sys.argv[1] if len(sys.argv) > 1 else "torchvision"
    if what == "torchvision":
        result: Any = torchvision_table()
    elif what == "roundtrip":
        result = roundtrip_table()
    elif what == "import-speed":
        result = import_speed()
    else:
        raise SystemExit(f"unknown: {what} (torchvision, roundtrip, import-speed)")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
