"""`archcalc compare`: spec against spec, and the separable / bottleneck / factorize rewrites.

Every expected number is the seeds' arithmetic written out (seed 000: depthwise-separable and the
Inception 1×1 bottleneck; seed 001: the 14×14×480 bottleneck and the factorisations; seed 003:
AlexNet vs VGG-16) or a torchvision count, never the tool's output copied back.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli
from archcalc.compare import (
    RewriteComparison,
    bottleneck,
    compare_rewrite,
    compare_specs,
    factorize,
    fmt_times,
    separable,
)
from archcalc.errors import ArchcalcError
from archcalc.layers import Conv, DWConv, PWConv


def rewrite(spec: str, kind: str, **kw: Any) -> RewriteComparison:
    graph = archcalc.to_graph(spec)
    rw = {"separable": separable, "factorize": factorize}.get(kind)
    result = rw(graph) if rw else bottleneck(graph, kw.pop("r"))
    return compare_rewrite(result, **kw)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


# ------------------------------------------------------------------ depthwise-separable (000) --


def test_separable_example_reproduces_seed_000() -> None:
    """6×6×3 input, 3×3 kernels, 5 filters, output 4×4 (seed 000, "Cost Summary")."""
    c = rewrite("separable_example", "separable")
    (group,) = c.groups
    assert group.changed
    assert group.original.macs == 4 * 4 * 5 * 3 * 3 * 3 == 2160
    dw, pw = group.after
    assert (dw.name, dw.type, dw.output_shape) == ("conv.dw", "dwconv", (3, 4, 4))
    assert (pw.name, pw.type, pw.output_shape) == ("conv.pw", "pwconv", (5, 4, 4))
    assert dw.macs == 4 * 4 * 3 * 3 * 3 == 432
    assert pw.macs == 4 * 4 * 5 * 1 * 1 * 3 == 240
    assert group.macs == 432 + 240 == 672
    assert group.ratio == Fraction(672, 2160) == Fraction(1, 5) + Fraction(1, 9)
    assert round(float(group.ratio), 2) == 0.31  # the slide's 0.31
    assert group.theory == Fraction(1, 5) + Fraction(1, 9)
    # no bias: weights only — 5·3·3·3 against 3·3·3 + 5·3
    assert (group.original.params, dw.params, pw.params) == (5 * 3 * 3 * 3, 3 * 3 * 3, 5 * 3)
    assert c.before.totals.macs == 2160 and c.after.totals.macs == 672


def test_separable_cli_shows_the_seed_figures() -> None:
    result = run("compare", "separable_example", "--separable", "--exact")
    assert result.exit_code == 0, result.output
    for text in ("2,160", "432", "240", "672", "0.311", "1/5 + 1/9 = 0.311", "conv.dw", "conv.pw"):
        assert text in result.output


def test_separable_ratio_is_exactly_1_over_n_plus_1_over_k2_even_with_stride() -> None:
    """AlexNet conv1 is 11×11 stride 4 into 64 maps: (C·K²·H′W′ + C·N·H′W′)/(N·C·K²·H′W′)."""
    c = rewrite("alexnet", "separable")
    changed = {g.original.name: g for g in c.changed}
    assert sorted(changed) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    for g in changed.values():
        assert g.ratio == g.theory
    g = changed["conv1"]
    assert g.after[0].macs == 3 * 56 * 56 * 11 * 11  # depthwise at stride 4
    assert g.after[1].macs == 64 * 56 * 56 * 3
    assert g.ratio == Fraction(1, 64) + Fraction(1, 121)
    # the fc layers and pools are untouched, and every later shape and receptive field is equal
    rows_after = {r.name: r for r in c.after.layers}
    for row in c.before.layers:
        if row.name not in changed:  # equal but for the renamed input (conv1 → conv1.pw)
            assert rows_after[row.name]._replace(inputs=()) == row._replace(inputs=())


def test_separable_keeps_depthwise_pointwise_and_grouped_convs() -> None:
    """MobileNet v1 is separable already: only the 3×3 stem changes (seed 000 Table 1)."""
    c = rewrite("mobilenet_v1", "separable")
    (g,) = c.changed
    assert g.original.name == "conv1"
    assert g.original.macs == 32 * 112 * 112 * 3 * 3 * 3
    assert [r.macs for r in g.after] == [3 * 112 * 112 * 3 * 3, 32 * 112 * 112 * 3]
    notes = {grp.note for grp in c.groups if not grp.changed}
    assert "1×1 conv: already pointwise" in notes
    resnext = rewrite("resnext50_32x4d", "separable")
    assert any(grp.note.startswith("grouped conv (groups = 32)") for grp in resnext.groups)


def test_separable_rewrite_carries_bias_and_fused_ops() -> None:
    graph = archcalc.to_graph({"archcalc": 1, "name": "t", "input": [8, 10, 10],
                               "layers": [{"conv": {"id": "c", "out": 16, "k": 3, "p": 1,
                                                    "bn": True, "act": "relu"}}]})
    after = separable(graph).after
    dw, pw = after.nodes
    assert isinstance(dw.op, DWConv) and isinstance(pw.op, PWConv)
    assert [p.type_name for p in dw.post] == ["bn", "relu"] == [p.type_name for p in pw.post]
    # dw: 8·1·3·3 + 8 bias + BN 2·8; pw: 16·8 + 16 bias + BN 2·16
    report = archcalc.analyze(after)
    assert [r.params for r in report.layers] == [8 * 9 + 8 + 2 * 8, 16 * 8 + 16 + 2 * 16]


# -------------------------------------------------------------------- 1×1 bottleneck (000, 001) --


def test_bottleneck_seed_000_inception_3a() -> None:
    """28×28×192 → 5×5, 32 filters: 120M; via 1×1 to 16 first: 2.4M + 10M = 12.4M."""
    c = rewrite("inception_bottleneck_example_3a", "bottleneck", r=16)
    (g,) = c.changed
    assert g.original.macs == 28 * 28 * 32 * 5 * 5 * 192 == 120_422_400
    reduce, conv = g.after
    assert (reduce.name, reduce.output_shape) == ("conv5x5.reduce", (16, 28, 28))
    assert reduce.macs == 28 * 28 * 16 * 192 == 2_408_448
    assert conv.macs == 28 * 28 * 32 * 5 * 5 * 16 == 10_035_200
    assert g.macs == 2_408_448 + 10_035_200 == 12_443_648
    # the slide's figures, rounded to 0.1M: 120m, 2.4m, 10m, 12.4m
    assert [round(v / 1e6, 1) for v in (g.original.macs, reduce.macs, conv.macs, g.macs)] == [
        120.4, 2.4, 10.0, 12.4]
    assert g.ratio == g.theory == Fraction(16, 192) + Fraction(16, 5 * 5 * 32)


def test_bottleneck_seed_001_inception_4a() -> None:
    """14×14×480 → 5×5, 48 filters: 112.9M; via 1×1 to 16: 1.5M + 3.8M = 5.3M."""
    c = rewrite("inception_bottleneck_example_4a", "bottleneck", r=16)
    (g,) = c.changed
    assert g.original.macs == (14 * 14 * 48) * (5 * 5 * 480) == 112_896_000
    assert [r.macs for r in g.after] == [(14 * 14 * 16) * (1 * 1 * 480),
                                         (14 * 14 * 48) * (5 * 5 * 16)]
    assert g.macs == 1_505_280 + 3_763_200 == 5_268_480
    assert [round(v / 1e6, 1) for v in (g.original.macs, *[r.macs for r in g.after], g.macs)] \
        == [112.9, 1.5, 3.8, 5.3]
    assert c.total_ratio("macs") == Fraction(5_268_480, 112_896_000)


def test_bottleneck_cli_and_skips() -> None:
    result = run("compare", "inception_bottleneck_example_3a", "--bottleneck", "16",
                 "--exact")
    assert result.exit_code == 0, result.output
    for text in ("120,422,400", "2,408,448", "10,035,200", "12,443,648", "0.103"):
        assert text in result.output
    # AlexNet conv1 sees 3 channels: nothing to reduce to 16
    c = rewrite("alexnet", "bottleneck", r=16)
    notes = {g.original.name: g.note for g in c.groups}
    assert notes["conv1"] == "C_in = 3 ≤ R = 16: nothing to reduce"
    assert sorted(g.original.name for g in c.changed) == ["conv2", "conv3", "conv4", "conv5"]


# ---------------------------------------------------------------------- factorisation (001) --


def test_factorize_seed_001_per_position_counts() -> None:
    """5×5 → two 3×3: 25 → 18 (−28 %); 3×3 → 3×1 + 1×3: 9 → 6 (−33 %); C → C, stride 1."""
    c = rewrite("factorize_example", "factorize")
    g5, g3 = c.changed
    hw, cc = 28 * 28, 64 * 64
    assert g5.original.macs == 25 * cc * hw
    assert [r.macs for r in g5.after] == [9 * cc * hw, 9 * cc * hw]
    assert g5.ratio == g5.theory == Fraction(18, 25)
    assert round(1 - 18 / 25, 2) == 0.28  # "reduced by 28%"
    assert g3.original.macs == 9 * cc * hw
    assert [r.macs for r in g3.after] == [3 * cc * hw, 3 * cc * hw]
    assert [r.name for r in g3.after] == ["conv3x3.3x1", "conv3x3.1x3"]
    assert g3.ratio == g3.theory == Fraction(6, 9)
    assert round(1 - 6 / 9, 2) == 0.33  # "reduced by 33%"
    # params follow: 25C² → 18C², 9C² → 6C² (no bias)
    assert (g5.original.params, g5.params) == (25 * cc, 18 * cc)
    assert (g3.original.params, g3.params) == (9 * cc, 6 * cc)
    # VGG's design rule (seed 003): one 5×5 = 25C²HW vs two 3×3 = 18C²HW
    assert g5.macs == 18 * cc * hw


def test_factorize_strided_conv_takes_the_stride_first_and_keeps_every_shape() -> None:
    """5×5/2 p2 → 3×3/2 p1 + 3×3/1 p1 (18/25 exactly); AlexNet's 11×11/4 p2 → five 3×3."""
    graph = archcalc.to_graph({"archcalc": 1, "name": "t", "input": [32, 15, 15],
                               "layers": [{"conv": {"id": "c", "out": 32, "k": 5, "s": 2,
                                                    "p": 2, "bias": False}}]})
    rw = factorize(graph)
    first, second = rw.after.nodes
    assert isinstance(first.op, Conv) and first.op.s == (2, 2)
    assert first.out_shape == second.out_shape == (32, 8, 8)  # ⌊(15 + 4 − 5)/2⌋ + 1 = 8
    (g,) = compare_rewrite(rw).changed
    assert g.ratio == Fraction(18, 25)
    c = rewrite("alexnet", "factorize")
    conv1 = next(grp for grp in c.changed if grp.original.name == "conv1")
    assert len(conv1.after) == (11 - 1) // 2
    assert conv1.after[-1].output_shape == (64, 56, 56)
    after = {r.name: r.output_shape for r in c.after.layers}
    for row in c.before.layers:
        if row.name in after:
            assert after[row.name] == row.output_shape


def test_factorize_in_1d_and_3d() -> None:
    """1D: k = 5 → two k = 3 (5 → 3 + 3 per position), k = 3 kept; 3D: 3×3×3 → 3×1×1, 1×3×1,
    1×1×3 (27 → 9 weights per position)."""
    one_d = archcalc.to_graph({"archcalc": 1, "name": "t", "input": [4, 20], "layers": [
        {"conv": {"id": "a", "out": 4, "k": 5, "p": 2, "bias": False}},
        {"conv": {"id": "b", "out": 4, "k": 3, "p": 1, "bias": False}}]})
    c = compare_rewrite(factorize(one_d))
    a, b = c.groups
    assert a.changed and [r.macs for r in a.after] == [4 * 20 * 4 * 3] * 2
    assert a.ratio == Fraction(6, 5) == a.theory
    assert not b.changed and b.note == "a 1D kernel of 3 has no smaller factorisation: kept"
    three_d = archcalc.to_graph({"archcalc": 1, "name": "t", "input": [2, 6, 6, 6], "layers": [
        {"conv": {"id": "c", "out": 2, "k": 3, "p": 1, "bias": False}}]})
    (g,) = compare_rewrite(factorize(three_d)).changed
    assert [r.name for r in g.after] == ["c.3x1x1", "c.1x3x1", "c.1x1x3"]
    assert g.original.macs == 2 * 216 * 2 * 27
    assert g.macs == 3 * (2 * 216 * 2 * 3)
    assert g.ratio == g.theory == Fraction(9, 27)


def test_factorize_cli() -> None:
    result = run("compare", "factorize_example", "--factorize")
    assert result.exit_code == 0, result.output
    assert "2·9/25 = 0.720" in result.output and "6/9 = 0.667" in result.output


# ---------------------------------------------------------------- AlexNet vs VGG-16 (003) --

ALEXNET_PARAMS = 61_100_840  # torchvision alexnet (any input size)
ALEXNET_MACS_227 = 716_767_232  # torchvision alexnet fed 3×227×227
VGG16_PARAMS = 138_357_544  # torchvision vgg16; seed 004's per-layer list
VGG16_MACS = 15_470_264_320  # torchvision vgg16 at 3×224×224
# every row's output × 4 bytes, the lecture's memory rule (flatten counted as a row)
ALEXNET_BYTES = 4 * (64 * 56 * 56 + 64 * 27 * 27 + 192 * 27 * 27 + 192 * 13 * 13
                     + 384 * 13 * 13 + 2 * 256 * 13 * 13 + 256 * 6 * 6 + 9216 + 2 * 4096 + 1000)
VGG16_BYTES = 4 * (2 * 64 * 224 * 224 + 64 * 112 * 112 + 2 * 128 * 112 * 112 + 128 * 56 * 56
                   + 3 * 256 * 56 * 56 + 256 * 28 * 28 + 3 * 512 * 28 * 28 + 512 * 14 * 14
                   + 3 * 512 * 14 * 14 + 512 * 7 * 7 + 25088 + 2 * 4096 + 1000)


def test_alexnet_vs_vgg16_first_principles() -> None:
    """The lecture: memory 25×, params 2.3×, 19.4× GFLOP; first principles: 25.2×, 2.26×, 21.6×
    (the slide's 13.6 GFLOP is a slip, see docs/lecture-errata.md)."""
    c = compare_specs([archcalc.analyze("alexnet"), archcalc.analyze("vgg16")],
                      ["alexnet", "vgg16"])
    assert c.total(0, "params") == ALEXNET_PARAMS and c.total(1, "params") == VGG16_PARAMS
    assert c.total(0, "macs") == ALEXNET_MACS_227 and c.total(1, "macs") == VGG16_MACS
    assert c.ratio(1, "params") == Fraction(VGG16_PARAMS, ALEXNET_PARAMS)
    assert round(float(c.ratio(1, "params") or 0), 1) == 2.3
    assert c.ratio(1, "macs") == Fraction(VGG16_MACS, ALEXNET_MACS_227)
    assert round(float(c.ratio(1, "macs") or 0), 1) == 21.6
    assert (c.total(0, "activation_bytes"), c.total(1, "activation_bytes")) == (
        ALEXNET_BYTES, VGG16_BYTES)
    assert c.ratio(1, "activation_bytes") == Fraction(VGG16_BYTES, ALEXNET_BYTES)
    assert round(float(c.ratio(1, "activation_bytes") or 0)) == 25  # the slide's 25×


def test_compare_cli_table_and_by_layer() -> None:
    result = run("compare", "alexnet", "vgg16", "--by-layer", "--exact")
    assert result.exit_code == 0, result.output
    for text in ("61,100,840", "138,357,544 (2.26×)", "15,470,264,320 (21.6×)", "(25.2×)",
                 "conv1_1", "fc6"):
        assert text in result.output


def test_by_layer_alignment_matches_names_in_order() -> None:
    c = compare_specs([archcalc.analyze("alexnet"), archcalc.analyze("vgg16")])
    aligned = c.aligned()
    names = [a.name for a in aligned]
    assert names.index("pool5") < names.index("flatten") < names.index("fc6") < names.index(
        "fc8")
    both = [a.name for a in aligned if all(r is not None for r in a.rows)]
    assert both == ["pool1", "pool2", "pool5", "flatten", "fc6", "fc7", "fc8"]
    fc6 = next(a for a in aligned if a.name == "fc6")
    assert [r.params for r in fc6.rows if r] == [9216 * 4096 + 4096, 25088 * 4096 + 4096]


def test_gap_vs_fc_head() -> None:
    """Seed 003: GoogLeNet's avg-pool + fc (1025 k params) vs VGG-16's flatten + fc6/7/8."""
    c = compare_specs([archcalc.analyze("classifier_head_example_vgg16"),
                       archcalc.analyze("classifier_head_example_googlenet")])
    vgg = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000
    assert c.total(0, "params") == vgg == 102_764_544 + 16_781_312 + 4_097_000
    assert c.total(1, "params") == 1024 * 1000 + 1000
    assert c.total(1, "macs") == 1024 * 1000
    assert c.ratio(1, "params") == Fraction(1_025_000, vgg)


def test_mobilenet_v2_block_seed_000() -> None:
    """6×6×64 → 6×6×128: normal 3×3 conv '2.6M' vs expand/depthwise/project '2.7M'."""
    c = compare_specs([archcalc.analyze("inverted_residual_example_normal"),
                       archcalc.analyze("inverted_residual_example_inverted")])
    normal = 6 * 6 * 128 * 9 * 64
    inverted = 6 * 6 * 384 * 64 + 6 * 6 * 384 * 9 + 6 * 6 * 128 * 384
    assert (c.total(0, "macs"), c.total(1, "macs")) == (normal, inverted)
    assert (normal, inverted) == (2_654_208, 2_778_624)
    # the slide truncates to one decimal (rounded they would be 2.7M and 2.8M)
    assert (normal // 100_000, inverted // 100_000) == (26, 27)
    assert (round(normal / 1e6, 1), round(inverted / 1e6, 1)) == (2.7, 2.8)


# ---------------------------------------------------------------------- contract and errors --


def test_compare_json_contract() -> None:
    """Version 2 (issue 19): rewrite groups list their original layers and rows (a depthwise +
    pointwise pair made one conv has two), chains list their steps, fc-to-conv adds `sliding`."""
    result = run("compare", "alexnet", "vgg16", "--format", "json", "--by-layer")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"archcalc_compare", "mode", "batch", "dtype", "convention", "columns",
                         "layers"}
    assert data["mode"] == "specs" and data["archcalc_compare"] == 2
    col = data["columns"][1]
    assert set(col) == {"label", "name", "input_shape", "scale", "totals", "ratios"}
    assert col["totals"]["params"] == VGG16_PARAMS
    assert col["ratios"]["macs"] == VGG16_MACS / ALEXNET_MACS_227
    assert data["columns"][0]["ratios"]["params"] == 1.0
    rewrite_json = json.loads(run("compare", "separable_example", "--separable", "-f",
                                  "json").output)
    assert set(rewrite_json) == {"archcalc_compare", "mode", "description", "theory_label",
                                 "steps", "only", "batch", "dtype", "convention", "columns",
                                 "sliding", "layers"}
    assert rewrite_json["mode"] == "separable" and rewrite_json["sliding"] is None
    assert [s["kind"] for s in rewrite_json["steps"]] == ["separable"]
    assert [c["label"] for c in rewrite_json["columns"]] == ["original", "separable"]
    (layer,) = rewrite_json["layers"]
    assert set(layer) == {"layers", "changed", "reshaped", "note", "before", "before_total",
                          "after", "after_total", "ratio", "theory", "theory_text"}
    assert layer["layers"] == ["conv"]
    assert [b["macs"] for b in layer["before"]] == [4 * 4 * 5 * 3 * 3 * 3]
    assert [a["macs"] for a in layer["after"]] == [432, 240]
    assert layer["after_total"]["macs"] == 432 + 240
    assert layer["ratio"] == layer["theory"] == 14 / 45


def test_compare_csv_and_markdown() -> None:
    csv_text = run("compare", "alexnet", "vgg16", "-f", "csv").output.splitlines()
    assert csv_text[0].startswith("spec,params,macs,flops")
    assert csv_text[2].startswith(f"vgg16,{VGG16_PARAMS},{VGG16_MACS},")
    md = run("compare", "separable_example", "--separable", "-f", "markdown").output
    assert "| conv | conv | 2,160 | conv.dw 432 + conv.pw 240 | 672 |" in md


@pytest.mark.parametrize("args, code, text", [
    (["alexnet"], 1, "at least two specs"),
    (["alexnet", "--only", "conv1"], 2, "--only selects the layers a rewrite changes"),
    (["alexnet", "--separable", "--only", "conv9"], 1, "--only 'conv9' matches no layer"),
    (["alexnet", "vgg16", "--separable"], 2, "compares one SPEC"),
    (["alexnet", "--bottleneck", "0"], 2, "0"),
    (["alexnet", "nosuchspec"], 1, "no file and no bundled spec"),
])
def test_compare_errors(args: list[str], code: int, text: str) -> None:
    result = run("compare", *args)
    assert result.exit_code == code, result.output
    assert text in result.output


def test_library_errors() -> None:
    with pytest.raises(ArchcalcError, match="positive channel count"):
        bottleneck(archcalc.to_graph("alexnet"), 0)
    with pytest.raises(ArchcalcError, match="at least two"):
        compare_specs([archcalc.analyze("alexnet")])


def test_fmt_times() -> None:
    # three significant digits in every format (issue 14: 1/120 printed 0.0083× here and
    # 0.00833333 in Markdown)
    assert [fmt_times(Fraction(n, d)) for n, d in ((226, 100), (2158, 100), (14, 45),
                                                    (1, 120), (250, 1))] == [
        "2.26×", "21.6×", "0.311×", "0.00833×", "250×"]
