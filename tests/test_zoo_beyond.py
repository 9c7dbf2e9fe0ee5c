"""Model zoo, part 3: beyond the ImageNet classifier -- the lectures' other architectures
(the original two-GPU AlexNet, Network in Network, Wide ResNet, YOLO, Inception-v4 and
Inception-ResNet, detection, segmentation, Siamese and style-transfer networks).

Sources of the expected numbers:

* "timm" / "torchvision" -- measured by ``bench/truths.py`` (its docstring states the method:
  CPU, ``weights=None``/``pretrained=False``, eval, one forward at the stated input; params
  ``sum(p.numel())``; buffers the BN running statistics; MACs forward hooks on ``nn.Conv2d``
  ``out.numel()·(in/groups)·kh·kw`` and ``nn.Linear`` ``out.numel()·in_features``) with
  torch 2.14.1, torchvision 0.29.1, timm 1.0.31.
* "hand" -- the paper's figure or table, worked out in the test next to the assertion.
"""

from __future__ import annotations

import pytest

import archcalc
from archcalc.report import Report


def _analyze(name: str, **scale: float) -> Report:
    return archcalc.analyze(archcalc.to_graph(name, scale=scale))


def _out(report: Report) -> tuple[int, ...]:
    return report.layer(report.output).output_shape


def conv_params(cin: int, cout: int, k: int | tuple[int, int], groups: int = 1,
                bias: bool = True) -> int:
    kh, kw = (k, k) if isinstance(k, int) else k
    return cout * (cin // groups) * kh * kw + (cout if bias else 0)


def conv_macs(cin: int, cout: int, k: int | tuple[int, int], n_out: int | tuple[int, int],
              groups: int = 1) -> int:
    kh, kw = (k, k) if isinstance(k, int) else k
    h, w = (n_out, n_out) if isinstance(n_out, int) else n_out
    return cout * h * w * (cin // groups) * kh * kw


# ------------------------------------------------------------------ AlexNet as published --


def test_alexnet_original_by_hand() -> None:
    """Krizhevsky et al. 2012, Fig. 2: conv2, conv4, conv5 split over the two GPUs (groups 2:
    each kernel sees half of the previous layer's maps), conv1 and conv3 see every map."""
    layers = [  # (name, C_in, C_out, k, groups, output size)
        ("conv1", 3, 96, 11, 1, 55), ("conv2", 96, 256, 5, 2, 27), ("conv3", 256, 384, 3, 1, 13),
        ("conv4", 384, 384, 3, 2, 13), ("conv5", 384, 256, 3, 2, 13),
    ]
    params = sum(conv_params(a, b, k, g) for _, a, b, k, g, _ in layers)
    assert params == 34_944 + 307_456 + 885_120 + 663_936 + 442_624 == 2_334_080
    fc = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    assert params + fc == 60_965_224  # the and Caffe's bvlc_alexnet count
    macs = sum(conv_macs(a, b, k, n, g) for _, a, b, k, g, n in layers)
    fc_macs = 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    report = _analyze("alexnet_original")
    assert report.totals.params == params + fc
    assert report.totals.macs == macs + fc_macs == 724_406_816
    for name, a, b, k, g, n in layers:
        row = report.layer(name)
        assert row.output_shape == (b, n, n)
        assert row.params == conv_params(a, b, k, g)
    # the LRN layers add no parameters and no MACs (b = a / (k + α/n·Σa²)^β)
    assert report.layer("norm1").params == report.layer("norm1").macs == 0
    # the one-tower AlexNet (64-192-384-256-256, the lecture's) has the same fc layers:
    # convs 23,296 + 307,392 + 663,936 + 884,992 + 590,080 = 2,469,696
    assert _analyze("alexnet").totals.params - 2_469_696 == params + fc - 2_334_080 == fc


# ------------------------------------------------------------------------ Network in Network --


def test_nin_by_hand() -> None:
    """Lin et al. 2014: three mlpconv layers (a conv and two 1x1 "cccp" convs each), widths of
    the authors' CIFAR-10 release; Caffe's ceil-rounded 3x3/2 pools give 32 -> 16 -> 8."""
    mlpconvs = [  # (C_in, conv out, k, cccp1, cccp2, map size)
        (3, 192, 5, 160, 96, 32), (96, 192, 5, 192, 192, 16), (192, 192, 3, 192, 10, 8),
    ]
    params = macs = 0
    for cin, c, k, c1, c2, n in mlpconvs:
        params += conv_params(cin, c, k) + conv_params(c, c1, 1) + conv_params(c1, c2, 1)
        macs += conv_macs(cin, c, k, n) + conv_macs(c, c1, 1, n) + conv_macs(c1, c2, 1, n)
    assert params == 966_986
    assert macs == 222_486_528
    report = _analyze("nin")
    assert (report.totals.params, report.totals.macs) == (params, macs)
    assert report.layer("pool1").output_shape == (96, 16, 16)  # ⌈(32 − 3)/2⌉ + 1
    assert report.layer("pool2").output_shape == (192, 8, 8)  # ⌈(16 − 3)/2⌉ + 1
    assert _out(report) == (10, 1, 1)  # global average pooling of ten class maps


# --------------------------------------------------------------------------- Wide ResNet --


def test_wrn28_10_by_hand() -> None:
    """Zagoruyko & Komodakis 2016, Table 1, N = 4, k = 10: pre-activation blocks of two bias-free
    3x3 convs; BN before each conv (2C params, 2C buffers); the first block of each group adds
    a 1x1 projection of its activated input."""
    params = conv_params(3, 16, 3, bias=False)
    buffers = 0
    macs = conv_macs(3, 16, 3, 32)
    cin = 16
    for c, n in ((160, 32), (320, 16), (640, 8)):  # width, output size (stride 1, 2, 2)
        for block in range(4):
            a = cin if block == 0 else c
            params += 2 * a + conv_params(a, c, 3, bias=False)  # bn0, conv0
            params += 2 * c + conv_params(c, c, 3, bias=False)  # bn1, conv1
            buffers += 2 * a + 2 * c
            macs += conv_macs(a, c, 3, n) + conv_macs(c, c, 3, n)
            if block == 0:
                params += conv_params(a, c, 1, bias=False)  # convdim
                macs += conv_macs(a, c, 1, n)
        cin = c
    params += 2 * 640 + (640 * 10 + 10)  # final BN, fc
    buffers += 2 * 640
    macs += 640 * 10
    assert params == 36_479_194  # paper Tables 4-5: 36.5M
    assert (buffers, macs) == (17_952, 5_243_328_768)
    report = _analyze("wrn28_10")
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
        params, buffers, macs)
    assert report.layer("group1.block0.add").output_shape == (320, 16, 16)
    assert report.layer("group2.block3.add").output_shape == (640, 8, 8)
    assert _out(report) == (10,)


# ---------------------------------------------------------------------------------- YOLO --


def test_yolov1_by_hand() -> None:
    """Redmon et al. 2016, Fig. 3: 24 convs ("same" padding, biases) and two fc; 448 -> 7."""
    convs = [  # (C_in, C_out, k, output size), in the order of Fig. 3
        (3, 64, 7, 224), (64, 192, 3, 112),
        (192, 128, 1, 56), (128, 256, 3, 56), (256, 256, 1, 56), (256, 512, 3, 56),
        *[(512, 256, 1, 28), (256, 512, 3, 28)] * 4, (512, 512, 1, 28), (512, 1024, 3, 28),
        *[(1024, 512, 1, 14), (512, 1024, 3, 14)] * 2, (1024, 1024, 3, 14), (1024, 1024, 3, 7),
        (1024, 1024, 3, 7), (1024, 1024, 3, 7),
    ]
    assert len(convs) == 24
    params = sum(conv_params(a, b, k) for a, b, k, _ in convs)
    conv_mac = sum(conv_macs(a, b, k, n) for a, b, k, n in convs)
    fc_in = 7 * 7 * 1024
    params += (fc_in * 4096 + 4096) + (4096 * 1470 + 1470)
    fc_mac = fc_in * 4096 + 4096 * 1470
    assert params == 271_703_550
    assert (conv_mac, fc_mac) == (20_073_611_264, 211_542_016)
    report = _analyze("yolov1")
    assert report.totals.params == params
    assert report.totals.macs == conv_mac + fc_mac
    assert sum(1 for row in report.layers if row.type == "conv") == 24
    assert report.layer("conv9").output_shape == (1024, 7, 7)
    assert _out(report) == (2 * 5 + 20, 7, 7)  # S x S x (B·5 + C), channel-first


# ---------------------------------------------------------------------- Inception family --


@pytest.mark.parametrize(("name", "params", "buffers", "macs"), [
    # timm inception_v4 at 299 (bench/truths.py)
    ("inception_v4", 42_679_816, 63_168, 12_253_974_624),
])
def test_timm_counts(name: str, params: int, buffers: int, macs: int) -> None:
    report = _analyze(name)
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
        params, buffers, macs)
    assert _out(report) == (1000,)


def test_inception_v4_grid() -> None:
    """Szegedy et al. 2017, Figs. 3-8: the stem ends at 384x35x35; Reduction-A gives
    384 + 256 + 384 = 1024 at 17x17 and Reduction-B 192 + 320 + 1024 = 1536 at 8x8."""
    report = _analyze("inception_v4")
    assert report.layer("features.3.cat").output_shape == (64 + 96, 73, 73)
    assert report.layer("features.4.cat").output_shape == (96 + 96, 71, 71)
    assert report.layer("features.5.cat").output_shape == (192 + 192, 35, 35)
    assert report.layer("features.10.cat").output_shape == (384 + 256 + 384, 17, 17)
    assert report.layer("features.17.cat").output_shape == (384 + 256 + 256 + 128, 17, 17)
    assert report.layer("features.18.cat").output_shape == (192 + 320 + 1024, 8, 8)
    assert report.layer("features.21.cat").output_shape == (256 + 512 + 512 + 256, 8, 8)
    # Inception-C's 1x3 | 3x1 pair after the 3x1 448 -> 1x3 512 tower
    assert report.layer("features.19.branch2_3a").params == 256 * 512 * 3 + 2 * 256


@pytest.mark.parametrize(("name", "params", "buffers", "macs"), [
    # timm inception_resnet_v2 at 299 (bench/truths.py)
    ("inception_resnet_v2", 55_843_464, 60_544, 13_155_794_016),
])
def test_timm_counts_residual(name: str, params: int, buffers: int, macs: int) -> None:
    report = _analyze(name)
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
        params, buffers, macs)
    # the residual scalings of Section 3.3: 0.17, 0.10, 0.20; the last block8 has none
    graph = archcalc.to_graph(name)
    assert graph.node("repeat.0.block351.scaled").op.factor == 0.17
    assert graph.node("repeat_1.19.block171.scaled").op.factor == 0.10
    assert graph.node("repeat_2.8.block81.scaled").op.factor == 0.20
    assert not any(n.name.startswith("block8.") and n.type_name == "scale" for n in graph.nodes)


def test_inception_resnet_v1_by_hand() -> None:
    """Szegedy et al. 2017, Figs. 7 and 10-15: every conv is conv + BN (2C params, 2C buffers)
    except the linear 1x1 that ends each residual branch (bias, no BN)."""
    params = buffers = macs = 0

    def add(cin: int, cout: int, k: int | tuple[int, int], n: int, bn: bool = True) -> None:
        nonlocal params, buffers, macs
        params += conv_params(cin, cout, k, bias=not bn) + (2 * cout if bn else 0)
        buffers += 2 * cout if bn else 0
        macs += conv_macs(cin, cout, k, n)

    for cin, cout, k, n in ((3, 32, 3, 149), (32, 32, 3, 147), (32, 64, 3, 147), (64, 80, 1, 73),
                            (80, 192, 3, 71), (192, 256, 3, 35)):  # stem, Fig. 14
        add(cin, cout, k, n)
    for _ in range(5):  # Inception-ResNet-A, Fig. 10: 32 | 32 → 32 | 32 → 32 → 32, 1x1 to 256
        for cin, cout, k in ((256, 32, 1), (256, 32, 1), (32, 32, 3), (256, 32, 1), (32, 32, 3),
                             (32, 32, 3)):
            add(cin, cout, k, 35)
        add(96, 256, 1, 35, bn=False)
    add(256, 384, 3, 17)  # Reduction-A (Fig. 7, n = 384; k, l, m = 192, 192, 256)
    add(256, 192, 1, 35)
    add(192, 192, 3, 35)
    add(192, 256, 3, 17)
    for _ in range(10):  # Inception-ResNet-B, Fig. 11: 128 | 128 → 1x7 → 7x1, 1x1 to 896
        add(896, 128, 1, 17)
        add(896, 128, 1, 17)
        add(128, 128, (1, 7), 17)
        add(128, 128, (7, 1), 17)
        add(256, 896, 1, 17, bn=False)
    add(896, 256, 1, 17)  # Reduction-B, Fig. 12
    add(256, 384, 3, 8)
    add(896, 256, 1, 17)
    add(256, 256, 3, 8)
    add(896, 256, 1, 17)
    add(256, 256, 3, 17)
    add(256, 256, 3, 8)
    for _ in range(5):  # Inception-ResNet-C, Fig. 13: 192 | 192 → 1x3 → 3x1, 1x1 to 1792
        add(1792, 192, 1, 8)
        add(1792, 192, 1, 8)
        add(192, 192, (1, 3), 8)
        add(192, 192, (3, 1), 8)
        add(384, 1792, 1, 8, bn=False)
    params += 1792 * 1000 + 1000
    macs += 1792 * 1000
    assert (params, buffers, macs) == (22_756_328, 27_040, 6_206_361_696)
    report = _analyze("inception_resnet_v1")
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
        params, buffers, macs)
    assert report.layer("reduction_a").output_shape == (256 + 384 + 256, 17, 17)
    assert report.layer("reduction_b").output_shape == (896 + 384 + 256 + 256, 8, 8)


# ------------------------------------------------------------------------------ detection --


def test_ssd300_vgg16_against_torchvision() -> None:
    """torchvision ssd300_vgg16 (bench/truths.py): 35,641,826 params, 34,858,153,472 MACs
    (SSD300_VGG16_Weights.COCO_V1: 34.858 GFLOPS); 8,732 boxes of 4 offsets and 91 scores."""
    report = _analyze("ssd300_vgg16")
    assert (report.totals.params, report.totals.buffers) == (35_641_826, 0)
    assert report.totals.macs == 34_858_153_472
    boxes = 38 * 38 * 4 + 19 * 19 * 6 + 10 * 10 * 6 + 5 * 5 * 6 + 3 * 3 * 4 + 1 * 1 * 4
    assert boxes == 8732
    assert report.layer("boxes").output_shape == (boxes, 4)
    assert report.layer("scores").output_shape == (boxes, 91)
    assert [o.name for o in report.outputs] == ["boxes", "scores"]
    assert report.warnings == ()  # two declared outputs: neither is "never used"
    # the six feature maps torchvision measures
    maps = ["conv4_3_norm", "fc7", "conv8.conv2", "conv9.conv2", "conv10.conv2", "conv11.conv2"]
    assert [report.layer(m).output_shape for m in maps] == [
        (512, 38, 38), (1024, 19, 19), (512, 10, 10), (256, 5, 5), (256, 3, 3), (256, 1, 1)]
    assert report.layer("conv4_3_norm").params == 512  # the L2 norm's learned scale


def test_fasterrcnn_resnet50_fpn_against_torchvision() -> None:
    """torchvision fasterrcnn_resnet50_fpn as it ships (FrozenBatchNorm2d), 800x800, R = 1,000
    (bench/truths.py): params 41,755,286; buffers 4·26,560 = 106,240; MACs 134,379,721,216 of
    which the box head is R·(12,544·1,024 + 1,024² + 1,024·91 + 1,024·364)."""
    report = _analyze("fasterrcnn_resnet50_fpn")
    assert (report.totals.params, report.totals.buffers) == (41_755_286, 4 * 26_560)
    per_region = 256 * 7 * 7 * 1024 + 1024 * 1024 + 1024 * 91 + 1024 * 364
    assert per_region == 14_359_552
    assert report.totals.macs == 134_379_721_216
    head = sum(r.macs for r in report.layers if r.multiplicity == 1000)
    assert head == 1000 * per_region
    # the parts torchvision's hooks count: backbone 52,131,840,000, FPN 36,249,600,000,
    # RPN 31,638,729,216 (one head, five levels)
    rpn = sum(r.macs for r in report.layers if r.name.startswith("rpn."))
    assert rpn == 31_638_729_216
    levels = 200 * 200 + 100 * 100 + 50 * 50 + 25 * 25 + 13 * 13
    assert rpn == levels * (256 * 256 * 9 + 256 * 3 + 256 * 12)
    # the RPN's weights count once: 256·256·9 + 256 + 256·3 + 3 + 256·12 + 12
    rpn_weights = 256 * 256 * 9 + 256 + 256 * 3 + 3 + 256 * 12 + 12
    assert sum(r.params for r in report.layers if r.name.startswith("rpn.")) == rpn_weights
    assert rpn_weights == 593_935
    assert report.layer("rpn.p6.conv").shares == "rpn.p2.conv"
    assert report.layer("rpn.objectness").output_shape == (3 * levels, 1)
    # R is a scale parameter: each proposal fewer costs one box head less; params do not move
    fewer = _analyze("fasterrcnn_resnet50_fpn", proposals=300)
    assert fewer.totals.macs == report.totals.macs - 700 * per_region
    assert fewer.totals.params == report.totals.params


def test_fasterrcnn_vgg16_by_hand() -> None:
    """Ren et al. 2015: VGG-16 conv5 at 600x1000 (Caffe's rounded-up pools: 38x63), RPN 3x3/512
    with 9 anchors, RoI pooling 7x7, fc6, fc7, 21 + 84 outputs, R = 300 regions."""
    vgg = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
           (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    sizes = [(600, 1000)] * 2 + [(300, 500)] * 2 + [(150, 250)] * 3 + [(75, 125)] * 3 + [
        (38, 63)] * 3
    conv = sum(conv_params(a, b, 3) for a, b in vgg)
    assert conv == 14_714_688  # VGG-16's conv layers
    rpn = conv_params(512, 512, 3) + conv_params(512, 18, 1) + conv_params(512, 36, 1)
    head = (25_088 * 4096 + 4096) + (4096 * 4096 + 4096)  # fc6 on 512·7·7, fc7
    outs = (4096 * 21 + 21) + (4096 * 84 + 84)
    assert (rpn, head, outs) == (2_387_510, 119_545_856, 430_185)
    report = _analyze("fasterrcnn_vgg16")
    assert report.totals.params == conv + rpn + head + outs == 137_078_239
    backbone = sum(conv_macs(a, b, 3, n) for (a, b), n in zip(vgg, sizes, strict=True))
    rpn_macs = (conv_macs(512, 512, 3, (38, 63)) + conv_macs(512, 18, 1, (38, 63))
                + conv_macs(512, 36, 1, (38, 63)))
    per_region = 25_088 * 4096 + 4096 * 4096 + 4096 * 21 + 4096 * 84
    assert report.totals.macs == backbone + rpn_macs + 300 * per_region
    assert report.layer("conv5_3").output_shape == (512, 38, 63)
    roi = report.layer("roi_pool5")
    assert (roi.output_shape, roi.multiplicity) == ((512, 7, 7), 300)
    fc6 = report.layer("fc6")
    assert (fc6.params, fc6.macs) == (25_088 * 4096 + 4096, 300 * 25_088 * 4096)
    # activation memory: 300 regions of 4096 floats
    assert fc6.activation_bytes == 300 * 4096 * 4
    assert report.layer("bbox_pred").output_shape == (84,)


def test_region_heads_cost_no_more_to_analyse() -> None:
    """R multiplies counts; it does not replicate nodes: the graph is the same for 1 and for a
    million regions, and the counts differ by exactly R − 1 region heads."""
    one = archcalc.to_graph("fasterrcnn_vgg16", scale={"proposals": 1})
    many = archcalc.to_graph("fasterrcnn_vgg16", scale={"proposals": 1_000_000})
    assert len(one.nodes) == len(many.nodes)
    per_region = 25_088 * 4096 + 4096 * 4096 + 4096 * 21 + 4096 * 84
    assert archcalc.analyze(many).totals.macs - archcalc.analyze(one).totals.macs == (
        999_999 * per_region)


# --------------------------------------------------------------------------- segmentation --


def test_deeplabv3_resnet50_against_torchvision() -> None:
    """torchvision deeplabv3_resnet50 at 520 (bench/truths.py): without the auxiliary head
    39,638,869 params, 56,704 buffers, 168,731,205,888 MACs; with it (aux_loss=True, as the
    COCO_WITH_VOC_LABELS_V1 metadata counts: 42,004,074, 178.722 GFLOPS) 42,004,074 / 57,216 /
    178,721,945,088. The aux head is a training-only output: the totals leave it out."""
    report = _analyze("deeplabv3_resnet50")
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
        39_638_869, 56_704, 168_731_205_888)
    training = report.training_totals
    assert training is not None
    assert (training.params, training.buffers, training.macs) == (
        42_004_074, 57_216, 178_721_945_088)
    # the aux head: conv 3x3 1024 → 256 + BN, conv 1x1 256 → 21 (+ bias)
    assert training.params - report.totals.params == 1024 * 256 * 9 + 2 * 256 + 256 * 21 + 21
    assert [r.name for r in report.layers if r.training] == [
        "aux_classifier.conv", "aux_classifier.dropout", "aux_classifier.cls", "aux"]
    assert report.layer("out").output_shape == (21, 520, 520)  # `like: input`
    assert report.layer("aspp.pool_up").output_shape == (256, 65, 65)  # `like:` the features
    assert report.warnings == ()
    graph = archcalc.to_graph("deeplabv3_resnet50")
    # dilated stages: the first block keeps the previous dilation, the others take the new one
    dilation = {name: graph.node(f"backbone.{name}.conv2").op.d
                for name in ("layer3.0", "layer3.1", "layer3.5", "layer4.0", "layer4.1")}
    assert dilation == {"layer3.0": 1, "layer3.1": 2, "layer3.5": 2, "layer4.0": 2, "layer4.1": 4}
    assert report.layer("backbone.layer4.2.add").output_shape == (2048, 65, 65)


def test_fcn_resnet50_against_torchvision() -> None:
    """torchvision fcn_resnet50 at 520 (bench/truths.py): 32,957,013 params, 54,144 buffers,
    142,725,772,800 MACs; with the aux head (FCN_ResNet50_Weights metadata: 35,322,218 params,
    152.717 GFLOPS) 35,322,218 / 54,656 / 152,716,512,000. The head: conv 3x3 2048 → 512 + BN,
    conv 1x1 512 → 21 (+ bias): 2048·512·9 + 2·512 + 512·21 + 21 params."""
    report = _analyze("fcn_resnet50")
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
        32_957_013, 54_144, 142_725_772_800)
    training = report.training_totals
    assert training is not None
    assert (training.params, training.buffers, training.macs) == (
        35_322_218, 54_656, 152_716_512_000)
    head = report.layer("classifier.0").params + report.layer("classifier.4").params
    assert head == 2048 * 512 * 9 + 2 * 512 + 512 * 21 + 21
    assert report.layer("out").output_shape == (21, 520, 520)
    # the backbone is DeepLabV3's: the totals differ by the heads only
    deeplab = _analyze("deeplabv3_resnet50")
    backbone = sum(r.params for r in report.layers if r.name.startswith("backbone."))
    assert backbone == sum(r.params for r in deeplab.layers if r.name.startswith("backbone."))


def test_segnet_by_hand() -> None:
    """Badrinarayanan et al. 2017: VGG-16's 13 convs with BN as the encoder, the mirrored decoder
    after max-unpooling with the encoder's indices (no weights, no MACs), 11 CamVid classes.
    Convs have biases and BN (2C params, 2C buffers), the classifier no BN."""
    enc = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
           (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    dec = [(512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 256), (256, 256),
           (256, 256), (256, 128), (128, 128), (128, 64), (64, 64)]
    enc_n = [(360, 480)] * 2 + [(180, 240)] * 2 + [(90, 120)] * 3 + [(45, 60)] * 3 + [
        (23, 30)] * 3
    dec_n = [(23, 30)] * 3 + [(45, 60)] * 3 + [(90, 120)] * 3 + [(180, 240)] * 2 + [(360, 480)]
    params = sum(conv_params(a, b, 3) + 2 * b for a, b in [*enc, *dec])
    params += conv_params(64, 11, 3)
    buffers = sum(2 * b for _, b in [*enc, *dec])
    assert (params, buffers) == (29_449_355, 15_872)  # paper Table 6: 29.46M
    macs = sum(conv_macs(a, b, 3, n) for (a, b), n in zip([*enc, *dec], [*enc_n, *dec_n],
                                                           strict=True))
    macs += conv_macs(64, 11, 3, (360, 480))
    report = _analyze("segnet")
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
        params, buffers, macs)
    # unpooling restores the pre-pool size, the odd 45 included (ceil pool 45 → 23)
    assert report.layer("pool4").output_shape == (512, 23, 30)
    assert report.layer("upsample4").output_shape == (512, 45, 60)
    assert report.layer("upsample1").output_shape == (64, 360, 480)
    assert report.layer("upsample5").params == report.layer("upsample5").macs == 0
    assert _out(report) == (11, 360, 480)


# ----------------------------------------------------------------- Siamese, triplet, style --


def test_siamese_shares_its_tower() -> None:
    """Koch et al. 2015, Fig. 4, on 105x105: sizes 96, 48, 42, 21, 18, 9, 6; the tower's weights
    count once (38,947,648), its MACs twice; the head is a 4096 → 1 fc on |h_l − h_r|."""
    tower = (conv_params(1, 64, 10) + conv_params(64, 128, 7) + conv_params(128, 128, 4)
             + conv_params(128, 256, 4) + (256 * 6 * 6 * 4096 + 4096))
    tower_macs = (conv_macs(1, 64, 10, 96) + conv_macs(64, 128, 7, 42)
                  + conv_macs(128, 128, 4, 18) + conv_macs(128, 256, 4, 6) + 9216 * 4096)
    assert (tower, tower_macs) == (38_947_648, 908_623_872)
    report = _analyze("siamese")
    assert report.totals.params == tower + (4096 + 1) == 38_951_745
    assert report.totals.macs == 2 * tower_macs + 4096
    assert sum(r.params for r in report.layers if r.name.startswith("right_tower.")) == 0
    assert report.layer("right_tower.conv1").shares == "left_tower.conv1"
    assert [name for name, _ in report.inputs] == ["left", "right"]


def test_triplet_shares_one_embedding() -> None:
    """FaceNet-style: three inputs through one network f (weights once, work three times),
    three declared outputs, each needing the whole network."""
    params = (conv_params(3, 64, 7, bias=False) + 2 * 64 + conv_params(64, 64, 1, bias=False)
              + 2 * 64 + conv_params(64, 192, 3, bias=False) + 2 * 192
              + conv_params(192, 256, 3, bias=False) + 2 * 256 + (256 * 128 + 128))
    buffers = 2 * (64 + 64 + 192 + 256)
    macs = (conv_macs(3, 64, 7, 48) + conv_macs(64, 64, 1, 24) + conv_macs(64, 192, 3, 24)
            + conv_macs(192, 256, 3, 12) + 256 * 128)
    assert (params, buffers, macs) == (600_512, 1_152, 151_470_080)
    report = _analyze("triplet")
    assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
        params, buffers, 3 * macs)
    assert [o.name for o in report.outputs] == [
        "anchor_net.embedding", "positive_net.embedding", "negative_net.embedding"]
    for out in report.outputs:  # each branch needs the shared weights, once
        assert (out.params, out.buffers, out.macs) == (params, buffers, macs)
        assert out.output_shape == (128,)


def test_style_transfer_gram_matrices() -> None:
    """Gatys et al.: a C×C Gram matrix of a C×H×W map costs C²·H·W MACs; VGG-19 to conv5_1."""
    grams = [(64, 224), (128, 112), (256, 56), (512, 28), (512, 14)]
    gram_macs = sum(c * c * n * n for c, n in grams)
    assert gram_macs == 873_463_808
    assert 64 * 64 * 224 * 224 == 205_520_896 > conv_macs(3, 64, 3, 224) == 86_704_128
    convs = [(3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56),
             (256, 256, 56), (256, 256, 56), (256, 256, 56), (256, 512, 28), (512, 512, 28),
             (512, 512, 28), (512, 512, 28), (512, 512, 14)]
    report = _analyze("style_transfer")
    assert report.totals.params == sum(conv_params(a, b, 3) for a, b, _ in convs) == 12_944_960
    assert report.totals.macs == sum(conv_macs(a, b, 3, n) for a, b, n in convs) + gram_macs
    assert [report.layer(f"style{i}").output_shape for i in range(1, 6)] == [
        (64, 64), (128, 128), (256, 256), (512, 512), (512, 512)]
    assert len(report.outputs) == 6 and report.warnings == ()


def test_deformable_conv_example() -> None:
    """torchvision's DeformConv2d(64, 64, 3) has 36,928 parameters (bench/truths.py): a conv's;
    the offsets come from an ordinary conv of 2·G·K² = 18 (v2: + G·K² = 9 masks) channels."""
    report = _analyze("deform_conv_example")
    assert report.layer("deform").params == 64 * 64 * 9 + 64 == 36_928
    assert report.layer("modulated").params == 36_928
    assert report.layer("offset").params == conv_params(64, 18, 3) == 10_386
    assert report.layer("offset_mask").params == conv_params(64, 27, 3) == 15_579
    assert report.layer("deform").macs == conv_macs(64, 64, 3, 56) == 115_605_504
    assert report.totals.params == 2 * 36_928 + 10_386 + 15_579
    assert report.layer("deform").receptive_field is None  # learned offsets: no fixed field


# ------------------------------------------------------------------------------- the docs --

BEYOND = ["alexnet_original", "nin", "wrn28_10", "yolov1", "inception_v4", "inception_resnet_v2",
          "inception_resnet_v1", "ssd300_vgg16", "fasterrcnn_vgg16", "fasterrcnn_resnet50_fpn",
          "deeplabv3_resnet50", "fcn_resnet50", "segnet", "siamese", "triplet", "style_transfer",
          "deform_conv_example"]


def test_model_zoo_doc_table_is_the_analysis() -> None:
    """docs/model-zoo.md's "Beyond the classifier" table lists every spec of this file with the
    params, buffers and MACs the analysis gives (each asserted against its truth above)."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "model-zoo.md").read_text()
    section = doc.split("## Beyond the classifier", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = tuple(int(c.replace(",", "")) for c in cells[2:5])
    assert list(rows) == BEYOND
    for name, (params, buffers, macs) in rows.items():
        report = _analyze(name)
        assert (report.totals.params, report.totals.buffers, report.totals.macs) == (
            params, buffers, macs), name


@pytest.mark.parametrize("name", BEYOND)
def test_header_states_sources(name: str) -> None:
    """Each spec's header names the architecture's source and its reference numbers."""
    from pathlib import Path

    header = []
    path = Path(__file__).resolve().parent.parent / "specs" / f"{name}.yaml"
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert "Reference numbers" in text
    assert any(s in text for s in ("arXiv:", "doi:", "ICML", "NIPS")), name
    assert max(len(line) for line in header) <= 100
