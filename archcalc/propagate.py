"""Propagate: a bound layer on its inputs' shapes → a shaped :class:`~archcalc.graph.Node`. The
last of the builder's stages (expand → bind → propagate).

A :class:`Propagator` lives for one build: it holds the nodes made so far and each one's output
shape (the expand stage reads them: ``$cin``, residual shortcuts), and computes each distinct
(layer, input shapes) once — every block of a stage repeats the same layers on the same shapes.
"""

from __future__ import annotations

from collections.abc import Mapping

from .bind import Bound
from .errors import LayerArgError, Loc, ShapeError, SpecError
from .expr import Number
from .graph import INPUT, MAX_NODES, Graph, Node, where
from .shapes import Shape

_tuple_new = tuple.__new__


class Propagator:
    """The propagate stage of one build (see the module docstring)."""

    def __init__(self, input_shape: Shape) -> None:
        self.nodes: list[Node] = []
        self.shapes: dict[str, Shape] = {INPUT: input_shape}
        self.used: set[str] = set()
        self._memo: dict[tuple[int, tuple[Shape, ...]], Shape] = {}

    def add(self, name: str, bound: Bound, inputs: list[str], written: str, loc: Loc,
            context: str, path: tuple[str, ...]) -> str:
        """Shape ``bound`` on ``inputs`` and add it as node ``name`` (``written``: its type as
        the spec spells it; ``context``: the groups around it, for messages)."""
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
        # Node(name, op, post, inputs, in_shapes, out_shape, loc, context, path), made as the
        # tuple it is: the generated __new__ doubles the cost, on every node of a large graph
        self.nodes.append(_tuple_new(Node, (name, bound.op, bound.post, tuple(inputs), in_shapes,
                                            out, loc, context, path)))
        shapes[name] = out
        self.used.update(inputs)
        return name

    def graph(self, name: str, file: str, output: str, scale: Mapping[str, Number]) -> Graph:
        """The finished graph, with a warning per branch whose output nothing reads."""
        unused = [n for n in self.nodes if n.name not in self.used and n.name != output]
        warnings = tuple(
            f"{n.loc}: {n.name}: output is never used (an unconnected branch?)"
            for n in unused[:20]
        )
        if len(unused) > 20:
            warnings += (f"... and {len(unused) - 20} more unused outputs",)
        return Graph(name, file, self.shapes[INPUT], tuple(self.nodes), output,
                     dict(scale), warnings)
