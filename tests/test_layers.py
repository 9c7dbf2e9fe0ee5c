"""Every layer type: shape rule, params, buffers, MACs, FLOPs and receptive field, by hand.

Each case builds a one- or two-layer spec in Python and checks the report against arithmetic
written out in the test. A final test fails when a layer type has no case here.
"""

from __future__ import annotations

from typing import Any

import pytest

import archcalc
from archcalc.layers import LAYER_TYPES, Layer
from archcalc.report import LayerRow, Report


def run(input_shape: list[int], layers: list[Any], **kw: Any) -> Report:
    spec = {"archcalc": 1, "name": "t", "input": input_shape, "layers": layers}
    return archcalc.analyze(spec, **kw)


def last(report: Report) -> LayerRow:
    return report.layers[-1]


def rf_of(row: LayerRow) -> tuple[list[Any], list[Any], list[Any]]:
    d = row.rf_dict()
    assert d is not None
    return d["size"], d["jump"], d["start"]


def covers(*kinds: str) -> None:
    """Marks the layer types a test checks (read statically by the completeness test)."""


# ------------------------------------------------------------------------------ convolution --

def test_conv2d_alexnet_conv1() -> None:
    covers("conv", "conv2d")
    row = last(run([3, 227, 227], [{"conv": {"out": 64, "k": 11, "s": 4, "p": 2}}]))
    assert row.output_shape == (64, (227 + 2 * 2 - 11) // 4 + 1, 56)  # = 56
    assert row.params == 64 * 3 * 11 * 11 + 64  # 23,296
    assert row.macs == 64 * 56 * 56 * (3 * 11 * 11)  # 72,855,552
    assert row.flops == row.macs  # lecture convention
    assert row.activation_bytes == 64 * 56 * 56 * 4
    assert rf_of(row) == ([11, 11], [4, 4], [5 - 2, 5 - 2])  # centre (11-1)/2 - p
    row2 = last(run([3, 227, 227], [{"conv2d": {"out": 64, "k": 11, "s": 4, "p": 2}}]))
    assert row2.macs == row.macs


@pytest.mark.parametrize(
    ("n", "k", "s", "p", "d", "expected"),
    [
        (7, 3, 1, 0, 1, 5),
        (7, 3, 2, 0, 1, 3),  # the seed's strided 7x7 * 3x3 example gives 3x3
        (7, 3, 1, 0, 2, 3),  # dilated: effective kernel 2*(3-1)+1 = 5, 7-5+1 = 3 (seed 002)
        (6, 3, 1, 0, 1, 4),  # 6x6 * 3x3 = 4x4 (seed 000)
        (224, 7, 2, 3, 1, 112),  # (224 + 6 - 7)//2 + 1
        (14, 5, 1, 0, 1, 10),  # 1D example of seed 000: 14 - 5 + 1
    ],
)
def test_conv_output_size_formula(n: int, k: int, s: int, p: int, d: int, expected: int) -> None:
    row = last(run([1, n], [{"conv": {"out": 1, "k": k, "s": s, "p": p, "d": d}}]))
    assert row.output_shape == (1, expected)


def test_conv_same_valid_and_per_side_padding() -> None:
    # same, stride 1: total padding k-1 = 4 -> (2, 2); output equals input
    row = last(run([2, 10, 9], [{"conv": {"out": 3, "k": 5, "p": "same"}}]))
    assert row.output_shape == (3, 10, 9)
    # same, stride 2: out = ceil(n/s); n=9: ceil(9/2) = 5, total pad = (5-1)*2 + 3 - 9 = 2
    row = last(run([2, 9, 9], [{"conv": {"out": 3, "k": 3, "s": 2, "p": "same"}}]))
    assert row.output_shape == (3, 5, 5)
    assert rf_of(row)[2] == [0, 0]  # centre (3-1)/2 - 1 = 0
    row = last(run([2, 9, 9], [{"conv": {"out": 3, "k": 3, "p": "valid"}}]))
    assert row.output_shape == (3, 7, 7)
    # per side: H gets 1 before + 2 after, W gets 0 + 0
    row = last(run([2, 9, 9], [{"conv": {"out": 3, "k": 3, "p": [[1, 2], [0, 0]]}}]))
    assert row.output_shape == (3, 9 + 3 - 3 + 1, 7)
    # per axis kernel (Inception-v3's 1x7): params 4*2*1*7 + 4
    row = last(run([2, 17, 17], [{"conv": {"out": 4, "k": [1, 7], "p": [0, 3]}}]))
    assert row.output_shape == (4, 17, 17)
    assert row.params == 4 * 2 * 1 * 7 + 4
    assert rf_of(row)[0] == [1, 7]


def test_conv_groups_and_dilation() -> None:
    # ResNeXt-style grouped conv: 128 -> 128, 32 groups of 4 channels, 3x3 on 56x56
    row = last(run([128, 56, 56], [{"conv": {"out": 128, "k": 3, "p": 1, "groups": 32,
                                             "bias": False}}]))
    assert row.params == 128 * (128 // 32) * 3 * 3
    assert row.macs == 128 * 56 * 56 * (128 // 32) * 3 * 3
    # dilation 2: receptive field 1 + 2*(3-1) = 5
    row = last(run([1, 7, 7], [{"conv": {"out": 1, "k": 3, "d": 2}}]))
    assert row.output_shape == (1, 3, 3)
    assert rf_of(row)[0] == [5, 5]


def test_conv1d_and_conv3d() -> None:
    covers("conv1d", "conv3d")
    row = last(run([1, 14], [{"conv1d": {"out": 1, "k": 5, "bias": False}}]))
    assert row.output_shape == (1, 10)
    assert row.macs == 10 * 5
    row = last(run([3, 8, 16, 16], [{"conv3d": {"out": 8, "k": 3, "p": 1}}]))
    assert row.output_shape == (8, 8, 16, 16)
    assert row.params == 8 * 3 * 27 + 8
    assert row.macs == 8 * 8 * 16 * 16 * 3 * 27
    assert rf_of(row)[0] == [3, 3, 3]


def test_depthwise_and_pointwise_seed_example() -> None:
    """Seed 000: 6x6x3 input, 3x3 kernels: depthwise 432 = 4·4·3·3·3, pointwise 240 = 4·4·5·3."""
    covers("dwconv", "pwconv")
    rep = run([3, 6, 6], [{"dwconv": {"k": 3, "bias": False}}, {"pwconv": {"out": 5,
                                                                          "bias": False}}])
    dw, pw = rep.layers
    assert dw.output_shape == (3, 4, 4) and dw.macs == 4 * 4 * 3 * 3 * 3 == 432
    assert pw.output_shape == (5, 4, 4) and pw.macs == 4 * 4 * 5 * 1 * 1 * 3 == 240
    assert dw.params == 3 * 1 * 3 * 3 and pw.params == 5 * 3
    normal = last(run([3, 6, 6], [{"conv": {"out": 5, "k": 3, "bias": False}}]))
    assert normal.macs == 4 * 4 * 5 * 3 * 3 * 3 == 2160
    # depth multiplier 2: out = 6, each input channel has 2 filters
    mult = last(run([3, 6, 6], [{"dwconv": {"k": 3, "out": 6, "bias": False}}]))
    assert mult.params == 6 * 1 * 3 * 3 and mult.macs == 6 * 4 * 4 * 9


def test_lenet_partial_connections() -> None:
    """C3 of LeNet-5: 6 maps see 3 inputs, 9 see 4, 1 sees all 6 -> 1,516 params."""
    table = [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [4, 5, 0], [5, 0, 1],
             [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 0], [4, 5, 0, 1], [5, 0, 1, 2],
             [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5], [0, 1, 2, 3, 4, 5]]
    row = last(run([6, 14, 14], [{"conv": {"out": 16, "k": 5, "connections": table}}]))
    assert row.output_shape == (16, 10, 10)
    assert row.params == 6 * (3 * 25 + 1) + 9 * (4 * 25 + 1) + 1 * (6 * 25 + 1) == 1516
    assert row.macs == 10 * 10 * (6 * 3 + 9 * 4 + 6) * 25


def test_transposed_conv() -> None:
    covers("deconv")
    # U-Net up-conv 2x2 stride 2: 1024 -> 512 on 28x28 -> 56x56
    row = last(run([1024, 28, 28], [{"deconv": {"out": 512, "k": 2, "s": 2}}]))
    assert row.output_shape == (512, (28 - 1) * 2 + 2, 56)
    assert row.params == 1024 * 512 * 2 * 2 + 512
    assert row.macs == 1024 * 28 * 28 * 512 * 2 * 2  # every input element x (out x k x k)
    # padding, output_padding, dilation: (5-1)*2 - 2*1 + 2*(3-1) + 1 + 1 = 12
    row = last(run([2, 5, 5], [{"deconv": {"out": 4, "k": 3, "s": 2, "p": 1,
                                           "output_padding": 1, "d": 2, "groups": 2}}]))
    assert row.output_shape == (4, 12, 12)
    assert row.params == 2 * (4 // 2) * 3 * 3 + 4
    assert row.macs == 2 * 5 * 5 * (4 // 2) * 9
    size, jump, _ = rf_of(row)
    assert jump == [0.5, 0.5]  # the grid is refined by the stride
    assert size == [1 + (5 - 1) * 0.5] * 2  # k_eff = 2*(3-1)+1 = 5 on the fine grid


# ------------------------------------------------------------------------------------ pools --

def test_maxpool_and_ceil_mode() -> None:
    covers("maxpool")
    row = last(run([64, 56, 56], [{"maxpool": {"k": 3, "s": 2}}]))
    assert row.output_shape == (64, 27, 27)  # (56 - 3)//2 + 1
    assert row.flops == 64 * 27 * 27 * 3 * 3 and row.macs == 0 and row.params == 0
    # ceil mode (GoogLeNet): ceil((112 - 3)/2) + 1 = 56 vs floor 55
    row = last(run([64, 112, 112], [{"maxpool": {"k": 3, "s": 2, "ceil_mode": True}}]))
    assert row.output_shape == (64, 56, 56)
    # PyTorch's rule drops a window that would start in the padding: n=5, k=2, s=2, p=1:
    # ceil((5 + 2 - 2)/2) + 1 = 4, and (4 - 1)*2 = 6 >= 5 + 1 -> 3
    row = last(run([1, 5, 5], [{"maxpool": {"k": 2, "s": 2, "p": 1, "ceil_mode": True}}]))
    assert row.output_shape == (1, 3, 3)
    # stride defaults to the kernel
    row = last(run([1, 8, 8], [{"maxpool": {"k": 2}}]))
    assert row.output_shape == (1, 4, 4)
    assert rf_of(row) == ([2, 2], [2, 2], [0.5, 0.5])


def test_avgpool_and_subsample() -> None:
    covers("avgpool", "subsample")
    row = last(run([6, 28, 28], [{"avgpool": {"k": 2, "s": 2}}]))
    assert row.output_shape == (6, 14, 14)
    assert row.flops == 6 * 14 * 14 * 4
    full = last(run([6, 28, 28], [{"avgpool": {"k": 2}}], convention="full"))
    assert full.flops == 6 * 14 * 14 * 4 + 6 * 14 * 14  # window reads + one divide per output
    sub = last(run([6, 28, 28], [{"subsample": {"k": 2}}]))
    assert sub.output_shape == (6, 14, 14)
    assert sub.params == 6 * 2  # LeNet S2: coefficient + bias per map = 12
    assert sub.macs == 6 * 14 * 14  # one coefficient multiply per output


def test_global_and_adaptive_pool() -> None:
    covers("global_avgpool", "global_maxpool", "adaptive_avgpool")
    row = last(run([1024, 7, 7], [{"global_avgpool": None}]))
    assert row.output_shape == (1024, 1, 1)
    assert row.flops == 1024 * 7 * 7  # a 7x7 window per channel
    assert rf_of(row)[0] == [7, 7]
    row = last(run([8, 5, 5], ["global_maxpool"]))
    assert row.output_shape == (8, 1, 1)
    # adaptive 6x6 on 13x13 (torchvision AlexNet at 227): windows [floor(i*13/6), ceil((i+1)*13/6))
    # sizes per axis: [0,3) [2,5) [4,7) [6,9) [8,11) [10,13) -> 3 each, 18 in total
    row = last(run([256, 13, 13], [{"adaptive_avgpool": {"out": 6}}]))
    assert row.output_shape == (256, 6, 6)
    assert row.flops == 256 * 18 * 18
    # identity case 6 -> 6: each window is one pixel
    row = last(run([256, 6, 6], [{"adaptive_avgpool": {"out": [6, 6]}}]))
    assert row.flops == 256 * 6 * 6


# ---------------------------------------------------------------------------- dense & shape --

def test_fc_flatten_reshape() -> None:
    covers("fc", "flatten", "reshape")
    rep = run([256, 6, 6], ["flatten", {"fc": {"out": 4096}}])
    flat, fc = rep.layers
    assert flat.output_shape == (9216,) and flat.receptive_field is None
    assert fc.params == 9216 * 4096 + 4096 == 37_752_832  # the slide's 37,725,832 is a slip
    assert fc.macs == 9216 * 4096
    assert fc.receptive_field is None
    # a [C,1,1] map feeds fc directly
    assert last(run([1024, 1, 1], [{"fc": {"out": 10}}])).params == 1024 * 10 + 10
    row = last(run([4, 6, 6], [{"reshape": {"shape": [-1, 12]}}]))
    assert row.output_shape == (12, 12)


def test_zeropad_crop_upsample() -> None:
    covers("zeropad", "crop", "upsample")
    row = last(run([3, 10, 10], [{"zeropad": {"p": [[1, 2], [0, 3]]}}]))
    assert row.output_shape == (3, 13, 13)
    assert rf_of(row)[2] == [-1, 0]
    row = last(run([3, 10, 10], [{"crop": {"margin": 2}}]))
    assert row.output_shape == (3, 6, 6)
    assert rf_of(row)[2] == [2, 2]
    row = last(run([3, 64, 64], [{"crop": {"size": [56, 60]}}]))
    assert row.output_shape == (3, 56, 60)
    row = last(run([3, 4, 4], [{"upsample": {"scale": 2}}]))
    assert row.output_shape == (3, 8, 8) and row.flops == 0
    size, jump, start = rf_of(row)
    assert (size, jump, start) == ([1, 1], [0.5, 0.5], [-0.25, -0.25])
    full = last(run([3, 4, 4], [{"upsample": {"size": [8, 8], "mode": "bilinear"}}],
                    convention="full"))
    assert full.flops == 3 * 2 * 3 * 8 * 8  # one 3-op lerp per axis per output


def test_crop_to_second_input_unet() -> None:
    """U-Net: the 64x64 encoder map is centre-cropped to the 56x56 up-sampled one."""
    rep = run([8, 64, 64], [
        {"conv": {"id": "skip", "out": 8, "k": 1}},
        {"conv": {"id": "small", "out": 8, "k": 9}},
        {"crop": {"in": ["skip", "small"]}},
        {"concat": {"in": ["small", "crop1"]}},
    ])
    crop = rep.layer("crop1")
    assert crop.output_shape == (8, 56, 56)
    assert rep.layers[-1].output_shape == (16, 56, 56)


def test_channel_shuffle_and_slice() -> None:
    covers("channel_shuffle", "slice")
    rep = run([116, 28, 28], [{"slice": {"start": 58, "stop": 116}}, {"channel_shuffle":
                                                                       {"groups": 2}}])
    assert rep.layers[0].output_shape == (58, 28, 28)
    assert rep.layers[1].output_shape == (58, 28, 28)


# ----------------------------------------------------------------------------- element-wise --

def test_norms_dropout_identity() -> None:
    covers("bn", "layernorm", "lrn", "dropout", "identity")
    row = last(run([64, 8, 8], ["bn"]))
    assert row.params == 2 * 64 and row.buffers == 2 * 64  # gamma, beta | running mean, var
    full = last(run([64, 8, 8], ["bn"], convention="full"))
    assert full.flops == 2 * 64 * 8 * 8
    row = last(run([96, 8, 8], ["layernorm"]))
    assert row.params == 2 * 96 and row.buffers == 0
    row = last(run([4, 3, 3], [{"layernorm": {"over": "all"}}]))
    assert row.params == 2 * 4 * 3 * 3
    row = last(run([96, 55, 55], [{"lrn": {"size": 5}}], convention="full"))
    assert row.params == 0 and row.flops == (5 + 4) * 96 * 55 * 55
    for kind in ("dropout", "identity"):
        row = last(run([10, 3, 3], [kind]))
        assert row.output_shape == (10, 3, 3) and row.flops == 0 and row.params == 0


ACTIVATION_CASES = {"relu": 1, "relu6": 2, "leaky_relu": 2, "sigmoid": 4, "tanh": 4,
                    "hardsigmoid": 4, "hardswish": 5, "swish": 5, "silu": 5, "gelu": 5,
                    "softmax": 3}  # ops per element, as documented in layers.ACTIVATION_OPS


@pytest.mark.parametrize(("kind", "ops"), sorted(ACTIVATION_CASES.items()))
def test_activations(kind: str, ops: int) -> None:
    row = last(run([10, 2, 2], [kind], convention="full"))
    assert row.output_shape == (10, 2, 2)
    assert row.flops == ops * 10 * 2 * 2
    assert last(run([10, 2, 2], [kind])).flops == 0  # lecture convention: not counted


def test_fused_bn_and_activation_on_conv() -> None:
    rep = run([3, 8, 8], [{"conv": {"out": 4, "k": 3, "p": 1, "bias": False, "bn": True,
                                    "act": "relu"}}], convention="full")
    row = last(rep)
    assert row.post == ("bn", "relu")
    assert row.params == 4 * 3 * 9 + 2 * 4 and row.buffers == 2 * 4
    # 2 per MAC + BN 2/elem + relu 1/elem, no bias
    assert row.flops == 2 * (4 * 8 * 8 * 27) + 2 * 4 * 64 + 4 * 64


def test_add_multiply_concat() -> None:
    covers("add", "multiply", "concat")
    rep = run([8, 4, 4], [
        {"conv": {"id": "a", "out": 8, "k": 3, "p": 1}},
        {"conv": {"id": "b", "out": 8, "k": 5, "p": 2, "in": "input"}},
        {"add": {"in": ["a", "b", "input"]}},
        {"global_avgpool": {"id": "g"}},
        {"multiply": {"in": ["add1", "g"]}},
        {"concat": {"in": ["multiply1", "a"]}},
    ], convention="full")
    add = rep.layer("add1")
    assert add.flops == 2 * 8 * 4 * 4  # 3 inputs: 2 adds per element
    assert rf_of(add)[0] == [5, 5]  # the largest field over the paths (the 5x5 conv)
    mul = rep.layer("multiply1")
    assert mul.output_shape == (8, 4, 4) and mul.flops == 8 * 4 * 4  # SE gate broadcast
    cat = rep.layers[-1]
    assert cat.output_shape == (16, 4, 4) and cat.flops == 0


def test_every_layer_type_has_a_case() -> None:
    """Adding a layer type without a hand-checked case here fails this test."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text())
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "covers":
            named.update(a.value for a in node.args if isinstance(a, ast.Constant))
    activations = {k for k, (cls, _) in LAYER_TYPES.items() if cls.__name__ == "Activation"}
    named |= activations & {c for c in ACTIVATION_CASES}
    # the conformance cases (tests/layer_cases.py) check their target's counts by hand too
    from layer_cases import CASES

    named |= {kind for case in CASES for entry in case.layers if isinstance(entry, dict)
              for kind, args in entry.items() if (args or {}).get("id") == case.target}
    missing = sorted(set(LAYER_TYPES) - named)
    assert not missing, f"layer types without a test case: {missing}"


def test_every_layer_class_documents_its_counts() -> None:
    for cls, _ in LAYER_TYPES.values():
        assert issubclass(cls, Layer)
        assert cls.__doc__ and len(cls.__doc__) > 40, cls.__name__
        assert cls.doc, cls.__name__


def test_layer_classes_are_immutable_values() -> None:
    """Layers are built without per-class generated code (start-up time); what a frozen
    dataclass promised must still hold for every class: keyword construction with defaults,
    required fields, immutability, equality and hashing by value, a readable repr."""
    import dataclasses

    from archcalc.layers import Linear, make_layer

    fc = Linear(out=10)
    assert (fc.out, fc.bias) == (10, True)
    assert [f.name for f in dataclasses.fields(fc)] == ["out", "bias", "per_position"]
    assert fc == Linear(out=10) and hash(fc) == hash(Linear(out=10))
    assert fc != Linear(out=10, bias=False) and fc != Linear(out=11)
    assert repr(fc) == "Linear(out=10, bias=True, per_position=False)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        fc.out = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del fc.out
    with pytest.raises(TypeError, match="missing keyword argument 'out'"):
        Linear()
    with pytest.raises(TypeError, match="unexpected keyword argument 'outt'"):
        Linear(out=1, outt=2)
    for kind, (cls, preset) in LAYER_TYPES.items():
        assert dataclasses.is_dataclass(cls), kind
        layer = make_layer(kind, _minimal_args(cls))
        assert layer == cls(**{**preset, **_minimal_args(cls)})  # equal, not only shared
        assert layer != object()
        with pytest.raises(dataclasses.FrozenInstanceError):
            layer.anything = 1  # type: ignore[attr-defined]


def _minimal_args(cls: type[Layer]) -> dict[str, Any]:
    """The required fields of a layer class, each with a value its type accepts."""
    import dataclasses

    values = {"out": 4, "k": 3, "size": (2,), "shape": (4,), "factor": 2, "n": 2}
    return {f.name: values.get(f.name, 1) for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING}
