"""Argument coercion: a located YAML value → the typed value a layer field expects, once.

Kinds: ``int`` ``int+`` ``int0`` (integers: any, positive, non-negative); ``ints+`` ``ints0``
(an int or a per-axis list); ``pad`` (int, per-axis ints or [before, after] pairs, ``same``,
``valid``); ``float``; ``prob`` (0 ≤ p < 1); ``bool``; ``choice:a|b``; ``shape`` (ints, one may
be −1); ``conn`` (lists of channel indices); ``name``. Strings in numeric places are
expressions (:mod:`archcalc.expr`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from .errors import LayerArgError, describe_int, quote
from .expr import MAX_INT, Number, exponent_literal
from .ytree import YMap, YNode, YScalar, YSeq, describe_value

Evaluate = Callable[[str], Number]
#: text that is meant as an expression (an operator, a $name, a keyword): its own error is shown
_EXPRESSIONISH = re.compile(r"[$()+\-*/%<>=!]|\b(?:and|or|not|if|else)\b")

_KIND_TEXT = {
    "int": "an integer",
    "int+": "a positive integer",
    "int0": "a non-negative integer",
    "ints+": "a positive integer or a per-axis list of them",
    "ints0": "a non-negative integer or a per-axis list of them",
    "pad": "padding: an integer, a per-axis list, [before, after] pairs, same or valid",
    "float": "a number",
    "prob": "a probability 0 <= p < 1",
    "bool": "true or false",
    "shape": "a list of integers (one may be -1)",
    "conn": "a list of lists of input channel indices",
    "name": "a name",
}
#: an example value per kind, for hints
_EXAMPLES = {"int": "an integer such as 3", "int+": "an integer such as 3",
             "int0": "an integer such as 0", "ints+": "an integer such as 3 or a list [3, 3]",
             "ints0": "an integer such as 1 or a list [1, 1]", "prob": "a number such as 0.5"}


def kind_text(kind: str) -> str:
    if kind.startswith("choice:"):
        return "one of " + ", ".join(kind[7:].split("|"))
    return _KIND_TEXT[kind]


def _fail(name: str, kind: str, got: str, hint: str | None = None) -> LayerArgError:
    return LayerArgError(f"{name} must be {kind_text(kind)}, got {got}",
                         hint=hint or f"write {name}: {_example(kind)}")


def _example(kind: str) -> str:
    """A valid value of ``kind``, for hints."""
    if kind.startswith("choice:"):
        return " or ".join(kind[7:].split("|"))
    return {"int": "3", "int+": "3", "int0": "0", "ints+": "3 or a per-axis list [3, 3]",
            "ints0": "1 or a per-axis list [1, 1]", "pad": "1, [1, 1], same or valid",
            "float": "0.5", "prob": "0.5", "bool": "true or false", "shape": "[-1] or [64, -1]",
            "conn": "[[0, 1], [1, 2]] (input maps per output map)",
            "name": "a name"}.get(kind, "a value")


def _number(node: YScalar, name: str, kind: str, ev: Evaluate) -> Number:
    value = node.value
    if isinstance(value, bool) or value is None:
        raise _fail(name, kind, describe_value(value))
    if isinstance(value, str):
        literal = exponent_literal(value)
        if literal is not None:  # `1e3`: YAML 1.1 text, not a number
            raise _fail(name, kind, f"{describe_value(value)} (YAML 1.1 reads 1e3-style numbers "
                        "as text)", literal.hint)
        try:
            return ev(value)
        except LayerArgError as exc:
            if _EXPRESSIONISH.search(value) or value.replace(".", "").isdigit():
                # an expression that failed: say which argument it was
                raise LayerArgError(f"{name}: {exc.what}", hint=exc.hint) from None
            hint = "padding takes a number, a list, same or valid" if kind == "pad" else (
                f"write {_EXAMPLES.get(kind, 'a number')}, or an expression such as "
                f"'$cin // 2'")
            raise _fail(name, kind, describe_value(value), hint) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(name, kind, describe_value(value), "write a finite number")
    if abs(value) > MAX_INT:
        shown = describe_int(value) if isinstance(value, int) else f"{value:.3g}"
        raise _fail(name, kind, f"{shown}, beyond the limit {MAX_INT:.0e}",
                    "numbers in a spec are bounded by 10^15")
    return value


def _int(node: YNode, name: str, kind: str, ev: Evaluate, minimum: int | None) -> int:
    if not isinstance(node, YScalar):
        raise _fail(name, kind, node.describe())
    value = _number(node, name, kind, ev)
    if isinstance(value, float):
        if isinstance(node.value, str) and not value.is_integer():  # an expression's result
            raise _fail(name, kind, f"{value!r} from {quote(node.value)}",
                        "round it to a whole number: round(…), ceil(…) or floor(…)")
        if not value.is_integer() or not isinstance(node.value, str):
            hint = (f"write a whole number such as {math.floor(value) or 1}"
                    if isinstance(node.value, float) else None)
            raise _fail(name, kind, describe_value(node.value), hint)
        value = int(value)
    if minimum is not None and value < minimum:
        hint = "strides and kernels start at 1" if minimum == 1 else None
        raise _fail(name, kind, repr(value), hint)
    return value


#: the smallest plain integer each integer-accepting kind takes as it is
INT_FLOOR = {"int+": 1, "ints+": 1, "int0": 0, "ints0": 0, "pad": 0}


def coerce(node: YNode, name: str, kind: str, ev: Evaluate) -> Any:
    """Turn ``node`` into the value of argument ``name`` of kind ``kind``."""
    if type(node) is YScalar and type(node.value) is int:  # the common case, decided at once
        floor = INT_FLOOR.get(kind)
        if floor is not None and floor <= node.value <= MAX_INT:
            return node.value
    if kind in ("int", "int+", "int0"):
        return _int(node, name, kind, ev, {"int": None, "int+": 1, "int0": 0}[kind])
    if kind in ("ints+", "ints0"):
        low = 1 if kind == "ints+" else 0
        if isinstance(node, YSeq):
            if not node.items:
                raise _fail(name, kind, "an empty list")
            return tuple(_int(v, name, kind, ev, low) for v in node.items)
        return _int(node, name, kind, ev, low)
    if kind == "pad":
        if isinstance(node, YScalar) and node.value in ("same", "valid"):
            return node.value
        if isinstance(node, YSeq):
            out: list[int | tuple[int, int]] = []
            for item in node.items:
                if isinstance(item, YSeq):
                    if len(item.items) != 2:
                        raise _fail(name, kind, f"a pair with {len(item.items)} values")
                    lo, hi = (_int(v, name, kind, ev, 0) for v in item.items)
                    out.append((lo, hi))
                else:
                    out.append(_int(item, name, kind, ev, 0))
            return tuple(out)
        if isinstance(node, YScalar) and isinstance(node.value, str):
            close = [w for w in ("same", "valid") if _close(node.value, w)]
            if close:
                raise _fail(name, kind, describe_value(node.value), f"did you mean {close[0]}?")
        return _int(node, name, kind, ev, 0)
    if kind in ("float", "prob"):
        if not isinstance(node, YScalar):
            raise _fail(name, kind, node.describe())
        value = float(_number(node, name, kind, ev))
        if kind == "prob" and not 0 <= value < 1:
            raise _fail(name, kind, repr(value))
        return value
    if kind == "bool":
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        raise _fail(name, kind, node.describe() if not isinstance(node, YScalar) else
                    describe_value(node.value))
    if kind.startswith("choice:"):
        options = kind[7:].split("|")
        if isinstance(node, YScalar) and node.value in options:
            return node.value
        got = describe_value(node.value) if isinstance(node, YScalar) else node.describe()
        near = [o for o in options if isinstance(node, YScalar) and _close(str(node.value), o)]
        raise _fail(name, kind, got, f"did you mean {near[0]}?" if near else None)
    if kind == "shape":
        if not isinstance(node, YSeq) or not node.items:
            raise _fail(name, kind, node.describe())
        return tuple(_int(v, name, kind, ev, -1) for v in node.items)
    if kind == "conn":
        if not isinstance(node, YSeq):
            raise _fail(name, kind, node.describe())
        rows = []
        for row in node.items:
            if not isinstance(row, YSeq):
                raise _fail(name, kind, row.describe())
            rows.append(tuple(_int(v, name, kind, ev, 0) for v in row.items))
        return tuple(rows)
    if kind == "name":
        if isinstance(node, YScalar) and isinstance(node.value, str):
            return node.value
        raise _fail(name, kind, node.describe())
    raise AssertionError(f"unknown argument kind {kind}")


def _close(a: str, b: str) -> bool:
    from difflib import SequenceMatcher

    return SequenceMatcher(None, a.lower(), b).ratio() >= 0.6


#: names compared by difflib for a did-you-mean: beyond this many options, those sharing the
#: longest prefix with the word (then the closest in length) are compared, so a hint after
#: 240,000 layers costs a fraction of a second, not five
MAX_SUGGEST = 2_000


def closest(word: str, options: Iterable[str], n: int = 1) -> list[str]:
    """Up to ``n`` of ``options`` closest to ``word`` (difflib ratio ≥ 0.6), the closest first;
    bounded work however many options there are (see :data:`MAX_SUGGEST`)."""
    from difflib import get_close_matches

    if len(word) > 200:  # no name is this long: nothing to suggest (and no 7 MB difflib run)
        return []
    pool = sorted(set(options))
    if len(pool) > MAX_SUGGEST:
        from heapq import nsmallest

        size = len(word)
        pool = sorted(nsmallest(MAX_SUGGEST, pool, key=lambda o: (
            -_shared_prefix(word, o), abs(len(o) - size), o)))
    return get_close_matches(word, pool, n=n, cutoff=0.6)


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def suggest(word: str, options: Iterable[str]) -> str | None:
    """A did-you-mean suggestion among ``options``, or None."""
    found = closest(word, options, 1)
    return found[0] if found else None


def is_map(node: YNode | None) -> bool:
    return isinstance(node, YMap)
