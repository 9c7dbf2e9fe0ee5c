"""Graph → :class:`Report`: parameters, MACs, FLOPs, memory and receptive field per layer.

One pass over the topologically ordered nodes, plus one pass for liveness: linear in the graph.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from . import validate
from .graph import INPUT, Graph
from .layers import Work
from .report import LayerRow, Report, Totals
from .shapes import RF, prod, rf_beyond, rf_input

#: bytes per element of each supported dtype
DTYPE_BYTES: Mapping[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


@dataclass(frozen=True)
class Convention:
    """How FLOPs are counted from a layer's :class:`~archcalc.layers.Work`."""

    name: str
    description: str
    mac_weight: int  # FLOPs per multiply-accumulate
    count_window: bool  # pooling-window reads count as FLOPs
    count_elementwise: bool  # bias, BN, activations, merges count as FLOPs

    def flops(self, work: Work) -> int:
        return (
            self.mac_weight * work.macs
            + (work.window if self.count_window else 0)
            + (work.elementwise if self.count_elementwise else 0)
        )


MAC_TEXT = "MAC = one multiply-accumulate of a conv, transposed conv or fc"
CONVENTIONS: Mapping[str, Convention] = {
    "lecture": Convention(
        "lecture",
        "FLOPs = MACs + pooling-window reads (C·H'·W'·K·K), as the lecture tables count 'flop'; "
        "bias, BN, activations and merges are not counted",
        1,
        True,
        False,
    ),
    "full": Convention(
        "full",
        "FLOPs = 2 per MAC + pooling-window reads + element-wise operations (bias, BN 2/elem, "
        "activations, adds, multiplies, divides)",
        2,
        True,
        True,
    ),
    "macs": Convention(
        "macs",
        "FLOPs = MACs of conv/fc only (fvcore's and torchvision's 'GFLOPS')",
        1,
        False,
        False,
    ),
}
_tuple_new = tuple.__new__
MEMORY_TEXT = (
    "memory = output activations × batch × dtype bytes; fused bn/act run in place; peak = "
    "largest sum of tensors alive at once in list order, the input included"
)


def analyze_graph(graph: Graph, *, batch: int = 1, dtype: str = "float32",
                  convention: str = "lecture") -> Report:
    """Cost every node of ``graph``. Pure: the graph is not modified."""
    return _analyze(graph, batch, dtype, convention)


def _analyze(graph: Graph, batch: int, dtype: str, convention: str) -> Report:
    if not isinstance(graph, Graph):
        raise TypeError(f"analyze_graph() takes a Graph (from build), got {type(graph).__name__}")
    dtype = validate.choice(dtype, "dtype", DTYPE_BYTES, "float32")
    convention = validate.choice(convention, "convention", CONVENTIONS, "lecture")
    batch = validate.batch_size(batch)
    conv = CONVENTIONS[convention]
    width = DTYPE_BYTES[dtype]
    rfs: dict[str, RF | None] = {INPUT: rf_input(len(graph.input_shape) - 1)}
    rows: list[LayerRow] = []
    untracked: list[str] = []
    params = buffers = macs = flops = act = 0
    # Networks repeat identical layers on identical shapes (every block of a stage): their counts
    # are computed once. Layers are frozen and hashable; the key holds everything they depend on.
    memo: dict[tuple[object, ...], tuple[str, int, int, int, int, tuple[str, ...], int]] = {}
    for node in graph.nodes:
        name, op, posts, inputs, in_shapes, out_shape, _, _, path = node
        rf = op.rf(in_shapes, (rfs[inputs[0]],) if len(inputs) == 1 else
                   tuple(rfs[i] for i in inputs))
        for post in posts:
            rf = post.rf((out_shape,), (rf,))
        if rf is not None and rf_beyond(rf):  # past RF_LIMIT the field is not tracked
            rf = None
            untracked.append(name)
        rfs[name] = rf
        # identity, not equality: equal layers are shared instances (bind.Binder.make), and
        # hashing a layer field by field on every node costs more than counting twice
        key = (id(op), *map(id, posts), in_shapes) if posts else (id(op), in_shapes)
        counts = memo.get(key)
        if counts is None:
            work = node.work()
            p, b = node.counts()
            counts = memo[key] = (node.type_name, p, b,
                                  work.macs * batch, conv.flops(work) * batch,
                                  tuple(x.type_name for x in posts),
                                  prod(out_shape) * batch * width)
        type_name, p, b, m, f, post_names, a = counts
        # LayerRow(name, type, inputs, output_shape, params, buffers, macs, flops,
        # activation_bytes, receptive_field, post, path), made as the tuple it is: the generated
        # __new__ costs as much again, on every row of a 100k-layer graph
        rows.append(_tuple_new(LayerRow, (name, type_name, inputs, out_shape, p, b, m, f, a, rf,
                                          post_names, path)))
        params += p
        buffers += b
        macs += m
        flops += f
        act += a
    peak = peak_activation_bytes(graph, batch * width)
    totals = Totals(
        params=params,
        buffers=buffers,
        macs=macs,
        flops=flops,
        activation_bytes=act,
        param_bytes=params * width,
        peak_activation_bytes=peak,
    )
    return Report(
        name=graph.name,
        input_shape=graph.input_shape,
        batch=batch,
        dtype=dtype,
        convention=conv.name,
        convention_text=f"{MAC_TEXT}; {conv.description}; {MEMORY_TEXT}",
        layers=tuple(rows),
        totals=totals,
        output=graph.output,
        warnings=graph.warnings + ((
            f"{untracked[0]}: receptive field not tracked from here on (its exact value needs "
            "numbers beyond 2^64); reported as null",) if untracked else ()),
        scale=dict(graph.scale),
    )


def peak_activation_bytes(graph: Graph, bytes_per_element: int) -> int:
    """Largest total size of tensors alive at once when running the nodes in list order.

    A tensor is alive from the step that produces it through the step of its last consumer
    (the graph output stays alive to the end). The input counts as produced before step 0.
    Linear: one pass to find last uses, one sweep adding births and retiring deaths.
    """
    nodes = graph.nodes
    last: dict[str, int] = {INPUT: -1}
    size: dict[str, int] = {INPUT: math.prod(graph.input_shape)}
    born: list[int] = []  # elements produced at each step
    for step, (name, _, _, inputs, _, out_shape, *_) in enumerate(nodes):
        born.append(math.prod(out_shape))
        size[name] = born[-1]
        last[name] = step
        for used in inputs:
            last[used] = step
    last[graph.output] = len(nodes)
    dying = [0] * (len(nodes) + 2)  # elements freed after step i, at index i + 1
    for name, step in last.items():
        dying[step + 1] += size[name]
    alive = peak = size[INPUT]
    alive -= dying[0]
    for step, new in enumerate(born, 1):
        alive += new
        if alive > peak:
            peak = alive
        alive -= dying[step]
    return peak * bytes_per_element

