"""Expressions in numeric fields, evaluated by a whitelisted AST walk — never ``eval``.

Syntax: ``$name`` variables (block parameters, ``let`` values, scale parameters such as
``$width``, and ``$cin`` — the channels entering the layer), integer and float literals,
``+ - * / // % **``, comparisons, ``and or not``, ``a if cond else b`` and the functions in
:data:`FUNCTIONS`. Integers are bounded (:data:`MAX_INT`) so ``10**10**10`` is refused at once.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from difflib import get_close_matches
from functools import lru_cache

from .errors import LayerArgError, describe_int

Number = int | float
MAX_INT = 10**15
MAX_EXPR_CHARS = 500  # an expression's length (its $names written as _v_names)
_NAME = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)")
_SYNTAX = ("expressions take $names, numbers, + - * / // % **, comparisons, and or not, "
           "a if c else b, and round ceil floor int min max abs log log2 exp ch div")
#: a bare number in exponent form: YAML 1.1 (PyYAML) reads ``1e3`` and ``1e-5`` as text
_EXPONENT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def exponent_literal(text: str) -> LayerArgError | None:
    """An error for ``1e3``-style text where a number is expected, with the number written out;
    None for anything else. PyYAML reads ``1e3`` as a string (it wants ``1.0e+3``), so accepting
    it would silently depend on how the expression parser happens to treat it."""
    if not _EXPONENT.match(text.strip()):
        return None
    number = Decimal(text.strip())
    # 1e3 → 1000, 1e-5 → 0.00001 (only for sane exponents: 1e999999 must not build a huge string)
    plain = format(number, "f") if -20 <= number.adjusted() <= 20 else "the number in full"
    return LayerArgError(
        f"YAML reads {text.strip()!r} as text, not a number",
        hint=f"write {plain} (YAML 1.1 needs a dot and a signed exponent: 1.0e+3)",
    )


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10 % below it.

    This is the channel-rounding rule of MobileNet v2/v3 and EfficientNet (torchvision's
    ``_make_divisible``): ``new = max(min_value, int(v + d/2) // d · d)``; if ``new < 0.9·v``
    then ``new += d``.
    """
    if divisor <= 0:
        raise LayerArgError(f"divisor must be positive, got {divisor}",
                            hint="set `divisor:` under `scale:` to a positive integer, e.g. 8")
    if not math.isfinite(value) or abs(value) > MAX_INT:
        raise LayerArgError(f"the channels to round, {value}, are not a finite number up to "
                            "10^15", hint="check the width multiplier and the channel count")
    floor_to = divisor if min_value is None else min_value
    new = max(floor_to, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def _round_half_even(x: Number) -> int:
    return round(x)


def _check(x: Number) -> Number:
    if isinstance(x, int) and abs(x) > MAX_INT:
        raise LayerArgError(f"integer {describe_int(x, 40)} exceeds the limit {MAX_INT:.0e}",
                            hint="integers in expressions are bounded by 10^15")
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x) or abs(x) > MAX_INT):
        raise LayerArgError(f"number {x} is out of range",
                            hint="numbers in expressions are finite and bounded by 10^15")
    if not isinstance(x, (int, float)):  # e.g. a complex from (-8) ** 0.5
        raise LayerArgError(f"{x} is not a real number",
                            hint="numbers in expressions are real: check the signs")
    return x


def checked(x: object, what: str) -> Number:
    """``x`` if it is a number an expression may use (an int or a finite float, at most 10^15
    in size), else the error saying why, with ``what`` naming the value (``$width``)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise LayerArgError(f"{what} must be a number, got {x!r}",
                            hint="numbers are ints or floats")
    if isinstance(x, float) and not math.isfinite(x):
        raise LayerArgError(f"{what} is {x}, not a finite number",
                            hint="numbers in a spec are finite and bounded by 10^15")
    if abs(x) > MAX_INT:
        shown = describe_int(x) if isinstance(x, int) else f"{x:.3g}"
        raise LayerArgError(f"{what} is {shown}, beyond the limit {MAX_INT:.0e}",
                            hint="numbers in a spec are bounded by 10^15")
    return x


def _pow(a: Number, b: Number) -> Number:
    if abs(b) > 64 or (abs(a) > 1 and abs(b) * math.log2(abs(a) + 1) > 60):
        raise LayerArgError(f"{a} ** {b} is too large",
                            hint="integers in expressions are bounded by 10^15")
    if a == 0 and b < 0:
        raise LayerArgError(f"{a} ** {b} divides by zero",
                            hint="a negative power of 0 is 1/0")
    if a < 0 and not float(b).is_integer():
        raise LayerArgError(f"({a}) ** {b} is not a real number",
                            hint="a negative number has no real fractional power")
    if abs(a) < 1 and a != 0 and b < 0 and abs(b) * -math.log2(abs(a)) > 60:
        raise LayerArgError(f"{a} ** {b} is too large",
                            hint="numbers in expressions are bounded by 10^15")
    return _check(a**b)


def _div(a: Number, b: Number) -> Number:
    if b == 0:
        raise LayerArgError("division by zero", hint="the divisor evaluates to 0 here")
    return a / b


def _floordiv(a: Number, b: Number) -> Number:
    if b == 0:
        raise LayerArgError("division by zero", hint="the divisor evaluates to 0 here")
    return a // b


def _mod(a: Number, b: Number) -> Number:
    if b == 0:
        raise LayerArgError("modulo by zero", hint="the divisor evaluates to 0 here")
    return a % b


_BINOPS: dict[type, Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_CMPOPS: dict[type, Callable[[Number, Number], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def _fn_ceil(x: Number) -> int:
    return math.ceil(x)


def _fn_floor(x: Number) -> int:
    return math.floor(x)


def _fn_int(x: Number) -> int:
    return int(x)


def _fn_log(x: Number, base: Number | None = None) -> float:
    """Natural logarithm, or to ``base`` (RegNet's width quantisation: log(w/w0)/log(wm))."""
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise LayerArgError(f"log({x}{'' if base is None else f', {base}'}) is undefined",
                            hint="log takes a positive number (and a positive base other than 1)")
    return math.log(x) if base is None else math.log(x, base)


def _fn_log2(x: Number) -> float:
    if x <= 0:
        raise LayerArgError(f"log2({x}) is undefined", hint="log2 takes a positive number")
    return math.log2(x)


def _fn_exp(x: Number) -> float:
    if x > 700:  # e^709.8 is the largest float
        raise LayerArgError(f"exp({x}) is too large", hint="exp takes x up to 700")
    return math.exp(x)


#: Functions callable in expressions. ``ch`` and ``div`` need the scale context and are bound by
#: :func:`evaluate` from the variables ``width`` and ``divisor``.
FUNCTIONS: dict[str, Callable[..., Number]] = {
    "round": _round_half_even,
    "ceil": _fn_ceil,
    "floor": _fn_floor,
    "int": _fn_int,
    "min": min,
    "max": max,
    "abs": abs,
    "log": _fn_log,
    "log2": _fn_log2,
    "exp": _fn_exp,
}
SCALE_FUNCTIONS = ("ch", "div")

#: the scale parameters with a meaning of their own: (rule, hint). Every scale value is also a
#: finite number of at most 10^15 (:func:`scale_problem`).
SCALE_RULES: dict[str, tuple[str, str]] = {
    "width": ("to be positive", "the width multiplier scales channels: e.g. width=0.5"),
    "depth": ("to be positive", "the depth multiplier scales the blocks of a stage: "
              "e.g. depth=1.2"),
    "divisor": ("to be a positive whole number", "channels round to multiples of it: "
                "e.g. divisor=8"),
}


def scale_problem(name: str, value: object) -> str | None:
    """What is wrong with ``value`` for the scale parameter ``name`` (``"to be positive"``), or
    None: every scale value is a finite number of at most 10^15 in size; ``width`` and ``depth``
    are positive and ``divisor`` a positive whole number (:data:`SCALE_RULES`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "to be a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "to be a finite number"
    if abs(value) > MAX_INT:
        return "to be at most 10^15"
    if name in ("width", "depth") and value <= 0:
        return SCALE_RULES[name][0]
    if name == "divisor" and (value < 1 or not float(value).is_integer()):
        return SCALE_RULES[name][0]
    return None


def scaled_count(n: int, depth: object) -> int:
    """Blocks of a stage row under a depth multiplier: ``⌈n·depth⌉`` (EfficientNet's rule, e.g.
    ⌈3·1.2⌉ = 4). ``depth`` must be positive and finite (:func:`scale_problem`)."""
    problem = scale_problem("depth", depth)
    if problem is not None:
        raise LayerArgError(f"n = {n} blocks scaled by $depth needs $depth {problem}, got "
                            f"{depth!r}", hint=SCALE_RULES["depth"][1])
    assert isinstance(depth, (int, float))
    return math.ceil(n * depth)


@lru_cache(maxsize=4096)
def _parse(text: str) -> ast.expr:
    # `$in` would be a Python keyword: variables become `_v_in` before parsing
    source = _NAME.sub(r"_v_\1", text.strip())
    if len(source) > MAX_EXPR_CHARS:
        raise LayerArgError(f"expression longer than {MAX_EXPR_CHARS} characters",
                            hint="split it with `let:` names")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise LayerArgError(f"cannot parse the expression {text!r}", hint=_SYNTAX) from None
    return tree.body


def evaluate(text: str, variables: Mapping[str, Number | str]) -> Number:
    """Evaluate an expression string against ``variables`` (names without the ``$``)."""
    literal = exponent_literal(text)
    if literal is not None:
        raise literal
    node = _parse(text)
    return _eval(node, variables, text)


def names_in(text: str) -> set[str]:
    return {n.id[3:] for n in ast.walk(_parse(text)) if isinstance(n, ast.Name)}


def _scale_fn(name: str, variables: Mapping[str, Number | str]) -> Callable[..., Number]:
    divisor = variables.get("divisor", 8)
    width = variables.get("width", 1.0)
    if isinstance(divisor, str) or isinstance(width, str):
        raise LayerArgError("$width and $divisor must be numbers",
                            hint="set them under `scale:`, e.g. width: 1.0, divisor: 8")
    for key, value in (("width", width), ("divisor", divisor)):
        problem = scale_problem(key, value)
        if problem is not None:
            raise LayerArgError(f"{name}() needs ${key} {problem}, got {value!r}",
                                hint=SCALE_RULES[key][1])
    divisor = int(divisor)
    if name == "ch":
        # ch(c): channels c scaled by the width multiplier, rounded to a multiple of the divisor
        return lambda c: make_divisible(c * width, divisor)
    return lambda c: make_divisible(c, divisor)


def _eval(node: ast.expr, env: Mapping[str, Number | str], text: str) -> Number:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise LayerArgError(f"only numbers may appear in expressions, got {node.value!r}",
                                hint="use $names for values; quote the whole expression")
        return _check(node.value)
    if isinstance(node, ast.Name):
        if not node.id.startswith("_v_"):
            raise LayerArgError(f"unknown name {node.id!r} in {text!r}",
                                hint=f"variables start with $: write ${node.id}")
        name = node.id[3:]
        if name in env:
            value = env[name]
            if isinstance(value, str):
                raise LayerArgError(f"${name} is the word {value!r}, not a number ({text!r})",
                                    hint=f"pass a number for {name} where it is set")
            return checked(value, f"${name}")
        known = ", ".join(f"${k}" for k in sorted(env)) or "none"
        near = get_close_matches(name, sorted(env), n=1, cutoff=0.6)
        raise LayerArgError(
            f"unknown name ${name} in {text!r} (known here: {known})",
            hint=f"did you mean ${near[0]}?" if near else
            "variables are block parameters, `let:` and `scale:` names, and $cin",
        )
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        a = _eval(node.left, env, text)
        b = _eval(node.right, env, text)
        try:
            return _check(_BINOPS[type(node.op)](a, b))
        except (OverflowError, ZeroDivisionError, ValueError) as exc:  # float range, 0.0 ** -1
            raise LayerArgError(f"{ast.unparse(node)} cannot be computed ({exc})",
                                hint="numbers in expressions are finite and bounded by 10^15"
                                ) from None
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env, text)
        if isinstance(node.op, ast.USub):
            return -v
        if isinstance(node.op, ast.UAdd):
            return v
        if isinstance(node.op, ast.Not):
            return int(not v)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env, text)
        for op, comp in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _CMPOPS:
                break
            right = _eval(comp, env, text)
            if not _CMPOPS[type(op)](left, right):
                return 0
            left = right
        else:
            return 1
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, env, text) for v in node.values]
        if isinstance(node.op, ast.And):
            return int(all(values))
        return int(any(values))
    if isinstance(node, ast.IfExp):
        cond = _eval(node.test, env, text)
        return _eval(node.body if cond else node.orelse, env, text)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        args = [_eval(a, env, text) for a in node.args]
        name = node.func.id
        fn = FUNCTIONS.get(name)
        if fn is None and name in SCALE_FUNCTIONS:
            fn = _scale_fn(name, env)
        if fn is None:
            allowed = ", ".join(sorted([*FUNCTIONS, *SCALE_FUNCTIONS]))
            raise LayerArgError(f"unknown function {name}() in {text!r}",
                                hint=f"the functions are {allowed}")
        try:
            return _check(fn(*args))
        except TypeError:
            raise LayerArgError(f"wrong number of arguments to {name}() in {text!r}",
                                hint=_SYNTAX) from None
        except (OverflowError, ValueError) as exc:  # ceil(inf), int(nan): out of the reals
            raise LayerArgError(f"{name}() of {', '.join(map(str, args))} cannot be computed "
                                f"({exc})", hint="numbers in expressions are finite and "
                                "bounded by 10^15") from None
    raise LayerArgError(f"{ast.unparse(node)!r} is not allowed in an expression ({text!r})",
                        hint=_SYNTAX)
