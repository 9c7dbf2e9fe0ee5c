"""Graph features beyond a single chain: several inputs and outputs (training-only heads),
shared weights, region multiplicity, references to another layer's size, richer stage rows,
`if:`-skipped references and the expression functions log, log2, exp.

Every expected number is worked out in the test (the arithmetic is next to it); every error is
checked for its location, the layer it names and a hint.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import archcalc
from archcalc.errors import ArchcalcError
from archcalc.expr import evaluate


def spec(layers: list[Any], **top: Any) -> dict[str, Any]:
    return {"archcalc": 1, "name": "t", **({"input": [3, 8, 8]} if "inputs" not in top else {}),
            **top, "layers": layers}


def text(body: str) -> str:
    return "archcalc: 1\nname: t\n" + body


def error(source: Any) -> ArchcalcError:
    with pytest.raises(ArchcalcError) as info:
        archcalc.analyze(archcalc.to_graph(source))
    err = info.value
    assert err.hint, f"no hint: {err}"
    return err


# ------------------------------------------------------------------------- shared weights --


SIAMESE_SLICE = text("""\
input: [80]
layers:
  - slice: {id: a, start: 0, stop: 40}
  - fc: {id: fa, out: 64}
  - slice: {id: b, in: input, start: 40, stop: 80}
  - fc: {id: fb, out: 64}
  - add: {in: [fa, fb]}
""")

SIAMESE_SHARED = text("""\
inputs: {a: [40], b: [40]}
layers:
  - fc: {id: fa, in: a, out: 64}
  - fc: {id: fb, in: b, out: 64, share: fa}
  - add: {in: [fa, fb]}
""")


def test_a_siamese_pair_counts_its_weights_once() -> None:
    """One fc of 40 → 64 used on two inputs: 40·64 + 64 = 2,624 weights. Written as two slices
    of one input it has two fcs, 5,248; with `share:` one set, and the work twice."""
    assert 40 * 64 + 64 == 2_624
    sliced = archcalc.analyze(SIAMESE_SLICE)
    shared = archcalc.analyze(SIAMESE_SHARED)
    assert sliced.totals.params == 2 * 2_624 == 5_248
    assert shared.totals.params == 2_624
    assert shared.totals.macs == sliced.totals.macs == 2 * 40 * 64
    row = shared.layer("fb")
    assert (row.params, row.macs, row.shares) == (0, 40 * 64, "fa")


def test_a_shared_block_call_shares_every_layer_with_weights() -> None:
    source = text("""\
inputs: {a: [3, 8, 8], b: [3, 8, 8]}
blocks:
  tower:
    layers:
      - conv: {id: c1, out: 4, k: 3, p: 1, bn: true, act: relu}
      - maxpool: {id: pool, k: 2}
      - conv: {id: c2, out: 4, k: 3, p: 1}
layers:
  - tower: {id: left, in: a}
  - tower: {id: right, in: b, share: left}
  - add: {in: [left, right]}
""")
    report = archcalc.analyze(source)
    c1 = 4 * 3 * 9 + 4 + 2 * 4  # conv + bias + BN γ, β
    c2 = 4 * 4 * 9 + 4
    assert report.totals.params == c1 + c2
    assert report.totals.buffers == 2 * 4  # BN running statistics, once
    assert report.layer("right.c1").shares == "left.c1"
    assert report.layer("right.c2").shares == "left.c2"
    assert report.layer("right.pool").shares == ""  # nothing to share
    # the executor gives the second tower the first tower's arrays: nothing is allocated
    from archcalc.executor import run

    result = run(source)
    assert result.ok
    assert result.params_created == c1 + c2


def test_shared_weights_must_have_the_same_shapes() -> None:
    err = error(text("""\
inputs: {a: [3, 8, 8], b: [1, 8, 8]}
layers:
  - conv: {id: ca, in: a, out: 4, k: 3}
  - conv: {id: cb, in: b, out: 4, k: 3, share: ca}
"""))
    assert err.loc is not None and err.loc.line == 6
    assert "'cb'" in str(err.layer) and "'ca'" in err.what
    assert "weight [4, 3, 3, 3]" in err.what and "weight [4, 1, 3, 3]" in err.what


def test_share_errors_are_located() -> None:
    err = error(text("""\
input: [3, 8, 8]
layers:
  - conv: {id: c, out: 4, k: 3}
  - relu: {share: c}
"""))
    assert "no weights to share" in err.what and err.loc is not None and err.loc.line == 6
    err = error(text("""\
input: [3, 8, 8]
layers:
  - conv: {id: c, out: 4, k: 3}
  - conv: {out: 4, k: 3, share: nothing}
"""))
    assert "names no node" in err.what or "names no layer" in err.what
    err = error(text("""\
input: [3, 8, 8]
blocks:
  b: {layers: [{conv: {out: 4, k: 3, p: 1}}]}
layers:
  - b: {id: one}
  - b: {id: two, share: onee}
"""))
    assert "`share: onee` names no earlier block call" in err.what and "'one'" in err.hint
    err = error(text("""\
input: [3, 8, 8]
layers:
  - residual: {share: x, body: [{conv: {out: 3, k: 1}}]}
"""))
    assert "unknown key 'share'" in err.what


# -------------------------------------------------------------------- inputs and outputs --


def test_several_inputs_by_name() -> None:
    report = archcalc.analyze(spec([
        {"conv": {"id": "a", "in": "rgb", "out": 4, "k": 3, "p": 1}},
        {"conv": {"id": "b", "in": "depth", "out": 4, "k": 3, "p": 1}},
        {"concat": {"in": ["a", "b"]}}],
        inputs={"rgb": [3, 8, 8], "depth": [1, 8, 8]}))
    assert report.inputs == (("rgb", (3, 8, 8)), ("depth", (1, 8, 8)))
    assert report.input_shape == (3, 8, 8)
    # both inputs are alive at the start: peak ≥ (3 + 1)·64 elements + the first conv's 4·64
    assert report.totals.peak_activation_bytes >= (3 + 1 + 4) * 64 * 4
    data = json.loads(report.to_json())
    assert data["inputs"] == [{"name": "rgb", "shape": [3, 8, 8]},
                              {"name": "depth", "shape": [1, 8, 8]}]
    # the first layer without `in:` takes the first input
    first = archcalc.analyze(spec([{"conv": {"out": 2, "k": 1}}],
                                  inputs={"x": [3, 4, 4], "y": [5, 4, 4]}))
    assert first.layers[0].inputs == ("x",)
    # --input replaces every input (one shape) or the named ones
    graph = archcalc.to_graph(SIAMESE_SHARED, input_shape={"b": (40,)})
    assert graph.inputs == (("a", (40,)), ("b", (40,)))


def test_input_errors() -> None:
    err = error(text("input: [3, 8, 8]\ninputs: {a: [3, 8, 8]}\nlayers: [relu]\n"))
    assert "either `input:` or `inputs:`" in err.what
    err = error(text("inputs: {input: [3, 8, 8]}\nlayers: [relu]\n"))
    assert "'input' cannot name an input" in err.what
    err = error(text("inputs: {a: [3, 8, 8], b: [3, 8, 8]}\nlayers:\n  - relu: {in: input}\n"))
    assert "`in: input` names no node" in err.what
    with pytest.raises(ArchcalcError, match="no input 'c'"):
        archcalc.to_graph(SIAMESE_SHARED, input_shape={"c": (40,)})


def test_declared_outputs_are_used_and_counted_each() -> None:
    """Two heads on one trunk: neither is an unused branch; each output's totals are the layers
    it depends on (the trunk in both)."""
    report = archcalc.analyze(spec([
        {"conv": {"id": "trunk", "out": 4, "k": 3, "p": 1}},
        {"conv": {"id": "boxes", "out": 8, "k": 1}},
        {"conv": {"id": "scores", "in": "trunk", "out": 2, "k": 1}}],
        outputs=["boxes", "scores"]))
    assert report.warnings == ()
    trunk, boxes, scores = 4 * 3 * 9 + 4, 8 * 4 + 8, 2 * 4 + 2
    assert report.totals.params == trunk + boxes + scores
    by_name = {o.name: o for o in report.outputs}
    assert by_name["boxes"].params == trunk + boxes
    assert by_name["scores"].params == trunk + scores
    assert by_name["boxes"].macs == 4 * 64 * 27 + 8 * 64 * 4
    # without `outputs:` the second head would be a dead branch
    plain = archcalc.analyze(spec([
        {"conv": {"id": "trunk", "out": 4, "k": 3, "p": 1}},
        {"conv": {"id": "boxes", "out": 8, "k": 1}},
        {"conv": {"id": "scores", "in": "trunk", "out": 2, "k": 1}}]))
    assert len(plain.warnings) == 1 and "boxes: output is never used" in plain.warnings[0]


def test_a_training_only_output_is_left_out_of_the_inference_totals() -> None:
    """GoogLeNet-style: an auxiliary classifier on the trunk, trained with, dropped at inference."""
    layers = [{"conv": {"id": "trunk", "out": 4, "k": 3, "p": 1}},
              {"global_avgpool": {"id": "gap"}},
              {"fc": {"id": "main", "out": 10}},
              {"global_avgpool": {"id": "aux_pool", "in": "trunk"}},
              {"fc": {"id": "aux", "out": 10}}]
    report = archcalc.analyze(spec(layers, outputs=["main", {"layer": "aux", "training": True}]))
    trunk, head = 4 * 3 * 9 + 4, 4 * 10 + 10
    assert report.totals.params == trunk + head
    assert report.training_totals is not None
    assert report.training_totals.params == trunk + 2 * head
    assert [r.name for r in report.layers if r.training] == ["aux_pool", "aux"]
    assert report.totals.macs == 4 * 64 * 27 + 40  # the aux head's 40 MACs left out
    data = json.loads(report.to_json())
    assert data["training_totals"]["params"] == trunk + 2 * head
    assert [o["training"] for o in data["outputs"]] == [False, True]
    assert data["layers"][-1]["training"] is True and "training" not in data["layers"][0]


def test_output_errors() -> None:
    body = "input: [3, 8, 8]\nlayers:\n  - conv: {id: c, out: 2, k: 1}\n"
    err = error(text(body + "outputs: [cc]\n"))
    assert "`in: cc` names no node" in err.what or "cc" in err.what
    assert err.loc is not None and err.loc.line == 6
    err = error(text(body + "outputs: [c, c]\n"))
    assert "listed twice" in err.what
    err = error(text(body + "outputs: [{layer: c, training: true}]\n"))
    assert "every output is training-only" in err.what
    err = error(text(body + "outputs: [input]\n"))
    assert "is an input" in err.what
    err = error(text(body + "outputs: [{layer: c, train: true}]\n"))
    assert "unknown key 'train'" in err.what


# ---------------------------------------------------------------------------- regions --


RCNN = text("""\
input: [3, 32, 32]
scale: {proposals: 50}
layers:
  - conv: {id: features, out: 8, k: 3, p: 1, act: relu}
  - roi_pool: {id: rois, out: 2, regions: $proposals, scale: 1}
  - flatten
  - fc: {id: fc, out: 16, act: relu}
  - fc: {id: cls, out: 5}
""")


def test_region_multiplicity_multiplies_work_not_weights() -> None:
    """After RoI pooling each image carries R = 50 regions of 8×2×2: the fcs run 50 times."""
    report = archcalc.analyze(RCNN)
    fc = report.layer("fc")
    assert (fc.multiplicity, fc.params) == (50, 32 * 16 + 16)
    assert fc.macs == 50 * 32 * 16
    assert fc.activation_bytes == 50 * 16 * 4
    assert report.layer("rois").output_shape == (8, 2, 2)
    assert report.layer("features").multiplicity == 1
    assert report.totals.macs == 8 * 32 * 32 * 27 + 50 * (32 * 16 + 16 * 5)
    # peak memory counts R tensors: the 50 pooled regions alive with the fc's output
    assert report.totals.peak_activation_bytes >= (50 * 32 + 50 * 32) * 4
    batch2 = archcalc.analyze(archcalc.to_graph(RCNN), batch=2)
    assert batch2.layer("fc").macs == 2 * 50 * 32 * 16
    from archcalc.executor import run

    result = run(RCNN, batch=2)  # a batch of 2·50 = 100 rows after the RoI pooling
    assert result.ok, [s.problems for s in result.failures]
    data = json.loads(report.to_json())
    assert data["layers"][-1]["multiplicity"] == 50 and "multiplicity" not in data["layers"][0]


def test_regions_do_not_mix_with_per_image_tensors() -> None:
    err = error(text("""\
input: [3, 8, 8]
layers:
  - conv: {id: f, out: 4, k: 3, p: 1}
  - roi_align: {id: r, out: 8, regions: 10}
  - add: {in: [r, f]}
"""))
    assert "different region counts" in err.what and "r ×10" in err.what
    assert err.loc is not None and err.loc.line == 7
    err = error(text("""\
input: [3, 8, 8]
layers:
  - roi_align: {id: r, out: 4, regions: 10}
  - roi_align: {out: 2, regions: 3}
"""))
    assert "already has 10 regions" in err.what


# ----------------------------------------------------------------------- references --


def test_like_takes_another_layers_size() -> None:
    """FPN's top-down path: the coarse map upsampled to the lateral's size, here 5 → 9 (no
    integer scale does it)."""
    report = archcalc.analyze(spec([
        {"conv": {"id": "fine", "out": 4, "k": 1}},
        {"conv": {"id": "coarse", "out": 4, "k": 1, "s": 2}},
        {"upsample": {"id": "up", "like": "fine"}},
        {"add": {"in": ["fine", "up"]}}], input=[3, 9, 9]))
    assert report.layer("coarse").output_shape == (4, 5, 5)
    assert report.layer("up").output_shape == (4, 9, 9)
    assert archcalc.to_graph(spec([{"upsample": {"like": "input", "in": "input"}}],
                                  input=[3, 4, 4])).nodes[0].out_shape == (3, 4, 4)


def test_like_errors_are_located() -> None:
    err = error(text("input: [3, 8, 8]\nlayers:\n  - upsample: {like: input, scale: 2}\n"))
    assert "either `like:` or `scale:`" in err.what
    assert err.loc is not None and err.loc.line == 5
    err = error(text("input: [3, 8, 8]\nlayers:\n  - upsample: {like: nothing}\n"))
    assert "nothing" in err.what
    err = error(text("input: [3, 8, 8]\nlayers:\n  - flatten: {id: f}\n"
                     "  - upsample: {in: input, like: f}\n"))
    assert "flat tensor" in err.what


def test_max_unpool_takes_the_indices_of_a_named_pool() -> None:
    report = archcalc.analyze(spec([
        {"maxpool": {"id": "pool", "k": 2, "ceil_mode": True}},
        {"conv": {"id": "c", "out": 3, "k": 1}},
        {"max_unpool": {"id": "up", "indices": "pool"}}], input=[3, 9, 7]))
    assert report.layer("pool").output_shape == (3, 5, 4)  # ceil: 9 → 5, 7 → 4
    assert report.layer("up").output_shape == (3, 9, 7)  # the pool's input size
    assert report.layer("up").inputs == ("c", "pool")
    err = error(text("input: [3, 8, 8]\nlayers:\n  - avgpool: {id: p, k: 2}\n"
                     "  - max_unpool: {indices: p}\n"))
    assert "not a max pool" in err.what and err.loc is not None and err.loc.line == 6
    err = error(text("input: [3, 8, 8]\nlayers:\n  - max_unpool\n"))
    assert "needs `indices:`" in err.what


# -------------------------------------------------------------------------- stage rows --


STAGES = text("""\
input: [8, 16, 16]
blocks:
  unit:
    params: [c, s, d, n]
    layers:
      - conv: {id: conv, out: $c * $n, k: 3, s: $s, d: $d, p: $d}
layers:
  - stages:
      id: stage
      block: unit
      count: blocks
      columns: [c, blocks, s, d, n]
      rows:
        - [4, 3, 2, {first: 1, rest: 2}, 1]
        - [4, 2, 1, 2, {first: 2, rest: 3}]
""")


def test_stage_rows_vary_beyond_the_first_stride() -> None:
    """A dilated ResNet row keeps dilation 1 in its first block, then 2; `count: blocks` makes
    `n` an ordinary block parameter (here the channel multiplier)."""
    graph = archcalc.to_graph(STAGES)
    convs = [(n.name, n.op.s, n.op.d, n.op.out) for n in graph.nodes]
    assert convs == [
        ("stage1.0.conv", 2, 1, 4), ("stage1.1.conv", 1, 2, 4), ("stage1.2.conv", 1, 2, 4),
        ("stage2.0.conv", 1, 2, 8), ("stage2.1.conv", 1, 2, 12),
    ]


def test_stage_row_errors() -> None:
    bad_cell = STAGES.replace("{first: 1, rest: 2}", "{first: 1}")
    err = error(bad_cell)
    assert "needs `first` and `rest`" in err.what and err.loc is not None
    bad_count = STAGES.replace("count: blocks", "count: depth")
    err = error(bad_count)
    assert "`count` must name one of the columns" in err.what


# -------------------------------------------------------------------- if:-skipped layers --


SE = text("""\
input: [8, 4, 4]
scale: {se: 1}
blocks:
  block:
    layers:
      - conv: {id: conv, out: 8, k: 3, p: 1}
      - global_avgpool: {id: squeeze, if: $se}
      - fc: {id: se_fc1, out: 2, if: $se}
      - fc: {id: se_fc2, in: se_fc1, out: 8, act: sigmoid}
      - multiply: {id: excite, in: [conv, se_fc2]}
layers:
  - block: {id: b}
""")


def test_layers_that_only_read_skipped_layers_are_skipped() -> None:
    """With se = 0 the squeeze and the first fc are skipped by their `if:`; the second fc
    reads only the first, so it cannot run either, and the gate reads the conv and it: the
    block is then the conv alone — no "`in: se_fc1` names no node" error."""
    with_se = archcalc.analyze(SE)
    assert [r.name for r in with_se.layers] == [
        "b.conv", "b.squeeze", "b.se_fc1", "b.se_fc2", "b.excite"]
    err = error(SE.replace("se: 1", "se: 0"))
    assert "`in: se_fc2` refers to layer 'se_fc2', which its `if:` skipped" in err.what
    assert "(line 11)" in err.what and err.loc is not None and err.loc.line == 12
    both = SE.replace("se: 1", "se: 0").replace("in: [conv, se_fc2]}",
                                                 "in: [conv, se_fc2], if: $se}")
    without = archcalc.analyze(both)
    assert [r.name for r in without.layers] == ["b.conv"]


def test_sequential_takes_an_if() -> None:
    source = text("""\
input: [3, 8, 8]
scale: {extra: 0}
layers:
  - conv: {id: c, out: 4, k: 3, p: 1}
  - sequential: {id: more, if: $extra, layers: [{conv: {out: 4, k: 3, p: 1}}, relu]}
  - relu: {id: last}
""")
    assert [r.name for r in archcalc.analyze(source).layers] == ["c", "last"]
    assert len(archcalc.analyze(archcalc.to_graph(source, scale={"extra": 1})).layers) == 4


# -------------------------------------------------------------------------- expressions --


def test_log_log2_exp() -> None:
    """RegNet's width generator (Radosavovic et al. 2020, Eq. 2-3): u_j = w0 + wa·j,
    s_j = round(log(u_j/w0)/log(wm)), w_j = w0·wm^s_j; here w0 = 24, wa = 36, wm = 2.5:
    u_2 = 96, s_2 = round(log 4 / log 2.5) = round(1.513) = 2, w_2 = 24·2.5² = 150."""
    env = {"w0": 24, "wa": 36, "wm": 2.5, "j": 2}
    assert evaluate("round(log(($w0 + $wa*$j)/$w0)/log($wm))", env) == 2
    assert evaluate("$w0 * $wm ** round(log(($w0 + $wa*$j)/$w0, $wm))", env) == 150.0
    assert evaluate("log2(64)", {}) == 6.0
    assert evaluate("exp(0) + log(1)", {}) == 1.0
    report = archcalc.analyze(spec([{"conv": {"out": "int(log2($cin)) * 4", "k": 1}}],
                                   input=[16, 2, 2]))
    assert report.layers[0].output_shape == (16, 2, 2)  # log2(16)·4 = 16
    err = error(text("input: [3, 8, 8]\nlayers:\n  - conv: {out: log(0), k: 1}\n"))
    assert "log(0) is undefined" in err.what and err.loc is not None and err.loc.line == 5


# --------------------------------------------------------------------------- frozen BN --


def test_frozen_batch_norm_from_the_defaults() -> None:
    """torchvision's FrozenBatchNorm2d keeps γ and β as buffers: a fused BN takes the `bn:`
    defaults, so a detection backbone has no BN params and 4C buffers per BN."""
    source = text("""\
input: [3, 8, 8]
defaults:
  conv: {bias: false, bn: true}
  bn: {frozen: true}
layers:
  - conv: {id: c, out: 4, k: 3, p: 1}
  - residual: {shortcut: project, body: [{conv: {out: 8, k: 3, s: 2, p: 1}}]}
""")
    report = archcalc.analyze(source)
    assert report.layer("c").params == 4 * 27 and report.layer("c").buffers == 4 * 4
    shortcut = report.layer("downsample1")  # the projection's BN is frozen too
    assert (shortcut.params, shortcut.buffers) == (8 * 4, 4 * 8)
