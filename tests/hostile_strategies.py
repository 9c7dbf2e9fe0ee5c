"""Grammar-aware generators of hostile input (issue 13), for tests/test_fuzz.py.

Plain functions of a :class:`random.Random` (a case is reproduced from its seed): a hundred
thousand cases are generated in seconds, where hypothesis's interactive draws cost 17 ms each.

* :func:`number_text` — how a number can be written in YAML, most of them wrong: boundary and
  enormous integers (up to 6,000 digits), non-finite and subnormal floats, YAML 1.1 forms
  (``0x1f``, ``010``, ``1:04``, ``.inf``, ``yes``, ``~``, dates), ``1e3``, other scripts'
  digits, quoted numbers;
* :func:`expression` — expression strings from the grammar of :mod:`archcalc.expr` (numbers,
  ``$names`` known and unknown, ``+ - * / // % **``, comparisons, ``and or not``, ``a if c else
  b``, the functions and unknown ones), nested, up to past the 500-character limit;
* :func:`hostile_spec` — a spec exercising every place a number goes (layer arguments,
  ``scale``, ``variants``, ``let``, block parameters, ``repeat``/``stages`` counts, ``input``,
  ``if``) with one or two of those values put in;
* :func:`python_value` — what a caller may pass for a keyword: huge and negative ints, nan,
  bools, None, str, bytes, lists, NumPy scalars, objects, nested junk;
* :func:`file_bytes` — the bytes of a spec file damaged the ways files are: BOMs, NUL, CR,
  U+2028, invalid UTF-8, Latin-1, very long lines;
* :data:`SPEC_KINDS` / :data:`OUTPUT_KINDS` — what a spec path or an ``-o`` path can name.
"""

from __future__ import annotations

import random
from typing import Any

R = random.Random

# ------------------------------------------------------------------------------- numbers --

_FIXED_NUMBERS = (
    "0", "1", "3", "-1", "-0", "+5", "00", "010", "0o17", "0x1f", "0b101", "1_000", "1:04",
    "1:30.5", "190:20:30", "-2:00", ".inf", "-.inf", ".nan", ".NaN", ".Inf", "~", "null", "yes",
    "no", "on", "off", "true", "1e3", "1E5", "1e-5", "1.0e+3", "1.0e+308", "1.0e+400",
    "-1.0e+400", "1.0e-320", "4.9e-324", "0.5", "3.5", ".5", "5.", "1.", "2024-01-01",
    "2001-12-14t21:59:43.10-05:00", "１２", "٣", "²", "Ⅻ", "'3'", '"3"', "'1e3'", "= ", "<<",
    "1000000000000000", "1000000000000001", "999999999999999", "9007199254740993",
    "18446744073709551616", "-1000000000000001", "0x" + "f" * 20, "0b" + "1" * 80,
)
_DIGITS = (16, 17, 20, 40, 99, 100, 101, 400, 4300, 4301, 6000)


def number_text(r: R) -> str:
    """One way of writing a number in YAML (plain scalar text)."""
    kind = r.randrange(6)
    if kind == 0:
        return r.choice(_FIXED_NUMBERS)
    if kind == 1:
        return str(r.randint(-5, 300))
    if kind == 2:  # enormous: 16 to 6,000 digits (Python refuses str→int past 4,300)
        return r.choice(["", "-"]) + "9" * r.choice(_DIGITS)
    if kind == 3:
        value = r.choice([r.uniform(-10, 10), r.uniform(-1e20, 1e20), 10 ** r.uniform(-330, 308),
                          float("nan"), float("inf"), -float("inf"), -0.0])
        text = repr(value)
        return {"nan": ".nan", "inf": ".inf", "-inf": "-.inf"}.get(text, text)
    if kind == 4:
        return str(r.randint(-(10**20), 10**20))
    return expression(r, 4)


# --------------------------------------------------------------------------- expressions --

_NAMES = ("$cin", "$width", "$divisor", "$depth", "$w", "$c", "$k", "$nl", "$x", "$in",
          "$undefined", "$", "$1", "$__class__")
_FUNCTIONS = ("round", "ceil", "floor", "int", "min", "max", "abs", "ch", "div", "exp", "eval",
              "__import__", "print")
_BINARY = (" + ", " - ", " * ", " / ", " // ", " % ", " ** ", " < ", " <= ", " == ", " != ",
           " > ", " and ", " or ", " is ", " @ ", " & ", " << ")
_LITERALS = ("0", "0.0", "1e15", "1e300", "1e-300", "0.5", "-8", "10", "1000000000000000",
             "1000000000000001", "9" * 30, "3.14", "1_0", "0x10")


def _atom(r: R) -> str:
    pick = r.randrange(3)
    if pick == 0:
        return str(r.randint(-20, 300))
    return r.choice(_LITERALS) if pick == 1 else r.choice(_NAMES)


def _expression(r: R, leaves: int) -> str:
    if leaves <= 1:
        return _atom(r)
    shape = r.randrange(7)
    left = r.randint(1, leaves - 1)
    a, b = _expression(r, left), _expression(r, leaves - left)
    if shape <= 2:
        return f"{a}{r.choice(_BINARY)}{b}"
    if shape == 3:
        return f"({a})"
    if shape == 4:
        return f"{r.choice(['-', '+', 'not ', '~'])}{a}"
    if shape == 5:
        args = r.choice([a, f"{a}, {b}", "", f"{a}, {b}, 1"])
        return f"{r.choice(_FUNCTIONS)}({args})"
    return f"{a} if {b} else {_atom(r)}"


def expression(r: R, max_leaves: int = 12) -> str:
    """An expression string of the grammar; sometimes far past the 500-character limit."""
    text = _expression(r, r.randint(1, max_leaves))
    if r.randrange(30) == 0:
        text = " + ".join([text] * r.randint(20, 200))
    return text


# ------------------------------------------------------------------------ hostile specs --
#: a spec with a number in every kind of place; HOLE_i is replaced by a hostile value
_TEMPLATE = """archcalc: 1
name: hostile
input: [HOLE_input_c, HOLE_input_h, 12]
scale: {width: HOLE_width, divisor: HOLE_divisor, depth: HOLE_depth, w: HOLE_w}
variants: {small: {width: HOLE_variant}}
let: {c: HOLE_let, k: 3}
blocks:
  blk:
    params: {c: HOLE_param, nl: relu}
    layers:
      - conv: {out: $c, k: 3, p: 1, act: $nl}
      - residual: {body: [{conv: {out: $c, k: 1}}], shortcut: project}
layers:
  - conv: {id: stem, out: HOLE_out, k: HOLE_k, s: HOLE_s, p: HOLE_p, d: HOLE_d, bn: true}
  - maxpool: {k: HOLE_pool_k, s: HOLE_pool_s, p: HOLE_pool_p}
  - dropout: {p: HOLE_prob}
  - leaky_relu: {slope: HOLE_slope}
  - conv: {out: 'ch(16)', k: 1, groups: HOLE_groups, if: HOLE_if}
  - repeat: {n: HOLE_n, layers: [{dwconv: {k: 3, p: 1}}]}
  - blk: {c: HOLE_call}
  - stages: {block: blk, columns: [n, c], rows: [[HOLE_rows_n, HOLE_rows_c]]}
  - upsample: {scale: HOLE_up}
  - zeropad: {p: HOLE_pad}
  - adaptive_avgpool: {out: HOLE_adaptive}
  - channel_shuffle: {groups: HOLE_shuffle}
  - flatten
  - slice: {start: HOLE_start, stop: HOLE_stop}
  - fc: {out: HOLE_fc}
  - reshape: {shape: [HOLE_reshape, -1]}
"""
_DEFAULTS = {
    "input_c": "3", "input_h": "12", "width": "1.0", "divisor": "8", "depth": "1.0", "w": "2",
    "variant": "0.5", "let": "4", "param": "4", "out": "8", "k": "3", "s": "1", "p": "1",
    "d": "1", "pool_k": "2", "pool_s": "2", "pool_p": "0", "prob": "0.5", "slope": "0.1",
    "groups": "1", "if": "true", "n": "2", "call": "8", "rows_n": "1", "rows_c": "8", "up": "2",
    "pad": "1", "adaptive": "4", "shuffle": "2", "start": "0", "stop": "16", "fc": "10",
    "reshape": "2",
}
HOLES = tuple(_DEFAULTS)


def fill(values: dict[str, str]) -> str:
    text = _TEMPLATE
    for hole in sorted(HOLES, key=len, reverse=True):  # input_c before input
        text = text.replace(f"HOLE_{hole}", values.get(hole, _DEFAULTS[hole]))
    return text


def _yaml_scalar(text: str) -> str:
    """A value as YAML flow text: plain where YAML reads it as the scalar it looks like,
    quoted (an expression) otherwise."""
    plain = text.strip()
    if plain and not any(c in plain for c in ",[]{}#&*!|>%@`\"'") and not plain.startswith(
            ("-", "?", ":")) and ": " not in plain:
        return plain
    return "'" + text.replace("'", "''") + "'"


def hostile_spec(r: R) -> str:
    """The template with one to three holes holding a hostile number or expression."""
    values = {hole: _yaml_scalar(number_text(r) if r.randrange(2) else expression(r))
              for hole in r.sample(HOLES, r.randint(1, 3))}
    return fill(values)


def expression_spec(expr: str, hole: str) -> str:
    """The template with ``expr`` (quoted) in ``hole``."""
    return fill({hole: "'" + expr.replace("'", "''") + "'"})


# -------------------------------------------------------------------------- python values --

_ODD = (object(), {1, 2}, frozenset(), b"3", bytearray(b"3"), complex(1, 1), "3x224x224",
        "float32", "lecture", "", "width", 0, -1, 10**15, 10**15 + 1, 10**20, 10**400, 2**63,
        True, False, None, float("nan"), float("inf"), -0.0, 1.5, (), [])


def _numpy_scalar(r: R) -> Any:
    import numpy as np

    return r.choice([np.int64(3), np.int32(-1), np.float32(0.5), np.float64("nan"),
                     np.uint8(255), np.bool_(True), np.int64(2**62), np.array([3, 8, 8])])


def python_value(r: R, depth: int = 0) -> Any:
    """What a caller may pass where a number, a shape or a name goes."""
    pick = r.randrange(9 if depth < 2 else 6)
    if pick == 0:
        return r.randint(-3, 20)
    if pick == 1:
        return r.choice(_ODD)
    if pick == 2:
        return r.choice([r.uniform(-1e20, 1e20), float("nan"), 1e308, 5e-324])
    if pick == 3:
        return "".join(r.choice("ab1 .-x$\u2028") for _ in range(r.randrange(6)))
    if pick == 4:
        return _numpy_scalar(r)
    if pick == 5:
        return r.choice([3, 8, (3, 8, 8), [3, 8, 8], "relu"])
    if pick == 6:
        return [python_value(r, depth + 1) for _ in range(r.randrange(4))]
    if pick == 7:
        return tuple(python_value(r, depth + 1) for _ in range(3))
    return {r.choice(["a", "out", "k", "", "1"]): python_value(r, depth + 1)
            for _ in range(r.randrange(3))}


# ------------------------------------------------------------------------------- files --

VALID_FILE = (b"archcalc: 1\nname: fuzz\ninput: [3, 12, 12]\nlayers:\n"
              b"  - conv: {out: 4, k: 3, act: relu}\n  - maxpool: {k: 2}\n  - flatten\n"
              b"  - fc: {out: 10}\n")
_DAMAGE = (b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\x00", b"\r", b"\r\n", b"\n",
           "\u2028".encode(), "\u2029".encode(), "\x85".encode(), b"\xc2\x85", b"\xff",
           b"\xfe\xff", b"\xe9", b"\xed\xa0\x80", b"\t", b"\x0c", b"\x1b[31m", b"#", b"'",
           b"\xf0\x9f\x98\x80", b"\\", b"\x7f", "é".encode("latin-1"))


def file_bytes(r: R) -> bytes:
    """The bytes of a spec file with byte-level damage (or a huge line, rarely)."""
    data = VALID_FILE
    for _ in range(r.randrange(5)):
        i = r.randint(0, len(data))
        op = r.randrange(4)
        if op == 0:
            data = data[:i] + r.choice(_DAMAGE) + data[i:]
        elif op == 1:
            data = data[:i] + data[i + r.randint(1, 4):]
        elif op == 2:
            data = r.choice(_DAMAGE) + data
        else:
            data = data[:i] + r.randbytes(r.randrange(7)) + data[i:]
    if r.randrange(200) == 0:
        data += b"# " + b"x" * r.choice([100_000, 8_000_001]) + b"\n"
    return data


#: what a spec path can name (the fuzzer makes each in a temporary directory)
SPEC_KINDS = ("file", "file", "file", "symlink", "dangling", "loop", "directory", "fifo",
              "socket", "missing", "dev_null", "bytes")
#: what an -o path can name
OUTPUT_KINDS = ("new", "existing", "readonly_file", "symlink_file", "dangling", "loop",
                "stdout_link", "stderr_link", "dash", "dev_stdout", "fifo_reader",
                "fifo_no_reader", "null_copy", "full_copy", "directory", "missing_dir",
                "socket", "trailing_slash")
