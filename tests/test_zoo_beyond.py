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
