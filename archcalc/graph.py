"""The shaped layer graph (:class:`Node`, :class:`Graph`) and :func:`build`, which makes one
from a spec in three stages — expand (:mod:`archcalc.expand`: blocks, stages, repeats, ``if:``,
names), bind (:mod:`archcalc.bind`: arguments to typed layers) and propagate
(:mod:`archcalc.propagate`: shapes) — linear in the number of layers.

Every node keeps the location of the YAML it came from, so later stages can point at it too.

**Several inputs and outputs.** A graph has one or more named inputs (``input`` when the spec
writes one ``input:``) and one or more declared outputs, each possibly *training-only*
(an auxiliary classifier): :attr:`Graph.inputs`, :attr:`Graph.outputs`.

**Shared weights.** A node with ``shares`` set uses the weight tensors of that earlier node
(``share:``, Siamese towers, an RPN head run on five FPN levels): the same shapes, checked when
the node is made; its own parameters count zero, its work counts in full.

**Region multiplicity.** Shapes stay channel-first and batch-free. A node's ``multiplicity``
R says that each sample carries R tensors of its shape: RoI pooling turns one feature map into
R regions (R proposals per image) and everything computed from them inherits R. Counts that
grow with the data — MACs, FLOPs, activation memory — are R times those of one region;
parameters do not. The executor runs such a tensor as a batch of ``batch·R``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from . import validate
from .args import suggest
from .errors import ArchcalcError, Loc, SpecError, unknown_name
from .expr import Number
from .layers import BUFFER_ROLES, Layer, Tensor, Work
from .layers import COMMON_KEYS as COMMON_KEYS
from .shapes import Shape, prod
from .spec import FreezeItem, Spec

MAX_NODES = 250_000  # graph nodes after expansion (documented limit; ~15 s to build at most)
MAX_STEPS = 2 * MAX_NODES  # layer entries expanded, `if:`-skipped ones included
MAX_BLOCK_DEPTH = 32  # nested block calls
MAX_OUTPUTS = 64  # declared outputs (per-output totals cost one pass each)
#: block calls and composites nested in one another, in all: the builder recurses up to six
#: Python frames per level, so 64 levels (384 frames) leave room in Python's default
#: 1,000-frame stack for a 500-character expression at the innermost layer (up to 250 frames)
#: and a caller 200 frames deep; tests build a spec at this depth for each kind of nesting
MAX_NESTING = 64
COMPOSITES = ("residual", "concat", "repeat", "stages", "sequential")
INPUT = "input"


class Node(NamedTuple):
    """One layer of the expanded graph, with its shapes resolved.

    ``op`` is the main layer; ``post`` are fused element-wise layers written as arguments
    (``bn: true``, ``act: relu``) — they work in place on ``op``'s output, as the lecture tables
    count one row (and one output tensor) per conv.
    """

    name: str
    op: Layer
    post: tuple[Layer, ...]
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    loc: Loc
    context: str = ""
    #: the groups (block calls, stage blocks, repeats) that enclose this node, outermost first,
    #: each by its full dotted name: ``("layer1", "layer1.0")`` for ResNet's ``layer1.0.conv1``
    path: tuple[str, ...] = ()
    #: the earlier node whose weight tensors this one uses (``share:``), or ""
    shares: str = ""
    #: tensors of ``out_shape`` per sample: R after RoI pooling of R regions, else 1
    multiplicity: int = 1

    @property
    def type_name(self) -> str:
        return self.op.type_name

    @property
    def layers(self) -> tuple[Layer, ...]:
        return (self.op, *self.post)

    def tensors(self) -> tuple[Tensor, ...]:
        """Every tensor of the node with its role: the op's, then each fused layer's (names
        prefixed by the fused layer's type, ``bn.gamma``)."""
        found = list(self.op.tensors(self.in_shapes))
        for layer in self.post:
            head = f"{layer.type_name}."
            found.extend(t._replace(name=head + t.name) for t in layer.tensors((self.out_shape,)))
        return tuple(found)

    def weights(self) -> dict[str, Shape]:
        """Learnable tensors of the node (post-op tensors prefixed by their type)."""
        out = dict(self.op.params(self.in_shapes))
        for layer in self.post:
            for key, shape in layer.params((self.out_shape,)).items():
                out[f"{layer.type_name}.{key}"] = shape
        return out

    def param_count(self) -> int:
        """Number of learnable parameters: the sizes of :meth:`weights` summed."""
        return self.counts()[0]

    def buffer_count(self) -> int:
        """Number of buffer elements (BN running statistics): :meth:`buffer_shapes` summed."""
        return self.counts()[1]

    def counts(self) -> tuple[int, int]:
        """(parameters, buffer elements) of the node, from one pass over its tensors."""
        params = buffers = 0
        for layer, shapes in ((self.op, self.in_shapes), *((p, (self.out_shape,))
                                                           for p in self.post)):
            for t in layer.tensors(shapes):
                if t.role in BUFFER_ROLES:
                    buffers += prod(t.shape)
                else:
                    params += prod(t.shape)
        return params, buffers

    def buffer_shapes(self) -> dict[str, Shape]:
        out = dict(self.op.buffers(self.in_shapes))
        for layer in self.post:
            for key, shape in layer.buffers((self.out_shape,)).items():
                out[f"{layer.type_name}.{key}"] = shape
        return out

    def work(self) -> Work:
        total = self.op.work(self.in_shapes, self.out_shape)
        for layer in self.post:
            total = total + layer.work((self.out_shape,), self.out_shape)
        return total


class Output(NamedTuple):
    """A declared output: a node's name, and whether only training uses it (an auxiliary
    classifier: its exclusive layers are left out of the inference totals)."""

    name: str
    training: bool = False


@dataclass(frozen=True)
class Graph:
    """A shaped, topologically ordered graph (list order is a valid schedule).

    ``input_shape`` and ``output`` are the first input's shape and the first output's name;
    ``inputs`` lists every input as (name, shape) and ``outputs`` every declared output (both
    default to the single ``input`` and ``output``)."""

    name: str
    file: str
    input_shape: Shape
    nodes: tuple[Node, ...]
    output: str
    scale: Mapping[str, Number] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    inputs: tuple[tuple[str, Shape], ...] = ()
    outputs: tuple[Output, ...] = ()
    #: the spec's ``freeze:`` entries (read by :mod:`archcalc.training`)
    freeze: tuple[FreezeItem, ...] = ()

    def __post_init__(self) -> None:
        if not self.inputs:
            object.__setattr__(self, "inputs", ((INPUT, self.input_shape),))
        if not self.outputs:
            object.__setattr__(self, "outputs", (Output(self.output),))

    def node(self, name: str) -> Node:
        if not isinstance(name, str):
            raise TypeError(f"layer names are str, got {type(name).__name__}")
        for n in self.nodes:
            if n.name == name:
                return n
        raise unknown_name("layer", name, (n.name for n in self.nodes), f"graph {self.name!r}")

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.inputs)

    def training_only(self) -> frozenset[str]:
        """The nodes only training-only outputs need: no inference output depends on them.
        One reverse pass (a node is needed at inference if it is an inference output, feeds a
        node needed at inference, or reaches no output at all — a dead branch, which the
        builder warns about and counts as before)."""
        if all(not o.training for o in self.outputs):
            return frozenset()
        training = {o.name for o in self.outputs if o.training}
        inference = {o.name for o in self.outputs if not o.training}
        needed: set[str] = set()  # needed by an inference output, or by no output at all
        reaches: set[str] = set()  # reaches some output
        for node in reversed(self.nodes):
            name = node.name
            if name in inference or name in needed:
                needed.add(name)
                reaches.add(name)
            elif name in training or name in reaches:
                reaches.add(name)
            else:
                needed.add(name)  # dead: counted, and warned about by the builder
            if name in needed:
                needed.update(node.inputs)
            if name in reaches:
                reaches.update(node.inputs)
        return frozenset(n.name for n in self.nodes if n.name not in needed)


def where(context: str, layer: str | None) -> str | None:
    """The layer part of a message: the layer's label, then the chain of blocks, stages and
    repeats around it (deep nesting shortened to its outermost and innermost levels)."""
    parts = []
    if layer:
        parts.append(layer)
    if context:
        chain = context.split(", ")
        if len(chain) > 6:  # deep nesting: the outermost and innermost levels suffice
            chain = [*chain[:2], f"… {len(chain) - 4} more …", *chain[-2:]]
        parts.append(f"({', '.join(chain)})")
    return " ".join(parts) or None


def build(spec: Spec, *, input_shape: Shape | Mapping[str, Shape] | None = None,
          scale: Mapping[str, Number] | None = None) -> Graph:
    """Expand ``spec`` into a shaped :class:`Graph`.

    ``scale`` overrides the spec's scale parameters (``width``, ``resolution``, ``depth``, …);
    ``input_shape`` replaces the spec's input entirely (channel-first, no batch) — every input
    of a spec with several, or, as a mapping name → shape, the named ones.
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"build() takes a Spec (from load_spec), got {type(spec).__name__}")
    values = validate.scale_values(spec.scale, scale or {}, file=spec.file)
    named = dict(spec.inputs) if spec.inputs else {INPUT: spec.input}
    if isinstance(input_shape, Mapping):
        given: dict[str, Shape] = {}
        for key, shape in input_shape.items():
            if key not in named:
                near = suggest(str(key), list(named))
                raise SpecError(f"--input {key}=…: this spec has no input {key!r}",
                                loc=Loc(spec.file), hint=f"did you mean {near!r}?" if near else
                                "its inputs: " + ", ".join(named))
            checked = validate.input_shape(shape, spec.file)
            if checked is not None:
                given[key] = checked
    else:
        one = validate.input_shape(input_shape, spec.file)
        given = {} if one is None else {name: one for name in named}
    for key, shape in given.items():
        seq = named[key]
        if len(shape) != len(seq.items):
            raise SpecError(
                f"input shape {list(shape)} has {len(shape)} sizes but the spec's input "
                + (f"{key!r} " if len(named) > 1 else "") + f"has {len(seq.items)}",
                loc=seq.loc,
                hint="keep the rank of the spec's input: "
                + {1: "C", 2: "CxL", 3: "CxHxW", 4: "CxDxHxW"}[len(seq.items)],
            )
    try:
        from .expand import Expander

        graph = Expander(spec).run(values, given or None)
        if given:  # an fc head must not change on another input size
            from .rewrite import check_fc_heads

            check_fc_heads(graph, lambda: Expander(spec).run(values, None))
        return graph
    except ArchcalcError:
        raise
    except RecursionError:  # the caller's own stack was nearly full: MAX_NESTING keeps ours
        raise SpecError("the spec nests too deeply for the Python stack left to archcalc",
                        loc=Loc(spec.file),
                        hint=f"blocks and composites nest at most {MAX_NESTING} deep; call "
                        "archcalc from a shallower stack, or flatten the nesting") from None


def ancestors(graph: Graph, targets: Collection[str]) -> set[str]:
    """Names of the nodes ``targets`` depend on (themselves included)."""
    by_name = {node.name: node for node in graph.nodes}
    need: set[str] = set()
    todo = [t for t in targets if t in by_name]
    while todo:
        name = todo.pop()
        if name in need:
            continue
        need.add(name)
        todo.extend(i for i in by_name[name].inputs if i in by_name)
    return need
