"""Graph → :class:`Report`: parameters, MACs, FLOPs, memory and receptive field per layer.

One pass over the topologically ordered nodes, plus one pass for liveness: linear in the graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .errors import SpecError
from .gcpause import paused_gc
from .graph import INPUT, Graph
from .layers import Work
from .report import LayerRow, Report, Totals
from .shapes import RF, prod, rf_input

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
MEMORY_TEXT = (
    "memory = output activations × batch × dtype bytes; fused bn/act run in place; peak = "
    "largest sum of tensors alive at once in list order, the input included"
)


def analyze_graph(graph: Graph, *, batch: int = 1, dtype: str = "float32",
                  convention: str = "lecture") -> Report:
    """Cost every node of ``graph``. Pure: the graph is not modified."""
    with paused_gc():
        return _analyze(graph, batch, dtype, convention)


def _analyze(graph: Graph, batch: int, dtype: str, convention: str) -> Report:
    if dtype not in DTYPE_BYTES:
        raise SpecError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_BYTES)}",
                        hint="dtype='float32' is the default")
    if convention not in CONVENTIONS:
        raise SpecError(
            f"unknown FLOP convention {convention!r}; choose one of {', '.join(CONVENTIONS)}",
            hint="convention='lecture' is the default",
        )
    if batch < 1:
        raise SpecError(f"batch must be at least 1, got {batch}", hint="batch=1 is the default")
    conv = CONVENTIONS[convention]
    width = DTYPE_BYTES[dtype]
    rfs: dict[str, RF | None] = {INPUT: rf_input(len(graph.input_shape) - 1)}
    rows: list[LayerRow] = []
    params = buffers = macs = flops = act = 0
    # Networks repeat identical layers on identical shapes (every block of a stage): their counts
    # are computed once. Layers are frozen and hashable; the key holds everything they depend on.
    memo: dict[tuple[object, ...], tuple[int, int, int, int, tuple[str, ...], int]] = {}
    for node in graph.nodes:
        inputs = node.inputs
        rf_ins = (rfs[inputs[0]],) if len(inputs) == 1 else tuple(rfs[i] for i in inputs)
        rf = node.op.rf(node.in_shapes, rf_ins)
        for post in node.post:
            rf = post.rf((node.out_shape,), (rf,))
        rfs[node.name] = rf
        # identity, not equality: equal layers are shared instances (layers.make_layer), and
        # hashing a frozen dataclass field by field on every node costs more than counting twice
        key = (id(node.op), *map(id, node.post), node.in_shapes)
        counts = memo.get(key)
        if counts is None:
            work = node.work()
            counts = memo[key] = (node.param_count(), node.buffer_count(), work.macs,
                                  conv.flops(work), tuple(x.type_name for x in node.post),
                                  prod(node.out_shape) * batch * width)
        p, b, m, f, post_names, a = counts
        rows.append(
            LayerRow(
                name=node.name,
                type=node.type_name,
                inputs=node.inputs,
                output_shape=node.out_shape,
                params=p,
                buffers=b,
                macs=m * batch,
                flops=f * batch,
                activation_bytes=a,
                receptive_field=rf,
                post=post_names,
            )
        )
        params += p
        buffers += b
        macs += m * batch
        flops += f * batch
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
        warnings=graph.warnings,
        scale=dict(graph.scale),
    )


def peak_activation_bytes(graph: Graph, bytes_per_element: int) -> int:
    """Largest total size of tensors alive at once when running the nodes in list order.

    A tensor is alive from the step that produces it through the step of its last consumer
    (the graph output stays alive to the end). The input counts as produced before step 0.
    Linear: one pass to find last uses, one sweep adding births and retiring deaths.
    """
    last: dict[str, int] = {INPUT: -1}
    size: dict[str, int] = {INPUT: prod(graph.input_shape)}
    for step, node in enumerate(graph.nodes):
        size[node.name] = prod(node.out_shape)
        last[node.name] = step
        for name in node.inputs:
            last[name] = step
    last[graph.output] = len(graph.nodes)
    dying: dict[int, int] = {}
    for name, step in last.items():
        dying[step] = dying.get(step, 0) + size[name]
    alive = size[INPUT]
    peak = alive
    alive -= dying.get(-1, 0)
    for step, node in enumerate(graph.nodes):
        alive += size[node.name]
        peak = max(peak, alive)
        alive -= dying.get(step, 0)
    return peak * bytes_per_element

