"""Every figure of the lecture tables (``../shared/reference/lecture-tables.md``) for the bundled
lecture specs — alexnet, vgg16, vgg19, googlenet_stem, lenet5, lenet_example — worked out by hand.

Each table row is asserted twice: first the exact integers (shape, memory bytes, params, lecture
"flop" = MACs + pooling-window reads), with the arithmetic written out; then the figure the slide
prints, as the exact value rounded the way the slide rounds it (KB = bytes / 1024, params k =
/ 1000, flop M = / 10^6). Where the slide slipped, the test holds the first-principles value and
checks that it differs from what was printed; ``docs/lecture-errata.md`` derives each slip.
"""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from functools import cache

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli
from archcalc.layers import Conv
from archcalc.report import LayerRow, Report

KB = 1024  # the lectures' KB: bytes / 1024
F32 = 4  # bytes per float32 element


@cache
def bundled(name: str) -> Report:
    return archcalc.analyze(name)


def inline(text: str) -> Report:
    return archcalc.analyze(archcalc.load_spec(text))


def rounded(value: int, unit: int) -> int:
    """``value / unit`` rounded half up, as the slides round (253.5 KB is printed 254)."""
    q = Fraction(value, unit)
    return int(q + Fraction(1, 2)) if q >= 0 else -int(-q + Fraction(1, 2))


def rows_by_type(rep: Report, *types: str) -> list[LayerRow]:
    return [row for row in rep.layers if row.type in types]


# A table row: name, output shape, activation bytes, params, lecture flop, and the three figures
# the slide prints (memory KB, params k, flop M). SLIPS maps (table, layer, column) to the value
# the slide should have printed; the printed value kept in the row is the slide's.
Row = tuple[str, tuple[int, ...], int, int, int, tuple[int, int, int]]
COLUMNS = ("memory", "params", "flop")
UNITS = (KB, 1000, 10**6)


def check_rows(table: str, rep: Report, rows: list[Row],
               slips: dict[tuple[str, str, str], int]) -> None:
    for name, shape, nbytes, params, flop, printed in rows:
        row = rep.layer(name)
        assert row.output_shape == shape, name
        assert row.activation_bytes == nbytes, name
        assert row.params == params, name
        assert row.flops == flop, name
        for column, exact, unit, shown in zip(COLUMNS, (nbytes, params, flop), UNITS, printed,
                                               strict=True):
            correct = slips.get((table, name, column), shown)
            assert rounded(exact, unit) == correct, (table, name, column)
            if (table, name, column) in slips:
                assert correct != shown, f"{table} {name} {column} is listed as a slip"


# ------------------------------------------------------------------------------ AlexNet (003) --

ALEXNET: list[Row] = [
    # name, shape, bytes, params, flop (MACs + window reads), printed (KB, params k, flop M)
    ("conv1", (64, 56, 56), 64 * 56 * 56 * F32,  # (227 - 11 + 2*2)//4 + 1 = 56
     64 * 3 * 11 * 11 + 64, (64 * 56 * 56) * (3 * 11 * 11), (784, 23, 73)),
    ("pool1", (64, 27, 27), 64 * 27 * 27 * F32,  # (56 - 3)//2 + 1 = 27
     0, (64 * 27 * 27) * (3 * 3), (182, 0, 0)),
    ("conv2", (192, 27, 27), 192 * 27 * 27 * F32,
     192 * 64 * 5 * 5 + 192, (192 * 27 * 27) * (64 * 5 * 5), (547, 307, 224)),
    ("pool2", (192, 13, 13), 192 * 13 * 13 * F32,  # (27 - 3)//2 + 1 = 13
     0, (192 * 13 * 13) * (3 * 3), (127, 0, 0)),
    ("conv3", (384, 13, 13), 384 * 13 * 13 * F32,
     384 * 192 * 3 * 3 + 384, (384 * 13 * 13) * (192 * 3 * 3), (254, 664, 112)),
    ("conv4", (256, 13, 13), 256 * 13 * 13 * F32,
     256 * 384 * 3 * 3 + 256, (256 * 13 * 13) * (384 * 3 * 3), (169, 885, 145)),
    ("conv5", (256, 13, 13), 256 * 13 * 13 * F32,
     256 * 256 * 3 * 3 + 256, (256 * 13 * 13) * (256 * 3 * 3), (169, 590, 100)),
    ("pool5", (256, 6, 6), 256 * 6 * 6 * F32,  # (13 - 3)//2 + 1 = 6
     0, (256 * 6 * 6) * (3 * 3), (36, 0, 0)),
    ("flatten", (256 * 6 * 6,), 9216 * F32, 0, 0, (36, 0, 0)),
    ("fc6", (4096,), 4096 * F32, 9216 * 4096 + 4096, 9216 * 4096, (16, 37_749, 38)),
    ("fc7", (4096,), 4096 * F32, 4096 * 4096 + 4096, 4096 * 4096, (16, 16_777, 17)),
    ("fc8", (1000,), 1000 * F32, 4096 * 1000 + 1000, 4096 * 1000, (4, 4_096, 4)),
]
ALEXNET_SLIPS = {
    # (256*13*13)*(384*3*3) = 43,264 * 3,456 = 149,520,384 -> 150, printed 145
    ("alexnet", "conv4", "flop"): 150,
    # 9216*4096 + 4096 = 37,752,832 -> 37,753; the slide copied the flop 37,748,736 (no bias)
    ("alexnet", "fc6", "params"): 37_753,
    # the bias is left out: 4096*4096 + 4096 = 16,781,312 and 4096*1000 + 1000 = 4,097,000
    ("alexnet", "fc7", "params"): 16_781,
    ("alexnet", "fc8", "params"): 4_097,
}


def test_alexnet_every_row() -> None:
    check_rows("alexnet", bundled("alexnet"), ALEXNET, ALEXNET_SLIPS)
    assert [row.name for row in bundled("alexnet").layers] == [r[0] for r in ALEXNET]


def test_alexnet_worked_examples_on_the_slides() -> None:
    rep = bundled("alexnet")
    # "64 * 56 * 56 = 200,704" output elements; "200704 * 4 / 1024 = 784" KB
    assert rep.layer("conv1").activation_bytes == 200_704 * 4 == 784 * KB
    # "64 x 3 x 11 x 11 + 64 = 23,296" params; "200,704 * 363 = 72,855,552" flop
    assert rep.layer("conv1").params == 23_296
    assert rep.layer("conv1").macs == 200_704 * 363 == 72_855_552
    # pool1: "64 * 27 * 27 * 4 / 1024 = 182.25" KB; "(64*27*27) * (3*3) = 419,904" = 0.4 MFLOP
    assert Fraction(rep.layer("pool1").activation_bytes, KB) == Fraction(18225, 100)
    assert rep.layer("pool1").flops == 419_904
    # fc6: "FC flops = 9216 * 6409 = 37,748,736" — the product is 9216 * 4096 (slip: 6409)
    assert rep.layer("fc6").macs == 9216 * 4096 == 37_748_736
    # "9216 * 4096 + 4096 = 37,725,832" (slip: digits 52 and 25 swapped)
    assert rep.layer("fc6").params == 37_752_832  # printed 37,725,832


def test_alexnet_totals() -> None:
    t = bundled("alexnet").totals
    conv_params = 23_296 + 307_392 + 663_936 + 884_992 + 590_080
    fc_params = 37_752_832 + 16_781_312 + 4_097_000
    assert t.params == conv_params + fc_params == 61_100_840  # torchvision alexnet: 61,100,840
    conv_macs = 72_855_552 + 223_948_800 + 112_140_288 + 149_520_384 + 99_680_256
    fc_macs = 37_748_736 + 16_777_216 + 4_096_000
    # torchvision's AlexNet fed 227x227 (/tmp/torchref alexnet_227): 716,767,232 MACs
    assert t.macs == conv_macs + fc_macs == 716_767_232
    windows = 419_904 + 292_032 + 82_944
    assert t.flops == t.macs + windows == 717_562_112  # "0.7 GFLOP"
    assert rounded(t.flops, 10**8) == 7
    assert rounded(t.params, 10**6) == 61  # "61M"
    elements = (200_704 + 46_656 + 139_968 + 32_448 + 64_896 + 43_264 + 43_264 + 9216 + 9216
                + 4096 + 4096 + 1000)
    assert t.activation_bytes == elements * F32 == 2_395_296
    # the per-layer column sums to 2,339.2 KB = 2.28 MiB; the slide's total "1.9 MB" is a slip.
    # It is what the conv and fc rows alone give: 1,958.2 KB = 1.91 MiB (pools and flatten left
    # out of the sum).
    assert rounded(t.activation_bytes * 10, 2**20) == 23  # 2.3 MiB, printed 1.9
    conv_fc = sum(r.activation_bytes for r in rows_by_type(bundled("alexnet"), "conv", "fc"))
    assert conv_fc == (200_704 + 139_968 + 64_896 + 43_264 + 43_264 + 4096 + 4096 + 1000) * F32
    assert rounded(conv_fc * 10, 2**20) == 19
    # peak live memory: the input and conv1's output, (3*227*227 + 64*56*56) * 4 bytes
    assert t.peak_activation_bytes == (3 * 227 * 227 + 64 * 56 * 56) * F32


def test_alexnet_receptive_field() -> None:
    # r' = r + (k - 1)*j, j' = j*s, from r = j = 1:
    # conv1 k11 s4: 1 + 10 = 11, j 4 · pool1 k3 s2: 11 + 2*4 = 19, j 8 · conv2 k5: 19 + 4*8 = 51
    # pool2 k3 s2: 51 + 2*8 = 67, j 16 · conv3/4/5 k3: 99, 131, 163 · pool5 k3: 163 + 2*16 = 195
    expected = {"conv1": 11, "pool1": 19, "conv2": 51, "pool2": 67, "conv3": 99, "conv4": 131,
                "conv5": 163, "pool5": 195}
    rep = bundled("alexnet")
    for name, size in expected.items():
        rf = rep.layer(name).receptive_field
        assert rf is not None
        assert [a.size for a in rf] == [size, size], name
    rf5 = rep.layer("pool5").receptive_field
    assert rf5 is not None and [a.jump for a in rf5] == [32, 32]  # 4 * 2 * 2 * 2
    assert rep.layer("flatten").receptive_field is None


# ------------------------------------------------------------------------------- VGG (003/004) --

# seed 004, "VGG16 - Structural Details": params per row, (in*3*3 + 1)*out for the convs
VGG16_PARAMS = {
    "conv1_1": 1_792, "conv1_2": 36_928, "conv2_1": 73_856, "conv2_2": 147_584,
    "conv3_1": 295_168, "conv3_2": 590_080, "conv3_3": 590_080, "conv4_1": 1_180_160,
    "conv4_2": 2_359_808, "conv4_3": 2_359_808, "conv5_1": 2_359_808, "conv5_2": 2_359_808,
    "conv5_3": 2_359_808, "fc6": 102_764_544, "fc7": 16_781_312, "fc8": 4_097_000,
}
VGG16_CONVS = [  # name, C_in, C_out, H = W
    ("conv1_1", 3, 64, 224), ("conv1_2", 64, 64, 224),
    ("conv2_1", 64, 128, 112), ("conv2_2", 128, 128, 112),
    ("conv3_1", 128, 256, 56), ("conv3_2", 256, 256, 56), ("conv3_3", 256, 256, 56),
    ("conv4_1", 256, 512, 28), ("conv4_2", 512, 512, 28), ("conv4_3", 512, 512, 28),
    ("conv5_1", 512, 512, 14), ("conv5_2", 512, 512, 14), ("conv5_3", 512, 512, 14),
]
VGG16_POOLS = [("pool1", 64, 112), ("pool2", 128, 56), ("pool3", 256, 28), ("pool4", 512, 14),
               ("pool5", 512, 7)]


def test_vgg16_rows_follow_the_lecture_rules() -> None:
    rep = bundled("vgg16")
    for name, cin, cout, n in VGG16_CONVS:  # 3x3 s1 p1: size kept; C_out*9*C_in + C_out
        row = rep.layer(name)
        assert row.output_shape == (cout, n, n), name
        assert row.params == cout * cin * 3 * 3 + cout == VGG16_PARAMS[name], name
        assert row.flops == row.macs == (cout * n * n) * (cin * 3 * 3), name
        assert row.activation_bytes == cout * n * n * F32, name
    for name, c, n in VGG16_POOLS:  # 2x2 s2: size halves, no params, (C*H'*W')*(2*2) reads
        row = rep.layer(name)
        assert row.output_shape == (c, n, n), name
        assert row.params == 0 and row.macs == 0, name
        assert row.flops == (c * n * n) * (2 * 2), name
    for name, fin, fout in (("fc6", 512 * 7 * 7, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000)):
        row = rep.layer(name)
        assert row.params == fin * fout + fout == VGG16_PARAMS[name], name
        assert row.macs == fin * fout, name
    assert {r.name: r.params for r in rep.layers if r.params} == VGG16_PARAMS


def test_vgg16_totals_against_the_slides() -> None:
    rep = bundled("vgg16")
    t = rep.totals
    # seed 004's total 138,423,208 includes a max-pool row printed with 65,664 params — the conv
    # rule applied to the pool: 2*2*128*128 + 128 = 65,664. Without it: 138,357,544, which is
    # also torchvision's vgg16 (VGG16_Weights.IMAGENET1K_V1 num_params).
    assert t.params == sum(VGG16_PARAMS.values()) == 138_357_544
    assert t.params == 138_423_208 - 65_664 and 65_664 == 2 * 2 * 128 * 128 + 128
    assert rep.layer("pool2").params == 0
    # MACs: torchvision vgg16 15,470,264,320 (conv 15,346,630,656 + fc 123,633,664)
    conv_macs = sum((co * n * n) * (ci * 9) for _, ci, co, n in VGG16_CONVS)
    assert conv_macs == 15_346_630_656
    assert t.macs == conv_macs + 25088 * 4096 + 4096 * 4096 + 4096 * 1000 == 15_470_264_320
    windows = sum(c * n * n * 4 for _, c, n in VGG16_POOLS)
    assert t.flops == t.macs + windows == 15_476_385_792
    elements = (sum(co * n * n for _, _, co, n in VGG16_CONVS)
                + sum(c * n * n for _, c, n in VGG16_POOLS) + 25088 + 4096 + 4096 + 1000)
    assert t.activation_bytes == elements * F32 == 60_448_672
    # The slide: "VGG-16 total: 48.6 MB (25x) · 138M (2.3x) · 13.6 GFLOP (19.4x)".
    # First principles: 57.6 MiB and 15.5 GFLOP (slips); 138M is right.
    assert rounded(t.activation_bytes * 10, 2**20) == 576  # 57.6 MiB, printed 48.6
    assert rounded(t.flops, 10**8) == 155  # 15.5 GFLOP, printed 13.6
    assert rounded(t.params, 10**6) == 138
    # ratios to AlexNet: memory 25.2x ("25x"), params 2.3x, flop 21.6x (printed 19.4x)
    alex = bundled("alexnet").totals
    assert rounded(10 * t.activation_bytes, alex.activation_bytes) == 252
    assert rounded(10 * t.params, alex.params) == 23
    assert rounded(10 * t.flops, alex.flops) == 216  # printed 19.4x


def test_vgg16_slide_totals_reconstructed() -> None:
    """The printed VGG-16 totals are what a 12-conv VGG-16 gives — conv3_3 missing (the slide's
    "Stage 3: conv-conv-pool") — with memory summed over conv and fc rows only (as AlexNet's
    "1.9 MB")."""
    rep = bundled("vgg16")
    conv3_3 = rep.layer("conv3_3")
    assert conv3_3.macs == (256 * 56 * 56) * (256 * 9) == 1_849_688_064
    conv_fc = sum(r.activation_bytes for r in rows_by_type(rep, "conv", "fc"))
    memory = conv_fc - conv3_3.activation_bytes
    assert memory == 51_015_584  # 48.65 MiB, printed 48.6
    assert Fraction(486, 10) < Fraction(memory, 2**20) < Fraction(487, 10)
    assert rounded(rep.totals.flops - conv3_3.flops, 10**8) == 136  # 13.6 GFLOP
    assert rounded(rep.totals.params - conv3_3.params, 10**6) == 138  # still "138M"


def test_vgg16_up_to_28_compared_with_googlenet_stem() -> None:
    """Seed 003: "Compare VGG-16 (224 -> 28): 42.9 MB, 1.1M params, 7485 MFLOP"."""
    rep = bundled("vgg16")
    names = [r.name for r in rep.layers]
    upto = rep.layers[: names.index("pool3") + 1]  # conv1_1 ... pool3, output 256x28x28
    assert upto[-1].output_shape == (256, 28, 28)
    memory = sum(r.activation_bytes for r in upto)
    assert memory == (2 * 64 * 224 * 224 + 64 * 112 * 112 + 2 * 128 * 112 * 112
                      + 128 * 56 * 56 + 3 * 256 * 56 * 56 + 256 * 28 * 28) * F32
    assert memory == 52_528 * KB  # 51.3 MiB, printed 42.9
    assert sum(r.params for r in upto) == 1_792 + 36_928 + 73_856 + 147_584 + 295_168 \
        + 2 * 590_080 == 1_735_488  # 1.7M, printed 1.1M
    assert sum(r.flops for r in upto) == 9_340_764_160  # 9341 MFLOP, printed 7485
    # The printed figures are exactly conv1_1 ... conv3_2 without the pools (conv3_3 missing):
    convs = upto[:2] + upto[3:5] + upto[6:8]
    assert [r.name for r in convs] == ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1",
                                       "conv3_2"]
    assert sum(r.activation_bytes for r in convs) == 43_904 * KB  # 42.875 MiB -> "42.9 MB"
    assert sum(r.params for r in convs) == 1_145_408  # "1.1M"
    assert sum(r.flops for r in convs) == 7_485_456_384  # "7485"


def test_vgg_receptive_fields() -> None:
    # VGG-16: each 3x3 conv adds 2*j, each 2x2/2 pool adds 1*j and doubles j:
    # stage 1 (j 1): 1 + 2 + 2 = 5, pool1 6 · stage 2 (j 2): 6 + 4 + 4 = 14, pool2 16
    # stage 3 (j 4): 16 + 3*8 = 40, pool3 44 · stage 4 (j 8): 44 + 3*16 = 92, pool4 100
    # stage 5 (j 16): 100 + 3*32 = 196, pool5 196 + 16 = 212
    rf = bundled("vgg16").layer("pool5").receptive_field
    assert rf is not None and [a.size for a in rf] == [212, 212]
    # the slide's rule 1 + L*(K - 1) for the stride-1 convs of stage 1: 1 + 2*2 = 5
    rf12 = bundled("vgg16").layer("conv1_2").receptive_field
    assert rf12 is not None and rf12[0].size == 1 + 2 * (3 - 1)
    # VGG-19 adds conv3_4 (2*4), conv4_4 (2*8), conv5_4 (2*16): 212 + 8 + 16 + 32 = 268
    rf19 = bundled("vgg19").layer("pool5").receptive_field
    assert rf19 is not None and [a.size for a in rf19] == [268, 268]


def test_vgg19() -> None:
    rep = bundled("vgg19")
    convs = rows_by_type(rep, "conv")
    # 2 + 2 + 4 + 4 + 4 convs + 3 fc = 19 weight layers (the slide: "4 conv in stages 4 and 5"
    # would give 18); VGG-16 has 2 + 2 + 3 + 3 + 3 + 3 = 16 (the slide's "Stage 3:
    # conv-conv-pool" would give 15)
    assert len(convs) + len(rows_by_type(rep, "fc")) == 19
    assert [r.name for r in convs if r.name.startswith("conv3")] == [
        "conv3_1", "conv3_2", "conv3_3", "conv3_4"]
    assert len(rows_by_type(bundled("vgg16"), "conv", "fc")) == 16
    # params: VGG-16 + conv3_4 + conv4_4 + conv5_4 (torchvision vgg19: 143,667,240)
    assert rep.totals.params == 138_357_544 + 590_080 + 2_359_808 + 2_359_808 == 143_667_240
    # MACs: "VGG-19 (19.6 billion FLOPs)", He et al. 2016 Fig. 3 (seed 001); torchvision vgg19
    extra = (256 * 56 * 56) * (256 * 9) + (512 * 28 * 28) * (512 * 9) + (512 * 14 * 14) * (512 * 9)
    assert rep.totals.macs == 15_470_264_320 + extra == 19_632_062_464
    assert rounded(rep.totals.macs, 10**8) == 196


def test_vgg_design_rules_slide() -> None:
    """Seed 003, VGG design rules: on C x 2H x 2W a Conv(3x3, C -> C) has memory 4HWC, params
    9C^2, FLOPs 36HWC^2 (bias not counted); 5x5 costs 25C^2 / 25C^2HW vs two 3x3: 18C^2 /
    18C^2HW. Checked at C = 64, H = W = 28 with bias: false."""
    c, h = 64, 28
    rep = inline(f"""\
archcalc: 1
name: rules
input: [{c}, {2 * h}, {2 * h}]
defaults:
  conv: {{bias: false}}
layers:
  - conv: {{id: a, out: {c}, k: 3, p: 1}}
""")
    a = rep.layer("a")
    assert a.activation_bytes == 4 * h * h * c * F32
    assert a.params == 9 * c * c
    assert a.macs == 36 * h * h * c * c
    rep = inline(f"""\
archcalc: 1
name: 5x5 vs two 3x3
input: [{c}, {h}, {h}]
defaults:
  conv: {{bias: false}}
layers:
  - conv: {{id: five, out: {c}, k: 5, p: 2}}
  - conv: {{id: three_a, in: input, out: {c}, k: 3, p: 1}}
  - conv: {{id: three_b, out: {c}, k: 3, p: 1}}
""")
    assert rep.layer("five").params == 25 * c * c
    assert rep.layer("five").macs == 25 * c * c * h * h
    two = (rep.layer("three_a"), rep.layer("three_b"))
    assert sum(r.params for r in two) == 18 * c * c
    assert sum(r.macs for r in two) == 18 * c * c * h * h


# ----------------------------------------------------------------------------- GoogLeNet (003) --

GOOGLENET_STEM: list[Row] = [
    ("conv1", (64, 112, 112), 64 * 112 * 112 * F32,  # (224 + 2*3 - 7)//2 + 1 = 112
     64 * 3 * 7 * 7 + 64, (64 * 112 * 112) * (3 * 7 * 7), (3136, 9, 118)),
    ("pool1", (64, 56, 56), 64 * 56 * 56 * F32,  # (112 + 2*1 - 3)//2 + 1 = 56
     0, (64 * 56 * 56) * (3 * 3), (784, 0, 2)),
    ("conv2_reduce", (64, 56, 56), 64 * 56 * 56 * F32,
     64 * 64 * 1 * 1 + 64, (64 * 56 * 56) * (64 * 1 * 1), (784, 4, 13)),
    ("conv2", (192, 56, 56), 192 * 56 * 56 * F32,
     192 * 64 * 3 * 3 + 192, (192 * 56 * 56) * (64 * 3 * 3), (2352, 111, 347)),
    ("pool2", (192, 28, 28), 192 * 28 * 28 * F32,  # (56 + 2*1 - 3)//2 + 1 = 28
     0, (192 * 28 * 28) * (3 * 3), (588, 0, 1)),
]


def test_googlenet_stem_rows_and_totals() -> None:
    rep = bundled("googlenet_stem")
    check_rows("googlenet_stem", rep, GOOGLENET_STEM, {})
    assert [r.name for r in rep.layers] == [r[0] for r in GOOGLENET_STEM]
    t = rep.totals
    # "Memory: 7.5 MB": 3136 + 784 + 784 + 2352 + 588 = 7644 KB = 7.46 MiB
    assert t.activation_bytes == (3136 + 784 + 784 + 2352 + 588) * KB
    assert rounded(t.activation_bytes * 10, 2**20) == 75
    # "Params: 124K": 9,472 + 4,160 + 110,784 = 124,416
    assert t.params == 9_472 + 4_160 + 110_784 == 124_416
    # "MFLOP: 418" is a slip: the rows sum to 118.0 + 1.8 + 12.8 + 346.8 + 1.4 = 480.8 -> 481
    assert t.flops == 118_013_952 + 1_806_336 + 12_845_056 + 346_816_512 + 1_354_752
    assert t.flops == 480_836_608
    assert rounded(t.flops, 10**6) == 481  # printed 418
    # ratios against VGG-16 from 224 to 28 (conv1_1 ... pool3): memory 52,528 / 7,644 KB = 6.9x
    # (printed 5.7x), params 1,735,488 / 124,416 = 13.9x (8.9x), flop 9,340,764,160 /
    # 480,836,608 = 19.4x (17.8x)
    assert rounded(52_528 * 10, 7_644) == 69
    assert rounded(1_735_488 * 10, t.params) == 139
    assert rounded(9_340_764_160 * 10, t.flops) == 194


def test_googlenet_head_and_vgg16_head() -> None:
    """Seed 003, "GoogLeNet: Global Average Pooling": avg-pool 1024x7 -> 1 (4 KB, 0, 0) and fc
    1024 -> 1000 (memory printed 0: a slip for 4 KB; params 1025 k; flop 1 M)."""
    rep = inline("""\
archcalc: 1
name: GoogLeNet head
input: [1024, 7, 7]
layers:
  - avgpool: {id: avgpool, k: 7, s: 1}
  - fc: {id: fc, out: 1000}
""")
    head: list[Row] = [
        ("avgpool", (1024, 1, 1), 1024 * F32, 0, (1024 * 1 * 1) * (7 * 7), (4, 0, 0)),
        ("fc", (1000,), 1000 * F32, 1024 * 1000 + 1000, 1024 * 1000, (0, 1025, 1)),
    ]
    check_rows("googlenet_head", rep, head, {("googlenet_head", "fc", "memory"): 4})
    # "Compare with VGG16": flatten 98 KB; fc6 102760 K / 103 M, fc7 16777 / 17, fc8 4096 / 4 —
    # the params leave the bias out (slips): 102,764,544 / 16,781,312 / 4,097,000
    vgg: list[Row] = [
        ("flatten", (25088,), 512 * 7 * 7 * F32, 0, 0, (98, 0, 0)),
        ("fc6", (4096,), 4096 * F32, 25088 * 4096 + 4096, 25088 * 4096, (16, 102_760, 103)),
        ("fc7", (4096,), 4096 * F32, 4096 * 4096 + 4096, 4096 * 4096, (16, 16_777, 17)),
        ("fc8", (1000,), 1000 * F32, 4096 * 1000 + 1000, 4096 * 1000, (4, 4_096, 4)),
    ]
    check_rows("vgg16_head", bundled("vgg16"), vgg, {
        ("vgg16_head", "fc6", "params"): 102_765,
        ("vgg16_head", "fc7", "params"): 16_781,
        ("vgg16_head", "fc8", "params"): 4_097,
    })
    # seed 001: an fc from 7x7x1024 to 1024 has "7 x 7 x 1024 x 1024 = 51.3M" weights:
    # 51,380,224 = 51.4M (the slide truncates)
    assert 7 * 7 * 1024 * 1024 == 51_380_224 and rounded(51_380_224, 10**5) == 514


def test_inception_bottleneck_figures() -> None:
    """Seeds 000 and 001: the cost of a 5x5 conv with and without a 1x1 bottleneck."""
    rep = inline("""\
archcalc: 1
name: bottleneck 28
input: [192, 28, 28]
layers:
  - conv: {id: direct, out: 32, k: 5, p: 2}
  - conv: {id: reduce, in: input, out: 16, k: 1}
  - conv: {id: five, out: 32, k: 5, p: 2}
""")
    assert rep.layer("direct").macs == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400  # "120m"
    assert rep.layer("reduce").macs == 28 * 28 * 16 * 192 == 2_408_448  # "2.4m"
    assert rep.layer("five").macs == 28 * 28 * 32 * 5 * 5 * 16 == 10_035_200  # "10m"
    assert rounded(2_408_448 + 10_035_200, 10**5) == 124  # "12.4m"
    rep = inline("""\
archcalc: 1
name: bottleneck 14
input: [480, 14, 14]
layers:
  - conv: {id: direct, out: 48, k: 5, p: 2}
  - conv: {id: reduce, in: input, out: 16, k: 1}
  - conv: {id: five, out: 48, k: 5, p: 2}
""")
    assert rep.layer("direct").macs == (14 * 14 * 48) * (5 * 5 * 480) == 112_896_000  # 112.9M
    assert rep.layer("reduce").macs == (14 * 14 * 16) * (1 * 1 * 480) == 1_505_280  # 1.5M
    assert rep.layer("five").macs == (14 * 14 * 48) * (5 * 5 * 16) == 3_763_200  # 3.8M
    assert rounded(1_505_280 + 3_763_200, 10**5) == 53  # "5.3M"


def test_factorisation_figures() -> None:
    """Seed 001: 5x5 -> two 3x3 is 25 -> 18 weights per channel pair (-28%); 3x3 -> 3x1 + 1x3
    is 9 -> 6 (-33%)."""
    rep = inline("""\
archcalc: 1
name: factorised
input: [1, 9, 9]
defaults:
  conv: {bias: false}
layers:
  - conv: {id: k3, out: 1, k: 3, p: 1}
  - conv: {id: k31, in: input, out: 1, k: [3, 1], p: [1, 0]}
  - conv: {id: k13, out: 1, k: [1, 3], p: [0, 1]}
""")
    assert rep.layer("k3").params == 9
    assert rep.layer("k31").params + rep.layer("k13").params == 6
    assert rep.layer("k13").output_shape == (1, 9, 9)
    assert rounded(100 * (25 - 18), 25) == 28 and rounded(100 * (9 - 6), 9) == 33


# ------------------------------------------------------------------------------ LeNet (000/004) --

# LeCun et al. 1998, Table I: the input maps of each C3 output map
LECUN_TABLE_I = [
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5),
]

LENET5: list[tuple[str, tuple[int, ...], int, int, int]] = [
    # name, shape, params, MACs, lecture flop
    ("C1", (6, 28, 28), 6 * (5 * 5 * 1 + 1), (6 * 28 * 28) * 25, (6 * 28 * 28) * 25),
    # S2: 2 params per map; one coefficient multiply per output + 2*2 window reads
    ("S2", (6, 14, 14), 6 + 6, 6 * 14 * 14, 6 * 14 * 14 * (1 + 2 * 2)),
    # C3: 6 maps see 3 inputs, 9 see 4, 1 sees 6: (6*3 + 9*4 + 6) = 60 kernels of 5x5
    ("C3", (16, 10, 10), 6 * (5 * 5 * 3 + 1) + 9 * (5 * 5 * 4 + 1) + 1 * (5 * 5 * 6 + 1),
     (10 * 10) * 60 * 25, (10 * 10) * 60 * 25),
    ("S4", (16, 5, 5), 16 + 16, 16 * 5 * 5, 16 * 5 * 5 * (1 + 2 * 2)),
    ("C5", (120, 1, 1), 120 * (5 * 5 * 16 + 1), 120 * 5 * 5 * 16, 120 * 5 * 5 * 16),
    ("F6", (84,), 84 * (120 + 1), 120 * 84, 120 * 84),
    # 10 Euclidean RBF units, y_i = sum_j (x_j - w_ij)^2: 84*10 centres, no bias
    ("output", (10,), 84 * 10, 84 * 10, 84 * 10),
]


def test_lenet5_every_layer() -> None:
    rep = bundled("lenet5")
    assert [r.name for r in rep.layers] == [r[0] for r in LENET5]
    for name, shape, params, macs, flop in LENET5:
        row = rep.layer(name)
        assert row.output_shape == shape, name
        assert row.params == params, name
        assert row.macs == macs, name
        assert row.flops == flop, name
        assert row.activation_bytes == (shape[0] * (shape[1] * shape[2] if len(shape) == 3
                                                    else 1)) * F32, name
    # the slides (004): C1 156, S2 12, C3 1516, S4 "12" (slip: 32), C5 "42120" (slip: 48120)
    assert [rep.layer(n).params for n in ("C1", "S2", "C3", "S4", "C5")] == [
        156, 12, 1516, 32, 48_120]
    assert rep.layer("S4").params != 12 and rep.layer("C5").params != 42_120
    # LeCun 1998, §II-B: "60,000 trainable parameters"; F6 10,164
    assert rep.totals.params == 156 + 12 + 1516 + 32 + 48_120 + 10_164 + 840 == 60_840


def test_lenet5_connections_as_in_the_paper() -> None:
    """LeCun 1998 §II-B gives each layer's connections (MACs plus one bias connection per
    output): C1 122,304 · S2 5,880 · C3 151,600 · S4 2,000 · C5 48,120 · F6 10,164."""
    rep = bundled("lenet5")
    paper = {"C1": 122_304, "C3": 151_600, "C5": 48_120, "F6": 10_164}
    for name, connections in paper.items():
        row = rep.layer(name)
        outputs = row.output_shape[0] * (row.output_shape[1] * row.output_shape[2]
                                         if len(row.output_shape) == 3 else 1)
        assert row.macs + outputs == connections, name
    # subsampling: 4 inputs + 1 bias per output; the lecture flop counts the 4 window reads and
    # the coefficient multiply: the same number
    assert rep.layer("S2").flops == 5_880 and rep.layer("S4").flops == 2_000


def test_lenet5_c3_connection_table() -> None:
    graph = archcalc.to_graph("lenet5")
    (c3,) = [n for n in graph.nodes if n.name == "C3"]
    assert isinstance(c3.op, Conv)
    conn = c3.op.connections
    assert conn == tuple(LECUN_TABLE_I)
    sizes = [len(c) for c in conn]
    assert (sizes.count(3), sizes.count(4), sizes.count(6)) == (6, 9, 1)
    # each input map feeds 10 of the 16 output maps (Table I has 10 X per row)
    assert all(sum(i in c for c in conn) == 10 for i in range(6))
    # LeCun's Table I, row 0: input map 0 feeds columns 0, 4, 5, 6, 9, 10, 11, 12, 14, 15
    assert [j for j, c in enumerate(conn) if 0 in c] == [0, 4, 5, 6, 9, 10, 11, 12, 14, 15]


def test_lenet_example() -> None:
    """Seed 000, "Neural network example": activation shapes and sizes and the printed params."""
    rep = bundled("lenet_example")
    assert rep.input_shape == (3, 32, 32) and 32 * 32 * 3 == 3_072  # "Input: (32,32,3) 3,072"
    expected = [
        # name, shape, activation size, params (as the slide writes them)
        ("conv1", (8, 28, 28), 6_272, (5 * 5 * 3 + 1) * 8),  # (32 - 5)//1 + 1 = 28
        ("pool1", (8, 14, 14), 1_568, 0),
        ("conv2", (16, 10, 10), 1_600, (5 * 5 * 8 + 1) * 16),  # (14 - 5) + 1 = 10
        ("pool2", (16, 5, 5), 400, 0),
        ("flatten", (400,), 400, 0),
        ("fc3", (120,), 120, 5 * 5 * 16 * 120 + 120),
        ("fc4", (84,), 84, 120 * 84 + 84),
        ("softmax", (10,), 10, 84 * 10 + 10),
    ]
    assert [r.name for r in rep.layers] == [e[0] for e in expected]
    for name, shape, size, params in expected:
        row = rep.layer(name)
        assert row.output_shape == shape, name
        assert row.activation_bytes == size * F32, name
        assert row.params == params, name
    assert [rep.layer(n).params for n in ("conv1", "conv2", "fc3", "fc4", "softmax")] == [
        608, 3_216, 48_120, 10_164, 850]
    assert rep.totals.params == 608 + 3_216 + 48_120 + 10_164 + 850 == 62_958
    # MACs: 8*28*28*75 + 16*10*10*200 + 400*120 + 120*84 + 84*10
    assert rep.totals.macs == 470_400 + 320_000 + 48_000 + 10_080 + 840 == 849_320


# ------------------------------------------------------------------- `archcalc table alexnet` --

ALEXNET_NAMES = [r[0] for r in ALEXNET]


def run_table(*args: str) -> str:
    result = CliRunner().invoke(cli, ["table", "alexnet", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_json_contract() -> None:
    data = json.loads(run_table("--format", "json"))
    assert set(data) == {"archcalc_json", "name", "input_shape", "batch", "dtype", "convention",
                         "convention_text", "scale", "output", "layers", "groups", "totals",
                         "warnings"}
    assert data["archcalc_json"] == 3 and data["groups"] == []  # AlexNet has no groups
    assert data["input_shape"] == [3, 227, 227] and data["batch"] == 1
    assert data["dtype"] == "float32" and data["convention"] == "lecture"
    assert data["output"] == "fc8" and data["warnings"] == []
    assert [layer["name"] for layer in data["layers"]] == ALEXNET_NAMES
    assert set(data["layers"][0]) == {"name", "type", "post", "path", "inputs", "output_shape",
                                      "params", "buffers", "macs", "flops", "activation_bytes",
                                      "receptive_field"}
    conv1 = data["layers"][0]
    assert conv1["output_shape"] == [64, 56, 56] and conv1["post"] == ["relu"]
    assert conv1["params"] == 64 * 3 * 11 * 11 + 64
    assert conv1["macs"] == conv1["flops"] == (64 * 56 * 56) * (3 * 11 * 11)
    assert conv1["activation_bytes"] == 64 * 56 * 56 * 4
    assert conv1["receptive_field"] == {"size": [11, 11], "jump": [4, 4], "start": [3, 3]}
    pool1 = data["layers"][1]
    assert pool1["macs"] == 0 and pool1["flops"] == (64 * 27 * 27) * 9
    assert data["layers"][8]["receptive_field"] is None  # flatten
    assert data["totals"] == {
        "params": 61_100_840, "buffers": 0, "macs": 716_767_232, "flops": 717_562_112,
        "activation_bytes": 2_395_296, "param_bytes": 61_100_840 * 4,
        "peak_activation_bytes": (3 * 227 * 227 + 64 * 56 * 56) * 4,
        "input_bytes": 3 * 227 * 227 * 4, "buffer_bytes": 0,
        "estimated_total_bytes": 61_100_840 * 4 + (3 * 227 * 227 + 64 * 56 * 56) * 4,
    }
    assert all(isinstance(v, int) for v in data["totals"].values())


def test_cli_csv() -> None:
    text = run_table("--format", "csv")
    assert text.startswith("# AlexNet (lecture variant) · input 3×227×227 · batch 1 · ")
    rows = list(csv.reader(io.StringIO(text.split("\n", 1)[1])))
    assert len(rows) == 1 + 12 + 1  # header, one per layer, totals
    header = rows[0]
    assert header[:3] == ["name", "type", "post"]
    by_name = {r[0]: dict(zip(header, r, strict=True)) for r in rows[1:]}
    assert list(by_name) == [*ALEXNET_NAMES, "total"]
    assert by_name["conv4"]["params"] == str(256 * 384 * 3 * 3 + 256)
    assert by_name["conv4"]["flops"] == str((256 * 13 * 13) * (384 * 3 * 3))
    assert by_name["fc6"]["params"] == str(9216 * 4096 + 4096)
    assert by_name["pool5"]["rf_size"] == "195x195"
    assert by_name["total"]["params"] == "61100840"
    assert by_name["total"]["flops"] == "717562112"


def test_cli_markdown() -> None:
    text = run_table("--format", "markdown")
    table = [line for line in text.split("\n\n")[1].splitlines() if line.startswith("|")]
    # header, separator, 12 layers, totals
    assert len(table) == 2 + 12 + 1
    assert [line.split("|")[1].strip() for line in table[2:14]] == ALEXNET_NAMES
    assert "**total**" in table[-1] and "**61,100.8**" in table[-1]
    assert "| fc6 | fc+relu | 4096 | 16.0 | 37,752.8 | 37.7 | – |" in table
    assert "FLOPs = MACs + pooling-window reads" in text  # the one-line convention
    assert "61,100,840" in text and "716,767,232" in text and "717,562,112" in text
    full = run_table("--format", "markdown", "--explain-convention")
    assert "convention: MAC = one multiply-accumulate" in full


def test_cli_latex() -> None:
    text = run_table("--format", "latex")
    lines = text.splitlines()
    body = lines[lines.index("\\midrule") + 1: len(lines) - lines[::-1].index("\\midrule") - 1]
    assert [line.split(" & ")[0] for line in body] == ALEXNET_NAMES
    assert "\\begin{tabular}" in text and "\\bottomrule" in text
    assert any(line.startswith("total & ") for line in lines)
    assert any(line.startswith("% FLOPs = MACs + pooling-window reads") for line in lines)
    full = run_table("--format", "latex", "--explain-convention").splitlines()
    assert any(line.startswith("% convention: MAC = one multiply-accumulate") for line in full)
    assert "conv4 & conv+relu & 256$\\times$13$\\times$13 & 169.0 & 885.0 & 149.5 & 131" in text


def test_cli_rich_table() -> None:
    text = run_table()  # the default format: the text table (not a terminal: no styles)
    lines = text.splitlines()
    for name in ALEXNET_NAMES:
        assert any(line.startswith(f"{name} ") for line in lines), name
    assert "FLOPs: lecture" in text and "pooling-window reads" in text
    assert "61,100,840" in text and "717,562,112" in text
    assert "2,339.2" in text  # memory total, KB


@pytest.mark.parametrize("fmt", ["table", "markdown", "latex"])
def test_cli_convention_line_in_every_human_format(fmt: str) -> None:
    text = run_table("--format", fmt)
    assert "pooling-window reads" in " ".join(text.split())
