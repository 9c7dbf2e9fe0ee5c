"""Spec → shaped layer graph: expand blocks, stages, repeats and merges; apply scaling and
defaults; resolve names; propagate shapes. One pass, linear in the number of layers.

Expressions are evaluated here because they may read ``$cin`` (channels entering the layer).
Every node keeps the location of the YAML it came from, so later stages can point at it too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, NamedTuple

from . import validate
from .args import INT_FLOOR, coerce, suggest
from .errors import (
    ArchcalcError,
    LayerArgError,
    Loc,
    ShapeError,
    SpecError,
    quote,
    unknown_name,
)
from .expr import MAX_INT, Number, checked, evaluate, scaled_count
from .gcpause import paused_gc
from .layers import (
    ALIASES,
    LAYER_TYPES,
    REQUIRED,
    Activation,
    Arg,
    Conv,
    Layer,
    Work,
    layer_args,
    make_layer,
)
from .shapes import Shape, conv_out, prod
from .spec import Block, Spec, check_keys
from .ytree import YMap, YNode, YScalar, YSeq

Value = Number | str  # a variable: numbers, or words such as activation names
_WORD = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
_VAR = re.compile(r"^\$([A-Za-z_][A-Za-z_0-9]*)$")
# a layer made from literal arguments, kept for its later copies: class, layer, post-ops, and
# the base of its generated names
_Made = tuple[type[Layer], Layer, tuple[Layer, ...], str]
MAX_NODES = 250_000  # graph nodes after expansion (documented limit; ~15 s to build at most)
MAX_STEPS = 2 * MAX_NODES  # layer entries expanded, `if:`-skipped ones included
MAX_BLOCK_DEPTH = 32  # nested block calls
#: block calls and composites nested in one another, in all: the builder recurses up to six
#: Python frames per level, so 64 levels (384 frames) leave room in Python's default
#: 1,000-frame stack for a 500-character expression at the innermost layer (up to 250 frames)
#: and a caller 200 frames deep; tests build a spec at this depth for each kind of nesting
MAX_NESTING = 64
COMMON_KEYS = ("id", "in", "if")
#: PyTorch/Keras argument names → ours, for did-you-mean hints
ARG_SYNONYMS = {"stride": "s", "strides": "s", "kernel": "k", "kernel_size": "k", "pool_size": "k",
                "padding": "p", "dilation": "d", "dilation_rate": "d", "filters": "out",
                "out_channels": "out", "channels": "out", "units": "out", "out_features": "out",
                "features": "out", "activation": "act", "use_bias": "bias", "rate": "p",
                "scale_factor": "scale", "axis": "over"}
COMPOSITES = ("residual", "concat", "repeat", "stages", "sequential")
_COMPOSITE_HINTS = {
    "residual": "write `- residual: {body: [...], shortcut: identity}`",
    "concat": "write `- concat: [[branch layers], [branch layers]]`",
    "repeat": "write `- repeat: {n: 3, layers: [...]}`",
    "stages": "write `- stages: {block: NAME, columns: [...], rows: [[...], ...]}`",
    "sequential": "write `- sequential: {layers: [...]}`",
}
#: conv defaults also apply to these (a depthwise conv in a BN-ReLU network has no bias either)
INHERITS = {"dwconv": "conv", "pwconv": "conv", "conv1d": "conv", "conv2d": "conv",
            "conv3d": "conv"}
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

    @property
    def type_name(self) -> str:
        return self.op.type_name

    @property
    def layers(self) -> tuple[Layer, ...]:
        return (self.op, *self.post)

    def weights(self) -> dict[str, Shape]:
        """Learnable tensors of the node (post-op tensors prefixed by their type)."""
        out = dict(self.op.params(self.in_shapes))
        for layer in self.post:
            for key, shape in layer.params((self.out_shape,)).items():
                out[f"{layer.type_name}.{key}"] = shape
        return out

    def param_count(self) -> int:
        """Number of learnable parameters: the sizes of :meth:`weights` summed."""
        total = sum(prod(s) for s in self.op.params(self.in_shapes).values())
        for layer in self.post:
            total += sum(prod(s) for s in layer.params((self.out_shape,)).values())
        return total

    def buffer_count(self) -> int:
        """Number of buffer elements (BN running statistics): :meth:`buffer_shapes` summed."""
        total = sum(prod(s) for s in self.op.buffers(self.in_shapes).values())
        for layer in self.post:
            total += sum(prod(s) for s in layer.buffers((self.out_shape,)).values())
        return total

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


@dataclass(frozen=True)
class Graph:
    """A shaped, topologically ordered graph (list order is a valid schedule)."""

    name: str
    file: str
    input_shape: Shape
    nodes: tuple[Node, ...]
    output: str
    scale: Mapping[str, Number] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def node(self, name: str) -> Node:
        if not isinstance(name, str):
            raise TypeError(f"layer names are str, got {type(name).__name__}")
        for n in self.nodes:
            if n.name == name:
                return n
        raise unknown_name("layer", name, (n.name for n in self.nodes), f"graph {self.name!r}")


@dataclass
class _Scope:
    prefix: str
    vars: dict[str, Value]
    defaults: tuple[YMap, ...]  # innermost last
    names: dict[str, str]  # local id → node name
    parent: _Scope | None
    context: str
    stack: tuple[str, ...]  # block call chain
    block_input: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    path: tuple[str, ...] = ()  # enclosing groups, outermost first (Node.path)


class _Builder:
    def __init__(self, spec: Spec, file: str) -> None:
        self.spec = spec
        self.file = file
        # written type name → canonical primitive, for names no block or composite takes
        # (`entry`'s short path; everything else goes through `layer`)
        self._primitives = {
            name: ALIASES.get(name, name) for name in (*LAYER_TYPES, *ALIASES)
            if name not in spec.blocks and name not in COMPOSITES
            and ALIASES.get(name, name) in LAYER_TYPES
        }
        self.nodes: list[Node] = []
        self.shapes: dict[str, Shape] = {}
        self.used: set[str] = set()
        self.all_names: set[str] = {INPUT}
        self._defaults_memo: dict[tuple[object, ...], list[tuple[str, YNode, bool]]] = {}
        self._shape_memo: dict[tuple[int, tuple[Shape, ...]], Shape] = {}
        self._literal_memo: dict[tuple[int, str], Any] = {}
        # a primitive written with literal arguments only means the same wherever it appears:
        # its validated layer is made once (see `primitive`); keyed by `_made_key`
        self._made: dict[tuple[object, ...], _Made] = {}
        self._made_shapes: dict[tuple[int, tuple[Shape, ...]], Shape] = {}
        self._plain_defaults: dict[tuple[object, ...], bool] = {}
        self.steps = 0  # layer entries expanded, `if:`-skipped ones included (<= MAX_STEPS)
        self.depth = 0  # block calls and composites entered and not yet left (<= MAX_NESTING)

    # ----------------------------------------------------------------------- helpers --
    def shape(self, name: str) -> Shape:
        return self.shapes[name]

    def fail(self, what: str, loc: Loc, scope: _Scope | None = None, layer: str | None = None,
             hint: str | None = None) -> SpecError:
        return SpecError(what, loc=loc, layer=self._where(scope, layer), hint=hint)

    def _where(self, scope: _Scope | None, layer: str | None) -> str | None:
        parts = []
        if layer:
            parts.append(layer)
        if scope is not None and scope.context:
            chain = scope.context.split(", ")
            if len(chain) > 6:  # deep nesting: the outermost and innermost levels suffice
                chain = [*chain[:2], f"… {len(chain) - 4} more …", *chain[-2:]]
            parts.append(f"({', '.join(chain)})")
        return " ".join(parts) or None

    def fresh_name(self, scope: _Scope, base: str, explicit: YNode | None) -> str:
        if explicit is not None:
            if not (isinstance(explicit, YScalar) and isinstance(explicit.value, str)
                    and explicit.value):
                raise self.fail(f"id must be a name, got {explicit.describe()}", explicit.loc,
                                scope, hint="write e.g. `id: conv1`")
            local = explicit.value
            name = scope.prefix + local
            if local in scope.names or name in self.all_names:
                first = [at for at in _id_locations(self.spec.root, local) if at != explicit.loc]
                where = f" (first at line {first[0].line})" if first and first[0].line else ""
                raise self.fail(
                    f"the name {local!r} is used twice{where}",
                    explicit.loc,
                    scope,
                    hint="give every id a unique name",
                )
            scope.names[local] = name
            self.all_names.add(name)
            return name
        count = scope.counters.get(base, 0)
        while True:
            count += 1
            name = f"{scope.prefix}{base}{count}"
            if name not in self.all_names:
                break
        scope.counters[base] = count
        self.all_names.add(name)
        return name

    def peek_name(self, scope: _Scope, base: str) -> str:
        """The name :meth:`fresh_name` would give next, without taking it."""
        count = scope.counters.get(base, 0)
        while True:
            count += 1
            name = f"{scope.prefix}{base}{count}"
            if name not in self.all_names:
                return name

    def resolve(self, ref: YNode, scope: _Scope, layer: str) -> str:
        if not (isinstance(ref, YScalar) and isinstance(ref.value, str)):
            raise self.fail(f"`in` must name a node (or a list of names), got {ref.describe()}",
                            ref.loc, scope, layer, hint="write `in: conv1` or `in: [a, b]`")
        word = ref.value
        s: _Scope | None = scope
        while s is not None:
            if word in s.names:
                return s.names[word]
            if word == INPUT and s.block_input is not None:
                return s.block_input
            s = s.parent
        if word in self.shapes:
            return word
        known = [k for sc in _chain(scope) for k in sc.names] + list(self.shapes)
        near = suggest(word, known)
        later = [at for at in _id_locations(self.spec.root, word) if at.line > ref.loc.line or
                 (at.line == ref.loc.line and at.col > ref.loc.col)]
        if later:  # a forward reference: following it would close a cycle
            raise self.fail(
                f"`in: {word}` refers to layer {word!r} defined later at line {later[0].line}; "
                "a graph cannot have cycles",
                ref.loc,
                scope,
                layer,
                hint="inputs must be defined above their use: move the layer, or take the input "
                "from an earlier layer",
            )
        raise self.fail(
            f"`in: {word}` names no node defined before this layer",
            ref.loc,
            scope,
            layer,
            hint=(f"did you mean {near!r}? " if near else "")
            + "inputs must be defined above their use (a graph cannot have cycles)",
        )

    def env(self, scope: _Scope, cin: int | None) -> dict[str, Value]:
        if cin is None:
            return scope.vars
        return {**scope.vars, "cin": cin}

    def number(self, node: YNode, scope: _Scope, cin: int | None, what: str,
               kind: str = "int0", layer: str | None = None) -> Any:
        try:
            return coerce(node, what, kind, lambda t: evaluate(t, self.env(scope, cin)))
        except LayerArgError as exc:
            raise SpecError(exc.what, loc=node.loc, layer=self._where(scope, layer),
                            hint=exc.hint) from None

    def condition(self, node: YNode | None, scope: _Scope, cin: int | None,
                  layer: str | None = None) -> bool:
        if node is None:
            return True
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        return bool(self.number(node, scope, cin, "if", "float", layer))

    def add_node(self, node: Node) -> str:
        if len(self.nodes) >= MAX_NODES:
            raise SpecError(
                f"the graph grows beyond {MAX_NODES:,} layers",
                loc=node.loc,
                hint="reduce repeats; this limit keeps analysis bounded",
            )
        self.nodes.append(node)
        self.shapes[node.name] = node.out_shape
        self.used.update(node.inputs)
        return node.name

    # ------------------------------------------------------------------------ entries --
    def sequence(self, items: Sequence[YNode], cur: str, scope: _Scope) -> str:
        for item in items:
            cur = self.entry(item, cur, scope)
        return cur

    def entry(self, item: YNode, cur: str, scope: _Scope) -> str:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.fail(
                f"expanding the spec takes more than {MAX_STEPS:,} steps",
                item.loc,
                scope,
                hint="reduce repeats; this limit keeps analysis bounded",
            )
        if type(item) is YMap and len(item.entries) == 1:  # `- conv: {...}`, the common case
            ((kind, value),) = item.entries.items()
            canonical = self._primitives.get(kind)
            if (canonical is None and kind == "concat" and type(value) is YMap
                    and "branches" not in value.entries and kind not in self.spec.blocks):
                canonical = "concat"  # concat of named inputs: a primitive (not branches)
            if canonical is not None and (value is None or type(value) is YMap):
                return self.primitive(canonical, kind, value, item.keyloc(kind), cur, scope)
        if isinstance(item, YScalar):
            if not isinstance(item.value, str):
                raise self.fail(
                    f"a layer must be a type name or a one-key mapping, got {item.describe()}",
                    item.loc,
                    scope,
                    hint="write `- relu` or `- conv: {out: 64, k: 3}`",
                )
            canonical = self._primitives.get(item.value)  # `- relu`: a layer, not a level
            if canonical is not None:
                return self.primitive(canonical, item.value, None, item.loc, cur, scope)
            return self.descend(item.value, None, item.loc, item.loc, cur, scope)
        if isinstance(item, YSeq):
            raise self.fail(
                "a nested list is not a layer",
                item.loc,
                scope,
                hint="write `- type: {args}`; branches go under `concat:` or `residual:`",
            )
        if len(item.entries) != 1:
            keys = list(item.entries)
            hint = "indent the arguments under the type: `- conv: {out: 64, k: 3}`"
            raise self.fail(
                f"a layer is a one-key mapping `type: {{args}}`, got keys {keys}",
                item.loc,
                scope,
                hint=hint,
            )
        ((kind, value),) = item.entries.items()
        return self.descend(kind, value, item.keyloc(kind), item.loc, cur, scope)

    def descend(self, kind: str, value: YNode | None, kloc: Loc, loc: Loc, cur: str,
                scope: _Scope) -> str:
        """:meth:`layer`, one nesting level deeper: block calls and composites (residual,
        concat, repeat, stages, sequential) nest at most MAX_NESTING levels in all, so the
        builder's recursion stays within Python's stack for every spec within the limits."""
        if self.depth >= MAX_NESTING:
            raise self.fail(
                f"blocks and composites nest more than {MAX_NESTING} levels deep",
                kloc,
                scope,
                hint="flatten the nesting: use repeat or stages instead of nesting blocks",
            )
        self.depth += 1
        try:
            return self.layer(kind, value, kloc, loc, cur, scope)
        finally:
            self.depth -= 1

    def layer(self, kind: str, value: YNode | None, kloc: Loc, loc: Loc, cur: str,
              scope: _Scope) -> str:
        if isinstance(value, YScalar) and value.value is None:
            value = None
        if kind in self.spec.blocks:
            return self.block_call(self.spec.blocks[kind], value, kloc, cur, scope)
        if kind == "concat" and isinstance(value, YSeq):
            return self.branches(kind, None, value, kloc, cur, scope)
        if kind in COMPOSITES and (kind != "concat" or _has(value, "branches")):
            if not isinstance(value, YMap):
                raise self.fail(f"{kind} takes a mapping of arguments, got "
                                f"{value.describe() if value is not None else 'none'}", kloc,
                                scope, kind, hint=_COMPOSITE_HINTS[kind])
            handler = getattr(self, kind)
            result: str = handler(value, kloc, cur, scope)
            return result
        canonical = ALIASES.get(kind, kind)
        if canonical not in LAYER_TYPES:
            options = [*LAYER_TYPES, *ALIASES, *COMPOSITES, *self.spec.blocks]
            near = suggest(kind, options)
            raise self.fail(
                f"unknown layer type {quote(kind)}",
                kloc,
                scope,
                hint=f"did you mean {near!r}?" if near else
                "see the layer reference in docs/spec-format.md",
            )
        if value is not None and not isinstance(value, YMap):
            raise self.fail(
                f"the arguments of {kind} must be a mapping, got {value.describe()}",
                value.loc,
                scope,
                kind,
                hint=f"write `- {kind}: {{...}}` or just `- {kind}`",
            )
        return self.primitive(canonical, kind, value, kloc, cur, scope)

    # ---------------------------------------------------------------------- primitives --
    def defaults_for(self, canonical: str, scope: _Scope) -> list[tuple[str, YNode, bool]]:
        """(key, value, inherited) from the defaults chain, outermost first (memoised per chain:
        every layer of a type in the same scope asks the same question)."""
        key = (canonical, *map(id, scope.defaults))
        found = self._defaults_memo.get(key)
        if found is None:
            found = self._defaults_memo[key] = self._defaults_for(canonical, scope)
        return found

    def _defaults_for(self, canonical: str, scope: _Scope) -> list[tuple[str, YNode, bool]]:
        out: list[tuple[str, YNode, bool]] = []
        parents = [INHERITS[canonical]] if canonical in INHERITS else []
        for dmap in scope.defaults:
            for kind_name, inherited in [*((p, True) for p in parents), (canonical, False)]:
                for written, dnode in dmap.entries.items():  # `linear:` defaults apply to fc
                    if ALIASES.get(written, written) == kind_name and isinstance(dnode, YMap):
                        out.extend((k, v, inherited) for k, v in dnode.entries.items())
        return out

    def inputs_of(self, args: YMap | None, cur: str, scope: _Scope, label: str) -> list[str]:
        ref = args.get("in") if args is not None else None
        if ref is None:
            return [cur]
        if isinstance(ref, YSeq):
            if not ref.items:
                raise self.fail("`in` is an empty list", ref.loc, scope, label,
                                hint="name the input layer(s), or remove `in:` to take the "
                                "previous layer")
            return [self.resolve(r, scope, label) for r in ref.items]
        return [self.resolve(ref, scope, label)]

    def primitive(self, canonical: str, written: str, args: YMap | None, kloc: Loc, cur: str,
                  scope: _Scope) -> str:
        """Add one layer node.

        Written-out specs repeat the same literal layer thousands of times (`- conv: {out: 8,
        k: 3}` on every line): once such a layer has been validated and made, later copies only
        resolve their inputs, look up their shape and take a name. Anything that could fail or
        mean something else in another place (an unknown input, a new input shape, a wrong
        input count) goes through the full path below, which reports it.
        """
        key = self._made_key(canonical, written, args, scope)
        if key is not None:
            made = self._made.get(key)
            if made is not None:
                done = self._primitive_again(made, args, kloc, cur, scope)
                if done is not None:
                    return done
        return self._primitive(canonical, written, args, kloc, cur, scope, key)

    def _made_key(self, canonical: str, written: str, args: YMap | None,
                  scope: _Scope) -> tuple[object, ...] | None:
        """What a primitive's layer depends on, when that is only literal values: the type,
        the defaults in scope and each argument's value and type (1, 1.0 and true are equal
        in Python but not as arguments). None when a value needs the scope (`$x`, `ch()`),
        is a list or is a condition; `id` and `in` differ per layer and are handled apart."""
        dkey = (canonical, *map(id, scope.defaults))
        plain = self._plain_defaults.get(dkey)
        if plain is None:
            plain = self._plain_defaults[dkey] = all(
                _literal(node) for _, node, _ in self.defaults_for(canonical, scope))
        if not plain:
            return None
        key: list[object] = [written, dkey]
        if args is not None:
            for name, node in args.entries.items():
                if name == "in" or name == "id":
                    continue
                if name == "if" or type(node) is not YScalar:
                    return None
                value = node.value
                if type(value) is str and ("$" in value or "(" in value):
                    return None  # not a literal (see `_literal`)
                key += (name, type(value), value)
        return tuple(key)

    def _primitive_again(self, made: _Made, args: YMap | None, kloc: Loc, cur: str,
                         scope: _Scope) -> str | None:
        """Add a node whose layer was made before (see `primitive`); None if anything about
        this copy needs the full path (which then reports it with the layer's name)."""
        cls, op, post, base = made
        try:
            inputs = self.inputs_of(args, cur, scope, "")
        except SpecError:
            return None
        count = len(inputs)
        shapes = self.shapes
        in_shapes = (shapes[inputs[0]],) if count == 1 else tuple(shapes[i] for i in inputs)
        if count < cls.min_inputs or (cls.max_inputs is not None and count > cls.max_inputs):
            return None
        out = self._made_shapes.get((id(made), in_shapes))
        if out is None:
            return None
        name = self.fresh_name(scope, base, args.get("id") if args is not None else None)
        # Node(name, op, post, inputs, in_shapes, out_shape, loc, context, path) made as the
        # tuple it is (its generated __new__ doubles the cost)
        return self.add_node(tuple.__new__(Node, (name, op, post, tuple(inputs), in_shapes, out,
                                                  kloc, scope.context, scope.path)))

    def _primitive(self, canonical: str, written: str, args: YMap | None, kloc: Loc, cur: str,
                   scope: _Scope, made_key: tuple[object, ...] | None) -> str:
        id_node = args.get("id") if args is not None else None
        label = id_node.value if isinstance(id_node, YScalar) else None
        # errors before the node exists still name it: by its id, or the name it will get
        label = label or self.peek_name(scope, canonical if canonical != "activation" else written)
        label_text = f"layer {label!r} ({written})"
        inputs = self.inputs_of(args, cur, scope, label_text)
        in_shapes = tuple(self.shapes[i] for i in inputs)
        cin = in_shapes[0][0]
        if args is not None and not self.condition(args.get("if"), scope, cin, label_text):
            return cur
        cls, spec_args, post_names, allowed = _signature(canonical)
        values: dict[str, YNode] = {}
        for key, node, inherited in self.defaults_for(canonical, scope):
            if key in spec_args or key in post_names:
                values[key] = node
            elif not inherited:
                near = suggest(key, allowed)
                raise self.fail(
                    f"defaults for {canonical} set {key!r}, which {canonical} does not take",
                    node.loc,
                    scope,
                    hint=f"did you mean {near!r}?" if near else
                    f"did you mean {ARG_SYNONYMS[key]!r}?" if ARG_SYNONYMS.get(key) in allowed
                    else f"{canonical} takes: " + ", ".join(allowed),
                )
        if args is not None:
            allowed_keys = _allowed_keys(canonical)
            for key in args:
                if key not in allowed_keys:
                    near = suggest(key, allowed)
                    if near is None and ARG_SYNONYMS.get(key) in allowed:
                        near = ARG_SYNONYMS[key]  # PyTorch/Keras spellings: stride → s
                    raise self.fail(
                        f"{written} has no argument {quote(key)}",
                        args.keyloc(key),
                        scope,
                        label_text,
                        hint=f"did you mean {near!r}?" if near else
                        (f"{written} takes: " + ", ".join(allowed)),
                    )
                if key not in COMMON_KEYS:
                    values[key] = args.entries[key]
        for key, node in values.items():  # `act: $nl` where $nl holds a word
            if not (type(node) is YScalar and type(node.value) is str
                    and node.value[:1] == "$"):
                continue
            wordy = key == "act" or (key in spec_args and spec_args[key].kind.startswith(
                ("choice:", "name")))
            if wordy and isinstance(node, YScalar) and isinstance(node.value, str):
                word = _VAR.match(node.value)
                if word and isinstance(scope.vars.get(word.group(1)), str):
                    values[key] = YScalar(scope.vars[word.group(1)], node.loc)
        ev = lambda t: evaluate(t, self.env(scope, cin))  # noqa: E731
        typed: dict[str, Any] = {}
        for name, given in values.items():  # only the arguments given, not every possible one
            arg = spec_args.get(name)
            if arg is None:
                continue  # bn / act: post-ops, below
            if isinstance(given, YScalar) and given.value is None:
                if arg.default is REQUIRED:  # `k:` left empty: null is not a kernel size
                    raise self.fail(
                        f"{written} needs the argument {name!r} ({arg.doc}), got nothing (null)",
                        given.loc,
                        scope,
                        label_text,
                        hint=f"give a value: `{name}: ...`",
                    )
                continue
            if type(given) is YScalar and type(given.value) is int:
                floor = INT_FLOOR.get(arg.kind)  # a plain in-range integer: taken as it is
                if floor is not None and floor <= given.value <= MAX_INT:
                    typed[name] = given.value
                    continue
            typed[name] = self._coerce(given, name, arg.kind, ev, scope, label_text,
                                       cls.ARG_HINTS.get(name))
        for name in _required_args(canonical):
            if name not in values:
                raise self.fail(
                    f"{written} needs the argument {name!r} ({spec_args[name].doc})",
                    kloc,
                    scope,
                    label_text,
                    hint=f"add `{name}:` to the layer",
                )
        post: list[Layer] = []
        bn_node = values.get("bn")
        if bn_node is not None and self._coerce(bn_node, "bn", "bool", ev, scope, label_text):
            post.append(make_layer("bn", {}))
        act_node = values.get("act")
        if act_node is not None:
            act = self._activation(act_node, scope, label_text)
            if act is not None:
                post.append(act)
        try:
            op = make_layer(canonical, typed)
        except LayerArgError as exc:
            raise exc.located(kloc, self._where(scope, label_text)) from None
        base = canonical if canonical != "activation" else written
        name = self.fresh_name(scope, base, args.get("id") if args is not None else None)
        label_text = f"layer {name!r} ({written})"
        if len(inputs) < cls.min_inputs or (cls.max_inputs is not None
                                            and len(inputs) > cls.max_inputs):
            want = (f"{cls.min_inputs}" if cls.max_inputs == cls.min_inputs else
                    f"at least {cls.min_inputs}" if cls.max_inputs is None else
                    f"{cls.min_inputs} to {cls.max_inputs}")
            raise self.fail(
                f"{written} takes {want} input(s), got {len(inputs)}: {inputs}",
                kloc,
                scope,
                label_text,
                hint="list them with `in: [a, b]`" if cls.min_inputs > 1 else
                "remove the extra names from `in:`",
            )
        try:
            # the same layer on the same input recurs in every block of a stage: shape it once
            shape_key = (id(op), in_shapes)  # equal layers are one shared instance
            out = self._shape_memo.get(shape_key)
            if out is None:
                out = self._shape_memo[shape_key] = op.out_shape(in_shapes)
            for p in post:
                p.out_shape((out,))
        except LayerArgError as exc:
            hint = exc.hint
            raise ShapeError(
                f"{exc.what} (input{'s' if len(in_shapes) > 1 else ''} "
                f"{', '.join(str(list(s)) for s in in_shapes)})",
                loc=kloc,
                layer=self._where(scope, label_text),
                hint=hint,
            ) from None
        if made_key is not None:  # later copies of this literal layer take the short path
            made = self._made.setdefault(made_key, (cls, op, tuple(post), base))
            self._made_shapes[(id(made), in_shapes)] = out
        return self.add_node(Node(name, op, tuple(post), tuple(inputs), in_shapes, out, kloc,
                                  scope.context, scope.path))

    def _coerce(self, node: YNode, name: str, kind: str, ev: Any, scope: _Scope,
                label: str, hint: str | None = None) -> Any:
        # A literal (no expression, no $variable) means the same wherever its layer is expanded:
        # coerce it once per YAML node (a block's layers are expanded once per block instance).
        literal = isinstance(node, YScalar) and not isinstance(node.value, str)
        if literal:
            found = self._literal_memo.get((id(node), kind))
            if found is not None:
                return found
        try:
            value = coerce(node, name, kind, ev)
        except LayerArgError as exc:
            raise SpecError(exc.what, loc=node.loc, layer=self._where(scope, label),
                            hint=hint or exc.hint) from None
        if literal:
            self._literal_memo[(id(node), kind)] = value
        return value

    def _activation(self, node: YNode, scope: _Scope, label: str) -> Activation | None:
        if type(node) is YScalar:  # the common case: a known name, one shared instance each
            found = _ACTIVATIONS.get(node.value)
            if found is not None:
                return found
        if isinstance(node, YScalar) and (node.value is None or node.value is False
                                          or node.value == "none"):
            return None
        if isinstance(node, YScalar) and isinstance(node.value, str):
            fn = node.value
            if LAYER_TYPES.get(fn, (None,))[0] is Activation:
                return make_layer(fn, {})  # type: ignore[return-value]
            options = [k for k, (c, _) in LAYER_TYPES.items() if c is Activation]
            near = suggest(fn, options)
            raise self.fail(
                f"unknown activation {fn!r}",
                node.loc,
                scope,
                label,
                hint=f"did you mean {near!r}?" if near else "choose one of " + ", ".join(options),
            )
        raise self.fail(f"act must be an activation name or none, got {node.describe()}",
                        node.loc, scope, label, hint="write e.g. `act: relu` or `act: none`")

    # ---------------------------------------------------------------------- composites --
    def residual(self, args: YMap, kloc: Loc, cur: str, scope: _Scope) -> str:
        check_keys(args, ("body", "shortcut", "act", *COMMON_KEYS), "residual")
        inputs = self.inputs_of(args, cur, scope, "residual")
        if len(inputs) != 1:
            raise self.fail(f"a residual takes one input, got {len(inputs)}", kloc, scope,
                            "residual", hint="give one name in `in:`; merge others with `add`")
        start = inputs[0]
        if not self.condition(args.get("if"), scope, self.shapes[start][0]):
            return cur
        body = args.get("body")
        if not isinstance(body, YSeq) or not body.items:
            raise self.fail("residual needs a non-empty `body` list", args.loc, scope, "residual",
                            hint=_COMPOSITE_HINTS["residual"])
        out = self.sequence(body.items, start, scope)
        mode_node = args.get("shortcut")
        mode: str | YSeq = "identity"
        if isinstance(mode_node, YSeq):
            mode = mode_node
        elif mode_node is not None:
            if not (isinstance(mode_node, YScalar)
                    and mode_node.value in ("identity", "project", "if_match")):
                raise self.fail(
                    "shortcut must be identity, project, if_match or a list of layers, got "
                    + mode_node.describe(),
                    mode_node.loc,
                    scope,
                    "residual",
                    hint="identity adds the input as is; project adds a 1x1 conv (+ BN) "
                    "with the body's stride; if_match adds only when the shapes agree",
                )
            mode = str(mode_node.value)
        in_shape, out_shape = self.shapes[start], self.shapes[out]
        if isinstance(mode, YSeq):
            shortcut = self.sequence(mode.items, start, scope)
        elif in_shape == out_shape or mode == "identity":
            shortcut = start
        elif mode == "if_match":
            return out
        else:
            shortcut = self.projection(start, out, kloc, scope)
        add_args = {k: v for k, v in args.entries.items() if k in ("act", "id")}
        add_args["in"] = _refs(args.loc, [shortcut, out])
        return self.primitive("add", "add", YMap(add_args, {}, args.loc), kloc, cur, scope)

    def projection(self, start: str, out: str, loc: Loc, scope: _Scope) -> str:
        """ResNet's projection shortcut: a 1×1 conv with the stride that maps the input's size
        onto the body's, then BN if the conv defaults have BN (no activation)."""
        a, b = self.shapes[start], self.shapes[out]
        if len(a) != len(b) or len(a) < 2:
            raise ShapeError(f"cannot project {list(a)} onto {list(b)}", loc=loc,
                             layer=self._where(scope, "residual"),
                             hint="give an explicit `shortcut:` list of layers")
        strides = []
        for n, m in zip(a[1:], b[1:], strict=True):
            s = max(1, round(n / m))
            if conv_out(n, 1, s, (0, 0)) != m:
                raise ShapeError(
                    f"the body maps size {n} to {m}; no 1x1 stride maps {n} to {m}",
                    loc=loc,
                    layer=self._where(scope, "residual shortcut"),
                    hint="give an explicit `shortcut:` list of layers",
                )
            strides.append(s)
        conv_defaults = {k: v for k, v, _ in self.defaults_for("conv", scope)}
        bias = conv_defaults.get("bias")
        bn = conv_defaults.get("bn")
        op = Conv(out=b[0], k=1, s=tuple(strides), bias=bool(bias.value) if isinstance(
            bias, YScalar) and bias.value is not None else True)
        post: tuple[Layer, ...] = ((make_layer("bn", {}),) if isinstance(bn, YScalar)
                                   and bn.value else ())
        name = self.fresh_name(scope, "downsample", None)
        shape = op.out_shape((a,))
        return self.add_node(Node(name, op, post, (start,), (a,), shape, loc, scope.context,
                                  scope.path))

    def branches(self, kind: str, args: YMap | None, branches: YSeq, kloc: Loc, cur: str,
                 scope: _Scope) -> str:
        start = cur
        if args is not None:
            inputs = self.inputs_of(args, cur, scope, kind)
            start = inputs[0]
            if not self.condition(args.get("if"), scope, self.shapes[start][0]):
                return cur
        outs: list[str] = []
        for branch in branches.items:
            if isinstance(branch, YSeq):
                outs.append(self.sequence(branch.items, start, scope) if branch.items else start)
            else:
                outs.append(self.entry(branch, start, scope))
        merge = {k: v for k, v in (args.entries.items() if args else ()) if k in ("id", "act")}
        merge["in"] = _refs(branches.loc, outs)
        return self.primitive("concat", "concat", YMap(merge, {}, branches.loc), kloc, cur, scope)

    def concat(self, args: YMap, kloc: Loc, cur: str, scope: _Scope) -> str:
        check_keys(args, ("branches", *COMMON_KEYS), "concat")
        branches = args.get("branches")
        if not isinstance(branches, YSeq) or not branches.items:
            raise self.fail("concat `branches` must be a list of layer lists", args.loc, scope,
                            "concat", hint=_COMPOSITE_HINTS["concat"])
        return self.branches("concat", args, branches, kloc, cur, scope)

    def sequential(self, args: YMap, kloc: Loc, cur: str, scope: _Scope) -> str:
        check_keys(args, ("layers", *COMMON_KEYS), "sequential")
        inputs = self.inputs_of(args, cur, scope, "sequential")
        layers = args.get("layers")
        if not isinstance(layers, YSeq):
            raise self.fail("sequential needs a `layers` list", args.loc, scope, "sequential",
                            hint=_COMPOSITE_HINTS["sequential"])
        if not self.condition(args.get("if"), scope, self.shapes[inputs[0]][0]):
            return cur
        return self.sequence(layers.items, inputs[0], scope)

    def repeat(self, args: YMap, kloc: Loc, cur: str, scope: _Scope) -> str:
        check_keys(args, ("n", "layers", *COMMON_KEYS), "repeat")
        n_node = args.get("n")
        layers = args.get("layers")
        if n_node is None or not isinstance(layers, YSeq) or not layers.items:
            raise self.fail("repeat needs `n` and a non-empty `layers` list", args.loc, scope,
                            "repeat", hint=_COMPOSITE_HINTS["repeat"])
        inputs = self.inputs_of(args, cur, scope, "repeat")
        cur = inputs[0]
        if not self.condition(args.get("if"), scope, self.shapes[cur][0]):
            return cur
        n = self.number(n_node, scope, self.shapes[cur][0], "n")
        self._check_count(n, n_node.loc, scope)
        base = self.fresh_name(scope, "repeat", args.get("id"))
        nodes0, steps0 = len(self.nodes), self.steps
        for i in range(n):
            child = _Scope(f"{base}.{i}.", scope.vars, scope.defaults, {}, scope,
                           _join(scope.context, f"repeat {i + 1}/{n}"), scope.stack,
                           block_input=cur, path=(*scope.path, base, f"{base}.{i}"))
            cur = self.sequence(layers.items, cur, child)
            if i == 0:
                self._check_growth(n, nodes0, steps0, n_node.loc, scope)
        self._name_output(args.get("id"), cur, scope)
        return cur

    def _name_output(self, ident: YNode | None, out: str, scope: _Scope) -> None:
        """``id`` of a repeat or block call names its output (``in: id`` reads it); its layers are
        named ``id.…``."""
        if isinstance(ident, YScalar) and isinstance(ident.value, str):
            scope.names[ident.value] = out

    def _check_count(self, n: int, loc: Loc, scope: _Scope) -> None:
        if n > MAX_NODES:
            raise self.fail(f"{n:,} repeats exceed the limit of {MAX_NODES:,} layers", loc, scope,
                            hint="reduce n; this limit keeps analysis bounded")

    def _check_growth(self, n: int, nodes0: int, steps0: int, loc: Loc, scope: _Scope) -> None:
        """After the first of ``n`` repetitions: refuse at once if the other ``n − 1`` would pass
        a limit, instead of building up to it (a nested ``repeat`` of 2000 × 2000 fails fast)."""
        per_node, per_step = len(self.nodes) - nodes0, self.steps - steps0
        if len(self.nodes) + per_node * (n - 1) > MAX_NODES:
            raise self.fail(
                f"{n:,} repetitions of {per_node:,} layers make {n * per_node:,} layers; the "
                f"limit is {MAX_NODES:,}",
                loc,
                scope,
                hint="reduce n; this limit keeps analysis bounded",
            )
        if self.steps + per_step * (n - 1) > MAX_STEPS:
            raise self.fail(
                f"{n:,} repetitions of {per_step:,} entries make {n * per_step:,} expansion "
                f"steps; the limit is {MAX_STEPS:,}",
                loc,
                scope,
                hint="reduce n; this limit keeps analysis bounded",
            )

    def stages(self, args: YMap, kloc: Loc, cur: str, scope: _Scope) -> str:
        check_keys(args, ("block", "columns", "rows", "args", *COMMON_KEYS), "stages")
        bnode, cnode, rnode = args.get("block"), args.get("columns"), args.get("rows")
        if not (isinstance(bnode, YScalar) and isinstance(bnode.value, str)):
            raise self.fail("stages needs `block: NAME`", args.loc, scope, "stages",
                            hint=_COMPOSITE_HINTS["stages"])
        block = self.spec.blocks.get(bnode.value)
        if block is None:
            near = suggest(bnode.value, list(self.spec.blocks))
            raise self.fail(f"no block named {bnode.value!r}", bnode.loc, scope, "stages",
                            hint=f"did you mean {near!r}?" if near else "define it under blocks:")
        if not isinstance(cnode, YSeq) or not all(
                isinstance(c, YScalar) and isinstance(c.value, str) for c in cnode.items):
            raise self.fail("stages needs `columns: [names...]`", args.loc, scope, "stages",
                            hint=_COMPOSITE_HINTS["stages"])
        columns = [str(c.value) for c in cnode.items if isinstance(c, YScalar)]
        if not isinstance(rnode, YSeq) or not rnode.items:
            raise self.fail("stages needs a non-empty `rows` list", args.loc, scope, "stages",
                            hint=_COMPOSITE_HINTS["stages"])
        extra = args.get("args")
        if extra is not None and not isinstance(extra, YMap):
            raise self.fail(f"stages `args` must be a mapping, got {extra.describe()}",
                            extra.loc, scope, "stages", hint="write e.g. `args: {t: 6}`")
        inputs = self.inputs_of(args, cur, scope, "stages")
        cur = inputs[0]
        if not self.condition(args.get("if"), scope, self.shapes[cur][0]):
            return cur
        prefix_node = args.get("id")
        prefix = str(prefix_node.value) if isinstance(prefix_node, YScalar) else "stage"
        for r, row in enumerate(rnode.items, start=1):
            if not isinstance(row, YSeq) or len(row.items) != len(columns):
                raise self.fail(
                    f"stage row {r} has {len(row.items) if isinstance(row, YSeq) else 0} "
                    f"values but there are {len(columns)} columns {columns}",
                    row.loc,
                    scope,
                    "stages",
                    hint="give one value per column, in the order of `columns:`",
                )
            cells = dict(zip(columns, row.items, strict=True))
            n = 1
            if "n" in cells:
                n = self.number(cells.pop("n"), scope, self.shapes[cur][0], "n", "int+")
                depth = scope.vars.get("depth")
                if depth is not None:  # depth multiplier, rounded up (EfficientNet)
                    try:
                        n = scaled_count(n, depth)
                    except LayerArgError as exc:
                        raise self.fail(exc.what, row.loc, scope, "stages", exc.hint) from None
                self._check_count(n, row.loc, scope)
            stage_name = f"{scope.prefix}{prefix}{r}"
            nodes0, steps0 = len(self.nodes), self.steps
            for i in range(n):
                call = dict(cells)
                if i > 0 and "s" in call:
                    call["s"] = YScalar(1, call["s"].loc)  # only the first block takes the stride
                if extra is not None:
                    call = {**extra.entries, **call}
                ctx = f"stage row {r}, block {i + 1}/{n}"
                cur = self.expand(block, call, row.loc, cur, scope, f"{stage_name}.{i}.", ctx,
                                  (*scope.path, stage_name, f"{stage_name}.{i}"))
                if i == 0:
                    self._check_growth(n, nodes0, steps0, row.loc, scope)
        return cur

    def block_call(self, block: Block, value: YNode | None, kloc: Loc, cur: str,
                   scope: _Scope) -> str:
        args = value if isinstance(value, YMap) else None
        if value is not None and args is None:
            raise self.fail(f"the arguments of block {block.name!r} must be a mapping, got "
                            f"{value.describe()}", value.loc, scope, block.name,
                            hint=f"write `- {block.name}: {{{', '.join(block.params[:2])}: ...}}`"
                            if block.params else f"write `- {block.name}`")
        inputs = self.inputs_of(args, cur, scope, block.name)
        cur = inputs[0]
        if args is not None and not self.condition(args.get("if"), scope, self.shapes[cur][0]):
            return cur
        call = {k: v for k, v in (args.entries.items() if args else ()) if k not in COMMON_KEYS}
        ident = args.get("id") if args else None
        base = self.fresh_name(scope, block.name, ident)
        out = self.expand(block, call, kloc, cur, scope, base + ".", "", (*scope.path, base))
        self._name_output(ident, out, scope)
        return out

    def expand(self, block: Block, call: Mapping[str, YNode], loc: Loc, cur: str, scope: _Scope,
               prefix: str, ctx: str, path: tuple[str, ...]) -> str:
        if block.name in scope.stack:
            raise self.fail(
                f"block {block.name!r} calls itself ({' → '.join([*scope.stack, block.name])})",
                loc,
                scope,
                hint="blocks cannot be recursive; use repeat or stages",
            )
        if len(scope.stack) >= MAX_BLOCK_DEPTH:
            raise self.fail(f"blocks nested deeper than {MAX_BLOCK_DEPTH}", loc, scope,
                            hint="flatten the block hierarchy; use repeat or stages")
        cin = self.shapes[cur][0]
        for key in call:
            if key not in block.params:
                near = suggest(key, block.params)
                raise self.fail(
                    f"block {block.name!r} has no parameter {key!r}",
                    call[key].loc,
                    scope,
                    hint=f"did you mean {near!r}?" if near else
                    "parameters: " + (", ".join(block.params) or "none"),
                )
        variables: dict[str, Value] = dict(self.globals)
        for pname in block.params:
            node = call.get(pname, block.param_defaults.get(pname))
            if node is None:
                raise self.fail(
                    f"block {block.name!r} needs the parameter {pname!r}",
                    loc,
                    scope,
                    hint=f"pass {pname}: ... (parameters: {', '.join(block.params)})",
                )
            # parameters are evaluated in the caller's scope (they may use the caller's $names)
            variables[pname] = self.value_of(node, scope if pname in call else _Scope(
                prefix, variables, (), {}, scope, scope.context, scope.stack), cin,
                f"parameter {pname!r} of block {block.name!r}")
        context = _join(scope.context, _join(ctx, f"block {block.name!r}"))
        child = _Scope(prefix, variables, (*self.top_defaults, *((block.defaults,) if
                       block.defaults else ())), {}, scope, context,
                       (*scope.stack, block.name), block_input=cur, path=path)
        if block.let is not None:
            self.bind_let(block.let, child, cin)
        return self.sequence(block.layers.items, cur, child)

    def bind_let(self, let: YMap, scope: _Scope, cin: int | None) -> None:
        scope.vars = dict(scope.vars)
        for key, node in let.entries.items():
            scope.vars[key] = self.value_of(node, scope, cin, key)

    def value_of(self, node: YNode, scope: _Scope, cin: int | None, what: str) -> Value:
        """A block parameter or ``let`` value: a number, an expression, or a bare word (e.g. an
        activation name passed to ``act: $nl``); ``true``/``false`` become 1/0."""
        if isinstance(node, YScalar):
            value = node.value
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, (int, float)):  # a literal: bounded as every number is
                try:
                    return checked(value, what)
                except LayerArgError as exc:
                    raise self.fail(exc.what, node.loc, scope, hint=exc.hint) from None
            if isinstance(value, str):
                if _WORD.match(value):
                    return value
                try:
                    return evaluate(value, self.env(scope, cin))
                except LayerArgError as exc:
                    raise SpecError(f"{what}: {exc.what}", loc=node.loc,
                                    layer=self._where(scope, None), hint=exc.hint) from None
        raise self.fail(f"{what} must be a number, an expression or a word, got "
                        f"{node.describe()}", node.loc, scope,
                        hint="lists and mappings cannot be parameters; pass one value")

    # -------------------------------------------------------------------------- build --
    def build(self, scale: Mapping[str, Number], input_shape: Shape | None) -> Graph:
        spec = self.spec
        self.globals: dict[str, Value] = dict(scale)
        top = _Scope("", self.globals, (), {}, None, "", ())
        self.top_defaults: tuple[YMap, ...] = (spec.defaults,) if spec.defaults else ()
        if spec.defaults is not None:
            for kind, dnode in spec.defaults.entries.items():
                canonical = ALIASES.get(kind, kind)
                if canonical not in LAYER_TYPES and kind not in spec.blocks:
                    near = suggest(kind, list(LAYER_TYPES))
                    raise SpecError(f"defaults for unknown layer type {kind!r}",
                                    loc=spec.defaults.keyloc(kind),
                                    hint=f"did you mean {near!r}?" if near else
                                    "defaults are keyed by layer type: `conv: {bias: false}`")
                if not isinstance(dnode, YMap):
                    raise SpecError(f"defaults for {kind} must be a mapping, got "
                                    f"{dnode.describe()}", loc=dnode.loc,
                                    hint=f"write e.g. `{kind}: {{bias: false}}` under defaults")
        if spec.let is not None:
            self.bind_let(spec.let, top, None)
            self.globals = top.vars
        top.defaults = self.top_defaults
        if input_shape is None:
            dims = [self.number(n, top, None, "input", "int+") for n in spec.input.items]
            input_shape = tuple(dims)
        self.shapes[INPUT] = input_shape
        out = self.sequence(spec.layers.items, INPUT, top)
        if out == INPUT:
            raise SpecError("the spec has no layers left (every layer was skipped by `if:`)",
                            loc=spec.layers.loc, hint="check the `if:` conditions")
        unused = [n for n in self.nodes if n.name not in self.used and n.name != out]
        warnings = tuple(
            f"{n.loc}: {n.name}: output is never used (an unconnected branch?)"
            for n in unused[:20]
        )
        if len(unused) > 20:
            warnings += (f"... and {len(unused) - 20} more unused outputs",)
        return Graph(spec.name, spec.file, input_shape, tuple(self.nodes), out,
                     dict(scale), warnings)


_SIGNATURES: dict[str, tuple[type[Layer], dict[str, Arg], tuple[str, ...], list[str]]] = {}


#: activation name → its (immutable, shared) layer
_ACTIVATIONS: dict[object, Activation] = {
    name: Activation(fn=name) for name, (cls, _) in LAYER_TYPES.items() if cls is Activation
}


@cache
def _allowed_keys(canonical: str) -> frozenset[str]:
    return frozenset(_signature(canonical)[3])


@cache
def _required_args(canonical: str) -> tuple[str, ...]:
    return tuple(n for n, a in _signature(canonical)[1].items() if a.default is REQUIRED)


def _signature(canonical: str) -> tuple[type[Layer], dict[str, Arg], tuple[str, ...], list[str]]:
    """(class, arguments by name, fused post-op arguments, every allowed key) of a layer type,
    computed once per type."""
    found = _SIGNATURES.get(canonical)
    if found is None:
        cls = LAYER_TYPES[canonical][0]
        spec_args = {a.name: a for a in layer_args(canonical)}
        found = (cls, spec_args, cls.POST_ARGS, [*spec_args, *cls.POST_ARGS, *COMMON_KEYS])
        _SIGNATURES[canonical] = found
    return found


def _literal(node: YNode) -> bool:
    """A scalar that means the same in every scope: not `$x` and no call (`ch()` and `div()`
    read the width and divisor in scope). Lists and mappings are not taken as literal."""
    if type(node) is not YScalar:
        return False
    value = node.value
    return type(value) is not str or ("$" not in value and "(" not in value)


def _has(value: YNode | None, key: str) -> bool:
    return isinstance(value, YMap) and key in value.entries


def _refs(loc: Loc, names: list[str]) -> YSeq:
    """Input references for a synthesised merge node (resolved as global names)."""
    return YSeq(tuple(YScalar(n, loc) for n in names), loc)


def _id_locations(root: YNode, word: str) -> list[Loc]:
    """Where ``id: word`` appears anywhere in the spec, in document order (for error messages)."""
    found: list[Loc] = []
    stack: list[YNode] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, YMap):
            ident = node.get("id")
            if isinstance(ident, YScalar) and ident.value == word:
                found.append(ident.loc)
            stack.extend(node.entries.values())
        elif isinstance(node, YSeq):
            stack.extend(node.items)
    return sorted(found, key=lambda at: (at.line, at.col))


def _chain(scope: _Scope) -> list[_Scope]:
    out = []
    s: _Scope | None = scope
    while s is not None:
        out.append(s)
        s = s.parent
    return out


def _join(a: str, b: str) -> str:
    return f"{a}, {b}" if a and b else a or b


def build(spec: Spec, *, input_shape: Shape | None = None,
          scale: Mapping[str, Number] | None = None) -> Graph:
    """Expand ``spec`` into a shaped :class:`Graph`.

    ``scale`` overrides the spec's scale parameters (``width``, ``resolution``, ``depth``, …);
    ``input_shape`` replaces the spec's input entirely (channel-first, no batch).
    """
    if not isinstance(spec, Spec):
        raise TypeError(f"build() takes a Spec (from load_spec), got {type(spec).__name__}")
    values = validate.scale_values(spec.scale, scale or {}, file=spec.file)
    input_shape = validate.input_shape(input_shape, spec.file)
    if input_shape is not None and len(input_shape) != len(spec.input.items):
        raise SpecError(
            f"input shape {list(input_shape)} has {len(input_shape)} sizes but the spec's input "
            f"has {len(spec.input.items)}",
            loc=spec.input.loc,
            hint="keep the rank of the spec's input: "
            + {1: "C", 2: "CxL", 3: "CxHxW", 4: "CxDxHxW"}[len(spec.input.items)],
        )
    try:
        with paused_gc():
            graph = _Builder(spec, spec.file).build(values, input_shape)
            if input_shape is not None:  # an fc head must not change on another input size
                from .rewrite import check_fc_heads

                check_fc_heads(graph, lambda: _Builder(spec, spec.file).build(values, None))
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
