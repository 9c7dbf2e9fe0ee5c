"""The training step (archcalc.training): backward MACs split into input and weight gradients,
the bytes kept for backward, gradients, optimizer state, mixed precision, frozen layers, the
training peak and --fit — by value.

Ground truth, two kinds:

* the issue's ResNet-50 figures, and the REFERENCE table below: measured with PyTorch 2.14.1
  (CPU) and torchvision 0.29.1 by ``bench/training_reference.py --all`` (its docstring states
  the method: torchvision models in train mode, weights=None, one forward and one backward at
  224×224; forward and backward MACs per ``aten`` op, a conv's input and weight gradient each
  its forward MACs, matrix products by ``torch.utils.flop_counter``; bytes saved for backward =
  the unique storages ``torch.autograd.graph.saved_tensors_hooks`` sees, parameters excluded,
  our ``saved_bytes`` = its ``saved_bytes`` + ``buffer_bytes``: BN's running statistics are
  saved tensors too, as the issue's 86,334,464 counts them). The frozen variants train only the
  listed torchvision modules (``--train``), which are the archcalc groups after ``until``.
* small graphs worked by hand, the arithmetic in each test.

No torch is needed here: the figures are written down.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, NamedTuple

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli
from archcalc.errors import SpecError
from archcalc.layers import LAYER_CLASSES, Layer, Work
from archcalc.layers.activation import BACKWARD, RULES
from archcalc.layers.base import ACT, PARAM, Saved
from archcalc.training import (
    OPTIMIZERS,
    SAVED_BYTES,
    Freeze,
    analyze_training,
    fit_batch,
    parse_freeze,
)


def graph(layers: list[Any], shape: list[int], **top: Any) -> archcalc.Graph:
    return archcalc.to_graph({"archcalc": 1, "input": shape, "layers": layers, **top})


# ----------------------------------------------------------------- the issue's ResNet-50 --

def test_resnet50_full_is_the_issues_figures() -> None:
    t = analyze_training(archcalc.to_graph("resnet50")).totals
    assert t.forward_macs == 4_089_184_256
    # 2 × forward − conv1's input gradient (the first layer needs none): 64·112·112·3·7·7
    conv1 = 64 * 112 * 112 * 3 * 7 * 7
    assert conv1 == 118_013_952
    assert t.backward_macs == 2 * 4_089_184_256 - conv1 == 8_060_354_560
    assert t.backward_input_macs == 4_089_184_256 - conv1
    assert t.backward_weight_macs == 4_089_184_256
    assert t.saved_bytes == 86_334_464
    # the max pool's int64 indices: 64·56·56 outputs × 8 bytes
    assert t.saved_bytes_by_dtype["int64"] == 64 * 56 * 56 * 8 == 1_605_632
    # BN's running statistics among them: 53,120 buffer elements × 4 bytes
    assert t.saved_buffer_bytes == 53_120 * 4
    assert t.trainable_params == 25_557_032 and t.frozen_params == 0


def test_resnet50_frozen_before_layer4_is_the_issues_figures() -> None:
    t = analyze_training(archcalc.to_graph("resnet50"), freeze=Freeze(until="layer4")).totals
    assert t.trainable_params == 17_013_736
    assert t.frozen_params == 25_557_032 - 17_013_736
    assert t.backward_macs == 1_417_052_160
    assert t.saved_bytes == 5_607_424
    assert "int64" not in t.saved_bytes_by_dtype  # the max pool is not in the backward


def test_freeze_in_the_spec_equals_the_option() -> None:
    text = archcalc.load_spec("resnet50").text
    assert "\nfreeze:" not in text
    spec = archcalc.to_graph(archcalc.load_spec(text.replace(
        "\nlayers:\n", "\nfreeze: {until: layer4}\nlayers:\n", 1)))
    assert analyze_training(spec).totals == analyze_training(
        archcalc.to_graph("resnet50"), freeze=Freeze(until="layer4")).totals


# -------------------------------------------------------------------- PyTorch reference --

class Ref(NamedTuple):
    spec: str
    batch: int
    until: str | None  # the first trainable group (torchvision's trained modules)
    forward: int
    backward_input: int
    backward_weight: int
    saved: int  # bench saved_bytes + buffer_bytes
    trainable: int
    dtype: str = "float32"
    master: str | None = None


#: bench/training_reference.py --all, PyTorch 2.14.1+cu130 (CPU), torchvision 0.29.1
REFERENCE = [
    Ref("alexnet_torchvision", 1, None, 714_188_480, 643_911_680, 714_188_480, 3_741_184,
        61_100_840),
    Ref("alexnet_torchvision", 1, "drop6", 714_188_480, 20_873_216, 58_621_952, 102_400,
        58_631_144),
    Ref("alexnet_torchvision", 8, None, 5_713_507_840, 5_151_293_440, 5_713_507_840,
        29_929_472, 61_100_840),
    Ref("alexnet_torchvision", 8, "drop6", 5_713_507_840, 166_985_728, 468_975_616, 819_200,
        58_631_144),
    Ref("vgg16_torchvision", 1, None, 15_470_264_320, 15_383_560_192, 15_470_264_320,
        73_355_264, 138_357_544),
    Ref("vgg16_torchvision", 1, "fc6", 15_470_264_320, 20_873_216, 123_633_664, 198_656,
        123_642_856),
    Ref("vgg16_torchvision", 8, None, 123_762_114_560, 123_068_481_536, 123_762_114_560,
        586_842_112, 138_357_544),
    Ref("vgg16_torchvision", 8, "fc6", 123_762_114_560, 166_985_728, 989_069_312, 1_589_248,
        123_642_856),
    Ref("resnet18", 1, None, 1_814_073_344, 1_696_059_392, 1_814_073_344,
        22_218_240 + 38_400, 11_689_512),
    Ref("resnet18", 1, "layer4", 1_814_073_344, 347_328_512, 411_553_792,
        1_126_400 + 20_480, 8_906_728),
    Ref("resnet18", 1, "fc", 1_814_073_344, 0, 512_000, 2_048, 513_000),
    Ref("resnet18", 8, None, 14_512_586_752, 13_568_475_136, 14_512_586_752,
        177_477_120 + 38_400, 11_689_512),
    Ref("resnet18", 8, "layer4", 14_512_586_752, 2_778_628_096, 3_292_430_336,
        8_867_840 + 20_480, 8_906_728),
    Ref("resnet18", 8, "fc", 14_512_586_752, 0, 4_096_000, 16_384, 513_000),
    Ref("resnet50", 1, "fc", 4_089_184_256, 0, 2_048_000, 8_192, 2_049_000),
    Ref("resnet50", 8, None, 32_713_474_048, 31_769_362_432, 32_713_474_048,
        687_488_512 + 212_480, 25_557_032),
    Ref("resnet50", 8, "layer4", 32_713_474_048, 4_846_125_056, 6_490_292_224,
        43_507_712 + 90_112, 17_013_736),
    Ref("resnet50", 8, "fc", 32_713_474_048, 0, 16_384_000, 65_536, 2_049_000),
    # MobileNetV2: torchvision features.14-18 + classifier = archcalc stage6 onwards
    Ref("mobilenet_v2", 1, None, 300_774_272, 289_936_256, 300_774_272,
        78_345_984 + 136_448, 3_504_872),
    Ref("mobilenet_v2", 1, "stage6", 300_774_272, 80_075_136, 90_913_152,
        6_053_120 + 71_936, 2_962_344),
    Ref("mobilenet_v2", 8, None, 2_406_194_176, 2_319_490_048, 2_406_194_176,
        625_812_736 + 136_448, 3_504_872),
    Ref("mobilenet_v2", 8, "stage6", 2_406_194_176, 640_601_088, 727_305_216,
        47_921_408 + 71_936, 2_962_344),
    # EfficientNet-B0 (stochastic depth off, as the spec): features.6-8 + classifier = stage6 on
    Ref("efficientnet_b0", 1, None, 385_814_752, 374_976_736, 385_814_752,
        88_362_080 + 168_064, 5_288_548),
    Ref("efficientnet_b0", 1, "stage6", 385_814_752, 127_646_880, 142_398_624,
        9_603_296 + 103_424, 4_436_740),
    Ref("efficientnet_b0", 8, None, 3_086_518_016, 2_999_813_888, 3_086_518_016,
        705_720_192 + 168_064, 5_288_548),
    Ref("efficientnet_b0", 8, "stage6", 3_086_518_016, 1_021_175_040, 1_139_188_992,
        76_102_400 + 103_424, 4_436_740),
    # GoogLeNet without the auxiliary classifiers (the spec's inference graph)
    Ref("googlenet", 1, None, 1_498_376_192, 1_380_362_240, 1_498_376_192,
        48_229_120 + 58_240, 6_624_904),
    Ref("googlenet", 1, "inception5a", 1_498_376_192, 91_290_624, 114_772_992,
        1_901_824 + 18_304, 3_350_984),
    Ref("googlenet", 8, None, 11_987_009_536, 11_042_897_920, 11_987_009_536,
        385_425_280 + 58_240, 6_624_904),
    Ref("googlenet", 8, "inception5a", 11_987_009_536, 730_324_992, 918_183_936,
        15_086_464 + 18_304, 3_350_984),
    Ref("densenet121", 1, None, 2_834_161_664, 2_716_147_712, 2_834_161_664,
        130_695_936 + 334_592, 7_978_856),
    Ref("densenet121", 1, "denseblock4", 2_834_161_664, 105_390_080, 105_390_080,
        6_045_696 + 120_832, 3_185_128),
    Ref("densenet121", 8, None, 22_673_293_312, 21_729_181_696, 22_673_293_312,
        1_043_225_344 + 334_592, 7_978_856),
    Ref("densenet121", 8, "denseblock4", 22_673_293_312, 843_120_640, 843_120_640,
        47_519_744 + 120_832, 3_185_128),
    # precision: the model and input cast to bfloat16 (BN statistics then bfloat16 too) ...
    Ref("resnet50", 1, None, 4_089_184_256, 3_971_170_304, 4_089_184_256,
        43_863_808 + 106_240, 25_557_032, "bfloat16"),
    Ref("resnet50", 8, None, 32_713_474_048, 31_769_362_432, 32_713_474_048,
        350_166_784 + 106_240, 25_557_032, "bfloat16"),
    Ref("mobilenet_v2", 1, None, 300_774_272, 289_936_256, 300_774_272,
        39_172_992 + 68_224, 3_504_872, "bfloat16"),
    Ref("mobilenet_v2", 8, None, 2_406_194_176, 2_319_490_048, 2_406_194_176,
        312_906_368 + 68_224, 3_504_872, "bfloat16"),
    # ... and float32 weights under torch.autocast(bfloat16): statistics float32
    Ref("resnet50", 1, None, 4_089_184_256, 3_971_170_304, 4_089_184_256,
        43_970_048 + 212_480, 25_557_032, "bfloat16", "float32"),
    Ref("resnet50", 8, None, 32_713_474_048, 31_769_362_432, 32_713_474_048,
        350_273_024 + 212_480, 25_557_032, "bfloat16", "float32"),
    Ref("mobilenet_v2", 1, None, 300_774_272, 289_936_256, 300_774_272,
        39_241_216 + 136_448, 3_504_872, "bfloat16", "float32"),
    Ref("mobilenet_v2", 8, None, 2_406_194_176, 2_319_490_048, 2_406_194_176,
        312_974_592 + 136_448, 3_504_872, "bfloat16", "float32"),
]


@pytest.mark.parametrize("ref", REFERENCE, ids=lambda r: f"{r.spec}-b{r.batch}-{r.until}-"
                         f"{r.dtype}{'-amp' if r.master else ''}")
def test_pytorch_reference(ref: Ref) -> None:
    t = analyze_training(archcalc.to_graph(ref.spec), batch=ref.batch, dtype=ref.dtype,
                         master_weights=ref.master,
                         freeze=Freeze(until=ref.until) if ref.until else None).totals
    assert (t.forward_macs, t.backward_input_macs, t.backward_weight_macs, t.saved_bytes,
            t.trainable_params) == (ref.forward, ref.backward_input, ref.backward_weight,
                                    ref.saved, ref.trainable)


def test_flopcounter_counts_a_depthwise_weight_gradient_as_dense() -> None:
    """The issue's example: a depthwise 3×3 over 32 channels at 56×56. The rule: each gradient
    is the forward's 32·56·56·9 = 903,168 MACs. torch's FlopCounterMode counts the weight
    gradient as the dense conv(x, ∂y) over all 32 × 32 channel pairs: 32·32·56·56·9 =
    28,901,376, a backward of 29.8 M where the rule gives 1.8 M."""
    g = graph([{"conv": {"out": 32, "k": 3, "p": 1}}, {"dwconv": {"k": 3, "p": 1}}],
              [3, 56, 56])
    dw = next(r for r in analyze_training(g).layers if r.type == "dwconv")
    assert dw.backward_input_macs == dw.backward_weight_macs == 32 * 56 * 56 * 9 == 903_168
    assert dw.backward_macs == 1_806_336
    assert 32 * 32 * 56 * 56 * 9 + 903_168 == 29_804_544  # FlopCounterMode's figure
    # whole networks (bench/training_reference.py's flopcounter_backward_macs at batch 1):
    # MobileNetV2 5,839,076,224 and EfficientNet-B0 15,707,107,040 against the rule's
    for spec, torch_figure in (("mobilenet_v2", 5_839_076_224),
                               ("efficientnet_b0", 15_707_107_040)):
        rule = analyze_training(archcalc.to_graph(spec)).totals.backward_macs
        assert torch_figure > 9 * rule


# ------------------------------------------------------------------------ by hand: rules --

def test_first_layer_has_no_input_gradient_and_keeps_its_input() -> None:
    # conv 3→4, k 3, on 3×6×6 → 4×4×4: forward 4·4·4·3·3·3 = 1,728 MACs
    g = graph([{"conv": {"out": 4, "k": 3}}, {"conv": {"id": "c2", "out": 2, "k": 1}}],
              [3, 6, 6])
    first, second = analyze_training(g).layers
    assert (first.need_dx, first.need_dw) == (False, True)
    assert (first.backward_input_macs, first.backward_weight_macs) == (0, 1_728)
    # c2: 2·4·4·4 = 128 MACs each way
    assert (second.backward_input_macs, second.backward_weight_macs) == (128, 128)
    # conv1 keeps the input 3·6·6·4 B = 432; c2 its input 4·4·4·4 B = 256
    assert (first.saved_bytes, second.saved_bytes) == (432, 256)


def test_a_tensor_two_layers_keep_counts_once() -> None:
    # conv + relu (fused: keeps its output y) then a conv keeping its input x = that y
    g = graph([{"conv": {"id": "a", "out": 4, "k": 1, "act": "relu"}},
               {"conv": {"id": "b", "out": 4, "k": 1}}], [2, 5, 5])
    a, b = analyze_training(g).layers
    out = 4 * 5 * 5 * 4  # a's output, 400 B
    assert a.saved == (("x", "float32", 2 * 5 * 5 * 4), ("relu.y", "float32", out))
    assert b.saved == (("x", "float32", out),)
    assert b.saved_bytes == 0  # a is the first to keep it
    assert analyze_training(g).totals.saved_bytes == 200 + 400


def test_max_pool_keeps_int64_indices_and_dropout_a_mask() -> None:
    g = graph([{"conv": {"out": 4, "k": 1}}, {"maxpool": {"k": 2}}, {"dropout": {"p": 0.5}}],
              [1, 4, 4])
    _, pool, drop = analyze_training(g, batch=2).layers
    # pool: its input (kept by nobody before: the conv keeps the network input) 4·4·4·4 B and
    # indices 4·2·2·8 B, × batch 2
    assert pool.saved == (("x", "float32", 2 * 256), ("indices", "int64", 2 * 128))
    # dropout: a mask of the activations' dtype (PyTorch's CPU dropout), 4·2·2·4 B × 2
    assert drop.saved == (("mask", "float32", 2 * 64),)


def test_frozen_layers_before_the_first_trainable_do_nothing() -> None:
    layers = [{"conv": {"id": "c1", "out": 4, "k": 3, "bn": True, "act": "relu"}},
              {"conv": {"id": "c2", "out": 4, "k": 3}}, {"conv": {"id": "c3", "out": 2, "k": 1}}]
    g = graph(layers, [3, 8, 8])
    full = analyze_training(g)
    frozen = analyze_training(g, freeze=Freeze(("c2",)))
    _, c2, _ = frozen.layers
    # c2 frozen but c1 trainable: c2 still passes the gradient back (∂x), no ∂W
    assert (c2.need_dx, c2.need_dw, c2.frozen) == (True, False, True)
    assert c2.backward_input_macs == full.layers[1].backward_input_macs
    assert frozen.totals.trainable_params == full.totals.trainable_params - (4 * 4 * 9 + 4)
    early = analyze_training(g, freeze=Freeze(until="c3"))
    e1, e2, e3 = early.layers
    assert not (e1.need_dx or e1.need_dw or e2.need_dx or e2.need_dw)
    assert e1.saved == e2.saved == ()
    # 8×8 → c1 (k 3) 6×6 → c2 (k 3) 4×4; c3 keeps its input and computes ∂W only:
    # 2·4·4·4 = 128 MACs, its input 4·4·4 elements × 4 B = 256 B
    assert (e3.need_dx, e3.backward_input_macs, e3.backward_weight_macs) == (False, 0, 128)
    assert early.totals.saved_bytes == 4 * 4 * 4 * 4


def test_freeze_by_group_path() -> None:
    g = archcalc.to_graph("resnet18")
    by_group = analyze_training(g, freeze=Freeze(("layer1", "layer2.0")))
    names = set(by_group.frozen)
    assert "layer1.1.conv2" in names and "layer2.0.downsample1" in names
    assert "layer2.1.conv1" not in names and "conv1" not in names


def test_unknown_freeze_name_is_located_with_a_suggestion() -> None:
    text = "archcalc: 1\ninput: [3, 8, 8]\nfreeze: [conv2]\nlayers:\n  - conv: {id: conv1, " \
           "out: 4, k: 3}\n"
    with pytest.raises(SpecError) as err:
        analyze_training(archcalc.to_graph(archcalc.load_spec(text)))
    assert "no layer or group named 'conv2'" in str(err.value)
    assert ":3:10:" in str(err.value) and "did you mean 'conv1'" in str(err.value)


@pytest.mark.parametrize("bad", ["freeze: []", "freeze: [{until: a}, {until: b}]",
                                 "freeze: {after: a}", "freeze: [3]"])
def test_bad_freeze_entries(bad: str) -> None:
    with pytest.raises(SpecError):
        archcalc.load_spec(f"archcalc: 1\ninput: [3, 8, 8]\n{bad}\nlayers:\n  - relu\n")


def test_parse_freeze() -> None:
    assert parse_freeze("conv1, layer1,until:layer4") == Freeze(("conv1", "layer1"), "layer4")
    with pytest.raises(SpecError):
        parse_freeze(",")


# ---------------------------------------------------------- optimizer, precision, peak --

def test_optimizer_state_and_update() -> None:
    g = graph([{"fc": {"out": 10}}], [20])  # 20·10 + 10 = 210 params
    for name, copies, ops in (("sgd", 0, 2), ("momentum", 1, 4), ("adam", 2, 14),
                              ("adamw", 2, 16)):
        t = analyze_training(g, optimizer=name, convention="full").totals
        assert t.optimizer_bytes == copies * 210 * 4
        assert t.update_flops == ops * 210
        assert OPTIMIZERS[name].copies == copies
        # lecture: element-wise work (the update) is not counted
        assert analyze_training(g, optimizer=name).totals.update_flops == 0
    assert analyze_training(g).totals.gradient_bytes == 210 * 4


def test_mixed_precision_memory() -> None:
    g = graph([{"fc": {"out": 10}}], [20])
    t = analyze_training(g, dtype="bfloat16", master_weights="float32", optimizer="adam").totals
    assert t.weight_bytes == 210 * 2 and t.gradient_bytes == 210 * 2
    assert t.master_weight_bytes == 210 * 4
    assert t.optimizer_bytes == 2 * 210 * 4  # the state in the master dtype


def test_training_peak_by_hand() -> None:
    """fc1 4→3 and fc2 3→2, no bias, float32, batch 1, sgd. Weights 12 + 6 = 18 params, 72 B.
    Schedule (bytes beyond the weights):
    forward fc1: input 16 (kept by fc1) + fc1's output 12 = 28;
    forward fc2: + fc2's output 8 = 36;
    backward fc2: input 16 + fc1's output 12 (kept by fc2) + ∂ of fc2's output 8 + ∂ of fc1's
    output 12 (born now) + fc2's weight gradient 24 = 72;
    backward fc1: input 16 + ∂ fc1's output 12 + weight gradients 24 + 48 = 100;
    update: weight gradients 72. Peak 72 + 100 = 172 B, at backward fc1."""
    g = graph([{"fc": {"id": "fc1", "out": 3, "bias": False}},
               {"fc": {"id": "fc2", "out": 2, "bias": False}}], [4])
    t = analyze_training(g).totals
    assert t.weight_bytes == 72
    assert t.peak_bytes == 172 and t.peak_at == "backward fc1"


def test_fit_is_the_largest_batch_that_fits() -> None:
    g = archcalc.to_graph("resnet18")
    budget = 1 << 30
    n = fit_batch(analyze_training(g), budget)
    assert n > 1
    assert analyze_training(g, batch=n).totals.peak_bytes <= budget
    assert analyze_training(g, batch=n + 1).totals.peak_bytes > budget
    assert fit_batch(analyze_training(g), 1000) == 0  # not even the weights fit


# ----------------------------------------------------------------------- every class --

def _all_layers() -> list[tuple[Layer, tuple[Any, ...], tuple[int, ...]]]:
    from layer_cases import CASES

    found = []
    for case in CASES:
        g = archcalc.to_graph(case.spec())
        for node in g.nodes:
            found.append((node.op, node.in_shapes, node.out_shape))
            found += [(p, (node.out_shape,), node.out_shape) for p in node.post]
    return found


def test_every_class_declares_valid_saved_tensors_and_work() -> None:
    """For every layer of every conformance case and every gradient setting: the kept tensors'
    names are graph tensors (x, xN, y, xN.private) or private names, their dtypes known, and a
    layer outside the backward (no ∂x, no ∂W) keeps nothing and works nothing."""
    seen = set()
    name = re.compile(r"^(x|x\d+|y|x\d+\.[a-z_]+|[a-z][a-z_]*)$")
    for op, ins, out in _all_layers():
        seen.add(type(op))
        assert op.saves(ins, out, False, False) == ()
        assert op.backward_work(ins, out, False, False) == (Work(), Work())
        for dx, dw in ((True, False), (False, True), (True, True)):
            for item in op.saves(ins, out, dx, dw):
                assert isinstance(item, Saved)
                assert name.match(item.name), (type(op).__name__, item)
                assert item.dtype in (ACT, PARAM, *SAVED_BYTES), (type(op).__name__, item)
                if item.name.startswith("x") and item.name[1:2] in ("", *"0123456789"):
                    index = 0 if item.name in ("x",) else int(item.name[1:].split(".")[0])
                    assert index < len(ins)
            wdx, wdw = op.backward_work(ins, out, dx, dw)
            if not dx:
                assert wdx == Work()
            if not dw:
                assert wdw == Work()
    assert seen == set(LAYER_CLASSES)


def test_every_activation_has_a_backward_rule() -> None:
    assert set(BACKWARD) == set(RULES)


# ------------------------------------------------------------------------------ the CLI --

def test_cli_table_fits_80_columns_and_json_has_the_training_block() -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["table", "resnet50", "--training", "--optimizer", "adam",
                              "--freeze", "until:layer4", "--fit", "24GiB"],
                        env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    assert "Largest batch that fits" in res.output and "Training peak" in res.output
    res = runner.invoke(cli, ["table", "resnet50", "--training", "-f", "json"])
    data = json.loads(res.output)
    assert data["archcalc_json"] == 3
    t = data["training"]["totals"]
    assert (t["backward_macs"], t["saved_bytes"]) == (8_060_354_560, 86_334_464)
    assert data["training"]["layers"][0]["input_gradient"] is False


def test_cli_training_options_need_training() -> None:
    res = CliRunner().invoke(cli, ["table", "alexnet", "--optimizer", "adam"])
    assert res.exit_code == 2 and "--optimizer needs --training" in res.output
    res = CliRunner().invoke(cli, ["table", "alexnet", "--training", "--fit", "lots"])
    assert res.exit_code == 2 and "not a memory size" in res.output


def test_cli_explain_training() -> None:
    res = CliRunner().invoke(cli, ["explain", "resnet50", "conv1", "--training"],
                             env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "no input gradient" in res.output
    assert "conv ∂W: 118,013,952 MACs" in res.output
    assert "conv keeps x: float32 [3, 224, 224] = 602,112 B" in res.output


def test_step_flops_under_each_convention() -> None:
    """fc 20 → 10 with bias, sgd, batch 1: forward 200 MACs + 10 bias adds; backward ∂x 200 and
    ∂W 200 MACs + 10 bias-gradient adds (the first layer: no ∂x — so ∂W only, 200 + 10);
    update 2 × 210 params. macs: 200 + 200 = 400; lecture (MACs + window reads) the same;
    full: 2·400 + 10 + 10 + 420 = 1,240."""
    t = analyze_training(graph([{"fc": {"out": 10}}], [20])).totals
    assert t.backward_input_macs == 0 and t.backward_weight_macs == 200
    assert t.step_flops_by_convention == {"lecture": 400, "full": 1_240, "macs": 400}
    for name in ("lecture", "full", "macs"):
        other = analyze_training(graph([{"fc": {"out": 10}}], [20]), convention=name).totals
        assert other.step_flops == t.step_flops_by_convention[name]


def test_sweep_over_batch_and_optimizer() -> None:
    from archcalc.training import sweep_training

    g = archcalc.to_graph("resnet18")
    sw = sweep_training(g, [1, 8], ["sgd", "adam"])
    assert [(b, o) for b, o, _ in sw.points] == [(1, "sgd"), (1, "adam"), (8, "sgd"),
                                                 (8, "adam")]
    for b, o, t in sw.points:
        assert t == analyze_training(g, batch=b, optimizer=o).totals
    # Adam: two fp32 copies of the 11,689,512 params
    assert sw.points[1][2].optimizer_bytes == 2 * 11_689_512 * 4
    res = CliRunner().invoke(cli, ["sweep", "resnet18", "--training", "--batch", "1,8",
                                   "--optimizer", "sgd,adam", "-f", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["points"][3]["saved_bytes"] == sw.points[3][2].saved_bytes
    res = CliRunner().invoke(cli, ["sweep", "resnet18", "--optimizer", "adam"])
    assert res.exit_code == 2 and "need --training" in res.output


def test_the_docs_state_a_rule_for_every_layer_type() -> None:
    """docs/training.md's table names every YAML type of every class (its rules, per type)."""
    from pathlib import Path

    from archcalc.layers import LAYER_TYPES

    doc = (Path(__file__).resolve().parent.parent / "docs" / "training.md").read_text()
    table = doc.split("## The rules, per layer type", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z0-9_]+)`", table))
    missing = sorted(k for k in LAYER_TYPES if k not in named
                     and not k.endswith(("1d", "2d", "3d")))  # conv1d…: the conv row
    assert missing == []


# ------------------------------------------------ what each type keeps, as PyTorch keeps it --

def _kept(layer: dict[str, Any], shapes: dict[str, list[int]], dx: bool, dw: bool,
          batch: int = 2) -> int:
    """Bytes one layer keeps at ``batch`` (float32), by its rule."""
    spec: dict[str, Any] = {"archcalc": 1, "layers": [layer]}
    if len(shapes) == 1:  # one input: the spec's `input`, read without `in:`
        spec["input"] = next(iter(shapes.values()))
        spec["layers"] = [{k: {a: v for a, v in args.items() if a != "in"}
                           for k, args in layer.items()}]
    else:
        spec["inputs"] = shapes
    node = archcalc.to_graph(spec).nodes[0]
    total = 0
    for item in node.op.saves(node.in_shapes, node.out_shape, dx, dw):
        n = 1
        for d in item.shape:
            n *= d
        n *= 4 if item.dtype in (ACT, PARAM) else SAVED_BYTES[item.dtype]
        total += n * batch if item.per_sample else n
    return total


#: bench/training_types.py (PyTorch 2.14.1, batch 2): the unique storages autograd keeps per
#: setting — (trainable, frozen params, input without grad) — as float32 bytes for the batch,
#: parameters excluded, BN's running statistics included. E.g. maxpool 2×2 on [4, 6, 6]: the
#: input 2·144·4 + int64 indices 2·36·8 = 1,728.
TORCH_KEEPS: list[tuple[str, dict[str, Any], dict[str, list[int]], tuple[int, ...]]] = [
    ("conv", {"conv": {"out": 16, "k": 3, "p": 1, "in": "x"}}, {"x": [8, 6, 6]},
     (2 * 288 * 4,) * 3),
    ("fc", {"fc": {"out": 5, "in": "x"}}, {"x": [12]}, (2 * 12 * 4, 0, 2 * 12 * 4)),
    ("maxpool", {"maxpool": {"k": 2, "in": "x"}}, {"x": [4, 6, 6]}, (2 * (144 * 4 + 36 * 8),)),
    ("avgpool", {"avgpool": {"k": 2, "in": "x"}}, {"x": [4, 6, 6]}, (2 * 144 * 4,)),
    ("global_avgpool", {"global_avgpool": {"in": "x"}}, {"x": [4, 6, 6]}, (0,)),
    ("global_maxpool", {"global_maxpool": {"in": "x"}}, {"x": [4, 6, 6]},
     (2 * (144 * 4 + 4 * 8),)),
    ("adaptive_avgpool 6→3", {"adaptive_avgpool": {"out": 3, "in": "x"}}, {"x": [4, 6, 6]},
     (2 * 144 * 4,)),
    ("bn", {"bn": {"in": "x"}}, {"x": [4, 6, 6]}, (2 * 144 * 4 + 4 * 4 * 4,) * 3),
    ("bn frozen", {"bn": {"frozen": True, "in": "x"}}, {"x": [4, 6, 6]}, (4 * 4,)),
    ("dropout", {"dropout": {"in": "x"}}, {"x": [4, 6, 6]}, (2 * 144 * 4,)),
    ("dropout p=0", {"dropout": {"p": 0.0, "in": "x"}}, {"x": [4, 6, 6]}, (0,)),
    ("relu6", {"relu6": {"in": "x"}}, {"x": [4, 6, 6]}, (2 * 144 * 4,)),
    ("sigmoid", {"sigmoid": {"in": "x"}}, {"x": [4, 6, 6]}, (2 * 144 * 4,)),
    ("prelu", {"prelu": {"in": "x"}}, {"x": [4, 6, 6]}, (2 * 144 * 4,) * 3),
    ("multiply (SE gate)", {"multiply": {"in": ["a", "g"]}}, {"a": [4, 6, 6], "g": [4, 1, 1]},
     (2 * (144 + 4) * 4,)),
    ("subtract", {"subtract": {"in": ["a", "b"]}}, {"a": [4, 6, 6], "b": [4, 6, 6]}, (0,)),
    ("groupnorm", {"groupnorm": {"groups": 2, "in": "x"}}, {"x": [4, 6, 6]},
     (2 * (144 + 2 + 2) * 4,) * 3),
    # the probe prints the input as [8, 6, 6]: PyTorch's [1, N·C, H, W] view of [2, 4, 6, 6];
    # mean and invstd are N·C values, 4 per sample each
    ("instancenorm", {"instancenorm": {"in": "x"}}, {"x": [4, 6, 6]},
     (2 * (144 + 4 + 4) * 4,)),
    ("instancenorm affine tracked",
     {"instancenorm": {"affine": True, "track_running_stats": True, "in": "x"}},
     {"x": [4, 6, 6]}, (2 * (144 + 5 * 4) * 4,) * 3),
    ("layer_scale", {"layer_scale": {"in": "x"}}, {"x": [4, 6, 6]},
     (2 * 144 * 4, 0, 2 * 144 * 4)),
    ("l2norm", {"l2norm": {"in": "x"}}, {"x": [4, 6, 6]},
     (2 * (144 + 36 + 36 + 144) * 4, 2 * (144 + 36 + 36) * 4, 2 * 144 * 4)),
    ("maxout", {"maxout": {"pieces": 2, "in": "x"}}, {"x": [4, 6, 6]}, (2 * 72 * 8,)),
    ("gram", {"gram": {"in": "x"}}, {"x": [4, 6, 6]}, (2 * 144 * 4,)),
    ("matmul", {"matmul": {"in": ["a", "b"]}}, {"a": [3, 4], "b": [4, 5]}, (2 * 32 * 4,)),
    ("deform_conv", {"deform_conv": {"out": 4, "k": 3, "p": 1, "in": ["x", "o"]}},
     {"x": [4, 6, 6], "o": [18, 6, 6]}, (2 * (144 + 648 + 1) * 4,) * 3),
]
SETTINGS = [(True, True), (True, False), (False, True)]


@pytest.mark.parametrize(("name", "layer", "shapes", "want"), TORCH_KEEPS,
                         ids=[c[0] for c in TORCH_KEEPS])
def test_each_type_keeps_what_pytorch_keeps(name: str, layer: dict[str, Any],
                                            shapes: dict[str, list[int]],
                                            want: tuple[int, ...]) -> None:
    for (dx, dw), expected in zip(SETTINGS, want, strict=False):
        assert _kept(layer, shapes, dx, dw) == expected, (name, dx, dw)


def test_long_tables_collapse_to_a_depth_that_fits() -> None:
    """DenseNet-201 has 704 layers: beyond the 400 rows a table shows, the training table
    groups them at the deepest group depth that fits (3: each dense layer one row)."""
    res = CliRunner().invoke(cli, ["table", "densenet201", "--training"],
                             env={"COLUMNS": "100"})
    assert res.exit_code == 0
    assert "704 layers shown as 116 rows, grouped at --depth 3" in res.output
    every = CliRunner().invoke(cli, ["table", "densenet201", "--training", "--all-rows"])
    assert "denseblock4.denselayer.31.conv2" in every.output


def test_the_training_json_keys_are_the_documented_ones() -> None:
    """README's "Training cost" section names every key of the `training` block."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Training cost", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    data = analyze_training(archcalc.to_graph("resnet18")).to_dict()
    keys = set(data) | set(data["totals"]) | set(data["optimizer"])
    keys |= set(data["layers"][0]) | set(data["layers"][0]["saved"][0]) | {"fit"}
    assert keys - documented == set()


@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=lambda c: c.__name__)
def test_backward_rule_texts_name_no_private_helper(cls: type[Layer]) -> None:
    # `explain --training` prints each class's saves/backward_work docstring as its rule; a
    # helper they refer to (:func:`_stats_backward`) is written out, never left as a name
    from archcalc.training import _rule_text

    for method in (cls.saves, cls.backward_work):
        text = _rule_text(method)
        assert text, f"{cls.__name__}.{method.__name__} has no rule text"
        module = vars(sys.modules[method.__module__])  # PyTorch's own op names may appear
        ours = [w for w in re.findall(r"(?<![\w.])_[a-z]\w*", text) if w in module]
        assert not ours, (cls.__name__, ours, text)
        assert ":func:" not in text and "``" not in text
