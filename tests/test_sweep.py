"""`archcalc sweep` and scale parameters: MobileNet v1 Tables 6 and 7, EfficientNet B0–B7.

MobileNet v1's counts are worked out here from the paper's Table 1 with the paper's formulas
(standard conv D_K·D_K·M·N·D_F·D_F, depthwise D_K·D_K·M·D_F·D_F, pointwise M·N·D_F·D_F, FC
1024·1000) — independently of archcalc — and the paper's printed figures are checked to be
their rounding.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli
from archcalc.cli_compare import DelayedProgress, parse_grid
from archcalc.errors import ArchcalcError, SpecError
from archcalc.sweep import PAPER_POINT, compound_search, grid_points, sweep

SPECS = Path(__file__).resolve().parent.parent / "specs"

# Table 1 of Howard et al. 2017 after the stem: (M, N, stride of the depthwise conv)
MOBILENET_V1_BLOCKS = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
                       (256, 512, 2), *[(512, 512, 1)] * 5, (512, 1024, 2), (1024, 1024, 1)]


def mobilenet_v1_by_hand(alpha: float, resolution: int) -> tuple[int, int]:
    """(params, mult-adds) from Table 1: every conv without bias and followed by BN (γ, β: 2 per
    channel), channels int(α·c) (all exact for α = 1, 0.75, 0.5, 0.25), a 7×7-style global
    average pool and a 1024α × 1000 FC with bias. Stride-2 3×3 convs with padding 1 halve even
    sizes: ⌊(n + 2 − 3)/2⌋ + 1 = n/2."""
    def c(n: int) -> int:
        return int(n * alpha)

    size = resolution // 2
    params = 3 * 3 * 3 * c(32) + 2 * c(32)
    macs = 3 * 3 * 3 * c(32) * size * size  # D_K·D_K·M·N·D_F·D_F
    for m, n, s in MOBILENET_V1_BLOCKS:
        size //= s
        params += 3 * 3 * c(m) + 2 * c(m) + c(m) * c(n) + 2 * c(n)
        macs += 3 * 3 * c(m) * size * size  # depthwise D_K·D_K·M·D_F·D_F
        macs += c(m) * c(n) * size * size  # pointwise M·N·D_F·D_F
    params += c(1024) * 1000 + 1000
    macs += c(1024) * 1000
    return params, macs


def test_hand_derivation_matches_the_published_figures() -> None:
    """Keras' MobileNet(alpha=1.0) summary: 4,231,976 trainable params (γ, β included); Table 6
    (α = 1, 0.75, 0.5, 0.25): 569, 325, 149, 41 M mult-adds and 4.2, 2.6, 1.3, 0.5 M params."""
    assert mobilenet_v1_by_hand(1.0, 224) == (4_231_976, 568_740_352)
    table6 = {1.0: (4.2, 569), 0.75: (2.6, 325), 0.5: (1.3, 149), 0.25: (0.5, 41)}
    for alpha, (params_m, madds_m) in table6.items():
        params, macs = mobilenet_v1_by_hand(alpha, 224)
        assert round(params / 1e6, 1) == params_m
        assert round(macs / 1e6) == madds_m
        # without BN's γ and β the params round the same, so Table 6 cannot tell them apart
        bn = 2 * sum(int(v * alpha) for v in (32, *(x for blk in MOBILENET_V1_BLOCKS
                                                     for x in blk[:2])))
        assert round((params - bn) / 1e6, 1) == params_m


def test_mobilenet_v1_table6_width_sweep() -> None:
    result = sweep(archcalc.load_spec("mobilenet_v1"), {"width": [1.0, 0.75, 0.5, 0.25]})
    got = [(p.totals.params, p.totals.macs) for p in result.points]
    assert got == [mobilenet_v1_by_hand(a, 224) for a in (1.0, 0.75, 0.5, 0.25)]
    assert got == [(4_231_976, 568_740_352), (2_585_560, 325_400_448),
                   (1_331_592, 149_497_088), (470_072, 41_030_272)]
    # printed: 569 / 325 / 149 / 41 M mult-adds (568.74, 325.40, 149.50 → 149, 41.03)


def test_mobilenet_v1_table7_resolution_sweep() -> None:
    """Table 7 prints 569, 418, 290, 186 M. First principles at 160 give 290,675,200 ≈ 291M:
    the paper's 290 is 569·(160/224)² = 290.3, the ρ² rule applied to a total that includes
    the FC layer, whose 1,024,000 MACs do not scale with ρ² (a slip; docs list it)."""
    result = sweep(archcalc.load_spec("mobilenet_v1"), {"resolution": [224, 192, 160, 128]})
    macs = [p.totals.macs for p in result.points]
    assert macs == [mobilenet_v1_by_hand(1.0, r)[1] for r in (224, 192, 160, 128)]
    assert macs == [568_740_352, 418_121_728, 290_675_200, 186_400_768]
    assert [round(m / 1e6) for m in macs] == [569, 418, 291, 186]
    assert round(569 * (160 / 224) ** 2) == 290
    # conv MACs scale exactly by ρ²; the FC's 1024·1000 does not
    conv_224 = 568_740_352 - 1024 * 1000
    assert Fraction(conv_224 * 160**2, 224**2) == 290_675_200 - 1024 * 1000
    assert [p.input_shape for p in result.points] == [(3, r, r) for r in (224, 192, 160, 128)]


def test_mobilenet_v1_full_grid_and_csv() -> None:
    """The issue's 4 × 4 grid: width × resolution, the last parameter varying fastest."""
    result = sweep(archcalc.load_spec("mobilenet_v1"),
                   {"width": [0.25, 0.5, 0.75, 1], "resolution": [128, 160, 192, 224]})
    assert len(result.points) == 16
    assert [dict(p.scale) for p in result.points[:2]] == [
        {"width": 0.25, "resolution": 128}, {"width": 0.25, "resolution": 160}]
    for p in result.points:
        assert (p.totals.params, p.totals.macs) == mobilenet_v1_by_hand(
            float(p.scale["width"]), int(p.scale["resolution"]))
    rows = result.to_csv().splitlines()
    assert rows[0] == ("width,resolution,input_shape,params,buffers,macs,flops,activation_bytes,"
                       "param_bytes,peak_activation_bytes")
    assert rows[-1].startswith("1,224,3x224x224,4231976,21888,568740352,")
    assert len(rows) == 17


# ------------------------------------------------------------------------------ EfficientNet --

# (width, depth, resolution) of B0..B7: the paper's Table 2 resolutions, torchvision's
# efficientnet_b0..b7 width/depth multipliers
EFFICIENTNET = [(1.0, 1.0, 224), (1.0, 1.1, 240), (1.1, 1.2, 260), (1.2, 1.4, 300),
                (1.4, 1.8, 380), (1.6, 2.2, 456), (1.8, 2.6, 528), (2.0, 3.1, 600)]
# torchvision 0.29 efficientnet_b0..b7 (params, conv + linear MACs) at those resolutions
TORCHVISION = [(5_288_548, 385_814_752), (7_794_184, 686_802_832), (9_109_994, 993_561_872),
               (12_233_232, 1_827_141_392), (19_341_616, 4_393_771_024),
               (30_389_784, 10_266_384_752), (43_040_704, 19_067_593_536),
               (66_347_960, 37_745_884_192)]


@pytest.mark.skipif(not (SPECS / "efficientnet.yaml").is_file(),
                    reason="specs/efficientnet.yaml is written by another engineer")
def test_efficientnet_coefficient_triples_equal_the_bundled_variants() -> None:
    grid: dict[str, list[float | int]] = {
        "width": [t[0] for t in EFFICIENTNET], "depth": [t[1] for t in EFFICIENTNET],
        "resolution": [t[2] for t in EFFICIENTNET]}
    result = sweep(archcalc.load_spec("efficientnet"), grid, mode="zip", convention="macs")
    assert len(result.points) == 8
    for i, point in enumerate(result.points):
        bundled = archcalc.analyze(f"efficientnet_b{i}", convention="macs").totals
        assert point.totals == bundled, f"b{i}"
        assert (point.totals.params, point.totals.macs) == TORCHVISION[i], f"b{i}"


@pytest.mark.skipif(not (SPECS / "efficientnet.yaml").is_file(),
                    reason="specs/efficientnet.yaml is written by another engineer")
def test_efficientnet_phi_is_a_scale_parameter() -> None:
    """phi = 1 compounds depth 1.2, width 1.1, resolution round(224·1.15) = 258 onto B0."""
    spec = archcalc.load_spec("efficientnet")
    by_phi = sweep(spec, {"phi": [1]}).points[0].totals
    direct = sweep(spec, {"width": [1.1]}, fixed={"depth": 1.2, "resolution": 258}).points[0]
    assert direct.input_shape == (3, 258, 258)
    assert by_phi == direct.totals


# ------------------------------------------------------------------------------ grid mechanics --


def test_grid_and_zip_points() -> None:
    assert grid_points({"a": [1, 2], "b": [3, 4, 5]}) == [
        {"a": 1, "b": 3}, {"a": 1, "b": 4}, {"a": 1, "b": 5},
        {"a": 2, "b": 3}, {"a": 2, "b": 4}, {"a": 2, "b": 5}]
    assert grid_points({"a": [1, 2], "b": [3, 4]}, "zip") == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    with pytest.raises(ArchcalcError, match="same length, got a: 2, b: 3"):
        grid_points({"a": [1, 2], "b": [3, 4, 5]}, "zip")
    with pytest.raises(ArchcalcError, match="at least one parameter"):
        grid_points({})
    with pytest.raises(ArchcalcError, match="unknown sweep mode"):
        grid_points({"a": [1]}, "diagonal")


def test_sweep_errors() -> None:
    spec = archcalc.load_spec("mobilenet_v1")
    with pytest.raises(SpecError, match="no scale parameter 'alpha'"):
        sweep(spec, {"alpha": [0.5]})
    with pytest.raises(ArchcalcError, match="both swept and fixed"):
        sweep(spec, {"width": [0.5]}, fixed={"width": 1})


def test_parse_grid() -> None:
    assert parse_grid(("width=0.25,0.5", "resolution=224", "depth=1,")) == (
        {"width": [0.25, 0.5], "depth": [1]}, {"resolution": 224})


def test_progress_bar_only_for_long_sweeps() -> None:
    events: list[Any] = []

    class Bar:
        def start(self) -> None:
            events.append("start")

        def add_task(self, description: str, total: int) -> int:
            events.append(("task", total))
            return 7

        def update(self, task: int, completed: int) -> None:
            events.append(("update", completed))

        def stop(self) -> None:
            events.append("stop")

    now = [0.0]
    quick = DelayedProgress("q", delay=0.5, clock=lambda: now[0], factory=Bar)
    for i in range(1, 5):
        now[0] += 0.1
        quick(i, 4)
    quick.close()
    assert events == []  # 0.4 s in all: no bar
    slow = DelayedProgress("s", delay=0.5, clock=lambda: now[0], factory=Bar)
    for i in range(1, 5):
        now[0] += 0.3
        slow(i, 4)
    slow.close()
    assert events == ["start", ("task", 4), ("update", 2), ("update", 3), ("update", 4), "stop"]


# ------------------------------------------------------------------------------------ CLI --


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_cli_sweep_json_contract() -> None:
    result = run("sweep", "mobilenet_v1", "--set", "width=0.25,0.5,0.75,1",
                 "--set", "resolution=128,160,192,224", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"archcalc_sweep", "name", "parameters", "mode", "batch", "dtype",
                         "convention", "points"}
    assert data["parameters"] == ["width", "resolution"] and data["mode"] == "grid"
    assert len(data["points"]) == 16
    # version 2 (issue 19): every point carries its batch and dtype (both can be swept)
    assert data["archcalc_sweep"] == 2 and (data["batch"], data["dtype"]) == (1, "float32")
    last = data["points"][-1]
    assert set(last) == {"scale", "input_shape", "batch", "dtype", "params", "buffers", "macs",
                         "flops", "activation_bytes", "param_bytes", "peak_activation_bytes"}
    assert (last["scale"], last["params"], last["macs"]) == (
        {"width": 1, "resolution": 224}, 4_231_976, 568_740_352)


def test_cli_sweep_table_csv_file_and_errors(tmp_path: Path) -> None:
    table = run("sweep", "mobilenet_v1", "--set", "width=0.5,1", "--exact")
    assert table.exit_code == 0, table.output
    assert "568,740,352" in table.output and "149,497,088" in table.output
    out = tmp_path / "grid.csv"
    assert run("sweep", "mobilenet_v1", "--set", "resolution=128,224", "-o", str(out)).exit_code \
        == 0
    assert out.read_text().splitlines()[1].startswith("128,3x128x128,4231976,")
    assert run("sweep", "mobilenet_v1").exit_code == 2
    bad = run("sweep", "mobilenet_v1", "--set", "alpha=1,2")
    assert bad.exit_code == 1 and "no scale parameter 'alpha'" in bad.output
    zipped = run("sweep", "mobilenet_v1", "--zip", "--set", "width=0.5,1", "--set",
                 "resolution=160")
    assert zipped.exit_code == 0 and "3×160×160" in zipped.output


def test_table_set_overrides_a_scale_parameter() -> None:
    """`--set` on `table` (and every analysis command) reaches the same scale parameters."""
    result = run("table", "mobilenet_v1", "--set", "width=0.25", "-f", "json")
    assert json.loads(result.output)["totals"]["params"] == mobilenet_v1_by_hand(0.25, 224)[0]


# ------------------------------------------------------ any axis: input size, batch, dtype --

# ResNet-50 at 224: torchvision's 4,089,184,256 MACs, of which the fc 2048·1000. At 160 and 320
# every map is 160/224 or 320/224 of its 224 size (112 → 80 / 160, …, 7 → 5 / 10), so the conv
# MACs scale by exactly 25/49 and 100/49 and the fc's do not.
RESNET50_CONV_224 = 4_089_184_256 - 2048 * 1000


def test_resnet50_input_sweep() -> None:
    """`sweep resnet50 --input 3x160x160,3x224x224,3x320x320` (failed before: ResNet-50
    declares no `resolution`)."""
    assert RESNET50_CONV_224 % 49 == 0
    expected = [RESNET50_CONV_224 * 25 // 49 + 2048 * 1000, 4_089_184_256,
                RESNET50_CONV_224 * 100 // 49 + 2048 * 1000]
    assert expected == [2_087_321_600, 4_089_184_256, 8_343_142_400]
    result = sweep(archcalc.load_spec("resnet50"),
                   {"input": [(3, 160, 160), (3, 224, 224), (3, 320, 320)]})
    assert [p.totals.macs for p in result.points] == expected
    assert {p.totals.params for p in result.points} == {25_557_032}
    assert result.parameters == ("input",) and result.scale_parameters == ()
    cli = run("sweep", "resnet50", "--input", "3x160x160,3x224x224,3x320x320", "-f", "csv")
    assert cli.exit_code == 0, cli.output
    rows = cli.output.splitlines()
    assert rows[0].startswith("input_shape,params,buffers,macs")
    assert rows[1].startswith("3x160x160,25557032,53120,2087321600,")


def test_mobilenet_v2_resolution_batch_dtype_sweep() -> None:
    """MobileNetV2 (torchvision: 300,774,272 MACs at 224, fc 1280·1000): at 96 px every map is
    3/7 of its 224 size (224/96 = 7/3 exactly through five stride-2 layers), so the conv MACs
    scale by 9/49. Batch multiplies MACs and memory; float16 halves memory, not MACs."""
    conv = 300_774_272 - 1280 * 1000
    at96 = conv * 9 // 49 + 1280 * 1000
    assert conv % 49 == 0 and at96 == 56_289_152
    result = sweep(archcalc.load_spec("mobilenet_v2"),
                   {"input": [(3, 96, 96), (3, 224, 224)], "batch": [1, 8],
                    "dtype": ["float32", "float16"]})
    assert len(result.points) == 8 and (result.batch, result.dtype) == (None, None)
    by = {(p.input_shape[1], p.batch, p.dtype): p.totals for p in result.points}
    assert by[(96, 1, "float32")].macs == at96
    assert by[(224, 1, "float32")].macs == 300_774_272
    assert by[(96, 8, "float32")].macs == 8 * at96
    one = by[(224, 1, "float32")].activation_bytes
    assert by[(224, 8, "float32")].activation_bytes == 8 * one
    assert by[(224, 1, "float16")].activation_bytes * 2 == one
    assert by[(224, 1, "float16")].macs == 300_774_272
    cli = run("sweep", "mobilenet_v2", "--input", "96,224", "--batch", "1,8", "--dtype",
              "float32,float16", "-f", "json")
    assert cli.exit_code == 0, cli.output
    data = json.loads(cli.output)
    assert data["parameters"] == ["input", "batch", "dtype"]
    assert (data["batch"], data["dtype"]) == (None, None)
    assert [(p["input_shape"], p["batch"], p["dtype"]) for p in data["points"][:2]] == [
        ([3, 96, 96], 1, "float32"), ([3, 96, 96], 1, "float16")]
    csv_rows = run("sweep", "mobilenet_v2", "--batch", "1,8", "-f", "csv").output.splitlines()
    assert csv_rows[0].startswith("input_shape,batch,params,")
    table = run("sweep", "mobilenet_v2", "--input", "96:224:128", "--exact")
    assert table.exit_code == 0, table.output
    assert "3×96×96" in table.output and "3×224×224" in table.output
    assert "params 3,504,872 at every point" in table.output


def test_input_sweep_refuses_an_fc_head_that_would_change() -> None:
    """AlexNet's flatten + fc6 on 451×451 would read 43,264 features: the sweep stops there
    with the layer named, instead of tabulating another network."""
    result = run("sweep", "alexnet", "--input", "224,227,451")
    assert result.exit_code == 1
    assert "layer 'fc6' (fc)" in result.output and "--fc-to-conv" in result.output


def test_sweep_axis_errors() -> None:
    spec = archcalc.load_spec("mobilenet_v2")
    with pytest.raises(ArchcalcError, match="unknown dtype 'float64'"):
        sweep(spec, {"dtype": ["float64"]})
    with pytest.raises(ArchcalcError, match="positive integer"):
        sweep(spec, {"batch": [0]})
    for args, code, text in (
            (["--batch", "1,x"], 2, "not a number"),
            (["--dtype", "float32,float64"], 2, "float64"),
            (["--input", "3x224"], 2, "has 2 sizes"),
            (["--input", "224"], 2, "at least one axis"),
            (["--set", "width=1:0:0.5"], 2, "start ≤ stop"),
            (["--alpha", "1.2"], 2, "go with --compound")):
        res = run("sweep", "mobilenet_v2", *args)
        assert res.exit_code == code and text in res.output, (args, res.output)


def test_parse_ranges() -> None:
    from archcalc.cli_compare import parse_values

    assert parse_values("96:224:32", "x") == [96, 128, 160, 192, 224]
    assert parse_values("0.25:1:0.25", "x") == [0.25, 0.5, 0.75, 1.0]
    assert parse_values("1,2:4:1", "x") == [1, 2, 3, 4]


def test_sweep_latex_and_markdown() -> None:
    result = sweep(archcalc.load_spec("mobilenet_v1"), {"width": [0.5, 1]})
    tex = result.to_latex()
    assert tex.count("\\begin{tabular}") == 1 and "\\toprule" in tex
    assert "0.5 & 3$\\times$224$\\times$224 & 1,331,592 & 149,497,088" in tex
    assert "| 1 | 3×224×224 | 4,231,976 | 568,740,352 |" in result.to_markdown()
    cli = run("sweep", "mobilenet_v1", "--set", "width=0.5,1", "-f", "latex")
    assert cli.exit_code == 0 and cli.output == tex


# ---------------------------------------------------------------- compound-scaling search --

# torchvision 0.29 EfficientNet built from `_efficientnet_conf("efficientnet_b0", width_mult=w,
# depth_mult=d)`, fed zeros of 3×r×r; MACs counted by forward hooks on every Conv2d
# (C_out·H′·W′·(C_in/groups)·K_h·K_w) and Linear (in·out), batch 1:
TV_B0 = 385_814_752                      # w 1.0, d 1.0, 224
TV_DEPTH_12 = 569_651_680                # w 1.0, d 1.2, 224
TV_WIDTH_11 = 443_010_960                # w 1.1, d 1.0, 224
TV_RES_258 = 575_642_080                 # w 1.0, d 1.0, 258
TV_PHI_1 = 992_629_472                   # w 1.1, d 1.2, 258 (the rule at φ = 1)


def test_compound_search_paper_point_costs_2_57_not_2() -> None:
    """The slides: φ = 1 doubles the FLOPs (α·β²·γ² ≈ 2). The paper's α = 1.2, β = 1.1,
    γ = 1.15 give α·β²·γ² = 1.2·1.21·1.3225 = 1.92027, yet the rule's B1 (depth 1.2, width
    1.1, round(224·1.15) = 258 px) costs 992,629,472 / 385,814,752 = 2.573× B0: depth alone
    1.476× (ceil(n·1.2) per stage: 1, 2, 2, 3, 3, 4, 1 → 2, 3, 3, 4, 4, 5, 2), width alone 1.148×
    (channels to multiples of 8), resolution alone 1.492× (258 → 129 → 65 → 33 → 17 → 9)."""
    assert (Fraction(6, 5), Fraction(11, 10), Fraction(23, 20)) == PAPER_POINT
    assert Fraction(6, 5) * Fraction(11, 10) ** 2 * Fraction(23, 20) ** 2 == Fraction(
        192_027, 100_000)
    assert round(TV_PHI_1 / TV_B0, 2) == 2.57
    result = compound_search(archcalc.load_spec("efficientnet_b0"), alphas=[Fraction(6, 5)],
                             betas=[Fraction(11, 10)], gammas=[Fraction(23, 20)])
    (p,) = result.points
    assert result.paper() == p and result.base_totals.macs == TV_B0
    assert (p.resolution, p.totals.macs) == (258, TV_PHI_1)
    assert p.ratio == Fraction(TV_PHI_1, TV_B0)
    assert p.depth_ratio == Fraction(TV_DEPTH_12, TV_B0)
    assert p.width_ratio == Fraction(TV_WIDTH_11, TV_B0)
    assert p.resolution_ratio == Fraction(TV_RES_258, TV_B0)
    assert p.maps == (258, 129, 65, 33, 17, 9) and result.base_maps == (224, 112, 56, 28, 14, 7)
    why = "\n".join(result.why(p))
    assert "measured 2.573×" in why and "1.920" in why and "ceil(n·d)" in why


def test_compound_search_grid_keeps_the_constraint() -> None:
    """The default grid 1.00, 1.05, …, 1.40 for each coefficient: 9³ = 729 triples, kept where
    |α·β²·γ² − 2| ≤ 0.1; best first (ratio closest to 2^φ)."""
    steps = [Fraction(100 + 5 * i, 100) for i in range(9)]
    feasible = [(a, b, g) for a in steps for b in steps for g in steps
                if abs(a * b * b * g * g - 2) <= Fraction(1, 10)]
    result = compound_search(archcalc.load_spec("efficientnet_b0"))
    assert result.candidates == 729 and len(result.points) == len(feasible)
    assert {(p.alpha, p.beta, p.gamma) for p in result.points} == set(feasible)
    gaps = [abs(float(p.ratio) - 2) for p in result.points]
    assert gaps == sorted(gaps)
    # α = 1, β = 1, γ = 1.4: round(224·1.4) = 314 px, torchvision 779,990,512 MACs
    point = next(p for p in result.points if (p.alpha, p.beta, p.gamma) == (1, 1, Fraction(7, 5)))
    assert (point.resolution, point.totals.macs) == (314, 779_990_512)


def test_compound_cli_and_errors() -> None:
    res = run("sweep", "efficientnet_b0", "--compound", "--alpha", "1.2", "--beta", "1.1",
              "--gamma", "1.1:1.2:0.05", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "1.2*" in res.output and "2.573" in res.output and "measured 2.573×" in res.output
    data = json.loads(run("sweep", "efficientnet_b0", "--compound", "--alpha", "1.2", "--beta",
                          "1.1", "--gamma", "1.15", "-f", "json").output)
    assert data["archcalc_compound"] == 1 and data["baseline"]["macs"] == TV_B0
    assert data["points"][0]["macs"] == TV_PHI_1
    bad = run("sweep", "resnet50", "--compound")
    assert bad.exit_code == 1 and "compound scaling needs depth, width and resolution" in bad.output
    assert run("sweep", "efficientnet_b0", "--compound", "--set", "width=1,2").exit_code == 2
    from dataclasses import replace

    spec = archcalc.load_spec("efficientnet_b0")
    with pytest.raises(ArchcalcError, match="already applies phi"):
        compound_search(replace(spec, scale={**spec.scale, "phi": 1}), alphas=[Fraction(1)])
    with pytest.raises(ArchcalcError, match="at most 20,000"):
        compound_search(spec, alphas=[Fraction(1)] * 30, betas=[Fraction(1)] * 30,
                        gammas=[Fraction(1)] * 30)
