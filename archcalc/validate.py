"""The arguments of library calls, checked once at the boundary.

A value of the wrong Python type is a :class:`TypeError` that names what is accepted
(``batch must be an int, got float 1.5``); a value of the right type but out of range is a
:class:`~archcalc.SpecError` (an :class:`~archcalc.ExecError` for the executor's own
arguments) in library words — ``width=nan``, ``batch=0`` — never a Python traceback from deep
inside. The CLI checks its options with the same functions and its own words
(``--set width=nan``), passed as ``words``.

Limits (documented in README and docs/errors.md, checked against these constants by a test):
every size, batch and scale value is at most :data:`~archcalc.expr.MAX_INT` = 10^15.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from .errors import ExecError, Loc, SpecError, describe_int, quote
from .expr import MAX_INT, SCALE_RULES, Number, scale_problem


class Words(NamedTuple):
    """How a scale setting is written where an error is shown, from (name, value text)."""

    setting: Callable[[str, str], str]  # a value that is wrong: ``width=nan``
    unknown: Callable[[str, str], str]  # a name the spec does not declare: ``widht=2``


def _keyword(name: str, value: str) -> str:
    return f"{name}={value}"


#: the library's words: ``analyze(spec, width=0.5)``; the CLI passes ``--set`` words
LIBRARY_WORDS = Words(_keyword, _keyword)


def whole(value: object, name: str, accepted: str = "an int") -> int:
    """``value`` as an int: ints and integer-like objects (NumPy integers), not bools, floats or
    strings — those are a TypeError naming ``name`` and what is accepted."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {accepted}, got the bool {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be {accepted}, got {type(value).__name__} "
                        f"{_short(value)}") from None


def batch_size(batch: object, *, error: type[SpecError] | type[ExecError] = SpecError) -> int:
    """A batch size: an int from 1 to 10^15."""
    n = whole(batch, "batch")
    if n < 1:
        raise error(f"batch must be at least 1, got {n}", hint="batch=1 is the default")
    if n > MAX_INT:
        raise error(f"batch={describe_int(n)} is beyond the limit 10^15",
                    hint="batch=1 is the default")
    return n


def choice(value: object, name: str, options: Mapping[str, object] | Sequence[str],
           default: str) -> str:
    """One of ``options`` (a dtype, a FLOP convention): a str, else a TypeError."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {', '.join(options)}; got "
                        f"{type(value).__name__} {_short(value)}")
    if value not in options:
        what = {"dtype": "dtype", "convention": "FLOP convention"}.get(name, name)
        raise SpecError(f"unknown {what} {quote(value)}; choose one of {', '.join(options)}",
                        hint=f"{name}={default!r} is the default")
    return value


def input_shape(shape: object, file: str = "<spec>") -> tuple[int, ...] | None:
    """An input shape override: None, or a tuple or list of 1 to 4 ints (channels first, no
    batch), each from 1 to 10^15."""
    if shape is None:
        return None
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError("input_shape must be a tuple or list of ints such as (3, 224, 224), "
                        f"got {type(shape).__name__} {_short(shape)}")
    dims = tuple(whole(v, f"input_shape[{i}]", "an int (a size)") for i, v in enumerate(shape))
    if not 1 <= len(dims) <= 4 or any(not 1 <= v <= MAX_INT for v in dims):
        shown = "[" + ", ".join(describe_int(v) for v in dims) + "]"
        raise SpecError(f"input shape {shown} must be 1 to 4 sizes from 1 to 10^15",
                        loc=Loc(file), hint="channels first, no batch: e.g. (3, 224, 224)")
    return dims


def scale_values(declared: Mapping[str, Number], given: Mapping[str, object], *,
                 file: str = "<spec>", words: Words = LIBRARY_WORDS) -> dict[str, Number]:
    """``declared`` (a spec's ``scale:``) with ``given`` overrides: every name declared, every
    value a number (else a TypeError), finite, at most 10^15, and within the rules of the
    parameters archcalc itself reads (:data:`~archcalc.expr.SCALE_RULES`: ``width`` and
    ``depth`` positive, ``divisor`` a positive whole number)."""
    from .args import suggest

    if not isinstance(given, Mapping):
        raise TypeError(f"scale must be a mapping of names to numbers, got "
                        f"{type(given).__name__}")
    values = dict(declared)
    for key, value in given.items():
        if not isinstance(key, str):
            raise TypeError(f"scale parameter names are str, got {key!r}")
        if key not in values:
            near = suggest(key, list(values))
            raise SpecError(
                f"{words.unknown(key, _short(value))}: this spec has no scale parameter "
                f"{quote(key)}",
                loc=Loc(file),
                hint=f"did you mean {near!r}?" if near else
                ("scale parameters: " + ", ".join(values) if values else
                 "this spec declares no `scale:` parameters"),
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"scale parameter {key} must be an int or float, got "
                            f"{type(value).__name__} {_short(value)}")
        problem = scale_problem(key, value)
        if problem is not None:
            rule = SCALE_RULES.get(key)
            raise SpecError(f"{words.setting(key, _short(value))}: {key} needs {problem}",
                            loc=Loc(file),
                            hint=rule[1] if rule else "numbers in a spec are finite and bounded "
                            "by 10^15")
        values[key] = value
    return values


def seed(value: object) -> int:
    """A seed of the executor's random weights: an int ≥ 0 (NumPy's rule)."""
    n = whole(value, "seed")
    if n < 0:
        raise ExecError(f"seed={n} is negative", hint="seeds are integers from 0 up")
    return n


def _short(value: object) -> str:
    """A received value in a message: its repr, at most a line."""
    if isinstance(value, int) and not isinstance(value, bool):
        return describe_int(value, 40)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return quote(value)
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__: the type says enough
        return f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:59] + "…"


def run_arguments(x: object, seed_value: object, batch: object) -> tuple[Any, int, int | None]:
    """The executor's ``(x, seed, batch)``: ``x`` None or a rectangular array of numbers (as a
    NumPy array; NumPy is imported only here, for the executor), ``seed`` an int ≥ 0, ``batch``
    None or 1 to 10^15."""
    n = None if batch is None else batch_size(batch, error=ExecError)
    s = seed(seed_value)
    if x is None:
        return None, s, n
    if isinstance(x, (str, bytes, bytearray, Mapping, set, frozenset)):
        raise TypeError(f"x must be an array of numbers (NumPy array or nested lists), got "
                        f"{type(x).__name__} {_short(x)}")
    import numpy as np

    try:
        arr = np.asarray(x)
    except (TypeError, ValueError):  # ragged lists, objects NumPy cannot hold
        raise TypeError(f"x must be a rectangular array of numbers; NumPy cannot make one of "
                        f"this {type(x).__name__}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"x must be an array of numbers, got an array of {arr.dtype}")
    return arr, s, n
