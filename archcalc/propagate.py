"""Propagate: a bound layer on its inputs' shapes → a shaped :class:`~archcalc.graph.Node`. The
last of the builder's stages (expand → bind → propagate).

A :class:`Propagator` lives for one build: it holds the nodes made so far and each one's output
shape (the expand stage reads them: ``$cin``, residual shortcuts), and computes each distinct
(layer, input shapes) once — every block of a stage repeats the same layers on the same shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .bind import Bound
from .errors import LayerArgError, Loc, ShapeError, SpecError
from .expr import Number
from .graph import MAX_NODES, Graph, Node, Output, where
from .layers import Layer, Tensor
from .shapes import Shape
from .spec import FreezeItem

_tuple_new = tuple.__new__
_NO_REGIONS = Layer.region_count  # the layers that make no regions do not override it


class Propagator:
    """The propagate stage of one build (see the module docstring)."""

    def __init__(self, inputs: Sequence[tuple[str, Shape]]) -> None:
        self.nodes: list[Node] = []
        self.inputs = tuple(inputs)
        self.shapes: dict[str, Shape] = dict(self.inputs)
        self.used: set[str] = set()
        self._memo: dict[tuple[int, tuple[Shape, ...]], Shape] = {}
        #: multiplicity of every tensor that is not 1 (regions after RoI pooling)
        self.mult: dict[str, int] = {}
        self._index: dict[str, int] = {}

    def add(self, name: str, bound: Bound, inputs: list[str], written: str, loc: Loc,
            context: str, path: tuple[str, ...], share: tuple[str, bool] | None = None) -> str:
        """Shape ``bound`` on ``inputs`` and add it as node ``name`` (``written``: its type as
        the spec spells it; ``context``: the groups around it, for messages). ``share``: (the
        node whose weights it uses, whether the spec named it on this layer) — see
        :meth:`_shared`."""
        cls = type(bound.op)
        count = len(inputs)
        if count < cls.min_inputs or (cls.max_inputs is not None and count > cls.max_inputs):
            want = (f"{cls.min_inputs}" if cls.max_inputs == cls.min_inputs else
                    f"at least {cls.min_inputs}" if cls.max_inputs is None else
                    f"{cls.min_inputs} to {cls.max_inputs}")
            raise SpecError(
                f"{written} takes {want} input(s), got {count}: {inputs}", loc=loc,
                layer=where(context, f"layer {name!r} ({written})"),
                hint="list them with `in: [a, b]`" if cls.min_inputs > 1 else
                "remove the extra names from `in:`",
            )
        shapes = self.shapes
        in_shapes = (shapes[inputs[0]],) if count == 1 else tuple(shapes[i] for i in inputs)
        key = (id(bound), in_shapes)  # equal bound layers are one instance (Binder.pair)
        out = self._memo.get(key)
        if out is None:
            try:
                out = bound.op.out_shape(in_shapes)
                for p in bound.post:
                    p.out_shape((out,))
            except LayerArgError as exc:
                raise ShapeError(
                    f"{exc.what} (input{'s' if len(in_shapes) > 1 else ''} "
                    f"{', '.join(str(list(s)) for s in in_shapes)})",
                    loc=loc, layer=where(context, f"layer {name!r} ({written})"), hint=exc.hint,
                ) from None
            self._memo[key] = out
        if len(self.nodes) >= MAX_NODES:
            raise SpecError(f"the graph grows beyond {MAX_NODES:,} layers", loc=loc,
                            hint="reduce repeats; this limit keeps analysis bounded")
        # regions: only after a RoI pooling (most graphs have none: one attribute test)
        mult = self._multiplicity(bound, inputs, name, written, loc, context) if (
            self.mult or cls.region_count is not _NO_REGIONS) else 1
        owner = "" if share is None else self._shared(name, bound, inputs, in_shapes, out,
                                                       share, written, loc, context)
        # Node(name, op, post, inputs, in_shapes, out_shape, loc, context, path, shares,
        # multiplicity), made as the tuple it is: the generated __new__ doubles the cost, on
        # every node of a large graph
        self.nodes.append(_tuple_new(Node, (name, bound.op, bound.post, tuple(inputs), in_shapes,
                                            out, loc, context, path, owner, mult)))
        shapes[name] = out
        if mult != 1:
            self.mult[name] = mult
        self.used.update(inputs)
        return name

    def index_of(self, name: str) -> int | None:
        """The position of node ``name`` in :attr:`nodes` (None for an input). The index is
        brought up to date here, not on every node (only references and `share:` ask)."""
        index, nodes = self._index, self.nodes
        for i in range(len(index), len(nodes)):
            index[nodes[i].name] = i
        return index.get(name)

    def _multiplicity(self, bound: Bound, inputs: list[str], name: str, written: str, loc: Loc,
                      context: str) -> int:
        """R for a region layer (RoI pooling of R regions), else its inputs' common
        multiplicity: a per-region tensor cannot meet a per-image one."""
        given = [self.mult.get(i, 1) for i in inputs]
        made = bound.op.region_count()
        if made:
            if any(m != 1 for m in given):
                raise ShapeError(
                    f"{written} pools regions of a tensor that already has {max(given):,} "
                    "regions per sample", loc=loc, layer=where(context, f"layer {name!r} "
                                                                        f"({written})"),
                    hint="RoI pooling reads the per-image feature maps, before the region head")
            return made
        if len(set(given)) > 1:
            detail = ", ".join(f"{i} ×{m:,}" for i, m in zip(inputs, given, strict=True))
            raise ShapeError(
                f"{written} mixes tensors with different region counts per sample ({detail})",
                loc=loc, layer=where(context, f"layer {name!r} ({written})"),
                hint="a per-region tensor (after roi_pool/roi_align) combines only with others "
                "of the same regions")
        return given[0]

    def _shared(self, name: str, bound: Bound, inputs: list[str], in_shapes: tuple[Shape, ...],
                out: Shape, share: tuple[str, bool], written: str, loc: Loc,
                context: str) -> str:
        """The node whose weights ``name`` uses: ``share``'s, or the one that node shares in
        turn; the same layer type and weight shapes, else a located error naming both. A layer
        without weights shares nothing: an error when the spec names it, ignored inside a
        shared block (its ReLUs and pools)."""
        target, explicit = share
        label = where(context, f"layer {name!r} ({written})")
        index = self.index_of(target)
        if index is None:
            raise SpecError(f"`share: {target}` names no layer with weights defined before this "
                            "one", loc=loc, layer=label,
                            hint="share names an earlier layer (or block call) of the same type")
        owner = self.nodes[index]
        if owner.shares:
            owner = self.nodes[self._index[owner.shares]]  # indexed by index_of above
        mine = Node(name, bound.op, bound.post, tuple(inputs), in_shapes, out, loc).tensors()
        if not mine:
            if explicit:
                raise SpecError(f"{written} has no weights to share with {target!r}", loc=loc,
                                layer=label, hint="remove `share:`; only layers with weights "
                                "(conv, fc, bn, ...) share them")
            return ""
        theirs = owner.tensors()
        # the same type and the same tensors (a fused activation has none: it may differ)
        if type(bound.op) is not type(owner.op) or [
                (t.name, t.shape) for t in mine] != [(t.name, t.shape) for t in theirs]:
            def describe(tensors: Sequence[Tensor]) -> str:
                return ", ".join(f"{t.name} {list(t.shape)}" for t in tensors)
            raise ShapeError(
                f"shares the weights of {owner.name!r} ({owner.type_name}: {describe(theirs)}) "
                f"but its own are {describe(mine)} ({bound.op.type_name})", loc=loc, layer=label,
                hint="shared layers need the same type, arguments and input channels")
        return owner.name

    def graph(self, name: str, file: str, outputs: Sequence[Output],
              scale: Mapping[str, Number], freeze: tuple[FreezeItem, ...] = ()) -> Graph:
        """The finished graph, with a warning per branch whose output nothing reads (declared
        outputs are read)."""
        declared = {o.name for o in outputs}
        unused = [n for n in self.nodes if n.name not in self.used and n.name not in declared]
        warnings = tuple(
            f"{n.loc}: {n.name}: output is never used (an unconnected branch?)"
            for n in unused[:20]
        )
        if len(unused) > 20:
            warnings += (f"... and {len(unused) - 20} more unused outputs",)
        return Graph(name, file, self.inputs[0][1], tuple(self.nodes), outputs[0].name,
                     dict(scale), warnings, self.inputs, tuple(outputs), freeze)
