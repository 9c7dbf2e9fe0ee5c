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
from itertools import accumulate
from typing import Any, NamedTuple

from . import validate
from .engine import CONVENTIONS, DTYPE_BYTES, Counts, _analyze
from .errors import Loc, SpecError, names_hint
from .expr import MAX_INT
from .graph import Graph, Node
from .layers import Layer, Work
from .layers.base import ACT, BUFFER_ROLES, PARAM
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


def as_freeze(freeze: object) -> Freeze | None:
    """A library caller's ``freeze``: a :class:`Freeze`, ``--freeze`` text (:func:`parse_freeze`)
    or None; anything else is a TypeError."""
    if freeze is None or isinstance(freeze, Freeze):
        return freeze
    if isinstance(freeze, str):
        return parse_freeze(freeze)
    raise TypeError(f"freeze must be a Freeze or --freeze text such as 'until:layer4', got "
                    f"{type(freeze).__name__}")


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
    #: the whole step (forward + backward + update) under each convention
    step_flops_by_convention: Mapping[str, int]

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
                               if k not in ("saved_bytes_by_dtype", "step_flops_by_convention")}
        out["saved_bytes_by_dtype"] = dict(self.saved_bytes_by_dtype)
        out["step_flops_by_convention"] = dict(self.step_flops_by_convention)
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
    if not isinstance(report, TrainingReport):
        raise TypeError(f"fit_batch() takes a TrainingReport (from analyze_training), got "
                        f"{type(report).__name__}")
    budget = validate.whole(budget, "budget", "a number of bytes (an int)")
    if budget < 0:
        raise SpecError(f"a memory budget of {budget} bytes is below 0",
                        hint="give the bytes available, e.g. 24 * 2**30 for 24 GiB")
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


def analyze_training(graph: Graph, *, batch: int = 1, dtype: str = "float32",
                     convention: str = "lecture", optimizer: str = "sgd",
                     master_weights: str | None = None,
                     freeze: Freeze | str | None = None) -> TrainingReport:
    """Cost one training step of ``graph`` (forward, backward, optimizer update). Pure.

    ``dtype`` is the activations' and weights' dtype; ``master_weights`` (e.g. ``float32``
    with ``dtype="bfloat16"``) adds a full-precision copy of the trainable weights, in which
    the optimizer state is also kept (mixed precision). ``freeze`` names the frozen layers
    (:class:`Freeze`, or ``--freeze`` text), in addition to the spec's ``freeze:``.

    One forward pass over the nodes decides the gradient flags and which layer first keeps each
    tensor; the rules of identical nodes with identical flags (every block of a stage) are
    evaluated once (:func:`_node_rules`) and their per-sample sums multiplied by how often they
    occur; one sweep over the schedule (:func:`_schedule`) gives the peak. Linear."""
    if not isinstance(graph, Graph):
        raise TypeError(f"analyze_training() takes a Graph, got {type(graph).__name__}")
    per_node: list[Counts] = []  # the forward analysis's counts, one shared tuple per kind
    report = _analyze(graph, batch, dtype, convention, per_node)
    opt = OPTIMIZERS[validate.choice(optimizer, "optimizer", OPTIMIZERS, "sgd")]
    if master_weights is not None:
        master_weights = validate.choice(master_weights, "master_weights", DTYPE_BYTES,
                                         "float32")
    conv = CONVENTIONS[report.convention]
    width = DTYPE_BYTES[report.dtype]
    batch = report.batch
    freeze = merge_freeze(Freeze.of(graph.freeze), as_freeze(freeze))
    frozen = frozen_nodes(graph, freeze)
    pdtype = master_weights or report.dtype  # the dtype of the weights the layers compute with
    nodes = graph.nodes
    mult = {name: 1 for name, _ in graph.inputs}
    grad = {name: False for name, _ in graph.inputs}  # requires a gradient
    # graph tensors kept for backward: name → the first keeper's step (its backward, the last
    # of the keepers' to run, frees it)
    kept: dict[str, int] = {}
    rows: list[TrainingRow] = []
    widths = {**SAVED_BYTES, ACT: width, PARAM: SAVED_BYTES[pdtype]}
    names = {ACT: report.dtype, PARAM: pdtype}
    # for the schedule: each graph tensor's last forward use, the last consumer that passes a
    # gradient back into it; the private tensors a node keeps of its producer's (rare)
    last_use: dict[str, int] = {name: -1 for name, _ in graph.inputs}
    grad_user: dict[str, int] = {}
    borrowed: dict[int, list[int]] = {}
    index_of: dict[str, int] | None = None  # node → its step, made if a node borrows
    sharer: dict[str, int] = {}  # a shared weight's owner → its sharer last in forward order
    node_rules: list[_NodeRules] = []
    # Identical nodes (the same counts tuple of the forward analysis: layers are interned, so
    # identity is equality) with the same flags share their rules, and without regions the
    # whole row but its name, path, first-kept bytes
    memo: dict[tuple[object, ...], _NodeRules] = {}
    stage_memo: dict[tuple[object, ...], _Stage] = {}
    # id(rules) → the row's fields (type, …, backward FLOPs) and its own kept bytes, at R = 1
    heads: dict[int, tuple[tuple[Any, ...], int]] = {}
    listing: dict[int, tuple[tuple[str, str, int], ...]] = {}  # id(rules) → its kept list
    regions = any(node.multiplicity != 1 for node in nodes)
    new_row = tuple.__new__
    reach, flows = _gradient_flow(graph)
    by_dtype: dict[str, int] = {}
    saved_total = lost = 0  # lost: params of trainable layers no gradient reaches
    for i, node in enumerate(nodes):
        name, _, _, inputs, _, _, _, _, path, shares, m = node
        counts = per_node[i]
        passes = flows[i]
        if name in reach:
            is_frozen = name in frozen
            # only the inputs the output depends on by value pass a gradient back (not a
            # max_unpool's indices, not a crop's size reference)
            if len(inputs) == 1:
                flowing = passes[0] and grad[inputs[0]]
            else:
                flowing = any(grad[source] for source, p in zip(inputs, passes, strict=True)
                              if p)
            unreached = False
        else:
            # its output reaches no output through gradient-passing inputs (a conv read only
            # for its size): autograd never runs its backward
            is_frozen, flowing, unreached = True, False, True
        key = (id(counts), flowing, is_frozen, shares != "")
        rules = memo.get(key)
        if rules is None:
            rules = memo[key] = _node_rules(node, counts[7], flowing, is_frozen, conv.flops,
                                            widths, names, width, stage_memo)
        node_rules.append(rules)
        grad[name] = rules.flowing
        last_use[name] = i
        if rules.flowing:
            for source, p in zip(inputs, passes, strict=True):
                last_use[source] = i
                if p:
                    grad_user[source] = i
        else:
            for source in inputs:
                last_use[source] = i
        if unreached and name not in frozen:  # trainable, only no gradient reaches it
            lost += rules.frozen
        if m != 1:
            mult[name] = m
        if shares and rules.need_dw:  # the last sharer in forward order, the first backward
            sharer[shares] = i
        if rules.keeps_y:
            kept[name] = i
        made = None if regions else heads.get(id(rules))
        if made is None:
            factor = batch * m
            made = ((rules.type, rules.trainable, rules.frozen, is_frozen, flowing,
                     rules.need_dw, rules.dx_macs * factor, rules.dw_macs * factor,
                     rules.flops * factor), rules.own_per * factor + rules.own_const)
            if not regions:
                heads[id(rules)] = made
        head, first_bytes = made
        # what it keeps of its inputs is new here unless an earlier layer kept it
        for index, private, base, dname, per_sample in rules.input_kept:
            source = inputs[index]
            nbytes = base * mult.get(source, 1) * batch if per_sample else base
            if private:  # the producer's private tensor ("x1.indices"): counted where kept
                if index_of is None:
                    index_of = {n.name: j for j, n in enumerate(nodes)}
                j = index_of.get(source)  # a graph input has no rules
                if j is not None and private in node_rules[j].privates:
                    continue
                own = borrowed.setdefault(i, [0, 0])
                own[0 if per_sample else 1] += base * mult.get(source, 1) if per_sample \
                    else base
            elif source in kept:
                continue
            else:
                kept[source] = i
            first_bytes += nbytes
            by_dtype[dname] = by_dtype.get(dname, 0) + nbytes
        saved_total += first_bytes
        listed = None if regions else listing.get(id(rules))
        if listed is None:
            listed = tuple((label, dname, base * (mult.get(inputs[src], 1) if src >= 0 else m)
                            * batch if per_sample else base)
                           for label, dname, src, base, per_sample in rules.listing)
            if not regions:
                listing[id(rules)] = listed
        # TrainingRow made as the tuple it is (as the engine makes its rows)
        rows.append(new_row(TrainingRow, (name, *head, first_bytes, listed, path)))
    # the per-sample sums of each kind of node, times its occurrences (× R with regions)
    occurs: dict[int, int] = {}
    for rules in node_rules:
        occurs[id(rules)] = occurs.get(id(rules), 0) + 1
    weight = occurs
    if regions:
        weight = {}
        for rules, node in zip(node_rules, nodes, strict=True):
            weight[id(rules)] = weight.get(id(rules), 0) + node.multiplicity
    kinds = {id(r): r for r in memo.values()}
    trainable = frozen_count = bwd_dx = bwd_dw = bwd_flops = saved_buffers = 0
    f_window = f_elementwise = b_window = b_elementwise = 0
    for ident, rules in kinds.items():
        count, w = occurs.get(ident, 0), weight.get(ident, 0) * batch
        trainable += rules.trainable * count
        frozen_count += rules.frozen * count
        bwd_dx += rules.dx_macs * w
        bwd_dw += rules.dw_macs * w
        bwd_flops += rules.flops * w
        fw, fe, bw, be = rules.other
        f_window += fw * w
        f_elementwise += fe * w
        b_window += bw * w
        b_elementwise += be * w
        saved_buffers += rules.buffer_const * count
        for dname, dper, dconst in rules.own_dtypes:
            by_dtype[dname] = by_dtype.get(dname, 0) + dper * w + dconst * count
    trainable, frozen_count = trainable + lost, frozen_count - lost
    forward = report.training_totals or report.totals  # every layer runs in a training step
    fwd_macs, fwd_flops = forward.macs, forward.flops
    grad_width = width
    state_width = DTYPE_BYTES[master_weights] if master_weights else width
    weight_bytes = (trainable + frozen_count) * width
    master_bytes = trainable * DTYPE_BYTES[master_weights] if master_weights else 0
    optimizer_bytes = opt.copies * trainable * state_width
    # every layer's buffers, a training-only head's too (an auxiliary classifier's BN)
    buffer_bytes = forward.buffers * width
    persistent = weight_bytes + buffer_bytes + master_bytes + optimizer_bytes
    consts, pers = _schedule(graph, kept, width, node_rules, grad_width, last_use, grad_user,
                             borrowed, sharer)
    points = [c + v * batch for c, v in zip(consts, pers, strict=True)]
    peak = max(points)
    where = points.index(peak)  # the first largest point of the schedule
    peak += persistent
    update_flops = opt.update_ops * trainable if conv.count_elementwise else 0
    step_work = Work(fwd_macs + bwd_dx + bwd_dw, f_window + b_window,
                     f_elementwise + b_elementwise + opt.update_ops * trainable)
    by_convention = {c.name: c.flops(step_work) for c in CONVENTIONS.values()}
    totals = TrainingTotals(
        trainable_params=trainable, frozen_params=frozen_count,
        forward_macs=fwd_macs, backward_input_macs=bwd_dx, backward_weight_macs=bwd_dw,
        forward_flops=fwd_flops, backward_flops=bwd_flops, update_flops=update_flops,
        saved_bytes=saved_total, saved_bytes_by_dtype=dict(sorted(by_dtype.items())),
        saved_buffer_bytes=saved_buffers,
        weight_bytes=weight_bytes, buffer_bytes=buffer_bytes,
        gradient_bytes=trainable * grad_width, master_weight_bytes=master_bytes,
        optimizer_bytes=optimizer_bytes, peak_bytes=peak, peak_at=_when(graph, where),
        step_flops_by_convention=by_convention)
    text = (f"{report.convention_text}; backward: input and weight gradients by each layer's "
            f"rule, element-wise backward work only under full; optimizer {opt.name}: "
            f"{opt.copies} state cop{'y' if opt.copies == 1 else 'ies'} of the trainable "
            f"params, {opt.update_ops} operations per param per update (full); {PEAK_TEXT}")
    if frozen:
        step = {node.name: i for i, node in enumerate(nodes)}
        frozen_order = tuple(sorted(frozen, key=step.__getitem__))
    else:
        frozen_order = ()
    return TrainingReport(report, opt, master_weights, frozen_order, freeze.describe(),
                          tuple(rows), totals, text,
                          tuple(zip(map(persistent.__add__, consts), pers, strict=True)))


class _NodeRules(NamedTuple):
    """One node's backward by its classes' rules, for given gradient flags: counts per sample,
    bytes per sample (``per``) or for the batch (``const``)."""

    type: str
    trainable: int
    frozen: int
    wgrad: int  # weight-gradient elements (0 for a layer sharing another's weights)
    need_dw: bool
    flowing: bool  # its output requires a gradient
    dx_macs: int
    dw_macs: int
    flops: int  # backward FLOPs under the convention
    #: per sample: the forward's and the backward's (window reads, element-wise operations), for
    #: the step under every convention
    other: tuple[int, int, int, int]
    inner: int  # bytes per sample of the largest inner gradient of a fused node
    out_bytes: int  # bytes per sample of its output (× R with regions)
    #: what it keeps of its inputs: (input index, private name of the producer's or "", bytes,
    #: dtype, per sample?) — "x1" is input 1 itself, "x1.indices" the producer's "indices"
    input_kept: tuple[tuple[int, str, int, str, bool], ...]
    keeps_y: bool  # it keeps its output
    #: its own kept tensors (its output, private and inner ones, its buffers), all new here
    own_per: int
    own_const: int
    buffer_const: int  # of own_const: its buffers (allocated once, not on the schedule)
    own_dtypes: tuple[tuple[str, int, int], ...]  # (dtype, per, const)
    #: on the schedule from its forward to its backward: private and inner tensors
    sched_per: int
    sched_const: int
    privates: frozenset[str]  # the op's private names (for "xN.name" of its consumers)
    #: the row's list: (label, dtype, input index or −1, bytes, per sample?)
    listing: tuple[tuple[str, str, int, int, bool], ...]


#: records made as the tuples they are: a NamedTuple's generated ``__new__`` costs as much again
_new = tuple.__new__


class _Stage(NamedTuple):
    """One layer of a node (its op, or a fused layer) by its rules, for given flags, in the
    terms :class:`_NodeRules` sums."""

    params: int
    need_dw: bool
    in_backward: bool
    dx_macs: int
    dw_macs: int
    flops: int
    b_window: int  # the backward's window reads
    b_elementwise: int  # the backward's element-wise operations
    input_kept: tuple[tuple[int, str, int, str, bool], ...]
    listing: tuple[tuple[str, str, int, int, bool], ...]
    keeps_y: bool
    own_per: int
    own_const: int
    buffer_const: int
    sched_per: int
    sched_const: int
    privates: tuple[str, ...]
    dtypes: tuple[tuple[str, int, int], ...]


def _stage(layer: Layer, ins: tuple[Any, ...], out: Any, need_dx: bool, is_frozen: bool,
           first: bool, last: bool, flops: Any, widths: Mapping[str, int],
           names: Mapping[str, str]) -> _Stage:
    """A stage of a node (``first``: its op; ``last``: its final layer) by the layer's ``tensors``,
    ``backward_work`` and ``saves``: what it keeps, sorted into the node's terms — an input
    (stage 0's ``x``, ``xN``, ``xN.name``), its output (``y`` of the last stage: a graph
    tensor), a buffer, or a private or inner tensor (on the schedule from its forward to its
    backward)."""
    params = 0
    buffers = set()
    for t in layer.tensors(ins):
        if t.role in BUFFER_ROLES:
            buffers.add(t.name)
        else:
            params += prod(t.shape)
    need_dw = params > 0 and not is_frozen
    if not (need_dx or need_dw):
        return _new(_Stage, (params, False, False, 0, 0, 0, 0, 0, (), (), False, 0, 0, 0, 0, 0,
                             (), ()))
    dx, dw = layer.backward_work(ins, out, need_dx, need_dw)
    input_kept: list[tuple[int, str, int, str, bool]] = []
    listing: list[tuple[str, str, int, int, bool]] = []
    keeps_y = False
    own_per = own_const = buffer_const = sched_per = sched_const = 0
    privates: list[str] = []
    dtypes: dict[str, list[int]] = {}
    for item in layer.saves(ins, out, need_dx, need_dw):
        name, shape, dtype, per_sample = item
        # a fused layer's tensors are named after it, as its weights are (bn.mean)
        label = name if first else f"{layer.type_name}.{name}"
        dname = names.get(dtype, dtype)
        base = prod(shape) * widths[dtype]
        if first:
            head, _, private = name.partition(".")
            if head == "x" or (head[:1] == "x" and head[1:].isdigit()):
                index = 0 if head == "x" else int(head[1:])
                input_kept.append((index, private, base, dname, per_sample))
                listing.append((label, dname, index, base, per_sample))
                continue
            if name != "y":
                privates.append(name)
        listing.append((label, dname, -1, base, per_sample))
        if name == "y" and last:
            keeps_y = True
        elif name in buffers:
            buffer_const += base
        elif per_sample:  # private, or inner (a fused stage's input or output)
            sched_per += base
        else:
            sched_const += base
        if per_sample:
            own_per += base
        else:
            own_const += base
        d = dtypes.setdefault(dname, [0, 0])
        d[0 if per_sample else 1] += base
    return _new(_Stage, (params, need_dw, True, dx.macs, dw.macs, flops(dx) + flops(dw),
                         dx.window + dw.window, dx.elementwise + dw.elementwise,
                         tuple(input_kept), tuple(listing), keeps_y, own_per, own_const,
                         buffer_const, sched_per, sched_const, tuple(privates),
                         tuple([(k, v[0], v[1]) for k, v in dtypes.items()])))


def _node_rules(node: Node, fwd: Work, flowing: bool, is_frozen: bool, flops: Any,
                widths: Mapping[str, int], names: Mapping[str, str], width: int,
                memo: dict[tuple[object, ...], _Stage]) -> _NodeRules:
    """Evaluate ``saves`` and ``backward_work`` of the node's op and fused layers, stage by
    stage (:func:`_stage`), and sum them: a stage needs ∂x when a gradient flows into it (into
    the node, or from an earlier stage in the backward), ∂W when it has unfrozen weights.
    Stages are memoised too (a fused bn + relu on one shape recurs under many convs).
    ``fwd`` is the node's forward work (from the forward analysis)."""
    out = node.out_shape
    post = node.post
    last = len(post)
    stages: list[_Stage] = []
    params = inner = 0
    need = flowing
    for s, layer in enumerate((node.op, *post)):
        ins = node.in_shapes if s == 0 else (out,)
        # a stage's rules depend on whether it is the op (its inputs are graph tensors) and
        # whether it is the last (its output is one), not on its place between
        key = (id(layer), ins, need, is_frozen, s == 0, s == last)
        st = memo.get(key)
        if st is None:
            st = memo[key] = _stage(layer, ins, out, need, is_frozen, s == 0, s == last, flops,
                                    widths, names)
        params += st.params
        if st.in_backward:
            if s and need:  # the gradient of this stage's input, inside the node
                inner = prod(out) * width
            stages.append(st)
            need = True
    # a layer sharing another's weights (`share:`) adds to the owner's gradient; the weights,
    # their gradient and their state are counted at the owner
    shares = node.shares != ""
    p_train = 0 if shares or is_frozen else params
    p_frozen = params if is_frozen and not shares else 0
    wgrad = 0
    if not shares:
        for st in stages:
            if st.need_dw:
                wgrad += st.params
    need_dw = keeps_y = False
    dx = dw = nflops = b_window = b_elementwise = 0
    own_per = own_const = buffer_const = sched_per = sched_const = 0
    input_kept: tuple[tuple[int, str, int, str, bool], ...] = ()
    listing: tuple[tuple[str, str, int, int, bool], ...] = ()
    privates: tuple[str, ...] = ()
    dtypes: dict[str, list[int]] = {}
    for st in stages:
        need_dw = need_dw or st.need_dw
        keeps_y = keeps_y or st.keeps_y
        dx += st.dx_macs
        dw += st.dw_macs
        nflops += st.flops
        b_window += st.b_window
        b_elementwise += st.b_elementwise
        own_per += st.own_per
        own_const += st.own_const
        buffer_const += st.buffer_const
        sched_per += st.sched_per
        sched_const += st.sched_const
        input_kept += st.input_kept
        listing += st.listing
        privates += st.privates
        for dname, dper, dconst in st.dtypes:
            d = dtypes.setdefault(dname, [0, 0])
            d[0] += dper
            d[1] += dconst
    return _new(_NodeRules, (
        node.op.type_name, p_train, p_frozen, wgrad, need_dw, need, dx, dw, nflops,
        (fwd.window, fwd.elementwise, b_window, b_elementwise), inner, prod(out) * width,
        input_kept, keeps_y, own_per, own_const, buffer_const,
        tuple([(k, v[0], v[1]) for k, v in dtypes.items()]), sched_per, sched_const,
        frozenset(privates), listing))


def width_name(dtype: str, analysis: str) -> str:
    """The dtype a saved tensor has: the analysis dtype for ``act``."""
    return analysis if dtype == ACT else dtype


def _params(layer: Layer, ins: tuple[Any, ...]) -> int:
    return sum(prod(t.shape) for t in layer.tensors(ins) if t.role not in BUFFER_ROLES)


def reaches_loss(graph: Graph) -> frozenset[str]:
    """The nodes whose output reaches a graph output through inputs that pass a gradient
    (:meth:`~archcalc.layers.Layer.gradient_inputs`): the only ones a backward can run."""
    return frozenset(_gradient_flow(graph)[0])


def _gradient_flow(graph: Graph) -> tuple[set[str], list[tuple[bool, ...]]]:
    """:func:`reaches_loss`, and each node's :meth:`~archcalc.layers.Layer.gradient_inputs`
    in graph order — asked once per distinct (layer, input shapes) of this graph (layers are
    interned: identity is equality), as the analysis needs both. A class that keeps the base
    rule and has no reference inputs passes a gradient into every input: not asked."""
    found = {o.name for o in graph.outputs}
    memo: dict[tuple[int, tuple[Any, ...]], tuple[bool, ...]] = {}
    every = [(), (True,), (True, True)]  # all inputs, by arity
    plain: dict[type, bool] = {}  # class → it keeps the base rule, without reference inputs
    flows: list[tuple[bool, ...]] = []
    for node in reversed(graph.nodes):
        op, inputs = node.op, node.inputs
        cls = type(op)
        simple = plain.get(cls)
        if simple is None:
            simple = plain[cls] = (cls.gradient_inputs is Layer.gradient_inputs
                                   and not cls.REF_INPUTS)
        if simple:
            while len(every) <= len(inputs):
                every.append((True,) * len(every))
            passes = every[len(inputs)]
        else:
            key = (id(op), node.in_shapes)
            passes = memo.get(key)  # type: ignore[assignment]
            if passes is None:
                passes = memo[key] = op.gradient_inputs(node.in_shapes)
        flows.append(passes)
        if node.name in found:
            found.update(i for i, p in zip(inputs, passes, strict=True) if p)
    flows.reverse()
    return found, flows


def _schedule(graph: Graph, kept: Mapping[str, int], width: int, rules: Sequence[_NodeRules],
              grad_width: int, last_use: Mapping[str, int], grad_user: Mapping[str, int],
              borrowed: Mapping[int, list[int]],
              sharer: Mapping[str, int]) -> tuple[list[int], list[int]]:
    """Constant and per-sample bytes alive at each point of the schedule, beyond the persistent
    weights: forward steps 0…n−1, then the backward of node j at n + (n − 1 − j), then the
    update at 2n. Each tensor is added at its birth and removed after its death (difference
    arrays, one prefix sum): linear.

    * a graph tensor lives from its producer's step to its last forward use (the outputs to the
      end of forward) or, when kept, to the backward of the first layer keeping it (the last
      of the keepers' backwards);
    * a layer's private or inner kept tensors from its forward to its backward (and a
      producer's private tensor it keeps, ``borrowed``);
    * a tensor's gradient from the backward of its last consumer passing one back (an output's:
      from the start of backward) to its producer's backward; a fused node's inner gradient
      during its backward step;
    * weight gradients from their layer's backward through the update (a shared tensor's from
      the backward of its sharer last in forward order, ``sharer``: PyTorch allocates ``.grad``
      at the first backward reaching it and the others accumulate into it)."""
    n = len(graph.nodes)
    times = 2 * n + 1
    const = [0] * (times + 1)
    per = [0] * (times + 1)
    last_back = 2 * n - 1  # back(j) = 2n − 1 − j
    for name, shape in graph.inputs:
        keeper = kept.get(name)
        death = max(last_use[name], -1 if keeper is None else last_back - keeper, 0) + 1
        size = prod(shape) * width
        per[0] += size
        per[death] -= size
    outputs = {o.name for o in graph.outputs}
    end_forward = n - 1
    for i, node in enumerate(graph.nodes):
        name = node.name
        r = rules[i]
        m = node.multiplicity
        back = last_back - i
        own_p, own_c = r.sched_per * m, r.sched_const
        extra = borrowed.get(i)
        if extra is not None:
            own_p += extra[0]
            own_c += extra[1]
        if own_p or own_c:
            per[i] += own_p
            const[i] += own_c
            per[back + 1] -= own_p
            const[back + 1] -= own_c
        size = r.out_bytes * m
        keeper = kept.get(name)
        end = end_forward if name in outputs else last_use[name]
        death = max(end, -1 if keeper is None else last_back - keeper, i) + 1
        per[i] += size
        per[death] -= size
        if not r.flowing:
            continue
        user = grad_user.get(name)
        start = n if user is None or name in outputs else last_back - user
        if start > back:
            start = back
        per[start] += size
        per[back + 1] -= size
        if r.inner:
            inner = r.inner * m
            per[back] += inner
            per[back + 1] -= inner
        if r.wgrad:
            born = last_back - max(i, sharer.get(name, i))
            const[born] += r.wgrad * grad_width
            const[times] -= r.wgrad * grad_width
    del const[times:], per[times:]
    return list(accumulate(const)), list(accumulate(per))


def _when(graph: Graph, t: int) -> str:
    """A point of the schedule, in words."""
    n = len(graph.nodes)
    if t < n:
        return f"forward {graph.nodes[t].name}"
    if t < 2 * n:
        return f"backward {graph.nodes[2 * n - 1 - t].name}"
    return "optimizer update"


def _rule_text(method: Any) -> str:
    """A rule's docstring as one line of prose (RST markup dropped); a private helper it names
    (``:func:`_stats_backward```) is replaced by that helper's own docstring, so the reader gets
    the derivation, not a function name."""
    import re
    import sys

    doc = " ".join((method.__doc__ or "").split())
    module = vars(sys.modules[method.__module__])

    def inline(match: re.Match[str]) -> str:
        helper = module.get(match[1])
        return _rule_text(helper).rstrip(".") if callable(helper) and helper.__doc__ else match[1]

    doc = re.sub(r":func:`(_\w+)`", inline, doc)
    for mark in ("``", ":func:", ":meth:", ":data:", ":class:", "`"):
        doc = doc.replace(mark, "")
    return doc


def _activation_formula(op: Layer) -> str:
    """An activation's backward formula and its operations per element, else ''."""
    from .layers.activation import BACKWARD, Activation

    if not isinstance(op, Activation):
        return ""
    rule = BACKWARD[op.fn]
    return f"{rule.formula}: {rule.ops} operation{'s' if rule.ops > 1 else ''} per element"


def explain_backward(tr: TrainingReport, graph: Graph, layer: str) -> list[str]:
    """The derivation of one layer's backward in the training step ``tr`` of ``graph``: for its
    op and each fused layer, which gradients are needed and why, their work by the class's rule
    (its docstring, the derivation), and what it keeps, in bytes at the report's batch."""
    from .explain import find_layer

    if not isinstance(tr, TrainingReport) or not isinstance(graph, Graph):
        raise TypeError(f"explain_backward() takes a TrainingReport and its Graph, got "
                        f"{type(tr).__name__} and {type(graph).__name__}")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer's name (a str), got {type(layer).__name__}")
    node = find_layer(graph, layer)
    row = next((r for r in tr.layers if r.name == node.name), None)
    if row is None:
        raise SpecError(f"the training report has no layer {node.name!r}: it is not of this "
                        "graph", hint="pass the graph the report was made from")
    batch, dtype = tr.report.batch, tr.report.dtype
    factor = batch * node.multiplicity
    pdtype = tr.master_weights or dtype
    stages: list[tuple[Layer, tuple[Any, ...]]] = [(node.op, node.in_shapes)]
    stages += [(post, (node.out_shape,)) for post in node.post]
    out = [f"backward of {node.name} ({' + '.join(x.type_name for x in node.layers)}), batch "
           f"{batch}, {dtype}" + (" — frozen" if row.frozen else "")]
    flowing = row.need_dx
    if not flowing:
        out.append("  no input gradient: no input requires one (the network input, or only "
                   "frozen layers before it)")
    for op, ins in stages:
        need_dx, need_dw = flowing, _params(op, ins) > 0 and not row.frozen
        name = op.type_name
        if not (need_dx or need_dw):
            out.append(f"  {name}: not in the backward (no gradient flows in, no trainable "
                       "weights)")
            continue
        dx, dw = op.backward_work(ins, node.out_shape, need_dx, need_dw)
        for label, w, needed in (("∂x", dx, need_dx), ("∂W", dw, need_dw)):
            if not needed:
                continue
            parts = [f"{w.macs * factor:,} MACs"] if w.macs or not w.elementwise else []
            if w.elementwise:
                parts.append(f"{w.elementwise * factor:,} element-wise ops (full)")
            per = f" = {w.macs:,} × batch {batch}" if w.macs and factor > 1 else ""
            out.append(f"  {name} {label}: {' + '.join(parts)}{per}")
        out.append(f"    rule: {_rule_text(type(op).backward_work)}")
        formula = _activation_formula(op)
        if formula:
            out.append(f"    {name}: ∂x = {formula}")
        for item in op.saves(ins, node.out_shape, need_dx, need_dw):
            dt = pdtype if item.dtype == PARAM else width_name(item.dtype, dtype)
            n = prod(item.shape) * SAVED_BYTES[dt]
            total = n * factor if item.per_sample else n
            times = f" × batch {batch}" if item.per_sample and factor > 1 else ""
            out.append(f"  {name} keeps {item.name}: {dt} {list(item.shape)}"
                       f"{'' if item.per_sample else ' (for the batch)'} = {n:,} B{times}"
                       + (f" = {total:,} B" if times else ""))
        out.append(f"    rule: {_rule_text(type(op).saves)}")
        flowing = True
    out.append(f"  first to keep: {row.saved_bytes:,} B (a tensor another layer keeps first "
               "is counted there)")
    return out


@dataclass(frozen=True)
class TrainingSweep:
    """A training step over a grid of batch sizes × optimizers (the last varies fastest)."""

    name: str
    dtype: str
    master_weights: str | None
    convention: str
    freeze: str
    points: tuple[tuple[int, str, TrainingTotals], ...]  # (batch, optimizer, totals)

    def to_dict(self) -> dict[str, Any]:
        return {"archcalc_training_sweep": TRAINING_JSON, "name": self.name,
                "dtype": self.dtype, "master_weights": self.master_weights,
                "convention": self.convention, "freeze": self.freeze,
                "points": [{"batch": b, "optimizer": o, **t.to_dict()}
                           for b, o, t in self.points]}


#: points in one training sweep (each is one analysis)
MAX_SWEEP_POINTS = 1_000


def sweep_training(graph: Graph, batches: Sequence[int], optimizers: Sequence[str], *,
                   dtype: str = "float32", convention: str = "lecture",
                   master_weights: str | None = None,
                   freeze: Freeze | str | None = None) -> TrainingSweep:
    """:func:`analyze_training` at every (batch, optimizer) of the grid."""
    if not batches or not optimizers:
        raise SpecError("a training sweep needs at least one batch size and one optimizer",
                        hint="e.g. batches [1, 8, 32], optimizers ['sgd', 'adam']")
    if len(batches) * len(optimizers) > MAX_SWEEP_POINTS:
        raise SpecError(f"{len(batches) * len(optimizers):,} points are beyond the limit of "
                        f"{MAX_SWEEP_POINTS:,}", hint="sweep fewer batch sizes")
    points = []
    tr: TrainingReport | None = None
    for b in batches:
        for o in optimizers:
            tr = analyze_training(graph, batch=b, dtype=dtype, convention=convention,
                                  optimizer=o, master_weights=master_weights, freeze=freeze)
            points.append((b, o, tr.totals))
    assert tr is not None
    return TrainingSweep(graph.name, tr.report.dtype, master_weights, tr.report.convention,
                         tr.freeze, tuple(points))
