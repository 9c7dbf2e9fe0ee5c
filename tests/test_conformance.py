"""Conformance of every layer class, from the cases in tests/layer_cases.py.

Per case: the NumPy forward by value against a slow loop reference on random inputs; the
parameters and buffers against the hand arithmetic; the receptive field against the hand values
and against the executor's measurement of it (``measure_receptive_field``: the first and last
input pixel whose change changes a unit); the derivation of ``explain`` (which checks every line
against the layer's rules). Completeness is a set equality over the registered classes — of the
cases, of the protocol methods each class defines, of the weight roles the executor can fill —
not a search for words. ``python bench/mutate.py`` breaks each rule in turn and shows a test
here fails.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from layer_cases import CASES, Case

import archcalc
from archcalc.errors import ExecError
from archcalc.executor import INIT, PROBE, init_weights, measure_receptive_field, run
from archcalc.explain import explain
from archcalc.layers import (
    FAMILIES,
    LAYER_CLASSES,
    LAYER_TYPES,
    POST_PROTOCOL,
    PROTOCOL,
    ROLES,
    Activation,
    Layer,
)
from archcalc.layers.registry import _family_classes

F64 = np.float64


def graph_of(case: Case) -> archcalc.Graph:
    return archcalc.to_graph(case.spec())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_forward_by_value(case: Case) -> None:
    graph = graph_of(case)
    x = np.random.default_rng(11).standard_normal((2, *case.input)).astype(np.float32)
    result = run(graph, x, keep="all")
    assert result.ok, [step.problems for step in result.failures]
    node = graph.node(case.target)
    params, buffers = init_weights(node)
    tensors = {k: v.astype(F64) for k, v in {**params, **buffers}.items()}
    activations = {k: v.astype(F64) for k, v in result.activations.items()}
    expected = case.reference(activations, tensors)
    actual = result.activations[case.target]
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.astype(F64), expected, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_counts_by_hand(case: Case) -> None:
    row = archcalc.analyze(graph_of(case), convention="full").layer(case.target)
    assert (row.params, row.buffers, row.macs, row.flops) == (
        case.params, case.buffers, case.macs, case.flops)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_tensor_roles_by_hand(case: Case) -> None:
    """Each tensor's role decides how the executor fills it and how the probe sets it."""
    node = graph_of(case).node(case.target)
    assert {t.name: t.role for t in node.tensors()} == dict(case.roles)


def _fractions(rf: Any) -> tuple[tuple[Fraction, ...], ...]:
    return tuple(tuple(Fraction(v) for v in part) for part in rf)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_receptive_field_by_hand_and_measured(case: Case) -> None:
    graph = graph_of(case)
    row = archcalc.analyze(graph).layer(case.target)
    if case.rf is None:
        assert row.receptive_field is None
        with pytest.raises(ExecError, match="no receptive field"):
            measure_receptive_field(graph, case.target)
        return
    assert row.receptive_field is not None
    got = (tuple(a.size for a in row.receptive_field), tuple(a.jump for a in row.receptive_field),
           tuple(a.start for a in row.receptive_field))
    assert _fractions(got) == _fractions(case.rf)
    check = measure_receptive_field(graph, case.target)
    assert check.ok, check.to_dict()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_derivation(case: Case) -> None:
    graph = graph_of(case)
    row = archcalc.analyze(graph, convention="full").layer(case.target)
    values = explain(graph, case.target, convention="full").values
    assert (values["params"], values["buffers"], values["macs"], values["flops"]) == (
        row.params, row.buffers, row.macs, row.flops)


# ----------------------------------------------------------------------------- completeness --

def test_cases_cover_exactly_the_layer_classes() -> None:
    covered = {type(graph_of(case).node(case.target).op) for case in CASES}
    assert covered == set(LAYER_CLASSES)


def test_cases_cover_every_fused_post_op() -> None:
    """The layers a spec can fuse (``bn: true``, ``act: …``) are exactly those that define the
    post-op methods, and a case runs each of them fused."""
    fusable = {cls for cls in LAYER_CLASSES
               if all(getattr(cls, m) is not getattr(Layer, m) for m in POST_PROTOCOL)}
    fused = {type(p) for case in CASES for node in graph_of(case).nodes for p in node.post}
    acts = [kind for kind, (cls, _) in LAYER_TYPES.items() if cls is Activation]
    produced = {type(p) for kind in acts for p in archcalc.to_graph(
        {"archcalc": 1, "input": [2, 4, 4],
         "layers": [{"conv": {"out": 2, "k": 1, "bn": True, "act": kind}}]}).nodes[0].post}
    assert fusable == fused == produced


def test_every_class_defines_every_rule() -> None:
    missing = sorted((cls.__name__, method) for cls in LAYER_CLASSES for method in PROTOCOL
                     if getattr(cls, method) is getattr(Layer, method))
    assert missing == []


def test_every_weight_role_has_an_initialisation_and_a_probe() -> None:
    used = {t.role for case in CASES for node in graph_of(case).nodes for t in node.tensors()}
    assert set(INIT) == set(PROBE) == set(ROLES) == used


def test_the_registry_is_the_family_classes() -> None:
    """Every class a family module defines is registered, under the names it declares."""
    defined = [cls for module in FAMILIES for cls in _family_classes(module)]
    assert defined == list(LAYER_CLASSES)
    assert {cls for cls, _ in LAYER_TYPES.values()} == set(LAYER_CLASSES)
    for cls in LAYER_CLASSES:
        assert cls.__module__.startswith("archcalc.layers."), cls
