"""Small pure helpers: the output-size formulas and receptive-field arithmetic, one place each.

All sizes are per spatial axis. Shapes elsewhere are channel-first tuples without the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

from .errors import LayerArgError

Shape = tuple[int, ...]
PerAxis = int | tuple[int, ...]
Pair = tuple[int, int]
_prod = math.prod
_tuple_new = tuple.__new__


def prod(values: Sequence[int]) -> int:
    """Product of integers (1 for an empty sequence), exact: math.prod on ints, in C."""
    return _prod(values)


def per_axis(value: PerAxis, rank: int, name: str) -> tuple[int, ...]:
    """Expand an int or a per-axis list to ``rank`` values (Keras' ``standardize_tuple``)."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) != rank:
        raise LayerArgError(
            f"{name} has {len(value)} values {list(value)} but the input has {rank} spatial "
            f"ax{'is' if rank == 1 else 'es'}",
            hint=f"give one value for all axes, or exactly {rank}",
        )
    return tuple(value)


def effective_kernel(k: int, d: int) -> int:
    """A dilated kernel spans ``d·(k − 1) + 1`` input positions (dilated convolution, 002)."""
    return d * (k - 1) + 1


def same_padding(n: int, k_eff: int, s: int) -> Pair:
    """``same`` padding: output ``ceil(n/s)``; total ``max((⌈n/s⌉ − 1)·s + k_eff − n, 0)``.

    The extra pixel of an odd total goes after (bottom/right), as TensorFlow and PyTorch
    (stride 1) do. For stride 1 this is ``k_eff − 1`` in total, i.e. ``(f − 1)/2`` per side for
    odd f (the slides' rule).
    """
    total = max((math.ceil(n / s) - 1) * s + k_eff - n, 0)
    return (total // 2, total - total // 2)


def conv_out(n: int, k: int, s: int, pad: Pair, d: int = 1) -> int:
    """Convolution/pooling output size ``⌊(n + p_lo + p_hi − d·(k − 1) − 1)/s⌋ + 1``.

    With symmetric padding p and d = 1 this is the slides' ``⌊(n + 2p − f)/s⌋ + 1``.
    Raises when the (padded) input is smaller than the kernel, showing the numbers.
    """
    span = n + pad[0] + pad[1] - effective_kernel(k, d)
    if span < 0:
        # the formula with the numbers, as the slides write it: ⌊(5 + 2·0 − 7)/1⌋ + 1 = −1
        padding = f"2·{pad[0]}" if pad[0] == pad[1] else f"{pad[0]} + {pad[1]}"
        result = span // s + 1
        raise LayerArgError(
            f"kernel {effective_kernel(k, d)} is larger than the padded input "
            f"{n + pad[0] + pad[1]}: "
            f"⌊({n} + {padding} − {effective_kernel(k, d)})/{s}⌋ + 1 = "
            f"{'−' if result < 0 else ''}{abs(result)}",
            hint="use a smaller kernel, more padding, or a larger input",
        )
    return span // s + 1


def pool_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Pooling output size with PyTorch's rule.

    ``floor`` mode is :func:`conv_out`. ``ceil`` mode: ``⌈(n + 2p − d(k−1) − 1)/s⌉ + 1``, minus one
    when the last window would start in the right padding, i.e. when ``(out − 1)·s ≥ n + p``.
    """
    if not ceil_mode:
        return conv_out(n, k, s, (p, p), d)
    span = n + 2 * p - effective_kernel(k, d)
    if span < 0:
        conv_out(n, k, s, (p, p), d)  # raises with the numbers
    out = -(-span // s) + 1
    if (out - 1) * s >= n + p:
        out -= 1
    return out


def deconv_out(n: int, k: int, s: int, p: int, op: int, d: int) -> int:
    """Transposed-convolution output size ``(n − 1)·s − 2p + d·(k − 1) + output_padding + 1``."""
    out = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    if out <= 0:
        raise LayerArgError(
            f"output size ({n} − 1)·{s} − 2·{p} + {d}·({k} − 1) + {op} + 1 = {out} is not positive",
            hint="reduce the padding",
        )
    return out


def adaptive_windows(n: int, out: int) -> list[Pair]:
    """PyTorch's adaptive pooling windows: ``[⌊i·n/out⌋, ⌈(i+1)·n/out⌉)`` for each output i."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def adaptive_window_total(n: int, out: int) -> int:
    """``Σ_i (⌈(i+1)·n/o⌉ − ⌊i·n/o⌋) = n + o − gcd(n, o)`` in O(1) (``out`` may be huge).

    With ``Σ_{j=1..o} ⌈j·n/o⌉ = Σ_{j=1..o} ⌊j·n/o⌋ + (o − g)`` (o divides j·n for exactly g = gcd
    values of j) the floor sums cancel except ``⌊o·n/o⌋ − ⌊0⌋ = n``. E.g. n = 7, o = 3: windows
    [0,3) [2,5) [4,7), 3 + 3 + 3 = 9 = 7 + 3 − 1.
    """
    return n + out - math.gcd(n, out)


def adaptive_window_max(n: int, out: int) -> int:
    """The largest adaptive window, ``⌈(n + o − gcd(n, o))/o⌉``, in O(1).

    Window i is ``⌈(r_i + n)/o⌉`` with ``r_i = i·n mod o``, and r_i runs over the multiples of
    g = gcd(n, o) below o, so the largest is ``o − g``. E.g. n = 5, o = 3: [0,2) [1,4) [3,5) → 3.
    """
    return -(-(n + out - math.gcd(n, out)) // out)


# ---------------------------------------------------------------------------------------------
# Receptive field. Per spatial axis we carry (size r, jump j, start s) in input pixels:
#   r: how many input pixels one unit sees;  j: distance in input pixels between adjacent units;
#   start: input coordinate of the centre of the first unit's field.
# A window (kernel k_eff, stride s, left padding p) maps them to
#   r' = r + (k_eff − 1)·j,   j' = j·s,   start' = start + ((k_eff − 1)/2 − p)·j
# (Dumoulin & Visin 2016; the slides' r = 1 + L·(K − 1) for L stride-1 layers).
# Upsampling by u first refines the grid: j ← j/u; sizes may then become fractional (continuous
# grid of Araujo et al., Distill 2019).
# ---------------------------------------------------------------------------------------------


Rational = int | Fraction  # ints stay ints (fast, exact); fractions only where needed


class AxisRF(NamedTuple):
    size: Rational
    jump: Rational
    start: Rational


RF = tuple[AxisRF, ...]


#: Receptive-field values are exact rationals while every numerator and denominator stays
#: below 2^64. Past that (e.g. 10,000 non-integer resizes by 1009/1008, or 100,000 stride-2
#: windows on a 1-pixel map: a jump of 2^100000) exact arithmetic would grow without bound — a
#: 5-line spec ran for minutes — so the field is no longer tracked: from that layer on it is
#: reported as null (like after flatten) and the report's warnings name the first such layer.
RF_LIMIT = 2**64


def rf_beyond(rf: RF) -> bool:
    """Whether a value of ``rf`` needs a numerator or denominator of 2^64 or more (or is a
    non-finite float): the bound above which receptive fields are not tracked. Runs once per
    layer: integers (the common case) are checked with one bitwise or per axis, since
    ``a | b | c ≥ 2^64`` exactly when one of the non-negative a, b, c is."""
    try:
        for size, jump, start in rf:  # noqa: SIM110 (a plain loop: any() of a generator costs more)
            if (size | jump | abs(start)) >= RF_LIMIT:  # type: ignore[operator]
                return True
        return False
    except TypeError:  # a Fraction or a float: the general rule below
        return _rf_beyond_exact(rf)


def _rf_beyond_exact(rf: RF) -> bool:
    limit = RF_LIMIT
    for size, jump, start in rf:
        for value in (size, jump, start):
            if isinstance(value, Fraction):
                if not (-limit < value.numerator < limit and value.denominator < limit):
                    return True
            elif isinstance(value, int):
                if not -limit < value < limit:
                    return True
            elif not math.isfinite(value):
                return True
    return False


def _norm(x: Rational) -> Rational:
    # `type(...) is`, not isinstance: Fraction's ABC check is the slow part of RF arithmetic
    return x.numerator if type(x) is Fraction and x.denominator == 1 else x


def rf_input(rank: int) -> RF:
    """The input itself: each pixel sees one pixel, adjacent pixels are 1 apart, centred at 0."""
    return tuple(AxisRF(1, 1, 0) for _ in range(rank))


def rf_window(rf: AxisRF, k_eff: int, s: int, p_lo: int) -> AxisRF:
    """Apply one sliding window (conv, pooling) to an axis' receptive field."""
    size, jump, start = rf
    if k_eff % 2:  # odd window: the centre offset (k_eff − 1)/2 is an integer
        start = start + ((k_eff - 1) // 2 - p_lo) * jump
    else:
        start = start + Fraction(k_eff - 1 - 2 * p_lo, 2) * jump
    # AxisRF(size, jump, start), made as the tuple it is (this runs per axis of every layer)
    return _tuple_new(AxisRF, (size + (k_eff - 1) * jump, jump * s, _norm(start)))


def rf_upsample(rf: AxisRF, up: int, centred: bool) -> AxisRF:
    """Refine the grid by ``up``.

    ``centred`` (nearest/bilinear resize): output u sits at input coordinate ``(u + ½)/up − ½``.
    Otherwise (zero-insertion of a transposed convolution) output u sits at ``u/up``.
    """
    jump = _norm(Fraction(rf.jump) / up)
    shift = (Fraction(1, up) - 1) / 2 * rf.jump if centred else 0
    return AxisRF(size=rf.size, jump=jump, start=_norm(rf.start + shift))


def rf_merge(rfs: Sequence[RF | None]) -> RF | None:
    """Several inputs: per axis the hull of the paths' fields (see :func:`rf_hull`)."""
    if len(rfs) == 1:  # an element-wise layer: its input's field, unchanged
        return rfs[0]
    if len(rfs) == 2:  # a residual add or a two-way concat: the usual merge
        first, second = rfs
        if first is None or second is None or len(first) != len(second):
            return None
        return tuple([rf_hull((x, y)) for x, y in zip(first, second, strict=True)])
    if None in rfs or not rfs:
        return None
    known: Sequence[RF] = rfs  # type: ignore[assignment]
    rank = len(known[0])
    if any(len(r) != rank for r in known):
        return None
    return tuple(rf_hull([r[a] for r in known]) for a in range(rank))


def _size_then_jump(x: AxisRF) -> tuple[Rational, Rational]:
    return (x.size, x.jump)


def rf_hull(axes: Sequence[AxisRF]) -> AxisRF:
    """A merged unit sees the union of its paths' fields. On a shared grid (equal jumps) that is
    ``[min(start − (r − 1)/2), max(start + (r − 1)/2)]`` — larger than every path's field when
    their centres differ (asymmetric padding in one branch; measured by ``archcalc verify -r``).
    Equal centres: the largest field. Different jumps: the largest field, with its grid."""
    if len(axes) == 2:  # the usual merge (residual add, a concat of two): no loops
        a, b = axes
        if a.jump != b.jump or a.start == b.start:
            return a if (a.size, a.jump) >= (b.size, b.jump) else b
    first = axes[0]
    same_grid = same_centre = True
    for x in axes:  # a plain loop: this runs for every merge of every graph
        same_grid = same_grid and x.jump == first.jump
        same_centre = same_centre and x.start == first.start
    if not same_grid or same_centre:
        return max(axes, key=_size_then_jump)
    lo = min(x.start - Fraction(x.size - 1, 2) for x in axes)
    hi = max(x.start + Fraction(x.size - 1, 2) for x in axes)
    return AxisRF(_norm(hi - lo + 1), first.jump, _norm((lo + hi) / 2))
