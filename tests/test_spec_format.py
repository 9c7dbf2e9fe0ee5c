"""The spec format: sequences, names, merges, blocks, stages, repeats, defaults, expressions,
scaling and variants — each checked on a small spec with hand-derived numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli
from archcalc.errors import ShapeError, SpecError


def analyze(text: str, **kw: object) -> archcalc.Report:
    return archcalc.analyze(archcalc.load_spec(text), **kw)  # type: ignore[arg-type]


BOTTLENECK = """\
archcalc: 1
name: two bottlenecks
input: [64, 56, 56]
defaults:
  conv: {bias: false, bn: true, act: relu}
blocks:
  bottleneck:
    params: [mid, out, s]
    layers:
      - residual:
          shortcut: project
          act: relu
          body:
            - conv: {out: $mid, k: 1}
            - conv: {out: $mid, k: 3, s: $s, p: 1}
            - conv: {out: $out, k: 1, act: none}
layers:
  - stages:
      id: layer
      block: bottleneck
      columns: [mid, out, n, s]
      rows:
        - [64, 256, 2, 1]
        - [128, 512, 2, 2]
"""


def test_stages_blocks_residual_projection() -> None:
    rep = analyze(BOTTLENECK)
    names = [row.name for row in rep.layers]
    # stage 1 block 0 projects 64 -> 256 (shapes differ); block 1 is an identity residual
    assert names[:5] == ["layer1.0.conv1", "layer1.0.conv2", "layer1.0.conv3",
                         "layer1.0.downsample1", "layer1.0.add1"]
    assert "layer1.1.downsample1" not in names
    # only the first block of a stage takes the stride: layer2.0.conv2 has s=2, layer2.1 s=1
    assert rep.layer("layer2.0.conv2").output_shape == (128, 28, 28)
    assert rep.layer("layer2.1.conv2").output_shape == (128, 28, 28)
    down = rep.layer("layer2.0.downsample1")
    assert down.output_shape == (512, 28, 28)
    assert down.params == 512 * 256 + 2 * 512  # 1x1 conv without bias + BN gamma/beta
    assert down.post == ("bn",)  # no activation on the projection
    add = rep.layer("layer1.0.add1")
    assert add.post == ("relu",) and add.inputs == ("layer1.0.downsample1", "layer1.0.conv3")
    # block params: conv1 64->64 1x1: 4096 + BN 128
    assert rep.layer("layer1.0.conv1").params == 64 * 64 + 2 * 64
    assert rep.layer("layer1.1.conv1").params == 256 * 64 + 2 * 64


def test_stage_depth_multiplier_rounds_up() -> None:
    text = BOTTLENECK.replace("input: [64, 56, 56]", "input: [64, 56, 56]\nscale: {depth: 1.0}")
    rep = analyze(text, depth=1.2)  # ceil(2 * 1.2) = 3 blocks per stage
    assert "layer1.2.conv1" in [r.name for r in rep.layers]
    assert "layer1.3.conv1" not in [r.name for r in rep.layers]


def test_width_multiplier_rounding_and_let() -> None:
    text = """\
archcalc: 1
input: [3, 32, 32]
scale: {width: 1.0, divisor: 8}
let: {base: 32}
layers:
  - conv: {out: ch($base), k: 3}
  - conv: {out: "div($cin * 3)", k: 1}
"""
    rep = analyze(text, width=0.35)
    # ch(32) at 0.35: 32*0.35 = 11.2; int(11.2 + 4)//8*8 = 8, but 8 < 0.9*11.2 = 10.08, so the
    # rule adds one divisor: 16 (torchvision's MobileNetV2 0.35 also starts with 16 channels)
    assert rep.layers[0].output_shape[0] == 16
    assert rep.layers[1].output_shape[0] == 48  # div(16*3) = 48
    rep = analyze(text, width=1.4)  # 44.8 -> int(48.8)//8*8 = 48
    assert rep.layers[0].output_shape[0] == 48


def test_concat_branches_and_explicit_merges() -> None:
    text = """\
archcalc: 1
input: [192, 28, 28]
layers:
  - concat:
      - [{conv: {out: 64, k: 1}}]
      - [{conv: {out: 96, k: 1}}, {conv: {out: 128, k: 3, p: 1}}]
      - [{maxpool: {k: 3, s: 1, p: 1}}, {conv: {out: 32, k: 1}}]
      - []
  - conv: {id: head, out: 8, k: 1}
  - add: {in: [head, head]}
"""
    rep = analyze(text)
    cat = rep.layer("concat1")
    assert cat.output_shape == (64 + 128 + 32 + 192, 28, 28)
    assert cat.inputs == ("conv1", "conv3", "conv4", "input")
    assert rep.layers[-1].inputs == ("head", "head")
    # receptive field of the concat: the 3x3 conv path (3) vs the 3x3 pool + 1x1 path (3)
    assert cat.rf_dict() == {"size": [3, 3], "jump": [1, 1], "start": [0, 0]}


def test_repeat_if_and_named_inputs() -> None:
    text = """\
archcalc: 1
input: [4, 8, 8]
scale: {extra: 0}
layers:
  - repeat:
      id: body
      n: 3
      layers:
        - conv: {out: 4, k: 3, p: 1}
  - conv: {out: 4, k: 1, if: $extra > 0}
  - conv: {id: side, out: 2, k: 1, in: body.0.conv1}
"""
    rep = analyze(text)
    names = [r.name for r in rep.layers]
    assert names == ["body.0.conv1", "body.1.conv1", "body.2.conv1", "side"]
    # three stacked 3x3 convs: 1 + 3*(3-1) = 7; the side branch read the first one (3)
    assert rep.layer("body.2.conv1").rf_dict()["size"] == [7, 7]  # type: ignore[index]
    assert rep.layer("side").rf_dict()["size"] == [3, 3]  # type: ignore[index]
    # the repeated conv is written at line 9, column 11 (`        - conv:` — the word `conv`)
    assert rep.warnings == (
        "<text>:9:11: body.2.conv1: output is never used (an unconnected branch?)",)
    assert len(analyze(text, extra=1).layers) == 5


def test_a_fused_activation_takes_its_own_arguments() -> None:
    """`act: {leaky_relu: {slope: 0.1}}` is the layer `- leaky_relu: {slope: 0.1}` fused: the
    same counts as `act: leaky_relu` (conv 3→4, 3×3 on 8×8: 4·(27 + 1) = 112 params, 4·6·6·27 =
    3,888 MACs; leaky ReLU 2 operations per element under full: 2·144 = 288), the forward with
    slope 0.1 (what the standalone layer computes), the export `nn.LeakyReLU(0.1)`; also from
    `defaults:` and with an expression."""
    import numpy as np

    from archcalc.torch_export import export_pytorch

    head = "archcalc: 1\nname: t\ninput: [3, 8, 8]\n"
    fused = head + "layers:\n  - conv: {out: 4, k: 3, act: {leaky_relu: {slope: 0.1}}}\n"
    apart = head + "layers:\n  - conv: {out: 4, k: 3}\n  - leaky_relu: {slope: 0.1}\n"
    inherited = (head + "scale: {s: 0.05}\ndefaults:\n  conv: {act: {leaky_relu: {slope: "
                 "'$s * 2'}}}\nlayers:\n  - conv: {out: 4, k: 3}\n")
    report = analyze(fused, convention="full")
    (row,) = report.layers
    assert (row.params, row.macs, row.flops) == (112, 3_888, 2 * 3_888 + 144 + 288)
    assert row.post == ("leaky_relu",)
    x = -np.ones((1, 3, 8, 8), np.float32)
    outs = [archcalc.execute(archcalc.load_spec(s), x=x) for s in (fused, apart, inherited)]
    finals = [out[list(out)[-1]] for out in outs]
    assert np.array_equal(finals[0], finals[1]) and np.array_equal(finals[0], finals[2])
    code = export_pytorch(archcalc.to_graph(archcalc.load_spec(fused))).code
    assert "nn.Sequential(nn.Conv2d(3, 4, kernel_size=3), nn.LeakyReLU(0.1))" in code
    from archcalc.explain import explain

    header = explain(archcalc.to_graph(archcalc.load_spec(fused)), "conv1").header
    assert header.startswith("conv1: conv+leaky_relu(slope=0.1) (out=4, k=3) — input 3×8×8")


def test_defaults_inherit_to_depthwise_and_can_be_overridden() -> None:
    text = """\
archcalc: 1
input: [16, 10, 10]
defaults:
  conv: {bias: false, bn: true, act: relu6}
layers:
  - dwconv: {k: 3, p: 1}
  - pwconv: {out: 32, act: none}
  - conv: {out: 8, k: 1, bias: true, bn: false}
"""
    rep = analyze(text)
    dw, pw, conv = rep.layers
    assert dw.post == ("bn", "relu6") and dw.params == 16 * 9 + 2 * 16
    assert pw.post == ("bn",) and pw.params == 32 * 16 + 2 * 32
    assert conv.post == ("relu6",) and conv.params == 8 * 32 + 8


def test_variants_and_scale_overrides() -> None:
    text = """\
archcalc: 1
input: [3, $resolution, $resolution]
scale: {resolution: 224, width: 1.0}
variants:
  small: {resolution: 128}
layers:
  - conv: {out: 8, k: 3, s: 2, p: 1}
"""
    assert analyze(text).layers[0].output_shape == (8, 112, 112)
    spec = archcalc.load_spec(text, variant="small")
    assert archcalc.analyze(spec).layers[0].output_shape == (8, 64, 64)
    assert archcalc.analyze(spec, resolution=96).layers[0].output_shape == (8, 48, 48)
    assert analyze(text, input_shape=(3, 32, 32)).layers[0].output_shape == (8, 16, 16)
    with pytest.raises(SpecError, match=r"(?s)no scale parameter 'widht'.*did you mean 'width'"):
        analyze(text, widht=0.5)


def test_peak_memory_by_hand() -> None:
    """Sequential: at each step the input of the step and its output are alive.

    input 3x8x8 = 192, conv1 8x8x8 = 512, conv2 4x8x8 = 256. Step 0: 192 + 512 = 704;
    step 1: 512 + 256 = 768. Peak 768 elements x 4 bytes."""
    rep = analyze("archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 8, k: 3, p: 1}\n"
                  "  - conv: {out: 4, k: 3, p: 1}\n")
    assert rep.totals.peak_activation_bytes == 768 * 4
    assert rep.totals.activation_bytes == (512 + 256) * 4
    # a residual keeps its input alive across the body: input 4x8x8=256, a=256, b=256, add=256
    # step a: 256+256; step b: input + a + b = 768; step add: input + b + add = 768
    rep = analyze("archcalc: 1\ninput: [4, 8, 8]\nlayers:\n  - residual:\n      body:\n"
                  "        - conv: {out: 4, k: 3, p: 1}\n        - conv: {out: 4, k: 3, p: 1}\n")
    assert rep.totals.peak_activation_bytes == 768 * 4
    rep = analyze("archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 8, k: 3, p: 1}\n",
                  batch=4, dtype="float16")
    assert rep.totals.activation_bytes == 512 * 4 * 2
    assert rep.totals.param_bytes == (8 * 27 + 8) * 2


def test_json_contract_alexnet() -> None:
    result = CliRunner().invoke(cli, ["table", "alexnet", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"name", "input_shape", "batch", "dtype", "convention", "layers",
                         "totals"}
    assert data["input_shape"] == [3, 227, 227] and data["batch"] == 1
    assert data["dtype"] == "float32" and data["convention"] == "lecture"
    assert [layer["name"] for layer in data["layers"]] == [
        "conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "flatten",
        "fc6", "fc7", "fc8"]
    keys = {"name", "type", "inputs", "output_shape", "params", "macs", "flops",
            "activation_bytes", "receptive_field"}
    for layer in data["layers"]:
        assert keys <= set(layer)
        for key in ("params", "macs", "flops", "activation_bytes"):
            assert type(layer[key]) is int
    conv1 = data["layers"][0]
    assert conv1["output_shape"] == [64, 56, 56]
    assert conv1["params"] == 64 * 3 * 11 * 11 + 64
    assert conv1["receptive_field"] == {"size": [11, 11], "jump": [4, 4], "start": [3, 3]}
    assert data["layers"][8]["receptive_field"] is None  # after flatten
    totals = data["totals"]
    assert set(totals) == {"params", "buffers", "macs", "flops", "activation_bytes",
                           "param_bytes", "peak_activation_bytes", "input_bytes",
                           "buffer_bytes", "estimated_total_bytes"}  # JSON contract 2
    # params: conv 23,296 + 307,392 + 663,936 + 884,992 + 590,080; fc 37,752,832 + 16,781,312
    # + 4,097,000
    assert totals["params"] == (23_296 + 307_392 + 663_936 + 884_992 + 590_080
                                + 37_752_832 + 16_781_312 + 4_097_000) == 61_100_840
    assert totals["param_bytes"] == 4 * 61_100_840
    # column sums equal totals
    for key in ("params", "macs", "flops", "activation_bytes"):
        assert sum(layer[key] for layer in data["layers"]) == totals[key]


def test_cli_options_and_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["table", "alexnet", "--input", "3x224x224", "-f", "json",
                              "--batch", "2"])
    data = json.loads(res.output)
    assert data["layers"][0]["output_shape"] == [64, 55, 55]  # (224 + 4 - 11)//4 + 1
    assert data["layers"][0]["activation_bytes"] == 64 * 55 * 55 * 4 * 2
    res = runner.invoke(cli, ["table", "alexnet", "--input", "3x224"])
    assert res.exit_code == 2  # the spec's input is CxHxW: a usage error
    assert "has 2 sizes but the spec's input (" in res.output
    assert "give --input as CxHxW" in res.output
    res = runner.invoke(cli, ["table", "alexnet", "--input", "3xabc"])
    assert res.exit_code == 2 and "not a shape" in res.output
    res = runner.invoke(cli, ["table", "alexnet", "--batch", "0"])
    assert res.exit_code == 2
    res = runner.invoke(cli, ["table", "alexnt"])
    assert res.exit_code == 1 and "did you mean alexnet" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("archcalc: 1\ninput: [3, 32, 32]\nlayers:\n  - conv: {out: 8, k: three}\n")
    out = tmp_path / "out.json"
    res = runner.invoke(cli, ["table", str(bad), "-o", str(out)])
    assert res.exit_code == 1
    assert f"{bad}:4:23" in res.output and "k must be a positive integer" in res.output
    assert "Traceback" not in res.output
    assert not out.exists()  # no partial output


def test_located_shape_errors() -> None:
    text = "archcalc: 1\ninput: [3, 5, 5]\nlayers:\n  - conv: {id: big, out: 8, k: 7}\n"
    with pytest.raises(ShapeError) as info:
        analyze(text)
    message = str(info.value)
    assert message.startswith("<text>:4:5: error: layer 'big' (conv): kernel 7 is larger")
    assert "⌊(5 + 2·0 − 7)/1⌋ + 1 = −1" in message  # the (5 + 2·0 − 7)/1 + 1 = −1
    text = "archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 8, k: 3}\n  - fc: {out: 3}\n"
    with pytest.raises(ShapeError, match="add `- flatten` before this layer"):
        analyze(text)


def test_spec_format_doc_has_the_generated_reference() -> None:
    from archcalc.reference import layer_reference

    doc = (Path(__file__).resolve().parent.parent / "docs" / "spec-format.md").read_text()
    assert layer_reference() in doc, "run: python -m archcalc.reference, and paste into the doc"


def test_word_parameters_and_boolean_flags() -> None:
    """A block parameter may carry an activation name (MobileNetV3's RE/HS column) or a flag."""
    text = """\
archcalc: 1
input: [8, 4, 4]
blocks:
  unit:
    params: [nl, se]
    layers:
      - conv: {out: 8, k: 1, act: $nl}
      - global_avgpool: {if: $se}
layers:
  - stages:
      block: unit
      columns: [nl, se]
      rows:
        - [hardswish, true]
        - [relu, false]
"""
    rep = analyze(text)
    assert [(r.name, r.post) for r in rep.layers] == [
        ("stage1.0.conv1", ("hardswish",)), ("stage1.0.global_avgpool1", ()),
        ("stage2.0.conv1", ("relu",))]
    with pytest.raises(SpecError, match="is the word 'hardswish', not a number"):
        analyze(text.replace("out: 8, k: 1, act: $nl", "out: $nl, k: 1"))


def test_block_and_repeat_ids_name_their_outputs_and_alias_defaults_apply() -> None:
    text = """\
archcalc: 1
input: [4, 8, 8]
defaults:
  linear: {bias: false}
blocks:
  unit:
    layers:
      - conv: {out: 6, k: 3, p: 1}
layers:
  - unit: {id: u}
  - repeat: {id: r, n: 2, layers: [{conv: {out: 6, k: 1}}]}
  - concat: {in: [u, r]}
  - global_avgpool
  - fc: {out: 10}
"""
    rep = analyze(text)
    assert rep.layer("concat1").inputs == ("u.conv1", "r.1.conv1")
    assert rep.layer("concat1").output_shape == (12, 8, 8)
    assert rep.layers[-1].params == 12 * 10  # the `linear:` defaults removed the bias


# ------------------------------------------------------------- repeated literal layers --
# A written-out spec repeats the same literal layer on every line; the builder makes it once
# and takes a short path for its copies (graph._Builder.primitive). Each copy must still get
# its own shape, counts, name and errors.
REPEATED = "archcalc: 1\nname: repeated\ninput: [3, 8, 8]\nlayers:\n"


def test_repeated_literal_layers_are_shaped_and_counted_per_input() -> None:
    report = analyze(REPEATED + "  - conv: {out: 4, k: 3}\n" * 3)
    assert [r.name for r in report.layers] == ["conv1", "conv2", "conv3"]
    # 8 → 6 → 4 → 2: ⌊(n − 3)/1⌋ + 1 each time
    assert [r.output_shape for r in report.layers] == [(4, 6, 6), (4, 4, 4), (4, 2, 2)]
    # params 4·C_in·9 + 4: C_in = 3 for the first copy, 4 for the others
    assert [r.params for r in report.layers] == [112, 148, 148]
    # MACs = out elements · C_in · 9: 144·27, 64·36, 16·36
    assert [r.macs for r in report.layers] == [3888, 2304, 576]


def test_repeated_literal_layer_errors_name_the_copy() -> None:
    with pytest.raises(ShapeError) as shape:  # the fourth copy sees a 2×2 input
        analyze(REPEATED + "  - conv: {out: 4, k: 3}\n" * 4)
    assert "layer 'conv4' (conv)" in str(shape.value)
    assert shape.value.loc is not None and shape.value.loc.line == 8
    with pytest.raises(SpecError) as ref:
        analyze(REPEATED + "  - relu\n  - relu: {in: nope}\n")
    assert "layer 'relu2' (relu): `in: nope` names no node defined before this layer" in str(
        ref.value)
    with pytest.raises(SpecError) as twice:
        analyze(REPEATED + "  - relu: {id: a}\n  - relu: {id: a}\n")
    assert "the name 'a' is used twice" in str(twice.value)
    with pytest.raises(SpecError) as count:  # same (empty) arguments, one input too few
        analyze(REPEATED + "  - relu: {id: a}\n  - add: {in: [a, a]}\n  - add\n")
    assert "layer 'add2' (add): add takes at least 2 input(s), got 1" in str(count.value)


def test_repeated_layers_keep_value_types_apart() -> None:
    # 3 and 3.0 are equal in Python; as a kernel size only the integer is valid
    with pytest.raises(SpecError) as bad:
        analyze(REPEATED + "  - conv: {out: 4, k: 3}\n  - conv: {out: 4, k: 3.0}\n")
    assert str(bad.value.loc).endswith(":6:23")
    assert "k must be a positive integer" in str(bad.value)
    # a copy inside a block with a `$` argument is not a literal: each call keeps its value
    report = analyze("archcalc: 1\ninput: [3, 8, 8]\nblocks:\n  b:\n    params: [c]\n"
                     "    layers:\n      - conv: {out: $c, k: 1}\nlayers:\n"
                     "  - b: {c: 5}\n  - b: {c: 7}\n")
    assert [r.output_shape[0] for r in report.layers] == [5, 7]


def test_lean_resolver_gives_the_safe_loaders_tags() -> None:
    """ytree's loader resolves tags with a shortcut; every kind of scalar must get the tag
    PyYAML's own SafeLoader gives it (YAML 1.1: yes/on are booleans, 1:30 is sexagesimal) —
    except timestamps and `=`, which are text, as in YAML 1.2 (`name: 2024-01-01`, issue 13)."""
    import yaml

    from archcalc.ytree import _LOADER

    words = ["~", "null", "Null", "NULL", "", "yes", "No", "on", "OFF", "y", "true", "False",
             "0x1f", "0o17", "017", "0b101", "1_000", "1:30", "190:20:30", "1.5", ".inf",
             "-.Inf", ".NaN", "1e3", "6.8523015e+5", "2001-12-14", "2001-12-14t21:59:43.10-05:00",
             "<<", "=", "3.0", "-7", "+5", "0", "conv", "relu", "$cin * 2", "ch(64)", "same",
             "[1, 2]", "{a: 1}", "'quoted'", '"7"']

    def tags(loader: type) -> list[str]:
        root = yaml.compose("\n".join(f"- {w}" if w else "-" for w in words), Loader=loader)
        return [item.tag for item in root.value]

    text = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
    expected = ["tag:yaml.org,2002:str" if t in text else t for t in tags(yaml.SafeLoader)]
    assert expected[0] == "tag:yaml.org,2002:null" and expected[5] == "tag:yaml.org,2002:bool"
    assert expected[15] == "tag:yaml.org,2002:int"  # 1:30, base 60
    assert tags(yaml.SafeLoader)[25:27] == ["tag:yaml.org,2002:timestamp"] * 2  # 2001-12-14…
    assert tags(yaml.SafeLoader)[28] == "tag:yaml.org,2002:value"  # =
    assert tags(_LOADER) == expected
