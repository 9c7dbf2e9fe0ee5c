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


# ------------------------------------------------------------ beyond the classifier (#15) --

ACT["elu"] = lambda v: v if v > 0 else math.exp(v) - 1.0  # alpha 1
ACT["abs"] = abs


def ref_prelu(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """x if x ≥ 0 else a·x, with one slope (a of size 1) or one per channel."""
    y = np.zeros(x.shape)
    for pos in positions(x.shape):
        v = float(x[pos])
        y[pos] = v if v >= 0 else float(a[0] if a.size == 1 else a[pos[1]]) * v
    return y


def ref_norm_groups(x: np.ndarray, groups: list[list[tuple[int, ...]]],
                    eps: float = 1e-5) -> np.ndarray:
    """(x − mean)/√(var + ε), biased variance, over each listed group of (c, *position)."""
    y = np.zeros(x.shape)
    for bi in range(x.shape[0]):
        for group in groups:
            values = [float(x[(bi, *e)]) for e in group]
            mean = sum(values) / len(values)
            var = sum((v - mean) ** 2 for v in values) / len(values)
            for e, v in zip(group, values, strict=True):
                y[(bi, *e)] = (v - mean) / math.sqrt(var + eps)
    return y


def ref_groupnorm(x: np.ndarray, t: Tensors, groups: int) -> np.ndarray:
    """PyTorch's group_norm: each group of C/G consecutive channels over every position, then
    γ_c·x + β_c."""
    per = x.shape[1] // groups
    members = [[(c, *p) for c in range(g * per, (g + 1) * per) for p in positions(x.shape[2:])]
               for g in range(groups)]
    y = ref_norm_groups(x, members)
    shape = (1, -1, *([1] * (x.ndim - 2)))
    out: np.ndarray = y * t["gamma"].reshape(shape) + t["beta"].reshape(shape)
    return out


def ref_instancenorm(x: np.ndarray, t: Tensors) -> np.ndarray:
    """Each channel of each sample over its positions (no running statistics); γ, β if given."""
    members = [[(c, *p) for p in positions(x.shape[2:])] for c in range(x.shape[1])]
    y = ref_norm_groups(x, members)
    if "gamma" in t:
        shape = (1, -1, *([1] * (x.ndim - 2)))
        y = y * t["gamma"].reshape(shape) + t["beta"].reshape(shape)
    return y


def ref_l2norm(x: np.ndarray, scale: np.ndarray | None, eps: float = 1e-12) -> np.ndarray:
    """x_c / max(√Σ_c x_c², ε) at each position, times scale_c."""
    y = np.zeros(x.shape)
    for bi in range(x.shape[0]):
        for p in positions(x.shape[2:]):
            norm = math.sqrt(sum(float(x[(bi, c, *p)]) ** 2 for c in range(x.shape[1])))
            for c in range(x.shape[1]):
                v = float(x[(bi, c, *p)]) / max(norm, eps)
                y[(bi, c, *p)] = v * (1.0 if scale is None else float(scale[c]))
    return y


def ref_channel_scale(x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    y = np.zeros(x.shape)
    for pos in positions(x.shape):
        y[pos] = float(gamma[pos[1]]) * float(x[pos])
    return y


def ref_adaptive_max(x: np.ndarray, out: Sequence[int]) -> np.ndarray:
    """PyTorch's adaptive max: output i is the max of [⌊i·n/o⌋, ⌈(i+1)·n/o⌉) on each axis."""
    n = x.shape[2:]
    y = np.zeros((*x.shape[:2], *out))
    for pos in positions(out):
        ranges = [range((pos[a] * n[a]) // out[a], -(-((pos[a] + 1) * n[a]) // out[a]))
                  for a in range(len(out))]
        cells = list(itertools.product(*ranges))
        for bi, ci in itertools.product(range(x.shape[0]), range(x.shape[1])):
            y[(bi, ci, *pos)] = max(float(x[(bi, ci, *cell)]) for cell in cells)
    return y


def ref_maxout(x: np.ndarray, pieces: int) -> np.ndarray:
    """Output channel c: the max of input channels c·pieces … c·pieces + pieces − 1."""
    y = np.zeros((x.shape[0], x.shape[1] // pieces, *x.shape[2:]))
    for pos in positions(y.shape):
        y[pos] = max(float(x[(pos[0], pos[1] * pieces + j, *pos[2:])]) for j in range(pieces))
    return y


def ref_max_unpool(pre: np.ndarray, values: np.ndarray, k: int, s: int) -> np.ndarray:
    """SegNet: for each window of the pool on ``pre`` (k×k, stride s, no padding), its first
    maximum's position (row-major scan, as PyTorch) receives the value at the window's position
    of ``values``; every other position is 0."""
    y = np.zeros(pre.shape)
    oh, ow = values.shape[2:]
    for bi, c, i, j in itertools.product(range(pre.shape[0]), range(pre.shape[1]), range(oh),
                                         range(ow)):
        best, at = -math.inf, (0, 0)
        for di, dj in itertools.product(range(k), range(k)):
            v = float(pre[bi, c, i * s + di, j * s + dj])
            if v > best:
                best, at = v, (i * s + di, j * s + dj)
        y[bi, c, at[0], at[1]] = values[bi, c, i, j]
    return y


def torchvision_bilinear(feat: np.ndarray, y: float, x: float) -> float:
    """torchvision's roi_align bilinear_interpolate on one map (H, W)."""
    height, width = feat.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_lo, x_lo = int(y), int(x)
    if y_lo >= height - 1:
        y_lo = y_hi = height - 1
        y = float(y_lo)
    else:
        y_hi = y_lo + 1
    if x_lo >= width - 1:
        x_lo = x_hi = width - 1
        x = float(x_lo)
    else:
        x_hi = x_lo + 1
    ly, lx = y - y_lo, x - x_lo
    return float((1 - ly) * (1 - lx) * feat[y_lo, x_lo] + (1 - ly) * lx * feat[y_lo, x_hi]
                 + ly * (1 - lx) * feat[y_hi, x_lo] + ly * lx * feat[y_hi, x_hi])


def ref_roi_align(feat: np.ndarray, boxes: np.ndarray, scale: float, out: tuple[int, int],
                  g: int) -> np.ndarray:
    """torchvision's roi_align (aligned=False), loop by loop: rows b·R + r."""
    b, c = feat.shape[:2]
    ph, pw = out
    y = np.zeros((b * len(boxes), c, ph, pw))
    for bi, (r, box) in itertools.product(range(b), enumerate(boxes)):
        x1, y1, x2, y2 = (float(v) * scale for v in box)
        rw, rh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        bh, bw = rh / ph, rw / pw
        for ci, i, j in itertools.product(range(c), range(ph), range(pw)):
            total = 0.0
            for iy, ix in itertools.product(range(g), range(g)):
                yy = y1 + i * bh + (iy + 0.5) * bh / g
                xx = x1 + j * bw + (ix + 0.5) * bw / g
                total += torchvision_bilinear(feat[bi, ci], yy, xx)
            y[bi * len(boxes) + r, ci, i, j] = total / (g * g)
    return y


def ref_roi_pool(feat: np.ndarray, boxes: np.ndarray, scale: float,
                 out: tuple[int, int]) -> np.ndarray:
    """torchvision's roi_pool, loop by loop: corners rounded (C's round), bins ⌊i·h/P⌋ …
    ⌈(i+1)·h/P⌉ from the corner, clipped; an empty bin is 0. As torchvision's CPU kernel, the
    corners and bin edges are float32 arithmetic for a float32 map (roi_pool_kernel.cpp:
    ``T bin_size_h = static_cast<T>(roi_height) / static_cast<T>(pooled_height)``)."""
    b, c, height, width = feat.shape
    ph, pw = out
    f = np.float32
    y = np.zeros((b * len(boxes), c, ph, pw))
    for bi, (r, box) in itertools.product(range(b), enumerate(boxes)):
        x1, y1, x2, y2 = (int(math.floor(p) + (p - math.floor(p) >= 0.5))
                          for p in (f(v) * f(scale) for v in box))
        bh, bw = f(max(y2 - y1 + 1, 1)) / f(ph), f(max(x2 - x1 + 1, 1)) / f(pw)
        for ci, i, j in itertools.product(range(c), range(ph), range(pw)):
            h0 = min(max(math.floor(f(i) * bh) + y1, 0), height)
            h1 = min(max(math.ceil(f(i + 1) * bh) + y1, 0), height)
            w0 = min(max(math.floor(f(j) * bw) + x1, 0), width)
            w1 = min(max(math.ceil(f(j + 1) * bw) + x1, 0), width)
            cells = [float(feat[bi, ci, hh, ww]) for hh in range(h0, h1) for ww in range(w0, w1)]
            y[bi * len(boxes) + r, ci, i, j] = max(cells) if cells else 0.0
    return y


def deform_sample(plane: np.ndarray, y: float, x: float) -> float:
    """torchvision's deform_conv2d bilinear sample: 0 unless −1 < y < H and −1 < x < W; each of
    the four neighbours 0 outside the map."""
    height, width = plane.shape
    if not (-1 < y < height and -1 < x < width):
        return 0.0
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    total = 0.0
    for yy, wy in ((y0, 1 - ly), (y0 + 1, ly)):
        for xx, wx in ((x0, 1 - lx), (x0 + 1, lx)):
            if 0 <= yy < height and 0 <= xx < width:
                total += wy * wx * float(plane[yy, xx])
    return total


def ref_deform_conv(x: np.ndarray, offset: np.ndarray, mask: np.ndarray | None, t: Tensors,
                    k: int, s: int, p: int, d: int, groups: int, offset_groups: int) -> np.ndarray:
    """torchvision's deform_conv2d, output element by element: tap (i, j) of output (y, x) reads
    channel c at (y·s − p + i·d + Δy, x·s − p + j·d + Δx), Δ of c's offset group, bilinearly,
    times the mask; the weight's dot product over its group's channels and taps."""
    w, bias = t["weight"], t.get("bias")
    b, cin = x.shape[:2]
    cout = w.shape[0]
    ho, wo = offset.shape[2:]
    per_og, per_g = cin // offset_groups, cin // groups
    y = np.zeros((b, cout, ho, wo))
    for bi, oy, ox in itertools.product(range(b), range(ho), range(wo)):
        samples = np.zeros((cin, k, k))
        for c, i, j in itertools.product(range(cin), range(k), range(k)):
            g = c // per_og
            tap = i * k + j
            dy = float(offset[bi, g * 2 * k * k + 2 * tap, oy, ox])
            dx = float(offset[bi, g * 2 * k * k + 2 * tap + 1, oy, ox])
            v = deform_sample(x[bi, c], oy * s - p + i * d + dy, ox * s - p + j * d + dx)
            if mask is not None:
                v *= float(mask[bi, g * k * k + tap, oy, ox])
            samples[c, i, j] = v
        for o in range(cout):
            g = o // (cout // groups)
            y[bi, o, oy, ox] = float(np.sum(w[o] * samples[g * per_g:(g + 1) * per_g]))
            y[bi, o, oy, ox] += 0.0 if bias is None else float(bias[o])
    return y


def ref_gram(x: np.ndarray) -> np.ndarray:
    """G[k, k'] = Σ over positions of a_k·a_k' (the lecture's Σ_i Σ_j a_ijk a_ijk')."""
    b, c = x.shape[:2]
    y = np.zeros((b, c, c))
    for bi, k1, k2 in itertools.product(range(b), range(c), range(c)):
        y[bi, k1, k2] = sum(float(x[(bi, k1, *p)]) * float(x[(bi, k2, *p)])
                            for p in positions(x.shape[2:]))
    return y


def ref_matmul(a: np.ndarray, bm: np.ndarray) -> np.ndarray:
    """(A·B)[n, m] = Σ_k A[n, k]·B[k, m], per sample."""
    y = np.zeros((a.shape[0], a.shape[1], bm.shape[2]))
    for bi, n, m in itertools.product(range(a.shape[0]), range(a.shape[1]), range(bm.shape[2])):
        y[bi, n, m] = sum(float(a[bi, n, kk]) * float(bm[bi, kk, m]) for kk in range(a.shape[2]))
    return y


def ref_fc_per_position(x: np.ndarray, t: Tensors) -> np.ndarray:
    """y[o, p] = Σ_c W[o, c]·x[c, p] + b[o] at every position p."""
    w = t["weight"]
    y = np.zeros((x.shape[0], w.shape[0], *x.shape[2:]))
    for bi, o in itertools.product(range(x.shape[0]), range(w.shape[0])):
        for p in positions(x.shape[2:]):
            y[(bi, o, *p)] = sum(float(w[o, c]) * float(x[(bi, c, *p)])
                                 for c in range(x.shape[1])) + float(t["bias"][o])
    return y
