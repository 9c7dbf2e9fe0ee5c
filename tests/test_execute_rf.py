"""Empirical receptive fields (sensitivity of one unit to half-planes of input pixels) against
the engine's size/jump/start, worked out by hand per network below."""

from __future__ import annotations

from typing import Any

import pytest

from archcalc.executor import RFCheck, measure_receptive_field


def spec(input_shape: list[int], layers: list[Any]) -> dict[str, Any]:
    return {"archcalc": 1, "name": "rf", "input": input_shape, "layers": layers}


def axis0(check: RFCheck) -> tuple[tuple[int, int], tuple[Any, Any]]:
    """(measured, engine's field clipped to the image) on axis 0 (all axes alike here)."""
    a = check.axes[0]
    assert all(b.measured == a.measured for b in check.axes)
    return a.measured, a.expected


def test_alexnet_pool5() -> None:
    # r: conv1 11 (j 4) → pool1 11 + 2·4 = 19 (j 8) → conv2 19 + 4·8 = 51 → pool2 51 + 2·8 = 67
    # (j 16) → conv3..5 67 + 3·2·16 = 163 → pool5 163 + 2·16 = 195 (j 32).
    # start: conv1 (11 − 1)/2 − 2 = 3 → pool1 3 + 1·4 = 7 → conv2 7 → pool2 7 + 8 = 15 →
    # conv3..5 15 → pool5 15 + 16 = 31. Unit 3: centre 31 + 3·32 = 127, field 127 ∓ 97.
    check = measure_receptive_field("alexnet")
    assert check.layer == "pool5" and check.unit == (3, 3)
    measured, expected = axis0(check)
    assert measured == (127 - 97, 127 + 97) == expected
    assert check.axes[0].measured_jump == 32 == check.axes[0].predicted_jump
    assert check.ok


@pytest.mark.slow
def test_vgg16_pool5() -> None:
    # Araujo et al., "Computing receptive fields of CNNs", Distill 2019: VGG-16 r = 212.
    # By stage (two or three 3×3 convs, each + 2·j, then a 2×2 pool, + j, j doubles):
    # 1 + 2·2·1 + 1 = 6, + 2·2·2 + 2 = 16, + 3·2·4 + 4 = 44, + 3·2·8 + 8 = 100,
    # + 3·2·16 + 16 = 212; start 0.5 + 1 + 2 + 4 + 8 = 15.5, unit 3: 15.5 + 96 = 111.5 ∓ 105.5
    layers: list[Any] = []
    for convs, width in ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)):
        layers += [{"conv": {"out": width, "k": 3, "p": 1, "act": "relu"}}] * convs
        layers.append({"maxpool": {"k": 2, "s": 2}})
    check = measure_receptive_field(spec([3, 224, 224], layers))
    assert check.unit == (3, 3)
    assert axis0(check) == ((6, 217), (6, 217))
    assert check.axes[0].predicted[1] - check.axes[0].predicted[0] + 1 == 212
    assert check.ok


def test_dilated_stack() -> None:
    # Yu & Koltun (arXiv:1511.07122): 3×3 convs with dilation 1, 2, 4, 8 ("same" padding d):
    # r = 1 + 2·(1 + 2 + 4 + 8) = 31; unit i sees [i − 15, i + 15]
    layers = [{"conv": {"out": 3, "k": 3, "d": d, "p": d, "act": "relu"}} for d in (1, 2, 4, 8)]
    check = measure_receptive_field(spec([1, 64, 64], layers))
    i = check.unit[0]
    assert axis0(check) == ((i - 15, i + 15), (i - 15, i + 15))
    assert check.axes[0].measured_jump == 1
    assert check.ok


def test_branching_inception_and_residual() -> None:
    # stem 3×3/2 (r 3, j 2, start 0) → concat of 1×1 | 1×1,3×3 | 1×1,5×5 | maxpool 3,1×1:
    # the 5×5 branch is the largest, 3 + 4·2 = 11 → residual of two 3×3: + 2·2·2 = 19 →
    # maxpool 2/2: 19 + 2 = 21, j 4, start 0 + ½·2 = 1; unit 5: 1 + 5·4 = 21, field 21 ∓ 10
    layers = [
        {"conv": {"out": 4, "k": 3, "s": 2, "p": 1, "act": "relu"}},
        {"concat": [[{"conv": {"out": 2, "k": 1}}],
                    [{"conv": {"out": 2, "k": 1}}, {"conv": {"out": 2, "k": 3, "p": 1}}],
                    [{"conv": {"out": 2, "k": 1}}, {"conv": {"out": 2, "k": 5, "p": 2}}],
                    [{"maxpool": {"k": 3, "s": 1, "p": 1}}, {"conv": {"out": 2, "k": 1}}]]},
        {"residual": {"body": [{"conv": {"out": 8, "k": 3, "p": 1, "act": "relu"}},
                               {"conv": {"out": 8, "k": 3, "p": 1}}]}},
        {"maxpool": {"k": 2, "s": 2}},
    ]
    check = measure_receptive_field(spec([2, 48, 48], layers))
    assert check.unit == (5, 5)
    assert axis0(check) == ((11, 31), (11, 31))
    assert check.axes[0].measured_jump == 4
    assert check.ok


def test_branches_with_different_centres_merge_to_the_hull() -> None:
    # branch a pads (2, 0): unit i sees [i − 2, i]; branch b pads 1: [i − 1, i + 1]. The sum
    # sees the union [i − 2, i + 1], 4 pixels — larger than either branch (the engine took the
    # largest branch, 3, until the executor measured this)
    layers = [{"conv": {"id": "a", "out": 2, "k": 3, "p": [[2, 0], [2, 0]]}},
              {"conv": {"id": "b", "in": "input", "out": 2, "k": 3, "p": 1}},
              {"add": {"in": ["a", "b"]}}]
    check = measure_receptive_field(spec([1, 32, 32], layers))
    i = check.unit[0]
    assert axis0(check) == ((i - 2, i + 1), (i - 2, i + 1))
    assert check.ok


def test_se_gate_sees_the_whole_image() -> None:
    # squeeze-and-excitation: the gate (global pool → 1×1 conv → sigmoid) multiplies every
    # position, so each output depends on every pixel (measured on the base of ones)
    layers = [{"conv": {"id": "c", "out": 4, "k": 3, "p": 1}},
              {"global_avgpool": {"id": "g"}},
              {"conv": {"id": "e", "out": 4, "k": 1, "act": "sigmoid"}},
              {"multiply": {"in": ["c", "e"]}},
              {"conv": {"id": "out", "out": 2, "k": 3, "p": 1}}]
    check = measure_receptive_field(spec([1, 20, 20], layers), layer="out")
    assert axis0(check) == ((0, 19), (0, 19))
    assert check.ok


def test_chosen_layer_and_unit_at_the_border() -> None:
    # conv 3×3 p1 then 3×3 p1: r = 5; unit 0 sees [−2, 2], clipped by the border to [0, 2]
    layers = [{"conv": {"id": "a", "out": 2, "k": 3, "p": 1}},
              {"conv": {"id": "b", "out": 2, "k": 3, "p": 1}}]
    check = measure_receptive_field(spec([1, 9, 9], layers), layer="b", unit=(0, 4))
    predicted: tuple[Any, Any] = check.axes[0].predicted
    assert predicted == (-2, 2) and check.axes[0].measured == (0, 2)
    assert check.axes[1].measured == (4 - 2, 4 + 2)
    assert check.ok


def test_upsampling_is_compared_within_one_coarse_step() -> None:
    # after a 2×2/2 transposed conv each output copies one coarse unit: fields depend on the
    # output's phase, which the engine's uniform grid averages (documented in docs/executor.md)
    layers = [{"conv": {"out": 4, "k": 3, "p": 1}}, {"maxpool": {"k": 2}},
              {"conv": {"out": 4, "k": 3, "p": 1}},
              {"deconv": {"out": 4, "k": 2, "s": 2}},
              {"conv": {"id": "head", "out": 2, "k": 3, "p": 1}}]
    check = measure_receptive_field(spec([1, 40, 40], layers))
    a = check.axes[0]
    assert a.tolerance == 2  # the jump entering the transposed conv
    assert abs(a.measured[0] - a.expected[0]) <= 2 and abs(a.measured[1] - a.expected[1]) <= 2
    assert check.ok


def test_errors_name_the_problem() -> None:
    from archcalc import ExecError

    with pytest.raises(ExecError, match="no layer named 'nope'"):
        measure_receptive_field("lenet5", layer="nope")
    with pytest.raises(ExecError, match="outside the output"):
        measure_receptive_field("lenet5", layer="C1", unit=(28, 0))
    with pytest.raises(ExecError, match="no receptive field"):
        measure_receptive_field("lenet5", layer="F6")


def deepest_fitting_layer(name: str) -> str | None:
    """The last layer (maps larger than 2×2) whose field fits inside the image with a margin of
    two jumps, so that a unit's measured field is not cut by the border."""
    from fractions import Fraction

    import archcalc

    report = archcalc.analyze(name)
    n = report.input_shape[1:]
    best = None
    for row in report.layers:
        rf = row.receptive_field
        if rf is None or len(row.output_shape) != len(n) + 1 or min(row.output_shape[1:]) <= 2:
            continue
        if all(Fraction(a.size) <= n[i] - 2 * Fraction(a.jump) for i, a in enumerate(rf)):
            best = row.name
    return best


def bundled() -> list[tuple[str, str]]:
    """(spec, layer) for every bundled spec that has such a layer."""
    import archcalc

    pairs = []
    for name in archcalc.bundled_names():
        try:
            layer = deepest_fitting_layer(name)
        except archcalc.ArchcalcError:
            continue  # a broken spec fails in its own tests
        if layer is not None:
            pairs.append((name, layer))
    return pairs


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Analyse every bundled spec only when the slow tests are selected (``-m slow``):
    otherwise this test is deselected (tests/conftest.py) and collection stays fast."""
    if metafunc.function.__name__ != "test_bundled_spec_deepest_fitting_layer":
        return
    selected = "slow" in (metafunc.config.getoption("markexpr", "") or "")
    metafunc.parametrize(("name", "layer"), bundled() if selected else [("any", "deselected")])


@pytest.mark.slow
def test_bundled_spec_deepest_fitting_layer(name: str, layer: str) -> None:
    # every bundled network, at its deepest layer whose field fits the image: the measured
    # field (and jump) equals the engine's exactly, or within one coarse step after a resize
    check = measure_receptive_field(name, layer=layer)
    assert check.ok, [a.to_dict() for a in check.axes]


def test_a_support_shared_by_every_channel_stays_one_map() -> None:
    # in support mode a convolution's input gradient is one map per group shared by its
    # channels (a broadcast view, channel stride 0); a pool spreads that map once and a merge
    # adds two such maps once — the same numbers as on C materialised copies
    import numpy as np

    from archcalc.backprop import _accumulate
    from archcalc.layers.adjoint import spread_windows

    rng = np.random.default_rng(0)
    one, two = (rng.random((2, 1, 7, 6)).astype(np.float32) for _ in range(2))
    shared = np.broadcast_to(one, (2, 5, 7, 6))
    # a 3×3/2 pool with padding 1 over 13×11 gives the 7×6 map: ⌊(13 + 2 − 3)/2⌋ + 1 = 7, 6
    args = ((5, 13, 11), (3, 3), (2, 2), (1, 1), (1, 1), False)
    spread = spread_windows(shared, *args)
    assert np.array_equal(spread, spread_windows(np.ascontiguousarray(shared), *args))
    assert spread.shape == (2, 5, 13, 11) and spread.strides[1] == 0
    total = _accumulate(shared, np.broadcast_to(two, shared.shape))
    assert np.array_equal(total, shared + two) and total.strides[1] == 0
    full = rng.random((2, 5, 7, 6)).astype(np.float32)
    assert np.array_equal(_accumulate(shared, full), shared + full)
