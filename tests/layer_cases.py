"""One table of cases per layer class: a tiny spec, a slow reference for its forward
(tests/references.py), and its parameters and receptive field worked out by hand.

tests/test_conformance.py runs every case: the forward by value against the reference on random
inputs, the counts against the hand arithmetic, the receptive field against the hand values and
against the executor's measurement, the derivation; and it fails unless the cases cover exactly
the registered layer classes. A new layer type is its class plus its cases here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction as Fr
from typing import Any

import numpy as np
from references import (
    ACT,
    Tensors,
    ref_act,
    ref_adaptive,
    ref_adaptive_max,
    ref_bn_loop,
    ref_channel_scale,
    ref_channel_shuffle,
    ref_concat,
    ref_conv,
    ref_crop,
    ref_deconv,
    ref_deform_conv,
    ref_elementwise,
    ref_fc_per_position,
    ref_global,
    ref_gram,
    ref_groupnorm,
    ref_instancenorm,
    ref_l2norm,
    ref_layernorm,
    ref_linear,
    ref_lrn,
    ref_matmul,
    ref_max_unpool,
    ref_maxout,
    ref_merge,
    ref_pixel_shuffle,
    ref_pool,
    ref_prelu,
    ref_roi_align,
    ref_roi_pool,
    ref_row_major,
    ref_slice,
    ref_subsample,
    ref_upsample,
    ref_zeropad,
)

from archcalc.layers.pool import region_boxes

Acts = Mapping[str, np.ndarray]
#: (sizes, jumps, starts) per spatial axis, or None: no receptive field
RFs = tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]] | None


W_B = {"weight": "weight", "bias": "bias"}
STATS = {"running_mean": "running_mean", "running_var": "running_var"}
GAMMA_BETA = {"gamma": "scale", "beta": "shift"}
FROZEN = {"gamma": "frozen_scale", "beta": "frozen_shift"}


@dataclass(frozen=True)
class Case:
    """``layers`` on ``input``; the node ``target`` (id) is checked: its output against
    ``reference(activations, its tensors)``; its parameters, buffers, MACs and FLOPs (``full``
    convention: 2 per MAC + window reads + element-wise operations) and its receptive field
    (sizes, jumps, starts) against the values written here by hand."""

    name: str
    input: tuple[int, ...]
    layers: tuple[Any, ...]
    reference: Callable[[Acts, Tensors], np.ndarray]
    params: int
    rf: RFs
    buffers: int = 0
    macs: int = 0
    flops: int = 0
    #: the target's tensors, name → role (what initialises and probes them)
    roles: Mapping[str, str] = field(default_factory=dict)
    target: str = "t"

    def spec(self) -> dict[str, Any]:
        return {"archcalc": 1, "name": self.name, "input": list(self.input),
                "layers": list(self.layers)}


def _one(**layer: Any) -> tuple[Any, ...]:
    """A spec of one layer, the target."""
    ((kind, args),) = layer.items()
    return ({kind: {"id": "t", **args}},)


def _x(a: Acts) -> np.ndarray:
    return a["input"]


def _sq(v: Any) -> tuple[Any, Any]:
    return (v, v)


CASES: list[Case] = [
    # ------------------------------------------------------------------------------- conv --
    Case("conv strided padded", (3, 9, 8), _one(conv={"out": 4, "k": 3, "s": 2, "p": 1}),
         lambda a, t: ref_conv(_x(a), t["weight"], t["bias"], (2, 2), (1, 1), (1, 1), (1, 1), 1),
         params=4 * 3 * 3 * 3 + 4,  # 112
         macs=4 * 5 * 4 * 3 * 3 * 3, flops=2 * 2160 + 4 * 5 * 4,  # 5×4 out; + bias
         roles=W_B,
         rf=(_sq(3), _sq(2), _sq(0))),  # start (3 − 1)/2 − 1 = 0
    Case("conv dilated grouped same", (4, 11, 10),
         _one(conv={"out": 6, "k": 3, "d": 2, "groups": 2, "p": "same"}),
         # same, stride 1: total padding k_eff − 1 = 4 → (2, 2)
         lambda a, t: ref_conv(_x(a), t["weight"], t["bias"], (1, 1), (2, 2), (2, 2), (2, 2), 2),
         params=6 * 2 * 3 * 3 + 6,  # 114: each filter sees 4/2 channels
         macs=6 * 11 * 10 * 2 * 3 * 3, flops=2 * 11880 + 6 * 11 * 10,
         roles=W_B,
         rf=(_sq(5), _sq(1), _sq(0))),  # k_eff = 2·(3 − 1) + 1 = 5; start 2 − 2 = 0
    Case("conv fused bn relu6", (3, 6, 6),
         _one(conv={"out": 4, "k": 3, "p": 1, "bias": False, "bn": True, "act": "relu6"}),
         lambda a, t: np.clip(ref_bn_loop(ref_conv(_x(a), t["weight"], None, (1, 1), (1, 1),
                                                   (1, 1), (1, 1), 1), t, prefix="bn."), 0, 6),
         params=4 * 3 * 3 * 3 + 2 * 4, buffers=2 * 4,  # weight + γ, β; running mean, var
         macs=4 * 6 * 6 * 27, flops=2 * 3888 + 2 * 144 + 2 * 144,  # bn 2, relu6 2
         roles={"weight": "weight", **{f"bn.{k}": v for k, v in {**GAMMA_BETA, **STATS}.items()}},
         rf=(_sq(3), _sq(1), _sq(0))),
    Case("conv connections (LeNet C3)", (4, 7, 7),
         _one(conv={"out": 4, "k": 3, "connections": [[0, 1, 2], [1, 2, 3], [0, 3],
                                                      [0, 1, 2, 3]]}),
         lambda a, t: np.concatenate([
             ref_conv(_x(a)[:, maps], t[f"weight[{i}]"][None], t["bias"][i:i + 1], (1, 1),
                      (0, 0), (0, 0), (1, 1), 1)
             for i, maps in enumerate([[0, 1, 2], [1, 2, 3], [0, 3], [0, 1, 2, 3]])], axis=1),
         params=(3 + 3 + 2 + 4) * 3 * 3 + 4,  # 112
         macs=5 * 5 * (3 + 3 + 2 + 4) * 3 * 3, flops=2 * 2700 + 4 * 5 * 5,
         roles={**{f"weight[{i}]": "weight" for i in range(4)}, "bias": "bias"},
         rf=(_sq(3), _sq(1), _sq(1))),
    Case("conv1d grouped strided", (4, 11), _one(conv1d={"out": 4, "k": 3, "s": 2, "p": 1,
                                                         "groups": 2}),
         lambda a, t: ref_conv(_x(a), t["weight"], t["bias"], (2,), (1,), (1,), (1,), 2),
         # L′ = ⌊(11 + 2 − 3)/2⌋ + 1 = 6
         params=4 * 2 * 3 + 4, macs=4 * 6 * 2 * 3, flops=2 * 144 + 4 * 6,
         roles=W_B,
         rf=((3,), (2,), (0,))),
    Case("dwconv multiplier 2", (3, 9, 8), _one(dwconv={"out": 6, "k": 3, "s": 2, "p": 1}),
         lambda a, t: ref_conv(_x(a), t["weight"], t["bias"], (2, 2), (1, 1), (1, 1), (1, 1), 3),
         params=6 * 1 * 3 * 3 + 6, macs=6 * 5 * 4 * 1 * 3 * 3, flops=2 * 1080 + 6 * 5 * 4,
         roles=W_B,
         rf=(_sq(3), _sq(2), _sq(0))),
    Case("pwconv strided grouped", (4, 6, 5), _one(pwconv={"out": 6, "s": 2, "groups": 2}),
         lambda a, t: ref_conv(_x(a), t["weight"], t["bias"], (2, 2), (0, 0), (0, 0), (1, 1), 2),
         params=6 * 2 + 6, macs=6 * 3 * 3 * 2, flops=2 * 108 + 6 * 3 * 3,  # 3×3 out, C/g = 2
         roles=W_B,
         rf=(_sq(1), _sq(2), _sq(0))),
    Case("deconv", (4, 3, 4), _one(deconv={"out": 6, "k": 3, "s": 2, "p": 1,
                                           "output_padding": 1, "groups": 2}),
         lambda a, t: ref_deconv(_x(a), t["weight"], t["bias"], 2, 1, 1, 1, 2),
         params=4 * 3 * 3 * 3 + 6,  # in × out/g × k × k + bias = 114
         # zero-insertion by 2: jump 1/2; then a stride-1 window of 3 with padding 3 − 1 − 1:
         # r = 1 + 2·½ = 2, start = 0 + (1 − 1)·½ = 0
         macs=(4 * 3 * 4) * 3 * 3 * 3, flops=2 * 1296 + 6 * 6 * 8,  # inputs × out/g × k²; 6×8 out
         roles=W_B,
         rf=(_sq(2), _sq(Fr(1, 2)), _sq(0))),
    # -------------------------------------------------------------------------- pooling --
    Case("maxpool ceil_mode", (2, 7, 8), _one(maxpool={"k": 3, "s": 2, "p": 1,
                                                       "ceil_mode": True}),
         lambda a, t: ref_pool(_x(a), (3, 3), (2, 2), (1, 1), (1, 1), True, "max"),
         params=0, flops=2 * 4 * 5 * 3 * 3,  # ceil: ⌈6/2⌉ + 1 = 4, ⌈7/2⌉ + 1 = 5; window reads
         rf=(_sq(3), _sq(2), _sq(0))),
    Case("maxpool dilated", (2, 7, 6), _one(maxpool={"k": 2, "s": 1, "d": 2}),
         lambda a, t: ref_pool(_x(a), (2, 2), (1, 1), (0, 0), (2, 2), False, "max"),
         params=0, flops=2 * 5 * 4 * 2 * 2,  # k_eff 3: 7 − 3 + 1 = 5, 6 − 3 + 1 = 4
         rf=(_sq(3), _sq(1), _sq(1))),  # k_eff = 2·1 + 1 = 3
    Case("avgpool exclude pad", (2, 7, 8), _one(avgpool={"k": 3, "s": 2, "p": 1,
                                                         "count_include_pad": False}),
         lambda a, t: ref_pool(_x(a), (3, 3), (2, 2), (1, 1), (1, 1), False, "avg", False),
         params=0, flops=2 * 4 * 4 * 3 * 3 + 2 * 4 * 4,  # window reads + one divide each
         rf=(_sq(3), _sq(2), _sq(0))),
    Case("subsample (LeNet S2)", (3, 6, 4), _one(subsample={"k": 2}),
         lambda a, t: ref_subsample(_x(a), t, 2),
         params=2 * 3,  # coefficient + bias per map
         macs=3 * 3 * 2, flops=2 * 18 + 18 * 2 * 2 + 18,  # coefficient, window, bias
         roles={"coefficient": "coefficient", "bias": "bias"},
         rf=(_sq(2), _sq(2), _sq(Fr(1, 2)))),
    Case("global_avgpool", (3, 5, 4), _one(global_avgpool={}),
         lambda a, t: ref_global(_x(a), lambda v: sum(v) / len(v)),
         params=0, flops=3 * 5 * 4 + 3,  # the whole map read, one divide per channel
         rf=((5, 4), (5, 4), (2, Fr(3, 2)))),  # one window of the whole map
    Case("global_maxpool", (3, 5, 4), _one(global_maxpool={}),
         lambda a, t: ref_global(_x(a), max), params=0, flops=3 * 5 * 4,
         rf=((5, 4), (5, 4), (2, Fr(3, 2)))),
    Case("adaptive_avgpool uneven", (2, 7, 5), _one(adaptive_avgpool={"out": [3, 2]}),
         lambda a, t: ref_adaptive(_x(a), (3, 2)),
         # largest window ⌈(n + o − gcd)/o⌉: H ⌈9/3⌉ = 3, W ⌈6/2⌉ = 3; mean stride n/o
         # window reads Σ = n + o − gcd per axis; one divide per output
         params=0, flops=2 * (7 + 3 - 1) * (5 + 2 - 1) + 2 * 3 * 2,
         rf=((3, 3), (Fr(7, 3), Fr(5, 2)), (1, 1))),
    # -------------------------------------------------------------------------- fc, shape --
    Case("fc after flatten", (2, 3, 2), ({"flatten": {}}, {"fc": {"id": "t", "out": 5}}),
         lambda a, t: ref_linear(a["flatten1"], t), params=12 * 5 + 5, macs=12 * 5,
         flops=2 * 60 + 5,
         roles=W_B,
         rf=None),
    Case("fc on a pooled map", (4, 3, 3),
         ({"global_avgpool": {}}, {"fc": {"id": "t", "out": 2, "bias": False}}),
         lambda a, t: ref_linear(a["global_avgpool1"], t), params=4 * 2, macs=4 * 2, flops=2 * 8,
         roles={"weight": "weight"},
         rf=None),
    Case("flatten", (2, 3, 2), _one(flatten={}), lambda a, t: ref_row_major(_x(a), (12,)),
         params=0, rf=None),
    Case("reshape", (2, 3, 2), _one(reshape={"shape": [3, -1, 1]}),
         lambda a, t: ref_row_major(_x(a), (3, 4, 1)), params=0, rf=None),
    Case("zeropad", (3, 4, 5), _one(zeropad={"p": [[1, 2], [0, 3]]}),
         lambda a, t: ref_zeropad(_x(a), ((1, 2), (0, 3))),
         params=0, rf=(_sq(1), _sq(1), (-1, 0))),  # start moves back by the padding before
    Case("crop margins", (3, 6, 7), _one(crop={"margin": [[1, 0], [2, 1]]}),
         lambda a, t: ref_crop(_x(a), ((1, 0), (2, 1))), params=0, rf=(_sq(1), _sq(1), (1, 2))),
    Case("crop to a second input", (3, 7, 8),
         ({"conv": {"id": "small", "out": 2, "k": 3}},
          {"crop": {"id": "t", "in": ["input", "small"]}}),
         # 7 → 5 and 8 → 6: ⌊(7 − 5)/2⌋ = 1, ⌊(8 − 6)/2⌋ = 1 before
         lambda a, t: ref_crop(_x(a), ((1, 1), (1, 1))), params=0,
         rf=(_sq(1), _sq(1), (1, 1))),
    Case("channel_shuffle", (6, 5, 4),
         ({"conv": {"out": 6, "k": 3, "p": 1}}, {"channel_shuffle": {"id": "t", "groups": 3}}),
         lambda a, t: ref_channel_shuffle(a["conv1"], 3), params=0,
         rf=(_sq(3), _sq(1), _sq(0))),
    Case("slice", (6, 3, 4), _one(slice={"start": 1, "stop": 4}),
         lambda a, t: ref_slice(_x(a), 1, 4), params=0, rf=(_sq(1), _sq(1), _sq(0))),
    # -------------------------------------------------------------------------- resample --
    Case("upsample nearest", (2, 3, 4), _one(upsample={"scale": 2}),
         lambda a, t: ref_upsample(_x(a), (6, 8), "nearest", False),
         # grid refined by 2, output u at (u + ½)/2 − ½: start −¼
         params=0, rf=(_sq(1), _sq(Fr(1, 2)), _sq(Fr(-1, 4)))),
    Case("upsample bilinear to a size", (2, 3, 4),
         _one(upsample={"size": [7, 9], "mode": "bilinear"}),
         lambda a, t: ref_upsample(_x(a), (7, 9), "bilinear", False),
         # non-integer: mean spacing n/o, one more input pixel
         params=0, flops=3 * 2 * 2 * 7 * 9,  # one lerp (3 ops) per axis and output
         rf=(_sq(2), (Fr(3, 7), Fr(4, 9)), _sq(0))),
    Case("upsample bilinear align_corners", (2, 3, 4),
         _one(upsample={"scale": 2, "mode": "bilinear", "align_corners": True}),
         lambda a, t: ref_upsample(_x(a), (6, 8), "bilinear", True),
         params=0, flops=3 * 2 * 2 * 6 * 8,
         rf=(_sq(2), _sq(Fr(1, 2)), _sq(Fr(-1, 4)))),
    Case("pixel_shuffle", (8, 3, 4), _one(pixel_shuffle={"r": 2}),
         lambda a, t: ref_pixel_shuffle(_x(a), 2),  # [2·2², 3, 4] → [2, 6, 8]
         # each output copies one input position: nearest upsampling's grid, refined by 2
         params=0, rf=(_sq(1), _sq(Fr(1, 2)), _sq(Fr(-1, 4)))),
    Case("pixel_shuffle 1D", (6, 5), _one(pixel_shuffle={"r": 3}),
         lambda a, t: ref_pixel_shuffle(_x(a), 3),  # [2·3, 5] → [2, 15]
         params=0, rf=((1,), (Fr(1, 3),), (Fr(-1, 3),))),  # (1/3 − 1)/2 = −1/3
    # ----------------------------------------------------------------------------- norms --
    Case("bn", (4, 3, 2), _one(bn={}), lambda a, t: ref_bn_loop(_x(a), t),
         params=2 * 4, buffers=2 * 4, flops=2 * 4 * 3 * 2,  # folded scale and shift
         roles={**GAMMA_BETA, **STATS},
         rf=(_sq(1), _sq(1), _sq(0))),
    Case("bn without affine", (4, 3, 2), _one(bn={"affine": False, "eps": 0.01}),
         lambda a, t: ref_bn_loop(_x(a), t, eps=0.01), params=0, buffers=2 * 4,
         flops=2 * 4 * 3 * 2,
         roles=STATS,
         rf=(_sq(1), _sq(1), _sq(0))),
    # (a conv first: the receptive-field probe lights every input channel alike, and a
    # layer norm over channels maps channels that are alike to β)
    Case("layernorm over channels", (4, 5, 4),
         ({"conv": {"out": 4, "k": 3, "p": 1}}, {"layernorm": {"id": "t"}}),
         lambda a, t: ref_layernorm(a["conv1"], t, "channels"), params=2 * 4,
         flops=5 * 4 * 5 * 4,
         roles=GAMMA_BETA,
         rf=(_sq(3), _sq(1), _sq(0))),
    # every output reads the whole sample: r = 3 + (5 − 1)·1 = 7, on the map's grid (the
    # field is wider than the map, as in a real network: the measurement then compares the
    # unit's extent, which the border cuts at both ends, and no neighbour's)
    Case("layernorm over all", (4, 5, 5),
         ({"conv": {"out": 4, "k": 3, "p": 1}}, {"layernorm": {"id": "t", "over": "all"}}),
         lambda a, t: ref_layernorm(a["conv1"], t, "all"), params=2 * 4 * 5 * 5,
         flops=5 * 4 * 5 * 5,
         roles=GAMMA_BETA,
         rf=(_sq(7), _sq(1), _sq(0))),
    Case("lrn", (6, 3, 4), _one(lrn={"size": 3, "alpha": 0.5, "beta": 0.75, "k": 2.0}),
         lambda a, t: ref_lrn(_x(a), 3, 0.5, 0.75, 2.0), params=0, flops=(3 + 4) * 6 * 3 * 4,
         rf=(_sq(1), _sq(1), _sq(0))),
    Case("lrn even window", (6, 3, 4), _one(lrn={"size": 4, "alpha": 0.3, "beta": 0.5,
                                                 "k": 1.0}),
         lambda a, t: ref_lrn(_x(a), 4, 0.3, 0.5, 1.0), params=0, flops=(4 + 4) * 6 * 3 * 4,
         rf=(_sq(1), _sq(1), _sq(0))),
    # ---------------------------------------------------------------- element-wise, merge --
    *[Case(f"activation {fn}", (5, 3, 4),
           ({"conv": {"out": 5, "k": 3, "p": 1}}, {fn: {"id": "t"}}),
           lambda a, t, fn=fn: (ref_act(fn, a["conv1"]) if fn == "softmax" else
                                ref_elementwise(a["conv1"], ACT[fn])),
           params=0, flops=ops * 5 * 3 * 4, rf=(_sq(3), _sq(1), _sq(0)))
      # operations per element: relu max(x,0) 1; relu6, leaky_relu 2; sigmoid, tanh,
      # hardsigmoid 4; hardswish, swish, silu, gelu 5; softmax (exp, sum, divide) 3
      for fn, ops in [("relu", 1), ("relu6", 2), ("leaky_relu", 2), ("sigmoid", 4), ("tanh", 4),
                      ("hardsigmoid", 4), ("hardswish", 5), ("swish", 5), ("silu", 5),
                      ("gelu", 5), ("softmax", 3)]],
    Case("leaky_relu slope", (2, 3, 4), _one(leaky_relu={"slope": 0.2}),
         lambda a, t: ref_elementwise(_x(a), lambda v: v if v >= 0 else 0.2 * v),
         params=0, flops=2 * 2 * 3 * 4,
         rf=(_sq(1), _sq(1), _sq(0))),
    Case("identity", (3, 4, 4), _one(identity={}), lambda a, t: _x(a).astype(np.float64),
         params=0, rf=(_sq(1), _sq(1), _sq(0))),
    Case("dropout", (3, 4, 4), _one(dropout={"p": 0.5}), lambda a, t: _x(a).astype(np.float64),
         params=0, rf=(_sq(1), _sq(1), _sq(0))),
    Case("add of three, relu", (4, 5, 5),
         ({"conv": {"id": "a", "out": 4, "k": 3, "p": 1}},
          {"conv": {"id": "b", "in": "input", "out": 4, "k": 1}},
          {"add": {"id": "t", "in": ["input", "a", "b"], "act": "relu"}}),
         lambda a, t: np.maximum(ref_merge([a["input"], a["a"], a["b"]], sum), 0),
         # the hull of 1, 3 and 1 pixels on one grid, all centred at 0
         params=0, flops=(3 - 1) * 4 * 5 * 5 + 4 * 5 * 5,  # two adds, one relu per element
         rf=(_sq(3), _sq(1), _sq(0))),
    Case("multiply by an SE gate", (4, 5, 5),
         ({"conv": {"id": "c", "out": 4, "k": 3, "p": 1}}, {"global_avgpool": {"id": "g"}},
          {"multiply": {"id": "t", "in": ["g", "c"]}}),
         lambda a, t: ref_merge([a["g"], a["c"]], math.prod),
         # the gate sees the whole map: 3 + (5 − 1)·1 = 7; the output stays on the map's grid
         params=0, flops=4 * 5 * 5,
         rf=(_sq(7), _sq(1), _sq(0))),
    Case("multiply same shapes", (4, 5, 5),
         ({"conv": {"id": "a", "out": 4, "k": 3, "p": 1}},
          {"multiply": {"id": "t", "in": ["a", "input"]}}),
         lambda a, t: ref_merge([a["a"], a["input"]], math.prod),
         params=0, flops=4 * 5 * 5,
         rf=(_sq(3), _sq(1), _sq(0))),
    Case("concat of three", (4, 5, 5),
         ({"conv": {"id": "a", "out": 3, "k": 3, "p": 1}},
          {"conv": {"id": "b", "in": "input", "out": 2, "k": 1}},
          {"concat": {"id": "t", "in": ["a", "input", "b"]}}),
         lambda a, t: ref_concat([a["a"], a["input"], a["b"]]),
         params=0, rf=(_sq(3), _sq(1), _sq(0))),
    # ------------------------------------------------------- beyond the classifier (#15) --
    Case("deform_conv offsets", (3, 6, 5),
         ({"conv": {"id": "off", "out": 18, "k": 3, "p": 1}},
          {"deform_conv": {"id": "t", "in": ["input", "off"], "out": 4, "k": 3, "p": 1}}),
         lambda a, t: ref_deform_conv(_x(a), a["off"], None, t, 3, 1, 1, 1, 1, 1),
         params=4 * 3 * 3 * 3 + 4,  # torchvision DeformConv2d(3, 4, 3): a conv's weights, 112
         # MACs as a conv: 4·6·5 outputs × 3·3·3; sampling 6 ops per C·K²·H′·W′ = 3·9·30 samples
         macs=4 * 6 * 5 * 27, flops=2 * 3240 + 6 * 3 * 9 * 30 + 4 * 6 * 5,
         roles=W_B, rf=None),  # learned offsets: no fixed field
    Case("deform_conv modulated, groups", (4, 7, 6),
         ({"conv": {"id": "off", "out": 2 * 2 * 4, "k": 2, "s": 2}},
          {"conv": {"id": "m", "in": "input", "out": 2 * 4, "k": 2, "s": 2}},
          {"sigmoid": {"id": "mask"}},
          {"deform_conv": {"id": "t", "in": ["input", "off", "mask"], "out": 2, "k": 2, "s": 2,
                           "groups": 2, "offset_groups": 2, "bias": False}}),
         # 7×6 → 3×3; offsets 2·G·K² = 16, masks G·K² = 8 channels
         lambda a, t: _deform2(a, t),
         params=2 * 2 * 2 * 2,  # out × C/groups × K²
         macs=2 * 3 * 3 * 2 * 4, flops=2 * 144 + (6 + 1) * 4 * 4 * 9,
         roles={"weight": "weight"}, rf=None),
    Case("adaptive_maxpool uneven", (2, 7, 5), _one(adaptive_maxpool={"out": [3, 2]}),
         lambda a, t: ref_adaptive_max(_x(a), (3, 2)),
         params=0, flops=2 * (7 + 3 - 1) * (5 + 2 - 1),  # the average's window reads, no divides
         rf=((3, 3), (Fr(7, 3), Fr(5, 2)), (1, 1))),
    Case("maxout", (6, 3, 4), _one(maxout={"pieces": 3}),
         lambda a, t: ref_maxout(_x(a), 3),
         params=0, flops=2 * 3 * 4 * 3,  # 2 outputs × 12 positions × 3 pieces read
         rf=(_sq(1), _sq(1), _sq(0))),
    Case("roi_pool", (2, 9, 11), _one(roi_pool={"out": 3, "regions": 4, "scale": 0.5}),
         lambda a, t: ref_roi_pool(_x(a), region_boxes(4, 18, 22), 0.5, (3, 3)),
         # per region: 2·3·3 bins of ⌈9/3⌉·⌈11/3⌉ = 3·4 reads (a region as large as the map)
         params=0, flops=4 * 2 * 3 * 3 * 3 * 4, rf=None),
    Case("roi_align", (2, 8, 10),
         _one(roi_align={"out": [2, 3], "regions": 3, "scale": 0.25, "sampling_ratio": 2}),
         lambda a, t: ref_roi_align(_x(a), region_boxes(3, 32, 40), 0.25, (2, 3), 2),
         # per region: 2·2·3 outputs × 2² samples × 4 reads; 7·2² element-wise per output
         params=0, flops=3 * (2 * 6 * 4 * 4 + 2 * 6 * 7 * 4), rf=None),
    # a 256×256 image (64×64 at ¼): boxes 7 and 9 of 10 are large enough for the ⅛ level
    Case("roi_align over two levels", (2, 64, 64),
         ({"maxpool": {"id": "p1", "k": 2}},
          {"roi_align": {"id": "t", "in": ["input", "p1"], "out": 2, "regions": 10,
                         "scale": 0.25, "sampling_ratio": 1}}),
         lambda a, t: _roi_levels(a),
         params=0, flops=10 * (2 * 4 * 1 * 4 + 2 * 4 * 7 * 1), rf=None),
    Case("max_unpool with a pool's indices", (3, 6, 8),
         ({"maxpool": {"id": "pool", "k": 2}},
          {"conv": {"id": "c", "out": 3, "k": 1}},
          {"max_unpool": {"id": "t", "indices": "pool"}}),
         lambda a, t: ref_max_unpool(_x(a), a["c"], 2, 2),
         params=0, rf=None),  # where a value lands depends on the data: no fixed field
    Case("fc per position", (3, 4, 5), _one(fc={"out": 6, "per_position": True}),
         lambda a, t: ref_fc_per_position(_x(a), t),
         params=6 * 3 + 6, macs=6 * 4 * 5 * 3, flops=2 * 360 + 6 * 4 * 5,  # a 1×1 conv's
         roles=W_B, rf=(_sq(1), _sq(1), _sq(0))),
    Case("gram", (3, 4, 5), _one(gram={}), lambda a, t: ref_gram(_x(a)),
         params=0, macs=3 * 3 * 4 * 5, flops=2 * 180, rf=None),  # C²·H·W
    Case("gram normalised", (2, 3, 3), _one(gram={"normalize": True}),
         lambda a, t: ref_gram(_x(a)) / (2 * 3 * 3),
         params=0, macs=2 * 2 * 9, flops=2 * 36 + 2 * 2, rf=None),  # + C² divides
    Case("matmul", (4, 6), ({"reshape": {"id": "r", "shape": [6, 4]}},
                            {"matmul": {"id": "t", "in": ["input", "r"]}}),
         lambda a, t: ref_matmul(_x(a), a["r"]),
         params=0, macs=4 * 6 * 4, flops=2 * 96, rf=None),
    Case("matmul transposed", (4, 6), _one(matmul={"in": ["input", "input"],
                                                   "transpose_b": True}),
         lambda a, t: ref_matmul(_x(a), np.swapaxes(_x(a), 1, 2)),
         params=0, macs=4 * 6 * 4, flops=2 * 96, rf=None),
    Case("bn frozen", (4, 3, 2), _one(bn={"frozen": True}), lambda a, t: ref_bn_loop(_x(a), t),
         params=0, buffers=4 * 4, flops=2 * 4 * 3 * 2,  # γ, β kept as buffers too
         roles={**FROZEN, **STATS}, rf=(_sq(1), _sq(1), _sq(0))),
    # statistics over each group's whole map: r = 3 + (5 − 1)·1 = 7 (a conv first, as for
    # layernorm over all)
    Case("groupnorm", (4, 5, 5),
         ({"conv": {"out": 4, "k": 3, "p": 1}}, {"groupnorm": {"id": "t", "groups": 2}}),
         lambda a, t: ref_groupnorm(a["conv1"], t, 2),
         params=2 * 4, flops=5 * 4 * 5 * 5, roles=GAMMA_BETA, rf=(_sq(7), _sq(1), _sq(0))),
    Case("instancenorm", (3, 5, 5),
         ({"conv": {"out": 3, "k": 3, "p": 1}}, {"instancenorm": {"id": "t"}}),
         lambda a, t: ref_instancenorm(a["conv1"], t),
         params=0, flops=5 * 3 * 5 * 5, rf=(_sq(7), _sq(1), _sq(0))),  # no affine, no stats
    Case("instancenorm affine, running stats", (3, 4, 5),
         _one(instancenorm={"affine": True, "track_running_stats": True}),
         lambda a, t: ref_bn_loop(_x(a), t),  # inference with running statistics: BN's map
         params=2 * 3, buffers=2 * 3, flops=2 * 3 * 4 * 5, roles={**GAMMA_BETA, **STATS},
         rf=(_sq(1), _sq(1), _sq(0))),
    Case("l2norm (SSD)", (4, 3, 5), _one(l2norm={}),
         lambda a, t: ref_l2norm(_x(a), t["weight"]),
         # per element: square-add 2, divide 1, scale 1; one square root per position
         params=4, flops=4 * 4 * 3 * 5 + 3 * 5, roles={"weight": "scale"},
         rf=(_sq(1), _sq(1), _sq(0))),
    Case("l2norm without scale", (4, 3), _one(l2norm={"affine": False}),
         lambda a, t: ref_l2norm(_x(a), None),
         params=0, flops=3 * 4 * 3 + 3, rf=((1,), (1,), (0,))),
    Case("layer_scale", (4, 3, 2), _one(layer_scale={}),
         lambda a, t: ref_channel_scale(_x(a), t["gamma"]),
         params=4, flops=4 * 3 * 2, roles={"gamma": "scale"}, rf=(_sq(1), _sq(1), _sq(0))),
    Case("subtract", (4, 5, 5),
         ({"conv": {"id": "a", "out": 4, "k": 3, "p": 1}},
          {"subtract": {"id": "t", "in": ["a", "input"]}}),
         lambda a, t: ref_merge([a["a"], -a["input"]], sum),
         params=0, flops=4 * 5 * 5, rf=(_sq(3), _sq(1), _sq(0))),
    *[Case(f"activation {fn}", (5, 3, 4),
           ({"conv": {"out": 5, "k": 3, "p": 1}}, {fn: {"id": "t"}}),
           lambda a, t, fn=fn: ref_elementwise(a["conv1"], ACT[fn]),
           params=0, flops=ops * 5 * 3 * 4, rf=(_sq(3), _sq(1), _sq(0)))
      # elu: compare, exp, subtract, multiply 4; abs 1
      for fn, ops in [("elu", 4), ("abs", 1)]],
    Case("elu alpha", (2, 3, 4), _one(elu={"alpha": 0.5}),
         lambda a, t: ref_elementwise(_x(a), lambda v: v if v > 0 else 0.5 * (math.exp(v) - 1)),
         params=0, flops=4 * 2 * 3 * 4, rf=(_sq(1), _sq(1), _sq(0))),
    Case("prelu one slope", (3, 4, 4), _one(prelu={}),
         lambda a, t: ref_prelu(_x(a), t["weight"]),
         params=1, flops=2 * 3 * 4 * 4, roles={"weight": "coefficient"},  # nn.PReLU(): 1
         rf=(_sq(1), _sq(1), _sq(0))),
    Case("prelu per channel", (3, 4, 4), _one(prelu={"per_channel": True}),
         lambda a, t: ref_prelu(_x(a), t["weight"]),
         params=3, flops=2 * 3 * 4 * 4, roles={"weight": "coefficient"},  # nn.PReLU(3): 3
         rf=(_sq(1), _sq(1), _sq(0))),
    Case("scale by a constant", (3, 4, 4), _one(scale={"factor": 0.17}),
         lambda a, t: 0.17 * _x(a).astype(np.float64),
         params=0, flops=3 * 4 * 4, rf=(_sq(1), _sq(1), _sq(0))),
]


def _deform2(a: Acts, t: Tensors) -> np.ndarray:
    return ref_deform_conv(_x(a), a["off"], a["mask"], t, 2, 2, 0, 1, 2, 2)


def _roi_levels(a: Acts) -> np.ndarray:
    """Two levels (scales ¼ and ⅛ of a 256×256 image): each box pooled from the level
    ⌊4 + log2(√(wh)/224)⌋ − 2, clamped to 0..1 (FPN's rule, Lin et al. 2017 eq. 1)."""
    boxes = region_boxes(10, 256, 256)
    out = np.zeros((2 * 10, 2, 2, 2))
    levels = []
    for r, box in enumerate(boxes):
        size = math.sqrt((box[2] - box[0]) * (box[3] - box[1]))
        level = min(max(math.floor(4 + math.log2(size / 224 + 1e-6)), 2), 3) - 2
        levels.append(level)
        feat, scale = (a["input"], 0.25) if level == 0 else (a["p1"], 0.125)
        out[r::10] = ref_roi_align(feat, box[None], scale, (2, 2), 1)
    assert set(levels) == {0, 1}  # the case pools from both levels
    return out
