"""`archcalc explain`: derivations with the layer's values substituted, held to the report.

Two kinds of checks: the printed arithmetic for hand-worked layers (AlexNet conv1 as in the issue,
the dilated conv of seed 002), and — for every layer of every bundled spec and of two synthetic
specs covering every layer class — that the explained values equal the report row, so the
derivations and the table cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli
from archcalc.errors import ArchcalcError
from archcalc.explain import Line, explain, explain_all, explained_types, fmt_kb, fmt_value
from archcalc.layers import LAYER_CLASSES, Conv, Work
from archcalc.report import Report
from archcalc.spec import bundled_names

# Every layer class, odd geometry included: dilation with `same` padding, per-axis kernels,
# strides and [before, after] padding, groups, ceil-mode pooling, zero-padding and crops,
# nearest/bilinear/size upsampling, a dilated grouped transposed conv with output padding,
# three-way add, an SE gate multiply, concat, adaptive pooling with uneven windows, reshape.
EVERY_2D = """
archcalc: 1
name: every layer type
input: [8, 17, 16]
layers:
  - conv: {id: dil, out: 8, k: 3, d: 2, p: same}
  - conv: {id: asym, out: 12, k: [3, 5], s: [2, 1], p: [[0, 1], [2, 2]], groups: 4,
           act: leaky_relu}
  - dwconv: {id: dw, k: 3, p: 1, out: 24, bn: true, act: relu6}
  - pwconv: {id: pw, out: 16, bias: false}
  - maxpool: {id: mp, k: 3, s: 2, ceil_mode: true}
  - avgpool: {id: ap, k: 2, s: 1, p: 1}
  - zeropad: {id: zp, p: [[1, 0], [0, 2]]}
  - crop: {id: cr, margin: 1}
  - crop: {id: cs, size: [4, 5]}
  - upsample: {id: up, scale: 2}
  - upsample: {id: bl, scale: [2, 3], mode: bilinear}
  - upsample: {id: sz, size: [11, 21], mode: bilinear}
  - deconv: {id: dc, out: 8, k: 3, s: 2, p: 1, output_padding: 1, d: 2, groups: 2}
  - bn: {id: bnl}
  - layernorm: {id: ln}
  - lrn: {id: lrn, size: 3}
  - sigmoid: {id: sig}
  - channel_shuffle: {id: cs2, groups: 2}
  - slice: {id: sl, start: 2, stop: 6}
  - identity: {id: idn}
  - dropout: {id: dr}
  - conv: {id: br1, out: 4, k: 1, in: sl}
  - add: {id: sum3, in: [sl, br1, idn]}
  - global_avgpool: {id: gate_pool}
  - conv: {id: gate, out: 4, k: 1, act: hardsigmoid}
  - multiply: {id: se, in: [sum3, gate]}
  - concat: {id: cat, in: [se, sum3, dr]}
  - adaptive_avgpool: {id: adp, out: [3, 5]}
  - global_maxpool: {id: gmp, in: cat}
  - fc: {id: fcg, out: 10, in: gmp}
  - layernorm: {id: lnall, over: all, in: adp}
  - reshape: {id: rs, shape: [-1, 5]}
  - flatten: {id: fl, in: lnall}
  - fc: {id: head, out: 7, act: softmax, bn: true}
"""

EVERY_1D_3D = """
archcalc: 1
name: 1d and 3d
input: [6, 12, 10, 9]
layers:
  - conv3d: {id: c3, out: 4, k: [3, 1, 3], s: [1, 2, 2], p: 1}
  - maxpool: {id: p3, k: 2}
  - subsample: {id: sub, k: 2, s: 1, act: tanh}
  - reshape: {id: to1d, shape: [4, -1]}
  - conv1d: {id: c1, out: 3, k: 5, p: 2, s: 2}
  - global_avgpool: {id: g1}
  - flatten
  - fc: {out: 2}
"""


def check_against_report(graph: archcalc.Graph, report: Report) -> Iterator[str]:
    """Explain every layer and assert each explained value equals the report row."""
    for node in graph.nodes:
        e = explain(graph, node.name, report=report)
        row = report.layer(node.name)
        assert e.values["output_shape"] == row.output_shape, node.name
        for key in ("params", "buffers", "macs", "flops", "activation_bytes"):
            assert e.values[key] == getattr(row, key), (node.name, key)
        rf = row.receptive_field
        expected = None if rf is None else (tuple(a.size for a in rf), tuple(a.jump for a in rf),
                                            tuple(a.start for a in rf))
        assert e.values["receptive_field"] == expected, node.name
        yield type(node.op).__name__


# ---------------------------------------------------------------- the worked example --


def test_alexnet_conv1_as_the_slides_write_it() -> None:
    """The issue's example line by line (227 input, 11×11 stride 4 pad 2, 64 filters)."""
    text = explain(archcalc.to_graph("alexnet"), "conv1").to_text()
    for line in (
        "H′ = W′ = ⌊(W − K + 2P)/S⌋ + 1 = ⌊(227 − 11 + 2·2)/4⌋ + 1 = 56",
        "weight = C_out × C_in × K × K = 64 × 3 × 11 × 11 = 23,232",
        "bias = C_out = 64",
        "params = weight + bias = 23,232 + 64 = 23,296",
        "MACs = C_out·H′·W′·C_in·K·K = 64·56·56·3·11·11 = 72,855,552",
        "memory = C′·H′·W′·4 = 64·56·56·4 = 802,816 B  (784 KB = bytes/1024",
        "r = r_prev + (K − 1)·j_prev = 1 + (11 − 1)·1 = 1 + 10 = 11",
        "j = j_prev·S = 1·4 = 4",
    ):
        assert f"  {line}" in text, line
    # 64·56·56·3·11·11 is the lecture table's "73" M flop; 23,296 its "23" k params
    assert 64 * 56 * 56 * 3 * 11 * 11 == 72_855_552 and 64 * 3 * 11 * 11 + 64 == 23_296


def test_markdown_is_latex_math() -> None:
    md = explain(archcalc.to_graph("alexnet"), "conv1").to_markdown()
    assert ("$H' = W' = \\left\\lfloor \\frac{W - K + 2P}{S} \\right\\rfloor + 1 = "
            "\\left\\lfloor \\frac{227 - 11 + 2 \\cdot 2}{4} \\right\\rfloor + 1 = 56$") in md
    assert "64 \\times 3 \\times 11 \\times 11 = 23{,}232$" in md
    assert "\\mathrm{params} = \\mathrm{weight} + \\mathrm{bias} = 23{,}232 + 64 = 23{,}296$" in md


def test_later_layers_chain_the_receptive_field() -> None:
    """pool1 after conv1: r = 11 + (3 − 1)·4 = 19; conv2 (5×5): r = 19 + 4·8 = 51 (seed 003)."""
    graph = archcalc.to_graph("alexnet")
    assert "r = r_prev + (K − 1)·j_prev = 11 + (3 − 1)·4 = 11 + 8 = 19" in explain(
        graph, "pool1").to_text()
    e = explain(graph, "conv2")
    assert "r = r_prev + (K − 1)·j_prev = 19 + (5 − 1)·8 = 19 + 32 = 51" in e.to_text()
    assert e.values["receptive_field"][0] == (19 + (5 - 1) * 8,) * 2


def test_pooling_and_fc_lines() -> None:
    graph = archcalc.to_graph("alexnet")
    pool = explain(graph, "pool1").to_text()
    assert "window = C′·H′·W′·K·K = 64·27·27·3·3 = 419,904" in pool
    assert "memory = C′·H′·W′·4 = 64·27·27·4 = 186,624 B  (182.25 KB" in pool
    fc6 = explain(graph, "fc6").to_text()
    assert "weight = F_out × F_in = 4096 × 9216 = 37,748,736" in fc6
    assert "params = weight + bias = 37,748,736 + 4096 = 37,752,832" in fc6
    assert "r: none: no spatial map reaches this layer" in fc6
    flat = explain(graph, "flatten").to_text()
    assert "F′ = C·H·W = 256·6·6 = 9216" in flat


def test_dilated_conv_seed_002() -> None:
    """Input 7×7, 3×3 kernel, d = 2, P = 0, S = 1: effective kernel 5, output 3×3."""
    graph = archcalc.to_graph({"archcalc": 1, "name": "dilated", "input": [1, 7, 7],
                               "layers": [{"conv": {"id": "c", "out": 1, "k": 3, "d": 2,
                                                    "bias": False}}]})
    e = explain(graph, "c")
    text = e.to_text()
    assert "K_eff = d·(K − 1) + 1 = 2·(3 − 1) + 1 = 4 + 1 = 5" in text
    assert "H′ = W′ = ⌊(W − K_eff + 2P)/S⌋ + 1 = ⌊(7 − 5 + 2·0)/1⌋ + 1 = 3" in text
    assert e.values["output_shape"] == (1, (7 - 5) // 1 + 1, (7 - 5) // 1 + 1)
    assert e.values["macs"] == 1 * 3 * 3 * 1 * 3 * 3
    assert e.values["receptive_field"][0] == (5, 5)


def test_full_convention_batch_and_dtype() -> None:
    graph = archcalc.to_graph("alexnet")
    e = explain(graph, "conv1", convention="full", batch=2, dtype="float16")
    text = e.to_text()
    # FLOPs = B·(2·MACs + bias + relu) = 2·(2·72,855,552 + 200,704 + 200,704)
    assert "FLOPs = B·(2MACs + element-wise) = 2·(2·72,855,552 + 401,408) = 292,225,024" in text
    assert e.values["flops"] == 2 * (2 * 72_855_552 + 2 * 64 * 56 * 56)
    assert e.values["activation_bytes"] == 2 * 64 * 56 * 56 * 2
    assert "MACs (batch) = B·MACs = 2·72,855,552 = 145,711,104" in text


# ------------------------------------------------------------ every value equals the report --


@pytest.mark.parametrize("name", bundled_names())
def test_every_bundled_layer_matches_the_report(name: str) -> None:
    graph = archcalc.to_graph(name)
    report = archcalc.analyze(graph, convention="full")
    assert list(check_against_report(graph, report))


def test_every_layer_class_is_explained_and_exercised() -> None:
    assert explained_types() == set(LAYER_CLASSES)
    seen: set[str] = set()
    from layer_cases import CASES  # a new layer type brings its cases there

    for text in (EVERY_2D, EVERY_1D_3D, *(case.spec() for case in CASES)):
        graph = archcalc.to_graph(text)
        for convention, batch, dtype in (("lecture", 1, "float32"), ("full", 3, "float16"),
                                         ("macs", 1, "int8")):
            report = archcalc.analyze(graph, convention=convention, batch=batch, dtype=dtype)
            seen.update(check_against_report(graph, report))
    assert seen == {cls.__name__ for cls in LAYER_CLASSES}


def test_explain_all_matches_single_explanations() -> None:
    graph = archcalc.to_graph(EVERY_1D_3D)
    assert [e.to_text() for e in explain_all(graph)] == [
        explain(graph, n.name).to_text() for n in graph.nodes]


def test_a_drifting_layer_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """If a layer's count disagreed with the formula shown, explain refuses to print it."""
    original = Conv.work

    def wrong(self: Conv, ins: Any, out: Any) -> Work:
        w = original(self, ins, out)
        return Work(w.macs + 1, w.window, w.elementwise)

    monkeypatch.setattr(Conv, "work", wrong)
    with pytest.raises(RuntimeError, match="the layer computes 72855553"):
        explain(archcalc.to_graph("alexnet"), "conv1")


# ------------------------------------------------------------------------- rendering details --


def line(template: str, **env: int | Fraction) -> Line:
    from archcalc.explain import _eval, _parse

    return Line("s", "x", template, env, _eval(_parse(template), env))


@pytest.mark.parametrize("template, env, text", [
    ("a - (b - c)", {"a": 9, "b": 5, "c": 2}, "x = a − (b − c) = 9 − (5 − 2) = 6"),
    ("a/(b*c)", {"a": 12, "b": 2, "c": 3}, "x = a/(b·c) = 12/(2·3) = 2"),
    ("2*P + 1", {"P": 3}, "x = 2P + 1 = 2·3 + 1 = 6 + 1 = 7"),
    ("s + k*j", {"s": Fraction(-3, 2), "k": 2, "j": Fraction(1, 4)},
     "x = s + k·j = −3/2 + 2·(1/4) = −3/2 + 1/2 = −1"),
    ("floor((n - k)/s) + 1", {"n": 10, "k": 3, "s": 2},
     "x = ⌊(n − k)/s⌋ + 1 = ⌊(10 − 3)/2⌋ + 1 = 4"),
    ("ceil(n/s)", {"n": 10, "s": 3}, "x = ⌈n/s⌉ = ⌈10/3⌉ = 4"),
    ("max(r_1, r_2)", {"r_1": 5, "r_2": 7}, "x = max(r_1, r_2) = max(5, 7) = 7"),
    ("C_out*W_p", {"C_out": 64, "W_p": 12_000}, "x = C_out·W′ = 64·12,000 = 768,000"),
])
def test_template_rendering(template: str, env: dict[str, Any], text: str) -> None:
    assert line(template, **env).text() == text


def test_latex_rendering_and_values() -> None:
    assert line("C_out*W_p", C_out=64, W_p=2).latex() == (
        "x = C_{\\mathrm{out}} \\cdot W' = 64 \\cdot 2 = 128")
    assert line("a/b", a=3, b=4).latex() == "x = \\frac{a}{b} = \\frac{3}{4}"
    assert fmt_value(Fraction(-7, 2)) == "−7/2" and fmt_value(10_000, tex=True) == "10{,}000"
    assert fmt_value(9999) == "9999"
    assert fmt_kb(802_816) == "784" and fmt_kb(186_624) == "182.25" and fmt_kb(4704) == "≈ 4.59"


def test_layer_lookup() -> None:
    graph = archcalc.to_graph("alexnet")
    assert explain(graph, "3").layer == "conv2"  # 1-based index
    with pytest.raises(ArchcalcError, match="did you mean 'conv1'"):
        explain(graph, "conv_1")


# ------------------------------------------------------------------------------------ CLI --


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_cli_text_markdown_json() -> None:
    result = run("explain", "alexnet", "conv1")
    assert result.exit_code == 0, result.output
    assert "⌊(227 − 11 + 2·2)/4⌋ + 1 = 56" in result.output
    md = run("explain", "alexnet", "conv1", "--format", "markdown")
    assert md.exit_code == 0 and "\\left\\lfloor" in md.output
    data = json.loads(run("explain", "alexnet", "fc8", "-f", "json").output)
    assert set(data) == {"layer", "header", "lines", "values"}
    assert data["values"]["params"] == 4096 * 1000 + 1000
    assert data["values"]["receptive_field"] is None
    assert {"section", "text", "latex", "value"} == set(data["lines"][0])
    every = json.loads(run("explain", "alexnet", "--all", "-f", "json").output)
    assert [e["layer"] for e in every][:3] == ["conv1", "pool1", "conv2"]


def test_cli_errors() -> None:
    missing = run("explain", "alexnet")
    assert missing.exit_code == 2 and "conv1, pool1" in missing.output
    unknown = run("explain", "alexnet", "conv9")
    assert unknown.exit_code == 1 and "has no layer named 'conv9'" in unknown.output
    scaled = run("explain", "mobilenet_v1", "conv1", "--set", "width=0.5")
    assert scaled.exit_code == 0 and "C′ = C_out = 16" in scaled.output  # int(32·0.5)
