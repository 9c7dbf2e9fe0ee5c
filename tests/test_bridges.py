"""The bridges without PyTorch: the exported module's text (golden files, refusals, names) and
ONNX import of graphs built with ``onnx.helper`` (needs only the onnx package, part of the test
extra). Expected counts are worked out by hand in each test."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import archcalc
from archcalc import analyze, bundled_names, load_spec, to_graph
from archcalc.errors import ArchcalcError, BridgeError
from archcalc.torch_code import TorchMerge
from archcalc.torch_export import export_pytorch

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------ export --

@pytest.mark.parametrize("name", ["resnet18", "lenet5", "googlenet_stem", "siamese"])
def test_export_text_is_golden(name: str, golden: Callable[[str, str], None]) -> None:
    """The generated file, word for word (review a diff with `pytest --update-golden`)."""
    golden(f"export_{name}.py", export_pytorch(to_graph(load_spec(name)), source=name).code)


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_spec_exports_to_valid_python(name: str) -> None:
    """Every row is a submodule named after it, a merge in forward, or the module of the row
    it shares; the text parses."""
    graph = to_graph(load_spec(name))
    export = export_pytorch(graph)
    ast.parse(export.code)
    assert set(export.modules) == {n.name for n in graph.nodes}
    for node in graph.nodes:
        fqn = export.modules[node.name]
        merge = isinstance(node.op.to_torch(node.in_shapes, node.out_shape), TorchMerge)
        if node.shares:
            assert fqn == export.modules[node.shares]
        elif merge and not node.post:
            assert fqn is None  # written in forward
        else:
            assert fqn is not None
    assert max(len(line) for line in export.code.splitlines()) <= 100


def test_resnet18_shares_one_class_per_block_shape() -> None:
    """ResNet-18's 8 blocks (the spec's block `basic`): the 3 with a projection shortcut
    (layer2.0, layer3.0, layer4.0) are one class, the 5 without another (layer1.0 keeps
    64 → 64 channels)."""
    code = export_pytorch(to_graph(load_spec("resnet18"))).code
    classes = [n for n in ast.parse(code).body if isinstance(n, ast.ClassDef)]
    assert [c.name for c in classes] == ["Basic", "Basic2", "ResNet18"]
    calls = [n.func.id for n in ast.walk(ast.parse(code))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert calls.count("Basic") == 5 and calls.count("Basic2") == 3
    assert "self.layer1 = nn.Sequential(" in code


def test_a_running_statistics_momentum_is_exported() -> None:
    """`momentum` other than PyTorch's default 0.1 is written into the module (bn and a tracked
    instance norm); 0.1 is left to the default."""
    spec = {"archcalc": 1, "name": "t", "input": [3, 8, 8], "layers": [
        {"conv": {"out": 4, "k": 3, "bn": True}},
        {"bn": {"id": "b2", "momentum": 0.3}},
        {"instancenorm": {"track_running_stats": True, "momentum": 0.05}}]}
    code = export_pytorch(to_graph(load_spec(spec))).code
    assert "nn.BatchNorm2d(4, momentum=0.3)" in code
    assert "nn.InstanceNorm2d(4, momentum=0.05, track_running_stats=True)" in code
    assert code.count("momentum=") == 2


def test_residual_merges_are_written_in_forward() -> None:
    code = export_pytorch(to_graph(load_spec("resnet18"))).code
    assert "add = self.add(x + conv2)" in code  # the add's fused ReLU is its module


def test_export_refuses_what_pytorch_cannot_express() -> None:
    spec = {"archcalc": 1, "name": "t", "input": [3, 12, 12], "layers": [
        {"conv": {"id": "c3", "out": 2, "k": 3, "s": 2, "connections": [[0, 1], [1, 2]]}}]}
    with pytest.raises(BridgeError) as err:
        export_pytorch(to_graph(load_spec(spec)))
    assert "layer 'c3' (conv)" in str(err.value)
    assert "stride 1" in str(err.value)


def test_spec_text_cannot_inject_code() -> None:
    """Names and ids reach the generated file only as identifiers, repr() strings or a
    sanitised docstring: a hostile spec name adds no statement."""
    spec = {"archcalc": 1, "name": 'x"""\nimport os; os.system("echo hi")\n"""', "input": [3, 8, 8],
            "layers": [{"conv": {"id": 'c"); import os; ("', "out": 4, "k": 3}}]}
    code = export_pytorch(to_graph(load_spec(spec))).code
    tree = ast.parse(code)
    kinds = [type(n).__name__ for n in tree.body]
    assert kinds == ["Expr", "ImportFrom", "Import", "ImportFrom", "Assign", "ClassDef", "If"]
    assert not any(isinstance(n, ast.Import) and n.names[0].name == "os" for n in ast.walk(tree))


def test_verify_against_torch_takes_no_receptive_field() -> None:
    run = _cli("verify", "lenet5", "--against", "torch", "-r")
    assert run.returncode == 2 and "drop --against torch" in run.stderr


def test_ids_that_are_module_attributes() -> None:
    """Rows named `forward`, `training` or `_modules` would shadow nn.Module's own; they are
    `forward_`, `training_`, `m_modules`, and the name map says so."""
    spec = {"archcalc": 1, "name": "t", "input": [3, 8, 8], "layers": [
        {"conv": {"id": "forward", "out": 4, "k": 3}}, {"relu": {"id": "training"}},
        {"conv": {"id": "_modules", "out": 2, "k": 1}}]}
    export = export_pytorch(to_graph(load_spec(spec)))
    assert export.modules == {"forward": "forward_", "training": "training_",
                              "_modules": "m_modules"}
    assert "self.forward_ = nn.Conv2d(3, 4, kernel_size=3)" in export.code


def test_export_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "net.py"
    run = _cli("export", "resnet18", "--to", "pytorch", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert out.read_text().startswith('"""ResNet-18: written by `archcalc export')


def test_export_pads_unevenly_before_the_conv() -> None:
    """`p: same` with stride 2 on an even input: total padding (⌈8/2⌉ − 1)·2 + 3 − 8 = 1, the
    extra pixel after (0 before, 1 after) — an nn.ConstantPad2d((0, 1, 0, 1)) first."""
    spec = {"archcalc": 1, "name": "t", "input": [3, 8, 8], "layers": [
        {"conv": {"id": "c", "out": 4, "k": 3, "s": 2, "p": "same"}}]}
    code = export_pytorch(to_graph(load_spec(spec))).code
    assert "nn.ConstantPad2d((0, 1, 0, 1), 0.0),\n            nn.Conv2d(3, 4, kernel_size=3, " \
        "stride=2),\n" in code


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "archcalc", *args], capture_output=True,
                          text=True, cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          timeout=120)


# ------------------------------------------------------------------------------ import --

onnx = pytest.importorskip("onnx") if not os.environ.get("ARCHCALC_REQUIRE_TORCH") \
    else __import__("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

np = pytest.importorskip("numpy")


class G:
    """A tiny ONNX graph builder: ``g.node(op, inputs, **attrs)`` returns its output name."""

    def __init__(self, shape: Sequence[int | str], opset: int = 17) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.shape = list(shape)
        self.opset = opset
        self.count = 0

    def w(self, name: str, shape: Sequence[int], value: Any = None) -> str:
        array = np.zeros(shape, np.float32) if value is None else np.asarray(value)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: Sequence[str], name: str | None = None,
             outputs: int = 1, **attrs: Any) -> Any:
        self.count += 1
        outs = [f"t{self.count}_{k}" for k in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), outs,
                                           name=name or f"{op.lower()}{self.count}", **attrs))
        return outs[0] if outputs == 1 else outs

    def conv(self, x: str, cin: int, cout: int, k: int, name: str, bias: bool = False,
             **attrs: Any) -> str:
        ins = [x, self.w(f"{name}.weight", (cout, cin // attrs.get("group", 1), k, k))]
        if bias:
            ins.append(self.w(f"{name}.bias", (cout,)))
        return self.node("Conv", ins, f"/{name}/Conv", kernel_shape=[k, k], **attrs)

    def bn(self, x: str, c: int, name: str) -> str:
        stats = [self.w(f"{name}.{k}", (c,), np.ones(c, np.float32))
                 for k in ("weight", "bias", "running_mean", "running_var")]
        return self.node("BatchNormalization", [x, *stats], f"/{name}/BatchNormalization")

    def save(self, path: Path, output: str) -> str:
        graph = helper.make_graph(
            self.nodes, "test",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, self.shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        onnx.save(model, str(path))
        return str(path)


def _import(path: str, **kw: Any) -> tuple[str, archcalc.Report]:
    from archcalc.onnx_import import import_onnx

    text = import_onnx(path, **kw).text
    return text, analyze(load_spec(text))


def test_conv_bn_relu_is_one_row(tmp_path: Path) -> None:
    """Conv 3→8, 3×3, pad 1, no bias + BN + Relu on 3×16×16: one conv row with bn and relu.
    params 8·3·3·3 = 216 + BN γ, β 2·8 = 16 → 232; buffers 2·8 = 16; MACs 8·16·16·3·3·3 =
    55,296."""
    g = G([1, 3, 16, 16])
    y = g.node("Relu", [g.bn(g.conv("x", 3, 8, 3, "conv1", pads=[1, 1, 1, 1]), 8, "bn1")],
               "/relu/Relu")
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert "- conv: {id: conv1, out: 8, k: 3, p: 1, bn: true, act: relu}" in text
    (row,) = report.layers
    assert (row.params, row.buffers, row.macs) == (232, 16, 55_296)
    assert row.output_shape == (8, 16, 16)


def test_sequential_conv_bn_act_is_named_after_its_module(tmp_path: Path) -> None:
    """torchvision's Conv2dNormActivation: features.0.{0,1,2} is the row features.0."""
    g = G([1, 3, 8, 8])
    y = g.conv("x", 3, 4, 1, "features.0.0")
    y = g.bn(y, 4, "features.0.1")
    y = g.node("Clip", [y, g.w("lo", (), np.float32(0)), g.w("hi", (), np.float32(6))],
               "/features/features.0/features.0.2/Clip")
    text, _ = _import(g.save(tmp_path / "m.onnx", y))
    assert "- conv: {id: features.0, out: 4, k: 1, bn: true, act: relu6}" in text


def test_torch_scope_names(tmp_path: Path) -> None:
    from archcalc.onnx_import import _scope_name

    assert _scope_name("/layer1/layer1.0/conv1/Conv") == ("layer1.0.conv1", "Conv")
    assert _scope_name("/features/features.3/conv/conv.0/conv.0.0/Conv") == (
        "features.3.conv.0.0", "Conv")
    assert _scope_name("node_Conv_12") is None


def test_gemm_after_global_pool_reads_the_map(tmp_path: Path) -> None:
    """GAP → Flatten → Gemm: the flatten of a [16, 1, 1] map is left out (the fc reads it);
    fc params 16·10 + 10 = 170, MACs 160."""
    g = G([1, 16, 7, 7])
    p = g.node("GlobalAveragePool", ["x"], "/avgpool/GlobalAveragePool")
    f = g.node("Flatten", [p], "/Flatten", axis=1)
    y = g.node("Gemm", [f, g.w("fc.weight", (10, 16)), g.w("fc.bias", (10,))], "/fc/Gemm",
               transB=1)
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [r.type for r in report.layers] == ["global_avgpool", "fc"]
    assert (report.layers[1].params, report.layers[1].macs) == (170, 160)
    assert "flatten" not in text


def test_matmul_and_bias_add_are_one_fc(tmp_path: Path) -> None:
    """x[1, 12] @ W[12, 5] + b[5]: fc 12·5 + 5 = 65 params, 60 MACs."""
    g = G([1, 12])
    m = g.node("MatMul", ["x", g.w("fc.weight_t", (12, 5))], "/fc/MatMul")
    y = g.node("Add", [m, g.w("fc.bias", (5,))], "/fc/Add")
    _, report = _import(g.save(tmp_path / "m.onnx", y))
    (row,) = report.layers
    assert (row.type, row.params, row.macs) == ("fc", 65, 60)


def test_silu_and_squeeze_excitation(tmp_path: Path) -> None:
    """x·σ(x) is one silu; an SE gate Mul(map, σ(conv(GAP(map)))) is a multiply. Params: conv
    8→2 1×1 + bias 18, conv 2→8 + bias 24."""
    g = G([1, 8, 4, 4])
    s = g.node("Sigmoid", ["x"], "/act/Sigmoid")
    a = g.node("Mul", ["x", s], "/act/Mul")
    p = g.node("GlobalAveragePool", [a], "/se/pool/GlobalAveragePool")
    r = g.node("Relu", [g.conv(p, 8, 2, 1, "se.fc1", bias=True)], "/se/relu/Relu")
    gate = g.node("Sigmoid", [g.conv(r, 2, 8, 1, "se.fc2", bias=True)], "/se/gate/Sigmoid")
    y = g.node("Mul", [a, gate], "/se/Mul")
    _text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [(r.type, r.post) for r in report.layers] == [
        ("silu", ()), ("global_avgpool", ()), ("conv", ("relu",)), ("conv", ("sigmoid",)),
        ("multiply", ())]
    assert [r.params for r in report.layers] == [0, 0, 18, 24, 0]


def test_shape_plumbing_is_folded(tmp_path: Path) -> None:
    """The old exporters' flatten — Shape, Gather, Unsqueeze, Concat, Reshape — is one row."""
    g = G([1, 4, 3, 3])
    shape = g.node("Shape", ["x"], "/Shape")
    batch = g.node("Gather", [shape, g.w("zero", (), np.int64(0))], "/Gather", axis=0)
    unsq = g.node("Unsqueeze", [batch, g.w("axes", (1,), np.array([0], np.int64))],
                  "/Unsqueeze")
    target = g.node("Concat", [unsq, g.w("minus1", (1,), np.array([-1], np.int64))],
                    "/Concat", axis=0)
    y = g.node("Reshape", ["x", target], "/Reshape")
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [r.type for r in report.layers] == ["flatten"]
    assert report.layers[0].output_shape == (36,)
    assert "4 constants and shape plumbing folded" in text


def test_pools_keep_their_geometry(tmp_path: Path) -> None:
    """MaxPool 3×3/2 ceil_mode on 8×8: ⌈(8 − 3)/2⌉ + 1 = 4; AveragePool 3×3/1 pad 1 with
    ONNX's default count_include_pad = 0 → count_include_pad: false."""
    g = G([1, 2, 8, 8])
    m = g.node("MaxPool", ["x"], "/pool1/MaxPool", kernel_shape=[3, 3], strides=[2, 2],
               ceil_mode=1)
    y = g.node("AveragePool", [m], "/pool2/AveragePool", kernel_shape=[3, 3],
               pads=[1, 1, 1, 1])
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert "- maxpool: {id: pool1, k: 3, s: 2, ceil_mode: true}" in text
    assert "- avgpool: {id: pool2, k: 3, s: 1, p: 1, count_include_pad: false}" in text
    assert [r.output_shape for r in report.layers] == [(2, 4, 4), (2, 4, 4)]


def test_depthwise_conv_and_auto_pad(tmp_path: Path) -> None:
    """group = C_in = 6 is a dwconv (6·1·3·3 = 54 params); auto_pad SAME_UPPER with stride 2 on
    9×9: ⌈9/2⌉ = 5, total (5 − 1)·2 + 3 − 9 = 2 → 1 before, 1 after."""
    g = G([1, 6, 9, 9])
    y = g.conv("x", 6, 6, 3, "dw", group=6, strides=[2, 2], auto_pad="SAME_UPPER")
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert "- dwconv: {id: dw, k: 3, s: 2, p: 1}" in text
    assert (report.layers[0].params, report.layers[0].output_shape) == (54, (6, 5, 5))


def test_pad_goes_into_the_conv(tmp_path: Path) -> None:
    """Pad (0 before, 1 after) then Conv 3×3/2 on 8×8: one conv row with p [[0, 1], [0, 1]]:
    ⌊(8 + 1 − 3)/2⌋ + 1 = 4."""
    g = G([1, 3, 8, 8])
    padded = g.node("Pad", ["x", g.w("pads", (8,), np.array([0, 0, 0, 0, 0, 0, 1, 1],
                                                            np.int64))], "/c/pad/Pad")
    y = g.conv(padded, 3, 4, 3, "c", strides=[2, 2])
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert "p: [[0, 1], [0, 1]]" in text
    assert [r.output_shape for r in report.layers] == [(4, 4, 4)]


def test_channel_shuffle_split_and_resize(tmp_path: Path) -> None:
    """ShuffleNet's reshape [B, 2, 4, H, W] → transpose → reshape is one channel_shuffle;
    a Split in two is two slices; a nearest Resize ×2 an upsample."""
    g = G([1, 8, 4, 4])
    r1 = g.node("Reshape", ["x", g.w("s1", (5,), np.array([1, 2, 4, 4, 4], np.int64))],
                "/shuffle/Reshape")
    t = g.node("Transpose", [r1], "/shuffle/Transpose", perm=[0, 2, 1, 3, 4])
    r2 = g.node("Reshape", [t, g.w("s2", (4,), np.array([1, 8, 4, 4], np.int64))],
                "/shuffle/Reshape_1")
    a, b = g.node("Split", [r2, g.w("sizes", (2,), np.array([3, 5], np.int64))],
                  "/split/Split", outputs=2, axis=1)
    c = g.node("Concat", [b, a], "/cat/Concat", axis=1)
    y = g.node("Resize", [c, "", g.w("scales", (4,), np.array([1, 1, 2, 2], np.float32))],
               "/up/Resize", mode="nearest", coordinate_transformation_mode="asymmetric",
               nearest_mode="floor")
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [r.type for r in report.layers] == ["channel_shuffle", "slice", "slice", "concat",
                                               "upsample"]
    assert "- slice: {id: split0, start: 0, stop: 3}" in text
    assert "- slice: {id: split1, in: shuffle, start: 3, stop: 8}" in text
    assert report.layers[-1].output_shape == (8, 8, 8)


def test_conv_transpose_lrn_dropout(tmp_path: Path) -> None:
    """ConvTranspose 4→2, 4×4/2 pad 1 on 5×5: (5 − 1)·2 − 2 + 4 = 10; weights 4·2·4·4 = 128
    + 2 bias; MACs per input element 2·16: 4·5·5·32 = 3,200."""
    g = G([1, 4, 5, 5])
    d = g.node("ConvTranspose", ["x", g.w("up.weight", (4, 2, 4, 4)), g.w("up.bias", (2,))],
               "/up/ConvTranspose", kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
    n = g.node("LRN", [d], "/norm/LRN", size=5, alpha=1e-4, beta=0.75, bias=2.0)
    y = g.node("Dropout", [n], "/drop/Dropout", outputs=1)
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [r.type for r in report.layers] == ["deconv", "lrn", "dropout"]
    assert (report.layers[0].params, report.layers[0].macs) == (130, 3_200)
    assert report.layers[0].output_shape == (2, 10, 10)
    assert "k: 2.0" in text


def test_a_bias_computed_at_run_time_is_no_parameter(tmp_path: Path) -> None:
    """The dynamo exporter gives a bias-free conv a zero bias: Expand(CastLike(0, x), [C]).
    It is no tensor of the model: conv 3→4 1×1 has 12 params, not 16."""
    g = G([1, 3, 4, 4])
    zero = g.node("CastLike", [g.w("z", (), np.float32(0)), "x"], "node_CastLike_1")
    bias = g.node("Expand", [zero, g.w("n", (1,), np.array([4], np.int64))], "node_Expand_2")
    y = g.node("Conv", ["x", g.w("c.weight", (4, 3, 1, 1)), bias], "node_conv2d",
               kernel_shape=[1, 1])
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert report.layers[0].params == 12 and "bias: false" in text


def test_dynamo_name_scopes(tmp_path: Path) -> None:
    """The dynamo exporter's node names carry no module; its name_scopes metadata does."""
    g = G([1, 3, 4, 4])
    y = g.node("Relu", [g.conv("x", 3, 4, 1, "features.0")], "node_relu_7")
    props = g.nodes[-1].metadata_props.add()
    props.key, props.value = "pkg.torch.onnx.name_scopes", "['', 'features', 'features.1', " \
        "'relu_7']"
    z = g.node("MaxPool", [y], "node_max_pool2d", kernel_shape=[2, 2], strides=[2, 2])
    props = g.nodes[-1].metadata_props.add()
    props.key, props.value = "pkg.torch.onnx.name_scopes", "['', 'pool', 'max_pool2d']"
    text, _ = _import(g.save(tmp_path / "m.onnx", z))
    # conv features.0 and relu features.1 are all of `features`: the row is named after it
    assert "- conv: {id: features, out: 4, k: 1, act: relu}" in text
    assert "- maxpool: {id: pool, k: 2, s: 2}" in text


def test_unsupported_operator_names_node_and_op(tmp_path: Path) -> None:
    g = G([1, 4, 4, 4])
    y = g.node("Einsum", ["x"], "/mix/Einsum", equation="bchw->bchw")
    path = g.save(tmp_path / "m.onnx", y)
    with pytest.raises(BridgeError) as err:
        _import(path)
    assert "node '/mix/Einsum' (Einsum): ONNX operator Einsum has no archcalc layer" in str(
        err.value)
    run = _cli("table", path)
    assert run.returncode == 1 and "Einsum" in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""


def test_refused_attributes(tmp_path: Path) -> None:
    g = G([1, 4, 4, 4])
    y = g.node("HardSigmoid", ["x"], "/hs/HardSigmoid", alpha=0.2, beta=0.5)
    with pytest.raises(BridgeError, match="not PyTorch's hardsigmoid"):
        _import(g.save(tmp_path / "m.onnx", y))
    g = G([1, 4, 4, 4])
    y = g.node("Clip", ["x", g.w("lo", (), np.float32(-1)), g.w("hi", (), np.float32(1))],
               "/c/Clip")
    with pytest.raises(BridgeError, match=r"Clip\(-1.0, 1.0\) has no archcalc activation"):
        _import(g.save(tmp_path / "m.onnx", y))


def test_symbolic_input_needs_sizes(tmp_path: Path) -> None:
    """A dynamic-size export: refused with the fix; --input gives the sizes. Conv 3→4 3×3 on
    3×10×10 → 4×8×8."""
    g = G(["batch", 3, "h", "w"])
    path = g.save(tmp_path / "m.onnx", g.conv("x", 3, 4, 3, "c"))
    with pytest.raises(BridgeError, match="--input 3x224x224"):
        _import(path)
    _, report = _import(path, input_shape=(3, 10, 10))
    assert report.layers[0].output_shape == (4, 8, 8)
    out = tmp_path / "net.yaml"
    run = _cli("import", path, "--input", "3x10x10", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert analyze(str(out)).totals.params == 4 * 3 * 9
    run = _cli("table", path, "--input", "3x10x10", "--format", "csv")
    assert run.returncode == 0 and "conv,,input,4x8x8" in run.stdout, run.stderr


def test_batch_norm_momentum_is_read_as_pytorch_counts_it(tmp_path: Path) -> None:
    """ONNX's BatchNormalization momentum weighs the running statistic (``running·m +
    batch·(1 − m)``, default 0.9); archcalc's (PyTorch's) weighs the batch: 1 − 0.7 = 0.3. The
    default 0.9 is PyTorch's 0.1, left unwritten."""
    g = G([1, 3, 8, 8])
    y = g.bn(g.conv("x", 3, 4, 3, "conv1", pads=[1, 1, 1, 1]), 4, "bn1")
    g.nodes[-1].attribute.append(helper.make_attribute("momentum", 0.7))
    text, _ = _import(g.save(tmp_path / "m.onnx", y))
    # its own row: a fused `bn: true` would have the default; 7 digits of ONNX's float32
    assert "  - conv: {id: conv1, out: 4, k: 3, p: 1}\n  - bn: {id: bn1, momentum: 0.3}" in text
    g = G([1, 3, 8, 8])
    y = g.bn(g.conv("x", 3, 4, 3, "conv1", pads=[1, 1, 1, 1]), 4, "bn1")
    text, _ = _import(g.save(tmp_path / "d.onnx", y))
    assert "momentum" not in text


def test_table_reads_onnx_directly(tmp_path: Path) -> None:
    g = G([1, 3, 16, 16])
    path = g.save(tmp_path / "m.onnx", g.conv("x", 3, 8, 3, "conv1", pads=[1, 1, 1, 1]))
    run = _cli("table", path, "--format", "csv")
    assert run.returncode == 0, run.stderr
    row = next(line for line in run.stdout.splitlines() if line.startswith("conv1,"))
    assert row.startswith("conv1,conv,,input,8x16x16,216,0,55296")


def test_corrupt_file_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"\x08\x07garbage that is no protobuf message")
    run = _cli("table", str(path))
    assert run.returncode == 1 and f"{path}: error: not a readable ONNX model" in run.stderr
    assert "Traceback" not in run.stderr


def test_plumbing_cannot_exhaust_memory(tmp_path: Path) -> None:
    """A ConstantOfShape of [10^6, 10^6] (10^12 elements) is not computed: only its shape is
    kept, and the import fails on the node that needs its value (a Reshape target) by name."""
    g = G([1, 4, 3, 3])
    big = g.node("ConstantOfShape", [g.w("dims", (2,), np.array([10**6, 10**6], np.int64))],
                 "/big/ConstantOfShape")
    target = g.node("Shape", [big], "/big/Shape")
    y = g.node("Reshape", ["x", target], "/Reshape")
    with pytest.raises(BridgeError) as err:
        _import(g.save(tmp_path / "m.onnx", y))
    assert "node '/Reshape' (Reshape)" in str(err.value)


def test_imported_text_is_one_layer_per_line(tmp_path: Path) -> None:
    g = G([1, 3, 16, 16])
    y = g.node("Relu", [g.bn(g.conv("x", 3, 8, 3, "conv1"), 8, "bn1")], "/relu/Relu")
    path = g.save(tmp_path / "m.onnx", y)
    text, report = _import(path)
    layers = text.split("layers:\n", 1)[1].splitlines()
    assert all(line.startswith("  - ") for line in layers)
    # `archcalc table MODEL.onnx` builds the same spec from Python data
    from archcalc.onnx_import import import_onnx

    assert analyze(import_onnx(path).mapping).to_dict() == report.to_dict()


def test_missing_extras_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without onnx (or torch) the command says which extra to install."""
    from archcalc.onnx_import import import_onnx
    from archcalc.torch_check import check_against_torch

    monkeypatch.setitem(sys.modules, "onnx", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(BridgeError, match=r"pip install 'archcalc\[onnx\]'"):
        import_onnx(str(tmp_path / "m.onnx"))
    with pytest.raises(BridgeError, match=r"pip install 'archcalc\[torch\]'"):
        check_against_torch(to_graph(load_spec("lenet5")))


def test_onnx_errors_are_archcalc_errors(tmp_path: Path) -> None:
    with pytest.raises(ArchcalcError, match=r"no such file|cannot read"):
        _import(str(tmp_path / "missing.onnx"))


# ------------------------------------------------------------- one type, one place (issue 16) --

#: every ONNX operator the importer reads, each declared by the layer classes that read it
ONNX_OPERATORS = {
    "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "CastLike", "Clip", "Concat",
    "Conv", "ConvTranspose", "DeformConv", "DepthToSpace", "Dropout", "Elu", "Flatten", "Gelu",
    "Gemm", "GlobalAveragePool", "GlobalMaxPool", "GroupNormalization", "HardSigmoid",
    "HardSwish", "Identity", "InstanceNormalization", "LRN", "LeakyRelu", "LpNormalization",
    "MatMul", "MaxPool", "MaxRoiPool", "MaxUnpool", "Mul", "PRelu", "Pad", "ReduceL2",
    "ReduceMax", "ReduceMean", "Relu", "Reshape", "Resize", "RoiAlign", "Sigmoid", "Slice",
    "Softmax", "Split", "Squeeze", "Sub", "Sum", "Tanh", "Transpose", "Upsample",
}


def test_every_class_carries_its_own_bridges() -> None:
    """Each class defines its PyTorch rule and its ONNX declaration itself (none inherited
    silently: an adaptive max pool must not export as its parent's average); a class without
    an ONNX operator says why; the importer's table is the union of the declarations."""
    from archcalc.layers.registry import LAYER_CLASSES
    from archcalc.onnx_import import onnx_classes

    no_torch = [c.__name__ for c in LAYER_CLASSES if "to_torch" not in vars(c)]
    no_onnx = [c.__name__ for c in LAYER_CLASSES if "ONNX" not in vars(c)]
    assert no_torch == [] and no_onnx == []
    for cls in LAYER_CLASSES:
        assert bool(cls.ONNX) != bool(cls.ONNX_NONE), cls.__name__
        if cls.ONNX:
            assert "from_onnx" in vars(cls), cls.__name__
    declared = {op for cls in LAYER_CLASSES for op in cls.ONNX}
    assert declared == set(onnx_classes()) == ONNX_OPERATORS


def test_docs_list_every_onnx_operator() -> None:
    """docs/bridges.md's import table names each operator the classes declare."""
    text = (ROOT / "docs" / "bridges.md").read_text(encoding="utf-8")
    missing = sorted(op for op in ONNX_OPERATORS if f"`{op}`" not in text)
    assert missing == []


def test_every_activation_function_has_a_module() -> None:
    from archcalc.layers.activation import RULES, TORCH

    assert set(TORCH) == set(RULES)


def test_issue_15_activations_and_norms_import(tmp_path: Path) -> None:
    """Elu(0.5), PRelu per channel (4 slopes), Abs, InstanceNormalization (γ, β: 2·4 = 8),
    GroupNormalization 2 groups (opset 21: γ, β per channel, 8), LpNormalization p=2 over the
    channels (no params) on [4, 5, 5]: 4 + 8 + 8 = 20 params."""
    g = G([1, 4, 5, 5], opset=21)
    y = g.node("Elu", ["x"], "/elu/Elu", alpha=0.5)
    y = g.node("PRelu", [y, g.w("prelu.weight", (4, 1, 1))], "/prelu/PRelu")
    y = g.node("Abs", [y], "/abs/Abs")
    y = g.node("InstanceNormalization", [y, g.w("inorm.weight", (4,), np.full(4, 2.0,
                                                                                np.float32)),
                                         g.w("inorm.bias", (4,))], "/inorm/IN")
    y = g.node("GroupNormalization", [y, g.w("gn.weight", (4,)), g.w("gn.bias", (4,))],
               "/gn/GN", num_groups=2)
    y = g.node("LpNormalization", [y], "/l2/Lp", p=2, axis=1)
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [r.type for r in report.layers] == [
        "elu", "prelu", "abs", "instancenorm", "groupnorm", "l2norm"]
    assert [r.params for r in report.layers] == [0, 4, 0, 8, 8, 0]
    assert "- elu: {id: elu, alpha: 0.5}" in text
    assert "- groupnorm: {id: gn, groups: 2}" in text


def test_instance_norm_of_pytorch_default_has_no_affine(tmp_path: Path) -> None:
    """PyTorch exports nn.InstanceNorm2d(4) (affine=False) with a scale of ones and a bias of
    zeros: no parameters, as torch counts."""
    g = G([1, 4, 5, 5])
    y = g.node("InstanceNormalization", ["x", g.w("s", (4,), np.ones(4, np.float32)),
                                         g.w("b", (4,))], "/inorm/IN")
    _, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [(r.type, r.params) for r in report.layers] == [("instancenorm", 0)]


def test_two_activation_products_and_differences(tmp_path: Path) -> None:
    """Sub of two activations → subtract; MatMul of x [6, 4] by its transpose (a Transpose of
    a graph input is refused, so a second Reshape [4, 6] of a conv gives the right operand) →
    matmul 6·4·6 = 144 MACs. Mul by a scalar constant → scale; by a stored [C, 1, 1] tensor →
    layer_scale (C = 6 params)."""
    g = G([1, 6, 2, 2])
    a = g.conv("x", 6, 6, 1, "a")
    d = g.node("Sub", ["x", a], "/diff/Sub")
    s = g.node("Mul", [d, g.w("c", (), np.float32(0.2))], "/scale/Mul")
    ls = g.node("Mul", [s, g.w("ls.gamma", (6, 1, 1), np.ones((6, 1, 1), np.float32))],
                "/ls/Mul")
    left = g.node("Reshape", [ls, g.w("shape_l", (3,), np.array([1, 6, 4], np.int64))],
                  "/left/Reshape")
    right = g.node("Reshape", [ls, g.w("shape_r", (3,), np.array([1, 4, 6], np.int64))],
                   "/right/Reshape")
    y = g.node("MatMul", [left, right], "/att/MatMul")
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [r.type for r in report.layers] == [
        "conv", "subtract", "scale", "layer_scale", "reshape", "reshape", "matmul"]
    assert "- scale: {id: scale, factor: 0.2}" in text
    assert report.layers[3].params == 6
    assert report.layers[-1].macs == 6 * 4 * 6 and report.layers[-1].output_shape == (6, 6)


def test_max_unpool_names_its_pool(tmp_path: Path) -> None:
    """MaxPool 2×2/2 with its indices, a Relu, MaxUnpool back to 8×8: `indices:` names the
    pool's row."""
    g = G([1, 3, 8, 8])
    pooled, idx = g.node("MaxPool", ["x"], "/pool1/MaxPool", outputs=2, kernel_shape=[2, 2],
                         strides=[2, 2])
    r = g.node("Relu", [pooled], "/relu/Relu")
    y = g.node("MaxUnpool", [r, idx], "/unpool1/MaxUnpool", kernel_shape=[2, 2],
               strides=[2, 2])
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert "- max_unpool: {id: unpool1, indices: pool1}" in text
    assert report.layers[-1].output_shape == (3, 8, 8)


def test_region_pools_take_the_rois_count(tmp_path: Path) -> None:
    """RoiAlign of 5 stored boxes, 7×7, sampling 2, half_pixel → roi_align regions 5 aligned;
    MaxRoiPool 3×3 of 4 boxes → roi_pool regions 4. Work per region of roi_align, window
    reads C·7·7·2²·4 = 8·49·16 = 6,272, times 5 regions = 31,360."""
    g = G([1, 8, 16, 16], opset=16)
    y = g.node("RoiAlign", ["x", g.w("rois", (5, 4), np.tile([0, 0, 8, 8], (5, 1)).astype(
        np.float32)), g.w("bi", (5,), np.zeros(5, np.int64))], "/box/RoiAlign",
        output_height=7, output_width=7, sampling_ratio=2, spatial_scale=0.5)
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert "- roi_align: {id: box, out: 7, scale: 0.5, sampling_ratio: 2, aligned: true, " \
        "regions: 5}" in text
    assert report.layers[0].output_shape == (8, 7, 7)
    g = G([1, 8, 16, 16])
    y = g.node("MaxRoiPool", ["x", g.w("rois", (4, 5), np.zeros((4, 5), np.float32))],
               "/roi/MaxRoiPool", pooled_shape=[3, 3], spatial_scale=0.25)
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert "- roi_pool: {id: roi, out: 3, scale: 0.25, regions: 4}" in text


def test_deform_conv_and_depth_to_space(tmp_path: Path) -> None:
    """DeformConv (opset 19) 4→8 3×3 pad 1 on 6×6 with offsets from a conv 4→18 (2·3·3):
    weights 8·4·9 + 8 = 296; DepthToSpace CRD 2: [8, 6, 6] → [2, 12, 12]."""
    g = G([1, 4, 6, 6], opset=19)
    off = g.conv("x", 4, 18, 3, "offset", pads=[1, 1, 1, 1])
    y = g.node("DeformConv", ["x", g.w("deform.weight", (8, 4, 3, 3)), off,
                              g.w("deform.bias", (8,))], "/deform/DeformConv",
               kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    y = g.node("DepthToSpace", [y], "/ps/DepthToSpace", blocksize=2, mode="CRD")
    _text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [r.type for r in report.layers] == ["conv", "deform_conv", "pixel_shuffle"]
    assert report.layers[1].params == 296
    assert report.layers[2].output_shape == (2, 12, 12)


def test_graph_features_in_the_exported_text() -> None:
    """Two inputs are forward's arguments; the right tower calls the left tower's module
    (`share:`); SegNet's pools hand their indices to the unpooling; Faster R-CNN's four outputs
    are a tuple and its five RPN levels call one head."""
    code = export_pytorch(to_graph(load_spec("siamese"))).code
    assert "def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:" in code
    assert "right_tower = self.left_tower(right)" in code and "self.right_tower" not in code
    code = export_pytorch(to_graph(load_spec("segnet"))).code
    assert "self.pool5 = nn.MaxPool2d(2, ceil_mode=True, return_indices=True)" in code
    assert "pool5, pool5_indices = self.pool5(conv5_3)" in code
    assert "upsample5 = self.upsample5(pool5, pool5_indices)" in code
    code = export_pytorch(to_graph(load_spec("fasterrcnn_resnet50_fpn"))).code
    assert "return rpn_objectness, rpn_deltas, cls_score, bbox_pred" in code
    assert code.count("self.rpn_p2(") == 5 and "self.rpn_p3 " not in code
    assert "import torchvision" in code and "Needs only torch and torchvision." in code


def test_sharing_across_blocks_is_refused() -> None:
    """A layer sharing the weights of a layer in another block (not a whole sibling block
    call) cannot be one module called twice from one forward: refused by name."""
    spec = {"archcalc": 1, "name": "t", "input": [3, 8, 8],
            "blocks": {"b": {"layers": [{"conv": {"id": "c", "out": 3, "k": 1}}]}},
            "layers": [{"b": {"id": "one"}}, {"conv": {"id": "two", "out": 3, "k": 1,
                                                         "share": "one.c"}}]}
    with pytest.raises(BridgeError) as info:
        export_pytorch(to_graph(spec))
    assert info.value.layer == "layer 'two' (conv)" and "'one.c'" in info.value.what


def test_several_inputs_and_outputs_import(tmp_path: Path) -> None:
    """Two inputs a, b [4, 6, 6] through one Conv each, their difference, and two outputs (the
    difference and a global pool of it): `inputs:` and `outputs:` in the spec. Conv 4→4 3×3
    pad 1: 4·4·9 = 144 params each."""
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 4, 3, 3), np.float32), "w")
    w2 = numpy_helper.from_array(np.zeros((4, 4, 3, 3), np.float32), "w2")
    nodes = [
        helper.make_node("Conv", ["a", "w"], ["ca"], name="/left/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["b", "w2"], ["cb"], name="/right/Conv", pads=[1, 1, 1, 1]),
        helper.make_node("Sub", ["ca", "cb"], ["d"], name="/diff/Sub"),
        helper.make_node("GlobalAveragePool", ["d"], ["g"], name="/pool/GlobalAveragePool"),
    ]
    graph = helper.make_graph(
        nodes, "two", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, 6, 6])
                       for n in ("a", "b")],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("d", "g")],
        [w, w2])
    path = tmp_path / "two.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    text, report = _import(str(path))
    assert "inputs:\n  a: [4, 6, 6]\n  b: [4, 6, 6]" in text
    assert "outputs: [diff, pool]" in text
    assert "- conv: {id: right, in: b, out: 4, k: 3, p: 1}" in text
    assert [(r.name, r.params) for r in report.layers] == [
        ("left", 144), ("right", 144), ("diff", 0), ("pool", 0)]


def test_shared_weights_import_as_share(tmp_path: Path) -> None:
    """Two Convs reading the same stored weight and bias (one tower applied to two inputs)
    are a row and a `share:` of it: the weights 4·4·9 + 4 = 148 counted once."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.zeros((4, 4, 3, 3), np.float32), "tower.weight"),
             numpy_helper.from_array(np.zeros(4, np.float32), "tower.bias")]
    nodes = [helper.make_node("Conv", [x, "tower.weight", "tower.bias"], [f"c{x}"],
                              name=f"/tower_{x}/Conv", pads=[1, 1, 1, 1]) for x in ("a", "b")]
    nodes.append(helper.make_node("Sub", ["ca", "cb"], ["d"], name="/diff/Sub"))
    graph = helper.make_graph(
        nodes, "twin", [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, 6, 6])
                        for n in ("a", "b")],
        [helper.make_tensor_value_info("d", TensorProto.FLOAT, None)], inits)
    path = tmp_path / "twin.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    text, report = _import(str(path))
    assert "- conv: {id: tower_b, in: b, out: 4, k: 3, p: 1, share: tower}" in text
    assert [r.params for r in report.layers] == [148, 0, 0]
    assert report.totals.params == 148


def test_normalize_and_gram_patterns_import(tmp_path: Path) -> None:
    """PyTorch's F.normalize (ReduceL2 over axis 1, Clip(1e-12), Expand, Div) times a stored
    scale of 3 reshaped to [1, 3, 1, 1] (SSD's L2Norm): one l2norm of 3 params; then
    f = x.flatten(2), f @ fᵀ / (3·5·5): one gram, normalised, 3·3·25 = 225 MACs."""
    g = G([1, 3, 5, 5])
    n = g.node("ReduceL2", ["x"], "/l2/ReduceL2", axes=[1], keepdims=1)
    c = g.node("Clip", [n, g.w("eps", (), np.float32(1e-12))], "/l2/Clip")
    e = g.node("Expand", [c, g.w("shape", (4,), np.array([1, 3, 5, 5], np.int64))],
               "/l2/Expand")
    d = g.node("Div", ["x", e], "/l2/Div")
    scale = g.node("Reshape", [g.w("l2.weight", (3,), np.full(3, 20.0, np.float32)),
                               g.w("view", (4,), np.array([1, -1, 1, 1], np.int64))],
                   "/l2/Reshape")
    m = g.node("Mul", [d, scale], "/l2/Mul")
    f = g.node("Reshape", [m, g.w("flat", (3,), np.array([1, 3, 25], np.int64))],
               "/style/Reshape")
    t = g.node("Transpose", [f], "/style/Transpose", perm=[0, 2, 1])
    mm = g.node("MatMul", [f, t], "/style/MatMul")
    y = g.node("Div", [mm, g.w("n", (), np.float32(75))], "/style/Div")
    text, report = _import(g.save(tmp_path / "m.onnx", y))
    assert [(r.type, r.params) for r in report.layers] == [("l2norm", 3), ("gram", 0)]
    assert "- gram: {id: style, normalize: true}" in text
    assert report.layers[1].macs == 225 and report.layers[1].output_shape == (3, 3)
