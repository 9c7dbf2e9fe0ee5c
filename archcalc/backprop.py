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

import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import ArchcalcError, ExecError
from .executor import Context, WeightFn, probe_weights
from .graph import Graph, Node, ancestors
from .layers import BUFFER_ROLES, Layer

if TYPE_CHECKING:  # imported where used, as the functions below do; named here for types
    from .training import Freeze, TrainingReport

Array = NDArray[Any]

__all__ = ["TrainStep", "TrainingRun", "check_step", "extent", "stage_weights", "support_field",
           "train_step"]


def _stage_names(node: Node, stage: int, names: Sequence[str]) -> dict[str, str]:
    """The names :func:`stage_weights` gives the tensors of one layer of ``node`` (stage 0 the
    op, stage ``i`` its ``i``-th fused post-op), each mapped to its name among ``names``."""
    if stage == 0:
        prefixes = tuple(f"{p.type_name}." for p in node.post)
        return {k: k for k in names if not k.startswith(prefixes)}
    head = f"{node.post[stage - 1].type_name}."
    return {k[len(head):]: k for k in names if k.startswith(head)}


def stage_weights(node: Node, stage: int, tensors: Mapping[str, Array]) -> dict[str, Array]:
    """The tensors of one layer of ``node``: stage 0 the op's, stage ``i`` the ``i``-th fused
    post-op's, without its ``bn.`` prefix."""
    return {k: tensors[full] for k, full in _stage_names(node, stage, list(tensors)).items()}


class _LazyTensors(Mapping[str, Array]):
    """One layer's tensors by name, made on the first read of any of them (``load``: all of the
    node's, by full name). In support mode most backwards read none — a convolution's or a
    fully connected layer's support is structural, its weights merely non-zero — so the probe
    weights of a whole network (VGG-16's convolutions: 14.7 M values) are never generated."""

    def __init__(self, names: Mapping[str, str], load: Callable[[], Mapping[str, Array]]):
        self._names = names
        self._load = load

    def __getitem__(self, key: str) -> Array:
        return self._load()[self._names[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


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

    def tensors(owner: Node) -> dict[str, Array]:
        if owner.name not in cache:
            params, buffers = probe_weights(owner)
            cache[owner.name] = {k: v.astype(dt) for k, v in {**params, **buffers}.items()}
        return cache[owner.name]

    try:
        for nd in reversed(nodes):
            gy = grads.pop(nd.name, None)
            if gy is None:
                continue
            owner = graph.node(nd.shares) if nd.shares else nd
            names = [t.name for t in owner.tensors()]
            for s in reversed(range(1, 1 + len(nd.post))):
                ctx.ins = (nd.out_shape,)
                w = _LazyTensors(_stage_names(nd, s, names), partial(tensors, owner))
                gy, _ = nd.post[s - 1].backward_post({}, w, gy, ctx, False)
            ctx.ins = nd.in_shapes
            w = _LazyTensors(_stage_names(nd, 0, names), partial(tensors, owner))
            dxs, _ = nd.op.backward({}, w, gy, ctx, True, False)
            refs = len(type(nd.op).REF_INPUTS)
            for i, (name, gi) in enumerate(zip(nd.inputs, dxs, strict=True)):
                if gi is None or i >= len(nd.inputs) - refs:
                    continue
                grads[name] = _accumulate(grads[name], gi) if name in grads else gi
    except (NotImplementedError, KeyError):  # a backward that cannot run without saved tensors
        return None
    result = grads.get(source)
    if result is None:
        return np.zeros((len(seeds), *dict(graph.inputs)[source][1:]), bool)
    found: Array = np.asarray(np.asarray(result > 0).any(axis=1))
    return found


def _accumulate(a: Array, b: Array) -> Array:
    """``a + b``, two support gradients reaching one tensor; when both are one map broadcast
    over the channels (stride 0: convolutions' supports), one map added and broadcast again,
    so that no ``C`` identical copies are made."""
    if (a.ndim > 1 and a.shape == b.shape and a.shape[1] > 1
            and a.strides[1] == 0 and b.strides[1] == 0):
        return np.broadcast_to(a[:, :1] + b[:, :1], a.shape)
    out: Array = a + b
    return out


def extent(mask: Array, axis: int) -> tuple[int, int] | None:
    """First and last index along ``axis`` of a ``(*n)`` mask that is set, or None."""
    others = tuple(b for b in range(mask.ndim) if b != axis)
    hits = np.flatnonzero(mask.any(axis=others) if others else mask)
    if hits.size == 0:
        return None
    return int(hits[0]), int(hits[-1])


# ------------------------------------------------------------------------- training step --


@dataclass(frozen=True)
class TrainStep:
    """One node of a training step: the engine's training rules (:mod:`archcalc.training`)
    beside what the executor did — the MACs of each gradient counted through
    :class:`~archcalc.executor.Context`, the bytes it was the first to keep for backward
    measured on the arrays kept (the batch and regions included)."""

    name: str
    type: str
    need_dx: bool
    need_dw: bool
    input_macs: int
    input_macs_counted: int
    weight_macs: int
    weight_macs_counted: int
    saved_bytes: int
    saved_bytes_kept: int
    seconds: float
    problems: tuple[str, ...] = ()
    #: False for the nodes of a step that stopped before their backward (nothing measured)
    ran: bool = True
    #: False when both gradients came from one call (``train_step(split=False)``): the counted
    #: MACs are then all under ``input_macs_counted`` and only their sum is compared
    split: bool = True

    @property
    def all_problems(self) -> tuple[str, ...]:
        found = list(self.problems)
        if not self.ran:
            return tuple(found)
        counted = self.input_macs_counted + self.weight_macs_counted
        if not self.split and counted != self.input_macs + self.weight_macs:
            found.append(f"the backward took {counted:,} MACs but the engine counts "
                         f"{self.input_macs + self.weight_macs:,}")
        elif self.split and self.input_macs_counted != self.input_macs:
            found.append(f"the input gradient took {self.input_macs_counted:,} MACs but the "
                         f"engine counts {self.input_macs:,}")
        if self.split and self.weight_macs_counted != self.weight_macs:
            found.append(f"the weight gradient took {self.weight_macs_counted:,} MACs but the "
                         f"engine counts {self.weight_macs:,}")
        if self.saved_bytes_kept != self.saved_bytes:
            found.append(f"kept {self.saved_bytes_kept:,} bytes for backward but the engine "
                         f"counts {self.saved_bytes:,}")
        return tuple(found)

    @property
    def ok(self) -> bool:
        return not self.all_problems

    @property
    def verdict(self) -> str:
        if self.problems:
            return "error"
        if not self.ran:
            return "not run"
        if (self.input_macs_counted, self.weight_macs_counted) != (self.input_macs,
                                                                   self.weight_macs) and (
                self.split or self.input_macs_counted + self.weight_macs_counted
                != self.input_macs + self.weight_macs):
            return "MACs mismatch"
        if self.saved_bytes_kept != self.saved_bytes:
            return "saved mismatch"
        return "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "input_gradient": self.need_dx,
                "weight_gradient": self.need_dw,
                "backward_input_macs": self.input_macs,
                "backward_input_macs_counted": self.input_macs_counted,
                "backward_weight_macs": self.weight_macs,
                "backward_weight_macs_counted": self.weight_macs_counted,
                "saved_bytes": self.saved_bytes, "saved_bytes_kept": self.saved_bytes_kept,
                "seconds": self.seconds, "verdict": self.verdict,
                "problems": list(self.all_problems)}


@dataclass(frozen=True)
class TrainingRun:
    """The outcome of :func:`train_step`: per-node :class:`TrainStep` records, the totals kept
    and the training peak, engine beside measurement (bytes)."""

    name: str
    batch: int
    seed: int
    steps: tuple[TrainStep, ...]
    planned: int
    saved_bytes: int
    saved_bytes_kept: int
    #: the engine's training peak (weights, buffers, optimizer state, the schedule's largest
    #: point) and the largest sum of the executor's live arrays at the same points
    predicted_peak_bytes: int
    peak_bytes: int
    peak_at: str
    forward_seconds: float
    backward_seconds: float
    training: Any = field(repr=False, default=None)
    #: node → its trainable tensors' gradients (``keep_grads``; a shared tensor's at its owner)
    gradients: Mapping[str, Mapping[str, Array]] = field(repr=False, default_factory=dict)
    problems: tuple[str, ...] = ()
    #: bytes alive at every point of the schedule (forward of each node, backward of each in
    #: reverse, the update), the engine's and the executor's, weights and buffers included
    predicted_points: tuple[int, ...] = field(repr=False, default=())
    points: tuple[int, ...] = field(repr=False, default=())
    #: the CPU time of this process (``time.process_time``, every thread) over the forward
    #: and the backward, beside their wall times: steadier on a machine other processes load
    forward_cpu_seconds: float = 0.0
    backward_cpu_seconds: float = 0.0
    #: node → the buffers the training forward updated (BN's and tracked InstanceNorm's
    #: running statistics, as PyTorch's ``train()`` moves them; a shared layer's at its owner,
    #: after every use), named as in the node's tensors (``bn.running_mean`` for a fused BN):
    #: new arrays — the weights the step was given are left as they were
    buffers: Mapping[str, Mapping[str, Array]] = field(repr=False, default_factory=dict)

    @property
    def ok(self) -> bool:
        return (len(self.steps) == self.planned and all(s.ok for s in self.steps)
                and self.saved_bytes_kept == self.saved_bytes
                and self.peak_bytes == self.predicted_peak_bytes and not self.problems)

    @property
    def failures(self) -> tuple[TrainStep, ...]:
        """The nodes that disagree, an error (a failed forward or backward) first."""
        bad = [s for s in self.steps if not s.ok or s.verdict == "error"]
        return tuple(sorted(bad, key=lambda s: s.verdict != "error"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "batch": self.batch, "seed": self.seed, "ok": self.ok,
            "layers": [s.to_dict() for s in self.steps],
            "totals": {
                "backward_input_macs": sum(s.input_macs for s in self.steps),
                "backward_input_macs_counted": sum(s.input_macs_counted for s in self.steps),
                "backward_weight_macs": sum(s.weight_macs for s in self.steps),
                "backward_weight_macs_counted": sum(s.weight_macs_counted
                                                    for s in self.steps),
                "saved_bytes": self.saved_bytes, "saved_bytes_kept": self.saved_bytes_kept,
                "forward_seconds": self.forward_seconds,
                "backward_seconds": self.backward_seconds,
            },
            "memory": {"predicted_peak_bytes": self.predicted_peak_bytes,
                       "peak_bytes": self.peak_bytes, "peak_at": self.peak_at},
            "buffers": {node: {name: [float(v) for v in a.reshape(-1)]
                               for name, a in found.items()}
                        for node, found in self.buffers.items()},
            "problems": list(self.problems),
        }


def _key(name: str, node: Node, stage: int, stages: int,
         w: Mapping[str, Array]) -> tuple[str, ...]:
    """The identity of a tensor a layer keeps, as the engine's training model counts tensors:
    ``y`` the node's output (a fused layer's inner output its own), ``x``/``x0``… the input it
    read (a graph tensor: the same one another layer keeps), ``x1.indices`` the private tensor
    of input 1's producer, one of the layer's buffers (persistent, counted among the kept
    bytes but not again as alive), else its own private tensor."""
    head, _, tail = name.partition(".")
    if name == "y":
        return (node.name,) if stage == stages - 1 else (node.name, str(stage))
    if head == "x" or (head[:1] == "x" and head[1:].isdigit()):
        index = 0 if head == "x" else int(head[1:])
        source = (node.name, str(stage - 1)) if stage else (node.inputs[index],)
        return (*source, "", tail) if tail else source
    if name in w:
        return ("buffer", node.name, str(stage), name)
    return (node.name, str(stage) if stage else "", name)


def _fixed_dtype(token: str, run: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype a saved tensor must have in a run of dtype ``run``: ``act``/``param`` the run's,
    a fixed float at least as wide as the run's (float32 stays float32 in a float32 run),
    integers and bools exactly."""
    if token in ("act", "param"):
        return run
    fixed = np.dtype(token)
    return np.result_type(fixed, run) if fixed.kind == "f" else fixed


def _stage_flags(graph: Graph, frozen: Collection[str]) -> dict[str, list[tuple[bool, bool]]]:
    """(need_dx, need_dw) of every layer of every node, as autograd decides them: a tensor
    requires a gradient when a trainable layer (unfrozen, with parameters) produced it or one
    of its inputs requires one; a layer computes its input gradient when its input requires
    one, its weight gradient when its weights are trainable."""
    from .training import reaches_loss

    grad = {name: False for name in graph.input_names}
    out: dict[str, list[tuple[bool, bool]]] = {}
    reach = reaches_loss(graph)
    for node in graph.nodes:
        if node.name not in reach:  # no gradient reaches it: autograd never runs it
            out[node.name] = [(False, False)] * len(node.layers)
            grad[node.name] = False
            continue
        passes = node.op.gradient_inputs(node.in_shapes)
        flowing = any(grad[i] for i, p in zip(node.inputs, passes, strict=True) if p)
        flags = []
        for s, layer in enumerate(node.layers):
            ins = node.in_shapes if s == 0 else (node.out_shape,)
            need_dw = bool(layer.params(ins)) and node.name not in frozen
            flags.append((flowing, need_dw))
            flowing = flowing or need_dw
        out[node.name] = flags
        grad[node.name] = flowing
    return out


def train_step(spec: Any, x: ArrayLike | None = None, *, seed: int = 0,
               batch: int | None = None, dtype: np.dtype[Any] | type = np.float32,
               freeze: Any = None, weights: WeightFn | None = None, split: bool = True,
               keep_grads: bool = False, max_memory: int | str | None = None,
               on_step: Callable[[int, int, str], None] | None = None) -> TrainingRun:
    """One training step of ``spec`` on real tensors, held to the engine's training rules.

    The forward runs in training mode (``Layer.forward_train``: batch norm on batch statistics,
    dropout with a mask); after each layer the executor keeps exactly what its ``saves`` rule
    names — its input or output (graph tensors: one storage however many layers keep it), its
    own buffers, the private tensors ``forward_train`` returned (failing the step when their
    names, shapes or dtypes differ from the rule's). The loss is ``Σ y·g`` over the outputs for
    seeded noise ``g``; the backward runs node by node in reverse order, each ``backward``
    given only its kept tensors (``split``: the input and the weight gradient in two calls, so
    each gradient's MACs are counted apart), frees what it kept once no later backward needs
    it, and frees each gradient after its producer's backward. Bytes alive (activations, kept
    tensors, gradients) are summed over the arrays at the engine's schedule points; the largest,
    plus the weights and buffers, is set beside the engine's training peak (float32 runs).

    The training forward also moves the running statistics (BN, tracked InstanceNorm) as
    PyTorch's ``train()`` does; the new values are returned in ``buffers`` (the weights given
    are not written).

    ``freeze``: a :class:`~archcalc.training.Freeze` or ``--freeze`` text; ``weights``: as
    :func:`archcalc.executor.run`; ``keep_grads``: return the weight gradients;
    ``max_memory``: the step is refused before anything is allocated when the engine's training
    peak, the largest im2col matrix and the largest layer's temporaries pass it.
    """
    from . import to_graph, validate
    from .executor import _input_tensors, init_weights
    from .training import Freeze, as_freeze, frozen_nodes, merge_freeze

    x, seed, batch = validate.run_arguments(x, seed, batch)
    graph = to_graph(spec)
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ExecError(f"the NumPy training step runs float32 or float64, not {dt}",
                        hint="use dtype=np.float32 (or float64 for gradient checks)")
    fz = as_freeze(freeze) or Freeze()
    # the spec's `freeze:` and the argument, as the engine merges them
    frozen = frozen_nodes(graph, merge_freeze(Freeze.of(graph.freeze), fz))
    xins = _input_tensors(graph, x, batch, seed, dt)
    batch = next(iter(xins.values())).shape[0]
    trep = check_step(graph, batch=batch, freeze=fz, itemsize=dt.itemsize,
                      max_memory=max_memory)
    rows = {row.name: row for row in trep.layers}
    fwd_rows = {row.name: row for row in trep.report.layers}
    flags = _stage_flags(graph, frozen)
    requires = {name: False for name in graph.input_names}
    requires.update({nd.name: any(a or b for a, b in flags[nd.name]) for nd in graph.nodes})
    measured = dt == np.dtype(np.float32)  # the engine predicts float32 bytes
    ctx = Context(dt, seed=seed)
    make = weights or (lambda node: init_weights(node, seed, dt))
    nodes = graph.nodes
    n = len(nodes)
    problems: dict[str, list[str]] = {nd.name: [] for nd in nodes}
    # every tensor alive beyond the persistent weights and buffers, by its identity in the
    # engine's model (:func:`_key`): a graph tensor is one tensor wherever it is held (a
    # node's output, an input another layer keeps), a private tensor its layer's own, each
    # gradient its own — the forward tensors (env), the kept tensors and the gradients
    env: dict[str, Array] = dict(xins)
    kept: dict[str, list[dict[str, Array]]] = {}
    kept_keys: dict[str, dict[tuple[str, ...], int]] = {}
    grads: dict[str, Array] = {}
    wgrads: dict[str, dict[str, Array]] = {}
    tensors: dict[str, dict[str, Array]] = {}
    running: dict[str, dict[str, Array]] = {}  # owner → the buffers its forwards updated

    held = _Held()  # the kept tensors of every node, each identity once

    def live() -> int:
        return (held.total + sum(a.nbytes for k, a in env.items() if (k,) not in held)
                + sum(a.nbytes for a in grads.values())
                + sum(a.nbytes for d in wgrads.values() for a in d.values()))

    # forward liveness: a graph tensor is dropped after its last forward consumer unless kept
    last: dict[str, int] = {name: -1 for name in graph.input_names}
    for i, nd in enumerate(nodes):
        last[nd.name] = i
        for name in nd.inputs:
            last[name] = i
    outputs = {o.name for o in graph.outputs}
    first: set[tuple[str, ...]] = set()  # kept tensors counted at their first keeper
    kept_bytes = {nd.name: 0 for nd in nodes}
    privates: dict[str, dict[str, Array]] = {}  # node → its op's private tensors (x1.indices)
    points: list[int] = []
    fwd_macs: dict[str, int] = {}
    seconds: dict[str, float] = {}
    started, cpu = time.perf_counter(), time.process_time()
    for i, nd in enumerate(nodes):
        if on_step is not None:
            on_step(i, 2 * n, nd.name)
        owner = graph.node(nd.shares) if nd.shares else nd
        if owner.name not in tensors:
            params, buffers = make(owner)
            tensors[owner.name] = {**params, **buffers}
        w = tensors[owner.name]
        if owner.name in running:  # a shared layer used again: from the buffers' new values
            w = {**w, **running[owner.name]}
        t0 = time.perf_counter()
        macs0 = ctx.macs
        ins = [env[name] for name in nd.inputs]
        for k, ref in enumerate(type(nd.op).REF_INPUTS):
            if ref == "indices":  # the named pool's argmax positions: its private tensor
                at = len(ins) - len(type(nd.op).REF_INPUTS) + k
                ins[at] = privates[nd.inputs[at]]["indices"]
        stage_kept: list[dict[str, Array]] = []
        y: Array | None = None
        try:
            for s, layer in enumerate(nd.layers):
                sw = stage_weights(nd, s, w)
                stage_in = ins if s == 0 else [y]
                ctx.updates = {}
                if s == 0:
                    y, private = layer.forward_train(ins, sw, ctx)
                    privates[nd.name] = private
                else:
                    assert y is not None
                    if any(np.may_share_memory(y, a) for a in ins):
                        y = y.copy()  # post-ops may work in place: never on an input
                    y, private = layer.forward_train_inplace(y, sw, ctx)
                if ctx.updates:
                    head = f"{nd.post[s - 1].type_name}." if s else ""
                    running.setdefault(owner.name, {}).update(
                        {head + k: v for k, v in ctx.updates.items()})
                need_dx, need_dw = flags[nd.name][s]
                if need_dx or need_dw:
                    shapes = nd.in_shapes if s == 0 else (nd.out_shape,)
                    stage_kept.append(_collect(layer, shapes, nd.out_shape, need_dx, need_dw,
                                               stage_in, y, private, sw, privates, nd, dt,
                                               problems[nd.name]))
                else:
                    stage_kept.append({})
        except (ArchcalcError, ValueError, IndexError, TypeError, KeyError,
                NotImplementedError) as exc:
            problems[nd.name].append(f"the training forward failed: {exc}")
            return _stopped(graph, trep, batch, seed, problems, i)
        assert y is not None
        fwd_macs[nd.name] = ctx.macs - macs0
        seconds[nd.name] = time.perf_counter() - t0
        if fwd_macs[nd.name] != fwd_rows[nd.name].macs:
            problems[nd.name].append(f"the training forward performed {fwd_macs[nd.name]:,} "
                                     f"MACs but the engine counts {fwd_rows[nd.name].macs:,}")
        env[nd.name] = y
        kept[nd.name] = stage_kept
        keys = {_key(name, nd, s, len(nd.layers), stage_weights(nd, s, w)): a.nbytes
                for s, d in enumerate(stage_kept) for name, a in d.items()}
        kept_keys[nd.name] = keys
        held.add(keys)
        for key, nbytes in keys.items():  # the bytes it is the first to keep (buffers too)
            if key not in first:
                first.add(key)
                kept_bytes[nd.name] += nbytes
        points.append(live())
        for name in [*nd.inputs, nd.name]:
            if last.get(name) == i and name not in outputs:
                env.pop(name, None)
    forward_seconds, forward_cpu = time.perf_counter() - started, time.process_time() - cpu
    # the backward: the loss Σ y·g over the outputs
    rng = np.random.default_rng([seed, 0x6EAD])
    for output in graph.outputs:  # (an output no trainable layer produced has none)
        if output.name in env and requires.get(output.name, False):
            grads[output.name] = rng.standard_normal(env[output.name].shape).astype(dt)
    env.clear()  # the forward tensors left are the outputs: their values are not needed
    counted: dict[str, tuple[int, int]] = {}
    started, cpu = time.perf_counter(), time.process_time()
    for j in reversed(range(n)):
        nd = nodes[j]
        if on_step is not None:
            on_step(2 * n - 1 - j, 2 * n, nd.name)
        t0 = time.perf_counter()
        stage_flags = flags[nd.name]
        in_backward = any(a or b for a, b in stage_flags)
        gy = grads.get(nd.name)
        if in_backward and gy is None:  # on no path to an output: a zero gradient
            gy = np.zeros((batch * nd.multiplicity, *nd.out_shape), dt)
        dx_macs = dw_macs = 0
        if in_backward and gy is not None:
            owner = graph.node(nd.shares) if nd.shares else nd
            w = tensors[owner.name]
            try:
                dxs, dws, dx_macs, dw_macs, inner = _node_backward(nd, w, gy, kept[nd.name],
                                                                   stage_flags, ctx, split)
            except (ArchcalcError, ValueError, IndexError, TypeError, KeyError,
                    NotImplementedError) as exc:
                problems[nd.name].append(f"the backward failed: {type(exc).__name__}: {exc}")
                return _stopped(graph, trep, batch, seed, problems, n - 1)
            if dws:
                mine = wgrads.setdefault(owner.name, {})
                for tname, v in dws.items():
                    mine[tname] = mine[tname] + v if tname in mine else v
            passes = nd.op.gradient_inputs(nd.in_shapes)
            for name, gi, p in zip(nd.inputs, dxs, passes, strict=True):
                if gi is None or not p or not requires[name]:
                    continue  # an index or size input, or one no trainable layer produced
                grads[name] = grads[name] + gi if name in grads else gi
        else:
            inner = 0
        counted[nd.name] = (dx_macs, dw_macs)
        seconds[nd.name] += time.perf_counter() - t0
        points.append(live() + inner)
        grads.pop(nd.name, None)
        kept.pop(nd.name, None)
        held.drop(kept_keys.pop(nd.name, {}))
    backward_seconds, backward_cpu = time.perf_counter() - started, time.process_time() - cpu
    points.append(live())  # the update: the weight gradients
    steps = []
    for nd in nodes:
        row = rows[nd.name]
        dx_m, dw_m = counted.get(nd.name, (0, 0))
        if (row.need_dx, row.need_dw) != (flags[nd.name][0][0],
                                          any(b for _, b in flags[nd.name])):
            problems[nd.name].append("the engine's gradient flags differ from autograd's")
        steps.append(TrainStep(nd.name, nd.type_name, row.need_dx, row.need_dw,
                               row.backward_input_macs, dx_m, row.backward_weight_macs, dw_m,
                               row.saved_bytes, kept_bytes[nd.name] if measured
                               else row.saved_bytes, seconds[nd.name],
                               tuple(problems[nd.name]), split=split))
    fixed = sum(a.nbytes for d in tensors.values() for a in d.values())
    where = _point(nodes, int(np.argmax(points)))
    peak = fixed + max(points)
    total_kept = sum(kept_bytes.values())
    t = trep.totals
    # the engine's bytes at every point of its schedule (weights and buffers included)
    predicted = [const + per * batch for const, per in trep.peak_terms]
    found = [fixed + p for p in points]
    run_problems: tuple[str, ...] = ()
    if measured:
        for index, (want, got) in enumerate(zip(predicted, found, strict=True)):
            if want != got:
                run_problems = (f"at the {_point(nodes, index)} {got:,} bytes are alive but "
                                f"the engine's training schedule counts {want:,}",)
                break
    return TrainingRun(graph.name, batch, seed, tuple(steps), n, t.saved_bytes,
                       total_kept if measured else t.saved_bytes,
                       t.peak_bytes, peak if measured else t.peak_bytes,
                       where, forward_seconds, backward_seconds, trep,
                       wgrads if keep_grads else {}, run_problems, tuple(predicted),
                       tuple(found), forward_cpu, backward_cpu, running)


class _Held:
    """The tensors kept for backward, by identity (:func:`_key`), with how many layers hold
    each: ``total`` is the bytes of the distinct ones, buffers left out (they are counted with
    the weights) — kept up to date as nodes keep and release, so measuring the bytes alive at
    each schedule point does not re-walk every kept tensor."""

    def __init__(self) -> None:
        self.count: dict[tuple[str, ...], int] = {}
        self.size: dict[tuple[str, ...], int] = {}
        self.total = 0

    def __contains__(self, key: tuple[str, ...]) -> bool:
        return key in self.count

    def add(self, keys: Mapping[tuple[str, ...], int]) -> None:
        for key, nbytes in keys.items():
            held = self.count.get(key, 0)
            if not held:
                self.size[key] = nbytes
                self.total += 0 if key[0] == "buffer" else nbytes
            self.count[key] = held + 1

    def drop(self, keys: Collection[tuple[str, ...]]) -> None:
        for key in keys:
            held = self.count.pop(key) - 1
            if held:
                self.count[key] = held
            else:
                nbytes = self.size.pop(key)
                self.total -= 0 if key[0] == "buffer" else nbytes


def _point(nodes: Sequence[Node], index: int) -> str:
    """The name of a schedule point: each node's forward, each node's backward in reverse, the
    optimizer update."""
    n = len(nodes)
    if index < n:
        return f"forward of {nodes[index].name}"
    if index < 2 * n:
        return f"backward of {nodes[2 * n - 1 - index].name}"
    return "optimizer update"


def _collect(layer: Layer, ins: tuple[Any, ...], out: Any, need_dx: bool, need_dw: bool,
             inputs: Sequence[Array | None], y: Array, private: Mapping[str, Array],
             w: Mapping[str, Array], producers: Mapping[str, Mapping[str, Array]], node: Node,
             dt: np.dtype[Any], problems: list[str]) -> dict[str, Array]:
    """The ``saved`` mapping of one layer, exactly what its ``saves`` rule names: ``x``/``x0``…
    its inputs, ``y`` its output, ``x1.indices`` the private tensor of input 1's producer, a
    name of one of its own buffers that buffer, any other name a private tensor of its
    ``forward_train`` — which must return exactly those (a shape or dtype off is a problem)."""
    declared = layer.saves(ins, out, need_dx, need_dw)
    graph_names = {"y"} | ({"x"} if len(inputs) == 1 else {f"x{i}" for i in range(len(inputs))})
    buffers = {t.name for t in layer.tensors(ins) if t.role in BUFFER_ROLES}
    def own(items: Sequence[Any]) -> set[str]:
        return {s.name for s in items if s.name not in graph_names and "." not in s.name
                and s.name not in buffers}

    wanted = own(declared)
    # forward_train does not know the flags: it may make what the rule keeps with both
    # gradients, never anything else, and at least what it keeps with these flags
    possible = wanted | own(layer.saves(ins, out, True, True))
    if not wanted <= set(private) <= possible:
        problems.append(f"{layer.type_name}: the training forward returned private tensors "
                        f"{sorted(private)} but the rule keeps {sorted(wanted)}")
    found: dict[str, Array] = {}
    for item in declared:
        head, _, tail = item.name.partition(".")
        if item.name == "y":
            a: Array | None = y
        elif item.name in graph_names:
            a = inputs[0 if item.name == "x" else int(item.name[1:])]
        elif tail:
            a = producers.get(node.inputs[int(head[1:])], {}).get(tail)
        elif item.name in buffers:
            a = w.get(item.name)
        else:
            a = private.get(item.name)
        if a is None:
            problems.append(f"{layer.type_name}: the rule keeps {item.name!r}, which the "
                            "training forward did not make")
            continue
        shape = tuple(a.shape[1:]) if item.per_sample else tuple(a.shape)
        want = _fixed_dtype(item.dtype, dt)
        if shape != tuple(item.shape) or a.dtype != want:
            problems.append(f"{layer.type_name}: kept {item.name!r} is {a.dtype} "
                            f"{list(shape)} but the rule says {want} {list(item.shape)}"
                            + ("" if item.per_sample else " (whole tensor)"))
        found[item.name] = a
    return found


def _node_backward(node: Node, w: Mapping[str, Array], gy: Array,
                   kept: Sequence[Mapping[str, Array]], flags: Sequence[tuple[bool, bool]],
                   ctx: Context, split: bool
                   ) -> tuple[tuple[Array | None, ...], dict[str, Array], int, int, int]:
    """The backward of one node: its fused post-ops in reverse, then its op. The input
    gradients, the weight gradients (a post-op's under its prefix), the MACs of the input and
    the weight gradients (``split``: two calls of the op's backward, each gradient alone) and
    the bytes of the largest inner gradient."""
    dws: dict[str, Array] = {}
    dx_macs = dw_macs = inner = 0
    for s in reversed(range(1, len(node.layers))):
        post = node.layers[s]
        need_dx, need_dw = flags[s]
        if not (need_dx or need_dw):
            continue
        ctx.ins = (node.out_shape,)
        macs0 = ctx.macs
        gy, got = post.backward_post(kept[s], stage_weights(node, s, w), gy, ctx, need_dw)
        dx_macs += ctx.macs - macs0
        dws.update({f"{post.type_name}.{k}": v for k, v in got.items()})
        if s > 1 or flags[0][0] or flags[0][1]:
            inner = max(inner, gy.nbytes)
    need_dx, need_dw = flags[0]
    dxs: tuple[Array | None, ...] = tuple(None for _ in node.inputs)
    if need_dx or need_dw:
        ctx.ins = node.in_shapes
        op_w = stage_weights(node, 0, w)
        if split and need_dx and need_dw:
            macs0 = ctx.macs
            _, got = node.op.backward(kept[0], op_w, gy, ctx, False, True)
            dw_macs += ctx.macs - macs0
            macs0 = ctx.macs
            dxs, _ = node.op.backward(kept[0], op_w, gy, ctx, True, False)
            dx_macs += ctx.macs - macs0
        else:
            macs0 = ctx.macs
            dxs, got = node.op.backward(kept[0], op_w, gy, ctx, need_dx, need_dw)
            if need_dx:
                dx_macs += ctx.macs - macs0
            else:
                dw_macs += ctx.macs - macs0
        dws.update(got)
    return dxs, dws, dx_macs, dw_macs, inner


def _stopped(graph: Graph, trep: Any, batch: int, seed: int,
             problems: Mapping[str, list[str]], index: int) -> TrainingRun:
    """A step that stopped at node ``index``: its records so far, not ok."""
    steps = []
    for nd in graph.nodes[:index + 1]:
        row = next(r for r in trep.layers if r.name == nd.name)
        steps.append(TrainStep(nd.name, nd.type_name, row.need_dx, row.need_dw,
                               row.backward_input_macs, 0, row.backward_weight_macs, 0,
                               row.saved_bytes, 0, 0.0, tuple(problems[nd.name]), False))
    t = trep.totals
    return TrainingRun(graph.name, batch, seed, tuple(steps), len(graph.nodes), t.saved_bytes,
                       0, t.peak_bytes, 0, "", 0.0, 0.0, trep,
                       problems=("the training step stopped early",))


def check_step(graph: Graph, *, batch: int, freeze: Freeze | str | None = None, itemsize: int = 4,
               max_memory: int | str | None = None) -> TrainingReport:
    """Refuse a training step of ``graph`` before anything runs or is allocated — a layer that
    cannot train at ``batch`` (:func:`_check_training`), a step past the memory budget
    (:func:`_check_budget`, ``itemsize`` bytes per element) — and return the engine's
    training report it was judged by. :func:`train_step` calls it first; ``archcalc verify
    --training`` calls it before its forward check too, so that such a refusal comes at once."""
    from . import validate
    from .training import analyze_training

    if not isinstance(graph, Graph):
        raise TypeError(f"check_step() takes a Graph (from build), got {type(graph).__name__}")
    batch = validate.batch_size(batch)
    _check_training(graph, batch)
    trep = analyze_training(graph, batch=batch, freeze=freeze)
    _check_budget(graph, trep.totals.peak_bytes, batch, itemsize, max_memory)
    return trep


def _check_training(graph: Graph, batch: int) -> None:
    """Refuse, before anything runs, a step a layer cannot take at ``batch``
    (:meth:`~archcalc.layers.Layer.check_training`: a batch norm on one value per channel),
    naming the layer and where the spec writes it."""
    from .errors import LayerArgError

    for nd in graph.nodes:
        for s, layer in enumerate(nd.layers):
            try:
                layer.check_training(nd.in_shapes if s == 0 else (nd.out_shape,),
                                     batch * nd.multiplicity)
            except LayerArgError as exc:
                raise ExecError(exc.what, loc=nd.loc, hint=exc.hint,
                                layer=f"layer {nd.name!r} ({layer.type_name})") from None


def _check_budget(graph: Graph, peak: int, batch: int, itemsize: int,
                  max_memory: int | str | None) -> None:
    """Refuse, before anything is allocated, a step whose engine training peak (float32 bytes,
    scaled to ``itemsize``) plus the largest im2col matrix and layer temporaries of
    :func:`archcalc.budget.predict` — twice, for a backward's canvas beside its columns —
    passes ``max_memory`` (default: :func:`archcalc.budget.default_budget`)."""
    from .budget import budget_bytes, default_budget, fmt_bytes, predict

    prediction = predict(graph, batch, itemsize=itemsize, whole_im2col=True)
    working = max((st.scratch + st.transient for st in prediction.steps), default=0)
    need = peak * itemsize // 4 + 2 * working
    if max_memory is None:
        limit, source = default_budget()
    else:
        limit, source = budget_bytes(max_memory), "set by --max-memory"
    if need > limit:
        raise ExecError(
            f"one training step needs about {fmt_bytes(need)} at batch {batch} (the engine's "
            f"training peak {fmt_bytes(peak * itemsize // 4)}, im2col scratch and "
            f"temporaries): more than the memory budget of {fmt_bytes(limit)} ({source})",
            hint="use a smaller batch or input, or raise the budget with --max-memory SIZE "
                 "if the memory is there")
