"""The gradient checker itself (tests/gradcheck.py) fails on a wrong backward: a checker that
cannot fail checks nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from gradcheck import check

from archcalc.layers.base import SCALE, Pointwise, Shapes, Tensor, Tensors, Work, layer_class

Array = Any


@layer_class
class _Square(Pointwise):
    """y = γ_c·x² with a per-channel γ: dx = 2γx·g, dγ = Σ x²·g. ``factor`` scales dx (1: right),
    ``wrong_dw`` drops the sum over the batch (wrong)."""

    kind = "_square_for_gradcheck"
    factor: float = 1.0
    wrong_dw: bool = False

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return (Tensor("gamma", ins[0][:1], SCALE),)

    def work(self, ins: Shapes, out: tuple[int, ...]) -> Work:
        return Work()

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Any) -> Array:
        g = w["gamma"].reshape(1, -1, *([1] * (inputs[0].ndim - 2)))
        return g * inputs[0] ** 2

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Any,
                 need_dx: bool, need_dw: bool) -> tuple[tuple[Array | None, ...],
                                                         dict[str, Array]]:
        x = saved["x"]
        g = w["gamma"].reshape(1, -1, *([1] * (x.ndim - 2)))
        dx = self.factor * 2 * g * x * gy if need_dx else None
        axes = (0, *range(2, x.ndim)) if not self.wrong_dw else tuple(range(2, x.ndim))
        dw = {"gamma": (x * x * gy).sum(axis=axes)} if need_dw else {}
        if self.wrong_dw and need_dw:
            dw = {"gamma": dw["gamma"][0]}
        return (dx,), dw


def test_a_right_backward_passes() -> None:
    result = check(_Square(), [(3, 2, 2)])
    assert set(result.errors) == {"_Square dx", "_Square dgamma"}
    assert max(result.errors.values()) < 1e-7


@pytest.mark.parametrize("factor", [1.001, 0.999, -1.0])
def test_a_wrong_input_gradient_fails(factor: float) -> None:
    with pytest.raises(AssertionError, match="dx"):
        check(_Square(factor=factor), [(3, 2, 2)])


def test_a_wrong_weight_gradient_fails() -> None:
    with pytest.raises(AssertionError, match="dgamma"):
        check(_Square(wrong_dw=True), [(3, 2, 2)])


def test_tolerances_are_tight() -> None:
    import gradcheck

    assert (gradcheck.H, gradcheck.RTOL, gradcheck.ATOL) == (1e-6, 1e-6, 1e-7)
    assert np.finfo(np.float64).eps < 1e-15
