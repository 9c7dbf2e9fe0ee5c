"""Element-wise maps: the activations, ``identity``, ``dropout``, a constant ``scale``, and the
one learnable activation, ``prelu``.

Every activation function without weights is one entry of :data:`RULES` — its cost per element,
whether it maps 0 to 0, and its NumPy form — so a new activation is one line here and nothing
else.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from .. import torch_code as tc
from ..shapes import Shape, prod
from ..torch_code import TorchLayer
from .base import (
    ACT,
    COEFFICIENT,
    NO_WORK,
    REQUIRED,
    Arg,
    Pointwise,
    Saved,
    Shapes,
    Tensor,
    Tensors,
    Work,
    layer_class,
)

if TYPE_CHECKING:
    from ..executor import Context
    from ..explain import Derivation
    from .arrays import Array

#: (numpy, x, slope, out) → f(x): into ``out`` when the rule can, else a new array
NumpyFn = Callable[[Any, "Array", float, "Array | None"], "Array"]
#: (numpy, v, slope, gy) → ∂L/∂x, from the tensor ``v`` the backward keeps (input or output)
GradFn = Callable[[Any, "Array", float, "Array"], "Array"]


class Rule(NamedTuple):
    """One activation function: operations per element counted by the ``full`` convention,
    its formula, whether f(0) = 0, its NumPy form and the arguments it takes."""

    ops: int
    formula: str
    zero_at_zero: bool
    numpy: NumpyFn
    args: tuple[str, ...] = ()


def _sigmoid(np: Any, x: Array) -> Array:
    with np.errstate(over="ignore"):
        out: Array = 1.0 / (1.0 + np.exp(-x))
        return out


#: Abramowitz & Stegun 7.1.26: erf z ≈ 1 − (a₁t + a₂t² + … + a₅t⁵)·e^(−z²), t = 1/(1 + p·z)
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def _erf(np: Any, x: Array) -> Array:
    """erf by Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5e-7), in float64."""
    t = 1.0 / (1.0 + _ERF_P * np.abs(x))
    a1, a2, a3, a4, a5 = _ERF_A
    poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
    erf: Array = np.sign(x) * (1.0 - poly * np.exp(-x * x))
    return erf


def _erf_with_grad(np: Any, x: Array) -> tuple[Array, Array]:
    """:func:`_erf`'s approximation and its own derivative (so the backward is the exact
    gradient of the forward computed), sharing t, P(t) and e^(−u²), in ``x``'s dtype: with
    u = |x|, t = 1/(1 + p·u), dt/du = −p·t², d/du[1 − P(t)·e^(−u²)] = (p·t²·P′(t) +
    2u·P(t))·e^(−u²), P′(t) = a₁ + 2a₂t + … + 5a₅t⁴; the sign factor cancels (erf is odd,
    its derivative even). At 0: p·P′(1) = 1.1283792 = 2/√π to 8 digits."""
    u = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * u)
    a1, a2, a3, a4, a5 = _ERF_A
    poly = t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5))))
    dpoly = a1 + t * (2 * a2 + t * (3 * a3 + t * (4 * a4 + t * 5 * a5)))
    gauss = np.exp(-u * u)
    erf: Array = np.sign(x) * (1.0 - poly * gauss)
    grad: Array = (_ERF_P * t * t * dpoly + 2.0 * u * poly) * gauss
    return erf, grad


def _gelu(np: Any, x: Array, a: float, out: Array | None) -> Array:
    wide = x.astype(np.float64)
    y: Array = 0.5 * wide * (1.0 + _erf(np, wide / math.sqrt(2.0)))
    return y


def _gelu_grad(np: Any, x: Array, a: float, gy: Array) -> Array:
    """d/dx ½x(1 + erf(x/√2)) = ½(1 + erf(x/√2)) + x·erf′(x/√2)/(2√2), in the input's dtype
    (the approximation's error, 1.5e-7, is float32's own resolution)."""
    erf, derf = _erf_with_grad(np, x / x.dtype.type(math.sqrt(2.0)))
    d = 0.5 * (1.0 + erf) + x * derf * x.dtype.type(1.0 / (2.0 * math.sqrt(2.0)))
    gx: Array = (gy * d).astype(gy.dtype)
    return gx


def _elu(np: Any, x: Array, a: float, out: Array | None) -> Array:
    with np.errstate(over="ignore"):
        y: Array = np.where(x > 0, x, x.dtype.type(a) * np.expm1(np.minimum(x, 0)))
    return y


def _softmax(np: Any, x: Array, a: float, out: Array | None) -> Array:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    y: Array = e / e.sum(axis=1, keepdims=True)
    return y


def _softmax_grad(np: Any, y: Array, a: float, gy: Array) -> Array:
    """∂L/∂x_c = y_c·(g_c − Σ_k g_k·y_k), the sum over the channels (the Jacobian
    diag(y) − y·yᵀ applied to g)."""
    gx: Array = y * (gy - (gy * y).sum(axis=1, keepdims=True))
    return gx


def _silu_grad(np: Any, x: Array, a: float, gy: Array) -> Array:
    """d/dx x·σ(x) = σ(x)·(1 + x·(1 − σ(x)))."""
    s = _sigmoid(np, x)
    gx: Array = gy * s * (1 + x * (1 - s))
    return gx


def _relu_grad(np: Any, y: Array, a: float, gy: Array) -> Array:
    """``∂y·[y > 0]`` in two passes and no temporary: the comparison written as 0/1 straight
    into the result (in ∂y's dtype), then multiplied by ∂y in place — the same values as
    ``gy * (y > 0)`` (a NaN or ±∞ in ∂y where y > 0 passes, 0·∂y elsewhere)."""
    out: Array = np.greater(y, 0, out=np.empty(np.broadcast_shapes(y.shape, gy.shape),
                                                 gy.dtype))
    out *= gy
    return out


def _hardswish_grad(np: Any, x: Array, a: float, gy: Array) -> Array:
    """0 for x < −3, x/3 + ½ for −3 ≤ x ≤ 3, 1 above (PyTorch's hardswish_backward)."""
    gx: Array = gy * np.where(x < -3, 0, np.where(x <= 3, x / 3 + 0.5, 1)).astype(gy.dtype)
    return gx


#: The activation functions, by name. ops: relu max(x,0): 1 · relu6 min(max(x,0),6): 2 ·
#: leaky_relu max(x, a·x): 2 · sigmoid 1/(1+e^-x): 4 (neg, exp, add, div) · tanh: 4 ·
#: hardsigmoid min(max(x/6+½,0),1): 4 · hardswish x·hardsigmoid(x): 5 · swish/silu
#: x·sigmoid(x): 5 · gelu (erf form ½x(1+erf(x/√2))): 5 · softmax over channels exp, sum,
#: divide: 3 · elu x if x > 0 else α(e^x − 1) (compare, exp, subtract, multiply): 4 · abs |x|
#: (the L1 distance of a Siamese head): 1.
RULES: Mapping[str, Rule] = {
    "relu": Rule(1, "max(x, 0)", True, lambda np, x, a, out: np.maximum(x, 0, out=out)),
    "relu6": Rule(2, "min(max(x, 0), 6)", True, lambda np, x, a, out: np.clip(x, 0, 6, out=out)),
    "leaky_relu": Rule(2, "x if x ≥ 0 else slope·x", True,
                       lambda np, x, a, out: np.where(x >= 0, x, x * x.dtype.type(a)),
                       ("slope",)),
    "sigmoid": Rule(4, "1/(1 + e^−x)", False, lambda np, x, a, out: _sigmoid(np, x)),
    "tanh": Rule(4, "tanh x", True, lambda np, x, a, out: np.tanh(x)),
    "hardsigmoid": Rule(4, "clip(x/6 + ½, 0, 1)", False,
                        lambda np, x, a, out: np.clip(x / 6 + 0.5, 0, 1)),
    "hardswish": Rule(5, "x·clip(x/6 + ½, 0, 1)", True,
                      lambda np, x, a, out: x * np.clip(x / 6 + 0.5, 0, 1)),
    "swish": Rule(5, "x·σ(x)", True, lambda np, x, a, out: x * _sigmoid(np, x)),
    "silu": Rule(5, "x·σ(x)", True, lambda np, x, a, out: x * _sigmoid(np, x)),
    "gelu": Rule(5, "½x(1 + erf(x/√2))", True, _gelu),
    "softmax": Rule(3, "e^x_c / Σ_c e^x_c over channels", False, _softmax),
    "elu": Rule(4, "x if x > 0 else α·(e^x − 1)", True, _elu, ("alpha",)),
    "abs": Rule(1, "|x|", True, lambda np, x, a, out: np.abs(x, out=out)),
}
#: operations per element of each activation (``full`` convention), from :data:`RULES`
ACTIVATION_OPS: Mapping[str, int] = {name: rule.ops for name, rule in RULES.items()}

#: each function's PyTorch module (one per row of :data:`RULES`; a test holds them equal)
TORCH: Mapping[str, Callable[[Any], tc.TorchCall]] = {
    "relu": lambda a: tc.call("nn.ReLU"),
    "relu6": lambda a: tc.call("nn.ReLU6"),
    "leaky_relu": lambda a: tc.call("nn.LeakyReLU", ("negative_slope", a.slope)),
    "sigmoid": lambda a: tc.call("nn.Sigmoid"),
    "tanh": lambda a: tc.call("nn.Tanh"),
    "hardsigmoid": lambda a: tc.call("nn.Hardsigmoid"),
    "hardswish": lambda a: tc.call("nn.Hardswish"),
    "swish": lambda a: tc.call("nn.SiLU"),
    "silu": lambda a: tc.call("nn.SiLU"),
    "gelu": lambda a: tc.call("nn.GELU"),
    "softmax": lambda a: tc.call("nn.Softmax", ("dim", 1)),
    "elu": lambda a: tc.call("nn.ELU", alpha=a.alpha if a.alpha != 1.0 else None),
    "abs": lambda a: tc.call("Abs", helper="Abs"),
}


class Backward(NamedTuple):
    """One activation's backward: the tensor it keeps (``"x"`` its input or ``"y"`` its output),
    the operations per element of ``∂x = ∂y·f′`` (``full`` convention) with the formula, and
    its NumPy form ``grad(np, kept, argument, ∂y)``. ``grad_x``: the gradient from the input,
    for a function that keeps its output only when its argument allows (leaky_relu with
    slope ≥ 0, elu with α ≥ 0: PyTorch refuses the in-place form otherwise, and y no longer
    tells the sign of x)."""

    keeps: str
    ops: int
    formula: str
    grad: GradFn
    grad_x: GradFn | None = None


#: The backward of each activation, as PyTorch's autograd runs torchvision's modules (in place
#: where torchvision builds them so: ``ReLU(inplace=True)`` keeps its output; bench/
#: training_types.py). An in-place ReLU6/Hardswish/SiLU keeps a copy of its input — counted as
#: the input, a tensor no other layer keeps. Operations per element: the formula's compares,
#: multiplies and adds, with σ (4 operations), Φ (5) and φ (3) recomputed where they appear.
#: The NumPy forms follow PyTorch's backward kernels (threshold_backward, hardtanh_backward,
#: hardswish_backward, …); gelu differentiates the forward's own erf approximation.
BACKWARD: Mapping[str, Backward] = {
    "relu": Backward("y", 1, "∂y·[y > 0]", _relu_grad),
    "relu6": Backward("x", 2, "∂y·[0 < x < 6]", lambda np, x, a, g: g * ((x > 0) & (x < 6))),
    "leaky_relu": Backward("y", 2, "∂y·(1 if y ≥ 0 else slope)",
                           lambda np, y, a, g: np.where(y > 0, g, g * g.dtype.type(a)),
                           lambda np, x, a, g: np.where(x > 0, g, g * g.dtype.type(a))),
    "sigmoid": Backward("y", 3, "∂y·y·(1 − y)", lambda np, y, a, g: g * y * (1 - y)),
    "tanh": Backward("y", 3, "∂y·(1 − y²)", lambda np, y, a, g: g * (1 - y * y)),
    "hardsigmoid": Backward("x", 3, "∂y/6·[−3 < x < 3]",
                            lambda np, x, a, g: g * ((x > -3) & (x < 3)) / 6),
    "hardswish": Backward("x", 5, "∂y·(2x + 3)/6 on (−3, 3), 0 below, ∂y above",
                          _hardswish_grad),
    "swish": Backward("x", 9, "∂y·σ(x)·(1 + x·(1 − σ(x)))", _silu_grad),
    "silu": Backward("x", 9, "∂y·σ(x)·(1 + x·(1 − σ(x)))", _silu_grad),
    "gelu": Backward("x", 10, "∂y·(Φ(x) + x·φ(x))", _gelu_grad),
    "softmax": Backward("y", 4, "y·(∂y − Σ_c ∂y·y)", _softmax_grad),
    "elu": Backward("y", 3, "∂y·(1 if y > 0 else y + α)",
                    lambda np, y, a, g: np.where(y > 0, g, g * (y + a)),
                    lambda np, x, a, g: np.where(x > 0, g, g * a * np.exp(np.minimum(x, 0)))),
    "abs": Backward("x", 2, "∂y·sign(x)", lambda np, x, a, g: g * np.sign(x)),
}


@layer_class
class Activation(Pointwise):
    """Element-wise activation (``relu``, ``relu6``, ``leaky_relu``, ``sigmoid``, ``tanh``,
    ``hardsigmoid``, ``hardswish``, ``swish``/``silu``, ``gelu``, ``softmax`` over channels,
    ``elu``, ``abs``). No params; work per :data:`ACTIVATION_OPS` (``full``). ``leaky_relu``
    takes ``slope``, ``elu`` takes ``alpha``; the others take no argument."""

    kind: ClassVar[str] = "activation"
    doc: ClassVar[str] = "element-wise activation"
    KIND_IS_NAME: ClassVar[bool] = False
    TITLE: ClassVar[str] = "Activations"
    SPELLINGS: ClassVar[Mapping[str, Mapping[str, Any]]] = {name: {"fn": name} for name in RULES}
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("slope", "float", 0.01, "leaky_relu negative slope"),
        Arg("alpha", "float", 1.0, "elu scale of the negative part"),
    )
    fn: str = "relu"
    slope: float = 0.01
    alpha: float = 1.0

    @classmethod
    def args_for(cls, name: str) -> tuple[Arg, ...]:
        """``leaky_relu`` takes ``slope``, ``elu`` ``alpha``; the others take no argument."""
        return tuple(a for a in cls.ARGS if a.name in RULES[name].args)

    def _param(self) -> float:
        """The rule's argument: ``alpha`` for elu, else ``slope`` (used by leaky_relu only)."""
        return self.alpha if self.fn == "elu" else self.slope

    @property
    def type_name(self) -> str:
        return self.fn

    @property
    def rule(self) -> Rule:
        return RULES[self.fn]

    def keeps_zero(self) -> bool:
        return self.rule.zero_at_zero

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=self.rule.ops * prod(out))

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its input or its output, as :data:`BACKWARD` says for the function."""
        if not need_dx:
            return ()
        keeps = self._keeps()
        return (Saved(keeps, ins[0] if keeps == "x" else out, ACT),)

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = ∂y·f′``: :data:`BACKWARD`'s operations per element (``full``)."""
        return (Work(elementwise=BACKWARD[self.fn].ops * prod(out)), Work()) if need_dx \
            else NO_WORK

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """relu, relu6, leaky_relu, sigmoid, tanh, hardsigmoid ``clip(x/6 + ½, 0, 1)``,
        hardswish ``x·hardsigmoid(x)``, swish/silu ``x·σ(x)``, gelu ``½x(1 + erf(x/√2))``,
        softmax over channels, elu ``x if x > 0 else α(e^x − 1)`` (PyTorch's ELU), abs."""
        import numpy as np

        x = inputs[0]
        return np.asarray(self.rule.numpy(np, x, self._param(), None), dtype=x.dtype)

    def forward_inplace(self, y: Array, w: Tensors, ctx: Context) -> Array:
        import numpy as np

        result = self.rule.numpy(np, y, self._param(), y)
        if result is not y:
            np.copyto(y, result, casting="same_kind")
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``∂L/∂x`` by the function's gradient (:data:`BACKWARD`) from the one tensor it
        keeps, its input ``x`` or its output ``y``; no weights."""
        return (self._grad(saved, gy, ctx) if need_dx else None,), {}

    def _keeps(self) -> str:
        """``BACKWARD``'s kept tensor, its input when the argument rules out the output
        (:class:`Backward`'s ``grad_x``)."""
        back = BACKWARD[self.fn]
        return "x" if back.grad_x is not None and self._param() < 0 else back.keeps

    def _grad(self, saved: Mapping[str, Array], gy: Array, ctx: Context) -> Array:
        """The gradient; in support mode (``ctx.support``, nothing saved) ``gy`` itself — an
        element-wise map depends on its own element only — or, for softmax, ``gy`` summed
        over the channels (each output depends on every channel of its position)."""
        import numpy as np

        if ctx.support:
            from .arrays import spread

            return spread(gy, (1,)) if self.fn == "softmax" else gy

        back = BACKWARD[self.fn]
        keeps = self._keeps()
        grad = back.grad_x if keeps != back.keeps and back.grad_x is not None else back.grad
        gx: Array = np.asarray(grad(np, saved[keeps], self._param(), gy), dtype=gy.dtype)
        return gx

    def forward_train_inplace(self, y: Array, w: Tensors,
                              ctx: Context) -> tuple[Array, dict[str, Array]]:
        """A rule that keeps its output overwrites ``y`` (PyTorch's ``inplace=True``); one that
        keeps its input leaves ``y`` intact for the backward and returns a new array."""
        if self._keeps() == "y":
            return self.forward_inplace(y, w, ctx), {}
        return self.forward([y], w, ctx), {}

    def backward_post(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                      need_dw: bool) -> tuple[Array, dict[str, Array]]:
        """As :meth:`backward`, ``x`` being the op's output."""
        return self._grad(saved, gy, ctx), {}

    def explain(self, ex: Derivation) -> None:
        self.explain_per_element(ex, self.fn, str(self.rule.ops), self.rule.ops)

    def explain_post(self, ex: Derivation) -> None:
        osyms, oenv = ex.out_symbols()
        ex.elementwise(self.fn, f"{self.rule.ops}*" + "*".join(osyms), oenv,
                       self.rule.ops * prod(ex.oshape))

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """The function's module (:data:`TORCH`)."""
        return TORCH[self.fn](self)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = (
        "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Gelu",
        "Softmax", "Elu", "Abs",
    )

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Relu, Tanh, HardSwish, Gelu, Abs; Clip(0, 6) → relu6, Clip(0, ∞) → relu;
        LeakyRelu(α) → leaky_relu slope α; Elu(α); HardSigmoid(1/6, ½) (PyTorch's);
        Sigmoid, and x·Sigmoid(x) → silu; Softmax over the channels."""
        op = node.op_type
        fn = {"Relu": "relu", "Tanh": "tanh", "HardSwish": "hardswish", "Gelu": "gelu",
              "Abs": "abs"}.get(op)
        args: dict[str, Any] = {}
        if op == "LeakyRelu":
            fn, args = "leaky_relu", {"slope": round(float(r.attr(node, "alpha", 0.01)), 9)}
        elif op == "Elu":
            fn = "elu"
            alpha = round(float(r.attr(node, "alpha", 1.0)), 9)
            args = {} if alpha == 1.0 else {"alpha": alpha}
        elif op == "Clip":
            lo, hi = r.attr(node, "min"), r.attr(node, "max")
            if len(node.input) > 1 and node.input[1]:
                lo = float(r.value(node.input[1], node, "min"))
            if len(node.input) > 2 and node.input[2]:
                hi = float(r.value(node.input[2], node, "max"))
            if lo == 0 and hi == 6:
                fn = "relu6"
            elif lo == 0 and (hi is None or math.isinf(hi)):
                fn = "relu"
            else:
                raise r.error(node, f"Clip({lo}, {hi}) has no archcalc activation",
                              "relu6 is Clip(0, 6), relu Clip(0, inf)")
        elif op == "HardSigmoid":
            alpha, beta = float(r.attr(node, "alpha", 0.2)), float(r.attr(node, "beta", 0.5))
            if abs(alpha - 1 / 6) > 1e-6 or beta != 0.5:
                raise r.error(node, f"HardSigmoid(alpha={alpha}, beta={beta}) is not PyTorch's "
                              "hardsigmoid (alpha = 1/6, beta = 0.5)")
            fn = "hardsigmoid"
        elif op == "Sigmoid":
            x = node.input[0]
            readers = r.readers(node.output[0])
            if len(readers) == 1 and readers[0].op_type == "Mul" and x in readers[0].input:
                mul = readers[0]
                r.claimed.add(r.producer[mul.output[0]])
                r.add(i, node, "silu", {}, output=mul.output[0])
                return True
            fn = "sigmoid"
        elif op == "Softmax":
            shape = r.shape(r.resolve(node.input[0]), node)
            axis = int(r.attr(node, "axis", -1 if r.opset >= 13 else 1))
            if axis % len(shape) != 1 and not (len(shape) == 2 and axis % 2 == 1):
                raise r.error(node, f"softmax over axis {axis} of {list(shape)}: archcalc's "
                              "softmax is over the channels (axis 1)")
            fn = "softmax"
        assert fn is not None
        r.add(i, node, fn, args)
        return True


@layer_class
class Identity(Pointwise):
    """Passes its input through unchanged: same shape, no weights, no arithmetic."""

    kind: ClassVar[str] = "identity"
    doc: ClassVar[str] = "identity"

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work()

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing: the gradient passes through."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = ∂y``: no arithmetic."""
        return NO_WORK

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """The input itself (dropout is the identity at inference)."""
        return inputs[0]

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``∂L/∂x = ∂L/∂y`` (``gy`` itself); keeps nothing."""
        return (gy if need_dx else None,), {}

    def explain(self, ex: Derivation) -> None:
        ex.same_shape()

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("nn.Identity")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Identity", "Cast", "CastLike")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Identity and Cast on the data path: no row, the tensor is passed on."""
        r.alias[node.output[0]] = r.resolve(node.input[0])
        return True


@layer_class
class Dropout(Identity):
    """Dropout: identity at inference, so no arithmetic is counted."""

    kind: ClassVar[str] = "dropout"
    doc: ClassVar[str] = "dropout (identity at inference)"
    ARGS: ClassVar[tuple[Arg, ...]] = (Arg("p", "prob", 0.5, "drop probability"),)
    p: float = 0.5

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """In training, the ``mask`` it multiplied by — of the activations' dtype, already scaled
        by 1/(1 − p): PyTorch's CPU dropout is ``x·bernoulli(1 − p)/(1 − p)``
        (bench/training_types.py: float32 per element); nothing when p = 0 (it returns x)."""
        return (Saved("mask", ins[0], ACT),) if need_dx and self.p > 0 else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = ∂y·mask``: one multiply per element (``full``); none when p = 0."""
        return (Work(elementwise=prod(out)), Work()) if need_dx and self.p > 0 else NO_WORK

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("nn.Dropout", ("p", self.p))

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """``y = x·m`` with ``m = [u ≥ p]/(1 − p)``, u uniform from ``ctx.rng`` (inverted
        dropout: the expectation of ``y`` is ``x``; p = 1 drops everything, m = 0; p = 0 is the
        identity and keeps nothing). Keeps ``m``
        as a tensor of the input's dtype — PyTorch's CPU dropout keeps exactly that noise
        tensor (values 0 and 1/(1 − p)), not a bool mask."""
        import numpy as np

        (x,) = inputs
        if self.p == 0:  # PyTorch returns x itself: nothing drawn, nothing kept
            return x, {}
        keep = ctx.rng.random(x.shape) >= self.p
        scale = 0.0 if self.p >= 1 else 1.0 / (1.0 - self.p)
        mask: Array = keep.astype(x.dtype) * x.dtype.type(scale)
        y: Array = np.multiply(x, mask)
        return y, {"mask": mask}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``∂L/∂x = ∂L/∂y·m`` from the kept mask (``∂L/∂y`` itself when p = 0)."""
        if not need_dx:
            return (None,), {}
        return (gy * saved["mask"] if self.p > 0 and not ctx.support else gy,), {}


    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Dropout",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        ratio = r.attr(node, "ratio", 0.5)
        if len(node.input) > 1 and node.input[1]:
            ratio = float(r.value(node.input[1], node, "ratio"))
        r.add(i, node, "dropout", {"p": round(float(ratio), 9)})
        return True


@layer_class
class PReLU(Pointwise):
    """Parametric ReLU (He et al. 2015, arXiv:1502.01852): ``x if x ≥ 0 else a·x`` with a
    learned slope ``a`` — one for the whole layer (PyTorch's ``nn.PReLU()``, 1 parameter) or
    one per channel (``per_channel: true``, ``nn.PReLU(C)``: C parameters). Work per element:
    compare and multiply, 2 operations (``full``)."""

    kind: ClassVar[str] = "prelu"
    doc: ClassVar[str] = "parametric ReLU with a learned slope (one, or one per channel)"
    ARGS: ClassVar[tuple[Arg, ...]] = (
        Arg("per_channel", "bool", False, "one slope per channel instead of one in all"),
    )
    per_channel: bool = False

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return (Tensor("weight", (ins[0][0] if self.per_channel else 1,), COEFFICIENT),)

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=2 * prod(out))

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Its input (PyTorch's ``_prelu_kernel`` backward reads the input and the slope, a
        parameter) whenever it is in the backward."""
        return (Saved("x", ins[0], ACT),) if need_dx or need_dw else ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = ∂y·(x ≥ 0 ? 1 : a)``: compare, multiply — 2 per element; ``∂a = Σ ∂y·min(0,
        x)``: select, multiply, add — 3 per element (``full``)."""
        n = prod(out)
        return (Work(elementwise=2 * n) if need_dx else Work()), \
            (Work(elementwise=3 * n) if need_dw else Work())

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``max(0, x) + a·min(0, x)``, ``a`` per channel or one for all (PyTorch's PReLU)."""
        import numpy as np

        from .arrays import channel_view

        (x,) = inputs
        a = w["weight"].astype(x.dtype)
        slope = channel_view(a, x.ndim) if self.per_channel else a.reshape(())
        y: Array = np.where(x >= 0, x, slope * x)
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """From the kept input: ``∂L/∂x = g`` where ``x > 0``, ``a·g`` elsewhere;
        ``∂L/∂a = Σ g·x`` over the elements with ``x < 0`` — per channel (the batch and positions
        summed) or over everything for one slope (PyTorch's prelu backward)."""
        import numpy as np

        from .arrays import channel_view, reduce_to_channels

        if ctx.support:  # element-wise: its own element
            return (gy if need_dx else None,), {}
        x = saved["x"]
        neg = x <= 0
        a = w["weight"].astype(gy.dtype)
        slope = channel_view(a, x.ndim) if self.per_channel else a.reshape(())
        dx = np.where(neg, gy * slope, gy) if need_dx else None
        grads: dict[str, Array] = {}
        if need_dw:
            part = gy * x * neg
            grads["weight"] = (reduce_to_channels(part) if self.per_channel
                               else part.sum().reshape(1))
        return (dx,), grads

    def explain(self, ex: Derivation) -> None:
        ex.same_shape()
        ex.section("weights")
        if self.per_channel:
            ex.tensor("weight", "C", {"C": ex.shape[0]}, ex.shape[0],
                      note="one learned slope per channel")
        else:
            ex.tensor("weight", "1", {}, 1, note="one learned slope for every element")
        syms, env = ex.dims(ex.shape, False)
        ex.elementwise("prelu", "2*" + "*".join(syms), env, 2 * prod(ex.shape))

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """``nn.PReLU()`` (one slope) or ``nn.PReLU(C)`` (one per channel)."""
        return tc.call("nn.PReLU", num_parameters=ins[0][0] if self.per_channel else None)

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("PRelu",)

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """PRelu with a stored slope: one (``prelu``) or one per channel (``per_channel``)."""
        slope = r.weight(node)
        c = r.shape(r.resolve(node.input[0]), node)[1]
        n = prod(slope.shape)
        if n not in (1, c):
            raise r.error(node, f"a slope of {list(slope.shape)} is neither one nor one per "
                          f"channel ({c})")
        r.add(i, node, "prelu", {"per_channel": True} if n == c and c > 1 else {},
              [r.resolve(node.input[0])])
        return True


@layer_class
class ConstantScale(Pointwise):
    """Multiplication by a constant ``factor``: Inception-ResNet's residual scaling ("scaling
    down the residuals before adding them", 0.1-0.3; Szegedy et al. 2017, Section 3.3). No
    weights; one multiply per element (``full``)."""

    kind: ClassVar[str] = "scale"
    doc: ClassVar[str] = "multiply by a constant factor (residual scaling)"
    ARGS: ClassVar[tuple[Arg, ...]] = (Arg("factor", "float", REQUIRED, "the constant"),)
    factor: float

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        return ()

    def work(self, ins: Shapes, out: Shape) -> Work:
        return Work(elementwise=prod(out))

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """Nothing: a product by a constant needs only the constant."""
        return ()

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """``∂x = factor·∂y``: one multiply per element (``full``)."""
        return (Work(elementwise=prod(out)), Work()) if need_dx else NO_WORK

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        """``factor·x``."""
        (x,) = inputs
        y: Array = x * x.dtype.type(self.factor)
        return y

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """``∂L/∂x = factor·g``; keeps nothing (support mode: ``|factor|·g``)."""
        factor = abs(self.factor) if ctx.support else self.factor
        return (gy * gy.dtype.type(factor) if need_dx else None,), {}

    def explain(self, ex: Derivation) -> None:
        self.explain_per_element(ex, "scale", "1", 1)

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        return tc.call("Scale", ("factor", self.factor), helper="Scale")

    #: the ONNX operators it imports from (:mod:`archcalc.onnx_import` asks it)
    ONNX: ClassVar[tuple[str, ...]] = ("Mul",)

    ONNX_ORDER: ClassVar[int] = -2

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """A Mul by a constant scalar → ``scale`` (Inception-ResNet's residual scaling)."""
        x, const = r.split_const(node)
        if const is None or x is None or const.value is None or const.value.size != 1:
            return False
        # float32 holds 7 significant digits: 0.2 is stored as 0.200000003
        factor = float(const.value.reshape(()))
        if const.value.dtype.itemsize <= 4:
            factor = float(f"{factor:.7g}")
        r.add(i, node, "scale", {"factor": factor}, [x])
        return True
