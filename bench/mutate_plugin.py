"""A pytest plugin that breaks one rule of one layer class for the whole test session:
``ARCHCALC_MUTATION=Class.rule`` (bench/mutate.py runs the tests once per mutation).

Rules: ``forward`` (one output element moved by 0.5), ``forward_inplace`` (the same, fused),
``rf`` (axis 0's field one pixel wider, or a field where there is none), ``tensors`` (the first
tensor one row larger, or a spurious one-element tensor where there is none), ``role`` (the
first tensor's role swapped for another). Only instances of exactly that class are broken, not
its parent class or its subclasses.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

#: the wrong role a ``role`` mutation gives each role
SWAP = {"weight": "bias", "bias": "weight", "scale": "shift", "shift": "scale",
        "coefficient": "bias", "running_mean": "running_var", "running_var": "running_mean"}


def broken(cls: type, rule: str) -> tuple[str, Callable[..., Any]]:
    """(method name, its broken version) for ``rule`` of ``cls``."""
    import numpy as np

    from archcalc.layers import BIAS, Tensor
    from archcalc.shapes import AxisRF

    name = "tensors" if rule == "role" else rule
    honest = getattr(cls, name)

    def forward(self: Any, inputs: Any, w: Any, ctx: Any) -> Any:
        y = honest(self, inputs, w, ctx)
        if type(self) is cls:
            y = np.array(y, copy=True)
            y.flat[-1] += 0.5
        return y

    def forward_inplace(self: Any, y: Any, w: Any, ctx: Any) -> Any:
        y = honest(self, y, w, ctx)
        if type(self) is cls:
            y.flat[-1] += 0.5
        return y

    def rf(self: Any, ins: Any, rfs: Any) -> Any:
        got = honest(self, ins, rfs)
        if type(self) is not cls:
            return got
        if got is None:
            return (AxisRF(1, 1, 0),) * max(len(ins[0]) - 1, 1)
        return (AxisRF(got[0].size + 1, got[0].jump, got[0].start), *got[1:])

    def tensors(self: Any, ins: Any) -> Any:
        got = honest(self, ins)
        if type(self) is not cls:
            return got
        if not got:
            return (Tensor("extra", (1,), BIAS),)
        first = got[0]
        return (first._replace(shape=(first.shape[0] + 1, *first.shape[1:])), *got[1:])

    def role(self: Any, ins: Any) -> Any:
        got = honest(self, ins)
        if type(self) is not cls or not got:
            return got
        first = got[0]
        return (first._replace(role=SWAP[first.role], fan_in=first.fan_in or 1), *got[1:])

    rules: dict[str, Callable[..., Any]] = {"forward": forward,
                                            "forward_inplace": forward_inplace, "rf": rf,
                                            "tensors": tensors, "role": role}
    return name, rules[rule]


def pytest_configure(config: Any) -> None:
    target = os.environ.get("ARCHCALC_MUTATION")
    if not target:
        return
    import archcalc.layers as layers

    class_name, rule = target.split(".")
    cls = next(c for c in layers.LAYER_CLASSES if c.__name__ == class_name)
    name, method = broken(cls, rule)
    setattr(cls, name, method)
