"""Graph → :class:`TrainingReport`: what one training step costs — backward work, the memory
backward needs, gradients, optimizer state and the training peak — per layer and in total.

Every figure comes from the layer classes' rules (:meth:`~archcalc.layers.Layer.saves`,
:meth:`~archcalc.layers.Layer.backward_work`, beside their forward rules); this module only
decides *which* gradients a step computes and sums. docs/training.md states every rule and
the reference they are held to (PyTorch's autograd on torchvision's models).

**Which gradients.** As autograd decides: a tensor requires a gradient when a trainable layer
(unfrozen, with parameters) produced it or one of its inputs requires one. A layer computes
its input gradient (``need_dx``) when an input requires a gradient — never the first layer's,
nothing before the first trainable layer — and its weight gradient (``need_dw``) when its
weights are trainable. A layer with neither is not in the backward at all: no work, nothing
kept.

**What is kept.** Each layer's :class:`~archcalc.layers.Saved` tensors: its input/output are
graph tensors (a tensor two layers keep — a conv's input that is the ReLU's output — counts
once), private ones (max-pool indices, BN statistics, a dropout mask) are its own.

Linear in the graph: one forward pass for the gradient flags and the kept tensors, one sweep
over the schedule for the peak.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from . import validate
from .engine import CONVENTIONS, DTYPE_BYTES, analyze_graph
from .errors import Loc, SpecError, names_hint
from .expr import MAX_INT
from .graph import Graph, Node
from .layers import Layer, Work
from .layers.base import ACT, BUFFER_ROLES, PARAM, Saved
from .report import Report
from .shapes import prod
from .spec import FreezeItem

#: version of the ``training`` block of the JSON output (README, "Training cost")
TRAINING_JSON = 1

#: bytes per element of the fixed dtypes a layer may keep (its ``act`` tensors take the
#: analysis dtype)
SAVED_BYTES: Mapping[str, int] = {**DTYPE_BYTES, "int64": 8, "int32": 4, "bool": 1}


class Optimizer(NamedTuple):
    """An optimizer's state and update: ``copies`` tensors of the trainable parameters' size
    (momentum: the velocity; Adam: the first and second moments), and the element-wise
    operations of one update per trainable parameter (counted under ``full``)."""

    name: str
    copies: int
    update_ops: int
    rule: str


#: sgd ``w −= lr·g``: 2 · momentum ``v = μ·v + g; w −= lr·v``: 4 · adam ``m = β₁m + (1 − β₁)g``
#: (3), ``v = β₂v + (1 − β₂)g²`` (4), bias corrections (2), ``w −= lr·m̂/(√v̂ + ε)`` (5): 14 ·
#: adamw: adam + the decoupled decay ``w −= lr·λ·w`` (2): 16. No weight decay in sgd/momentum/adam.
OPTIMIZERS: Mapping[str, Optimizer] = {
    "sgd": Optimizer("sgd", 0, 2, "w −= lr·g"),
    "momentum": Optimizer("momentum", 1, 4, "v = μ·v + g; w −= lr·v"),
    "adam": Optimizer("adam", 2, 14, "m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²; "
                                     "w −= lr·m̂/(√v̂ + ε)"),
    "adamw": Optimizer("adamw", 2, 16, "adam, then w −= lr·λ·w"),
}

PEAK_TEXT = (
    "training peak = weights + buffers + master weights + optimizer state (persistent) + the "
    "largest sum, over the schedule, of: forward tensors alive (as at inference) ∪ tensors kept "
    "for backward so far (each from its layer's forward until the backward of the first layer "
    "that keeps it) + the gradients alive (each tensor's from the backward of its last consumer "
    "through its producer's; a fused layer's inner gradients during its step) + the weight "
    "gradients computed so far (set to none between steps, as PyTorch's zero_grad)"
)


@dataclass(frozen=True)
class Freeze:
    """Which layers are frozen: names and group paths (``layer1``, ``layer4.0``), and/or every
    layer before the first one named by ``until`` (in the graph's order). ``where`` locates
    each name for errors (a spec's ``freeze:``; absent for ``--freeze``)."""

    names: tuple[str, ...] = ()
    until: str | None = None
    where: Mapping[str, Loc | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.names) or self.until is not None

    def describe(self) -> str:
        """As ``--freeze`` takes it: ``conv1,until:layer4``."""
        return ",".join([*self.names, *([f"until:{self.until}"] if self.until else [])])

    @classmethod
    def of(cls, items: Sequence[FreezeItem]) -> Freeze:
        """From a spec's ``freeze:`` entries."""
        until = next((i.name for i in items if i.until), None)
        return cls(tuple(i.name for i in items if not i.until), until,
                   {i.name: i.loc for i in items})


def parse_freeze(text: str) -> Freeze:
    """``--freeze``: comma-separated names and group paths, ``until:NAME`` for everything
    before NAME (``--freeze until:layer4``, ``--freeze conv1,layer1``)."""
    names: list[str] = []
    until = None
    for part in (p.strip() for p in text.split(",")):
        if part.startswith(("until:", "until=")):
            until = part[6:].strip()
            if not until:
                raise SpecError("--freeze until: needs a layer name",
                                hint="write --freeze until:layer4")
        elif part:
            names.append(part)
    if not names and until is None:
        raise SpecError(f"--freeze {text!r} names no layer",
                        hint="write --freeze until:layer4 or --freeze conv1,layer1")
    return Freeze(tuple(names), until)


def merge_freeze(*items: Freeze | None) -> Freeze:
    """The union of several freeze settings (the spec's, then the command line's: its
    ``until`` wins)."""
    names: list[str] = []
    until = None
    where: dict[str, Loc | None] = {}
    for item in items:
        if item is None:
            continue
        names += [n for n in item.names if n not in names]
        until = item.until or until
        where.update(item.where)
    return Freeze(tuple(names), until, where)


def frozen_nodes(graph: Graph, freeze: Freeze) -> frozenset[str]:
    """The nodes whose weights are frozen: named, inside a named group, or before ``until``.
    An unknown name is an error with the closest names (a typo must not train everything)."""
    if not freeze:
        return frozenset()
    groups = {g for node in graph.nodes for g in node.path}
    names = {node.name for node in graph.nodes}
    for name in (*freeze.names, *((freeze.until,) if freeze.until else ())):
        if name not in names and name not in groups:
            raise SpecError(f"freeze: no layer or group named {name!r}",
                            loc=freeze.where.get(name),
                            hint=names_hint(name, [*groups, *names], "layer or group"))
    chosen = set(freeze.names)
    found: set[str] = set()
    before = freeze.until is not None
    for node in graph.nodes:
        if before and (node.name == freeze.until or freeze.until in node.path):
            before = False
        if before or node.name in chosen or chosen.intersection(node.path):
            found.add(node.name)
    return frozenset(found)


class TrainingRow(NamedTuple):
    """One layer's part of a training step (exact integers, the batch and regions included).

    ``saved_bytes`` are the bytes this layer is the first to keep for backward (a tensor kept
    by two layers is counted at the first); ``saved`` lists what it keeps as (name, dtype,
    bytes) — a graph tensor another layer keeps too is listed at both."""

    name: str
    type: str
    trainable_params: int
    frozen_params: int
    frozen: bool
    need_dx: bool
    need_dw: bool
    backward_input_macs: int
    backward_weight_macs: int
    backward_flops: int
    saved_bytes: int
    saved: tuple[tuple[str, str, int], ...]
    path: tuple[str, ...] = ()

    @property
    def backward_macs(self) -> int:
        return self.backward_input_macs + self.backward_weight_macs

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type,
            "trainable_params": self.trainable_params, "frozen_params": self.frozen_params,
            "frozen": self.frozen, "input_gradient": self.need_dx,
            "weight_gradient": self.need_dw,
            "backward_input_macs": self.backward_input_macs,
            "backward_weight_macs": self.backward_weight_macs,
            "backward_flops": self.backward_flops, "saved_bytes": self.saved_bytes,
            "saved": [{"name": n, "dtype": d, "bytes": b} for n, d, b in self.saved],
        }


class TrainingTotals(NamedTuple):
    """The step's totals. FLOPs follow the report's convention; the update's element-wise
    operations count only under ``full``."""

    trainable_params: int
    frozen_params: int
    forward_macs: int
    backward_input_macs: int
    backward_weight_macs: int
    forward_flops: int
    backward_flops: int
    update_flops: int
    saved_bytes: int
    saved_bytes_by_dtype: Mapping[str, int]
    #: of ``saved_bytes``, the layers' own buffers autograd keeps (BN's running statistics)
    saved_buffer_bytes: int
    weight_bytes: int
    buffer_bytes: int
    gradient_bytes: int
    master_weight_bytes: int
    optimizer_bytes: int
    peak_bytes: int
    peak_at: str

    @property
    def backward_macs(self) -> int:
        return self.backward_input_macs + self.backward_weight_macs

    @property
    def step_macs(self) -> int:
        return self.forward_macs + self.backward_macs

    @property
    def step_flops(self) -> int:
        return self.forward_flops + self.backward_flops + self.update_flops

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self._asdict().items()
                               if k != "saved_bytes_by_dtype"}
        out["saved_bytes_by_dtype"] = dict(self.saved_bytes_by_dtype)
        out["backward_macs"] = self.backward_macs
        out["step_macs"] = self.step_macs
        out["step_flops"] = self.step_flops
        return out


@dataclass(frozen=True)
class TrainingReport:
    """A training step of one graph: the forward :class:`~archcalc.report.Report`, the
    per-layer rows and the totals, with every setting that shaped them."""

    report: Report
    optimizer: Optimizer
    master_weights: str | None
    frozen: tuple[str, ...]
    freeze: str
    layers: tuple[TrainingRow, ...]
    totals: TrainingTotals
    convention_text: str
    #: the peak as a function of the batch: (constant bytes, bytes per sample) at each point of
    #: the schedule that can be the largest — for :func:`fit_batch`
    peak_terms: tuple[tuple[int, int], ...] = field(repr=False, default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "training_json": TRAINING_JSON,
            "optimizer": {"name": self.optimizer.name, "state_copies": self.optimizer.copies,
                          "update_ops_per_param": self.optimizer.update_ops,
                          "rule": self.optimizer.rule},
            "master_weights": self.master_weights,
            "freeze": self.freeze,
            "frozen_layers": len(self.frozen),
            "convention": self.convention_text,
            "totals": self.totals.to_dict(),
            "layers": [row.to_dict() for row in self.layers],
        }


def fit_batch(report: TrainingReport, budget: int) -> int:
    """The largest batch whose training peak fits in ``budget`` bytes (0 when not even one
    sample fits). The peak is ``max_t (c_t + b·v_t)`` over the schedule's points — exact,
    one pass over the points, no search."""
    best: int | None = None
    for const, per in report.peak_terms:
        if const > budget:
            return 0
        if per:
            n = (budget - const) // per
            best = n if best is None else min(best, n)
    if best is None:  # nothing grows with the batch
        return MAX_INT
    return max(0, min(best, MAX_INT))


class _Tensor(NamedTuple):
    """A tensor on the schedule: bytes per sample (and constant bytes), when it is born and when
    it is freed (the step after which it no longer exists)."""

    per: int
    const: int
    birth: int
    death: int


def analyze_training(graph: Graph, *, batch: int = 1, dtype: str = "float32",
                     convention: str = "lecture", optimizer: str = "sgd",
                     master_weights: str | None = None,
                     freeze: Freeze | None = None) -> TrainingReport:
    """Cost one training step of ``graph`` (forward, backward, optimizer update). Pure.

    ``dtype`` is the activations' and weights' dtype; ``master_weights`` (e.g. ``float32``
    with ``dtype="bfloat16"``) adds a full-precision copy of the trainable weights, in which
    the optimizer state is also kept (mixed precision). ``freeze`` names the frozen layers
    (:class:`Freeze`), in addition to the spec's ``freeze:``."""
    if not isinstance(graph, Graph):
        raise TypeError(f"analyze_training() takes a Graph, got {type(graph).__name__}")
    report = analyze_graph(graph, batch=batch, dtype=dtype, convention=convention)
    opt = OPTIMIZERS[validate.choice(optimizer, "optimizer", OPTIMIZERS, "sgd")]
    if master_weights is not None:
        master_weights = validate.choice(master_weights, "master_weights", DTYPE_BYTES,
                                         "float32")
    conv = CONVENTIONS[report.convention]
    width = DTYPE_BYTES[report.dtype]
    freeze = merge_freeze(Freeze.of(graph.freeze), freeze)
    frozen = frozen_nodes(graph, freeze)
    pdtype = master_weights or report.dtype  # the dtype of the weights the layers compute with
    n = len(graph.nodes)
    step = {node.name: i for i, node in enumerate(graph.nodes)}
    mult = {name: 1 for name, _ in graph.inputs}
    size = {name: prod(shape) for name, shape in graph.inputs}
    grad = {name: False for name, _ in graph.inputs}  # requires a gradient
    # tensors kept for backward: key → [per-sample bytes, constant bytes, first keeper's step,
    # the step of the last keeper in forward order (its backward frees it: the earliest)]
    kept: dict[tuple[str, ...], list[int]] = {}
    rows: list[TrainingRow] = []
    fwd_macs = fwd_flops = bwd_dx = bwd_dw = bwd_flops = trainable = frozen_count = 0
    w_grad_per_step = [0] * n  # weight-gradient bytes allocated at each layer's backward
    inner_grad = [0] * n  # the largest inner gradient of a fused layer, per sample
    by_dtype: dict[str, int] = {}
    saved_buffers = 0
    for i, node in enumerate(graph.nodes):
        is_frozen = node.name in frozen
        m = node.multiplicity
        mult[node.name] = m
        size[node.name] = prod(node.out_shape)
        p_train = p_frozen = 0
        stages: list[tuple[Layer, tuple[Any, ...]]] = [(node.op, node.in_shapes)]
        stages += [(post, (node.out_shape,)) for post in node.post]
        flowing = any(grad[s] for s in node.inputs)
        row_dx = flowing
        row_dw = False
        dxw = Work()
        dww = Work()
        saved: list[tuple[str, str, int]] = []
        first_bytes = 0
        for s, (layer, ins) in enumerate(stages):
            params = _params(layer, ins)
            # a layer sharing another's weights (`share:`) adds to the owner's gradient; the
            # weights, their gradient and their state are counted at the owner
            need_dw = params > 0 and not is_frozen
            need_dx = flowing
            if not node.shares:
                if is_frozen:
                    p_frozen += params
                else:
                    p_train += params
            if not (need_dx or need_dw):
                continue
            if need_dw:
                row_dw = True
                w_grad_per_step[i] += 0 if node.shares else params
            out = node.out_shape
            dx, dw = layer.backward_work(ins, out, need_dx, need_dw)
            dxw, dww = dxw + dx, dww + dw
            buffers = {t.name for t in layer.tensors(ins) if t.role in BUFFER_ROLES}
            for item in layer.saves(ins, out, need_dx, need_dw):
                dt = pdtype if item.dtype == PARAM else width_name(item.dtype, report.dtype)
                key, per, const = _locate(item, node, s, len(stages), mult, width, m, dt)
                nbytes = per * batch + const
                saved.append((item.name, dt, nbytes))
                entry = kept.get(key)
                if entry is None:
                    # one of the layer's own buffers (BN's running statistics): saved, but
                    # allocated once, with the buffers — not again on the schedule
                    kept[key] = [per, const, i, i, item.name in buffers]
                    first_bytes += nbytes
                    by_dtype[dt] = by_dtype.get(dt, 0) + nbytes
                    if item.name in buffers:
                        saved_buffers += nbytes
                else:
                    entry[3] = i
            if s and need_dx:  # the gradient of this stage's input, inside the node
                inner_grad[i] = max(inner_grad[i], prod(out) * m)
            flowing = True
        grad[node.name] = flowing
        trainable += p_train
        frozen_count += p_frozen
        work = node.work()
        fwd_macs += work.macs * batch * m
        fwd_flops += conv.flops(work) * batch * m
        factor = batch * m
        bdx, bdw = dxw.macs * factor, dww.macs * factor
        bflops = (conv.flops(dxw) + conv.flops(dww)) * factor
        bwd_dx += bdx
        bwd_dw += bdw
        bwd_flops += bflops
        rows.append(TrainingRow(node.name, node.type_name, p_train, p_frozen, is_frozen,
                                row_dx, row_dw, bdx, bdw, bflops, first_bytes, tuple(saved),
                                node.path))
    saved_total = sum(e[0] * batch + e[1] for e in kept.values())
    grad_width = width
    state_width = DTYPE_BYTES[master_weights] if master_weights else width
    weight_bytes = (trainable + frozen_count) * width
    master_bytes = trainable * DTYPE_BYTES[master_weights] if master_weights else 0
    optimizer_bytes = opt.copies * trainable * state_width
    buffer_bytes = report.totals.buffers * width
    persistent = weight_bytes + buffer_bytes + master_bytes + optimizer_bytes
    terms, at = _schedule(graph, kept, grad, size, mult, width, w_grad_per_step, grad_width,
                          inner_grad, step, n)
    peak_const, peak_per, where = max(
        ((c, v, t) for t, (c, v) in enumerate(terms)), key=lambda e: e[0] + e[1] * batch)
    peak = persistent + peak_const + peak_per * batch
    update_flops = opt.update_ops * trainable if conv.count_elementwise else 0
    totals = TrainingTotals(
        trainable_params=trainable, frozen_params=frozen_count,
        forward_macs=fwd_macs, backward_input_macs=bwd_dx, backward_weight_macs=bwd_dw,
        forward_flops=fwd_flops, backward_flops=bwd_flops, update_flops=update_flops,
        saved_bytes=saved_total, saved_bytes_by_dtype=dict(sorted(by_dtype.items())),
        saved_buffer_bytes=saved_buffers,
        weight_bytes=weight_bytes, buffer_bytes=buffer_bytes,
        gradient_bytes=trainable * grad_width, master_weight_bytes=master_bytes,
        optimizer_bytes=optimizer_bytes, peak_bytes=peak, peak_at=at(where))
    text = (f"{report.convention_text}; backward: input and weight gradients by each layer's "
            f"rule, element-wise backward work only under full; optimizer {opt.name}: "
            f"{opt.copies} state cop{'y' if opt.copies == 1 else 'ies'} of the trainable "
            f"params, {opt.update_ops} operations per param per update (full); {PEAK_TEXT}")
    return TrainingReport(report, opt, master_weights, tuple(sorted(frozen, key=step.__getitem__)),
                          freeze.describe(), tuple(rows), totals, text,
                          tuple((persistent + c, v) for c, v in terms))


def width_name(dtype: str, analysis: str) -> str:
    """The dtype a saved tensor has: the analysis dtype for ``act``."""
    return analysis if dtype == ACT else dtype


def _params(layer: Layer, ins: tuple[Any, ...]) -> int:
    return sum(prod(t.shape) for t in layer.tensors(ins) if t.role not in BUFFER_ROLES)


def _locate(item: Saved, node: Node, stage: int, stages: int, mult: Mapping[str, int],
            width: int, m: int, dtype: str) -> tuple[tuple[str, ...], int, int]:
    """The key of a kept tensor (graph tensors shared between layers get the same key) and its
    bytes (per sample, constant), ``dtype`` resolved."""
    name = item.name
    nbytes = prod(item.shape) * SAVED_BYTES[dtype]
    key: tuple[str, ...]
    if name == "y":
        key = (node.name,) if stage == stages - 1 else (node.name, str(stage))
        return key, nbytes * m, 0
    if name == "x" or (name[:1] == "x" and name[1:].split(".")[0].isdigit()):
        head, _, private = name.partition(".")
        index = 0 if head == "x" else int(head[1:])
        source: tuple[str, ...]
        if stage:  # a fused layer's input: the previous stage's output, inside the node
            source = (node.name, str(stage - 1))
            factor = m
        else:
            source = (node.inputs[index],)
            factor = mult[node.inputs[index]]
        if private:
            return (*source, "", private), nbytes * factor, 0
        return source, nbytes * factor, 0
    key = (node.name, str(stage), name) if stage else (node.name, "", name)
    if not item.per_sample:
        return key, 0, nbytes
    return key, nbytes * m, 0


def _schedule(graph: Graph, kept: Mapping[tuple[str, ...], list[int]],
              grad: Mapping[str, bool], size: Mapping[str, int], mult: Mapping[str, int],
              width: int, w_grad: Sequence[int], grad_width: int, inner: Sequence[int],
              step: Mapping[str, int], n: int) -> tuple[list[tuple[int, int]], Any]:
    """(constant, per-sample) bytes alive at each point of the schedule, beyond the persistent
    weights: forward steps 0…n−1, then the backward of node j at n + (n − 1 − j), then the
    update at 2n. Each tensor is added at its birth and removed after its death: linear."""
    times = 2 * n + 1
    const = [0] * (times + 1)
    per = [0] * (times + 1)

    def alive(c: int, v: int, birth: int, death: int) -> None:
        const[birth] += c
        per[birth] += v
        const[death + 1] -= c
        per[death + 1] -= v

    def back(j: int) -> int:
        return n + (n - 1 - j)

    # forward liveness of the graph tensors, extended to their last backward use when kept
    last: dict[str, int] = {name: -1 for name, _ in graph.inputs}
    born: dict[str, int] = {name: 0 for name, _ in graph.inputs}
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        born[node.name] = i
        last[node.name] = i
        for used in node.inputs:
            last[used] = i
            consumers.setdefault(used, []).append(i)
    for o in graph.outputs:
        last[o.name] = max(last[o.name], n - 1)
    graph_keep: dict[str, int] = {}
    for key, (pv, pc, first, last_keeper, is_buffer) in kept.items():
        if len(key) == 1:
            graph_keep[key[0]] = back(first)
        elif not is_buffer:  # private or inner tensors: from their layer's forward to backward
            alive(pc, pv, first, back(first))
    for name, death in last.items():
        birth = born[name]
        alive(0, size[name] * mult[name] * width, birth,
              max(death, graph_keep.get(name, -1), birth))
    # gradients of graph tensors: from the backward of their last consumer that needs it to the
    # backward of their producer (the outputs' from the start of backward)
    outputs = {o.name for o in graph.outputs}
    for i, node in enumerate(graph.nodes):
        if not grad[node.name]:
            continue
        users = [j for j in consumers.get(node.name, ()) if grad[graph.nodes[j].name]]
        start = n if node.name in outputs or not users else back(max(users))
        alive(0, size[node.name] * mult[node.name] * width, min(start, back(i)), back(i))
        if inner[i]:
            alive(0, inner[i] * width, back(i), back(i))
        if w_grad[i]:  # weight gradients: from this layer's backward through the update
            alive(w_grad[i] * grad_width, 0, back(i), times - 1)
    terms: list[tuple[int, int]] = []
    c = v = 0
    for t in range(times):
        c += const[t]
        v += per[t]
        terms.append((c, v))

    def at(t: int) -> str:
        if t < n:
            return f"forward {graph.nodes[t].name}"
        if t < 2 * n:
            return f"backward {graph.nodes[2 * n - 1 - t].name}"
        return "optimizer update"

    return terms, at
