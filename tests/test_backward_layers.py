"""The NumPy backward of the conv, linear, lenet, pool and resample families, class by class.

Every case of tests/layer_cases.py whose target is one of these classes (without fused
post-ops, which are the activation and norm families' own) is checked three ways, in float64:

1. against central differences (tests/gradcheck.py) on every input and trainable tensor, the
   ``saved`` mapping built as the executor builds it;
2. by value against the slow loop reference of its forward (tests/references.py), through
   Euler's theorem for positively homogeneous maps: each of these layers is linear (or, the
   maxima, piecewise linear with ``f(λx) = λ·f(x)``) in its input together with its bias, and
   in its weight together with its bias, so for ``L = Σ y·g``
   ``Σ x·∂L/∂x + Σ b·∂L/∂b = L = Σ W·∂L/∂W + Σ b·∂L/∂b`` with ``L`` computed from the
   REFERENCE's output; the Gram matrix is of degree 2 (``Σ x·∂L/∂x = 2L``), a matrix product
   of degree 1 in each factor, a deformable conv in its map, its weight and its mask;
3. its MACs: each gradient of a convolution, fully connected layer, matrix product or LeNet
   subsampling costs the forward's MACs (every forward product appears once in ∂x and once in
   ∂W), the Gram matrix's two factors' gradients its forward's each; pools and resizes count
   none — and the count is the engine's rule (``backward_work``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from gradcheck import check
from layer_cases import CASES, Case

import archcalc
from archcalc.executor import Context, init_weights, run
from archcalc.layers import LAYER_CLASSES
from archcalc.layers.base import BIAS, COEFFICIENT, WEIGHT

FAMILIES = ("conv", "linear", "lenet", "pool", "resample")


def _mine(cls: type) -> bool:
    return cls.__module__.rsplit(".", 1)[-1] in FAMILIES


def _cases() -> list[Case]:
    out = []
    for case in CASES:
        node = archcalc.to_graph(case.spec()).node(case.target)
        if _mine(type(node.op)) and not node.post:
            out.append(case)
    return out


MINE = _cases()
#: (input positions of degree 1 with the bias, their degree) per class; default: every float
#: input together, degree 1 (an FPN's RoIAlign is linear in all its levels at once)
HOMOGENEOUS: dict[str, tuple[tuple[tuple[int, ...], int], ...]] = {
    "Gram": (((0,), 2),),
    "MatMul": (((0,), 1), ((1,), 1)),
    "DeformConv": (((0,), 1),),
}
#: backward MACs (both gradients) per forward MAC: the Gram matrix's two factors are both the
#: input, each gets its gradient as a matrix product's (autograd's), 2 × C²·∏n
MAC_FACTOR = {"Gram": 2, "MatMul": 2}


def _setup(case: Case) -> tuple[Any, list[np.ndarray], dict[str, np.ndarray],
                                dict[str, np.ndarray]]:
    """The target node, its float64 inputs (as the executor hands them), its tensors and every
    activation of the case's spec (for the reference)."""
    spec = case.spec()
    graph = archcalc.to_graph(spec)
    node = graph.node(case.target)
    acts = dict(run(spec, keep="all", dtype=np.float64, batch=2).activations)
    params, buffers = init_weights(node, 0, np.float64)
    w = {**params, **buffers}
    inputs = [acts[name] for name in node.inputs]
    for i, ref in enumerate(type(node.op).REF_INPUTS):
        if ref == "indices":  # the named pool's argmax positions, as the executor passes them
            at = len(inputs) - len(type(node.op).REF_INPUTS) + i
            pool = graph.node(node.inputs[at])
            src = [acts[n] for n in pool.inputs]
            inputs[at] = pool.op.forward_indices(src, {}, Context(np.float64))[1]
    return node, inputs, w, acts


def _differentiable(inputs: list[np.ndarray]) -> tuple[int, ...]:
    return tuple(i for i, a in enumerate(inputs) if a.dtype.kind == "f")


def test_every_class_of_these_families_is_checked() -> None:
    """Set equality: a class of these families without a backward case fails here."""
    covered = {type(archcalc.to_graph(c.spec()).node(c.target).op).__name__ for c in MINE}
    assert covered == {cls.__name__ for cls in LAYER_CLASSES if _mine(cls)}


@pytest.mark.parametrize("case", MINE, ids=[c.name for c in MINE])
def test_gradients_match_finite_differences(case: Case) -> None:
    node, inputs, w, _ = _setup(case)
    inputs = [a[:1] for a in inputs]  # one sample: every element is perturbed twice
    result = check(node.op, node.in_shapes, inputs=inputs, weights=w,
                   differentiable=_differentiable(inputs))
    name = type(node.op).__name__
    factor = MAC_FACTOR.get(name, 2 if node.op.params(node.in_shapes) else 0)
    batch = inputs[0].shape[0]
    assert result.macs == factor * case.macs * batch
    rule = node.op.backward_work(node.in_shapes, node.out_shape, True, True)
    assert result.macs == (rule[0].macs + rule[1].macs) * batch  # the engine's rule


@pytest.mark.parametrize("case", MINE, ids=[c.name for c in MINE])
def test_gradients_by_value_against_the_reference(case: Case) -> None:
    node, inputs, w, acts = _setup(case)
    op = node.op
    ctx = Context(np.float64)
    y, private = op.forward_train([a.copy() for a in inputs], w, ctx)
    reference = case.reference(acts, w)
    np.testing.assert_allclose(y, reference, rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(7).standard_normal(y.shape)
    loss = float(np.sum(reference * g))
    names = ["x"] if len(inputs) == 1 else [f"x{i}" for i in range(len(inputs))]
    graph = {**dict(zip(names, inputs, strict=True)), "y": y}
    # exactly what the rule keeps: a graph tensor, a private one, or ("x1.indices") the
    # private tensor of input 1's producer — the input itself here
    saved = {s.name: graph[s.name.split(".")[0]] if s.name.split(".")[0] in graph and (
        "." in s.name or s.name in graph) else private[s.name]
        for s in op.saves(node.in_shapes, node.out_shape, True, True)}
    ctx.ins = node.in_shapes
    dxs, dws = op.backward(saved, w, g, ctx, True, True)
    roles = {t.name: t.role for t in op.tensors(node.in_shapes)}
    bias = sum(float(np.sum(w[k] * dws[k])) for k, r in roles.items() if r == BIAS)
    scale = max(1.0, abs(loss))
    every = ((_differentiable(inputs), 1),)
    for positions, degree in HOMOGENEOUS.get(type(op).__name__, every):
        total = sum(float(np.sum(inputs[i] * dxs[i])) for i in positions)
        with_bias = bias if degree == 1 else 0.0
        assert abs(total + with_bias - degree * loss) <= 1e-9 * scale, (total, loss)
    if any(r in (WEIGHT, COEFFICIENT) for r in roles.values()):
        total = sum(float(np.sum(w[k] * dws[k])) for k, r in roles.items()
                    if r in (WEIGHT, COEFFICIENT))
        assert abs(total + bias - loss) <= 1e-9 * scale, (total, loss)
    if type(op).__name__ == "DeformConv" and len(inputs) > 2:  # degree 1 in the mask too
        total = float(np.sum(inputs[2] * dxs[2]))
        assert abs(total + bias - loss) <= 1e-9 * scale, (total, loss)


#: geometries the cases above leave out, each a path of its own in the backward: (name, input,
#: layer) — checked against finite differences, at batch 1 and 2 (the single-product paths)
EXTRA = [
    ("conv 3x3 same, one group", (3, 6, 5), {"conv": {"out": 4, "k": 3, "p": 1}}),
    ("conv 4x4 same (uneven padding)", (2, 6, 6), {"conv": {"out": 3, "k": 4, "p": "same"}}),
    ("conv 1x1", (4, 3, 5), {"conv": {"out": 3, "k": 1}}),
    ("conv 1x1 grouped", (4, 3, 3), {"conv": {"out": 6, "k": 1, "groups": 2}}),
    ("conv3d", (2, 4, 4, 3), {"conv": {"out": 3, "k": 2, "p": [1, 0, 1]}}),
    ("conv without bias, stride 3", (2, 8, 7), {"conv": {"out": 2, "k": 3, "s": 3,
                                                         "bias": False}}),
    ("dwconv same", (3, 5, 5), {"dwconv": {"k": 3, "p": 1}}),
    ("deconv grouped dilated", (4, 3, 3), {"deconv": {"out": 2, "k": 2, "s": 2, "d": 2,
                                                      "groups": 2}}),
    ("deconv 1D", (3, 5), {"deconv": {"out": 2, "k": 3, "s": 2, "p": 1,
                                      "output_padding": 1}}),
    ("fc flat", (7,), {"fc": {"out": 3}}),
    ("avgpool with padding counted", (2, 5, 5), {"avgpool": {"k": 3, "s": 2, "p": 1}}),
    ("maxpool 1D", (2, 9), {"maxpool": {"k": 3, "s": 2}}),
    ("adaptive_avgpool to one", (2, 5, 3), {"adaptive_avgpool": {"out": 1}}),
    ("adaptive_maxpool 1D", (2, 7), {"adaptive_maxpool": {"out": 3}}),
    ("upsample nearest to an uneven size", (2, 3, 4), {"upsample": {"size": [5, 7]}}),
    ("upsample bilinear by 3", (2, 3, 3), {"upsample": {"scale": 3, "mode": "bilinear"}}),
]


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("name,shape,layer", EXTRA, ids=[e[0] for e in EXTRA])
def test_more_geometries(name: str, shape: tuple[int, ...], layer: dict[str, Any],
                         batch: int) -> None:
    spec = {"archcalc": 1, "name": "g", "input": list(shape), "layers": [layer]}
    node = archcalc.to_graph(spec).nodes[0]
    result = check(node.op, node.in_shapes, batch=batch)
    macs = node.op.work(node.in_shapes, node.out_shape).macs
    factor = 2 if node.op.params(node.in_shapes) else 0
    assert result.macs == factor * macs * batch


RF_CASES = [c for c in MINE if c.rf is not None]


@pytest.mark.parametrize("case", RF_CASES, ids=[c.name for c in RF_CASES])
def test_receptive_field_by_one_backward_pass(case: Case) -> None:
    """The support of one backward pass (support mode) is the set the forward probes find."""
    from archcalc.executor import measure_receptive_field

    graph = archcalc.to_graph(case.spec())
    backward = measure_receptive_field(graph, case.target, method="backward")
    forward = measure_receptive_field(graph, case.target, method="forward")
    assert backward.forwards == 0 and forward.forwards > 0
    assert backward.ok and backward.to_dict()["axes"] == forward.to_dict()["axes"]
