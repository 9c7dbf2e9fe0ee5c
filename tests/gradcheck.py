"""A finite-difference gradient checker for the layer classes' NumPy ``backward``.

``check(layer, ins)`` runs the layer in float64 on a random batch: ``forward_train`` gives the
output ``y`` and the private tensors; the ``saved`` mapping is built as the executor builds it —
``x`` (the only input) or ``x0``, ``x1``, … (several inputs), ``y`` and the private tensors — and,
when the class declares ``saves``, restricted to exactly the names it declares (so a backward that
reads anything else fails with a KeyError, and a private tensor ``saves`` does not name, or one
it names that ``forward_train`` does not return, fails the check). The scalar loss is
``L = Σ y·g`` for a fixed random ``g``, so ``∂L/∂y = g`` is the ``gy`` handed to ``backward``.

Every element of every differentiable input and of every trainable weight tensor (roles weight,
bias, scale, shift, coefficient) is perturbed by ±h and the central difference
``(L(v + h) − L(v − h)) / 2h`` compared with the analytic gradient ``backward`` returns.

Tolerances (float64, h = 1e-6): the central difference's truncation error is ``h²/6·|L'''|``
(≈ 1e-13 for the smooth maps here) and its rounding error ``ε·|L|/h`` (ε = 2.2e-16, |L| ≲ 100:
≈ 2e-8 at worst); so ``|analytic − numeric| ≤ atol + rtol·|numeric|`` with ``atol = 1e-7``,
``rtol = 1e-6``. A wrong factor, a missed term or a transposed index is off by ≥ 1e-2, five
orders of magnitude above these. Inputs are drawn away from the kinks of piecewise maps by the
caller (``inputs=``) when a kink lies in the bulk of N(0, 1) (ReLU at 0 is hit with probability
≈ 1e-6 per element: never for these sizes and seeds).

``check_post(op, shape)`` does the same for a fused post-op (``forward_train_inplace`` /
``backward_post``): ``x`` is the op's output as handed in — the same array object afterwards, so a
post-op that overwrites it in place yet declares ``x`` fails — and ``y`` the array it returns.

Both also check that ``need_dx=False`` gives None for every input and ``need_dw=False`` no weight
gradients, and return the MACs the backward counted through ``ctx.matmul``/``ctx.count``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from archcalc.executor import Context
from archcalc.layers import Layer
from archcalc.layers.base import (
    BIAS,
    BUFFER_ROLES,
    COEFFICIENT,
    FROZEN_SCALE,
    FROZEN_SHIFT,
    RUNNING_MEAN,
    RUNNING_VAR,
    SCALE,
    SHIFT,
    WEIGHT,
)

Array = np.ndarray
H = 1e-6
RTOL = 1e-6
ATOL = 1e-7
#: the roles that receive a gradient (running statistics and frozen γ/β never do)
TRAINABLE = frozenset({WEIGHT, BIAS, SCALE, SHIFT, COEFFICIENT})


@dataclass(frozen=True)
class Result:
    """What one check measured: the largest error found, per checked tensor, and the MACs the
    backward counted (with both gradients requested)."""

    errors: Mapping[str, float]
    macs: int
    saved: Mapping[str, tuple[int, ...]]


def weights_for(layer: Layer, ins: Sequence[tuple[int, ...]], rng: np.random.Generator
                ) -> dict[str, Array]:
    """Random float64 tensors for ``layer``'s ``tensors(ins)`` by role: variances and scales in
    [0.5, 1.5] (away from 0), the rest N(0, 0.5²)."""
    out: dict[str, Array] = {}
    for t in layer.tensors(tuple(ins)):
        if t.role in (RUNNING_VAR, SCALE, FROZEN_SCALE):
            out[t.name] = rng.uniform(0.5, 1.5, t.shape)
        else:
            out[t.name] = rng.normal(0.0, 0.5, t.shape)
        assert t.role in TRAINABLE | {RUNNING_MEAN, RUNNING_VAR, FROZEN_SCALE, FROZEN_SHIFT}
    return out


def trainable(layer: Layer, ins: Sequence[tuple[int, ...]]) -> tuple[str, ...]:
    return tuple(t.name for t in layer.tensors(tuple(ins)) if t.role in TRAINABLE)


def _input_names(n: int) -> tuple[str, ...]:
    return ("x",) if n == 1 else tuple(f"x{i}" for i in range(n))


def _declared(layer: Layer, ins: tuple[tuple[int, ...], ...], out: tuple[int, ...],
              need_dx: bool, need_dw: bool) -> tuple[Any, ...] | None:
    """``layer.saves(ins, out, need_dx, need_dw)`` when the class declares it, else None."""
    saves = getattr(layer, "saves", None)
    if saves is None:
        return None
    try:
        found: tuple[Any, ...] = saves(ins, out, need_dx, need_dw)
    except NotImplementedError:
        return None
    return found


def _saved(layer: Layer, ins: tuple[tuple[int, ...], ...], names: tuple[str, ...],
           arrays: Mapping[str, Array], private: Mapping[str, Array], w: Mapping[str, Array],
           need_dx: bool = True, need_dw: bool = True) -> dict[str, Array]:
    """The ``saved`` mapping the executor would hand to ``backward``: a name of one of the
    layer's buffers is that buffer (BN's running statistics); with both gradients needed, the
    private tensors ``forward_train`` returns are exactly the other names ``saves`` declares;
    with fewer, ``saves`` may declare fewer (the rest is freed at once)."""
    out_shape = tuple(arrays["y"].shape[1:])
    declared = _declared(layer, ins, out_shape, need_dx, need_dw)
    if declared is None:  # no rule yet: everything, and the private tensors as returned
        return {**arrays, **private}
    wanted = {s.name for s in declared}
    # "x1.indices": the private tensor of the layer producing input 1, which the executor
    # passes as that input (max_unpool's pool indices) — here the input itself
    arrays = {**arrays, **{n: arrays[n.split(".")[0]] for n in wanted
                           if "." in n and n.split(".")[0] in names}}
    buffers = {t.name for t in layer.tensors(ins) if t.role in BUFFER_ROLES} & wanted
    arrays = {**arrays, **{n: w[n] for n in buffers}}
    graph = set(names) | {"y"} | {n for n in wanted if "." in n} | buffers
    extra = set(private) - wanted if need_dx and need_dw else set()
    missing = {n for n in wanted - graph if n not in private}
    assert not extra and not missing, (
        f"{type(layer).__name__}: forward_train returned private {sorted(private)}, "
        f"saves declares {sorted(wanted - graph)}")
    for s in declared:
        a = arrays[s.name] if s.name in graph else private[s.name]
        shape = tuple(a.shape[1:]) if s.per_sample else tuple(a.shape)
        assert shape == tuple(s.shape), (type(layer).__name__, s.name, shape, s.shape)
        if s.dtype in ("act", "param"):  # activations and weights are float64 here
            want = np.dtype(np.float64)
        else:  # a fixed float dtype is at least that wide (float64 here), int64/bool exactly
            fixed = np.dtype(s.dtype)
            want = np.result_type(fixed, np.float64) if fixed.kind == "f" else fixed
        assert a.dtype == want, (type(layer).__name__, s.name, a.dtype, s.dtype)
    return {n: (arrays[n] if n in graph else private[n]) for n in wanted}


def _compare(label: str, analytic: Array | None, numeric: Array,
             errors: dict[str, float]) -> None:
    assert analytic is not None, f"{label}: backward returned None"
    assert analytic.shape == numeric.shape, (label, analytic.shape, numeric.shape)
    err = np.abs(analytic - numeric)
    bad = err > ATOL + RTOL * np.abs(numeric)
    assert not bad.any(), (
        f"{label}: {int(bad.sum())} of {bad.size} gradient elements off; worst "
        f"{float(err.max()):.3g} at {np.unravel_index(int(err.argmax()), err.shape)} "
        f"(analytic {analytic.ravel()[err.argmax()]:.9g}, "
        f"numeric {numeric.ravel()[err.argmax()]:.9g})")
    errors[label] = float(err.max())


def _numeric(loss: Callable[[], float], v: Array) -> Array:
    """Central differences of ``loss`` over every element of ``v`` (perturbed in place)."""
    g = np.zeros_like(v)
    flat, gflat = v.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + H
        up = loss()
        flat[i] = keep - H
        down = loss()
        flat[i] = keep
        gflat[i] = (up - down) / (2 * H)
    return g


def check(layer: Layer, ins: Sequence[tuple[int, ...]], *, batch: int = 2, seed: int = 0,
          inputs: Sequence[Array] | None = None, weights: Mapping[str, Array] | None = None,
          differentiable: Sequence[int] | None = None) -> Result:
    """Check ``layer.backward`` against central differences (see the module docstring).

    ``ins``: per-sample input shapes; ``inputs``: batched float64 arrays instead of N(0, 1)
    ones; ``weights``: instead of :func:`weights_for`; ``differentiable``: the input positions
    that get a gradient (default all — an index input, e.g. ``max_unpool``'s, is left out and
    must get None)."""
    rng = np.random.default_rng(seed)
    shapes = tuple(tuple(s) for s in ins)
    xs = [np.array(a, dtype=a.dtype if a.dtype.kind in "iub" else np.float64)
          for a in inputs] if inputs is not None else [
        rng.standard_normal((batch, *s)) for s in shapes]
    w = {k: np.array(v, dtype=np.float64) for k, v in (
        weights if weights is not None else weights_for(layer, shapes, rng)).items()}
    wrt = tuple(range(len(xs))) if differentiable is None else tuple(differentiable)
    names = _input_names(len(xs))

    def run() -> tuple[Array, dict[str, Array]]:
        y, private = layer.forward_train([x.copy() for x in xs], w, Context(np.float64))
        return y, private

    y, private = run()
    g = rng.standard_normal(y.shape)

    def loss() -> float:
        return float(np.sum(run()[0] * g))

    arrays = {**dict(zip(names, xs, strict=True)), "y": y}
    saved = _saved(layer, shapes, names, arrays, private, w)
    ctx = _context(shapes)
    dxs, dws = layer.backward(saved, w, g.copy(), ctx, True, True)
    assert len(dxs) == len(xs), (type(layer).__name__, len(dxs), len(xs))
    errors: dict[str, float] = {}
    for i, name in enumerate(names):
        if i in wrt:
            _compare(f"{type(layer).__name__} d{name}", dxs[i], _numeric(loss, xs[i]), errors)
        else:
            assert dxs[i] is None, f"{name} is not differentiable: its gradient must be None"
    learn = trainable(layer, shapes)
    assert set(dws) == set(learn), (type(layer).__name__, sorted(dws), sorted(learn))
    for name in learn:
        _compare(f"{type(layer).__name__} d{name}", dws[name], _numeric(loss, w[name]), errors)

    def flagged(dx: bool, dw: bool) -> tuple[Any, dict[str, Array]]:
        kept = _saved(layer, shapes, names, arrays, private, w, dx, dw)
        return layer.backward(kept, w, g.copy(), _context(shapes), dx, dw)

    _check_flags(flagged, dxs, dws)
    return Result(errors, ctx.macs, {k: tuple(v.shape) for k, v in saved.items()})


def _context(shapes: tuple[tuple[int, ...], ...]) -> Context:
    ctx = Context(np.float64)
    ctx.ins = shapes
    return ctx


def _check_flags(backward: Callable[[bool, bool], tuple[Any, dict[str, Array]]],
                 dxs: Sequence[Array | None], dws: Mapping[str, Array]) -> None:
    """With ``saved`` built for the flags: ``need_dx=False`` → every input gradient None and
    the same weight gradients; ``need_dw=False`` → no weight gradient and the same input
    gradients."""
    only_w, got_w = backward(False, True)
    assert tuple(only_w) == (None,) * len(dxs), "need_dx=False must give None for every input"
    assert set(got_w) == set(dws), "need_dw=True must give every weight gradient"
    for name, dw in dws.items():
        np.testing.assert_allclose(got_w[name], dw, rtol=1e-12, atol=1e-14)
    only_x, none = backward(True, False)
    assert none == {}, "need_dw=False must give no weight gradient"
    for got, want in zip(only_x, dxs, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def gradients(layer: Layer, inputs: Sequence[Array], weights: Mapping[str, Array], gy: Array
              ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
    """``backward``'s gradients for given inputs, weights and output gradient (both needed),
    ``saved`` built as :func:`check` builds it: for comparing with PyTorch's by value."""
    xs = [np.asarray(a) for a in inputs]
    shapes = tuple(tuple(x.shape[1:]) for x in xs)
    names = _input_names(len(xs))
    y, private = layer.forward_train([x.copy() for x in xs], weights, Context(np.float64))
    saved = _saved(layer, shapes, names, {**dict(zip(names, xs, strict=True)), "y": y}, private,
                   weights)
    return layer.backward(saved, weights, gy, _context(shapes), True, True)


def check_post(op: Layer, shape: tuple[int, ...], *, batch: int = 2, seed: int = 0,
               y_in: Array | None = None, weights: Mapping[str, Array] | None = None) -> Result:
    """Check a fused post-op's ``backward_post`` against central differences: the op's output
    ``y_in`` (default N(0, 1)) goes through ``forward_train_inplace``."""
    rng = np.random.default_rng(seed)
    x0 = np.array(y_in, dtype=np.float64) if y_in is not None else rng.standard_normal(
        (batch, *shape))
    w = {k: np.array(v, dtype=np.float64) for k, v in (
        weights if weights is not None else weights_for(op, (shape,), rng)).items()}

    def run() -> tuple[Array, Array, dict[str, Array]]:
        x = x0.copy()
        y, private = op.forward_train_inplace(x, w, Context(np.float64))
        return x, y, private

    x, y, private = run()
    g = rng.standard_normal(y.shape)

    def loss() -> float:
        return float(np.sum(run()[1] * g))

    saved = _saved(op, (shape,), ("x",), {"x": x, "y": y}, private, w)
    ctx = _context((shape,))
    dx, dws = op.backward_post(saved, w, g.copy(), ctx, True)
    errors: dict[str, float] = {}
    _compare(f"{type(op).__name__} post dx", dx, _numeric(loss, x0), errors)
    learn = trainable(op, (shape,))
    assert set(dws) == set(learn), (type(op).__name__, sorted(dws), sorted(learn))
    for name in learn:
        _compare(f"{type(op).__name__} post d{name}", dws[name], _numeric(loss, w[name]),
                 errors)
    kept = _saved(op, (shape,), ("x",), {"x": x, "y": y}, private, w, True, False)
    dx_only, none = op.backward_post(kept, w, g.copy(), _context((shape,)), False)
    assert none == {}, "need_dw=False must give no weight gradient"
    np.testing.assert_allclose(dx_only, dx, rtol=1e-12, atol=1e-14)
    return Result(errors, ctx.macs, {k: tuple(v.shape) for k, v in saved.items()})
