"""Work that is bounded (issue 13, section 2): no spec, grid or batch makes archcalc run for
minutes or take the machine's memory. Nothing here asserts a time: each test asserts the size
that bounds the work (the numbers carried, the candidates compared, the bytes allocated).
"""

from __future__ import annotations

import difflib
import sys
import tracemalloc
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from refusal import HEAD, cli_run, refused, spec_file

import archcalc
from archcalc import budget
from archcalc.args import MAX_SUGGEST, closest
from archcalc.errors import ArchcalcError, ExecError, SpecError
from archcalc.executor import run
from archcalc.graph import MAX_NESTING
from archcalc.shapes import RF_LIMIT
from archcalc.sweep import MAX_LAYERS, MAX_POINTS, grid_points, sweep

# ------------------------------------------------------------------------ receptive field --

RESIZES = ("archcalc: 1\ninput: [1, 1009]\nlayers:\n"
           "  - repeat: {n: 10000, layers: [{conv: {out: 1, k: 2}}, {upsample: {size: 1009}}]}\n")


def _bounded(report: archcalc.Report) -> None:
    """Every receptive-field value reported has a numerator and denominator below 2^64."""
    for row in report.layers:
        for axis in row.receptive_field or ():
            for value in axis:
                f = Fraction(value)
                assert abs(f.numerator) < RF_LIMIT and f.denominator < RF_LIMIT, row.name


def test_alternating_resizes_stop_being_tracked_past_2_64() -> None:
    """conv k=2 maps 1009 to 1008 and the resize back to 1009 refines the grid by 1009/1008:
    after i resizes the jump is (1008/1009)^i, exact while 1009^i < 2^64 — 1009^6 ≈ 1.06e18
    is, 1009^7 ≈ 1.07e21 is not — so the 7th resize (repeat1.6) is the first untracked."""
    report = archcalc.analyze(RESIZES)
    assert len(report.layers) == 20_000
    _bounded(report)
    assert report.layer("repeat1.5.upsample1").receptive_field[0].jump == Fraction(1008, 1009)**6
    assert 1009**6 < RF_LIMIT < 1009**7
    assert report.layer("repeat1.6.conv1").receptive_field is not None
    assert report.layer("repeat1.6.upsample1").receptive_field is None
    assert report.layers[-1].receptive_field is None
    assert report.warnings == ("repeat1.6.upsample1: receptive field not tracked from here on "
                               "(its exact value needs numbers beyond 2^64); reported as null",)
    assert report.to_dict()["layers"][-1]["receptive_field"] is None


def test_a_jump_that_doubles_100000_times() -> None:
    """maxpool k=1 s=2 keeps a 1-pixel map 1 pixel wide and doubles the jump: 2^63 is below
    2^64 and tracked (layer 63, counting from 1), 2^64 is not (it used to be an OverflowError
    after 1,024 layers, when the integer met a float)."""
    report = archcalc.analyze("archcalc: 1\ninput: [1, 1]\nlayers:\n"
                              "  - repeat: {n: 100000, layers: [{maxpool: {k: 1, s: 2}}]}\n")
    assert report.layers[62].receptive_field[0].jump == 2**63  # after 63 strides of 2
    assert report.layers[63].receptive_field is None
    assert report.warnings[0].startswith("repeat1.63.maxpool1: receptive field not tracked")
    _bounded(report)


# ---------------------------------------------------------------------------------- sweep --


def test_a_sweep_grid_is_bounded_before_any_point_is_made() -> None:
    """3,000 × 3,000 values used to make 9,000,000 point dicts (1.8 GiB) before the first."""
    grid = {"width": [1 + i / 1000 for i in range(3000)],
            "resolution": list(range(100, 3100))}
    with pytest.raises(ArchcalcError) as info:
        grid_points(grid)
    assert str(info.value) == (
        "error: a sweep of 9,000,000 points (3,000 × 3,000) is beyond the limit of 10,000\n"
        "  hint: sweep fewer values per parameter, or split the sweep")
    assert len(grid_points({"a": list(range(100)), "b": list(range(100))})) == MAX_POINTS
    with pytest.raises(ArchcalcError, match="10,001 points"):
        grid_points({"a": list(range(10_001))}, "zip")


def test_sweep_grid_limit_through_the_cli() -> None:
    values = ",".join(f"{1 + i / 1000}" for i in range(101))
    res = cli_run("sweep", "mobilenet_v1", "--set", f"width={values}", "--set",
                  f"resolution={','.join(str(128 + i) for i in range(100))}")
    refused(res, "error: a sweep of 10,100 points (101 × 100) is beyond the limit of 10,000",
            hint="sweep fewer values")


def test_sweep_layer_analyses_are_bounded_after_the_first_point() -> None:
    """10,000 points of a 1,001-layer spec would be 10,010,000 layer analyses > 10^7."""
    spec = archcalc.load_spec("archcalc: 1\ninput: [3, 8, 8]\nscale: {w: 1}\nlayers:\n"
                              "  - repeat: {n: 1001, layers: [relu]}\n")
    with pytest.raises(ArchcalcError) as info:
        sweep(spec, {"w": list(range(1, 10_001))})
    assert info.value.what == ("10,000 points of 1,001 layers make 10,010,000 layer analyses; "
                               f"the limit is {MAX_LAYERS:,}")


# ---------------------------------------------------------------------- did you mean … --


def test_did_you_mean_compares_a_bounded_number_of_names(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """A bad `in:` after 240,000 layers spent ~5 s in difflib (23 s with `repeat` names)."""
    seen: list[int] = []
    real = difflib.get_close_matches

    def counting(word: str, possibilities: Any, *args: Any, **kwargs: Any) -> list[str]:
        seen.append(len(possibilities))
        return real(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(difflib, "get_close_matches", counting)
    names = [f"repeat1.{i}.relu1" for i in range(240_000)]
    assert closest("repeat1.23999.relu1x", names) == ["repeat1.23999.relu1"]
    assert closest("x" * 5000, names) == []  # a 5,000-character word is no name
    assert seen == [MAX_SUGGEST]


def test_bad_input_name_after_a_long_repeat() -> None:
    text = ("archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - repeat: {n: 24000, layers: [relu]}\n"
            "  - relu: {in: repeat1.2399.relu1x}\n")
    with pytest.raises(SpecError) as info:
        archcalc.analyze(text)
    assert info.value.hint is not None
    assert info.value.hint.startswith("did you mean 'repeat1.2399.relu1'?")


# ---------------------------------------------------------------------------- nesting --

_WRAP = {"residual": "{residual: {body: [X]}}", "concat": "{concat: [[X], [relu]]}",
         "concat entry": "{concat: [X, relu]}", "branches": "{concat: {branches: [[X], [relu]]}}",
         "repeat": "{repeat: {n: 1, layers: [X]}}", "sequential": "{sequential: {layers: [X]}}",
         "stages": "{residual: {body: [X]}}"}
# the innermost layer holds a 479-character expression: _eval recurses once per `+` (239)
_LEAF = "{conv: {out: '" + "+".join(["1"] * 240) + "', k: 1}}"


def nested(kind: str, levels: int) -> str:
    """A spec whose innermost layer sits ``levels`` blocks and composites deep: block calls
    b0 → b1 → …, each block holding up to 4 levels of ``kind`` (4 × 3 YAML levels stay within
    the YAML limit of 64 per block); `- b0` at the top is level 1. For ``stages`` each block
    calls the next through a one-row `stages` (a level) inside residuals."""
    blocks: list[str] = []
    level, i = 1, 0
    while True:
        n = min(4, levels - level)
        last = level + n >= levels
        body = _LEAF if last else (f"{{stages: {{block: b{i + 1}, columns: [n], rows: [[1]]}}}}"
                                   if kind == "stages" else f"b{i + 1}")
        for _ in range(n):
            body = _WRAP[kind].replace("X", body)
        blocks.append(f"  b{i}:\n    layers: [{body}]\n")
        level += n
        if last:
            break
        level, i = level + 1, i + 1
    return "archcalc: 1\ninput: [240, 4, 4]\nblocks:\n" + "".join(blocks) + "layers:\n  - b0\n"


def _from_deep_stack(depth: int, fn: Any) -> Any:
    return fn() if depth == 0 else _from_deep_stack(depth - 1, fn)


@pytest.mark.parametrize("kind", sorted(_WRAP))
def test_every_kind_of_nesting_builds_at_the_limit(kind: str) -> None:
    """At MAX_NESTING levels (and a caller 200 frames deep, more than pytest's own) every spec
    builds: the limit, not Python's recursion limit, is what refuses a deeper one."""
    assert sys.getrecursionlimit() == 1000
    text = nested(kind, MAX_NESTING)
    report = _from_deep_stack(200, lambda: archcalc.analyze(text))
    leaf = [row for row in report.layers if row.type == "conv"]
    assert len(leaf) == 1 and leaf[0].output_shape == (240, 4, 4)  # out = 240 ones added


@pytest.mark.parametrize("kind", sorted(_WRAP))
def test_one_level_more_is_refused_with_a_location(kind: str) -> None:
    text = nested(kind, MAX_NESTING + 1)
    with pytest.raises(SpecError) as info:
        archcalc.analyze(text)
    err = info.value
    assert err.what == f"blocks and composites nest more than {MAX_NESTING} levels deep"
    assert err.loc is not None and err.loc.line > 3 and err.loc.col > 1
    assert err.hint is not None and "use repeat or stages" in err.hint


def test_32_blocks_with_nested_residuals_is_refused_at_the_deepest_layer(tmp_path: Path
                                                                        ) -> None:
    """The issue's spec: within the old limits (32 nested blocks) but nesting 96 levels; it was
    refused as "nests too deeply" with no line. Block i is called at level 3i + 1 and holds
    two residuals (3i + 2, 3i + 3): b21 is called at level 64, its first residual is level 65.
    Block i's `layers:` is line 5 + 2i: line 47 for b21."""
    blocks = "".join(
        f"  b{i}:\n    layers: [{{residual: {{body: [{{residual: {{body: [b{i + 1}]}}}}]}}}}]\n"
        for i in range(31))
    text = ("archcalc: 1\ninput: [3, 8, 8]\nblocks:\n" + blocks + "  b31:\n    layers: [relu]\n"
            "layers:\n  - b0\n")
    spec = spec_file(tmp_path, text)
    # "    layers: [{" is 14 characters: the first `residual` key is column 15
    line = refused(cli_run("table", spec), f"{spec}:47:15: error: (block 'b0', block 'b1', … 18 "
                   "more …, block 'b20', block 'b21'): blocks and composites nest more than 64 "
                   "levels deep", hint="flatten the nesting")
    assert "nests too deeply" not in line


# --------------------------------------------------------------------- the executor's memory --

_HUGE = {
    "deconv s=20000": (HEAD + "  - deconv: {out: 4, k: 2, s: 20000}\n", "deconv1", "deconv"),
    "adaptive out 100000": (HEAD + "  - adaptive_avgpool: {out: 100000}\n", "adaptive_avgpool1",
                            "adaptive_avgpool"),
    "fc with 10^11 weights": ("archcalc: 1\ninput: [100000]\nlayers:\n  - fc: {out: 1000000}\n",
                              "fc1", "fc"),
    "upsample scale 4000": (HEAD + "  - upsample: {scale: 4000}\n", "upsample1", "upsample"),
    "conv k=100 im2col": ("archcalc: 1\ninput: [3, 1000, 1000]\nlayers:\n  - conv: {out: 1, "
                          "k: 100}\n", "conv1", "conv"),
}


@pytest.mark.parametrize("case", sorted(_HUGE))
def test_verify_refuses_a_run_beyond_the_budget_naming_the_layer(tmp_path: Path,
                                                                 case: str) -> None:
    """Each of these allocated whatever it asked for (the upsample: 5 GB, exit 0). Now the
    prediction refuses it with exit 1 at the layer's line, before anything is allocated: the
    budget is given (64 MiB) so the outcome does not depend on the machine."""
    text, layer, kind = _HUGE[case]
    spec = spec_file(tmp_path, text)
    line = refused(cli_run("verify", spec, "--max-memory", "64M"),
                   f"{spec}:4:5: error: layer '{layer}' ({kind}): "
                   "running it needs ", "more than the memory budget of 64.0 MiB "
                   "(set by --max-memory)", hint="raise the budget with --max-memory SIZE")
    assert "max_memory=" not in line  # CLI words in the CLI
    graph = archcalc.to_graph(text)
    tracemalloc.start()
    try:
        with pytest.raises(ExecError, match=r"more than the memory budget of 64\.0 MiB "
                           r"\(set by max_memory=\)"):
            run(graph, max_memory="64M")
        assert tracemalloc.get_traced_memory()[1] < 32 << 20  # refused before allocating
    finally:
        tracemalloc.stop()


def test_verify_default_budget_is_the_available_memory() -> None:
    """Without --max-memory the budget is 80 % of the memory available now (the fc would need
    10^11 × 4 bytes = 373 GiB of weights)."""
    res = cli_run("verify", "archcalc: 1\ninput: [100000]\nlayers:\n  - fc: {out: 1000000}\n")
    assert res.exit_code == 1 and "weights 372.5 GiB" in res.stderr
    assert "of available memory" in res.stderr or "cgroup" in res.stderr \
        or "cannot be read" in res.stderr


def test_batch_100000_is_refused_at_the_first_layer() -> None:
    res = cli_run("verify", "alexnet", "--batch", "100000", "--max-memory", "8G")
    refused(res, "alexnet.yaml:", "layer 'conv1' (conv): running it needs ", "at batch 100000",
            hint="use a smaller batch")
    with pytest.raises(ExecError, match="at batch 100000"):
        archcalc.execute("alexnet", batch=100_000)


def test_a_run_within_the_budget_is_untouched_and_the_budget_is_an_upper_bound() -> None:
    graph = archcalc.to_graph("lenet5")
    predicted = budget.predict(graph, 1).peak_bytes
    assert run(graph, max_memory=predicted).ok  # exactly the prediction suffices
    with pytest.raises(ExecError, match=r"more than the memory budget of 1\.0 KiB"):
        run(graph, max_memory="1K")


_FAMILIES = {
    "conv": "conv: {out: 16, k: 3, p: 1}", "conv 1x1": "conv: {out: 16, k: 1}",
    "conv stride 2": "conv: {out: 16, k: 3, s: 2, p: 1}", "grouped": "conv: {out: 16, k: 3, "
    "p: 1, groups: 4}", "depthwise": "dwconv: {k: 3, p: 1}", "depthwise x2": "dwconv: {out: 32, "
    "k: 3, p: 1}", "deconv": "deconv: {out: 16, k: 4, s: 2, p: 1}", "maxpool": "maxpool: {k: 3, "
    "s: 1, p: 1}", "avgpool": "avgpool: {k: 3, s: 1, p: 1}", "global avg": "global_avgpool",
    "adaptive down": "adaptive_avgpool: {out: 100}", "adaptive up": "adaptive_avgpool: {out: 200}",
    "bn": "bn", "layernorm": "layernorm", "lrn": "lrn: {size: 5}", "gelu": "gelu",
    "leaky_relu": "leaky_relu", "softmax": "softmax", "nearest x2": "upsample: {scale: 2}",
    "bilinear x2": "upsample: {scale: 2, mode: bilinear}", "bilinear size": "upsample: {size: "
    "200, mode: bilinear}", "zeropad": "zeropad: {p: 2}", "crop": "crop: {margin: 2}",
    "shuffle": "channel_shuffle: {groups: 4}", "slice": "slice: {start: 0, stop: 8}",
    "subsample": "subsample: {k: 2}", "conv bn gelu": "conv: {out: 16, k: 3, p: 1, bn: true, "
    "act: gelu}",
    # the layers beyond the classifier: deformable sampling, RoIAlign over two levels, the
    # unpooling of a pool's indices, group/instance/L2 norms, a Gram matrix
    "deform_conv": "conv: {id: offsets, out: 18, k: 3, p: 1}\n  - deform_conv: {in: [input, "
    "offsets], out: 16, k: 3, p: 1}", "roi_align": "maxpool: {id: p1, k: 2}\n  - roi_align: {in: "
    "[input, p1], out: 7, regions: 300, scale: 0.25}", "max_unpool": "maxpool: {id: p, k: 2}\n"
    "  - max_unpool: {indices: p}", "groupnorm": "groupnorm: {groups: 4}",
    "instancenorm": "instancenorm", "l2norm": "l2norm", "gram": "gram",
}


@pytest.mark.parametrize("case", [*sorted(_FAMILIES), "fc", "bn 1d", "layernorm 1d",
                                  "softmax 1d", "alexnet", "resnet18", "mobilenet_v2",
                                  "googlenet", "efficientnet_b0", "lenet5"])
def test_the_prediction_is_never_below_the_measured_peak(case: str) -> None:
    """tracemalloc's peak over a whole run (input, weights, activations, scratch, temporaries
    and the run's Python objects) never exceeds budget.predict — the model the budget refuses
    by. Each family runs on a 16×128×128 input (1 MiB a tensor), 1-D ones on 4,000,000
    features, so that the temporaries, not the fixed allowance, decide."""
    if case in _FAMILIES:
        text = "archcalc: 1\ninput: [16, 128, 128]\nlayers:\n  - " + _FAMILIES[case] + "\n"
    elif case.endswith(" 1d") or case == "fc":
        layer = {"fc": "fc: {out: 64}"}.get(case, case.split()[0])
        text = f"archcalc: 1\ninput: [4000000]\nlayers:\n  - {layer}\n"
    else:
        text = case
    graph = archcalc.to_graph(text)
    predicted = budget.predict(graph, 1).peak_bytes
    tracemalloc.start()
    try:
        with np.errstate(all="ignore"):
            assert run(graph, max_memory=predicted).ok
        measured = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert measured <= predicted, (measured, predicted)


def test_max_memory_sizes() -> None:
    assert budget.parse_size("512M") == 512 * 2**20
    assert budget.parse_size("2G") == 2 * 2**30
    assert budget.parse_size("1.5GiB") == 3 * 2**29
    assert budget.parse_size("3GB") == 3 * 10**9
    assert budget.parse_size("1000") == 1000
    for bad in ("", "1x", "-1G", "0", "1e3", "G"):
        with pytest.raises(ValueError):
            budget.parse_size(bad)
    res = cli_run("verify", "lenet5", "--max-memory", "lots")
    assert res.exit_code == 2 and "'lots' is not a size such as 512M" in res.stderr
