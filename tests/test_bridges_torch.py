"""The bridges with PyTorch (skipped without torch; `make crosscheck` installs it and runs these
with none skipped).

Ground truth is torchvision's, measured here: params = Σ p.numel() over model.parameters();
MACs = torch.utils.flop_counter.FlopCounterMode's forward FLOPs / 2 at batch 1 — and each also
against the figures torchvision 0.29 publishes in its weights' metadata (num_params, GFLOPS).
ONNX files are written by torch.onnx.export(dynamo=False, do_constant_folding=False, opset 17),
which keeps BatchNormalization nodes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("ARCHCALC_REQUIRE_TORCH"):
    import onnx  # noqa: F401
    import torch
    import torchvision
else:
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    pytest.importorskip("onnx")

import numpy as np

from archcalc import (
    analyze,
    load_spec,
    to_graph,
)
from archcalc.layers.pool import Pool
from archcalc.onnx_import import import_onnx
from archcalc.torch_check import check_against_torch
from archcalc.torch_export import export_pytorch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bridges import compare_reports, export_onnx, torch_counts  # noqa: E402

#: torchvision 0.29's published figures (weights metadata: num_params, _ops in GFLOPS = GMACs)
PUBLISHED = {
    "resnet50": (25_557_032, 4.089),
    "mobilenet_v2": (3_504_872, 0.301),
    "efficientnet_b0": (5_288_548, 0.386),
    "googlenet": (6_624_904, 1.498),
    "densenet121": (7_978_856, 2.834),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_torchvision_models_import_with_their_exact_counts(name: str, tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"aux_logits": False, "init_weights": False} \
        if name == "googlenet" else {}
    model = getattr(torchvision.models, name)(weights=None, **kwargs)
    params, macs = torch_counts(model, (3, 224, 224))
    published_params, gmacs = PUBLISHED[name]
    assert params == published_params and round(macs / 1e9, 3) == gmacs
    path = tmp_path / f"{name}.onnx"
    export_onnx(model, (3, 224, 224), str(path))
    report = analyze(load_spec(import_onnx(str(path)).text))
    assert (report.totals.params, report.totals.macs) == (params, macs)


@pytest.mark.parametrize("optimize", [False, True])
def test_dynamo_exporter(optimize: bool, tmp_path: Path) -> None:
    """torch.onnx.export(dynamo=True): without its optimizer BN stays and the counts are
    torchvision's (ResNet-18: 11,689,512 params, 1,814,073,344 MACs); with it BN is folded into
    the convs, and archcalc counts what the file holds: the weight and bias initializers read
    by its Conv and Gemm nodes, summed here from the file itself."""
    import contextlib
    import io

    import onnx

    pytest.importorskip("onnxscript")
    model = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "r18.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), dynamo=True,
                          optimize=optimize)
    report = analyze(load_spec(import_onnx(str(path)).text))
    assert report.totals.macs == 1_814_073_344
    if not optimize:
        assert report.totals.params == 11_689_512
        return
    graph = onnx.load(str(path)).graph
    sizes = {t.name: int(np.prod(t.dims)) for t in graph.initializer}
    stored = sum(sizes.get(v, 0) for n in graph.node if n.op_type in ("Conv", "Gemm")
                 for v in n.input[1:3])
    assert report.totals.params == stored < 11_689_512


def test_imported_resnet50_reads_like_the_lecture_table(tmp_path: Path) -> None:
    """torchvision's names, one row per conv with its BN and ReLU, the add with its ReLU."""
    path = tmp_path / "r50.onnx"
    export_onnx(torchvision.models.resnet50(weights=None), (3, 224, 224), str(path))
    text = import_onnx(str(path)).text
    assert "- conv: {id: conv1, out: 64, k: 7, s: 2, p: 3, bn: true, act: relu}" in text
    # the projection shortcut is nn.Sequential(conv, bn): one row named after it
    assert "- conv: {id: layer1.0.downsample, in: maxpool, out: 256, k: 1, bn: true}" in text
    assert "- add: {id: layer1.0.add, in: [layer1.0.conv3, layer1.0.downsample], act: relu}" \
        in text
    assert len(text.split("layers:\n", 1)[1].splitlines()) == 72


#: a spec of each family and layer kind (bench/bridges.py roundtrip runs all 41)
ROUND_TRIP = ["alexnet", "lenet_example", "overfeat_example", "resnet50", "resnext50_32x4d",
              "mobilenet_v1", "mobilenet_v2", "mobilenet_v3_small", "efficientnet", "googlenet",
              "inception_v3", "densenet121", "shufflenet_v2_x1_0", "squeezenet1_0", "unet",
              "deeplab", "xception", "vgg11"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_round_trip_spec_pytorch_onnx_spec(name: str, tmp_path: Path) -> None:
    """Bundled spec → exported module → ONNX → imported spec: the same rows (output shape,
    params, buffers, MACs, FLOPs under `full`) and totals."""
    graph = to_graph(load_spec(name))
    export = export_pytorch(graph)
    namespace: dict[str, Any] = {}
    exec(compile(export.code, name, "exec"), namespace)
    path = tmp_path / f"{name}.onnx"
    export_onnx(namespace[export.class_name](), tuple(graph.input_shape), str(path))
    back = analyze(load_spec(import_onnx(str(path)).text), convention="full")
    result = compare_reports(analyze(graph, convention="full"), back)
    assert result["ok"], result


def test_verify_against_torch_agrees_row_by_row() -> None:
    result = check_against_torch(to_graph(load_spec("resnet18")))
    assert result.ok and len(result.rows) == 31
    conv1 = result.rows[0]
    # 64·3·7·7 weights + BN 2·64; MACs 64·112·112·3·7·7
    assert (conv1.torch_params, conv1.torch_buffers, conv1.torch_macs) == (
        9_408 + 128, 128, 118_013_952)
    add = next(r for r in result.rows if r.name == "layer1.0.add")
    assert add.module == "layer1.0.add" and add.torch_shape == (64, 56, 56)


def test_verify_against_torch_fails_on_a_wrong_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pool exported without its stride (PyTorch then strides by the kernel) is caught at
    the first pool, naming the layer: AlexNet's pool1 gives 27×27 from 55×55 with stride 2,
    but ⌊(55 − 3)/3⌋ + 1 = 18 with stride 3."""
    rule = Pool.to_torch

    def no_stride(layer: Any, ins: Any, out: Any) -> Any:
        found = rule(layer, ins, out)
        return found._replace(args=tuple(a for a in found.args if a[0] != "stride"))

    monkeypatch.setattr(Pool, "to_torch", no_stride)
    result = check_against_torch(to_graph(load_spec("alexnet")))
    bad = result.failures[0]
    assert bad.name == "pool1"
    assert bad.problems[0] == "output shape: engine [64, 27, 27], torch [64, 18, 18]"


def test_rows_named_like_module_attributes_run() -> None:
    """`forward`, `training`, `_modules` as row names: the module still runs and every row is
    checked (conv 3→4 3×3: 4·27 + 4 = 112 params; 1×1 4→2: 10)."""
    spec = {"archcalc": 1, "name": "t", "input": [3, 8, 8], "layers": [
        {"conv": {"id": "forward", "out": 4, "k": 3}}, {"relu": {"id": "training"}},
        {"conv": {"id": "_modules", "out": 2, "k": 1}}]}
    result = check_against_torch(to_graph(load_spec(spec)))
    assert result.ok and [r.torch_params for r in result.rows] == [112, 0, 10]


def test_verify_cli_against_torch() -> None:
    run = subprocess.run([sys.executable, "-m", "archcalc", "verify", "lenet5", "--against",
                          "torch", "-f", "json"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0, run.stderr
    assert '"ok": true' in run.stdout and '"archcalc_verify_torch": 2' in run.stdout


def test_exported_file_runs_with_only_torch(tmp_path: Path) -> None:
    """`python net.py`: the generated file builds the model and runs a zero input. GoogLeNet
    stem (convs with bias): (64·3·49 + 64) + (64·64 + 64) + (192·64·9 + 192) = 9,472 + 4,160
    + 110,784 = 124,416 params."""
    out = tmp_path / "net.py"
    out.write_text(export_pytorch(to_graph(load_spec("googlenet_stem"))).code)
    run = subprocess.run([sys.executable, str(out)], capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("124,416 params")


def test_exported_region_boxes_are_the_executors() -> None:
    """The RegionPool helper makes in torch the boxes archcalc's executor pools
    (layers.pool.region_boxes), and the FPN level of each (layers.pool.fpn_levels): Faster
    R-CNN FPN's box_roi_pool over P2-P5 (scales 1/4 … 1/32) of an 800×800 image."""
    from archcalc.layers.pool import fpn_levels, region_boxes
    from archcalc.torch_check import _load_module

    graph = to_graph(load_spec("fasterrcnn_resnet50_fpn"))
    export = export_pytorch(graph)
    model = _load_module(export.code)[export.class_name]()
    node = graph.node("box_roi_pool")
    pool = model.get_submodule(export.modules["box_roi_pool"])
    boxes, scales = node.op.boxes(node.in_shapes)
    h, w = node.in_shapes[0][1] / node.op.scale, node.in_shapes[0][2] / node.op.scale
    assert np.allclose(pool.boxes.numpy(), region_boxes(node.op.regions, h, w), atol=1e-3)
    assert pool.scales == tuple(scales) == (0.25, 0.125, 0.0625, 0.03125)
    assert (pool.level.numpy() == fpn_levels(boxes, scales)).all()


def test_graph_features_verify_against_torch() -> None:
    """Two inputs and a shared tower (Siamese: PyTorch's model holds the tower's weights once,
    the right tower's rows none), four outputs and five RPN levels sharing one head (Faster
    R-CNN FPN, frozen BN), SegNet's unpooling: every row agrees with PyTorch."""
    for name in ("siamese", "fasterrcnn_resnet50_fpn", "segnet"):
        result = check_against_torch(to_graph(load_spec(name)))
        assert result.ok, (name, result.failures[:1])
    siamese = check_against_torch(to_graph(load_spec("siamese")))
    assert siamese.torch_params == siamese.params
    right = next(r for r in siamese.rows if r.name == "right_tower.conv1")
    assert right.module == "left_tower.conv1" and right.torch_params == 0


def test_verify_against_torch_compares_every_rows_values() -> None:
    """The executor's seeded weights are loaded into the module and every row's output is held
    to the executor's: ResNet-18's 31 rows are all compared, each within the stated tolerance
    (1e-4 of the largest magnitude the row reads or writes, + 1e-6)."""
    from archcalc.torch_check import value_tolerance

    result = check_against_torch(to_graph(load_spec("resnet18")))
    assert result.ok and result.values
    assert all(r.value_diff is not None and r.value_scale is not None for r in result.rows)
    assert all(r.value_diff <= value_tolerance(r.value_scale) for r in result.rows  # type: ignore[operator]
               if r.value_diff is not None and r.value_scale is not None)
    assert result.max_rel_diff is not None and result.max_rel_diff < 1e-4
    data = result.to_dict()
    assert data["archcalc_verify_torch"] == 2 and data["tolerance"] == {
        "relative": 1e-4, "absolute": 1e-6}
    assert {"max_abs_diff", "value_scale", "tolerance"} <= set(data["layers"][0])


LRN_SPEC = {"archcalc": 1, "name": "t", "input": [6, 3, 4], "layers": [
    {"lrn": {"id": "norm", "size": 3, "alpha": 0.5, "beta": 0.75, "k": 2.0}}]}


@pytest.mark.parametrize(("cls_path", "spec", "row"), [
    # an activation left out (ReLU → nn.Identity): same shapes, params, MACs
    ("archcalc.layers.activation:Activation", "alexnet", "conv1"),
    # LRN's window 3 → 4 (α = 0.5, the conformance case's): no count changes
    ("archcalc.layers.norm:LRN", LRN_SPEC, "norm"),
])
def test_count_neutral_mistakes_are_caught_by_the_values(
        cls_path: str, spec: Any, row: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two kinds of mistake the count check cannot see (tools/mutate_torch.py): the row fails
    on its values, and only there (each row runs on the executor's inputs). With AlexNet's
    α = 10⁻⁴, LRN's window hardly matters: 5 → 6 moves its output by 5–8·10⁻⁵ of the scale
    (measured), under the tolerance — docs/bridges.md says so."""
    import importlib

    sys.path.insert(0, str(ROOT / "tools"))
    from mutate_torch import mutate

    module, name = cls_path.split(":")
    cls = getattr(importlib.import_module(module), name)
    rule = cls.to_torch
    monkeypatch.setattr(cls, "to_torch", lambda self, ins, out: mutate(rule(self, ins, out))[0])
    result = check_against_torch(to_graph(load_spec(spec)))
    bad = result.failures[0]
    assert bad.name == row and bad.problems[0].startswith("values: max |torch − NumPy|")
    assert (bad.torch_shape, bad.torch_params, bad.torch_macs) == (bad.shape, bad.params,
                                                                   bad.macs)


def test_dropout_is_the_identity_in_eval_mode_on_both_sides() -> None:
    """AlexNet's drop6 and drop7: PyTorch's nn.Dropout in eval mode and the executor's
    inference forward both pass their input on unchanged — a difference of exactly 0 —
    which is why a dropout exported as nn.Identity cannot be caught by values either."""
    result = check_against_torch(to_graph(load_spec("alexnet_original")))
    drops = [r for r in result.rows if r.type == "dropout"]
    assert len(drops) == 2 and all(r.value_diff == 0.0 for r in drops)


def test_deformable_conv_and_regions_agree_in_values() -> None:
    """torchvision's deform_conv2d against the executor's, and both RoI poolings on the same
    fixed boxes (Faster R-CNN VGG-16's roi_pool5: the case that found the executor's float64
    bin edge, docs/bridges.md)."""
    for name, kinds in (("deform_conv_example", {"deform_conv"}),
                        ("fasterrcnn_vgg16", {"roi_pool"})):
        result = check_against_torch(to_graph(load_spec(name)))
        assert result.ok, (name, result.failures[:1])
        rows = [r for r in result.rows if r.type.split("+")[0] in kinds]
        assert rows and all(r.value_diff is not None for r in rows), name
