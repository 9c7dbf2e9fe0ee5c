"""Model zoo, part 1: the classic and branching networks (AlexNet, ZFNet, VGG, GoogLeNet,
Inception-v3, ResNet/ResNeXt/Wide-ResNet, DenseNet, SqueezeNet, Xception, U-Net, DeepLab)
against torchvision's exact counts, the papers' figures and hand derivations.

Sources of the expected numbers:

* "torchvision" — torchvision 0.29.1, model built with ``weights=None``, eval mode, one forward
  of a zeros tensor at the spec's input: params = sum of ``p.numel()``; buffers = BN running
  mean + var (without ``num_batches_tracked``); MACs = conv ``out.numel()·(in/groups)·∏k`` +
  linear ``out.numel()·in_features`` and nothing else. Where torchvision ships weights, its
  metadata (``num_params``; ``_ops`` in GFLOPS) agrees: ``_ops`` is these MACs / 1e9, rounded to
  three decimals (inception_v3's ``num_params`` also counts the training-only auxiliary head).
* "paper" — the architecture papers' tables, rounded as printed.
* "hand" — worked out in the comment or the arithmetic next to the assertion.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archcalc
from archcalc.report import Report

SPECS = Path(__file__).resolve().parent.parent / "specs"

# spec name → (params, buffers, MACs, output shape)
Case = tuple[str, int, int, int, tuple[int, ...]]

ZOO: list[Case] = [
    # torchvision alexnet at 224: num_params 61,100,840, _ops 0.714.
    # MACs conv 655,566,528 + fc 9216·4096 + 4096·4096 + 4096·1000 = 58,621,952.
    ("alexnet_torchvision", 61_100_840, 0, 714_188_480, (1000,)),
    # hand (test_zfnet_by_hand); no torchvision model.
    ("zfnet", 62_357_608, 0, 1_168_032_896, (1000,)),
    # torchvision vgg11 / vgg13 / vgg16_bn: num_params 132,863,336 / 133,047,848 / 138,365,992;
    # _ops 7.609 / 11.308 / 15.47. vgg16_bn = vgg16's 138,357,544 + BN 2·4224 (4224 = channels
    # of all 13 convs: 2·64 + 2·128 + 3·256 + 6·512), buffers the other 2·4224.
    ("vgg11", 132_863_336, 0, 7_609_090_048, (1000,)),
    ("vgg13", 133_047_848, 0, 11_308_466_176, (1000,)),
    ("vgg16_bn", 138_357_544 + 2 * 4224, 2 * 4224, 15_470_264_320, (1000,)),
    # torchvision vgg16: num_params 138,357,544, _ops 15.47 (the lecture's vgg16 with the
    # head's dropout and adaptive pool, which cost nothing at inference).
    ("vgg16_torchvision", 138_357_544, 0, 15_470_264_320, (1000,)),
    # torchvision googlenet (aux_logits=False): num_params 6,624,904, _ops 1.498; paper "1.5
    # billion multiply-adds".
    ("googlenet", 6_624_904, 14_560, 1_498_376_192, (1000,)),
    # torchvision inception_v3 at 299 without AuxLogits: metadata num_params 27,161,264 counts
    # the aux head's 3,326,696 (27,161,264 - 3,326,696 = 23,834,568); _ops 5.713.
    ("inception_v3", 27_161_264 - 3_326_696, 34_432, 5_713_216_096, (1000,)),
    # torchvision resnet18/34/50/101/152: num_params as here; _ops 1.814 / 3.664 / 4.089 /
    # 7.801 / 11.514. Paper Table 1 (He et al. 2016): 1.8 / 3.6 / 3.8 / 7.6 / 11.3 x 10^9 FLOPs,
    # i.e. multiply-adds of the paper variant (stride in the first 1x1, the *_v1 rows below;
    # identical for the basic-block 18/34). 3,663,761,408 is 3.66 and 3,857,973,248 is 3.86:
    # the paper truncates those two; 1.81, 7.57 and 11.28 round as printed.
    ("resnet18", 11_689_512, 9_600, 1_814_073_344, (1000,)),
    ("resnet34", 21_797_672, 17_024, 3_663_761_408, (1000,)),
    ("resnet50", 25_557_032, 53_120, 4_089_184_256, (1000,)),
    ("resnet101", 44_549_160, 105_344, 7_801_405_440, (1000,)),
    ("resnet152", 60_192_808, 151_424, 11_513_626_624, (1000,)),
    # torchvision's Bottleneck with the stride moved to conv1 (counted with torch); equal to
    # the v1.5 counts minus 3·77,070,336 MACs (test_v1_moves_the_stride).
    ("resnet50_v1", 25_557_032, 53_120, 3_857_973_248, (1000,)),
    ("resnet101_v1", 44_549_160, 105_344, 7_570_194_432, (1000,)),
    ("resnet152_v1", 60_192_808, 151_424, 11_282_415_616, (1000,)),
    # torchvision resnext50_32x4d: num_params 25,028,904, _ops 4.23; paper (Xie et al. 2017,
    # Table 1): 25.0M params, 4.2 x 10^9 FLOPs.
    ("resnext50_32x4d", 25_028_904, 68_224, 4_230_479_872, (1000,)),
    # torchvision wide_resnet50_2: num_params 68,883,240, _ops 11.398.
    ("wide_resnet50_2", 68_883_240, 68_224, 11_398_021_120, (1000,)),
    # torchvision densenet121/169/201: num_params as here; _ops 2.834 / 3.36 / 4.291.
    # densenet264 = torchvision DenseNet(32, (6, 12, 64, 48), 64), counted with torch.
    ("densenet121", 7_978_856, 83_648, 2_834_161_664, (1000,)),
    ("densenet169", 14_149_480, 158_400, 3_359_843_328, (1000,)),
    ("densenet201", 20_013_928, 229_056, 4_291_365_888, (1000,)),
    ("densenet264", 33_337_704, 398_528, 5_751_653_376, (1000,)),
    # torchvision squeezenet1_0: num_params 1,248,424, _ops 0.819; paper (Iandola et al. 2016,
    # Table 1) 1,248,424 parameters before pruning. Output: conv10 → avg pool → flatten.
    ("squeezenet1_0", 1_248_424, 0, 818_924_576, (1000,)),
    # Keras Xception (include_top): 22,910,480 weights = 22,855,952 trainable + 54,528 BN
    # moving statistics; MACs hand (test_xception_by_hand); EfficientNet Table 2: 23M, 8.4B.
    ("xception", 22_855_952, 54_528, 8_357_403_496, (1000,)),
    # hand (test_unet_by_hand); paper Fig. 1: 572x572 tile → 388x388x2 map.
    ("unet", 31_030_658, 0, 150_428_424_448, (2, 388, 388)),
    # hand (test_deeplab_by_hand); paper (Chen et al. 2015, Table 2): LargeFOV 20.5M params.
    ("deeplab", 20_505_429, 0, 50_928_085_696, (21, 41, 41)),
]


def _analyze(name: str, **scale: float) -> Report:
    return archcalc.analyze(archcalc.to_graph(name, scale=scale))


def _out(report: Report) -> tuple[int, ...]:
    return report.layer(report.output).output_shape


def _rf(report: Report, layer: str) -> int:
    rf = report.layer(layer).rf_dict()
    assert rf is not None
    sizes = set(rf["size"])
    assert len(sizes) == 1, f"{layer}: non-square field {rf['size']}"
    (size,) = sizes
    assert isinstance(size, int)
    return size


@pytest.mark.parametrize(("name", "params", "buffers", "macs", "out"), ZOO,
                         ids=[c[0] for c in ZOO])
def test_zoo_counts(name: str, params: int, buffers: int, macs: int,
                    out: tuple[int, ...]) -> None:
    report = _analyze(name)
    assert report.totals.params == params
    assert report.totals.buffers == buffers
    assert report.totals.macs == macs
    assert _out(report) == out


def test_every_zoo_spec_is_in_the_table() -> None:
    """Each spec this zoo ships is asserted above, and loads by its bare name."""
    shipped = {
        "alexnet_torchvision", "zfnet", "vgg11", "vgg13", "vgg16_bn", "vgg16_torchvision",
        "googlenet",
        "inception_v3", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnext50_32x4d", "wide_resnet50_2", "densenet121", "densenet169", "densenet201",
        "densenet264", "squeezenet1_0", "xception", "unet", "deeplab",
    }
    assert shipped | {"resnet50_v1", "resnet101_v1", "resnet152_v1"} == {c[0] for c in ZOO}
    for name in shipped:
        assert (SPECS / f"{name}.yaml").is_file(), name
        assert name in archcalc.bundled_names()


@pytest.mark.parametrize("name", sorted({c[0].removesuffix("_v1") for c in ZOO}))
def test_header_states_sources(name: str) -> None:
    """Each spec's header comment names its architecture source and its reference numbers."""
    header = []
    for line in (SPECS / f"{name}.yaml").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert "Reference numbers" in text
    assert "arXiv:" in text  # the paper the architecture comes from
    assert max(len(line) for line in header) <= 100


# ------------------------------------------------------------------------- ResNet family --


def test_v1_moves_the_stride() -> None:
    """Paper ResNet (stride in the first 1x1) vs torchvision (stride in the 3x3).

    Same weights. In each of the three downsampling blocks (layer2-4, block 0) the v1.5 conv1
    runs at the input resolution n and conv2 maps n → n/2; v1 runs both at n/2, so only conv1's
    MACs differ: (n² − (n/2)²)·C_in·mid. layer2: (56² − 28²)·256·128 = 77,070,336; layer3:
    (28² − 14²)·512·256 = 77,070,336; layer4: (14² − 7²)·1024·512 = 77,070,336.
    """
    per_block = (56**2 - 28**2) * 256 * 128
    assert per_block == (28**2 - 14**2) * 512 * 256 == (14**2 - 7**2) * 1024 * 512 == 77_070_336
    for depth in (50, 101, 152):
        v15, v1 = _analyze(f"resnet{depth}"), _analyze(f"resnet{depth}_v1")
        assert v1.totals.params == v15.totals.params
        assert v15.totals.macs - v1.totals.macs == 3 * per_block == 231_211_008
        for stage in (2, 3, 4):
            a, b = v15.layer(f"layer{stage}.0.conv1"), v1.layer(f"layer{stage}.0.conv1")
            assert a.macs - b.macs == per_block
    # the variant also works as a scale parameter
    assert _analyze("resnet50", stride_1x1=1).totals.macs == 3_857_973_248


def test_resnet50_layout() -> None:
    """torchvision's layer names; stage table of He et al. Table 1 (3, 4, 6, 3 blocks)."""
    report = _analyze("resnet50")
    names = {row.name for row in report.layers}
    for stage, blocks in zip((1, 2, 3, 4), (3, 4, 6, 3), strict=True):
        assert f"layer{stage}.{blocks - 1}.conv3" in names
        assert f"layer{stage}.{blocks}.conv1" not in names
    # stem 7x7/2 conv: 64·3·7·7 weights + BN 2·64
    assert report.layer("conv1").params == 64 * 3 * 7 * 7 + 2 * 64
    # the first bottleneck projects 64 → 256 with a 1x1 conv + BN even though the stride is 1
    assert report.layer("layer1.0.downsample1").params == 256 * 64 + 2 * 256
    assert report.layer("layer2.0.conv2").output_shape == (128, 28, 28)
    assert report.layer("layer4.2.add").output_shape == (2048, 7, 7)
    assert report.layer("fc").params == 2048 * 1000 + 1000


def test_resnext_block_matches_the_lecture_formula() -> None:
    """ResNeXt per-block weights C·(256·d + 3·3·d·d + d·256) (seed 002, Xie et al. Fig. 3a)
    equal the grouped form's 256·128 + 3·3·128·128/32 + 128·256 (Fig. 3c); BN adds
    2·(128 + 128 + 256)."""
    cardinality, d = 32, 4
    weights = cardinality * (256 * d + 3 * 3 * d * d + d * 256)
    assert weights == 256 * 128 + 3 * 3 * 128 * 128 // 32 + 128 * 256 == 70_144
    report = _analyze("resnext50_32x4d")
    block = sum(report.layer(f"layer1.1.conv{i}").params for i in (1, 2, 3))
    assert block == weights + 2 * (128 + 128 + 256)


def test_wide_resnet_doubles_the_inner_width() -> None:
    wide, base = _analyze("wide_resnet50_2"), _analyze("resnet50")
    # layer1.1 conv2: 3x3, 128 → 128 instead of 64 → 64 (+ BN)
    assert wide.layer("layer1.1.conv2").params == 128 * 128 * 9 + 2 * 128
    assert base.layer("layer1.1.conv2").params == 64 * 64 * 9 + 2 * 64
    assert wide.layer("layer1.1.add").output_shape == base.layer("layer1.1.add").output_shape


# -------------------------------------------------------------------------------- DenseNet --


def _dense_layer_params(cin: int, k: int = 32) -> int:
    """BN(cin) + 1x1 conv cin → 4k + BN(4k) + 3x3 conv 4k → k (no biases)."""
    return 2 * cin + cin * 4 * k + 2 * 4 * k + 4 * k * k * 9


def test_densenet121_by_hand() -> None:
    """Huang et al. Table 1: blocks 6, 12, 24, 16 with growth 32; transitions halve C.

    Block b with n layers starting at C channels: layer i sees C + 32·i channels and the block
    ends at C + 32·n. Transition: BN(C) + 1x1 conv C → C/2.
    """
    params = 3 * 64 * 49 + 2 * 64  # conv0 + norm0
    c = 64
    for b, n in enumerate((6, 12, 24, 16)):
        params += sum(_dense_layer_params(c + 32 * i) for i in range(n))
        c += 32 * n
        if b < 3:
            params += 2 * c + c * (c // 2)
            c //= 2
    params += 2 * c + c * 1000 + 1000  # norm5 + classifier
    assert c == 1024
    assert params == 7_978_856  # torchvision's count
    report = _analyze("densenet121")
    assert report.totals.params == params
    # channel flow 64 → 256 → 128 → 512 → 256 → 1024 → 512 → 1024 at 56, 28, 14, 7
    assert report.layer("denseblock1.denselayer.5.cat").output_shape == (256, 56, 56)
    assert report.layer("transition1.pool").output_shape == (128, 28, 28)
    assert report.layer("transition2.pool").output_shape == (256, 14, 14)
    assert report.layer("denseblock3.denselayer.23.cat").output_shape == (1024, 14, 14)
    assert report.layer("transition3.pool").output_shape == (512, 7, 7)
    assert report.layer("denseblock4.denselayer.15.cat").output_shape == (1024, 7, 7)


# ------------------------------------------------------------------------- GoogLeNet/Incep --


def test_googlenet_inception_3a() -> None:
    """Szegedy et al. Table 1, inception (3a) at 28x28 from 192 channels: 64 + 128 + 32 + 32
    = 256 out; torchvision's "5x5" branch is a 3x3 (weights + BN 2·C per conv)."""
    report = _analyze("googlenet")
    assert report.layer("inception3a.cat").output_shape == (256, 28, 28)
    assert report.layer("inception3b.cat").output_shape == (480, 28, 28)
    assert report.layer("inception4e.cat").output_shape == (832, 14, 14)
    assert report.layer("inception5b.cat").output_shape == (1024, 7, 7)
    assert report.layer("inception3a.branch3").params == 32 * 16 * 3 * 3 + 2 * 32
    # ceil-mode pools: 112 → 56 → 28 → 14 → 7
    assert [report.layer(f"maxpool{i}").output_shape[1] for i in (1, 2, 3, 4)] == [56, 28, 14, 7]


def test_googlenet_true_5x5_branch() -> None:
    """With the paper's 5x5 (k5 = 5) each "5x5" conv gains 25 − 9 = 16 taps per weight:
    Σ c5r·c5 over the nine modules = 23,808, so +16·23,808 = 380,928 params; the MACs grow by
    16·Σ c5r·c5·H·W. torchvision with a true 5x5 (counted with torch): 7,005,832 params,
    1,582,671,872 MACs."""
    modules = [  # (c5r, c5, H=W) for 3a 3b 4a 4b 4c 4d 4e 5a 5b
        (16, 32, 28), (32, 96, 28), (16, 48, 14), (24, 64, 14), (24, 64, 14), (32, 64, 14),
        (32, 128, 14), (32, 128, 7), (48, 128, 7),
    ]
    extra_params = 16 * sum(r * c for r, c, _ in modules)
    extra_macs = 16 * sum(r * c * n * n for r, c, n in modules)
    assert extra_params == 380_928
    report = _analyze("googlenet", k5=5)
    assert report.totals.params == 6_624_904 + extra_params == 7_005_832
    assert report.totals.macs == 1_498_376_192 + extra_macs == 1_582_671_872


def test_inception_v3_grid_sizes() -> None:
    """torchvision's stem at 299: 149, 147, 147, 73, 73, 71, 35; then 35 → 17 → 8."""
    report = _analyze("inception_v3")
    assert report.layer("Conv2d_4a_3x3").output_shape == (192, 71, 71)
    assert report.layer("maxpool2").output_shape == (192, 35, 35)
    assert report.layer("Mixed_5b.cat").output_shape == (256, 35, 35)  # 224 + pool features 32
    assert report.layer("Mixed_6a.cat").output_shape == (768, 17, 17)  # 384 + 96 + 288
    assert report.layer("Mixed_7a.cat").output_shape == (1280, 8, 8)  # 320 + 192 + 768
    assert report.layer("Mixed_7c.cat").output_shape == (2048, 8, 8)
    # a factorised 1x7 conv: 7 taps per weight: 128·128·7 + BN
    assert report.layer("Mixed_6b.branch7x7_2").params == 128 * 128 * 7 + 2 * 128
    assert report.layer("Mixed_6b.branch7x7_2").macs == 128 * 17 * 17 * 128 * 7


def test_squeezenet_fire2() -> None:
    """Iandola et al. Table 1, fire2 (s1x1 16, e1x1 64, e3x3 64) on 96x54x54, convs with bias:
    (96·16 + 16) + (16·64 + 64) + (16·64·9 + 64) = 11,920 params."""
    report = _analyze("squeezenet1_0")
    fire2 = sum(report.layer(f"fire2.{c}").params for c in ("squeeze", "expand1x1", "expand3x3"))
    assert fire2 == (96 * 16 + 16) + (16 * 64 + 64) + (16 * 64 * 9 + 64) == 11_920
    assert report.layer("conv1").output_shape == (96, 109, 109)  # ⌊(224 − 7)/2⌋ + 1
    assert report.layer("conv10").macs == 1000 * 13 * 13 * 512 == 86_528_000


# ---------------------------------------------------------------------- hand derivations --


def test_zfnet_by_hand() -> None:
    """Zeiler & Fergus Fig. 3: sizes 110, 55, 26, 13, 13, 13, 13, 6; biases everywhere."""
    params = (
        (96 * 3 * 7 * 7 + 96)  # conv1
        + (256 * 96 * 5 * 5 + 256)  # conv2
        + (384 * 256 * 3 * 3 + 384)  # conv3
        + (384 * 384 * 3 * 3 + 384)  # conv4
        + (256 * 384 * 3 * 3 + 256)  # conv5
        + (9216 * 4096 + 4096)  # fc6 on 256·6·6 = 9216
        + (4096 * 4096 + 4096)  # fc7
        + (4096 * 1000 + 1000)  # fc8
    )
    conv_macs = (
        96 * 110 * 110 * 3 * 7 * 7
        + 256 * 26 * 26 * 96 * 5 * 5
        + 384 * 13 * 13 * 256 * 3 * 3
        + 384 * 13 * 13 * 384 * 3 * 3
        + 256 * 13 * 13 * 384 * 3 * 3
    )
    fc_macs = 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    assert (params, conv_macs, fc_macs) == (62_357_608, 1_109_410_944, 58_621_952)
    report = _analyze("zfnet")
    assert report.totals.params == params
    assert report.totals.macs == conv_macs + fc_macs
    sizes = [report.layer(n).output_shape[1] for n in
             ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5")]
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]


def test_xception_by_hand() -> None:
    """Chollet Fig. 5 as Keras builds it. A separable conv C → C' is a depthwise 3x3 (9·C) and
    a pointwise 1x1 (C·C'), no biases, then BN (2·C' params, 2·C' buffers)."""

    def sep(c: int, c2: int) -> int:
        return 9 * c + c * c2 + 2 * c2

    def proj(c: int, c2: int) -> int:  # 1x1 stride-2 shortcut conv + BN
        return c * c2 + 2 * c2

    params = (
        (3 * 32 * 9 + 2 * 32) + (32 * 64 * 9 + 2 * 64)  # block1_conv1, block1_conv2
        + sep(64, 128) + sep(128, 128) + proj(64, 128)  # block2
        + sep(128, 256) + sep(256, 256) + proj(128, 256)  # block3
        + sep(256, 728) + sep(728, 728) + proj(256, 728)  # block4
        + 8 * 3 * sep(728, 728)  # middle flow, blocks 5-12
        + sep(728, 728) + sep(728, 1024) + proj(728, 1024)  # block13
        + sep(1024, 1536) + sep(1536, 2048)  # block14
        + (2048 * 1000 + 1000)  # predictions
    )
    bn_channels = (32 + 64 + 3 * 128 + 3 * 256 + 3 * 728  # entry flow (sepconvs and shortcuts)
                   + 24 * 728  # middle flow
                   + 728 + 2 * 1024 + 1536 + 2048)  # exit flow
    assert params == 22_855_952  # Keras: trainable params
    assert 2 * bn_channels == 54_528  # Keras: non-trainable (moving mean and variance)

    def sep_macs(c: int, c2: int, n: int) -> int:
        return n * n * (9 * c + c * c2)

    macs = (
        32 * 149 * 149 * 3 * 9 + 64 * 147 * 147 * 32 * 9
        + sep_macs(64, 128, 147) + sep_macs(128, 128, 147) + 74 * 74 * 64 * 128
        + sep_macs(128, 256, 74) + sep_macs(256, 256, 74) + 37 * 37 * 128 * 256
        + sep_macs(256, 728, 37) + sep_macs(728, 728, 37) + 19 * 19 * 256 * 728
        + 24 * sep_macs(728, 728, 19)
        + sep_macs(728, 728, 19) + sep_macs(728, 1024, 19) + 10 * 10 * 728 * 1024
        + sep_macs(1024, 1536, 10) + sep_macs(1536, 2048, 10)
        + 2048 * 1000
    )
    report = _analyze("xception")
    assert (report.totals.params, report.totals.buffers) == (params, 2 * bn_channels)
    assert report.totals.macs == macs == 8_357_403_496
    # 'same' max-pools: 147 → 74 → 37 → 19 → 10
    sizes = [report.layer(f"block{b}.add").output_shape[1] for b in (2, 3, 4, 12, 13)]
    assert sizes == [74, 37, 19, 19, 10]


def test_unet_by_hand() -> None:
    """Ronneberger et al. Fig. 1: valid 3x3 convs (−2 per conv), 2x2 pools, 2x2 up-convs
    (ConvTranspose: weights in·out·4 + out; MACs in·H·W·out·4), centre crops, 1x1 head."""

    def conv(cin: int, cout: int, k: int = 3) -> int:
        return cout * cin * k * k + cout

    def up(cin: int) -> int:
        return cin * (cin // 2) * 2 * 2 + cin // 2

    encoder = [(1, 64), (64, 128), (128, 256), (256, 512), (512, 1024)]
    params = sum(conv(a, b) + conv(b, b) for a, b in encoder)
    params += sum(up(c) + conv(c, c // 2) + conv(c // 2, c // 2) for c in (1024, 512, 256, 128))
    params += conv(64, 2, k=1)
    assert params == 31_030_658
    # a 1-class head instead of the paper's 2 classes gives the often-quoted 31,030,593
    assert params - conv(64, 2, k=1) + conv(64, 1, k=1) == 31_030_593

    def conv_macs(cin: int, cout: int, n_out: int, k: int = 3) -> int:
        return cout * n_out * n_out * cin * k * k

    # (in, out, first conv's output size) per level: 572 → 570, 568 | 284 → 282, 280 | ...
    enc_sizes = [570, 282, 138, 66, 30]
    macs = sum(conv_macs(a, b, n) + conv_macs(b, b, n - 2)
               for (a, b), n in zip(encoder, enc_sizes, strict=True))
    # decoder: up-conv from n_in to 2·n_in, then two convs
    for c, n_in in ((1024, 28), (512, 52), (256, 100), (128, 196)):
        macs += c * n_in * n_in * (c // 2) * 2 * 2
        macs += conv_macs(c, c // 2, 2 * n_in - 2) + conv_macs(c // 2, c // 2, 2 * n_in - 4)
    macs += conv_macs(64, 2, 388, k=1)
    report = _analyze("unet")
    assert report.totals.params == params
    assert report.totals.macs == macs == 150_428_424_448
    # copy and crop: 568 → 392, 280 → 200, 136 → 104, 64 → 56
    crops = [report.layer(f"crop{i}").output_shape for i in (1, 2, 3, 4)]
    assert crops == [(64, 392, 392), (128, 200, 200), (256, 104, 104), (512, 56, 56)]
    assert report.layer("cat1").output_shape == (128, 392, 392)
    assert _out(report) == (2, 388, 388)


def test_deeplab_by_hand() -> None:
    """DeepLab-LargeFOV: VGG-16's 13 convs (14,714,688 params) + fc6 3x3 512 → 1024 + fc7 1x1
    1024 → 1024 + fc8 1x1 1024 → 21, all with biases: 20,505,429 (paper Table 2: 20.5M)."""
    vgg_convs = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256),
                 (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    backbone = sum(b * a * 9 + b for a, b in vgg_convs)
    assert backbone == 14_714_688
    params = backbone + (1024 * 512 * 9 + 1024) + (1024 * 1024 + 1024) + (21 * 1024 + 21)
    assert params == 20_505_429
    sizes = [321] * 2 + [161] * 2 + [81] * 3 + [41] * 6  # output size of each conv
    macs = sum(b * n * n * a * 9 for (a, b), n in zip(vgg_convs, sizes, strict=True))
    macs += 41 * 41 * (1024 * 512 * 9 + 1024 * 1024 + 21 * 1024)
    report = _analyze("deeplab")
    assert report.totals.params == params
    assert report.totals.macs == macs == 50_928_085_696


# -------------------------------------------------------------------------- receptive field --


@pytest.mark.parametrize("name", ["alexnet", "alexnet_torchvision"])
def test_alexnet_rf(name: str) -> None:
    """r' = r + (k − 1)·j, j' = j·s: conv1 11/4 → 11 (j 4); pool1 3/2 → 11 + 2·4 = 19 (j 8);
    conv2 5 → 19 + 4·8 = 51; pool2 → 51 + 2·8 = 67 (j 16); conv3-5 3x3 → 67 + 3·2·16 = 163;
    pool5 → 163 + 2·16 = 195."""
    report = _analyze(name)
    assert [_rf(report, n) for n in ("conv1", "pool1", "conv2", "pool2", "conv5", "pool5")] == [
        11, 19, 51, 67, 163, 195]


@pytest.mark.parametrize("name", ["vgg16", "vgg16_bn"])
def test_vgg16_rf(name: str) -> None:
    """Two or three 3x3 convs per stage at jump 1, 2, 4, 8, 16 and 2x2/2 pools:
    stage 1: 1 + 2·2·1 = 5, pool → 6; stage 2: 6 + 2·2·2 = 14, pool → 16;
    stage 3: 16 + 3·2·4 = 40, pool → 44; stage 4: 44 + 3·2·8 = 92, pool → 100;
    stage 5: 100 + 3·2·16 = 196, pool5 → 196 + 1·16 = 212."""
    report = _analyze(name)
    assert [_rf(report, f"pool{i}") for i in (1, 2, 3, 4, 5)] == [6, 16, 44, 100, 212]


def test_resnet50_rf() -> None:
    """Only the 7x7/2 stem, the 3x3/2 pool and the 3x3 convs widen the field:
    stem 7 (j 2); pool 7 + 2·2 = 11 (j 4); layer1: 3 blocks at j 4 → 11 + 3·8 = 35;
    layer2: the strided 3x3 at j 4 → 43 (j 8), 3 more → 43 + 3·16 = 91;
    layer3: 91 + 16 = 107 (j 16), 5 more → 107 + 5·32 = 267;
    layer4: 267 + 32 = 299 (j 32), 2 more → 299 + 2·64 = 427."""
    report = _analyze("resnet50")
    assert _rf(report, "maxpool") == 11
    assert [_rf(report, f"layer{s}.{b}.add") for s, b in ((1, 2), (2, 3), (3, 5), (4, 2))] == [
        35, 91, 267, 427]


def test_deeplab_rf_grows_with_dilation() -> None:
    """A 3x3 kernel with dilation d spans d·(3 − 1) + 1 pixels, so at jump j it widens the field
    by 2·d·j. After pool3 the jump stays 8 (pool4/pool5 have stride 1): each conv5 layer (d 2)
    adds 2·2·8 = 32 (an undilated 3x3 adds 16, as conv4 does); fc6 (d 12) adds 2·12·8 = 192.
    pool3 → 51; conv4_1..3 → 67, 83, 99; pool4 (3x3/1) → 115; conv5_1..3 → 147, 179, 211;
    pool5 → 227; pool5a → 243; fc6 → 435."""
    report = _analyze("deeplab")
    assert _rf(report, "pool3") == 51
    assert _rf(report, "conv4_2") - _rf(report, "conv4_1") == 2 * 1 * 8
    for prev, layer in (("pool4", "conv5_1"), ("conv5_1", "conv5_2"), ("conv5_2", "conv5_3")):
        assert _rf(report, layer) - _rf(report, prev) == 2 * 2 * 8
    assert _rf(report, "fc6") - _rf(report, "pool5a") == 2 * 12 * 8
    assert [_rf(report, n) for n in ("pool4", "conv5_3", "pool5a", "fc6", "fc8")] == [
        115, 211, 243, 435, 435]
    rf = report.layer("fc8").rf_dict()
    assert rf is not None and rf["jump"] == [8, 8]  # output stride 8
