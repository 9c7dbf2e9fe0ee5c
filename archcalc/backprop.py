"""The executor's backward passes: the receptive field by one backward pass, and (see
:func:`train_step`) one training step checked against the engine's training rules.

**The receptive field by gradient support.** :func:`support_field` runs one backward pass of
the layers a unit depends on, in *support mode* (``Context.support``): from a gradient of 1 at
the unit (all its channels) — and at its neighbour along each axis, each in its own sample, for
the jump — every layer propagates a non-negative "gradient" onto every input element its output
depends on, through its own ``backward``: convolutions and fully connected layers with the
positive probe weights (:func:`archcalc.executor.probe_weights`), pools onto their whole window
(a maximum depends on every element of it, not only on its argmax), activations and dropout
unchanged, batch norm with a positive scale, multiplications as if the other factor were 1.
No forward runs, and nothing can cancel (every term is a product of non-negative numbers), so
the input gradient is non-zero exactly on the unit's support: its first and last non-zero
position per axis are the measured field — one pass where the forward probe bisects with
``⌈log₂ n⌉ + 2`` batched passes.

This module needs NumPy; ``import archcalc`` does not import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .executor import Context, probe_weights
from .graph import Graph, Node, ancestors

Array = NDArray[Any]

__all__ = ["extent", "stage_weights", "support_field"]


def stage_weights(node: Node, stage: int, tensors: Mapping[str, Array]) -> dict[str, Array]:
    """The tensors of one layer of ``node``: stage 0 the op's, stage ``i`` the ``i``-th fused
    post-op's, without its ``bn.`` prefix."""
    if stage == 0:
        prefixes = tuple(f"{p.type_name}." for p in node.post)
        return {k: v for k, v in tensors.items() if not k.startswith(prefixes)}
    head = f"{node.post[stage - 1].type_name}."
    return {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}


def support_field(graph: Graph, layer: str, source: str,
                  seeds: Sequence[tuple[int, ...]]) -> Array | None:
    """The positions of the input ``source`` (any channel) each seed unit of ``layer`` depends
    on, ``(len(seeds), *n)`` booleans: one backward pass in support mode over the layer's
    ancestors, one sample per seed. None when a layer on the way has no support-mode backward
    (the caller then probes with forward passes)."""
    need = ancestors(graph, [layer])
    nodes = [nd for nd in graph.nodes if nd.name in need]
    # float32: every value is a sum of non-negative terms, so nothing cancels, and the probe
    # weights conserve the gradient's mass (each output's fan-in sums to 1): the smallest
    # contribution at a field's edge stays far above float32's underflow at these depths
    dt = np.float32
    ctx = Context(dt)
    ctx.support = True
    target = graph.node(layer)
    g = np.zeros((len(seeds), *target.out_shape), dt)
    for i, position in enumerate(seeds):
        at: tuple[Any, ...] = (i, slice(None), *position)
        g[at] = 1.0
    grads: dict[str, Array] = {layer: g}
    cache: dict[str, dict[str, Array]] = {}

    def tensors(nd: Node) -> dict[str, Array]:
        owner = graph.node(nd.shares) if nd.shares else nd
        if owner.name not in cache:
            params, buffers = probe_weights(owner)
            cache[owner.name] = {k: v.astype(dt) for k, v in {**params, **buffers}.items()}
        return cache[owner.name]

    try:
        for nd in reversed(nodes):
            gy = grads.pop(nd.name, None)
            if gy is None:
                continue
            w = tensors(nd)
            for s in reversed(range(1, 1 + len(nd.post))):
                ctx.ins = (nd.out_shape,)
                gy, _ = nd.post[s - 1].backward_post({}, stage_weights(nd, s, w), gy, ctx, False)
            ctx.ins = nd.in_shapes
            dxs, _ = nd.op.backward({}, stage_weights(nd, 0, w), gy, ctx, True, False)
            refs = len(type(nd.op).REF_INPUTS)
            for i, (name, gi) in enumerate(zip(nd.inputs, dxs, strict=True)):
                if gi is None or i >= len(nd.inputs) - refs:
                    continue
                grads[name] = grads[name] + gi if name in grads else gi
    except (NotImplementedError, KeyError):  # a backward that cannot run without saved tensors
        return None
    result = grads.get(source)
    if result is None:
        return np.zeros((len(seeds), *dict(graph.inputs)[source][1:]), bool)
    found: Array = np.asarray(np.asarray(result > 0).any(axis=1))
    return found


def extent(mask: Array, axis: int) -> tuple[int, int] | None:
    """First and last index along ``axis`` of a ``(*n)`` mask that is set, or None."""
    others = tuple(b for b in range(mask.ndim) if b != axis)
    hits = np.flatnonzero(mask.any(axis=others) if others else mask)
    if hits.size == 0:
        return None
    return int(hits[0]), int(hits[-1])
