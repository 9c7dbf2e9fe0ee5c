"""Ground truth and speed of the bridges (needs torch, torchvision and onnx; run it with the
crosscheck environment: `make crosscheck` builds one, or any Python that has them).

    python bench/bridges.py import-speed  # import of a generated 1,000-node ONNX graph (onnx
                                          # only; the part `make bench` runs)
    python bench/bridges.py torchvision   # torchvision models → ONNX → archcalc import
    python bench/bridges.py roundtrip [SPEC…]  # every bundled spec → PyTorch → ONNX → spec

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


def export_onnx(model: Any, shape: Any, path: str, opset: int = 17) -> None:
    """``shape``: one input's, or a list of several inputs' shapes (forward's arguments)."""
    import torch

    shapes = shape if isinstance(shape, list) else [shape]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), tuple(torch.zeros(1, *s) for s in shapes), path,
                          dynamo=False, do_constant_folding=False, opset_version=opset)


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


def roundtrip_table(only: list[str] | None = None) -> list[dict[str, Any]]:
    """Every bundled spec (or those named) → exported module → ONNX (opset 17; 19 where
    torchvision's DeformConv2d needs it) → imported spec: the same rows (type, output shape, params,
    buffers, MACs, FLOPs under `full`) and totals."""
    from archcalc import analyze, bundled_names, load_spec, to_graph
    from archcalc.onnx_import import import_onnx
    from archcalc.torch_export import export_pytorch

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in only or bundled_names():
            graph = to_graph(load_spec(name))
            export = export_pytorch(graph)
            namespace: dict[str, Any] = {}
            exec(compile(export.code, name, "exec"), namespace)
            model = namespace[export.class_name]()
            path = os.path.join(tmp, f"{name}.onnx")
            row: dict[str, Any] = {"spec": name}
            try:
                deform = any(n.op.kind == "deform_conv" for n in graph.nodes)
                export_onnx(model, [tuple(v) for _, v in graph.inputs], path,
                            opset=19 if deform else 17)
                back = analyze(load_spec(import_onnx(path).text), convention="full")
            except Exception as exc:  # reported in the table, not hidden
                row.update(ok=False, problem=f"{type(exc).__name__}: {exc}"[:200])
                rows.append(row)
                continue
            there = analyze(graph, convention="full")
            row.update(compare_reports(there, back))
            rows.append(row)
    return rows


#: zero-cost rows PyTorch's ONNX export leaves out in eval mode
NO_OPS = frozenset({"dropout", "identity"})
#: rows a standalone bn or activation row is drawn into, as the importer fuses them
FUSABLE = frozenset({"conv", "dwconv", "pwconv", "deconv", "fc", "add"})
POST_TYPES = frozenset({"bn", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "hardsigmoid",
                        "hardswish", "silu", "swish", "gelu", "softmax"})


def canonical(report: Any) -> list[dict[str, Any]]:
    """A report's rows in the form both sides of the round trip can be compared in:

    * dropout and identity rows are left out (PyTorch's ONNX export in eval mode drops them);
    * a concat read only by another concat is folded into it (the exporter flattens nested
      Concats: Inception-v3's Mixed_7b);
    * a standalone bn or activation row that alone reads a conv, fc or add row (which it
      alone reads) is drawn into that row, as the importer fuses it (pre-activation specs:
      DenseNet's norm2/relu2 after conv1, Xception's ReLU before the next separable conv);
      its params, buffers and FLOPs move with it;
    * pwconv is written conv (ONNX has one Conv), and an adaptive_avgpool whose windows are
      all equal avgpool (PyTorch exports it as AveragePool).

    Totals are compared apart, before any of this."""
    rows = [{"name": r.name, "type": {"pwconv": "conv", "adaptive_avgpool": "avgpool"}.get(
                 r.type, r.type),
             "inputs": list(r.inputs), "shape": tuple(r.output_shape), "params": r.params,
             "buffers": r.buffers, "macs": r.macs, "flops": r.flops, "posts": len(r.post)}
            for r in report.layers]
    alias: dict[str, str] = {}

    def res(name: str) -> str:
        while name in alias:
            name = alias[name]
        return name

    kept = []
    for r in rows:
        r["inputs"] = [res(v) for v in r["inputs"]]
        if r["type"] in NO_OPS:
            alias[r["name"]] = r["inputs"][0]
            continue
        kept.append(r)
    readers: dict[str, list[dict[str, Any]]] = {}
    for r in kept:
        for v in r["inputs"]:
            readers.setdefault(v, []).append(r)
    out: list[dict[str, Any]] = []
    by_name = {r["name"]: r for r in kept}
    gone: set[str] = set()
    for r in kept:
        rd = readers.get(r["name"], [])
        if r["type"] == "concat" and len(rd) == 1 and rd[0]["type"] == "concat":
            outer = rd[0]
            k = outer["inputs"].index(r["name"])
            outer["inputs"][k:k + 1] = r["inputs"]
            gone.add(r["name"])
    for r in kept:
        if r["name"] in gone:
            continue
        prev = by_name.get(r["inputs"][0]) if len(r["inputs"]) == 1 else None
        if r["type"] in POST_TYPES and prev is not None and out and out[-1] is prev \
                and prev["type"] in FUSABLE and len(readers.get(prev["name"], [])) == 1:
            for key in ("params", "buffers", "macs", "flops"):
                prev[key] += r[key]
            prev["shape"] = r["shape"]
            alias[r["name"]] = prev["name"]
            by_name[r["name"]] = prev
            readers[prev["name"]] = readers.get(r["name"], [])
            continue
        out.append(r)
    return out


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["type"], row["shape"], row["params"], row["buffers"], row["macs"],
            row["flops"])


def compare_reports(a: Any, b: Any) -> dict[str, Any]:
    """Totals exactly, then the rows in :func:`canonical` form."""
    ta, tb = a.totals, b.totals
    found: dict[str, Any] = {
        "layers": len(a.layers), "back": len(b.layers),
        "totals": (ta.params, ta.buffers, ta.macs, ta.flops) == (
            tb.params, tb.buffers, tb.macs, tb.flops)}
    ra, rb = canonical(a), canonical(b)
    same_rows = len(ra) == len(rb) and all(
        _key(x) == _key(y) for x, y in zip(ra, rb, strict=True))
    found["rows"] = same_rows
    found["canonical_rows"] = len(ra)
    if not same_rows:
        for i, (x, y) in enumerate(zip(ra, rb, strict=False)):
            if _key(x) != _key(y):
                found["first_difference"] = (f"row {i}: {x['name']} {_key(x)} vs "
                                             f"{y['name']} {_key(y)}")
                break
        else:
            found["first_difference"] = f"{len(ra)} rows vs {len(rb)}"
    found["ok"] = same_rows and found["totals"]
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
    """Best and median wall time of `import_onnx` (load, shape inference, folding, mapping,
    fusion, writing the spec and building it again to check the shapes)."""
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
            "best_s": round(times[0], 3), "median_s": round(times[len(times) // 2], 3),
            "target_s": 1.0}


def main() -> None:
    """`make bench` (bench/run.py) calls this without arguments: the import speed only."""
    what = sys.argv[1] if len(sys.argv) > 1 and __name__ == "__main__" else "import-speed"
    if what == "torchvision":
        result: Any = torchvision_table()
    elif what == "roundtrip":
        result = roundtrip_table(sys.argv[2:] or None)
    elif what == "import-speed":
        try:
            import onnx  # noqa: F401
        except ImportError:
            print("onnx is not installed: pip install 'archcalc[onnx]'")
            return
        result = import_speed()
        from common import save

        save("bridges", result)
    else:
        raise SystemExit(f"unknown: {what} (torchvision, roundtrip, import-speed)")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
