"""How figures are written for people: auto-scaled units, exact integers, the lecture's units.

Every function here formats one exact integer (or ratio) and computes nothing else; each is the
one place its rule lives, so every table, header and export writes a figure the same way.

* **Counts** (params, MACs, FLOPs): SI prefixes, powers of 1000 — ``k`` 10³, ``M`` 10⁶,
  ``G`` 10⁹, ``T`` 10¹², ``P`` 10¹⁵ — with three significant digits: ``25.6 M``, ``4.09 G``,
  ``118 M``. Below 1000 a count is written exactly (``64``, ``0``).
* **Bytes**: binary prefixes, powers of 1024 — ``KiB`` 2¹⁰, ``MiB`` 2²⁰, ``GiB`` 2³⁰,
  ``TiB`` 2⁴⁰ — with three significant digits: ``97.5 MiB``, ``784 KiB``; below 1 KiB exact
  (``512 B``). :func:`megabytes` writes torchinfo's MB (10⁶ bytes) where a figure is compared
  with torchinfo's.
* **Exact** (``--exact``, and every JSON/CSV figure): the integer with thousands separators.
* **Lecture units** (``--style lecture``): the slides' fixed columns, one decimal — memory KB
  = bytes / 1024, params k = params / 1000, flop M = FLOPs / 10⁶.

Three significant digits: a scaled value v (1 ≤ v < 1000) is written with ``2 − ⌊log₁₀ v⌋``
decimals (``4.09``, ``25.6``, ``118``). A value that rounds up to 1000 moves to the next prefix
(999,999 → ``1.00 M``, not ``1000 k``).

>>> si(25_557_032), si(4_089_184_256), si(118_013_952), si(640), si(0)
('25.6 M', '4.09 G', '118 M', '640', '0')
>>> binary(102_228_128), binary(802_816), binary(512)
('97.5 MiB', '784 KiB', '512 B')
>>> exact(61_100_840), ratio(0.311111), percent(1, 3)
('61,100,840', '0.311', '33.3%')
"""

from __future__ import annotations

import math
from fractions import Fraction

SI_PREFIXES = ("", " k", " M", " G", " T", " P", " E")
BINARY_PREFIXES = (" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB")

#: one-line definitions of the units, for table footers and the README
UNITS_TEXT = ("k/M/G = 10³/10⁶/10⁹ (counts), KiB/MiB/GiB = 2¹⁰/2²⁰/2³⁰ bytes")
LECTURE_UNITS_TEXT = "memory KB = bytes/1024 · params k = /1000 · flop M = /10⁶"


def _scaled(value: int, base: int, prefixes: tuple[str, ...], plain: str) -> str:
    """``value`` over the largest power of ``base`` not above it, to 3 significant digits."""
    if value < 0:
        return "−" + _scaled(-value, base, prefixes, plain)
    if value < base:
        return f"{value}{plain}"
    top = len(prefixes) - 1
    power = 1
    while power < top and value >= base ** (power + 1):
        power += 1
    text = _three_digits(Fraction(value, base**power))
    if float(text) >= 1000 and power < top:  # 999,999 → 1.00 M; 1,023.9 KiB → 1.00 MiB
        power += 1
        text = _three_digits(Fraction(value, base**power))
    return text + prefixes[power]


def _three_digits(v: Fraction) -> str:
    """``v`` (0.9 < v < 1024) to three significant digits, at least its integer part, rounded
    half up on the exact value (9.995 → ``10.0``)."""
    decimals = 2 if v < 10 else 1 if v < 100 else 0
    text = _fixed(v, decimals)
    if decimals and len(text.replace(".", "").lstrip("0")) > 3:  # 9.996 → 10.0, not 10.00
        text = _fixed(v, decimals - 1)
    return text


def _fixed(v: Fraction, decimals: int) -> str:
    """``v ≥ 0`` with ``decimals`` decimals, rounded half up exactly (no binary float)."""
    n = math.floor(v * 10**decimals + Fraction(1, 2))
    if not decimals:
        return str(n)
    whole, frac = divmod(n, 10**decimals)
    return f"{whole}.{frac:0{decimals}d}"


def si(value: int) -> str:
    """A count with an SI prefix and 3 significant digits: ``25.6 M``, ``4.09 G``; below 1000
    exact."""
    return _scaled(value, 1000, SI_PREFIXES, "")


def binary(value: int) -> str:
    """A byte count with a binary prefix and 3 significant digits: ``97.5 MiB``; below 1 KiB
    exact (``512 B``)."""
    return _scaled(value, 1024, BINARY_PREFIXES, " B")


def exact(value: int) -> str:
    """The exact integer with thousands separators: ``61,100,840``."""
    return f"{value:,}"


def megabytes(value: int) -> str:
    """Bytes in torchinfo's unit, MB = 10⁶ bytes, two decimals: ``102.23 MB``."""
    return f"{value / 1e6:,.2f} MB"


def mebibytes(value: int) -> str:
    """Bytes in MiB = 2²⁰ bytes, two decimals: ``97.49 MiB`` (totals lines)."""
    return f"{value / 2**20:,.2f} MiB"


def ratio(value: float | Fraction) -> str:
    """A ratio to 3 significant digits (``0.311``, ``0.0833``, ``0.420``, ``2.26``, ``21.6``,
    ``118``, ``1,234``), written the same in every human format (CSV and JSON keep the exact
    value)."""
    v = Fraction(value)
    if v < 0:
        return "−" + ratio(-v)
    if v == 0:
        return "0"
    if v < 1:  # three significant digits, trailing zeros kept: 0.420, 0.0574
        decimals = 2 - math.floor(math.log10(v))
        text = _fixed(v, decimals)
        return text if not text.startswith("1") else _three_digits(Fraction(1))
    if v >= 1000 - Fraction(1, 2):
        return f"{math.floor(v + Fraction(1, 2)):,}"
    return _three_digits(v)


def percent(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole``, one decimal: ``33.3%`` (``–`` when whole is 0)."""
    if whole == 0:
        return "–"
    return f"{100 * part / whole:.1f}%"


def lecture_kb(value: int) -> str:
    """The lecture's memory column: bytes / 1024, one decimal (``784.0``)."""
    return f"{value / 1024:,.1f}"


def lecture_k(value: int) -> str:
    """The lecture's params column: params / 1000, one decimal (``23.3``)."""
    return f"{value / 1000:,.1f}"


def lecture_m(value: int) -> str:
    """The lecture's flop column: FLOPs / 10⁶, one decimal (``72.9``)."""
    return f"{value / 1e6:,.1f}"
