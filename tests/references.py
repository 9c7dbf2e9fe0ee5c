"""Slow, obviously-correct references for every layer type's forward: loops over output
positions written from PyTorch's definitions (no im2col, no stride tricks, no vectorised
shortcut), in float64 on tiny inputs. tests/test_execute.py and tests/test_conformance.py hold
the executor's forwards to them by value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

F64 = np.float64
Tensors = dict[str, np.ndarray]


def positions(sizes: Sequence[int]) -> Any:
    return itertools.product(*(range(n) for n in sizes))


def padded(x: np.ndarray, lo: Sequence[int], hi: Sequence[int], value: float = 0.0) -> np.ndarray:
    n = x.shape[2:]
    out = np.full((*x.shape[:2], *(n[a] + lo[a] + hi[a] for a in range(len(n)))), value)
    out[(slice(None), slice(None), *(slice(lo[a], lo[a] + n[a]) for a in range(len(n))))] = x
    return out


# ----------------------------------------------------------------------- slow references --

def ref_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, s: Sequence[int],
             lo: Sequence[int], hi: Sequence[int], d: Sequence[int], groups: int) -> np.ndarray:
    """y[o, i] = b[o] + Σ_{c in o's group, κ} w[o, c, κ]·x̃[c, i·s + κ·d], position by position."""
    xp = padded(x.astype(F64), lo, hi)
    rank = x.ndim - 2
    k = w.shape[2:]
    cout, cin_g = w.shape[0], w.shape[1]
    out_sizes = []
    for a in range(rank):  # count the windows that fit, one by one
        count = 0
        while count * s[a] + (k[a] - 1) * d[a] < xp.shape[2 + a]:
            count += 1
        out_sizes.append(count)
    y = np.zeros((x.shape[0], cout, *out_sizes))
    for bi, o in itertools.product(range(x.shape[0]), range(cout)):
        g = o // (cout // groups)
        for pos in positions(out_sizes):
            acc = 0.0
            for kap in positions(k):
                at = tuple(pos[a] * s[a] + kap[a] * d[a] for a in range(rank))
                column = xp[(bi, slice(g * cin_g, (g + 1) * cin_g), *at)]
                acc += float(np.dot(column, w[(o, slice(None), *kap)]))
            y[(bi, o, *pos)] = acc + (0.0 if b is None else b[o])
    return y


def ref_deconv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, s: int, p: int, op: int,
               d: int, groups: int) -> np.ndarray:
    """PyTorch's definition: input element i adds x[c, i]·w[c, o, κ] at output i·s + κ·d − p."""
    n = x.shape[2:]
    k = w.shape[2:]
    cin, cout_g = w.shape[0], w.shape[1]
    cout = cout_g * groups
    size = [(n[a] - 1) * s - 2 * p + d * (k[a] - 1) + op + 1 for a in range(len(n))]
    y = np.zeros((x.shape[0], cout, *size))
    for bi, c in itertools.product(range(x.shape[0]), range(cin)):
        g = c // (cin // groups)
        for i in positions(n):
            for oc, kap in itertools.product(range(cout_g), positions(k)):
                at = tuple(i[a] * s + kap[a] * d - p for a in range(len(n)))
                if all(0 <= at[a] < size[a] for a in range(len(n))):
                    y[(bi, g * cout_g + oc, *at)] += x[(bi, c, *i)] * w[(c, oc, *kap)]
    if b is not None:
        y += b.reshape(1, -1, *([1] * len(n)))
    return y


def pool_starts(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> list[int]:
    """Window starts (unpadded) as PyTorch's pooling_output_shape counts them."""
    span = n + 2 * p - d * (k - 1) - 1
    count = (span + (s - 1 if ceil else 0)) // s + 1
    if ceil and (count - 1) * s >= n + p:
        count -= 1
    return [i * s - p for i in range(count)]


def ref_pool(x: np.ndarray, k: Sequence[int], s: Sequence[int], p: Sequence[int],
             d: Sequence[int], ceil: bool, mode: str, include_pad: bool = True) -> np.ndarray:
    """Max: the largest in-bounds element of the window. Avg (PyTorch avg_pool): the sum of the
    in-bounds elements over (end − start) with end = min(start + k, n + p) (include_pad) or over
    the in-bounds count (exclude)."""
    rank = x.ndim - 2
    n = x.shape[2:]
    starts = [pool_starts(n[a], k[a], s[a], p[a], d[a], ceil) for a in range(rank)]
    y = np.zeros((*x.shape[:2], *(len(st) for st in starts)))
    for bi, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for pos in positions([len(st) for st in starts]):
            vals = []
            for kap in positions(k):
                at = tuple(starts[a][pos[a]] + kap[a] * d[a] for a in range(rank))
                if all(0 <= at[a] < n[a] for a in range(rank)):
                    vals.append(float(x[(bi, c, *at)]))
            if mode == "max":
                y[(bi, c, *pos)] = max(vals)
                continue
            if include_pad:
                div = math.prod(min(starts[a][pos[a]] + k[a], n[a] + p[a]) - starts[a][pos[a]]
                                for a in range(rank))
            else:
                div = len(vals)
            y[(bi, c, *pos)] = sum(vals) / div
    return y


def ref_bn(x: np.ndarray, t: Tensors, eps: float = 1e-5, prefix: str = "") -> np.ndarray:
    shape = (1, -1, *([1] * (x.ndim - 2)))
    y = (x - t[prefix + "running_mean"].reshape(shape)) / np.sqrt(
        t[prefix + "running_var"].reshape(shape) + eps)
    if prefix + "gamma" in t:
        y = y * t[prefix + "gamma"].reshape(shape) + t[prefix + "beta"].reshape(shape)
    return y


ACT: dict[str, Callable[[float], float]] = {
    "relu": lambda v: max(v, 0.0),
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "leaky_relu": lambda v: v if v >= 0 else 0.01 * v,
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)),
    "tanh": math.tanh,
    "hardsigmoid": lambda v: min(max(v / 6 + 0.5, 0.0), 1.0),
    "hardswish": lambda v: v * min(max(v / 6 + 0.5, 0.0), 1.0),
    "swish": lambda v: v / (1 + math.exp(-v)),
    "silu": lambda v: v / (1 + math.exp(-v)),
    "gelu": lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2))),
}


def ref_act(fn: str, x: np.ndarray) -> np.ndarray:
    if fn == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        soft: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return soft
    out: np.ndarray = np.vectorize(ACT[fn])(x.astype(F64))
    return out



def resolve(p: Any, n: Sequence[int], k_eff: Sequence[int], s: Sequence[int]) -> tuple[
        list[int], list[int]]:
    """Padding before/after per axis: TensorFlow's ``same`` = ceil(n/s) outputs, the extra
    pixel after; ``valid`` = none; ints and [before, after] pairs as written."""
    rank = len(n)
    if p == "valid":
        return [0] * rank, [0] * rank
    if p == "same":
        tot = [max((-(-n[a] // s[a]) - 1) * s[a] + k_eff[a] - n[a], 0) for a in range(rank)]
        return [t // 2 for t in tot], [t - t // 2 for t in tot]
    if isinstance(p, int):
        return [p] * rank, [p] * rank
    return [v[0] if isinstance(v, list) else v for v in p], [
        v[1] if isinstance(v, list) else v for v in p]


def ref_upsample(x: np.ndarray, out: Sequence[int], mode: str, align: bool) -> np.ndarray:
    """PyTorch's interpolate, output position by position: the source index per axis is
    nearest ⌊dst·n/out⌋; linear (align_corners) dst·(n−1)/(out−1) or max((dst + ½)·n/out − ½, 0),
    then the two neighbours and the weight of the second; the corners' weights multiply."""
    n = x.shape[2:]

    def src(dst: int, a: int) -> tuple[int, int, float]:
        if mode == "nearest":
            return (dst * n[a]) // out[a], 0, 0.0
        if align:
            real = dst * (n[a] - 1) / (out[a] - 1) if out[a] > 1 else 0.0
        else:
            real = max((dst + 0.5) * n[a] / out[a] - 0.5, 0.0)
        i0 = min(int(real), n[a] - 1)
        return i0, min(i0 + 1, n[a] - 1), real - i0

    expected = np.zeros((*x.shape[:2], *out))
    for pos in positions(out):
        picks = [src(pos[a], a) for a in range(len(out))]
        value = np.zeros(x.shape[:2])
        for corner in itertools.product((0, 1), repeat=len(out)):
            weight = math.prod(picks[a][2] if corner[a] else 1 - picks[a][2]
                               for a in range(len(out)))
            at: tuple[Any, ...] = (slice(None), slice(None),
                                   *(int(picks[a][corner[a]]) for a in range(len(out))))
            value += weight * x[at]
        expected[(slice(None), slice(None), *pos)] = value
    return expected


def ref_subsample(x: np.ndarray, t: Tensors, k: int) -> np.ndarray:
    """LeNet-5's S-layer: coefficient[c]·(sum of the k×k window, stride k) + bias[c]."""
    b, c, h, w = x.shape
    y = np.zeros((b, c, h // k, w // k))
    for bi, ci, i, j in itertools.product(range(b), range(c), range(h // k), range(w // k)):
        window = sum(float(x[bi, ci, i * k + di, j * k + dj])
                     for di, dj in itertools.product(range(k), range(k)))
        y[bi, ci, i, j] = t["coefficient"][ci] * window + t["bias"][ci]
    return y


def ref_global(x: np.ndarray, fn: Callable[[list[float]], float]) -> np.ndarray:
    """``fn`` (mean or max) of each channel's every position, kept as 1×1…"""
    rank = x.ndim - 2
    y = np.zeros((*x.shape[:2], *([1] * rank)))
    for bi, ci in itertools.product(range(x.shape[0]), range(x.shape[1])):
        values = [float(x[(bi, ci, *pos)]) for pos in positions(x.shape[2:])]
        y[(bi, ci, *([0] * rank))] = fn(values)
    return y


def ref_adaptive(x: np.ndarray, out: Sequence[int]) -> np.ndarray:
    """PyTorch's adaptive average: output i averages [⌊i·n/o⌋, ⌈(i+1)·n/o⌉) on each axis."""
    n = x.shape[2:]
    y = np.zeros((*x.shape[:2], *out))
    for pos in positions(out):
        ranges = [range((pos[a] * n[a]) // out[a], -(-((pos[a] + 1) * n[a]) // out[a]))
                  for a in range(len(out))]
        cells = list(itertools.product(*ranges))
        for bi, ci in itertools.product(range(x.shape[0]), range(x.shape[1])):
            y[(bi, ci, *pos)] = sum(float(x[(bi, ci, *cell)]) for cell in cells) / len(cells)
    return y


def ref_linear(x: np.ndarray, t: Tensors) -> np.ndarray:
    """y[o] = Σ_i W[o, i]·x[i] + b[o] on the flattened input."""
    flat = x.reshape(x.shape[0], -1)
    w = t["weight"]
    y = np.zeros((x.shape[0], w.shape[0]))
    for bi, o in itertools.product(range(x.shape[0]), range(w.shape[0])):
        y[bi, o] = sum(float(w[o, i]) * float(flat[bi, i]) for i in range(w.shape[1]))
        y[bi, o] += float(t["bias"][o]) if "bias" in t else 0.0
    return y


def ref_row_major(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Flatten or reshape: element number e of a sample (row-major over C, then each axis) goes
    to position number e of the new shape."""
    y = np.zeros((x.shape[0], *shape))
    sample_positions = list(positions(x.shape[1:]))
    for bi in range(x.shape[0]):
        for e, pos in enumerate(positions(shape)):
            y[(bi, *pos)] = x[(bi, *sample_positions[e])]
    return y


def ref_zeropad(x: np.ndarray, pads: Sequence[tuple[int, int]]) -> np.ndarray:
    """Zeros, then each input element at its position shifted by the padding before."""
    y = np.zeros((*x.shape[:2], *(x.shape[2 + a] + lo + hi for a, (lo, hi) in enumerate(pads))))
    for pos in positions(x.shape):
        y[(pos[0], pos[1], *(pos[2 + a] + pads[a][0] for a in range(len(pads))))] = x[pos]
    return y


def ref_crop(x: np.ndarray, cuts: Sequence[tuple[int, int]]) -> np.ndarray:
    """Each kept output element read at its position shifted by the cut before."""
    y = np.zeros((*x.shape[:2], *(x.shape[2 + a] - lo - hi for a, (lo, hi) in enumerate(cuts))))
    for pos in positions(y.shape):
        y[pos] = x[(pos[0], pos[1], *(pos[2 + a] + cuts[a][0] for a in range(len(cuts))))]
    return y


def ref_channel_shuffle(x: np.ndarray, groups: int) -> np.ndarray:
    """ShuffleNet: output channel j = i·g + k reads group k's channel i (of C/g per group)."""
    c = x.shape[1]
    per = c // groups
    y = np.zeros_like(x, dtype=F64)
    for i, k in itertools.product(range(per), range(groups)):
        y[:, i * groups + k] = x[:, k * per + i]
    return y


def ref_slice(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    y = np.zeros((x.shape[0], stop - start, *x.shape[2:]))
    for c in range(start, stop):
        y[:, c - start] = x[:, c]
    return y


def ref_elementwise(x: np.ndarray, fn: Callable[[float], float]) -> np.ndarray:
    """``fn`` of every element, one at a time."""
    y = np.zeros(x.shape)
    for pos in positions(x.shape):
        y[pos] = fn(float(x[pos]))
    return y


def ref_bn_loop(x: np.ndarray, t: Tensors, eps: float = 1e-5, prefix: str = "") -> np.ndarray:
    """γ_c·(x − μ_c)/√(σ²_c + ε) + β_c, element by element (γ = 1, β = 0 without affine)."""
    y = np.zeros(x.shape)
    for pos in positions(x.shape):
        c = pos[1]
        v = (float(x[pos]) - t[prefix + "running_mean"][c]) / math.sqrt(
            t[prefix + "running_var"][c] + eps)
        if prefix + "gamma" in t:
            v = v * t[prefix + "gamma"][c] + t[prefix + "beta"][c]
        y[pos] = v
    return y


def ref_layernorm(x: np.ndarray, t: Tensors, over: str, eps: float = 1e-5) -> np.ndarray:
    """(x − mean)/√(var + ε)·γ + β with the biased variance over the channels of each position
    (γ, β per channel) or over the whole sample (γ, β per element)."""
    y = np.zeros(x.shape)
    for bi in range(x.shape[0]):
        groups = ([(c, *p) for c in range(x.shape[1])] for p in positions(x.shape[2:])) \
            if over == "channels" else [list(positions(x.shape[1:]))]
        for group in groups:
            values = [float(x[(bi, *e)]) for e in group]
            mean = sum(values) / len(values)
            var = sum((v - mean) ** 2 for v in values) / len(values)
            for e, v in zip(group, values, strict=True):
                scale = t["gamma"][e[0]] if over == "channels" else t["gamma"][e]
                shift = t["beta"][e[0]] if over == "channels" else t["beta"][e]
                y[(bi, *e)] = (v - mean) / math.sqrt(var + eps) * scale + shift
    return y


def ref_lrn(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    """PyTorch's local_response_norm: b_c = a_c/(k + α/n·Σ a²)^β over the channels
    c − ⌊n/2⌋ … c + ⌊(n − 1)/2⌋ that exist."""
    y = np.zeros(x.shape)
    c_all = x.shape[1]
    for pos in positions(x.shape):
        c = pos[1]
        total = sum(float(x[(pos[0], j, *pos[2:])]) ** 2
                    for j in range(max(c - size // 2, 0), min(c + (size - 1) // 2, c_all - 1) + 1))
        y[pos] = float(x[pos]) / (k + alpha / size * total) ** beta
    return y


def ref_merge(inputs: Sequence[np.ndarray], fn: Callable[[list[float]], float]) -> np.ndarray:
    """``fn`` (a sum or a product) of the inputs' elements at each position; an input of size 1
    on a spatial axis (a [C, 1, 1] gate) is read at index 0 there."""
    shape = max((a.shape for a in inputs), key=lambda s: math.prod(s))
    y = np.zeros(shape)
    for pos in positions(shape):
        values = []
        for a in inputs:
            at = tuple(0 if a.shape[i] == 1 and shape[i] != 1 else p
                       for i, p in enumerate(pos[:a.ndim]))
            values.append(float(a[at]))
        y[pos] = fn(values)
    return y


def ref_concat(inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Output channel c reads the input whose channel range holds c."""
    channels = [a.shape[1] for a in inputs]
    y = np.zeros((inputs[0].shape[0], sum(channels), *inputs[0].shape[2:]))
    offset = 0
    for a in inputs:
        for c in range(a.shape[1]):
            y[:, offset + c] = a[:, c]
        offset += a.shape[1]
    return y


def ref_pixel_shuffle(x: np.ndarray, r: int) -> np.ndarray:
    """PyTorch's PixelShuffle, output element by element: output (c, y₁, …, y_d) reads channel
    c·r^d + the row-major number of the offsets (y₁ mod r, …, y_d mod r), at (y₁ // r, …)."""
    d = x.ndim - 2
    c_out = x.shape[1] // r ** d
    y = np.zeros((x.shape[0], c_out, *(n * r for n in x.shape[2:])))
    for pos in positions(y.shape):
        b, c, at = pos[0], pos[1], pos[2:]
        offset = 0
        for v in at:
            offset = offset * r + v % r
        y[pos] = x[(b, c * r ** d + offset, *(v // r for v in at))]
    return y
