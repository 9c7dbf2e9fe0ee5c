"""Model zoo, part 2: mobile and scaled networks (MobileNetV2/V3, EfficientNet B0-B7,
ShuffleNetV2) against torchvision's exact counts and the papers' published figures.

Sources of the expected numbers:

* "torchvision" — torchvision 0.29.1, model built with ``weights=None``, eval mode, one forward
  of a zeros tensor: params = sum of ``p.numel()``; buffers = BN running mean + var (without
  ``num_batches_tracked``); MACs = conv ``out.numel()·(in/groups)·∏k`` + linear
  ``out.numel()·in_features`` and nothing else. Where torchvision ships weights, its metadata
  (``num_params``, ``_ops`` in GFLOPS) agrees: ``_ops`` is exactly these MACs / 1e9, rounded.
* "paper" — the architecture papers' tables, rounded as printed.
* "hand" — worked out in the comment next to the assertion.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli
from archcalc.expr import make_divisible
from archcalc.report import Report

# (spec, scale overrides, input override) → (params, buffers, MACs, output shape)
Case = tuple[str, dict[str, float], tuple[int, ...] | None, int, int, int, tuple[int, ...]]

ZOO: list[Case] = [
    # MobileNetV2 1.0/224. torchvision num_params 3,504,872, _ops 0.301 GFLOPS; paper
    # (Sandler et al. 2018, Table 4) "300M mult-adds, 3.4M params": 300M is 300,774,272
    # rounded; 3.4M matches neither 3,504,872 nor 3,504,872 - 34,112 BN gammas/betas =
    # 3,470,760 (3.5M), so the exact torchvision count is used.
    ("mobilenet_v2", {}, None, 3_504_872, 34_112, 300_774_272, (1000,)),
    # mobilenet_v2(width_mult=w), torchvision (no weights shipped for w != 1; counts computed
    # as described above). The width enters through the spec's `width` scale parameter.
    ("mobilenet_v2", {"width": 0.35}, None, 1_677_128, 14_080, 59_285_808, (1000,)),
    ("mobilenet_v2", {"width": 0.5}, None, 1_968_680, 18_544, 97_131_840, (1000,)),
    ("mobilenet_v2", {"width": 0.75}, None, 2_636_424, 26_640, 209_069_792, (1000,)),
    ("mobilenet_v2", {"width": 1.4}, None, 6_108_776, 47_936, 582_195_824, (1000,)),
    # ... and through the bundled variant names
    ("mobilenet_v2_0.35", {}, None, 1_677_128, 14_080, 59_285_808, (1000,)),
    ("mobilenet_v2_1.4", {}, None, 6_108_776, 47_936, 582_195_824, (1000,)),
    # mobilenet_v2 at 160 px, torchvision (same params, fewer MACs)
    ("mobilenet_v2", {}, (3, 160, 160), 3_504_872, 34_112, 154_083_200, (1000,)),
    # MobileNetV3, torchvision num_params / _ops: large 5,483,032 / 0.217, small 2,542,856 /
    # 0.057. Paper (Howard et al. 2019, Table 3): large 219M MAdds / 5.4M, small 56M / 2.5M.
    ("mobilenet_v3_large", {}, None, 5_483_032, 24_400, 216_589_760, (1000,)),
    ("mobilenet_v3_small", {}, None, 2_542_856, 12_112, 56_510_400, (1000,)),
    # mobilenet_v3_*(width_mult=w), torchvision (no shipped weights; counted as above)
    ("mobilenet_v3_large", {"width": 0.75}, None, 3_377_576, 18_416, 140_033_816, (1000,)),
    ("mobilenet_v3_large", {"width": 1.25}, None, 8_164_744, 30_592, 343_461_000, (1000,)),
    ("mobilenet_v3_small", {"width": 0.75}, None, 1_653_920, 9_200, 39_115_576, (1000,)),
    # EfficientNet at the paper's resolutions 224 240 260 300 380 456 528 600. torchvision
    # num_params equal these params; its _ops (0.386 0.687 1.088 1.827 4.394 10.266 19.068
    # 37.746) equal these MACs / 1e9 except B2, whose 1.088 is at its weights' 288 px (below).
    ("efficientnet_b0", {}, None, 5_288_548, 42_016, 385_814_752, (1000,)),
    ("efficientnet_b1", {}, None, 7_794_184, 62_048, 686_802_832, (1000,)),
    ("efficientnet_b2", {}, None, 9_109_994, 67_568, 993_561_872, (1000,)),
    ("efficientnet_b3", {}, None, 12_233_232, 87_296, 1_827_141_392, (1000,)),
    ("efficientnet_b4", {}, None, 19_341_616, 125_200, 4_393_771_024, (1000,)),
    ("efficientnet_b5", {}, None, 30_389_784, 172_736, 10_266_384_752, (1000,)),
    ("efficientnet_b6", {}, None, 43_040_704, 224_432, 19_067_593_536, (1000,)),
    ("efficientnet_b7", {}, None, 66_347_960, 310_720, 37_745_884_192, (1000,)),
    # torchvision's published EfficientNet-B2 1.088 GFLOPS: the same model at 288 px, reached
    # through the resolution parameter or an explicit input
    ("efficientnet_b2", {"resolution": 288}, None, 9_109_994, 67_568, 1_087_529_456, (1000,)),
    ("efficientnet_b2", {}, (3, 288, 288), 9_109_994, 67_568, 1_087_529_456, (1000,)),
    # compound scaling on top of B0 with phi = 1: width 1.1**1, depth 1.2**1 — B2's
    # coefficients — at round(224 * 1.15) = round(257.6) = 258 px: torchvision efficientnet_b2
    # fed 3x258x258
    ("efficientnet_b0", {"phi": 1}, None, 9_109_994, 67_568, 992_629_472, (1000,)),
    # ShuffleNetV2 x1.0, torchvision num_params 2,278,604, _ops 0.145 GFLOPS; paper (Ma et al.
    # 2018, Table 5) "146M FLOPs, 2.3M weights" (rounded)
    ("shufflenet_v2_x1_0", {}, None, 2_278_604, 16_180, 144_907_992, (1000,)),
    ("shufflenet_v2_x1_0", {}, (3, 192, 192), 2_278_604, 16_180, 106_734_688, (1000,)),
]


def _report(spec: str, scale: dict[str, float] | None = None,
            input_shape: tuple[int, ...] | None = None) -> Report:
    graph = archcalc.to_graph(spec, input_shape=input_shape, scale=scale)
    return archcalc.analyze(graph, convention="macs")


@pytest.mark.parametrize(("spec", "scale", "input_shape", "params", "buffers", "macs", "out"), ZOO,
                         ids=[f"{c[0]}{c[1] or ''}{c[2] or ''}" for c in ZOO])
def test_zoo_matches_torchvision(spec: str, scale: dict[str, float],
                                 input_shape: tuple[int, ...] | None, params: int, buffers: int,
                                 macs: int, out: tuple[int, ...]) -> None:
    report = _report(spec, scale, input_shape)
    assert report.totals.params == params
    assert report.totals.buffers == buffers
    assert report.totals.macs == macs
    assert report.layers[-1].output_shape == out
    assert report.totals.flops == macs  # the macs convention counts conv + fc MACs only


# --------------------------------------------------------------------- published figures --

#: torchvision's weights metadata `_ops` (GFLOPS, 3 decimals) at its crop size
TORCHVISION_GFLOPS = [
    ("mobilenet_v2", {}, 0.301),
    ("mobilenet_v3_large", {}, 0.217),
    ("mobilenet_v3_small", {}, 0.057),
    ("shufflenet_v2_x1_0", {}, 0.145),
    ("efficientnet_b0", {}, 0.386),
    ("efficientnet_b1", {}, 0.687),
    ("efficientnet_b2", {"resolution": 288}, 1.088),  # EfficientNet_B2_Weights crop: 288
    ("efficientnet_b3", {}, 1.827),
    ("efficientnet_b4", {}, 4.394),
    ("efficientnet_b5", {}, 10.266),
    ("efficientnet_b6", {}, 19.068),
    ("efficientnet_b7", {}, 37.746),
]


@pytest.mark.parametrize(("spec", "scale", "gflops"), TORCHVISION_GFLOPS,
                         ids=[g[0] for g in TORCHVISION_GFLOPS])
def test_torchvision_published_gflops_are_our_macs_rounded(spec: str, scale: dict[str, float],
                                                           gflops: float) -> None:
    assert round(_report(spec, scale).totals.macs / 1e9, 3) == gflops


#: EfficientNet paper (Tan & Le 2019) Table 2: params (M) and FLOPs (B) as printed, from the
#: authors' TensorFlow implementation.
PAPER_TABLE2 = {
    "efficientnet_b0": ("5.3", "0.39"),
    "efficientnet_b1": ("7.8", "0.70"),
    "efficientnet_b2": ("9.2", "1.0"),
    "efficientnet_b3": ("12", "1.8"),
    "efficientnet_b4": ("19", "4.2"),
    "efficientnet_b5": ("30", "9.9"),
    "efficientnet_b6": ("43", "19"),
    "efficientnet_b7": ("66", "37"),
}


def _as_printed(value: float, printed: str) -> str:
    """``value`` rounded to as many decimals as ``printed`` shows."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return f"{value:.{decimals}f}"


def test_efficientnet_against_paper_table2() -> None:
    """Our exact counts (= torchvision's), rounded as the paper prints them, reproduce Table 2
    except where the paper's TensorFlow count differs beyond rounding. The exceptions, with the
    exact values (see docs/efficientnet.md):

    * B2 params 9,109,994 → 9.1M, paper 9.2M;
    * B1 MACs 686,802,832 → 0.69B, paper 0.70B (−1.9 %);
    * B4 4,393,771,024 → 4.4B, paper 4.2B (+4.6 %);
    * B5 10,266,384,752 → 10.3B, paper 9.9B (+3.7 %);
    * B7 37,745,884,192 → 38B, paper 37B (+2.0 %).
    """
    params_off, macs_off = {}, {}
    for spec, (p_m, f_b) in PAPER_TABLE2.items():
        totals = _report(spec).totals
        if _as_printed(totals.params / 1e6, p_m) != p_m:
            params_off[spec] = _as_printed(totals.params / 1e6, p_m)
        if _as_printed(totals.macs / 1e9, f_b) != f_b:
            macs_off[spec] = _as_printed(totals.macs / 1e9, f_b)
    assert params_off == {"efficientnet_b2": "9.1"}
    assert macs_off == {"efficientnet_b1": "0.69", "efficientnet_b4": "4.4",
                        "efficientnet_b5": "10.3", "efficientnet_b7": "38"}


# ------------------------------------------------------------------ structure, by hand --


def test_efficientnet_b0_se_squeezes_from_the_block_input() -> None:
    r = _report("efficientnet_b0")
    # stage 1: dw 3x3 on 32 channels at 112x112: 32*3*3 weights + BN 2*32
    assert r.layer("stage1.0.dw").params == 32 * 3 * 3 + 2 * 32
    # SE of stage 1: squeeze max(1, 32 // 4) = 8; fc1 32*8 + 8, fc2 8*32 + 32 (both with bias)
    assert r.layer("stage1.0.se_reduce").params == 32 * 8 + 8
    assert r.layer("stage1.0.se_expand").params == 8 * 32 + 32
    assert r.layer("stage1.0.se_reduce").macs == 32 * 8
    # stage 2, first block: input 16, expanded 6*16 = 96; the squeeze is max(1, 16 // 4) = 4 —
    # from the block input, not 96 // 4 = 24
    assert r.layer("stage2.0.se_reduce").output_shape == (4, 1, 1)
    assert r.layer("stage2.0.se_reduce").params == 96 * 4 + 4
    # the gate multiplies the depthwise output: 96 x 56 x 56 (stride 2 from 112)
    assert r.layer("stage2.0.se_scale").output_shape == (96, 56, 56)
    # stage 1 has t = 1: no expansion conv (expanded 32 == input 32)
    names = {row.name for row in r.layers}
    assert "stage1.0.expand" not in names and "stage2.0.expand" in names
    # head: 1x1 320 -> 4*320 = 1280 + BN, then fc 1280*1000 + 1000
    assert r.layer("head").params == 320 * 1280 + 2 * 1280
    assert r.layer("classifier").params == 1280 * 1000 + 1000


def _blocks_per_stage(report: Report) -> list[int]:
    counts = [0] * 7
    for row in report.layers:
        if row.name.endswith(".project"):
            counts[int(row.name[5]) - 1] += 1
    return counts


def test_efficientnet_depth_is_rounded_up() -> None:
    # B0 Table 1: 1, 2, 2, 3, 3, 4, 1 layers
    assert _blocks_per_stage(_report("efficientnet_b0")) == [1, 2, 2, 3, 3, 4, 1]
    # B1 depth 1.1: ceil(1.1)=2, ceil(2.2)=3, 3, ceil(3.3)=4, 4, ceil(4.4)=5, 2
    assert _blocks_per_stage(_report("efficientnet_b1")) == [2, 3, 3, 4, 4, 5, 2]
    # B7 depth 3.1: ceil(3.1)=4, ceil(6.2)=7, 7, ceil(9.3)=10, 10, ceil(12.4)=13, 4
    assert _blocks_per_stage(_report("efficientnet_b7")) == [4, 7, 7, 10, 10, 13, 4]


def test_efficientnet_channels_are_rounded_to_multiples_of_8() -> None:
    r = _report("efficientnet_b2")  # width 1.1
    # 16*1.1=17.6 -> 16 · 24*1.1=26.4 -> 24 · 40*1.1=44 -> 48 (int(44+4)//8*8) ·
    # 80*1.1=88 -> 88 · 112*1.1=123.2 -> 120 · 192*1.1=211.2 -> 208 · 320*1.1=352 -> 352
    outs = [r.layer(f"stage{i}.0.project").output_shape[0] for i in range(1, 8)]
    assert outs == [16, 24, 48, 88, 120, 208, 352]
    assert r.layer("head").output_shape == (4 * 352, 9, 9)  # 260 -> 130, 65, 33, 17, 9
    assert r.input_shape == (3, 260, 260)
    # the rounding rule itself: nearest multiple of 8, bumped up if more than 10 % below
    assert make_divisible(44.0, 8) == 48 and make_divisible(123.2, 8) == 120
    assert make_divisible(18, 8) == 24  # 16 < 0.9 * 18 = 16.2, so 16 + 8


def test_efficientnet_variants_set_the_resolution() -> None:
    sizes = [archcalc.to_graph(f"efficientnet_b{i}").input_shape for i in range(8)]
    assert sizes == [(3, r, r) for r in (224, 240, 260, 300, 380, 456, 528, 600)]
    assert archcalc.load_spec("efficientnet_b5").name == "EfficientNet (b5)"


def test_unknown_efficientnet_variant_is_a_located_error() -> None:
    with pytest.raises(archcalc.SpecError, match=r"(?s)no variant 'b8'.*b0, b1, b2"):
        archcalc.load_spec("efficientnet_b8")


def test_mobilenet_v3_se_and_activations() -> None:
    r = _report("mobilenet_v3_large")
    # row 4 (k5, exp 72, SE, RE, s2): squeeze make_divisible(72 // 4 = 18, 8) = 24
    assert r.layer("stage4.0.se_reduce").params == 72 * 24 + 24
    assert r.layer("stage4.0.se_expand").params == 24 * 72 + 72
    assert r.layer("stage4.0.dw").post == ("bn", "relu")
    assert r.layer("stage4.0.se_expand").post == ("hardsigmoid",)
    # row 7 (exp 240, HS, s2): h-swish, no SE
    assert r.layer("stage7.0.expand").post == ("bn", "hardswish")
    assert "stage7.0.se_reduce" not in {row.name for row in r.layers}
    # row 1: exp 16 == in 16, so no expansion conv; stride 1 and 16 -> 16, so a residual add
    names = {row.name for row in r.layers}
    assert "stage1.0.expand" not in names and "stage1.0.add1" in names
    # head: last conv 160 -> 960 (1x1) + BN; fc 960 -> 1280 + h-swish; fc 1280 -> 1000
    assert r.layer("last").params == 160 * 960 + 2 * 960
    assert r.layer("features").params == 960 * 1280 + 1280
    assert r.layer("features").post == ("hardswish",)
    assert r.layer("classifier").macs == 1280 * 1000


def test_shufflenet_units() -> None:
    r = _report("shufflenet_v2_x1_0")
    # stem 3x3 s2: 224 -> 112, max pool 3x3 s2 p1: 112 -> 56
    assert r.layer("pool").output_shape == (24, 56, 56)
    # stride-2 unit: left dw 3x3 s2 on 24 channels (24*9 + BN 2*24), then 1x1 24 -> 58
    assert r.layer("stage1.0.left_dw").params == 24 * 9 + 2 * 24
    assert r.layer("stage1.0.left_pw").params == 24 * 58 + 2 * 58
    assert r.layer("stage1.0.left_dw").post == ("bn",)  # no ReLU after the depthwise conv
    assert r.layer("stage1.0.shuffle").output_shape == (116, 28, 28)
    # stride-1 unit: split 116 into 58 + 58, the branch works on 58 channels
    assert r.layer("stage1.1.keep").output_shape == (58, 28, 28)
    assert r.layer("stage1.1.right_pw1").params == 58 * 58 + 2 * 58
    assert r.layer("stage3.3.shuffle").output_shape == (464, 7, 7)
    assert r.layer("conv5").params == 464 * 1024 + 2 * 1024


def test_se_gate_keeps_the_feature_map_receptive_field_grid() -> None:
    r = archcalc.analyze("efficientnet_b0")
    rf = r.layer("stage1.0.dw").receptive_field
    assert rf is not None
    # stem 3x3 s2: size 3, jump 2; dw 3x3 s1: 3 + 2*2 = 7, jump 2
    assert (rf[0].size, rf[0].jump) == (Fraction(7), Fraction(2))
    gate = r.layer("stage1.0.se_pool").receptive_field
    assert gate is not None
    # global pool over 112 positions 2 apart: 7 + 111*2 = 229
    assert gate[0].size == Fraction(229)
    scaled = r.layer("stage1.0.se_scale").receptive_field
    assert scaled is not None
    # the product sees the whole map (229) but stays on the 112x112 grid (jump 2)
    assert (scaled[0].size, scaled[0].jump) == (Fraction(229), Fraction(2))
    # next depthwise conv, 3x3 s2 after a 1x1: 229 + 2*2 = 233, jump 4
    nxt = r.layer("stage2.0.dw").receptive_field
    assert nxt is not None
    assert (nxt[0].size, nxt[0].jump) == (Fraction(233), Fraction(4))


def test_stages_honour_if() -> None:
    text = """\
archcalc: 1
input: [3, 8, 8]
scale: {deep: 0}
blocks:
  unit:
    params: [c]
    layers: [{conv: {out: $c, k: 1}}]
layers:
  - stages: {if: $deep, block: unit, columns: [c, n], rows: [[4, 2]]}
  - conv: {id: last, out: 2, k: 1}
"""
    shallow = archcalc.analyze(text)
    assert [row.name for row in shallow.layers] == ["last"]
    assert shallow.totals.params == 3 * 2 + 2
    deep = archcalc.analyze(text, deep=1)
    # 3 -> 4 (3*4 + 4), 4 -> 4 (4*4 + 4), 4 -> 2 (4*2 + 2)
    assert deep.totals.params == (3 * 4 + 4) + (4 * 4 + 4) + (4 * 2 + 2)


def test_cli_efficientnet_b2_at_288() -> None:
    runner = CliRunner()
    for extra in (["--set", "resolution=288"], ["--input", "3x288x288"]):
        result = runner.invoke(cli, ["table", "efficientnet_b2", "-f", "json", *extra])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert data["input_shape"] == [3, 288, 288]
        assert data["totals"]["macs"] == 1_087_529_456  # torchvision _ops 1.088 GFLOPS
