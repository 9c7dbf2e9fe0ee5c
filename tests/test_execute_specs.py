"""Engine-vs-executor conformance on every bundled spec (and variant) that fits at batch 1.

For each spec the NumPy executor runs real float32 tensors through the whole graph; per layer
the executed output shape, the elements of the weight tensors it allocated and the MACs its
matrix products performed must equal the engine's prediction, and the output must be finite.
Specs are discovered at collection time (others add specs concurrently). Small ones run in the
normal suite — always AlexNet, LeNet-5, ResNet-50 and MobileNetV2 when present — the rest is
marked ``slow`` (``pytest -m slow tests/test_execute_specs.py``); specs beyond the memory
budget are not run at all and listed by a test that names them.
"""

from __future__ import annotations

from typing import Any

import pytest

import archcalc
from archcalc.engine import analyze_graph
from archcalc.executor import run

ALWAYS = ("alexnet", "lenet5", "resnet50", "mobilenet_v2")
#: a run's activations (peak, float32) + its largest layer's weights must fit in this
MEMORY_BUDGET = 2 << 30
#: normal suite: base specs (not variants) up to this many MACs and parameters (weight
#: creation dominates the big fully connected layers)
FAST_MACS, FAST_PARAMS = 4_500_000_000, 30_000_000


def names() -> list[tuple[str, bool]]:
    """(name, is a variant) for every bundled spec and its variants."""
    out: list[tuple[str, bool]] = []
    for name in archcalc.bundled_names():
        out.append((name, False))
        try:
            spec = archcalc.load_spec(name)
        except archcalc.ArchcalcError:
            continue  # a broken spec fails in its own tests, not here
        out.extend((f"{name}_{variant}", True) for variant in spec.variants)
    return out


def costs(name: str) -> tuple[int, int, int] | None:
    """(MACs, params, bytes) at batch 1, or None if the spec does not analyse."""
    try:
        graph = archcalc.to_graph(name)
    except archcalc.ArchcalcError:
        return None
    report = analyze_graph(graph)
    largest = max((sum(_prod(s) for s in n.weights().values()) for n in graph.nodes), default=0)
    memory = report.totals.peak_activation_bytes + 4 * largest
    return report.totals.macs, report.totals.params, memory


def _prod(shape: tuple[int, ...]) -> int:
    out = 1
    for v in shape:
        out *= v
    return out


def cases() -> tuple[list[Any], list[str]]:
    fast: list[Any] = []
    too_big: list[str] = []
    for name, variant in names():
        cost = costs(name)
        if cost is None:
            continue
        macs, params, memory = cost
        if memory > MEMORY_BUDGET:
            too_big.append(name)
        elif name in ALWAYS or (not variant and macs <= FAST_MACS and params <= FAST_PARAMS):
            fast.append(name)
        else:
            fast.append(pytest.param(name, marks=pytest.mark.slow))
    return fast, too_big


CASES, TOO_BIG = cases()


@pytest.mark.parametrize("name", CASES)
def test_bundled_spec_runs_as_predicted(name: str) -> None:
    result = run(name)
    bad = [f"{step.name}: {'; '.join(step.problems)}" for step in result.failures]
    assert result.ok and not bad, bad
    report = result.report
    totals = result.totals  # the training-only layers (an aux head) run and are checked too
    assert result.params_created == totals.params
    assert sum(step.buffers_created for step in result.steps) == totals.buffers
    # MAC instrumentation: the products the executor performed, layer by layer and in total
    assert [step.macs_counted for step in result.steps] == [row.macs for row in report.layers]
    assert result.macs_counted == totals.macs
    # liveness as the engine's: the largest sum of live activations is the predicted peak
    assert result.peak_live_bytes == totals.peak_activation_bytes


def test_the_must_run_specs_are_in_the_normal_suite() -> None:
    present = set(archcalc.bundled_names())
    fast = {c for c in CASES if isinstance(c, str)}
    assert {name for name in ALWAYS if name in present} <= fast
    assert "alexnet" in fast and "lenet5" in fast  # bundled since the core


def test_specs_beyond_the_memory_budget_are_named() -> None:
    # EfficientNet-B7 at 600 px and similar are analysed by the engine but not executed here
    for name in TOO_BIG:
        cost = costs(name)
        assert cost is not None and cost[2] > MEMORY_BUDGET, name


def test_batch_of_two_alexnet() -> None:
    result = run("alexnet", batch=2)
    assert result.ok
    # lecture AlexNet conv1: 64·56·56·3·11·11 MACs per sample, two samples
    assert result.steps[0].macs_counted == 2 * 64 * 56 * 56 * 3 * 11 * 11
    assert result.activations["fc8"].shape == (2, 1000)
