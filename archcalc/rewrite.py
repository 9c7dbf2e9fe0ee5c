"""Rewrites of a built graph: the lectures' "what if this layer were …" questions.

Each rewrite turns a shaped :class:`~archcalc.graph.Graph` into another one and records which
nodes replaced which (:class:`Replacement`), so that :mod:`archcalc.compare` can set every
original layer beside its replacement:

* :func:`separable` — every standard K×K conv → depthwise K×K + pointwise 1×1; per layer the MAC
  ratio is exactly ``1/N + 1/K²`` (seed 000: (432 + 240)/2160 = 14/45 = 1/5 + 1/9);
* :func:`full_conv` — the reverse: every depthwise K×K + pointwise 1×1 pair → one standard K×K
  conv, ratio ``N·K²/(N + K²)`` (MobileNet v1's Table 4, "Conv MobileNet");
* :func:`bottleneck` — a 1×1 reduction to R channels before each K×K conv (R a count, a ratio
  of C_in, or one value per layer), and a 1×1 projection after a pooling layer named in the
  table (GoogLeNet's pool projection); at stride 1 the ratio is ``R/C_in + R/(K²·N)``;
* :func:`factorize` — K×K (odd K ≥ 5) → stacked 3×3 (25 → 18), 3×3 → 3×1 + 1×3 (9 → 6);
* :func:`fc_to_conv` — OverFeat's "convolution implementation of sliding windows": every fc
  becomes a conv whose kernel covers the map it read (the next ones 1×1), the flatten goes; the
  weights are the same, and :func:`reinput` then runs the network on a larger input.

Rewrites chain (:func:`chain`: ``--factorize --separable``) and take a selection of layers
(:func:`select`: ``--only 'layer3.*'``). No cost is computed here: new nodes are instances of the
layer classes of :mod:`archcalc.layers`, their shapes come from the classes' ``out_shape`` rules
and both graphs are costed by the engine. A replacement must give the output shape the original
layer gives — checked for every node — except where the rewrite changes it on purpose (a pool
projection changes the channel count; an fc turned conv keeps its map); later layers are then
re-shaped by their own rules, and a layer that cannot take the new shape is an error naming it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .errors import ArchcalcError, LayerArgError, ShapeError
from .graph import INPUT, Graph, Node
from .layers import (
    Activation,
    AdaptiveAvgPool,
    Conv,
    Dropout,
    DWConv,
    Flatten,
    GlobalAvgPool,
    GlobalMaxPool,
    Identity,
    Layer,
    Linear,
    Pool,
    PWConv,
    Subsample,
)
from .shapes import Shape, prod

# ==================================================================================== model ==

Selector = Callable[[Node], bool]


def _everything(node: Node) -> bool:
    return True


@dataclass(frozen=True)
class Part:
    """One layer of a replacement chain: name suffix (``""``: the original's name), main layer,
    fused post layers."""

    suffix: str
    op: Layer
    post: tuple[Layer, ...]


@dataclass(frozen=True)
class Plan:
    """What a rewrite does to one node.

    ``parts == ()`` keeps the node (``note`` says why); ``drop`` removes it (its consumers read
    its input); ``absorbs`` names an input node that this replacement swallows (the depthwise
    conv of a pair turned into one conv); ``reshapes`` allows an output shape different from the
    original's (a pool projection, an fc turned conv).
    """

    parts: tuple[Part, ...]
    note: str
    theory: Fraction | None = None
    theory_text: str = ""
    absorbs: str | None = None
    reshapes: bool = False
    drop: bool = False


@dataclass(frozen=True)
class Replacement:
    """Nodes of the graph before (``originals``) and the nodes that took their place."""

    originals: tuple[str, ...]
    nodes: tuple[str, ...]
    note: str
    theory: Fraction | None = None
    theory_text: str = ""
    reshaped: bool = False  # kept, but re-shaped because an earlier rewrite changed its input

    @property
    def original(self) -> str:
        return self.originals[0]

    @property
    def changed(self) -> bool:
        return self.nodes != self.originals


@dataclass(frozen=True)
class Step:
    """One rewrite of a chain: its name, what it does, and the name of its ratio formula."""

    kind: str
    description: str
    theory_label: str


@dataclass(frozen=True)
class Rewrite:
    """A rewritten graph and the node-by-node correspondence with the original.

    ``graphs`` holds the graph after each step of a chain (the last is ``after``; after
    :func:`with_input` those from the fc-to-conv step on run on the larger input).
    """

    kind: str
    description: str
    theory_label: str
    before: Graph
    after: Graph
    replacements: tuple[Replacement, ...]
    steps: tuple[Step, ...] = ()
    graphs: tuple[Graph, ...] = ()

    @property
    def changed(self) -> tuple[Replacement, ...]:
        return tuple(r for r in self.replacements if r.changed)


@dataclass(frozen=True)
class Context:
    """What a planner may look at besides the node: the whole graph and who reads what."""

    graph: Graph
    nodes: Mapping[str, Node]
    consumers: Mapping[str, tuple[str, ...]]


Planner = Callable[[Node, Context], Plan | None]


def _context(graph: Graph) -> Context:
    consumers: dict[str, list[str]] = {}
    for node in graph.nodes:
        for i in node.inputs:
            consumers.setdefault(i, []).append(node.name)
    consumers.setdefault(graph.output, []).append("")  # "": read as the graph's output
    return Context(graph, {n.name: n for n in graph.nodes},
                   {k: tuple(v) for k, v in consumers.items()})


# ================================================================================ selection ==


def select(patterns: Sequence[str], graph: Graph | None = None) -> Selector:
    """Nodes matching any of the glob ``patterns`` (``layer3.*``, ``*.branch2``, ``conv?``):
    by their name, or by an enclosing group (``layer3`` selects every node of ResNet's third
    stage). With ``graph``, a pattern that matches nothing is an error listing the names."""
    pats = tuple(patterns)
    if not pats:
        return _everything

    if graph is not None:
        for pattern in pats:
            if not any(matches(pattern, n) for n in graph.nodes):
                from .args import suggest

                near = suggest(pattern, [n.name for n in graph.nodes])
                shown = ", ".join(n.name for n in graph.nodes[:8])
                raise ArchcalcError(
                    f"--only {pattern!r} matches no layer of {graph.name}",
                    hint=(f"did you mean {near!r}? " if near else "")
                    + f"patterns are globs over layer and group names, e.g. 'layer3.*'; "
                    f"layers: {shown}{', …' if len(graph.nodes) > 8 else ''}",
                )
    return lambda node: any(matches(p, node) for p in pats)


def matches(pattern: str, node: Node) -> bool:
    """``pattern`` (a glob) matches the node's name or one of its enclosing groups."""
    return fnmatch.fnmatchcase(node.name, pattern) or any(
        fnmatch.fnmatchcase(group, pattern) for group in node.path)


# =================================================================================== engine ==


def rewrite(graph: Graph, step: Step, planner: Planner,
            selected: Selector = _everything) -> Rewrite:
    """Apply ``planner`` to every node of ``graph`` (in data-flow order) and build the result.

    Nodes outside ``selected`` are kept (with a note if the planner would have changed them).
    Shapes are re-derived node by node with the layer rules: a replacement must give what the
    original layer gives on the (possibly re-shaped) input, unless its plan ``reshapes``.
    """
    ctx = _context(graph)
    plans: dict[str, Plan | None] = {}
    for node in graph.nodes:
        plan = planner(node, ctx)
        if plan is not None and (plan.parts or plan.drop):
            inside = selected(node) or (plan.absorbs is not None
                                        and selected(ctx.nodes[plan.absorbs]))
            if not inside:
                plan = Plan((), "not selected by --only")
        plans[node.name] = plan
    absorbed = {p.absorbs for p in plans.values() if p is not None and p.parts and p.absorbs}

    taken = {INPUT, *(n.name for n in graph.nodes)}
    rename: dict[str, str] = {INPUT: INPUT}
    shapes: dict[str, Shape] = {INPUT: graph.input_shape}
    nodes: list[Node] = []
    replacements: list[Replacement] = []
    for node in graph.nodes:
        if node.name in absorbed:
            continue  # emitted with the node that absorbs it
        plan = plans[node.name]
        if plan is not None and plan.drop:
            rename[node.name] = rename[node.inputs[0]]
            replacements.append(Replacement((node.name,), (), plan.note))
            continue
        source = ctx.nodes[plan.absorbs] if plan is not None and plan.absorbs else node
        inputs = tuple(rename[i] for i in source.inputs)
        if plan is None or not plan.parts:
            new = _shaped(node, node.name, node.op, node.post, inputs, shapes)
            nodes.append(new)
            rename[node.name] = node.name
            reshaped = new.in_shapes != node.in_shapes
            if plan is not None or reshaped:
                note = plan.note if plan is not None else ""
                if reshaped:
                    was = ", ".join(_shape_text(s) for s in node.in_shapes)
                    now = ", ".join(_shape_text(s) for s in new.in_shapes)
                    note = _join_notes(note, f"input now {now} (was {was})")
                replacements.append(Replacement((node.name,), (node.name,), note,
                                                reshaped=reshaped))
            continue
        expected = None if plan.reshapes else _expected_shape(
            (source, node) if source is not node else (node,), inputs, shapes)
        names: list[str] = []
        cur = inputs
        for part in plan.parts:
            name = node.name if not part.suffix else _unique(f"{node.name}.{part.suffix}", taken)
            new = _shaped(node, name, part.op, part.post, cur, shapes)
            nodes.append(new)
            names.append(name)
            cur = (name,)
        if expected is not None and shapes[names[-1]] != expected:  # a planner's invariant
            raise RuntimeError(
                f"{step.kind} rewrite of {node.name} gives {list(shapes[names[-1]])}, "
                f"not {list(expected)}"
            )
        rename[node.name] = names[-1]
        originals = (plan.absorbs, node.name) if plan.absorbs else (node.name,)
        replacements.append(Replacement(originals, tuple(names), plan.note, plan.theory,
                                        plan.theory_text))
    after = Graph(
        name=graph.name,
        file=graph.file,
        input_shape=graph.input_shape,
        nodes=tuple(nodes),
        output=rename[graph.output],
        scale=dict(graph.scale),
        warnings=graph.warnings,
    )
    return Rewrite(step.kind, step.description, step.theory_label, graph, after,
                   tuple(replacements), (step,), (after,))


def _expected_shape(chain_: tuple[Node, ...], inputs: tuple[str, ...],
                    shapes: Mapping[str, Shape]) -> Shape:
    """What the original layers (one, or a pair one reading the other) give on the (possibly
    re-shaped) inputs of the first."""
    in_shapes = tuple(shapes[i] for i in inputs)
    if in_shapes == chain_[0].in_shapes:
        return chain_[-1].out_shape
    for node in chain_:
        try:
            in_shapes = (node.op.out_shape(in_shapes),)
        except LayerArgError as exc:
            raise ShapeError(exc.what, loc=node.loc, layer=node.name, hint=exc.hint) from None
    return in_shapes[0]


def _join_notes(a: str, b: str) -> str:
    return f"{a}; {b}" if a and b else a or b


def _shape_text(shape: Shape) -> str:
    return "×".join(map(str, shape))


def _unique(name: str, taken: set[str]) -> str:
    candidate, i = name, 1
    while candidate in taken:
        i += 1
        candidate = f"{name}{i}"
    taken.add(candidate)
    return candidate


def _shaped(origin: Node, name: str, op: Layer, post: tuple[Layer, ...],
            inputs: tuple[str, ...], shapes: dict[str, Shape]) -> Node:
    """A node with its shapes derived by the layer rules (errors name the layer)."""
    in_shapes = tuple(shapes[i] for i in inputs)
    try:
        out = op.out_shape(in_shapes)
        for layer in post:
            layer.out_shape((out,))
    except LayerArgError as exc:
        where = name if name == origin.name else f"{name} (rewritten from {origin.name})"
        raise ShapeError(exc.what, loc=origin.loc, layer=where, hint=exc.hint) from None
    shapes[name] = out
    return Node(name, op, post, inputs, in_shapes, out, origin.loc, origin.context, origin.path)


def reinput(graph: Graph, input_shape: Shape) -> Graph:
    """``graph`` run on another input: every node's shapes re-derived by its layer's rules
    (a layer that cannot take the new size is an error naming it). Used after
    :func:`fc_to_conv`, whose layers no longer depend on the input size."""
    if len(input_shape) != len(graph.input_shape):
        raise ArchcalcError(
            f"input {_shape_text(input_shape)} has {len(input_shape)} sizes but "
            f"{graph.name}'s input {_shape_text(graph.input_shape)} has "
            f"{len(graph.input_shape)}",
            hint="keep the rank of the spec's input",
        )
    shapes: dict[str, Shape] = {INPUT: tuple(input_shape)}
    nodes = tuple(_shaped(n, n.name, n.op, n.post, n.inputs, shapes) for n in graph.nodes)
    return Graph(name=graph.name, file=graph.file, input_shape=tuple(input_shape), nodes=nodes,
                 output=graph.output, scale=dict(graph.scale), warnings=graph.warnings,
                 freeze=graph.freeze)


def with_input(rw: Rewrite, input_shape: Shape) -> Rewrite:
    """``rw`` with its graphs from the fc-to-conv step on run on ``input_shape`` (the original
    stays at the spec's input: one crop). Only a head made convolutional may see another input
    size without changing its weights, so a chain without fc-to-conv is refused."""
    kinds = [s.kind for s in rw.steps]
    if FC_TO_CONV.kind not in kinds:
        raise ArchcalcError("only an fc head made convolutional can be run on another input "
                            "after the rewrite", hint="add --fc-to-conv")
    first = kinds.index(FC_TO_CONV.kind)
    graphs = rw.graphs or (rw.after,)
    moved = tuple(g if i < first else reinput(g, input_shape) for i, g in enumerate(graphs))
    for old, new in zip(graphs[first:], moved[first:], strict=True):
        check_fc_heads(new, _const(old))  # an fc the rewrite kept must not grow either
    return Rewrite(rw.kind, rw.description, rw.theory_label, rw.before, moved[-1],
                   rw.replacements, rw.steps, moved)


def _const(graph: Graph) -> Callable[[], Graph]:
    return lambda: graph


# =================================================================================== chains ==

#: a rewrite as a function of the graph and the selection
Transform = Callable[[Graph, Selector], Rewrite]


def chain(graph: Graph, transforms: Sequence[Transform],
          selected: Selector = _everything) -> Rewrite:
    """Apply ``transforms`` one after the other (``--factorize --separable``: the 5×5 becomes
    two 3×3, then each 3×3 a depthwise + pointwise pair) and compose the correspondences: each
    group of the result joins the original layers with the final nodes they became, across all
    steps. A group's formula is kept when one step alone changed it."""
    if not transforms:
        raise ArchcalcError("a rewrite chain needs at least one rewrite")
    steps = [transforms[0](graph, selected)]
    for transform in transforms[1:]:
        steps.append(transform(steps[-1].after, selected))
    if len(steps) == 1:
        return steps[0]
    return _compose(graph, steps)


def _compose(graph: Graph, steps: Sequence[Rewrite]) -> Rewrite:
    parent: dict[str, str] = {n.name: n.name for n in graph.nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    notes: dict[str, list[tuple[int, str]]] = {}  # (step, note)
    formulas: dict[str, list[tuple[Fraction | None, str]]] = {}
    reshaped: dict[str, bool] = {}
    comp: dict[str, str] = {n.name: n.name for n in graph.nodes}  # current name → a root
    for index, step in enumerate(steps):
        new_comp: dict[str, str] = {}
        for rep in step.replacements:
            roots = sorted({find(comp[o]) for o in rep.originals})
            root = roots[0]
            for other in roots[1:]:  # a merge of groups (full-conv of a split pair)
                parent[other] = root
                notes.setdefault(root, []).extend(notes.pop(other, []))
                formulas.setdefault(root, []).extend(formulas.pop(other, []))
                reshaped[root] = reshaped.get(root, False) or reshaped.pop(other, False)
            if rep.note and (index, rep.note) not in notes.get(root, []):
                notes.setdefault(root, []).append((index, rep.note))
            if rep.changed:
                formulas.setdefault(root, []).append((rep.theory, rep.theory_text))
            reshaped[root] = reshaped.get(root, False) or rep.reshaped
            for name in rep.nodes:
                new_comp[name] = root
        for node in step.after.nodes:
            if node.name not in new_comp:
                new_comp[node.name] = find(comp[node.name])
        comp = {k: find(v) for k, v in new_comp.items()}
    final = steps[-1].after
    members: dict[str, list[str]] = {}
    for node in graph.nodes:
        members.setdefault(find(node.name), []).append(node.name)
    outs: dict[str, list[str]] = {}
    for node in final.nodes:
        outs.setdefault(comp[node.name], []).append(node.name)
    replacements = []
    for root, originals in members.items():
        nodes = tuple(outs.get(root, ()))
        changed_by = formulas.get(root, [])
        theory, text = changed_by[0] if len(changed_by) == 1 else (None, "")
        if tuple(originals) == nodes and not notes.get(root) and not reshaped.get(root):
            continue  # untouched by every step
        replacements.append(Replacement(tuple(originals), nodes, _step_notes(notes.get(root, [])),
                                        theory, text, reshaped=reshaped.get(root, False)))
    kinds = [s.kind for s in steps]
    all_steps = tuple(st for s in steps for st in s.steps)
    return Rewrite("+".join(kinds), " then ".join(s.description for s in steps),
                   " · ".join(dict.fromkeys(s.theory_label for s in steps)), graph, final,
                   tuple(replacements), all_steps, tuple(s.after for s in steps))


def _step_notes(notes: list[tuple[int, str]]) -> str:
    """Notes of one group across a chain: a step's notes joined by commas, steps by "; then"."""
    by_step: dict[int, list[str]] = {}
    for index, note in sorted(notes, key=lambda item: item[0]):
        by_step.setdefault(index, []).append(note)
    return "; then ".join(", ".join(v) for v in by_step.values())


# ================================================================================= rewrites ==


def _std_conv(node: Node) -> tuple[Conv, tuple[tuple[int, ...], ...]] | str:
    """The conv and its geometry if ``node`` is a standard conv, else why not (a note; ``""``
    for a node that is no conv at all)."""
    op = node.op
    if not isinstance(op, Conv) or isinstance(op, DWConv):
        return ""
    cin = node.in_shapes[0][0]
    if op.connections is not None:
        return "partial connection table: kept"
    if op.group_count(cin) != 1:
        return f"grouped conv (groups = {op.group_count(cin)}): kept"
    return op, op.geometry(node.in_shapes[0])


def _kernel_text(k: tuple[int, ...]) -> str:
    return "×".join(map(str, k))


# --------------------------------------------------------------------- depthwise-separable --

SEPARABLE = Step("separable", "depthwise-separable rewrite of every K×K conv", "1/N + 1/K²")


def _separable_plan(node: Node, ctx: Context) -> Plan | None:
    found = _std_conv(node)
    if isinstance(found, str):
        return Plan((), found) if found else None
    op, (k, _s, _d, _ke, _lo, _hi) = found
    if prod(k) == 1:
        return Plan((), "1×1 conv: already pointwise")
    cout = node.out_shape[0]
    dims = op.dims
    dw = DWConv(k=op.k, s=op.s, p=op.p, d=op.d, bias=op.bias, dims=dims)
    pw = PWConv(out=cout, bias=op.bias, dims=dims)
    theory = Fraction(1, cout) + Fraction(1, prod(k))
    return Plan(
        (Part("dw", dw, node.post), Part("pw", pw, node.post)),
        f"{_kernel_text(k)} conv → depthwise {_kernel_text(k)} + pointwise 1×1",
        theory,
        f"1/{cout} + 1/{prod(k)}",
    )


def separable(graph: Graph, selected: Selector = _everything) -> Rewrite:
    """Every standard K×K conv (K > 1, groups = 1) → depthwise K×K + pointwise 1×1.

    The depthwise conv keeps the kernel, stride, padding and dilation (so the spatial size is
    unchanged) and maps C_in → C_in; the pointwise conv maps C_in → N. Each takes the original's
    bias flag and fused BN/activation (MobileNet's Fig. 3: dw-BN-ReLU, pw-BN-ReLU). MACs per output
    position: ``C_in·K²`` + ``C_in·N`` against ``C_in·K²·N``, i.e. the ratio ``1/N + 1/K²``.
    """
    return rewrite(graph, SEPARABLE, _separable_plan, selected)


# ------------------------------------------------------------------------ full convolution --

FULL_CONV = Step("full-conv", "every depthwise + pointwise pair made one standard K×K conv",
                 "N·K²/(N + K²)")


def _pointwise(node: Node) -> bool:
    """A plain 1×1 conv: groups 1, stride 1, no padding, no connection table."""
    op = node.op
    if not isinstance(op, Conv) or isinstance(op, DWConv) or op.connections is not None:
        return False
    k, s, _d, _ke, lo, hi = op.geometry(node.in_shapes[0])
    return (op.group_count(node.in_shapes[0][0]) == 1 and prod(k) == 1
            and all(v == 1 for v in s) and not any(lo) and not any(hi))


def _full_conv_plan(node: Node, ctx: Context) -> Plan | None:
    op = node.op
    if isinstance(op, DWConv):
        readers = ctx.consumers.get(node.name, ())
        cin = node.in_shapes[0][0]
        if node.out_shape[0] != cin:
            return Plan((), f"depth multiplier {node.out_shape[0] // cin}: kept")
        if len(readers) != 1 or not readers[0] or not _pointwise(ctx.nodes[readers[0]]):
            return Plan((), "depthwise conv not followed by a 1×1 conv alone: kept")
        return None  # planned with its pointwise conv
    if not _pointwise(node) or len(node.inputs) != 1:
        return None
    dw_node = ctx.nodes.get(node.inputs[0])
    if dw_node is None or not isinstance(dw_node.op, DWConv):
        return None
    if dw_node.out_shape[0] != dw_node.in_shapes[0][0] \
            or ctx.consumers.get(dw_node.name, ()) != (node.name,):
        return None
    dw = dw_node.op
    assert isinstance(op, Conv)
    k = dw.geometry(dw_node.in_shapes[0])[0]
    cout = node.out_shape[0]
    conv = Conv(out=cout, k=dw.k, s=dw.s, p=dw.p, d=dw.d, bias=op.bias, dims=dw.dims or op.dims)
    # before: C_in·K² + C_in·N per output position; after: C_in·K²·N
    theory = Fraction(cout * prod(k), cout + prod(k))
    return Plan(
        (Part(_kernel_text(k).replace("×", "x"), conv, node.post),),
        f"depthwise {_kernel_text(k)} + pointwise 1×1 → one {_kernel_text(k)} conv",
        theory,
        f"{cout}·{prod(k)}/({cout} + {prod(k)})",
        absorbs=dw_node.name,
    )


def full_conv(graph: Graph, selected: Selector = _everything) -> Rewrite:
    """Every depthwise K×K conv (multiplier 1) read only by a 1×1 conv → one standard K×K conv
    C_in → N with the depthwise conv's kernel, stride, padding and dilation — the reverse of
    :func:`separable`, MobileNet v1's "Conv MobileNet" of Table 4.

    The new conv takes the pointwise conv's bias flag and fused BN/activation (the depthwise
    conv's BN and ReLU go with it: Fig. 3's "3×3 Conv, BN, ReLU"). MACs per output position
    ``C_in·K²·N`` against ``C_in·K² + C_in·N``: the ratio ``N·K²/(N + K²)``, exact at any
    stride (both convs of the pair work at the output size).
    """
    return rewrite(graph, FULL_CONV, _full_conv_plan, selected)


# ---------------------------------------------------------------------------- 1×1 bottleneck --

#: a reduction: a channel count (int) or a fraction of the conv's input channels (Fraction)
Reduction = int | Fraction


@dataclass(frozen=True)
class BottleneckTable:
    """Reductions per layer: glob pattern → channels or ratio; ``default`` for the others
    (``None``: layers the table does not name are kept)."""

    entries: tuple[tuple[str, Reduction], ...] = ()
    default: Reduction | None = None

    def lookup(self, node: Node) -> tuple[Reduction | None, bool]:
        """(reduction, named explicitly) for ``node``."""
        for pattern, value in self.entries:
            if matches(pattern, node):
                return value, True
        return self.default, False


def parse_reduction(text: str) -> Reduction:
    """``16`` → 16 channels; ``1/4``, ``0.25`` → a quarter of the conv's input channels."""
    value = text.strip()
    try:
        if value.isdigit():
            count = int(value)
            if count < 1:
                raise ArchcalcError(f"--bottleneck needs a positive channel count, got {count}",
                                    hint="R is the number of channels the 1×1 conv reduces to")
            return count
        frac = Fraction(value)
    except (ValueError, ZeroDivisionError):
        raise ArchcalcError(
            f"--bottleneck {text!r} is neither a channel count nor a ratio",
            hint="write R channels (16), a ratio of the input channels (1/4 or 0.25), or a "
                 "table NAME=R,NAME=R (globs allowed: 'inception3a.*=16')") from None
    if not 0 < frac <= 1:
        raise ArchcalcError(f"--bottleneck ratio {text} must be in (0, 1]",
                            hint="a ratio is the share of the input channels kept, e.g. 1/4")
    return frac


def parse_bottleneck(text: str) -> BottleneckTable:
    """``16``, ``1/4`` (every K×K conv) or a table ``b2=96,b3=16,b4=32`` (glob keys; a key
    ``*`` sets the default)."""
    if "=" not in text:
        return BottleneckTable((), parse_reduction(text))
    entries: list[tuple[str, Reduction]] = []
    default: Reduction | None = None
    for item in text.replace(";", ",").split(","):
        if not item.strip():
            continue
        if "=" not in item:
            raise ArchcalcError(f"--bottleneck table entry {item.strip()!r} has no '='",
                                hint="write NAME=R, e.g. inception3a.branch2=96")
        key, value = (p.strip() for p in item.split("=", 1))
        if key == "*":
            default = parse_reduction(value)
        else:
            entries.append((key, parse_reduction(value)))
    return BottleneckTable(tuple(entries), default)


def _channels(reduction: Reduction, cin: int) -> int:
    if isinstance(reduction, int):
        return reduction
    return max(1, int(reduction * cin + Fraction(1, 2)))  # nearest, halves up


def _reduction_text(reduction: Reduction) -> str:
    return str(reduction) if isinstance(reduction, int) else f"{reduction} of C_in"


def _sibling_conv(node: Node, ctx: Context) -> Node | None:
    """A standard conv reading the same input as ``node`` (the Inception module's other
    branches), whose bias flag and fused BN/activation a pool projection copies."""
    for name in ctx.consumers.get(node.inputs[0], ()):
        other = ctx.nodes.get(name)
        if other is not None and other.name != node.name and not isinstance(
                _std_conv(other), str):
            return other
    return None


def bottleneck(graph: Graph, channels: Reduction | BottleneckTable,
               selected: Selector = _everything) -> Rewrite:
    """A 1×1 conv reducing to R channels before each standard K×K conv (K > 1); with a table,
    R per layer, and a pooling layer named in the table gets a 1×1 projection to R after it.

    ``channels`` is R (an int), a ratio of each conv's input channels (a Fraction: R =
    round(ratio·C_in)), or a :class:`BottleneckTable`. Convs whose input already has ≤ R channels
    are kept (no reduction possible). The 1×1 takes the original's bias flag and fused
    BN/activation. MACs: ``H·W·R·C_in`` (1×1 at the input size) + ``H′·W′·K²·R·N`` against
    ``H′·W′·K²·C_in·N``; at stride 1 the ratio is ``R/C_in + R/(K²·N)``. A pool projection
    (GoogLeNet's "pool proj") adds ``H′·W′·C·R`` MACs and changes the pool branch's channels
    from C to R — the one rewrite that changes a shape; later layers are re-shaped.
    """
    table = channels if isinstance(channels, BottleneckTable) else BottleneckTable((), channels)
    for value in (*(v for _, v in table.entries), table.default):
        if isinstance(value, int) and value < 1:
            raise ArchcalcError(f"--bottleneck needs a positive channel count, got {value}")
    for pattern, _ in table.entries:
        if not any(matches(pattern, n) for n in graph.nodes):
            raise ArchcalcError(
                f"--bottleneck table: {pattern!r} names no layer of {graph.name}",
                hint="keys are layer names or globs (`archcalc table SPEC` lists them)")

    def plan(node: Node, ctx: Context) -> Plan | None:
        reduction, named = table.lookup(node)
        if isinstance(node.op, Pool) and not isinstance(node.op, Subsample) and named:
            assert reduction is not None
            c = node.out_shape[0]
            r = _channels(reduction, c)
            sib = _sibling_conv(node, ctx)
            bias = sib.op.bias if sib is not None and isinstance(sib.op, Conv) else True
            post = sib.post if sib is not None else ()
            proj = PWConv(out=r, bias=bias, dims=None)
            return Plan((Part("", node.op, node.post), Part("proj", proj, post)),
                        f"1×1 projection {c} → {r} after the pool", reshapes=True)
        found = _std_conv(node)
        if isinstance(found, str):
            if named and not found:
                raise ArchcalcError(
                    f"--bottleneck table names {node.name!r}, a {node.type_name} layer",
                    hint="only K×K convs (a 1×1 reduction before) and pooling layers (a 1×1 "
                         "projection after) take a bottleneck")
            return Plan((), found) if found else None
        if reduction is None:
            return Plan((), "not in the --bottleneck table: kept")
        op, (k, s, *_rest) = found
        if prod(k) == 1:
            return Plan((), "1×1 conv: kept")
        cin, cout = node.in_shapes[0][0], node.out_shape[0]
        r = _channels(reduction, cin)
        if cin <= r:
            return Plan((), f"C_in = {cin} ≤ R = {r}: nothing to reduce")
        reduce = PWConv(out=r, bias=op.bias, dims=op.dims)
        theory = None
        text = ""
        if all(v == 1 for v in s):
            theory = Fraction(r, cin) + Fraction(r, prod(k) * cout)
            text = f"{r}/{cin} + {r}/({prod(k)}·{cout})"
        return Plan(
            (Part("reduce", reduce, node.post), Part("conv", op, node.post)),
            f"1×1 reduction {cin} → {r}, then the {_kernel_text(k)} conv",
            theory,
            text,
        )

    if table.entries:
        what = "1×1 bottlenecks per layer (" + ", ".join(
            f"{p} → {_reduction_text(v)}" for p, v in table.entries) + ")"
    else:
        assert table.default is not None
        what = f"1×1 bottleneck to {_reduction_text(table.default)} channels before each K×K conv"
    return rewrite(graph, Step("bottleneck", what, "R/C_in + R/(K²·N)"), plan, selected)


# ---------------------------------------------------------------------------- factorisation --

FACTORIZE = Step("factorize", "K×K → stacked 3×3; 3×3 → 3×1 + 1×3", "weights per position")


def _stack_pads(n: int, lo: int, hi: int, s: int, target: int, m: int
                ) -> list[tuple[int, int]] | None:
    """Per-layer (before, after) padding of ``m`` stacked 3×3 convs on one axis, the first with
    stride ``s``, so that ``n`` maps to ``target`` — the original K×K conv's output size.

    The first conv gives ``⌊(n + P₁ − 3)/s⌋ + 1``; each later stride-1 conv removes ``2 − Q_i``
    (Q_i its total padding, 0 to 2). Stride 1 keeps the original padding shared out (any split
    works: the sizes add up). Otherwise P₁ = P − (K − 3) and "same" later convs are tried first
    (the usual design: 5×5/2 p2 → 3×3/2 p1 + 3×3/1 p1), then the nearest P₁ that works.
    """
    if s == 1:
        los = [lo // m + (1 if i < lo % m else 0) for i in range(m)]
        his = [hi // m + (1 if i < hi % m else 0) for i in range(m)]
        return list(zip(los, his, strict=True))
    ideal = lo + hi - 2 * (m - 1)
    for p1 in sorted(range(0, lo + hi + 3), key=lambda v: (abs(v - ideal), v)):
        if n + p1 < 3:
            continue
        surplus = (n + p1 - 3) // s + 1 - target  # to remove with the stride-1 convs
        if not 0 <= surplus <= 2 * (m - 1):
            continue
        cuts = [min(2, surplus - 2 * i) if surplus > 2 * i else 0 for i in range(m - 1)]
        rest = [(1, 1) if c == 0 else (0, 1) if c == 1 else (0, 0) for c in cuts]
        return [(p1 // 2, p1 - p1 // 2), *rest]
    return None


def _factorize_plan(node: Node, ctx: Context) -> Plan | None:
    found = _std_conv(node)
    if isinstance(found, str):
        return Plan((), found) if found else None
    op, (k, s, d, _ke, lo, hi) = found
    rank = len(k)
    cout = node.out_shape[0]
    if any(v != 1 for v in d):
        return Plan((), "dilated conv: kept")
    if len(set(k)) != 1:
        return Plan((), f"non-square kernel {_kernel_text(k)}: kept")
    kk = k[0]
    if kk >= 5 and kk % 2 == 1:
        # K = 2m + 1 → m stacked 3×3 convs, the stride on the first (Inception-v3's stem)
        m = (kk - 1) // 2
        in_sizes = node.in_shapes[0][1:]
        per_axis = [_stack_pads(in_sizes[a], lo[a], hi[a], s[a], node.out_shape[1 + a], m)
                    for a in range(rank)]
        if any(p is None for p in per_axis):
            return Plan((), f"{_kernel_text(k)} stride {_kernel_text(s)}: no 3×3 stack gives "
                        "the same output size; kept")
        parts = []
        for i in range(m):
            pads = tuple(p[i] for p in per_axis if p is not None)
            conv = Conv(out=cout, k=3, s=s if i == 0 else 1, p=pads, bias=op.bias, dims=op.dims)
            parts.append(Part(f"3x3_{i + 1}", conv, node.post))
        return Plan(tuple(parts), f"{_kernel_text(k)} conv → {m} stacked "
                    f"{_kernel_text((3,) * rank)} convs", Fraction(m * 3**rank, kk**rank),
                    f"{m}·{3**rank}/{kk**rank}")
    if kk == 3 and rank >= 2:
        # 3×3 → 3×1 then 1×3: each conv spans one axis, with that axis' stride and padding
        parts = []
        kernels = []
        for a in range(rank):
            kernel = tuple(3 if b == a else 1 for b in range(rank))
            kernels.append(_kernel_text(kernel))
            stride = tuple(s[a] if b == a else 1 for b in range(rank))
            pads = tuple((lo[a], hi[a]) if b == a else (0, 0) for b in range(rank))
            conv = Conv(out=cout, k=kernel, s=stride, p=pads, bias=op.bias, dims=op.dims)
            parts.append(Part(_kernel_text(kernel).replace("×", "x"), conv, node.post))
        return Plan(tuple(parts), f"{_kernel_text(k)} conv → {' + '.join(kernels)}",
                    Fraction(3 * rank, 3**rank), f"{3 * rank}/{3**rank}")
    if prod(k) == 1:
        return Plan((), "1×1 conv: kept")
    if kk == 3:
        return Plan((), "a 1D kernel of 3 has no smaller factorisation: kept")
    return Plan((), f"{_kernel_text(k)} kernel: only odd K factorizes")


def factorize(graph: Graph, selected: Selector = _everything) -> Rewrite:
    """Inception-v3's factorisations of standard convs (groups = 1, no dilation, square K).

    * K×K with odd K ≥ 5 → (K − 1)/2 stacked 3×3 convs, each C → N (the first C_in → N): per
      output position and channel pair ``m·9`` against ``K²`` weights (5×5: 18 vs 25, −28 %).
      The first conv takes the stride (as Inception-v3's stem); paddings are chosen by
      :func:`_stack_pads` so that the output size is exactly the original's (a strided conv
      whose size no stack reproduces is kept, with a note).
    * 3×3 → 3×1 then 1×3 (in 3D: 3×1×1, 1×3×1, 1×1×3): ``3 + 3`` against ``9`` (−33 %).

    Every new conv takes the original's bias flag and fused BN/activation (Inception-v3 follows
    each conv by BN-ReLU). The per-position ratios are exact when C_in = N and the stride is 1.
    """
    return rewrite(graph, FACTORIZE, _factorize_plan, selected)


# ------------------------------------------------------------------------------- fc → conv --

FC_TO_CONV = Step("fc-to-conv", "fc layers as convolutions (OverFeat's sliding window)",
                  "same weights")
#: layers an fc head may have between its flatten and the fc, which work on a map as well
_PASS_THROUGH = (Dropout, Identity, Activation)


def _flat_source(node: Node, ctx: Context) -> Node | None:
    """The flatten or fc that feeds ``node`` through element-wise layers only, else None."""
    cur = node
    while len(cur.inputs) == 1 and cur.inputs[0] in ctx.nodes:
        up = ctx.nodes[cur.inputs[0]]
        if isinstance(up.op, (Flatten, Linear)):
            return up
        if not isinstance(up.op, _PASS_THROUGH) or up.post:
            return None
        cur = up
    return None


def _fc_convertible(node: Node, ctx: Context, *, inside: bool = False) -> Node | None:
    """For an fc: the flatten or fc it reads (through element-wise layers), when the whole head
    from a map to this fc can become convolutions — the flatten goes only if everything that
    reads it is such a head (``inside``: that is being decided)."""
    source = _flat_source(node, ctx)
    if source is None:
        return None
    if isinstance(source.op, Flatten):
        if len(source.in_shapes[0]) < 2:
            return None
        return source if inside or _flatten_goes(source, ctx) else None
    return source if _fc_convertible(source, ctx, inside=inside) is not None else None


def _flatten_goes(node: Node, ctx: Context) -> bool:
    readers = [ctx.nodes[r] for r in ctx.consumers.get(node.name, ()) if r]
    return bool(readers) and len(node.in_shapes[0]) >= 2 and all(
        _head_reader(r, ctx) for r in readers) and "" not in ctx.consumers.get(node.name, ())


def _fc_plan(node: Node, ctx: Context) -> Plan | None:
    op = node.op
    if isinstance(op, Flatten):
        if _flatten_goes(node, ctx):
            return Plan((), f"flatten removed: the convolutional head reads the "
                        f"{_shape_text(node.in_shapes[0])} map", drop=True)
        return Plan((), "flatten kept: not only fc layers read it")
    if not isinstance(op, Linear):
        return None
    source = _fc_convertible(node, ctx)
    if source is None:
        if _fc_convertible(node, ctx, inside=True) is not None:
            return Plan((), "fc kept: the flatten it reads feeds other layers too")
        return Plan((), "fc not on a flattened map: kept")
    cin = node.in_shapes[0][0]
    if isinstance(source.op, Flatten):
        spatial = source.in_shapes[0][1:]
        k: tuple[int, ...] = tuple(spatial)
        what = f"fc {cin} → {op.out} as a {_kernel_text(k)} conv on " \
               f"{_shape_text(source.in_shapes[0])}"
    else:
        k = (1,) * _map_rank(source, ctx)
        what = f"fc {cin} → {op.out} as a 1×1 conv"
    conv = Conv(out=op.out, k=k if len(k) > 1 else k[0], bias=op.bias)
    return Plan((Part("conv", conv, node.post),), what, Fraction(1), "1", reshapes=True)


def _head_reader(node: Node, ctx: Context) -> bool:
    """``node`` reads a flatten and leads (through element-wise layers) to a convertible fc."""
    if isinstance(node.op, Linear):
        return _fc_convertible(node, ctx, inside=True) is not None
    if not isinstance(node.op, _PASS_THROUGH) or node.post:
        return False
    readers = [ctx.nodes[r] for r in ctx.consumers.get(node.name, ()) if r]
    return bool(readers) and all(_head_reader(r, ctx) for r in readers)


def _map_rank(node: Node, ctx: Context) -> int:
    """Spatial rank of the map at the start of an fc head (2 for images)."""
    source: Node | None = node
    while source is not None and not isinstance(source.op, Flatten):
        source = _flat_source(source, ctx)
    return len(source.in_shapes[0]) - 1 if source is not None else 2


def fc_to_conv(graph: Graph, selected: Selector = _everything) -> Rewrite:
    """OverFeat's "convolution implementation of sliding windows" (Sermanet et al. 2014; seed
    000): the first fc of a head, reading a flattened ``C×h×w`` map, becomes an ``h×w`` conv
    (valid) to the same number of outputs; each later fc a 1×1 conv; the flatten goes.

    Weights are unchanged (``out × C × h × w`` + bias is the fc's ``out × C·h·w`` + bias), and at
    the spec's input every count is equal — the per-layer formula is 1. The difference shows on
    a larger input (:func:`reinput`): the head then slides over the map and yields a grid of
    outputs, one per window of the original input size, for the cost of one pass.
    """
    return rewrite(graph, FC_TO_CONV, _fc_plan, selected)


# ---------------------------------------------------------------- an fc head on another input --


def check_fc_heads(graph: Graph, reference: Callable[[], Graph]) -> None:
    """Refuse an fc layer whose input features differ from those it has at the spec's own
    input: given a larger image, ``flatten`` + ``fc`` would silently grow the weight matrix
    (AlexNet's fc6 on 3×451×451: 43,264 × 4,096 instead of 9,216 × 4,096) — a different network,
    not the same one on a larger input. ``reference`` builds the graph at the spec's input; it
    is only called when ``graph`` has an fc at all. Heads behind global or adaptive pooling keep
    their features at any size and pass."""
    nodes = {n.name: n for n in graph.nodes}
    fcs = [n for n in graph.nodes if isinstance(n.op, Linear)]
    if not any(_size_dependent(n, nodes) for n in fcs):
        return  # every head sits behind global/adaptive pooling: no second build needed
    ref = reference()
    features = {n.name: prod(n.in_shapes[0]) for n in ref.nodes if isinstance(n.op, Linear)}
    for node in fcs:
        have, want = prod(node.in_shapes[0]), features.get(node.name)
        if want is None or have == want:
            continue
        op = node.op
        assert isinstance(op, Linear)
        given, own = _shape_text(graph.input_shape), _shape_text(ref.input_shape)
        raise ShapeError(
            f"on the input {given} this fc reads {have:,} features, not the {want:,} it reads "
            f"on the spec's input {own}: its weights would silently change from "
            f"{want:,} × {op.out:,} to {have:,} × {op.out:,}",
            loc=node.loc,
            layer=f"layer {node.name!r} (fc)",
            hint=f"to run the fc head over a larger image as a sliding window (OverFeat), "
                 f"compare the convolutional version: `archcalc compare SPEC --fc-to-conv "
                 f"--input {'x'.join(map(str, graph.input_shape))}`; or put an "
                 f"adaptive_avgpool before the flatten so the head takes any size",
        )


#: layers whose output size does not depend on their input's spatial size
_FIXED_SIZE = (GlobalAvgPool, GlobalMaxPool, AdaptiveAvgPool, Linear)


def _size_dependent(fc: Node, nodes: Mapping[str, Node]) -> bool:
    """Whether ``fc``'s input features may change with the input size: False when it reads,
    through flatten and element-wise layers, a global or adaptive pool or another fc."""
    cur = fc
    while len(cur.inputs) == 1 and cur.inputs[0] in nodes:
        up = nodes[cur.inputs[0]]
        if isinstance(up.op, _FIXED_SIZE):
            return False
        if not isinstance(up.op, (Flatten, *_PASS_THROUGH)):
            return True
        cur = up
    return True


# ============================================================================ catalogue ==

#: rewrite name (as on the command line, without --) → what it does
REWRITES: Mapping[str, str] = {
    "separable": "depthwise K×K + pointwise 1×1 for every K×K conv",
    "full-conv": "one standard K×K conv for every depthwise + pointwise pair",
    "bottleneck": "1×1 reduction to R channels before every K×K conv",
    "factorize": "K×K → stacked 3×3, 3×3 → 3×1 + 1×3",
    "fc-to-conv": "fc layers as convolutions, for sliding windows on a larger input",
}

__all__ = [
    "REWRITES",
    "BottleneckTable",
    "Context",
    "Part",
    "Plan",
    "Replacement",
    "Rewrite",
    "Selector",
    "Step",
    "bottleneck",
    "chain",
    "check_fc_heads",
    "factorize",
    "fc_to_conv",
    "full_conv",
    "parse_bottleneck",
    "parse_reduction",
    "reinput",
    "rewrite",
    "select",
    "separable",
    "with_input",
]
