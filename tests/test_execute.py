"""The NumPy executor against independent slow references and the seed's worked examples.

Every layer's forward (run by :mod:`archcalc.executor`) is checked against a direct loop over
output positions written here from PyTorch's definitions (no im2col, no stride tricks), on tiny
inputs; every run also checks that the executed shapes, the created parameter tensors and the
counted MACs equal the engine's (``run(...).ok``). The seed's worked examples (000:
vertical/horizontal edges, the strided 7×7 ∗ 3×3, max pooling, the transposed-convolution matrix)
are reproduced number for number. A test fails when a layer class has no forward; every class
is also checked by value in tests/test_conformance.py, which fails unless its cases cover
exactly the registered classes.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import math
import sys
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from references import (
    ACT,
    F64,
    Tensors,
    positions,
    ref_act,
    ref_bn,
    ref_conv,
    ref_deconv,
    ref_pool,
    ref_upsample,
    resolve,
)

import archcalc
from archcalc.executor import Execution, init_weights, run
from archcalc.graph import Graph
from archcalc.layers import LAYER_CLASSES
from archcalc.shapes import prod


def spec(input_shape: Sequence[int], layers: list[Any]) -> dict[str, Any]:
    return {"archcalc": 1, "name": "t", "input": list(input_shape), "layers": layers}


def execute(input_shape: Sequence[int], layers: list[Any], x: np.ndarray | None = None,
            weights: Any = None, batch: int = 2) -> tuple[Execution, Graph]:
    s = spec(input_shape, layers)
    graph = archcalc.to_graph(s)
    if x is None:
        x = np.random.default_rng(7).standard_normal((batch, *input_shape)).astype(np.float32)
    result = run(graph, x, keep="all", weights=weights)
    assert result.ok, [step.problems for step in result.failures]
    return result, graph


def tensors(graph: Graph, index: int = -1) -> Tensors:
    params, buffers = init_weights(graph.nodes[index])
    return {k: v.astype(F64) for k, v in {**params, **buffers}.items()}


def close(actual: np.ndarray, expected: np.ndarray, tol: float = 2e-5) -> None:
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual.astype(F64), expected, rtol=tol, atol=tol)


# ------------------------------------------------------------------------------ convolution --

SAME_OR_VALID = ["same", "valid"]


@pytest.mark.parametrize(("k", "s", "p", "d", "groups"), [
    (k, s, p, d, g)
    for k, s, p, d, g in itertools.product([1, 2, 3], [1, 2, 3], [0, 1, *SAME_OR_VALID,
                                                                    [[0, 2], [1, 0]]],
                                           [1, 2], [1, 2])
    if not (k == 1 and d == 2)
])
def test_conv2d(k: int, s: int, p: Any, d: int, groups: int) -> None:
    res, graph = execute([4, 7, 8], [{"conv": {"out": 6, "k": k, "s": s, "p": p, "d": d,
                                               "groups": groups}}])
    t = tensors(graph)
    x = res.activations["input"]
    lo, hi = resolve(p, (7, 8), (d * (k - 1) + 1,) * 2, (s, s))
    expected = ref_conv(x, t["weight"], t["bias"], (s, s), lo, hi, (d, d), groups)
    close(res.activations["conv1"], expected)
    if p == "same":
        assert res.steps[0].actual_shape == (6, -(-7 // s), -(-8 // s))  # ceil(n / s)


@pytest.mark.parametrize(("layer", "shape"), [
    ({"conv1d": {"out": 4, "k": 3, "s": 2, "p": 1, "groups": 2}}, [4, 11]),
    ({"conv": {"out": 3, "k": [3, 1, 2], "s": [1, 2, 1], "p": [1, 0, [1, 0]]}}, [2, 5, 6, 4]),
    ({"conv": {"out": 4, "k": 3, "d": 2, "p": "same", "bias": False}}, [2, 9]),
])
def test_conv_1d_3d(layer: dict[str, Any], shape: list[int]) -> None:
    res, graph = execute(shape, [layer])
    t = tensors(graph)
    args = next(iter(layer.values()))
    rank = len(shape) - 1
    k = args["k"] if isinstance(args["k"], list) else [args["k"]] * rank
    s = args.get("s", 1)
    s = s if isinstance(s, list) else [s] * rank
    d = [args.get("d", 1)] * rank
    lo, hi = resolve(args.get("p", 0), shape[1:], [d[a] * (k[a] - 1) + 1 for a in range(rank)],
                     s)
    expected = ref_conv(res.activations["input"], t["weight"], t.get("bias"), s, lo, hi, d,
                        args.get("groups", 1))
    close(res.activations[graph.nodes[0].name], expected)


@pytest.mark.parametrize(("layer", "shape", "block", "rows"), [
    # IM2COL_BLOCK lowered so that these small convolutions run in blocks of output rows: one
    # row of im2col takes B·C·∏k·∏o[1:] elements (B = 2 samples)
    # 5×4 output: 2·4·9·4 = 288 a row, 1 row a block of 300
    ({"conv": {"out": 6, "k": 3, "s": 2, "p": 1}}, [4, 9, 8], 300, 5),
    # 9×8 output: 2·4·9·8 = 576 a row, 3 rows a block of 2000 (the last block 3 rows too)
    ({"conv": {"out": 6, "k": 3, "p": 1, "groups": 2}}, [4, 9, 8], 2000, 9),
    # 6 outputs: 2·4·3 = 24 a row, 2 rows a block of 50
    ({"conv1d": {"out": 4, "k": 3, "s": 2, "p": 1}}, [4, 11], 50, 6),
    # 5×6×4 output: 2·2·6·(6·4) = 576 a row, 1 row a block of 600
    ({"conv": {"out": 3, "k": [3, 1, 2], "p": [1, 0, [1, 0]]}}, [2, 5, 6, 4], 600, 5),
])
def test_conv_in_blocks_of_output_rows(monkeypatch: pytest.MonkeyPatch, layer: dict[str, Any],
                                       shape: list[int], block: int, rows: int) -> None:
    # a large im2col matrix (VGG-16's conv1_2: 116 MB) is made and multiplied in blocks of
    # output rows; the result and the MACs must be those of the whole product, and the
    # slow loop reference's
    import archcalc.layers.conv as conv_module

    whole, graph = execute(shape, [layer])
    monkeypatch.setattr(conv_module, "IM2COL_BLOCK", block)
    args = next(iter(layer.values()))
    rank = len(shape) - 1
    k = args["k"] if isinstance(args["k"], list) else [args["k"]] * rank
    assert graph.nodes[0].out_shape[1] == rows
    per_row = 2 * shape[0] * prod(k) * prod(graph.nodes[0].out_shape[2:])
    assert conv_module.im2col_rows(per_row, rows) < rows  # in blocks indeed
    blocked, _ = execute(shape, [layer])
    name = graph.nodes[0].name
    # the same sums, up to float32 rounding (BLAS may order a short product's sums otherwise)
    np.testing.assert_allclose(blocked.activations[name], whole.activations[name], rtol=1e-6,
                               atol=1e-6)
    assert blocked.steps[0].macs_counted == blocked.steps[0].macs == whole.steps[0].macs
    t = tensors(graph)
    s = [args.get("s", 1)] * rank
    lo, hi = resolve(args.get("p", 0), shape[1:], k, s)
    close(blocked.activations[name], ref_conv(blocked.activations["input"], t["weight"],
                                              t["bias"], s, lo, hi, [1] * rank,
                                              args.get("groups", 1)))


@pytest.mark.parametrize(("mult", "k", "s", "d"), list(itertools.product([1, 3], [3, 5], [1, 2],
                                                                         [1, 2])))
def test_dwconv_and_multiplier(mult: int, k: int, s: int, d: int) -> None:
    res, graph = execute([3, 9, 8], [{"dwconv": {"out": 3 * mult, "k": k, "s": s,
                                                 "p": (d * (k - 1)) // 2, "d": d}}])
    t = tensors(graph)
    pad = [(d * (k - 1)) // 2] * 2
    expected = ref_conv(res.activations["input"], t["weight"], t["bias"], (s, s), pad, pad,
                        (d, d), 3)
    close(res.activations["dwconv1"], expected)


def test_pwconv_strided_grouped() -> None:
    res, graph = execute([4, 6, 5], [{"pwconv": {"out": 6, "s": 2, "groups": 2}}])
    t = tensors(graph)
    expected = ref_conv(res.activations["input"], t["weight"], t["bias"], (2, 2), (0, 0),
                        (0, 0), (1, 1), 2)
    close(res.activations["pwconv1"], expected)


def test_conv_with_bn_and_activation_fused() -> None:
    res, graph = execute([3, 6, 6], [{"conv": {"out": 4, "k": 3, "p": 1, "bias": False,
                                               "bn": True, "act": "relu6"}}])
    t = tensors(graph)
    conv = ref_conv(res.activations["input"], t["weight"], None, (1, 1), (1, 1), (1, 1),
                    (1, 1), 1)
    close(res.activations["conv1"], np.clip(ref_bn(conv, t, prefix="bn."), 0, 6))
    # the BN tensors are the post-op's: 4 γ + 4 β params, 4 + 4 buffers
    assert res.steps[0].params_created == 4 * 3 * 3 * 3 + 2 * 4
    assert res.steps[0].buffers_created == 2 * 4


def test_lenet_connections_table() -> None:
    # output map i sees only the listed input maps (LeNet-5's C3, a 3-map excerpt)
    conn = [[0, 1, 2], [1, 2, 3], [0, 3], [0, 1, 2, 3]]
    res, graph = execute([4, 7, 7], [{"conv": {"out": 4, "k": 3, "connections": conn}}])
    t = tensors(graph)
    x = res.activations["input"]
    for i, maps in enumerate(conn):
        w = t[f"weight[{i}]"][None]
        expected = ref_conv(x[:, maps], w, t["bias"][i:i + 1], (1, 1), (0, 0), (0, 0),
                            (1, 1), 1)
        close(res.activations["conv1"][:, i:i + 1], expected)
    # MACs counted: 5·5 positions × (3 + 3 + 2 + 4) maps × 3·3 taps, per sample
    assert res.steps[0].macs_counted == 2 * 5 * 5 * (3 + 3 + 2 + 4) * 3 * 3


@pytest.mark.parametrize(("k", "s", "p", "op", "d", "g"), [
    c for c in itertools.product([1, 2, 3], [1, 2, 3], [0, 1], [0, 1, 2], [1, 2], [1, 2])
    if c[3] < max(c[1], c[4])
])
def test_deconv(k: int, s: int, p: int, op: int, d: int, g: int) -> None:
    res, graph = execute([4, 3, 4], [{"deconv": {"out": 6, "k": k, "s": s, "p": p,
                                                 "output_padding": op, "d": d, "groups": g}}])
    t = tensors(graph)
    expected = ref_deconv(res.activations["input"], t["weight"], t["bias"], s, p, op, d, g)
    close(res.activations["deconv1"], expected)


def test_deconv_1d() -> None:
    res, graph = execute([2, 5], [{"deconv": {"out": 3, "k": 4, "s": 2, "p": 1,
                                              "bias": False}}])
    t = tensors(graph)
    close(res.activations["deconv1"],
          ref_deconv(res.activations["input"], t["weight"], None, 2, 1, 0, 1, 1))


# ---------------------------------------------------------------------------------- pooling --

POOL_CASES = [
    (n, k, s, p, d, ceil)
    for n, k, s, p, d, ceil in itertools.product([5, 6, 7], [2, 3], [1, 2, 3], [0, 1], [1, 2],
                                                 [False, True])
    if n + 2 * p >= d * (k - 1) + 1
]


@pytest.mark.parametrize(("n", "k", "s", "p", "d", "ceil"), POOL_CASES)
def test_maxpool(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> None:
    res, _ = execute([2, n, n + 1], [{"maxpool": {"k": k, "s": s, "p": p, "d": d,
                                                  "ceil_mode": ceil}}])
    close(res.activations["maxpool1"],
          ref_pool(res.activations["input"], (k, k), (s, s), (p, p), (d, d), ceil, "max"))


@pytest.mark.parametrize(("n", "k", "s", "p", "ceil", "include"), [
    (n, k, s, p, ceil, inc) for n, k, s, p, d, ceil in POOL_CASES if d == 1
    for inc in (True, False)
])
def test_avgpool(n: int, k: int, s: int, p: int, ceil: bool, include: bool) -> None:
    res, _ = execute([2, n, n + 1], [{"avgpool": {"k": k, "s": s, "p": p, "ceil_mode": ceil,
                                                  "count_include_pad": include}}])
    close(res.activations["avgpool1"],
          ref_pool(res.activations["input"], (k, k), (s, s), (p, p), (1, 1), ceil, "avg",
                   include))


def test_pooling_1d_and_3d() -> None:
    res, _ = execute([2, 9], [{"maxpool": {"k": 3, "s": 2, "p": 1, "ceil_mode": True}}])
    close(res.activations["maxpool1"],
          ref_pool(res.activations["input"], (3,), (2,), (1,), (1,), True, "max"))
    res, _ = execute([2, 5, 4, 3], [{"avgpool": {"k": 2, "ceil_mode": True}}])
    close(res.activations["avgpool1"],
          ref_pool(res.activations["input"], (2,) * 3, (2,) * 3, (0,) * 3, (1,) * 3, True,
                   "avg"))


def test_subsample_lenet() -> None:
    # LeNet-5 S2: coefficient·(sum of the 2×2 window) + bias, per map
    res, graph = execute([3, 6, 4], [{"subsample": {"k": 2}}])
    t = tensors(graph)
    window_sum = ref_pool(res.activations["input"], (2, 2), (2, 2), (0, 0), (1, 1), False,
                          "avg") * 4
    expected = window_sum * t["coefficient"].reshape(1, -1, 1, 1) + t["bias"].reshape(
        1, -1, 1, 1)
    close(res.activations["subsample1"], expected)
    assert res.steps[0].params_created == 2 * 3  # coefficient + bias per map
    assert res.steps[0].macs_counted == 2 * 3 * 3 * 2  # one coefficient multiply per output


def test_global_pools() -> None:
    res, _ = execute([3, 5, 4], [{"global_avgpool": {"id": "a"}},
                                 {"global_maxpool": {"id": "m", "in": "input"}}])
    x = res.activations["input"].astype(F64)
    close(res.activations["a"], x.mean(axis=(2, 3), keepdims=True))
    close(res.activations["m"], x.max(axis=(2, 3), keepdims=True))


@pytest.mark.parametrize("out", [1, 2, 3, 4, [2, 3], [7, 5]])
def test_adaptive_avgpool(out: Any) -> None:
    res, _ = execute([2, 7, 5], [{"adaptive_avgpool": {"out": out}}])
    o = out if isinstance(out, list) else [out, out]
    x = res.activations["input"].astype(F64)
    expected = np.zeros((2, 2, *o))
    for i, j in positions(o):  # PyTorch's windows [⌊i·n/o⌋, ⌈(i+1)·n/o⌉)
        r0, r1 = (i * 7) // o[0], math.ceil((i + 1) * 7 / o[0])
        c0, c1 = (j * 5) // o[1], math.ceil((j + 1) * 5 / o[1])
        expected[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    close(res.activations["adaptive_avgpool1"], expected)


# ------------------------------------------------------------------ fc and shape changes --

def test_linear_flatten_reshape() -> None:
    res, graph = execute([2, 3, 2], [{"flatten": {"id": "f"}}, {"fc": {"id": "fc", "out": 5}},
                                     {"reshape": {"id": "r", "shape": [5, 1, -1]}}])
    x = res.activations["input"].astype(F64)
    flat = x.reshape(2, -1)  # row-major, as torch.flatten(x, 1)
    close(res.activations["f"], flat)
    t = tensors(graph, 1)
    expected = np.array([[sum(t["weight"][o, i] * flat[b, i] for i in range(12)) + t["bias"][o]
                          for o in range(5)] for b in range(2)])
    close(res.activations["fc"], expected)
    close(res.activations["r"], expected.reshape(2, 5, 1, 1))
    assert res.steps[1].macs_counted == 2 * 12 * 5


def test_fc_on_pooled_map() -> None:
    res, graph = execute([4, 3, 3], [{"global_avgpool": {"id": "g"}},
                                     {"fc": {"id": "fc", "out": 2, "bias": False}}])
    t = tensors(graph, 1)
    close(res.activations["fc"], res.activations["g"][:, :, 0, 0].astype(F64) @ t["weight"].T)


def test_zeropad_crop_slice_shuffle() -> None:
    res, _ = execute([6, 4, 5], [
        {"zeropad": {"id": "z", "p": [[1, 2], [0, 3]]}},
        {"crop": {"id": "c", "margin": [[1, 0], [2, 1]]}},
        {"crop": {"id": "cs", "in": "z", "size": [3, 4]}},
        {"crop": {"id": "ct", "in": ["z", "input"]}},
        {"slice": {"id": "sl", "in": "input", "start": 1, "stop": 4}},
        {"channel_shuffle": {"id": "sh", "in": "input", "groups": 3}},
    ])
    x = res.activations["input"].astype(F64)
    z = np.zeros((2, 6, 4 + 3, 5 + 3))
    z[:, :, 1:5, 0:5] = x
    close(res.activations["z"], z)
    close(res.activations["c"], z[:, :, 1:, 2:-1])
    close(res.activations["cs"], z[:, :, 2:5, 2:6])  # centre: (7 − 3)//2 = 2, (8 − 4)//2 = 2
    close(res.activations["ct"], z[:, :, 1:5, 1:6])  # (7 − 4)//2 = 1, (8 − 5)//2 = 1
    close(res.activations["sl"], x[:, 1:4])
    # channel shuffle, 3 groups of 2: new order 0, 2, 4, 1, 3, 5
    close(res.activations["sh"], x[:, [0, 2, 4, 1, 3, 5]])


@pytest.mark.parametrize(("args", "shape"), [
    ({"scale": 2}, [2, 3, 4]),
    ({"scale": 3}, [2, 3, 4]),
    ({"size": [7, 5]}, [2, 3, 4]),
    ({"scale": 2, "mode": "bilinear"}, [2, 3, 4]),
    ({"scale": 2, "mode": "bilinear", "align_corners": True}, [2, 3, 4]),
    ({"size": [7, 9], "mode": "bilinear"}, [2, 3, 4]),
    ({"size": [5, 2], "mode": "bilinear", "align_corners": True}, [2, 3, 4]),
    ({"scale": 2, "mode": "bilinear"}, [2, 5]),
])
def test_upsample(args: dict[str, Any], shape: list[int]) -> None:
    res, graph = execute(shape, [{"upsample": args}])
    x = res.activations["input"].astype(F64)
    out = graph.nodes[0].out_shape[1:]
    expected = ref_upsample(x, out, args.get("mode", "nearest"), bool(args.get("align_corners")))
    close(res.activations["upsample1"], expected)


# ----------------------------------------------------------------------------- element-wise --

def test_identity_dropout_bn_layernorm_lrn() -> None:
    res, graph = execute([6, 3, 4], [
        {"identity": {"id": "i"}},
        {"dropout": {"id": "dr", "p": 0.5}},
        {"bn": {"id": "bn", "in": "input"}},
        {"bn": {"id": "bn2", "in": "input", "affine": False, "eps": 0.01}},
        {"layernorm": {"id": "ln", "in": "input"}},
        {"layernorm": {"id": "lna", "in": "input", "over": "all"}},
        {"lrn": {"id": "lrn", "in": "input", "size": 3, "alpha": 0.5, "beta": 0.75, "k": 2.0}},
        {"lrn": {"id": "lrn4", "in": "input", "size": 4, "alpha": 0.3, "beta": 0.5, "k": 1.0}},
    ])
    x = res.activations["input"].astype(F64)
    close(res.activations["i"], x)
    close(res.activations["dr"], x)  # identity at inference
    close(res.activations["bn"], ref_bn(x, tensors(graph, 2)))
    close(res.activations["bn2"], ref_bn(x, tensors(graph, 3), eps=0.01))
    t = tensors(graph, 4)
    mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)  # biased
    close(res.activations["ln"], (x - mean) / np.sqrt(var + 1e-5) * t["gamma"].reshape(
        1, -1, 1, 1) + t["beta"].reshape(1, -1, 1, 1))
    t = tensors(graph, 5)
    mean, var = x.mean(axis=(1, 2, 3), keepdims=True), x.var(axis=(1, 2, 3), keepdims=True)
    close(res.activations["lna"], (x - mean) / np.sqrt(var + 1e-5) * t["gamma"] + t["beta"])
    for name, size, alpha, beta, k in (("lrn", 3, 0.5, 0.75, 2.0), ("lrn4", 4, 0.3, 0.5, 1.0)):
        expected = np.zeros_like(x)
        for c in range(6):  # PyTorch: channels c − ⌊n/2⌋ … c + ⌊(n − 1)/2⌋
            lo, hi = max(c - size // 2, 0), min(c + (size - 1) // 2, 5)
            total = (x[:, lo:hi + 1] ** 2).sum(axis=1)
            expected[:, c] = x[:, c] / (k + alpha / size * total) ** beta
        close(res.activations[name], expected)


@pytest.mark.parametrize("fn", [*ACT, "softmax"])
def test_activations(fn: str) -> None:
    x = (np.random.default_rng(3).standard_normal((2, 5, 3, 4)) * 4).astype(np.float32)
    res, _ = execute([5, 3, 4], [fn], x=x)
    close(res.activations[res.output], ref_act(fn, x), tol=1e-6)


def test_leaky_relu_slope() -> None:
    x = np.linspace(-3, 3, 2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    res, _ = execute([2, 3], [{"leaky_relu": {"slope": 0.2}}], x=x)
    close(res.activations[res.output], np.where(x >= 0, x, 0.2 * x.astype(F64)))


def test_add_multiply_concat() -> None:
    res, _ = execute([4, 3, 3], [
        {"conv": {"id": "a", "out": 4, "k": 3, "p": 1}},
        {"conv": {"id": "b", "in": "input", "out": 4, "k": 1}},
        {"add": {"id": "sum", "in": ["input", "a", "b"], "act": "relu"}},
        {"global_avgpool": {"id": "g", "in": "input"}},
        {"multiply": {"id": "se", "in": ["g", "input"]}},
        {"flatten": {"id": "gf", "in": "g"}},
        {"multiply": {"id": "se2", "in": ["input", "gf"]}},
        {"multiply": {"id": "sq", "in": ["a", "b"]}},
        {"concat": {"id": "cat", "in": ["a", "input", "b"]}},
    ])
    x = res.activations["input"].astype(F64)
    a, b = res.activations["a"].astype(F64), res.activations["b"].astype(F64)
    close(res.activations["sum"], np.maximum(x + a + b, 0))
    gate = x.mean(axis=(2, 3), keepdims=True)
    close(res.activations["se"], x * gate)
    close(res.activations["se2"], x * gate)
    close(res.activations["sq"], a * b)
    close(res.activations["cat"], np.concatenate([a, x, b], axis=1))


# -------------------------------------------------------------------- the seed's examples --

def fixed(weight: Sequence[Sequence[float]]) -> Callable[[Any], tuple[Tensors, Tensors]]:
    """A single-filter conv/deconv whose weight is ``weight`` (no bias)."""
    w = np.array(weight, dtype=np.float32)[None, None]
    return lambda node: ({"weight": w}, {})


def conv_of(image: Sequence[Sequence[int]], kernel: Sequence[Sequence[int]],
            s: int = 1) -> np.ndarray:
    x = np.array(image, dtype=np.float32)[None, None]
    n = x.shape[2]
    res, _ = execute([1, n, x.shape[3]], [{"conv": {"out": 1, "k": 3, "s": s, "bias": False}}],
                     x=x, weights=fixed(kernel))
    out: np.ndarray = res.activations["conv1"][0, 0]
    return out


VERTICAL = [[1, 0, -1], [1, 0, -1], [1, 0, -1]]
HORIZONTAL = [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]


def test_seed_vertical_edge_6x6() -> None:
    # seed 000, "Vertical edge detection": the 6×6 image ∗ the vertical filter
    image = [[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3], [0, 1, 3, 1, 7, 8],
             [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]]
    printed = [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]]
    # e.g. the top-left: (3 + 1 + 2) − (1 + 8 + 2) = −5
    assert conv_of(image, VERTICAL).tolist() == printed


def test_seed_edge_examples() -> None:
    # seed 000, "Vertical edge detection examples" and "Vertical and Horizontal Edge Detection"
    bright_left = [[10, 10, 10, 0, 0, 0]] * 6
    assert conv_of(bright_left, VERTICAL).tolist() == [[0, 30, 30, 0]] * 4
    bright_right = [[0, 0, 0, 10, 10, 10]] * 6
    assert conv_of(bright_right, VERTICAL).tolist() == [[0, -30, -30, 0]] * 4
    checker = [[10, 10, 10, 0, 0, 0]] * 3 + [[0, 0, 0, 10, 10, 10]] * 3
    assert conv_of(checker, HORIZONTAL).tolist() == [
        [0, 0, 0, 0], [30, 10, -10, -30], [30, 10, -10, -30], [0, 0, 0, 0]]


def test_seed_strided_convolution() -> None:
    # seed 000, "Strided convolution": 7×7 ∗ 3×3, stride 2 → ⌊(7 − 3)/2⌋ + 1 = 3. The image as
    # the slide prints it (cell values, the kernel overlay stripped), the slide's kernel.
    image = [[2, 3, 7, 4, 6, 2, 9], [6, 6, 9, 8, 7, 4, 3], [3, 4, 8, 3, 8, 9, 7],
             [7, 8, 3, 6, 6, 3, 4], [4, 2, 1, 8, 3, 4, 6], [3, 2, 4, 1, 9, 8, 3],
             [0, 1, 3, 9, 2, 1, 4]]
    kernel = [[3, 4, 4], [1, 0, 2], [-1, 0, 3]]
    out = conv_of(image, kernel, s=2).tolist()
    # printed: 91 100 83 / 69 91 127 / 44 72 74 — seven of nine are reproduced exactly:
    assert [out[0][0], out[0][1], out[1][0], out[1][1]] == [91, 100, 69, 91]
    assert out[2] == [44, 72, 74]
    # The right column is a slip of the slide: its own image gives 88 and 117.
    # (0, 2): rows 0–2, cols 4–6 = 3·6 + 4·2 + 4·9 + 1·7 + 0·4 + 2·3 − 1·8 + 0·9 + 3·7 = 88
    assert out[0][2] == 3 * 6 + 4 * 2 + 4 * 9 + 1 * 7 + 0 * 4 + 2 * 3 - 1 * 8 + 0 * 9 + 3 * 7
    # (1, 2): rows 2–4, cols 4–6 = 3·8 + 4·9 + 4·7 + 1·6 + 0·3 + 2·4 − 1·3 + 0·4 + 3·6 = 117
    assert out[1][2] == 3 * 8 + 4 * 9 + 4 * 7 + 1 * 6 + 0 * 3 + 2 * 4 - 1 * 3 + 0 * 4 + 3 * 6


def maxpool_of(image: list[list[int]], k: int, s: int) -> list[list[float]]:
    x = np.array(image, dtype=np.float32)[None, None]
    res, _ = execute([1, *x.shape[2:]], [{"maxpool": {"k": k, "s": s}}], x=x)
    out: list[list[float]] = res.activations["maxpool1"][0, 0].tolist()
    return out


def test_seed_max_pooling() -> None:
    # seed 000, "Pooling layer: Max pooling": 4×4, f = 2, s = 2: the max of each 2×2 block,
    # {1, 3, 2, 9} → 9, {2, 1, 1, 1} → 2, {1, 3, 5, 6} → 6, {2, 3, 1, 2} → 3
    assert maxpool_of([[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]], 2, 2) == [
        [9, 2], [6, 3]]
    # the 5×5 example, f = 3, s = 1 → 3×3. The seed leaves five cells blank; the source slide
    # (deeplearning.ai C4W1 "Pooling layers") has 1 / 3 2 3 / 5 there, with the result
    # 9 9 5 / 9 9 5 / 8 6 9. No window's maximum is a blank cell, so blanks of 0 give the same.
    full = [[1, 3, 2, 1, 3], [2, 9, 1, 1, 5], [1, 3, 2, 3, 2], [8, 3, 5, 1, 0], [5, 6, 1, 2, 9]]
    blank = [row[:] for row in full]
    for r, c in ((1, 2), (2, 1), (2, 2), (2, 3), (3, 2)):
        blank[r][c] = 0
    for image in (full, blank):
        assert maxpool_of(image, 3, 1) == [[9, 9, 5], [9, 9, 5], [8, 6, 9]]


KERNEL_T = [[1, 4, 1], [1, 4, 3], [3, 3, 1]]
INPUT_T = [[4, 5, 8, 7], [1, 8, 8, 8], [3, 6, 6, 4], [6, 5, 7, 8]]
# seed 000, "Convolution Matrix (4, 16)": row j holds the kernel where output j reads the input
CONV_MATRIX = [
    [1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0, 0, 0, 0, 0],
    [0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0, 0, 0, 0],
    [0, 0, 0, 0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0],
    [0, 0, 0, 0, 0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1],
]


def test_seed_convolution_as_matrix() -> None:
    # 4×4 ∗ 3×3 = 2×2: 122 148 / 126 134 (top-left: 4 + 20 + 8 + 1 + 32 + 24 + 9 + 18 + 6)
    assert conv_of(INPUT_T, KERNEL_T).tolist() == [[122, 148], [126, 134]]
    # the conv of the 16 unit images, one batch: column j of the matrix is the output for e_j
    eye = np.eye(16, dtype=np.float32).reshape(16, 1, 4, 4)
    res, _ = execute([1, 4, 4], [{"conv": {"out": 1, "k": 3, "bias": False}}], x=eye,
                     weights=fixed(KERNEL_T))
    matrix = res.activations["conv1"].reshape(16, 4).T
    assert matrix.tolist() == CONV_MATRIX
    # and the conv is that matrix times the flattened input
    assert (np.array(CONV_MATRIX) @ np.array(INPUT_T).reshape(16)).tolist() == [
        122, 148, 126, 134]


def test_seed_transposed_convolution_is_the_transpose() -> None:
    # "Transposed Convolution Matrix": the same kernel as a deconv maps 2×2 → 4×4 by Cᵀ
    kernel = fixed(KERNEL_T)
    eye = np.eye(4, dtype=np.float32).reshape(4, 1, 2, 2)
    res, _ = execute([1, 2, 2], [{"deconv": {"out": 1, "k": 3, "bias": False}}], x=eye,
                     weights=kernel)
    assert res.activations["deconv1"].reshape(4, 16).tolist() == CONV_MATRIX  # rows of C
    y = np.array([[122, 148], [126, 134]], dtype=np.float32)[None, None]
    res, _ = execute([1, 2, 2], [{"deconv": {"out": 1, "k": 3, "bias": False}}], x=y,
                     weights=kernel)
    expected = np.array(CONV_MATRIX).T @ np.array([122, 148, 126, 134])
    assert res.activations["deconv1"].reshape(16).tolist() == expected.tolist()
    assert res.steps[0].macs_counted == 1 * 2 * 2 * 1 * 3 * 3  # C_in·H·W·C_out·K·K = 36


# --------------------------------------------------------------- MACs, params, API, registry --

def test_separable_macs_counted_match_the_seed() -> None:
    # seed 000, depthwise-separable on 6×6×3, 3×3, 5 filters, output 4×4
    res, _ = execute([3, 6, 6], [{"conv": {"id": "normal", "out": 5, "k": 3}},
                                 {"dwconv": {"id": "dw", "in": "input", "k": 3}},
                                 {"pwconv": {"id": "pw", "out": 5}}], batch=1)
    counted = {step.name: step.macs_counted for step in res.steps}
    assert counted == {"normal": 4 * 4 * 5 * 3 * 3 * 3,  # 2160
                       "dw": 4 * 4 * 3 * 3 * 3,  # 432
                       "pw": 4 * 4 * 5 * 1 * 1 * 3}  # 240


def test_params_created_are_the_engine_shapes() -> None:
    res, _ = execute([3, 227, 227], [{"conv": {"out": 64, "k": 11, "s": 4, "p": 2}}], batch=1)
    assert res.steps[0].params_created == 64 * 3 * 11 * 11 + 64  # 23,296 (lecture AlexNet)
    assert res.steps[0].macs_counted == 64 * 56 * 56 * 3 * 11 * 11  # 72,855,552


def test_batch_scales_counted_macs() -> None:
    res, _ = execute([3, 8, 8], [{"conv": {"out": 2, "k": 3}}], batch=5)
    assert res.steps[0].macs_counted == 5 * 2 * 6 * 6 * 3 * 3 * 3


def test_public_execute_returns_activations_without_numpy_at_import() -> None:
    code = ("import sys, archcalc; assert 'numpy' not in sys.modules; "
            "a = archcalc.execute('lenet5'); assert 'numpy' in sys.modules; "
            "print(sorted(a)[0], a['input'].shape, a[list(a)[-1]].shape)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split()[0] == "C1"


def test_execute_api_is_deterministic_and_takes_one_sample() -> None:
    lenet = "lenet5"
    a = archcalc.execute(lenet, seed=3)
    b = archcalc.execute(lenet, seed=3)
    c = archcalc.execute(lenet, seed=4)
    last = list(a)[-1]
    assert np.array_equal(a[last], b[last]) and not np.array_equal(a[last], c[last])
    x = np.ones((1, 32, 32), dtype=np.float32)  # one sample, no batch axis
    d = archcalc.execute(lenet, x)
    assert d["input"].shape == (1, 1, 32, 32)
    importlib.import_module("archcalc.executor")  # importing the executor module leaves the
    assert np.array_equal(archcalc.execute(lenet, x)[last], d[last])  # function in place


def test_wrong_input_is_an_error_naming_the_expected_shape() -> None:
    with pytest.raises(archcalc.ExecError, match=r"expects \[batch, 1, 32, 32\]"):
        archcalc.execute("lenet5", np.zeros((3, 32, 32)))


def test_a_wrong_forward_is_reported_with_the_layer() -> None:
    from archcalc.layers import Identity, layer_class

    @layer_class
    class Broken(Identity):  # a layer whose forward drops channels: the executor must notice
        def forward(self, inputs: Any, w: Any, ctx: Any) -> Any:
            return inputs[0][:, :1]

    def broken(graph: Graph) -> Graph:
        nodes = tuple(n._replace(op=Broken()) if n.name == "same" else n for n in graph.nodes)
        return dataclasses.replace(graph, nodes=nodes)

    result = run(broken(archcalc.to_graph(spec([3, 4, 4], [{"identity": {"id": "same"}},
                                                             "relu"]))))
    assert not result.ok and result.failures[0].name == "same"
    assert result.failures[0].verdict == "shape mismatch"
    assert "output shape 1×4×4 but the engine predicts 3×4×4" in result.failures[0].problems
    with pytest.raises(archcalc.ExecError, match="layer 'same'"):
        archcalc.execute(broken(archcalc.to_graph(spec([3, 4, 4], [{"identity": {"id": "same"}}]))))


def test_every_layer_class_has_a_forward() -> None:
    from archcalc.layers import Layer

    missing = [cls.__name__ for cls in LAYER_CLASSES if cls.forward is Layer.forward]
    assert not missing, f"no NumPy forward (Layer.forward) for {missing}"


def test_roi_pool_bins_end_at_the_box_as_torchvision_computes_them() -> None:
    """Faster R-CNN VGG-16's region 159 on conv5_3 (38×63, scale 1/16): corners
    round(307.77/16 = 19.24) = 19 and round(751.74/16 = 46.98) = 47, so the box is 29 columns
    (19 … 47) and each of its 7 bins 29/7 wide; the last bin is ⌊6·29/7⌋ + 19 = 43 …
    ⌈7·29/7⌉ + 19 = 48, exclusive — column 48 lies outside the box. In float64, (29/7)·7 =
    29.000000000000004 and its ceiling put column 48 inside; torchvision's kernel computes in
    the map's float32, where it is 29 (found by `verify --against torch`'s value check). A map
    lit only in column 48 must give 0 in that bin."""
    from archcalc.executor import Context

    node = archcalc.to_graph(archcalc.load_spec("fasterrcnn_vgg16")).node("roi_pool5")
    x = np.zeros((1, 1, 38, 63), np.float32)
    x[0, 0, :, 48] = 1.0
    y = node.op.forward([x], {}, Context()).reshape(node.op.regions, 7, 7)
    assert y[159, :, 6].tolist() == [0.0] * 7
    x[0, 0, :, 47] = 2.0  # the box's last column is in it
    y = node.op.forward([x], {}, Context()).reshape(node.op.regions, 7, 7)
    assert y[159, :, 6].tolist() == [2.0] * 7


def test_weights_made_block_by_block_are_those_of_one_draw() -> None:
    # init_weights makes and scales 2^16 values at a time (executor._BLOCK) so that the scaling
    # reads them from cache; the values must be those of one draw of the whole tensor: He
    # uniform U(−a, a), a = √(6/fan_in), as rng.random(shape) · 2a − a in float32
    from archcalc.executor import _BLOCK

    graph = archcalc.to_graph({"archcalc": 1, "name": "t", "input": [192],
                               "layers": [{"fc": {"out": _BLOCK // 64 + 3, "bias": True}}]})
    node = graph.nodes[-1]
    params, _ = init_weights(node, seed=4)
    rng = np.random.default_rng([4, zlib.crc32(node.name.encode())])
    bound = np.float32(math.sqrt(6.0 / 192))  # fan_in 192
    weight = rng.random((_BLOCK // 64 + 3, 192), dtype=np.float32) * (2 * bound) - bound
    bias = rng.random(_BLOCK // 64 + 3, dtype=np.float32) * np.float32(0.2) - np.float32(0.1)
    assert params["weight"].size > 3 * _BLOCK  # several blocks and a partial one
    assert params["weight"].dtype == np.float32
    assert np.array_equal(params["weight"], weight) and np.array_equal(params["bias"], bias)


def test_an_output_that_views_the_weight_store_outlives_it(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # every node's seeded weights are made in one reused float32 store (Context.weight_store);
    # a forward returning a view of its own weights must not see it overwritten by the next
    # node's. Each fc's "output" here is its bias: fc0 grows the store to 6·8 + 8 = 56 values,
    # fc1 fills 8·5 + 5 = 45 (its bias at 40…44), fc2 5·7 + 7 = 42 (0…41, over 40 and 41)
    from archcalc.layers import Linear

    monkeypatch.setattr(Linear, "forward", lambda self, inputs, w, ctx: w["bias"][None])
    spec = {"archcalc": 1, "name": "t", "input": [6],
            "layers": [{"fc": {"out": 8, "id": "fc0"}}, {"fc": {"out": 5, "id": "fc1"}},
                       {"fc": {"out": 7, "id": "fc2"}}]}
    graph = archcalc.to_graph(spec)
    result = run(graph, keep="all")
    for node in graph.nodes:
        bias = init_weights(node)[0]["bias"]  # made apart, in a new array
        assert np.array_equal(result.activations[node.name][0], bias)
