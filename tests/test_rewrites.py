"""Rewrites, round two (issue 19): full-conv (MobileNet v1 Table 4), chains, --only, per-layer
bottlenecks with the Inception module's pool projection, fc → conv (OverFeat), an fc head on a
larger input, and `compare --set` per spec.

Every expected number is worked out here from the paper's or the slide's architecture with the
slide formulas (conv MACs C_out·H′·W′·C_in·K·K, params C_out·C_in·K·K + bias, depthwise
D_K·D_K·M·D_F·D_F, pointwise M·N·D_F·D_F), or is a published figure; never archcalc's output.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli
from archcalc.compare import RewriteComparison, SlidingWindows, compare_rewrite
from archcalc.errors import ArchcalcError, ShapeError
from archcalc.rewrite import (
    BottleneckTable,
    bottleneck,
    chain,
    factorize,
    fc_to_conv,
    full_conv,
    parse_bottleneck,
    reinput,
    select,
    separable,
    with_input,
)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def cmp(spec: str, *transforms: Any, only: tuple[str, ...] = (), **kw: Any
        ) -> RewriteComparison:
    graph = archcalc.to_graph(spec)
    return compare_rewrite(chain(graph, list(transforms), select(only, graph)), **kw)


# ------------------------------------------------------ full-conv: MobileNet v1, Table 4 --

# Table 1 of Howard et al. 2017 after the 3×3/2 stem: (M, N, stride of the depthwise conv)
MOBILENET_V1_BLOCKS = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
                       (256, 512, 2), *[(512, 512, 1)] * 5, (512, 1024, 2), (1024, 1024, 1)]


def conv_mobilenet_by_hand() -> tuple[int, int, int]:
    """(params, MACs, MACs without the FC) of "Conv MobileNet": every depthwise + pointwise
    pair of Table 1 as one 3×3 conv M → N (no bias, BN γ β: 2N), the stem 3×3×3×32 at 112×112,
    global pooling and the 1024 × 1000 FC (with bias)."""
    size = 112
    params = 3 * 3 * 3 * 32 + 2 * 32
    macs = 32 * size * size * 3 * 3 * 3  # C_out·H′·W′·C_in·K·K
    for m, n, s in MOBILENET_V1_BLOCKS:
        size //= s
        params += n * m * 3 * 3 + 2 * n
        macs += n * size * size * m * 3 * 3
    params += 1024 * 1000 + 1000
    return params, macs + 1024 * 1000, macs


def test_full_conv_reproduces_mobilenet_table4() -> None:
    """Table 4: "Conv MobileNet" 29.3M params, 4866M mult-adds vs MobileNet 4.2M, 569M. By the
    rule the full-conv figure is 4,867,293,184 MACs; the paper's 4866 M is the same count
    without the FC layer's 1024·1000 (4,866,269,184 → 4866), although its 569 M for MobileNet
    includes it (568,740,352; without: 567.7 → 568) — docs/compare-explain-sweep.md lists it."""
    params, macs, without_fc = conv_mobilenet_by_hand()
    assert (params, macs) == (29_294_088, 4_867_293_184)
    assert round(params / 1e6, 1) == 29.3
    assert round(without_fc / 1e6) == 4866 and round(macs / 1e6) == 4867
    c = cmp("mobilenet_v1", full_conv)
    assert (c.after.totals.params, c.after.totals.macs) == (params, macs)
    assert (c.before.totals.params, c.before.totals.macs) == (4_231_976, 568_740_352)
    pairs = c.changed
    assert len(pairs) == 13  # the thirteen depthwise-separable blocks of Table 1
    first = pairs[0]
    assert [r.name for r in first.before] == ["stage1.0.dwconv1", "stage1.0.conv1"]
    assert [r.name for r in first.after] == ["stage1.0.conv1.3x3"]
    # before: dw 32·112²·9 + pw 64·112²·32; after: 64·112²·32·9 — ratio N·K²/(N + K²)
    assert first.before_macs == 32 * 112 * 112 * 9 + 64 * 112 * 112 * 32
    assert first.macs == 64 * 112 * 112 * 32 * 9
    for g in pairs:
        assert g.ratio == g.theory
    assert first.theory == Fraction(64 * 9, 64 + 9)
    # the strided pairs keep the stride: 64 → 128 at 112 → 56
    second = pairs[1]
    assert second.after[0].output_shape == (128, 56, 56)
    assert second.macs == 128 * 56 * 56 * 64 * 9


def test_full_conv_undoes_separable_and_keeps_what_is_not_a_pair() -> None:
    """--separable then --full-conv gives the standard conv back (seed 000: 2160 → 672 → 2160);
    a depthwise conv whose reader is not a lone 1×1 conv (EfficientNet: dw → SE) is kept."""
    c = cmp("separable_example", separable, full_conv)
    (g,) = c.changed
    assert g.before_macs == 4 * 4 * 5 * 3 * 3 * 3 == 2160
    assert [r.macs for r in g.after] == [2160]
    assert c.stages[0].totals.macs == 432 + 240
    assert [label for label, _ in c.columns()] == ["original", "separable", "+full-conv"]
    eff = cmp("efficientnet_b0", full_conv)
    assert not eff.changed
    notes = {g.note for g in eff.groups}
    assert "depthwise conv not followed by a 1×1 conv alone: kept" in notes


def test_full_conv_cli() -> None:
    result = run("compare", "mobilenet_v1", "--full-conv", "--exact")
    assert result.exit_code == 0, result.output
    for text in ("29,294,088", "4,867,293,184", "64·9/(64 + 9) = 7.89", "stage1.0.conv1.3x3"):
        assert text in result.output


# ------------------------------------------------------------------- chains and --only --


def test_factorize_then_separable_chain() -> None:
    """factorize_example's 5×5 (64 → 64 at 28×28) → two 3×3, then each a dw + pw pair:
    2·(9·64·784 + 64·64·784); its 3×3 → 3×1 + 1×3, each then dw + pw: 2·(3·64·784 + 64·64·784).
    Order matters: separable first leaves nothing standard K×K for factorize to change."""
    hw = 28 * 28
    c = cmp("factorize_example", factorize, separable)
    g5, g3 = c.changed
    assert g5.before_macs == 64 * hw * 64 * 25
    assert [r.name for r in g5.after] == ["conv5x5.3x3_1.dw", "conv5x5.3x3_1.pw",
                                          "conv5x5.3x3_2.dw", "conv5x5.3x3_2.pw"]
    assert g5.macs == 2 * (9 * 64 * hw + 64 * 64 * hw) == 7_325_696
    assert g3.macs == 2 * (3 * 64 * hw + 64 * 64 * hw)
    assert g5.theory is None  # two steps changed it: no single formula
    assert "; then " in g5.note
    assert c.stages[0].totals.macs == 18 * 64 * 64 * hw + 6 * 64 * 64 * hw  # after factorize
    other = cmp("factorize_example", separable, factorize)
    assert [r.type for r in other.changed[0].after] == ["dwconv", "pwconv"]
    result = run("compare", "factorize_example", "--factorize", "--separable", "--exact")
    assert result.exit_code == 0, result.output
    assert "+separable" in result.output and "7,325,696" in result.output
    reverse = run("compare", "factorize_example", "--separable", "--factorize", "-f", "json")
    assert json.loads(reverse.output)["mode"] == "separable+factorize"


def test_only_selects_layers_by_name_or_group() -> None:
    """ResNet-18's layer3 (two basic blocks of 3×3 convs, 128 → 256 at 14×14): only those four
    convs become dw + pw; everything else is untouched."""
    c = cmp("resnet18", separable, only=("layer3.*",))
    names = [g.original.name for g in c.changed]
    assert names == ["layer3.0.conv1", "layer3.0.conv2", "layer3.1.conv1", "layer3.1.conv2"]
    first = c.changed[0]
    assert [r.macs for r in first.after] == [128 * 14 * 14 * 9, 256 * 14 * 14 * 128]
    assert first.before_macs == 256 * 14 * 14 * 128 * 9
    kept = {g.original.name: g.note for g in c.groups if g.note}
    assert kept["layer2.0.conv1"] == "not selected by --only"
    # a group name selects every node inside it
    assert [g.original.name for g in cmp("resnet18", separable, only=("layer3",)).changed] \
        == names
    with pytest.raises(ArchcalcError, match="matches no layer"):
        select(["nolayer*"], archcalc.to_graph("resnet18"))


# ------------------------------------------ bottleneck per layer; the Inception module --

P = 28 * 28  # output positions of inception (3a)
NAIVE_3A = 784 * 64 * 192 + 784 * 128 * 9 * 192 + 784 * 32 * 25 * 192
REDUCED_3A = (784 * 64 * 192 + 784 * 96 * 192 + 784 * 128 * 9 * 96 + 784 * 16 * 192
              + 784 * 32 * 25 * 16 + 784 * 32 * 192)


def test_inception_module_naive_vs_reduced_with_pool_projection() -> None:
    """Szegedy et al. 2015, Fig. 2a vs 2b at inception (3a), input 28×28×192: the naive module
    costs 303,464,448 MACs and outputs 64 + 128 + 32 + 192 = 416 maps; with the 1×1 reductions
    (3×3 reduce 96, 5×5 reduce 16) and the pool projection to 32 it is 128,049,152 — Table 1's
    "128M" ops for inception (3a) — and outputs 256 maps, the paper's 28×28×256."""
    assert NAIVE_3A == 303_464_448 and REDUCED_3A == 128_049_152
    assert round(REDUCED_3A / 1e6) == 128
    table = parse_bottleneck("b2=96,b3=16,b4=32")
    c = cmp("inception_module_example_naive", lambda g, s: bottleneck(g, table, s))
    assert c.before.totals.macs == NAIVE_3A and c.after.totals.macs == REDUCED_3A
    assert c.before.layer("cat").output_shape == (416, 28, 28)
    assert c.after.layer("cat").output_shape == (256, 28, 28)
    groups = {g.original.name: g for g in c.groups}
    pool = groups["b4"]
    assert [r.name for r in pool.after] == ["b4", "b4.proj"]
    assert pool.after[1].macs == P * 32 * 192 and pool.after[1].params == 192 * 32 + 32
    assert pool.note == "1×1 projection 192 → 32 after the pool"
    assert groups["cat"].reshaped and not groups["cat"].changed
    b2 = groups["b2"]
    assert [r.macs for r in b2.after] == [P * 96 * 192, P * 128 * 9 * 96]
    assert b2.theory == Fraction(96, 192) + Fraction(96, 9 * 128) == b2.ratio
    # the same as the module written out with its reductions
    written = archcalc.analyze("inception_module_example_reduced").totals
    assert (c.after.totals.params, c.after.totals.macs) == (written.params, written.macs)
    assert written.params == (192 * 64 + 64 + 192 * 96 + 96 + 96 * 9 * 128 + 128 + 192 * 16 + 16
                              + 16 * 25 * 32 + 32 + 192 * 32 + 32) == 163_696


def test_bottleneck_ratio_and_table_syntax() -> None:
    """A ratio keeps that share of C_in: 1/4 of 64 = 16 before a 3×3 conv 64 → 64 at 8×8:
    8·8·16·64 + 8·8·64·9·16 against 8·8·64·9·64, i.e. 16/64 + 16/(9·64)."""
    graph = archcalc.to_graph({"archcalc": 1, "name": "t", "input": [64, 8, 8], "layers": [
        {"conv": {"id": "a", "out": 64, "k": 3, "p": 1, "bias": False}},
        {"conv": {"id": "b", "out": 64, "k": 3, "p": 1, "bias": False}}]})
    g_a, g_b = compare_rewrite(bottleneck(graph, Fraction(1, 4))).changed
    assert [r.macs for r in g_a.after] == [64 * 16 * 64, 64 * 64 * 9 * 16]
    assert g_a.ratio == g_a.theory == Fraction(16, 64) + Fraction(16, 9 * 64)
    assert g_b.after[0].output_shape == (16, 8, 8)
    assert parse_bottleneck("0.25") == BottleneckTable((), Fraction(1, 4))
    assert parse_bottleneck("16") == BottleneckTable((), 16)
    assert parse_bottleneck("a=8, *=1/2") == BottleneckTable((("a", 8),), Fraction(1, 2))
    mixed = compare_rewrite(bottleneck(graph, parse_bottleneck("a=8,*=1/2"))).changed
    assert [g.after[0].output_shape[0] for g in mixed] == [8, 32]
    only_a = compare_rewrite(bottleneck(graph, parse_bottleneck("a=8")))
    assert [g.original.name for g in only_a.changed] == ["a"]
    assert {g.original.name: g.note for g in only_a.groups}["b"] == \
        "not in the --bottleneck table: kept"
    for bad, text in (("0", "positive channel count"), ("3/2", "must be in (0, 1]"),
                      ("x", "neither a channel count nor a ratio"), ("a8", "neither")):
        with pytest.raises(ArchcalcError, match=text.replace("(", r"\(").replace(")", r"\)")):
            parse_bottleneck(bad)
    with pytest.raises(ArchcalcError, match="names no layer"):
        bottleneck(graph, parse_bottleneck("zz=8"))


def test_bottleneck_cli_table_and_file(tmp_path: Any) -> None:
    result = run("compare", "inception_module_example_naive", "--bottleneck", "b2=96,b3=16,b4=32",
                 "--exact")
    assert result.exit_code == 0, result.output
    for text in ("303,464,448", "128,049,152", "b4.proj", "1×1 projection 192 → 32"):
        assert text in result.output
    table = tmp_path / "reductions.txt"
    table.write_text("# GoogLeNet 3a\nb2, 96\nb3 = 16\nb4,32\n")
    from_file = run("compare", "inception_module_example_naive", "--bottleneck", f"@{table}",
                    "-f", "json")
    assert from_file.exit_code == 0, from_file.output
    assert json.loads(from_file.output)["columns"][1]["totals"]["macs"] == REDUCED_3A
    bad = run("compare", "alexnet", "--bottleneck", "fc6=8")
    assert bad.exit_code == 1 and "only K×K convs" in bad.output


# ------------------------------------------------------------------ fc → conv (OverFeat) --

# seed 000's example: 14×14×3 → conv 5×5 16 → 10×10×16 → max-pool 2 → 5×5×16 → FC 400 → FC 400 →
# FC 4. MACs of one 14×14 crop:
CROP = 16 * 10 * 10 * 3 * 5 * 5 + 400 * 400 + 400 * 400 + 400 * 4  # 441,600


def overfeat_pass(n: int) -> tuple[int, int]:
    """(grid side, MACs) of the convolutional version on an n×n×3 image: conv 5×5 → n − 4,
    pool /2, FC 400 as a 5×5 conv → (n − 4)/2 − 4, then two 1×1 convs."""
    c1 = n - 4
    p1 = c1 // 2
    g = p1 - 4
    macs = 16 * c1 * c1 * 75 + 400 * g * g * 16 * 25 + 400 * g * g * 400 + 4 * g * g * 400
    return g, macs


def test_fc_to_conv_sliding_windows_seed_000() -> None:
    """16×16×3 → a 2×2×4 output: four 14×14 windows, 2 px apart, for 1,459,200 MACs against
    4 × 441,600 = 1,766,400; 28×28×3 → 8×8×4 (the slide's figures)."""
    assert CROP == 441_600
    graph = archcalc.to_graph("overfeat_example")
    for n, grid in ((16, 2), (28, 8)):
        c = compare_rewrite(with_input(fc_to_conv(graph), (3, n, n)))
        side, macs = overfeat_pass(n)
        assert side == grid
        s = c.sliding
        assert isinstance(s, SlidingWindows)
        assert (s.grid, s.windows, s.size, s.stride) == ((grid, grid), grid * grid, (14, 14),
                                                         (2, 2))
        assert s.field == (14, 14)  # no padding: each result sees exactly one window
        assert (s.pass_macs, s.crop_macs, s.crops_macs) == (macs, CROP, grid * grid * CROP)
        assert c.after.layer("fc3.conv").output_shape == (4, grid, grid)
        assert c.after.totals.params == c.before.totals.params  # the same weights
    assert overfeat_pass(16)[1] == 1_459_200


def test_fc_to_conv_same_input_changes_no_count() -> None:
    """At the spec's input the convolutional head is the fc head: every weight and MAC equal
    (fc1: 400·(16·5·5) = a 5×5 conv 16 → 400 on 5×5), the flatten is gone."""
    c = cmp("overfeat_example", fc_to_conv)
    assert c.after.totals.macs == c.before.totals.macs == CROP
    assert c.after.totals.params == c.before.totals.params == (
        16 * 3 * 25 + 16 + 400 * 400 + 400 + 400 * 400 + 400 + 4 * 400 + 4)
    groups = {g.original.name: g for g in c.groups}
    assert groups["flatten1"].after == ()
    assert [r.name for r in groups["fc1"].after] == ["fc1.conv"]
    assert groups["fc1"].note == "fc 400 → 400 as a 5×5 conv on 16×5×5"
    assert c.sliding is None


def test_alexnet_fc_head_on_a_larger_input() -> None:
    """AlexNet (lecture) at 451×451: conv1 ⌊(451 + 4 − 11)/4⌋ + 1 = 112, pool1 55, conv2 55,
    pool2 27, conv3–5 27, pool5 13; fc6 as a 6×6 conv → 8×8 windows of 227 px, 4·2·2·2 = 32 px
    apart. Its padding makes each result's field 195 + 5·32 = 355 px (RF 195 at pool5)."""
    c = compare_rewrite(with_input(fc_to_conv(archcalc.to_graph("alexnet")), (3, 451, 451)))
    s = c.sliding
    assert s is not None
    assert (s.grid, s.stride, s.size, s.field) == ((8, 8), (32, 32), (227, 227), (355, 355))
    assert c.after.layer("pool5").output_shape == (256, 13, 13)
    assert c.after.layer("fc6.conv").macs == 4096 * 8 * 8 * 256 * 6 * 6
    assert s.crop_macs == 716_767_232  # torchvision's alexnet at 227


def test_fc_head_on_another_input_is_an_error_with_a_hint() -> None:
    """Given a larger image, flatten + fc would silently grow fc6's weights (9216 → 43,264 rows);
    that is now refused, pointing at the rewrite. Heads behind global pooling, and inputs that
    keep the flattened size (AlexNet at 224 still gives pool5 6×6), are fine."""
    with pytest.raises(ShapeError) as info:
        archcalc.analyze("alexnet", input_shape=(3, 451, 451))
    text = str(info.value)
    assert "layer 'fc6' (fc)" in text and "43,264 features, not the 9,216" in text
    assert "--fc-to-conv --input 3x451x451" in text
    assert info.value.loc is not None and info.value.loc.line > 0
    result = run("table", "alexnet", "--input", "3x451x451")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert archcalc.analyze("alexnet", input_shape=(3, 224, 224)).totals.params == 61_100_840
    assert archcalc.analyze("resnet18", input_shape=(3, 320, 320)).totals.params == 11_689_512
    with pytest.raises(ArchcalcError, match="add --fc-to-conv"):
        with_input(separable(archcalc.to_graph("alexnet")), (3, 451, 451))


def test_fc_to_conv_cli() -> None:
    result = run("compare", "overfeat_example", "--fc-to-conv", "--input", "3x16x16")
    assert result.exit_code == 0, result.output
    for text in ("2×2 = 4 windows of 14 px", "2 px apart", "1,459,200", "4 × 441,600 = 1,766,400",
                 "0.826×"):
        assert text in result.output
    data = json.loads(run("compare", "overfeat_example", "--fc-to-conv", "--input", "3x28x28",
                          "-f", "json").output)
    assert data["sliding"]["grid"] == [8, 8] and data["sliding"]["windows"] == 64
    assert data["sliding"]["crops_macs"] == 64 * CROP
    assert data["columns"][1]["input_shape"] == [3, 28, 28]
    assert data["columns"][0]["input_shape"] == [3, 14, 14]


def test_reinput_keeps_a_rank_and_names_a_layer() -> None:
    graph = fc_to_conv(archcalc.to_graph("overfeat_example")).after
    with pytest.raises(ArchcalcError, match="keep the rank"):
        reinput(graph, (3, 16))
    with pytest.raises(ShapeError, match="conv1"):
        reinput(graph, (3, 4, 4))  # smaller than the 5×5 kernel


# ------------------------------------------------------------------ compare --set per spec --


def test_compare_set_per_spec() -> None:
    """MobileNet v1 against itself at α = 0.5 (Table 6: 1.3M params, 149M mult-adds): one value
    per spec, a value for one spec by position, and a value for the specs that declare it."""
    for args in (("--set", "width=1,0.5"), ("--set", "2:width=0.5")):
        data = json.loads(run("compare", "mobilenet_v1", "mobilenet_v1", *args, "-f",
                              "json").output)
        totals = [c["totals"] for c in data["columns"]]
        assert [(t["params"], t["macs"]) for t in totals] == [
            (4_231_976, 568_740_352), (1_331_592, 149_497_088)]
    mixed = run("compare", "mobilenet_v1", "alexnet", "--set", "width=0.5", "-f", "json")
    assert mixed.exit_code == 0, mixed.output
    cols = json.loads(mixed.output)["columns"]
    assert cols[0]["label"] == "mobilenet_v1 (width=0.5)" and cols[1]["label"] == "alexnet"
    assert cols[1]["totals"]["params"] == 61_100_840
    none = run("compare", "mobilenet_v1", "alexnet", "--set", "depth=2")
    assert none.exit_code == 1
    assert "none of the specs has a scale parameter 'depth'" in none.output
    assert "mobilenet_v1: width, resolution; alexnet: none" in none.output
    for args, text in ((("--set", "width=1,2,3"), "lists 3 values for 2 specs"),
                       (("--set", "3:width=1"), "no spec '3'"),
                       (("--set", "mobilenet_v1:width=1"), "compared 2 times")):
        bad = run("compare", "mobilenet_v1", "mobilenet_v1", *args)
        assert bad.exit_code == 2 and text in bad.output, bad.output


# ------------------------------------------------------------------------------- LaTeX --


def test_compare_latex() -> None:
    specs = run("compare", "alexnet", "vgg16", "-f", "latex")
    assert specs.exit_code == 0, specs.output
    assert "\\toprule" in specs.output and "\\bottomrule" in specs.output
    assert "138,357,544 (2.26$\\times$)" in specs.output
    rw = run("compare", "separable_example", "--separable", "-f", "latex")
    assert rw.exit_code == 0, rw.output
    assert rw.output.count("\\begin{tabular}") == 2
    assert "conv.dw 432 + conv.pw 240 & 672 & 0.311" in rw.output
    assert run("compare", "alexnet", "vgg16", "-o", "/dev/null", "-f", "latex").exit_code == 0


def test_fc_to_conv_keeps_a_head_whose_flatten_feeds_other_layers() -> None:
    """A flatten read by an fc and by an add cannot go: the fc stays an fc (a conv on the flat
    vector would not take it), each with a note; on a larger input the add refuses the grown
    vector, naming itself."""
    spec = {"archcalc": 1, "name": "t", "input": [3, 8, 8], "layers": [
        {"conv": {"id": "c", "out": 4, "k": 3}}, {"flatten": {"id": "f"}},
        {"fc": {"id": "a", "out": 144}}, {"add": {"id": "sum", "in": ["a", "f"]}},
        {"fc": {"id": "b", "out": 10}}]}
    graph = archcalc.to_graph(spec)
    c = compare_rewrite(fc_to_conv(graph))
    notes = {g.original.name: g.note for g in c.groups}
    assert notes["f"] == "flatten kept: not only fc layers read it"
    assert notes["a"] == "fc kept: the flatten it reads feeds other layers too"
    assert not c.changed and c.after.totals == c.before.totals
    with pytest.raises(ShapeError, match="sum"):
        with_input(fc_to_conv(graph), (3, 12, 12))
