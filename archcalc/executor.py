"""The NumPy reference executor: the engine predicts, the executor proves.

:func:`run` instantiates every node of a shaped :class:`~archcalc.graph.Graph` with seeded
random weights, pushes a real batched float32 tensor (``N, C, …``) through it and records, per
node, what it actually saw beside what the engine predicted:

* the output shape — found by the array operations themselves (NumPy's window slicing, the
  scatter of a transposed convolution), never by the engine's size formulas;
* the parameter and buffer counts — the executor allocates exactly the tensors named by
  ``node.weights()`` / ``node.buffer_shapes()`` (the rule the engine counts), and sums their
  sizes;
* the MACs — :class:`Context` counts the multiply-accumulates of every matrix product it
  performs (``m·k·n`` per product, times the broadcast batch), and of the two element-wise
  products the engine counts as MACs (depthwise taps, LeNet's subsampling coefficient);
* memory — activations are dropped after their last consumer (the engine's liveness rule), so
  the largest sum of live activation bytes can be set beside the engine's predicted peak.

Each layer class carries its own NumPy forward (``Layer.forward``, in
:mod:`archcalc.layers`), with PyTorch's semantics wherever PyTorch defines them:
cross-correlation, padding per side, ``ceil_mode``, ``count_include_pad``, ``output_padding``,
dilation, groups, adaptive windows ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)``, nearest and (bi)linear resizing
with ``align_corners``, ``channel_shuffle``, LRN. This module runs them: it allocates each
node's tensors by their role (:data:`INIT`), calls the forwards in graph order, counts MACs
through :class:`Context` and frees activations after their last use.

Convolution is im2col (a strided window view copied once into a reusable scratch buffer, no
Python loop over pixels or channels) followed by one BLAS matrix product per group; depthwise
convolution accumulates its ``∏k`` shifted taps; grouped convolution is a batched product over
groups, never a dense block-diagonal weight.

This module needs NumPy; ``import archcalc`` does not import it.
"""

from __future__ import annotations

import math
import time
import tracemalloc
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .engine import analyze_graph
from .errors import ArchcalcError, ExecError
from .graph import Graph, Node, ancestors
from .layers import (
    BIAS,
    BUFFER_ROLES,
    COEFFICIENT,
    FROZEN_SCALE,
    FROZEN_SHIFT,
    RUNNING_MEAN,
    RUNNING_VAR,
    SCALE,
    SHIFT,
    WEIGHT,
    Tensor,
)
from .report import Report
from .shapes import Shape, prod

Array = NDArray[Any]
Weights = Mapping[str, Array]

__all__ = [
    "INIT",
    "PROBE",
    "Context",
    "Execution",
    "RFAxisCheck",
    "RFCheck",
    "Step",
    "execute",
    "init_weights",
    "measure_receptive_field",
    "probe_weights",
    "run",
]


class Context:
    """State of one run shared by the forwards: the MAC meter and a reusable scratch buffer.

    ``matmul`` is the only way a forward multiplies matrices, so ``macs`` is the number of
    multiply-accumulates actually performed: ``m·k·n`` for an ``(m × k) @ (k × n)`` product, times
    the number of products NumPy broadcasts over the leading axes.
    """

    def __init__(self, dtype: np.dtype[Any] | type = np.float32, seed: int = 0) -> None:
        self.dtype: np.dtype[Any] = np.dtype(dtype)
        self.macs = 0
        #: the training forward's random draws (dropout masks), reproducible by ``seed``
        self.rng = np.random.default_rng(seed)
        #: the per-sample input shapes of the layer being run: the executor sets them before a
        #: ``backward``/``backward_post`` (concat's split, flatten's and crop's original shape
        #: come from them, as autograd keeps sizes, not tensors)
        self.ins: tuple[tuple[int, ...], ...] = ()
        #: the receptive field by one backward pass (:func:`archcalc.backprop.support_field`):
        #: ``backward`` then reads nothing saved and returns a non-negative input gradient,
        #: non-zero exactly where the output depends on the input (a maximum: its whole window)
        self.support = False
        #: the buffers a training forward changed (BN's running statistics), by tensor name,
        #: new arrays: the executor empties it before each layer's ``forward_train`` and
        #: collects it after (the weights it was given are never written)
        self.updates: dict[str, Array] = {}
        self._scratch: Array = np.empty(0, self.dtype)
        self._weights: Array = np.empty(0, np.float32)

    def weight_store(self, n: int) -> Array:
        """A flat float32 array of at least ``n`` elements for one node's seeded weights
        (:func:`init_weights` ``store=``), grown on demand and reused by every node of the run:
        its pages stay mapped, so fc7's weights (64 MB) are written where fc6's were instead
        of page-faulting fresh memory that the kernel must first zero. Valid until the next
        call: the executor copies an output that would alias it."""
        if self._weights.size < n:
            self._weights = np.empty(0, np.float32)  # the old store goes before the new one
            self._weights = np.empty(n, np.float32)
        return self._weights

    @property
    def weight_store_bytes(self) -> int:
        """The bytes :meth:`weight_store` holds."""
        return int(self._weights.nbytes)

    def in_weight_store(self, a: Array) -> bool:
        """Whether ``a`` may be a view of :meth:`weight_store` (by address ranges)."""
        return bool(self._weights.size) and bool(np.may_share_memory(a, self._weights))

    def scratch(self, shape: Sequence[int]) -> Array:
        """A C-contiguous array of ``shape`` in the run's scratch buffer (grown on demand and
        reused, so the im2col copies of successive layers do not page-fault fresh memory).
        Valid until the next call: never return it from a forward."""
        n = prod(shape)
        if self._scratch.size < n:
            self._scratch = np.empty(n, self.dtype)
        return self._scratch[:n].reshape(tuple(shape))

    def matmul(self, a: Array, b: Array, out: Array | None = None) -> Array:
        """``a @ b`` with NumPy broadcasting; counts ``∏batch·m·k·n`` MACs."""
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        self.macs += prod(batch) * a.shape[-2] * a.shape[-1] * b.shape[-1]
        result: Array = np.matmul(a, b) if out is None else np.matmul(a, b, out=out)
        return result

    def count(self, macs: int) -> None:
        """Record multiply-accumulates done element-wise (depthwise taps, subsampling)."""
        self.macs += macs


# ---------------------------------------------------------------------------------- weights --

WeightFn = Callable[[Node], tuple[dict[str, Array], dict[str, Array]]]
#: (tensor, generator) → its values
Rule = Callable[[Tensor, np.random.Generator], Array]


class InitRule(Protocol):
    """(tensor, generator, ``out``) → its float32 values, written into ``out`` when given."""

    def __call__(self, t: Tensor, rng: np.random.Generator,
                 out: Array | None = None) -> Array: ...


#: values per block of :func:`_uniform`: made and scaled while they are in the L2 cache
#: (256 KiB of float32)
_BLOCK = 1 << 16


def _uniform(shape: Shape, rng: np.random.Generator, scale: float | np.float32,
             shift: float | np.float32, out: Array | None = None) -> Array:
    """``rng.random(shape, float32) · scale − shift`` in float32, block by block: each block is
    scaled while it is in cache instead of two more passes over a tensor of up to 411 MB
    (VGG-16's fc6). The values are those of the one call: the generator's stream is consumed
    in order either way (``tests/test_execute.py`` holds them to the unblocked arithmetic).
    ``out``: a float32 array of ``shape`` to write them into (default: a new one)."""
    if out is None:
        out = np.empty(shape, np.float32)
    flat = out.reshape(-1)
    factor, offset = np.float32(scale), np.float32(shift)
    for lo in range(0, flat.size, _BLOCK):
        part = flat[lo:lo + _BLOCK]
        rng.random(out=part, dtype=np.float32)
        if factor != 1:
            part *= factor
        part -= offset
    return out


def _he_uniform(t: Tensor, rng: np.random.Generator, out: Array | None = None) -> Array:
    # PyTorch's kaiming_uniform_ with gain √2: U(−a, a), a = √(6/fan_in), variance 2/fan_in
    bound = np.float32(math.sqrt(6.0 / max(t.fan_in, 1)))
    return _uniform(t.shape, rng, 2 * bound, bound, out)


def _small(t: Tensor, rng: np.random.Generator, out: Array | None = None) -> Array:
    return _uniform(t.shape, rng, 0.2, 0.1, out)  # U(−0.1, 0.1)


def _around_one(t: Tensor, rng: np.random.Generator, out: Array | None = None) -> Array:
    return _uniform(t.shape, rng, 1.0, -0.5, out)  # U(0.5, 1.5)


def _normal(t: Tensor, rng: np.random.Generator, out: Array | None = None) -> Array:
    if out is None:
        out = np.empty(t.shape, np.float32)
    rng.standard_normal(out=out, dtype=np.float32)
    out *= np.float32(0.1)
    return out


#: How :func:`init_weights` fills a tensor of each role (the layer names the role, see
#: :data:`archcalc.layers.ROLES`): weights He uniform over their fan-in, so activations stay
#: O(1) at any depth; biases and shifts (β) U(−0.1, 0.1); scales (γ) and coefficients
#: U(0.5, 1.5); BN running mean N(0, 0.1²), running variance U(0.5, 1.5); a frozen BN's γ and
#: β as a scale and a shift.
INIT: Mapping[str, InitRule] = {
    WEIGHT: _he_uniform, BIAS: _small, SHIFT: _small, SCALE: _around_one,
    COEFFICIENT: _around_one, RUNNING_MEAN: _normal, RUNNING_VAR: _around_one,
    FROZEN_SCALE: _around_one, FROZEN_SHIFT: _small,
}


def _tensors(node: Node) -> tuple[list[Tensor], list[Tensor]]:
    """The node's (params, buffers) with their roles, in the engine's order."""
    specs = node.tensors()
    return ([t for t in specs if t.role not in BUFFER_ROLES],
            [t for t in specs if t.role in BUFFER_ROLES])


def _rule(rules: Mapping[str, Any], t: Tensor, node: Node, what: str) -> Any:
    rule = rules.get(t.role)
    if rule is None:
        raise ExecError(f"the executor has no {what} rule for the role {t.role!r} of the tensor "
                        f"{t.name!r} {list(t.shape)}", layer=node.name,
                        hint="add the role to archcalc.executor.INIT and PROBE")
    return rule


def init_weights(node: Node, seed: int = 0, dtype: np.dtype[Any] | type = np.float32, *,
                 store: Callable[[int], Array] | None = None
                 ) -> tuple[dict[str, Array], dict[str, Array]]:
    """(params, buffers) of ``node``, exactly the shapes the engine counts, filled by role
    (:data:`INIT`) and seeded by ``(seed, crc32(node name))`` so a node's weights do not depend
    on the rest of the graph. ``store``: ``n → `` a flat float32 array of at least ``n``
    elements to make float32 tensors in, one after the other (:meth:`Context.weight_store`);
    by default each is a new array."""
    rng = np.random.default_rng([seed, zlib.crc32(node.name.encode())])
    params, buffers = _tensors(node)
    flat = (store(sum(prod(t.shape) for t in (*params, *buffers)))
            if store is not None and np.dtype(dtype) == np.float32 else None)
    at = 0

    def make(t: Tensor) -> Array:
        nonlocal at
        rule: InitRule = _rule(INIT, t, node, "initialisation")
        if flat is None:
            return rule(t, rng).astype(dtype, copy=False)
        n = prod(t.shape)
        at += n
        return rule(t, rng, flat[at - n:at].reshape(t.shape))

    return {t.name: make(t) for t in params}, {t.name: make(t) for t in buffers}


# ------------------------------------------------------------------------------------- run --


@dataclass(frozen=True)
class Step:
    """What the executor observed for one node beside the engine's prediction (batch included
    in the MACs, excluded from the shapes)."""

    name: str
    type: str
    predicted_shape: Shape
    actual_shape: Shape | None
    params: int
    params_created: int
    buffers: int
    buffers_created: int
    macs: int
    macs_counted: int
    seconds: float
    finite: bool = True
    error: str | None = None
    #: when the output is not finite: the largest magnitude among the node's inputs (all
    #: finite: this is the first non-finite node), which tells an overflow from growth through
    #: depth (inputs near float32's 3.4e38) from a forward that made inf/NaN of ordinary values
    input_magnitude: float | None = None

    @property
    def problems(self) -> tuple[str, ...]:
        out = []
        if self.error is not None:
            out.append(self.error)
        elif self.actual_shape != self.predicted_shape:
            out.append(f"output shape {_fmt(self.actual_shape)} but the engine predicts "
                       f"{_fmt(self.predicted_shape)}")
        if self.params_created != self.params or self.buffers_created != self.buffers:
            out.append(f"created {self.params_created:,} params / {self.buffers_created:,} "
                       f"buffers but the engine counts {self.params:,} / {self.buffers:,}")
        if self.error is None and self.macs_counted != self.macs:
            out.append(f"performed {self.macs_counted:,} MACs but the engine counts "
                       f"{self.macs:,}")
        if not self.finite:
            out.append("non-finite values in the output")
        return tuple(out)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "error"
        if self.actual_shape != self.predicted_shape:
            return "shape mismatch"
        if self.params_created != self.params or self.buffers_created != self.buffers:
            return "params mismatch"
        if self.macs_counted != self.macs:
            return "MACs mismatch"
        return "ok" if self.finite else "non-finite"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "predicted_shape": list(self.predicted_shape),
            "actual_shape": None if self.actual_shape is None else list(self.actual_shape),
            "params": self.params,
            "params_created": self.params_created,
            "buffers": self.buffers,
            "buffers_created": self.buffers_created,
            "macs": self.macs,
            "macs_counted": self.macs_counted,
            "seconds": self.seconds,
            "verdict": self.verdict,
            "problems": list(self.problems),
        }


def _fmt(shape: Shape | None) -> str:
    return "none" if shape is None else "×".join(str(v) for v in shape)


@dataclass(frozen=True)
class Execution:
    """The outcome of :func:`run`: per-node :class:`Step` records, the kept activations
    (batched NumPy arrays by node name, ``"input"`` included) and memory figures in bytes."""

    name: str
    batch: int
    seed: int
    input_shape: Shape
    steps: tuple[Step, ...]
    activations: Mapping[str, Array]
    output: str
    predicted_peak_bytes: int
    peak_live_bytes: int
    peak_allocated_bytes: int | None
    seconds: float
    planned: int
    report: Report = field(repr=False)
    #: every input (name, shape) when there are several
    inputs: tuple[tuple[str, Shape], ...] = ()

    @property
    def ok(self) -> bool:
        """Every planned node ran and agreed with the engine."""
        return len(self.steps) == self.planned and all(step.ok for step in self.steps)

    @property
    def failures(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if not step.ok)

    @property
    def totals(self) -> Any:
        """The engine's totals of what ran: with the training-only layers (an auxiliary head)
        when they ran too, as they do unless ``targets`` leaves them out."""
        ran = {step.name for step in self.steps}
        extra = self.report.training_totals
        if extra is not None and any(row.training and row.name in ran
                                     for row in self.report.layers):
            return extra
        return self.report.totals

    @property
    def params_created(self) -> int:
        return sum(step.params_created for step in self.steps)

    @property
    def macs_counted(self) -> int:
        return sum(step.macs_counted for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "name": self.name,
            "batch": self.batch,
            "seed": self.seed,
            "input_shape": list(self.input_shape),
            **({"inputs": [{"name": n, "shape": list(sh)} for n, sh in self.inputs]}
               if self.inputs else {}),
            "ok": self.ok,
            "layers": [step.to_dict() for step in self.steps],
            "totals": {
                "params": totals.params,
                "params_created": self.params_created,
                "buffers": totals.buffers,
                "buffers_created": sum(step.buffers_created for step in self.steps),
                "macs": totals.macs,
                "macs_counted": self.macs_counted,
                "seconds": sum(step.seconds for step in self.steps),
                "wall_seconds": self.seconds,
            },
            "memory": {
                "predicted_peak_bytes": self.predicted_peak_bytes,
                "peak_live_bytes": self.peak_live_bytes,
                "peak_allocated_bytes": self.peak_allocated_bytes,
            },
        }


def _input_tensors(graph: Graph, x: ArrayLike | Mapping[str, ArrayLike] | None,
                   batch: int | None, seed: int, dtype: np.dtype[Any]) -> dict[str, Array]:
    """The input arrays by name: ``x`` (one input), ``x[name]`` (several: a mapping), or
    seeded standard normal noise (input i of several seeded by ``(seed, 0x1A2B, i)``)."""
    if x is not None and len(graph.inputs) > 1 and not isinstance(x, Mapping):
        raise ExecError(f"{graph.name} has {len(graph.inputs)} inputs "
                        f"({', '.join(graph.input_names)})",
                        hint="pass a mapping from input name to array")
    out: dict[str, Array] = {}
    for i, (name, shape) in enumerate(graph.inputs):
        given = x.get(name) if isinstance(x, Mapping) else x
        want = tuple(shape)
        if given is None:
            rng = np.random.default_rng([seed, 0x1A2B] if i == 0 else [seed, 0x1A2B, i])
            out[name] = rng.standard_normal((batch or 1, *want)).astype(dtype)
            continue
        arr = np.array(given, dtype=dtype, copy=True)
        if arr.shape == want:
            arr = arr[None]
        if arr.shape[1:] != want or (batch is not None and arr.shape[0] != batch):
            raise ExecError(
                f"the input {'' if len(graph.inputs) == 1 else repr(name) + ' '}has shape "
                f"{list(arr.shape)} but {graph.name} expects "
                f"[{batch or 'batch'}, {', '.join(str(v) for v in want)}]",
                hint="pass one sample shaped like the spec's input, or a batch of them",
            )
        out[name] = arr
    sizes = {a.shape[0] for a in out.values()}
    if len(sizes) > 1:
        raise ExecError(f"the inputs have different batch sizes {sorted(sizes)}",
                        hint="give every input the same batch")
    return out


def run(spec: Any, x: ArrayLike | None = None, *, seed: int = 0, batch: int | None = None,
        keep: str | Collection[str] = "output", targets: Collection[str] | None = None,
        weights: WeightFn | None = None, dtype: np.dtype[Any] | type = np.float32,
        trace_memory: bool = False, context: Context | None = None,
        on_step: Callable[[int, int, str], None] | None = None,
        max_memory: int | str | None = None) -> Execution:
    """Run ``spec`` (anything :func:`archcalc.to_graph` takes) on real tensors.

    ``x``: the input, one sample ``(C, …)`` or a batch ``(B, C, …)`` (default: seeded standard
    normal, batch ``batch`` or 1). ``keep``: ``"output"`` keeps only the graph output (and frees
    every activation after its last consumer, the engine's liveness), ``"all"`` keeps every
    activation, or a collection of node names. ``targets``: run only the nodes these names
    depend on. ``weights``: ``node → (params, buffers)`` (default: :func:`init_weights`).
    ``trace_memory``: also measure, with :mod:`tracemalloc`, the peak bytes NumPy allocates
    during any forward (temporaries and scratch included, the node's own weights excluded).
    ``context``: a :class:`Context` to reuse (its scratch buffer) across runs of one ``dtype``.
    Stops at the first node whose forward fails or whose output shape differs from the
    prediction; the result says so (``ok``, ``failures``) rather than raising.
    ``max_memory``: bytes (or a size such as ``"2G"``) the run may take, by the prediction of
    :mod:`archcalc.budget`; default 80 % of the available memory. A run that needs more is
    refused with :class:`ExecError` before anything is allocated.
    """
    from . import budget, to_graph, validate

    x, seed, batch = validate.run_arguments(x, seed, batch)
    graph = to_graph(spec)
    budget.check_run(graph, x, batch, max_memory, keep=keep, targets=targets, dtype=dtype)
    ctx = context if context is not None and context.dtype == np.dtype(dtype) else Context(dtype)
    tracing = trace_memory and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
    try:
        return _run(graph, ctx, x, seed, batch, keep, targets, weights, trace_memory, on_step)
    finally:
        if tracing:
            tracemalloc.stop()


def _run(graph: Graph, ctx: Context, x: ArrayLike | None, seed: int, batch: int | None,
         keep: str | Collection[str], targets: Collection[str] | None,
         weights: WeightFn | None, trace_memory: bool,
         on_step: Callable[[int, int, str], None] | None) -> Execution:
    base = tracemalloc.get_traced_memory()[0] if trace_memory else 0
    xins = _input_tensors(graph, x, batch, seed, ctx.dtype)
    batch = next(iter(xins.values())).shape[0]
    report = analyze_graph(graph, batch=batch)
    rows = {row.name: row for row in report.layers}
    store0 = ctx.weight_store_bytes  # traced in ``base`` when the context is reused

    def make(node: Node, resident: bool = False) -> tuple[dict[str, Array], dict[str, Array]]:
        """The node's tensors: by ``weights``, else seeded, in the context's weight store
        unless they must outlive the node (``resident``: a ``share:`` owner's)."""
        if weights is not None:
            return weights(node)
        return init_weights(node, seed, ctx.dtype,
                            store=None if resident else ctx.weight_store)

    nodes = graph.nodes
    if targets is not None:
        need = ancestors(graph, targets)
        nodes = tuple(node for node in nodes if node.name in need)
    keep_all = keep == "all"
    kept = ({o.name for o in graph.outputs} if keep == "output" else set() if keep_all
            else set(keep))
    last: dict[str, int] = {name: -1 for name in xins}
    for step, node in enumerate(nodes):
        last[node.name] = step
        for name in node.inputs:
            last[name] = step
    env: dict[str, Array] = dict(xins)
    live = peak = sum(a.nbytes for a in xins.values())
    peak_alloc = 0
    steps: list[Step] = []
    # shared weights (`share:`): an owner's tensors are kept for the nodes that use them
    owners = {node.shares for node in graph.nodes if node.shares}
    owned: dict[str, tuple[dict[str, Array], dict[str, Array]]] = {}
    # argmax indices of the pools an `indices:` reference reads (max_unpool)
    wanted = {node.inputs[len(node.inputs) - len(type(node.op).REF_INPUTS) + i]
              for node in nodes for i, ref in enumerate(type(node.op).REF_INPUTS)
              if ref == "indices"}
    indices: dict[str, Array] = {}
    started = time.perf_counter()
    for index, node in enumerate(nodes):
        if on_step is not None:
            on_step(index, len(nodes), node.name)
        row = rows[node.name]
        if node.shares:  # another node's tensors: nothing is allocated
            if node.shares not in owned:
                owned[node.shares] = make(graph.node(node.shares), resident=True)
            params, buffers = owned[node.shares]
            made = (0, 0)
            wbytes = 0
        else:
            params, buffers = make(node, resident=node.name in owners)
            if node.name in owners:
                owned[node.name] = (params, buffers)
            made = sum(a.size for a in params.values()), sum(a.size for a in buffers.values())
            wbytes = sum(a.nbytes for a in (*params.values(), *buffers.values())
                         if not ctx.in_weight_store(a))
        # the weight store is weights too, however much of it this node fills
        wbytes += ctx.weight_store_bytes - store0
        if trace_memory:
            tracemalloc.reset_peak()
        macs0 = ctx.macs
        t0 = time.perf_counter()
        error: str | None = None
        y: Array | None = None
        try:
            ins = [env[i] for i in node.inputs]
            refs = type(node.op).REF_INPUTS
            for i, ref in enumerate(refs):
                if ref == "indices":
                    at = len(ins) - len(refs) + i
                    ins[at] = indices[node.inputs[at]]
            # an overflow is found below (a non-finite output is the step's problem, named
            # with its layer): NumPy's warnings would only repeat it, without the layer
            with np.errstate(all="ignore"):
                if node.name in wanted:
                    y, indices[node.name] = node.op.forward_indices(ins, {**params, **buffers},
                                                                    ctx)
                else:
                    y = _forward_node(node, ins, {**params, **buffers}, ctx)
        except (ArchcalcError, ValueError, IndexError, TypeError, KeyError) as exc:
            error = f"the forward failed: {exc}"
        seconds = time.perf_counter() - t0
        if trace_memory:
            peak_alloc = max(peak_alloc, tracemalloc.get_traced_memory()[1] - base - wbytes)
        del params, buffers
        if y is not None and ctx.in_weight_store(y):
            y = y.copy()  # an output that is a view of the weights outlives them
        actual = None if y is None else tuple(y.shape[1:])
        rows_in = batch * node.multiplicity  # R regions per sample: a batch of B·R
        if y is not None and (y.shape[0] != rows_in or y.dtype != ctx.dtype):
            error = (f"the forward returned {y.dtype} {list(y.shape)}, not {ctx.dtype} with "
                     f"batch {rows_in}" + ("" if node.multiplicity == 1 else
                                           f" ({batch} × {node.multiplicity:,} regions)"))
        finite = y is None or bool(np.isfinite(y).all())
        magnitude = None if finite else max(
            (float(np.abs(a).max()) for a in ins if a.size), default=0.0)
        steps.append(Step(node.name, node.type_name, node.out_shape, actual, row.params, made[0],
                          row.buffers, made[1], row.macs, ctx.macs - macs0, seconds, finite,
                          error, magnitude))
        if y is None or error is not None or actual != node.out_shape:
            break
        env[node.name] = y
        live += y.nbytes
        peak = max(peak, live)
        if not keep_all:
            for name in [*node.inputs, node.name]:
                if last.get(name) == index and name not in kept and name in env:
                    live -= env.pop(name).nbytes
                    indices.pop(name, None)
    seconds = time.perf_counter() - started
    return Execution(graph.name, batch, seed, tuple(graph.input_shape), tuple(steps), env,
                     graph.output, (report.training_totals or report.totals).peak_activation_bytes
                     if targets is None else report.totals.peak_activation_bytes, peak,
                     peak_alloc if trace_memory else None, seconds, len(nodes), report,
                     graph.inputs if len(graph.inputs) > 1 else ())


def _forward_node(node: Node, inputs: list[Array], tensors: dict[str, Array],
                  ctx: Context) -> Array:
    """The node's forward, then its fused post-ops in place; each layer gets its own tensors
    (a post-op's without its ``bn.`` prefix)."""
    prefixes = tuple(f"{p.type_name}." for p in node.post)
    own = {k: v for k, v in tensors.items() if not k.startswith(prefixes)}
    try:
        y = node.op.forward(inputs, own, ctx)
    except NotImplementedError:
        raise ExecError(f"no NumPy forward for layer type {type(node.op).__name__} "
                        f"({node.type_name})", layer=node.name,
                        hint="every layer class needs a forward (archcalc/layers/)") from None
    if node.post and any(np.may_share_memory(y, a) for a in inputs):
        y = y.copy()  # post-ops work in place: never on an input
    for post in node.post:
        head = f"{post.type_name}."
        y = post.forward_inplace(
            y, {k[len(head):]: v for k, v in tensors.items() if k.startswith(head)}, ctx)
    return y


def execute(spec: Any, x: ArrayLike | None = None, seed: int = 0, *,
            batch: int | None = None) -> dict[str, Array]:
    """Every activation of ``spec`` on input ``x`` (default: seeded noise), by node name
    (``"input"`` included), as batched NumPy arrays. Raises :class:`ExecError` naming the layer
    if a forward fails or an output shape, parameter or MAC count disagrees with the engine."""
    result = run(spec, x, seed=seed, batch=batch, keep="all")
    for step in result.failures:
        raise ExecError("; ".join(step.problems), layer=f"layer {step.name!r} ({step.type})")
    return dict(result.activations)


# ----------------------------------------------------------------------- receptive field --


@dataclass(frozen=True)
class RFAxisCheck:
    """One spatial axis of a measured receptive field.

    ``measured``: the first and last input index whose change changes the unit (the extent of
    its support). ``predicted``: the engine's field of that unit, ``centre ∓ (size − 1)/2`` with
    ``centre = start + unit·jump``; ``expected``: that field clipped to the input ``[0, n − 1]``
    (the border cuts a field larger than the image). ``neighbour``: the adjacent unit (±1) whose
    field gives ``measured_jump`` when both fields lie inside the image.

    ``tolerance`` is 0 — exact agreement required — unless a resize (transposed convolution or
    upsampling with stride > 1, adaptive pooling with uneven windows) lies on the unit's path:
    then each output's field depends on its phase on the coarse grid, which the engine's
    uniform grid (size, jump, start) cannot express; each end must then lie within one
    coarse-grid step (the largest input jump entering such a resize) and the jump is not
    compared.
    """

    axis: int
    unit: int
    neighbour: int | None
    measured: tuple[int, int]
    predicted: tuple[Fraction, Fraction]
    expected: tuple[Fraction, Fraction]
    measured_jump: Fraction | None
    predicted_jump: Fraction
    tolerance: Fraction = Fraction(0)

    @property
    def ok(self) -> bool:
        lo, hi = self.measured
        elo, ehi = self.expected
        if self.tolerance == 0:
            return lo == elo and hi == ehi and self.measured_jump in (None, self.predicted_jump)
        return abs(lo - elo) <= self.tolerance and abs(hi - ehi) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "unit": self.unit,
            "measured": list(self.measured),
            "measured_size": self.measured[1] - self.measured[0] + 1,
            "predicted": [_num(v) for v in self.predicted],
            "predicted_size": _num(self.predicted[1] - self.predicted[0] + 1),
            "expected": [_num(v) for v in self.expected],
            "neighbour": self.neighbour,
            "measured_jump": None if self.measured_jump is None else _num(self.measured_jump),
            "predicted_jump": _num(self.predicted_jump),
            "tolerance": _num(self.tolerance),
            "ok": self.ok,
        }


def _num(v: Fraction) -> int | float:
    return int(v) if v.denominator == 1 else float(v)


@dataclass(frozen=True)
class RFCheck:
    """The empirical receptive field of one unit of one layer, axis by axis."""

    layer: str
    unit: tuple[int, ...]
    axes: tuple[RFAxisCheck, ...]
    forwards: int

    @property
    def ok(self) -> bool:
        return all(axis.ok for axis in self.axes)

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "unit": list(self.unit), "ok": self.ok,
                "method": "forward probes" if self.forwards else "one backward pass",
                "forward_passes": self.forwards, "axes": [a.to_dict() for a in self.axes]}


def _probe_weight(t: Tensor, rng: np.random.Generator) -> Array:
    # U(0.5, 1.5), each output's fan-in normalised to sum 1 (values stay O(1): no saturation)
    values = rng.uniform(0.5, 1.5, t.shape)
    rows = values.reshape(-1, max(t.fan_in, 1))
    rows /= rows.sum(axis=1, keepdims=True)
    return values


#: How :func:`probe_weights` fills a tensor of each role: every unit a strictly increasing
#: function of each input it reads — weights positive (:func:`_probe_weight`), biases, shifts
#: and running means 0, scales and running variances 1, a window coefficient ¼ (a 2×2 sum then
#: averages).
PROBE: Mapping[str, Rule] = {
    WEIGHT: _probe_weight,
    BIAS: lambda t, rng: np.zeros(t.shape), SHIFT: lambda t, rng: np.zeros(t.shape),
    RUNNING_MEAN: lambda t, rng: np.zeros(t.shape),
    SCALE: lambda t, rng: np.ones(t.shape), RUNNING_VAR: lambda t, rng: np.ones(t.shape),
    COEFFICIENT: lambda t, rng: np.full(t.shape, 0.25),
    FROZEN_SCALE: lambda t, rng: np.ones(t.shape), FROZEN_SHIFT: lambda t, rng: np.zeros(t.shape),
}


def probe_weights(node: Node) -> tuple[dict[str, Array], dict[str, Array]]:
    """Weights that make every unit a strictly increasing function of each input it reads,
    by role (:data:`PROBE`)."""
    rng = np.random.default_rng(zlib.crc32(node.name.encode()))
    params, buffers = _tensors(node)
    return ({t.name: _rule(PROBE, t, node, "probe")(t, rng) for t in params},
            {t.name: _rule(PROBE, t, node, "probe")(t, rng) for t in buffers})


def measure_receptive_field(spec: Any, layer: str | None = None,
                            unit: Sequence[int] | None = None, *,
                            method: str = "auto") -> RFCheck:
    """Measure the receptive field of one output unit by sensitivity and set it beside the
    engine's.

    The network runs in float64 with :func:`probe_weights` (every path positive: no
    cancellation, no dead ReLU); a unit is *sensitive* to a set of pixels when adding 1 to them
    changes its value — on a base input of zeros, where an unlit path is exactly 0 so that a lit
    one wins every max pool, and, when the graph multiplies (SE gates), also on a base of ones,
    where the gate's path is live. Per spatial axis a bisection over half-spaces ``{x_a ≤ j}``
    finds the first pixel of the support and one over ``{x_a ≥ j}`` the last, for the unit and a
    neighbour (for the jump); all searches share each batched forward pass: about
    ``⌈log₂ n⌉ + 2`` passes. Only the layer's ancestors run.

    ``layer``: a node name (default: the last node with a receptive field on a map larger than
    one unit); ``unit``: its output position (default: the unit nearest the centre whose
    predicted field lies inside the image, else the centre unit).

    ``method``: ``"backward"`` measures the support by one backward pass instead
    (:func:`archcalc.backprop.support_field`: the same sets, from a gradient of 1 at the unit),
    ``"forward"`` by the probes above, ``"auto"`` (default) by the backward pass when every
    layer on the way has a support-mode backward, else by the probes. ``RFCheck.forwards`` is
    0 after a backward pass.
    """
    if method not in ("auto", "backward", "forward"):
        raise ExecError(f"method must be auto, backward or forward, not {method!r}")
    from . import to_graph

    graph = to_graph(spec)
    report = analyze_graph(graph)
    rows = [row for row in report.layers if row.receptive_field is not None
            and len(row.output_shape) > 1 and prod(row.output_shape[1:]) > 1]
    if layer is None:
        if not rows:
            raise ExecError(f"no layer of {graph.name} has a receptive field on a map larger "
                            f"than one unit", hint="name a layer with --layer")
        layer = rows[-1].name
    try:
        node, row = graph.node(layer), report.layer(layer)
    except KeyError:
        raise ExecError(f"no layer named {layer!r}",
                        hint="layer names are in the first column of `archcalc table`") from None
    rf = row.receptive_field
    if rf is None:
        raise ExecError("has no receptive field (it follows a flatten or fc)",
                        layer=layer, hint="choose a spatial layer before the classifier")
    # the input whose pixels are probed: the first one the layer depends on (a Siamese
    # branch's own image); the others stay at the base value
    path = ancestors(graph, [layer])
    source, source_shape = next(((nm, sh) for nm, sh in graph.inputs if nm in path or any(
        nm in nd.inputs for nd in graph.nodes if nd.name in path)), graph.inputs[0])
    n = source_shape[1:]
    o = node.out_shape[1:]
    rank = len(n)
    if len(o) != rank or len(rf) != rank:
        raise ExecError(f"output {list(node.out_shape)} is not a spatial map of the input's "
                        f"rank", layer=layer)
    geo = [(Fraction(rf[a].size), Fraction(rf[a].jump), Fraction(rf[a].start))
           for a in range(rank)]

    def field(a: int, i: int) -> tuple[Fraction, Fraction]:
        size, jump, start = geo[a]
        centre = start + i * jump
        return centre - (size - 1) / 2, centre + (size - 1) / 2

    def inside(a: int, i: int) -> bool:
        lo, hi = field(a, i)
        return 0 <= i < o[a] and lo >= 0 and hi <= n[a] - 1

    if unit is None:
        centre = [(v - 1) // 2 for v in o]
        u = tuple(min((i for i in range(o[a]) if inside(a, i)),
                      key=lambda i, a=a: abs(i - centre[a]), default=centre[a])  # type: ignore[misc]
                  for a in range(rank))
    else:
        u = tuple(unit)
    if len(u) != rank or any(not 0 <= u[a] < o[a] for a in range(rank)):
        raise ExecError(f"unit {list(u)} is outside the output {list(o)}", layer=layer)
    near: dict[int, int | None] = {}
    for a in range(rank):
        options = [i for i in (u[a] + 1, u[a] - 1) if 0 <= i < o[a]]
        near[a] = next((i for i in options if inside(a, i)), options[0] if options else None)
    # the support's ends per (axis, position on that axis): one backward pass when every
    # layer on the way has a support-mode backward, else bisection by forward probes
    found = None if method == "forward" else _support_ends(graph, layer, source, u, near)
    if found is None and method == "backward":
        raise ExecError("a layer on the way has no support-mode backward", layer=layer,
                        hint="measure with method='forward'")
    if found is not None:
        return _rf_check(report, graph, path, layer, u, near, found, geo, n, field, 0)
    # searches: (axis, position on that axis, bound) → [low, high] bracket of the answer
    searches: dict[tuple[int, int, str], list[int]] = {}
    for a in range(rank):
        for pos in (u[a], near[a]):
            if pos is not None:
                for bound in ("lo", "hi"):
                    searches[(a, pos, bound)] = [0, n[a] - 1]
    passes = 0
    channels = source_shape[0]
    # A multiplicative gate (SE) needs a live path on a base of ones, checked in float64. On
    # the zero base an unlit unit is exactly 0 and a lit one is a sum of positive terms, so
    # float32 detects any contribution — unless a layer maps 0 to non-zero (sigmoid, …).
    gated = any(layer_.gates() for nd in graph.nodes for layer_ in nd.layers)
    bases = (0.0, 1.0) if gated else (0.0,)
    dtype = np.float64 if gated or not all(layer_.keeps_zero() for nd in graph.nodes
                                           for layer_ in nd.layers) else np.float32
    # samples per forward: keep one batched run near 256 MiB (im2col included)
    per_sample = np.dtype(dtype).itemsize * max(
        prod(nd.out_shape) + nd.op.scratch_elements(nd.in_shapes) for nd in graph.nodes)
    chunk = max(len(bases), (256 << 20) // per_sample // len(bases) * len(bases))
    ctx = Context(dtype)
    cache: dict[str, tuple[dict[str, Array], dict[str, Array]]] = {}

    def weights(nd: Node) -> tuple[dict[str, Array], dict[str, Array]]:
        if nd.name not in cache:
            params, buffers = probe_weights(nd)
            cache[nd.name] = ({k: v.astype(dtype) for k, v in params.items()},
                              {k: v.astype(dtype) for k, v in buffers.items()})
        return cache[nd.name]

    def forward_unit(batch: Array, where: list[tuple[int, int]]) -> list[Array]:
        """The channels at unit ``u`` moved to ``pos`` on ``axis`` for each input of ``batch``."""
        nonlocal passes
        out: list[Array] = []
        for lo in range(0, batch.shape[0], chunk):
            part = batch[lo:lo + chunk]
            feed: Any = part if len(graph.inputs) == 1 else {
                nm: part if nm == source else np.zeros((part.shape[0], *sh), part.dtype)
                for nm, sh in graph.inputs}
            result = run(graph, feed, keep=[layer], targets=[layer],
                         weights=weights, dtype=dtype, context=ctx)
            passes += 1
            if not result.ok:
                raise ExecError("; ".join(result.failures[0].problems) if result.failures
                                else "the probe run stopped early", layer=layer)
            act = result.activations[layer]
            for i in range(act.shape[0]):
                axis, pos = where[lo + i]
                index: tuple[Any, ...] = (i, slice(None), *(
                    pos if b == axis else u[b] for b in range(rank)))
                out.append(act[index].copy())
        return out

    def mask(a: int, bound: str, j: int) -> Array:
        idx = np.arange(n[a]).reshape([-1 if b == a else 1 for b in range(rank)])
        half = idx <= j if bound == "lo" else idx >= j
        return np.broadcast_to(half, n).astype(np.float64)[None].repeat(channels, axis=0)

    units = sorted({(key[0], key[1]) for key in searches})
    base_batch = np.stack([np.full(source_shape, b) for _ in units for b in bases])
    reference = dict(zip([(un, b) for un in units for b in bases],
                         forward_unit(base_batch, [un for un in units for _ in bases]),
                         strict=True))

    def hits(probes: list[tuple[tuple[int, int, str], int]]) -> list[bool]:
        """Does lighting ``{x_a ≤ j}`` (``lo``) or ``{x_a ≥ j}`` (``hi``) change the unit?"""
        batch = np.stack([np.full(source_shape, b) + mask(key[0], key[2], j)
                          for key, j in probes for b in bases])
        values = forward_unit(batch, [(key[0], key[1]) for key, _ in probes for _ in bases])
        out = []
        for i, (key, _) in enumerate(probes):
            hit = False
            for bi, b in enumerate(bases):
                ref = reference[((key[0], key[1]), b)]
                change = float(np.abs(values[i * len(bases) + bi] - ref).max())
                floor = 0.0 if b == 0.0 and dtype == np.float32 else 1e-12 * max(
                    1.0, float(np.abs(ref).max()))
                hit = hit or change > floor
            out.append(hit)
        return out

    def middle(key: tuple[int, int, str], lo: int, hi: int) -> int:
        return (lo + hi) // 2 if key[2] == "lo" else (lo + hi + 1) // 2

    # the support is [lo, hi]: {x ≤ j} reaches it iff j ≥ lo; {x ≥ j} iff j ≤ hi
    while any(lo < hi for lo, hi in searches.values()):
        open_ = [(key, br) for key, br in searches.items() if br[0] < br[1]]
        answers = hits([(key, middle(key, *br)) for key, br in open_])
        for (key, br), hit in zip(open_, answers, strict=True):
            mid = middle(key, *br)
            if key[2] == "lo":
                br[:] = [br[0], mid] if hit else [mid + 1, br[1]]
            else:
                br[:] = [mid, br[1]] if hit else [br[0], mid - 1]
    # confirm the found ends really are in the support (an insensitive unit has none)
    ends = [(key, br[0]) for key, br in searches.items()]
    for (key, _), hit in zip(ends, hits(ends), strict=True):
        if not hit:
            raise ExecError(f"unit {list(u)} does not respond to any input pixel along axis "
                            f"{key[0]}", layer=layer)
    bracketed = {(a, pos): (searches[(a, pos, "lo")][0], searches[(a, pos, "hi")][0])
                 for a, pos in units}
    return _rf_check(report, graph, path, layer, u, near, bracketed, geo, n, field, passes)


def _support_ends(graph: Graph, layer: str, source: str, u: tuple[int, ...],
                  near: Mapping[int, int | None]) -> dict[tuple[int, int], tuple[int, int]] | None:
    """The ends of the support of unit ``u`` and of its neighbour along each axis, by one
    backward pass (:func:`archcalc.backprop.support_field`), or None when a layer on the way
    has no support-mode backward."""
    from .backprop import extent, support_field

    rank = len(u)
    seeds = [u]
    for a in range(rank):
        other = near[a]
        if other is not None:
            seeds.append(tuple(other if b == a else u[b] for b in range(rank)))
    masks = support_field(graph, layer, source, seeds)
    if masks is None:
        return None
    ends: dict[tuple[int, int], tuple[int, int]] = {}
    sample = 1
    for a in range(rank):
        for pos, mask in ((u[a], masks[0]), (near[a], masks[sample] if near[a] is not None
                                             else None)):
            if pos is None or mask is None:
                continue
            found = extent(mask, a)
            if found is None:
                raise ExecError(f"unit {list(u)} does not respond to any input pixel along "
                                f"axis {a}", layer=layer)
            ends[(a, pos)] = found
        sample += near[a] is not None
    return ends


def _rf_check(report: Report, graph: Graph, path: Collection[str], layer: str,
              u: tuple[int, ...], near: Mapping[int, int | None],
              ends: Mapping[tuple[int, int], tuple[int, int]],
              geo: Sequence[tuple[Fraction, Fraction, Fraction]], n: Sequence[int],
              field: Callable[[int, int], tuple[Fraction, Fraction]],
              passes: int) -> RFCheck:
    """The measured ends of the unit's (and its neighbours') support set beside the engine's
    field, axis by axis; ``passes``: the forward probe passes (0: one backward pass)."""
    rank = len(u)
    # resizes on the path: the tolerance is the coarsest grid step entering one
    jumps: dict[str, Fraction] = {nm: Fraction(1) for nm in graph.input_names}
    for r in report.layers:
        if r.receptive_field is not None:
            jumps[r.name] = max(Fraction(axis.jump) for axis in r.receptive_field)
    tolerance = max((jumps.get(nd.inputs[0], Fraction(1)) for nd in graph.nodes
                     if nd.name in path and nd.op.refines(nd.in_shapes)), default=Fraction(0))
    axes = []
    for a in range(rank):
        pred = field(a, u[a])
        expected = (max(pred[0], Fraction(0)), min(pred[1], Fraction(n[a] - 1)))
        ends_u = ends[(a, u[a])]
        m_jump: Fraction | None = None
        other = near[a]
        if other is not None:  # from an end that the border cuts in neither field
            ends_o = ends[(a, other)]
            lo_u, hi_u = field(a, u[a])
            lo_o, hi_o = field(a, other)
            for end, free in ((0, min(lo_u, lo_o) >= 0), (1, max(hi_u, hi_o) <= n[a] - 1)):
                if free:
                    m_jump = Fraction(ends_o[end] - ends_u[end], other - u[a])
                    break
        axes.append(RFAxisCheck(a, u[a], other, ends_u, pred, expected, m_jump, geo[a][1],
                                tolerance))
    return RFCheck(layer, u, tuple(axes), passes)
