"""Graph → :class:`Report`: parameters, MACs, FLOPs, memory and receptive field per layer.

One pass over the topologically ordered nodes, plus one pass for liveness: linear in the graph.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from . import validate
from .graph import Graph
from .layers import Work
from .report import LayerRow, OutputRow, Report, Totals
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


MAC_TEXT = "MAC = one multiply-accumulate of a conv, transposed conv, fc or matrix product"
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


#: what the analysis computes once per distinct node (identical layers on identical shapes):
#: (type, params, buffers, MACs × batch, FLOPs × batch, post-op types, output bytes × batch,
#: the forward :class:`~archcalc.layers.Work` per sample)
Counts = tuple[str, int, int, int, int, tuple[str, ...], int, Work]


def _analyze(graph: Graph, batch: int, dtype: str, convention: str,
             per_node: list[Counts] | None = None) -> Report:
    """:func:`analyze_graph`; with ``per_node``, also each node's :data:`Counts`, appended in
    graph order — one shared tuple per distinct node, so a caller costing more per node
    (:mod:`archcalc.training`) reuses the forward work and tells identical nodes apart by
    identity."""
    if not isinstance(graph, Graph):
        raise TypeError(f"analyze_graph() takes a Graph (from build), got {type(graph).__name__}")
    dtype = validate.choice(dtype, "dtype", DTYPE_BYTES, "float32")
    convention = validate.choice(convention, "convention", CONVENTIONS, "lecture")
    batch = validate.batch_size(batch)
    conv = CONVENTIONS[convention]
    width = DTYPE_BYTES[dtype]
    rfs: dict[str, RF | None] = {name: rf_input(len(shape) - 1) for name, shape in graph.inputs}
    rows: list[LayerRow] = []
    training = graph.training_only()
    untracked: list[str] = []
    params = buffers = macs = flops = act = 0
    # training-only layers (auxiliary heads): (params, buffers, macs, flops, activation bytes)
    extra = [0, 0, 0, 0, 0]
    # Networks repeat identical layers on identical shapes (every block of a stage): their counts
    # are computed once. Layers are frozen and hashable; the key holds everything they depend on.
    memo: dict[tuple[object, ...], Counts] = {}
    for node in graph.nodes:
        name, op, posts, inputs, in_shapes, out_shape, _, _, path, shares, mult = node
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
                                  prod(out_shape) * batch * width, work)
        if per_node is not None:
            per_node.append(counts)
        type_name, p, b, m, f, post_names, a, _ = counts
        if shares:  # the weights are another layer's: counted there, once
            p = b = 0
        if mult != 1:  # R regions per sample: the work and the tensor R times, weights once
            m, f, a = m * mult, f * mult, a * mult
        # LayerRow(name, type, inputs, output_shape, params, buffers, macs, flops,
        # activation_bytes, receptive_field, post, path, multiplicity, shares, training), made
        # as the tuple it is: the generated __new__ costs as much again, on every row of a
        # 100k-layer graph
        only_training = name in training
        rows.append(_tuple_new(LayerRow, (name, type_name, inputs, out_shape, p, b, m, f, a, rf,
                                          post_names, path, mult, shares, only_training)))
        if only_training:
            extra[0] += p
            extra[1] += b
            extra[2] += m
            extra[3] += f
            extra[4] += a
            continue
        params += p
        buffers += b
        macs += m
        flops += f
        act += a
    peak = peak_activation_bytes(graph, batch * width, training)
    totals = Totals(
        params=params,
        buffers=buffers,
        macs=macs,
        flops=flops,
        activation_bytes=act,
        param_bytes=params * width,
        peak_activation_bytes=peak,
    )
    training_totals = None
    if training:
        all_params = params + extra[0]
        training_totals = Totals(all_params, buffers + extra[1], macs + extra[2],
                                 flops + extra[3], act + extra[4], all_params * width,
                                 peak_activation_bytes(graph, batch * width))
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
        inputs=graph.inputs if len(graph.inputs) > 1 else (),
        outputs=output_rows(graph, rows) if len(graph.outputs) > 1 else (),
        training_totals=training_totals,
    )


def output_rows(graph: Graph, rows: list[LayerRow]) -> tuple[OutputRow, ...]:
    """Each declared output's own totals: the sums over the layers it depends on, the weights of
    a shared layer once per output. One reverse pass gives every node the set of outputs it
    reaches, as a bit mask (OR of its consumers'); then each row is added to the outputs of its
    mask — linear in the graph for a few outputs (at most :data:`~archcalc.graph.MAX_OUTPUTS`)."""
    bit = {o.name: 1 << i for i, o in enumerate(graph.outputs)}
    mask: dict[str, int] = {}
    for node in reversed(graph.nodes):
        m = mask.get(node.name, 0) | bit.get(node.name, 0)
        if m:
            mask[node.name] = m
            for source in node.inputs:
                mask[source] = mask.get(source, 0) | m
    sums = [[0, 0, 0, 0, 0] for _ in graph.outputs]
    # shared weights (`share:`) count once per output that uses them, wherever they are owned:
    # an output reading only the second tower of a Siamese pair still needs the weights
    weights = {row.name: (row.params, row.buffers) for row in rows}
    owners = {row.shares for row in rows if row.shares}
    counted: list[set[str]] = [set() for _ in graph.outputs]
    for row in rows:
        m = mask.get(row.name, 0)
        owner = row.shares or (row.name if row.name in owners else "")
        while m:
            low = m & -m
            out = low.bit_length() - 1
            acc = sums[out]
            if not owner:
                acc[0] += row.params
                acc[1] += row.buffers
            elif owner not in counted[out]:
                counted[out].add(owner)
                acc[0] += weights[owner][0]
                acc[1] += weights[owner][1]
            acc[2] += row.macs
            acc[3] += row.flops
            acc[4] += row.activation_bytes
            m ^= low
    shapes = {row.name: row.output_shape for row in rows}
    return tuple(OutputRow(o.name, shapes[o.name], o.training, *acc)
                 for o, acc in zip(graph.outputs, sums, strict=True))


def peak_activation_bytes(graph: Graph, bytes_per_element: int,
                          skip: frozenset[str] = frozenset()) -> int:
    """Largest total size of tensors alive at once when running the nodes in list order.

    A tensor is alive from the step that produces it through the step of its last consumer
    (the graph's outputs stay alive to the end). The inputs count as produced before step 0.
    A tensor of multiplicity R counts R times. The nodes in ``skip`` (the training-only
    layers, at inference) do not run. Linear: one pass to find last uses, one sweep adding
    births and retiring deaths.
    """
    nodes = [node for node in graph.nodes if node.name not in skip] if skip else graph.nodes
    last: dict[str, int] = {name: -1 for name, _ in graph.inputs}
    size: dict[str, int] = {name: math.prod(shape) for name, shape in graph.inputs}
    born: list[int] = []  # elements produced at each step
    for step, (name, _, _, inputs, _, out_shape, _, _, _, _, mult) in enumerate(nodes):
        born.append(math.prod(out_shape) * mult)
        size[name] = born[-1]
        last[name] = step
        for used in inputs:
            last[used] = step
    for out in graph.outputs:
        if out.name in last:
            last[out.name] = len(nodes)
    dying = [0] * (len(nodes) + 2)  # elements freed after step i, at index i + 1
    for name, step in last.items():
        dying[step + 1] += size[name]
    alive = peak = sum(size[name] for name, _ in graph.inputs)
    alive -= dying[0]
    for step, new in enumerate(born, 1):
        alive += new
        if alive > peak:
            peak = alive
        alive -= dying[step]
    return peak * bytes_per_element

