"""Expand: the spec's layer list → one call per layer, in data-flow order. The first of the
builder's three stages::

    spec ──expand──▶ layer entries ──bind──▶ typed layers ──propagate──▶ shaped nodes (Graph)

Expand walks blocks, stages, repeats, residual and concat composites and ``if:`` conditions,
resolves ``in:`` names and gives each layer its name; :mod:`archcalc.bind` turns each entry's
arguments into a typed layer; :mod:`archcalc.propagate` shapes it. The stages run as a pipeline,
layer by layer — not as three passes over the whole spec — because expansion needs the shapes
made so far: an expression may read ``$cin`` (the channels entering a layer), ``if:`` may test
it, and a residual's shortcut depends on whether the body changed the shape. Each stage has one
path; each stage's memos live in its object, for one build.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from .args import coerce, suggest
from .bind import Binder, Bound, Call
from .errors import LayerArgError, Loc, ShapeError, SpecError, quote
from .expr import Number, checked, evaluate, scaled_count
from .graph import (
    COMMON_KEYS,
    COMPOSITES,
    INPUT,
    MAX_BLOCK_DEPTH,
    MAX_NESTING,
    MAX_NODES,
    MAX_OUTPUTS,
    MAX_STEPS,
    Graph,
    Output,
    where,
)
from .layers import ALIASES, LAYER_TYPES, Layer, Ref
from .propagate import Propagator
from .shapes import Shape, conv_out
from .spec import Block, Spec, check_keys
from .ytree import YMap, YNode, YScalar, YSeq

Value = Number | str  # a variable: numbers, or words such as activation names
_WORD = re.compile(r"^[A-Za-z_][A-Za-z_0-9]*$")
#: the keys a composite (residual, concat, repeat, stages, sequential) takes besides its own;
#: `share:` is for layers and block calls
_GROUP_KEYS = ("id", "in", "if")
_COMPOSITE_HINTS = {
    "residual": "write `- residual: {body: [...], shortcut: identity}`",
    "concat": "write `- concat: [[branch layers], [branch layers]]`",
    "repeat": "write `- repeat: {n: 3, layers: [...]}`",
    "stages": "write `- stages: {block: NAME, columns: [...], rows: [[...], ...]}`",
    "sequential": "write `- sequential: {layers: [...]}`",
}


class _Scope:
    """Where an entry is expanded: its name prefix, variables, ``defaults:`` chain, local ids,
    enclosing scope, context text (messages), block call chain, block input and groups."""

    __slots__ = (
        "block_input",
        "calls",
        "context",
        "counters",
        "defaults",
        "names",
        "parent",
        "path",
        "prefix",
        "share",
        "skipped",
        "stack",
        "vars",
    )

    def __init__(self, prefix: str, variables: dict[str, Value], defaults: tuple[YMap, ...],
                 names: dict[str, str], parent: _Scope | None, context: str,
                 stack: tuple[str, ...], block_input: str | None = None,
                 path: tuple[str, ...] = (), share: tuple[str, str] | None = None) -> None:
        self.prefix = prefix
        self.vars = variables
        self.defaults = defaults  # innermost last
        self.names = names  # local id → node name
        self.parent = parent
        self.context = context
        self.stack = stack  # block call chain
        self.block_input = block_input
        self.counters: dict[str, int] = {}
        self.path = path  # enclosing groups, outermost first (Node.path)
        #: local ids of layers (and groups) skipped by their `if:` → where the id is written
        self.skipped: dict[str, Loc] | None = None  # made on the first skip
        #: local ids of block calls → their full name (the prefix of their layers)
        self.calls: dict[str, str] | None = None  # made on the first named call
        #: inside a block call with `share: OTHER`: (this call's prefix, OTHER's prefix)
        self.share = share


class _Skipped(Exception):
    """An `in:` reference to a layer its `if:` skipped: (the name, where its id is written)."""

    def __init__(self, word: str, at: Loc) -> None:
        super().__init__(word)
        self.word = word
        self.at = at


class Expander:
    """The expand stage of one build: walks the spec's layers (blocks, stages, repeats,
    composites, ``if:``), names and resolves each layer entry, and hands it to the bind and
    propagate stages (see the module docstring)."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.file = spec.file
        # written type name → canonical layer type, for names no block or composite takes
        self._primitives = {
            name: ALIASES.get(name, name) for name in (*LAYER_TYPES, *ALIASES)
            if name not in spec.blocks and name not in COMPOSITES
            and ALIASES.get(name, name) in LAYER_TYPES
        }
        self.binder = Binder()
        #: canonical type → (class, whether it takes reference arguments such as like:)
        self._kinds = {name: (cls, bool(cls.REFS)) for name, (cls, _) in LAYER_TYPES.items()}
        self.prop: Propagator  # made once the input shape is known (see `run`)
        self.shapes: dict[str, Shape]  # every node's output shape so far ($cin, shortcuts)
        self.all_names: set[str] = {INPUT}
        self.steps = 0  # layer entries expanded, `if:`-skipped ones included (<= MAX_STEPS)
        self.depth = 0  # block calls and composites entered and not yet left (<= MAX_NESTING)

    # ----------------------------------------------------------------------- helpers --
    def fail(self, what: str, loc: Loc, scope: _Scope | None = None, layer: str | None = None,
             hint: str | None = None) -> SpecError:
        return SpecError(what, loc=loc, layer=self._where(scope, layer), hint=hint)

    def _where(self, scope: _Scope | None, layer: str | None) -> str | None:
        return where(scope.context if scope is not None else "", layer)

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

    def resolve(self, ref: YNode, scope: _Scope, layer: str | None) -> str:
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
            if s.skipped is not None and word in s.skipped:
                raise _Skipped(word, s.skipped[word])
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
            canonical = self._primitives.get(kind)  # a layer type: a layer, not a level
            if (canonical is None and kind == "concat" and type(value) is YMap
                    and "branches" not in value.entries and kind not in self.spec.blocks):
                canonical = "concat"  # concat of named inputs: a layer (not branches)
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
        """One layer entry ``kind: value``: a layer type, a composite or a block call."""
        canonical = self._primitives.get(kind)  # the common case, decided by one lookup
        if canonical is not None and (value is None or type(value) is YMap):
            return self.primitive(canonical, kind, value, kloc, cur, scope)
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
    def inputs_of(self, args: YMap | None, cur: str, scope: _Scope,
                  label: str | None) -> list[str]:
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

    def live_inputs(self, args: YMap | None, cur: str, scope: _Scope, label: str | None,
                    keys: tuple[str, ...] = ("in",)) -> list[str] | None:
        """The inputs named by ``in:`` (and the other reference ``keys``), or None when the
        entry is skipped: every name it refers to was skipped by its own `if:` (a layer that
        only reads skipped layers cannot run either), or some were and the entry's own `if:`
        is false. A reference to a skipped layer from an entry that does run is an error that
        says where the skipped layer is."""
        refs: list[tuple[str, YNode | None]] = []  # (key, reference); None: the previous layer
        for key in keys:
            ref = args.get(key) if args is not None else None
            if ref is None:
                if key == "in":
                    refs.append((key, None))
                continue
            if key == "in" and isinstance(ref, YSeq):
                if not ref.items:
                    raise self.fail("`in` is an empty list", ref.loc, scope, label,
                                    hint="name the input layer(s), or remove `in:` to take the "
                                    "previous layer")
                refs.extend((key, item) for item in ref.items)
            else:
                refs.append((key, ref))
        inputs: list[str] = []
        skipped: list[tuple[str, YNode, _Skipped]] = []
        for key, ref in refs:
            if ref is None:
                inputs.append(cur)
                continue
            try:
                inputs.append(self.resolve(ref, scope, label))
            except _Skipped as exc:
                skipped.append((key, ref, exc))
        if not skipped:
            return inputs
        own_if = args.get("if") if args is not None else None
        if not inputs or (own_if is not None and not self.condition(
                own_if, scope, self.shapes[inputs[0]][0], label)):
            return None
        key, ref, first = skipped[0]
        raise self.fail(
            f"`{key}: {first.word}` refers to layer {first.word!r}, which its `if:` skipped "
            f"(line {first.at.line})", ref.loc, scope, label,
            hint="give this layer the same `if:` condition, or refer to a layer that is built")

    def _skip(self, scope: _Scope, id_node: YNode | None) -> None:
        """Remember that the entry with ``id_node`` was skipped, so references to it skip too."""
        if isinstance(id_node, YScalar) and isinstance(id_node.value, str) and id_node.value:
            if scope.skipped is None:
                scope.skipped = {}
            scope.skipped.setdefault(id_node.value, id_node.loc)

    def primitive(self, canonical: str, written: str, args: YMap | None, kloc: Loc, cur: str,
                  scope: _Scope) -> str:
        """One layer: resolve its inputs and ``if:`` here, bind its arguments (the bind stage),
        name it, shape it (the propagate stage). The one path of every layer entry."""
        share: tuple[str, bool] | None = None
        cls, takes_refs = self._kinds[canonical]  # takes_refs: like:, indices: (rare)
        if takes_refs and cls.REF_INPUTS:
            missing = [key for key in cls.REF_INPUTS if args is None or key not in args.entries]
            if missing:
                id_node = args.get("id") if args is not None else None
                key = missing[0]
                raise self.fail(f"{written} needs `{key}:` naming a layer ({cls.REFS[key]})",
                                kloc, scope, self._label(scope, canonical, written, id_node),
                                f"write e.g. `- {written}: {{{key}: pool1}}`")
        if args is None:
            inputs = [cur]
            id_node = None
        else:
            entries = args.entries
            id_node = entries.get("id")
            refs = tuple(k for k in cls.REFS if k in entries) if takes_refs else ()
            if "in" not in entries and "share" not in entries and not refs:
                inputs = [cur]
            else:
                try:
                    found = self.live_inputs(args, cur, scope, None, ("in", *cls.REF_INPUTS))
                    if found is not None and "share" in entries:
                        share = (self.resolve(entries["share"], scope, None), True)
                except _Skipped as gone:  # `share:` names a skipped layer
                    raise self.fail(f"`share: {gone.word}` refers to a layer its `if:` "
                                    f"skipped (line {gone.at.line})", entries["share"].loc,
                                    scope, self._label(scope, canonical, written, id_node),
                                    "share the weights of a layer that is built") from None
                except SpecError as exc:
                    raise self.fail(exc.what, exc.loc or kloc, scope,
                                    self._label(scope, canonical, written, id_node),
                                    exc.hint) from None
                if found is None:
                    self._skip(scope, id_node)
                    return cur
                inputs = found
                if refs:
                    args = self._with_refs(cls, args, refs, inputs, scope, canonical, written,
                                           id_node)
            if "if" in entries:
                try:
                    keep = self.condition(entries["if"], scope, self.shapes[inputs[0]][0])
                except SpecError as exc:
                    raise self.fail(exc.what, exc.loc or kloc, scope,
                                    self._label(scope, canonical, written, id_node),
                                    exc.hint) from None
                if not keep:
                    self._skip(scope, id_node)
                    return cur
        binder = self.binder
        bound = binder.known(canonical, args, scope.defaults)
        if type(bound) is not Bound:  # bound anew: its arguments are checked and typed
            bound = binder.bind(canonical, written, args, kloc, scope.defaults, scope.vars,
                                self.shapes[inputs[0]][0], scope.context,
                                lambda: self._label(scope, canonical, written, id_node), bound)
        name = self.fresh_name(scope, canonical, id_node)
        if share is None and scope.share is not None and name.startswith(scope.share[0]):
            share = (scope.share[1] + name[len(scope.share[0]):], False)
        return self.prop.add(name, bound, inputs, written, kloc, scope.context, scope.path,
                             share)

    def _with_refs(self, cls: type[Layer], args: YMap, refs: tuple[str, ...], inputs: list[str],
                   scope: _Scope, canonical: str, written: str, id_node: YNode | None) -> YMap:
        """``args`` with its reference arguments (``like: p4``, ``indices: pool5``) replaced by
        the values the class derives from the named nodes (:meth:`Layer.from_refs`), located
        at the reference; the references that are inputs (``REF_INPUTS``) were appended to
        ``inputs`` by :meth:`live_inputs`."""
        label = self._label(scope, canonical, written, id_node)
        found: dict[str, Ref] = {}
        extra = len(inputs) - sum(1 for k in cls.REF_INPUTS if k in refs)
        for key in refs:
            node = args.entries[key]
            if key in cls.REF_INPUTS:
                name = inputs[extra + [k for k in cls.REF_INPUTS if k in refs].index(key)]
            else:
                try:
                    name = self.resolve(node, scope, label)
                except _Skipped as gone:
                    raise self.fail(f"`{key}: {gone.word}` refers to a layer its `if:` skipped "
                                    f"(line {gone.at.line})", node.loc, scope, label,
                                    "refer to a layer that is built") from None
            index = self.prop.index_of(name)
            found[key] = Ref(name, self.shapes[name], None if index is None else
                             self.prop.nodes[index])
        try:
            values = cls.from_refs(found, args.entries)
        except LayerArgError as exc:
            key = next(iter(refs))
            raise self.fail(exc.what, args.entries[key].loc, scope, label, exc.hint) from None
        entries = {k: v for k, v in args.entries.items() if k not in refs}
        keypos = {k: v for k, v in args.keypos.items() if k not in refs}
        at = args.entries[refs[0]].loc
        for key, value in values.items():
            if key in entries:
                raise self.fail(f"give either `{refs[0]}:` or `{key}:`, not both",
                                entries[key].loc, scope, label,
                                f"`{refs[0]}:` sets {key} from the layer it names")
            entries[key] = _located(value, at)
            if refs[0] in args.keypos:
                keypos[key] = args.keypos[refs[0]]
        return YMap(entries, keypos, args.loc)

    def _label(self, scope: _Scope, base: str, written: str, id_node: YNode | None) -> str:
        """``layer 'conv3' (conv)``: a layer named in a message before it exists, by its id or
        the name it will get."""
        given = id_node.value if isinstance(id_node, YScalar) else None
        return f"layer {given or self.peek_name(scope, base)!r} ({written})"

    # ---------------------------------------------------------------------- composites --
    def residual(self, args: YMap, kloc: Loc, cur: str, scope: _Scope) -> str:
        check_keys(args, ("body", "shortcut", "act", *_GROUP_KEYS), "residual")
        inputs = self.live_inputs(args, cur, scope, "residual")
        if inputs is not None and len(inputs) != 1:
            raise self.fail(f"a residual takes one input, got {len(inputs)}", kloc, scope,
                            "residual", hint="give one name in `in:`; merge others with `add`")
        if inputs is None or not self.condition(args.get("if"), scope,
                                                self.shapes[inputs[0]][0]):
            self._skip(scope, args.get("id"))
            return cur
        start = inputs[0]
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
        conv_defaults = {k: v for k, v, _ in self.binder.defaults_for("conv", scope.defaults)}
        bias = conv_defaults.get("bias")
        bn = conv_defaults.get("bn")
        fused = None
        if isinstance(bn, YScalar) and bool(bn.value):
            fused = self.binder.fused_bn(Call("conv", "conv", None, loc, scope.defaults,
                                              scope.vars, a[0], scope.context,
                                              lambda: "residual shortcut"))
        bound = self.binder.projection(
            b[0], tuple(strides),
            bool(bias.value) if isinstance(bias, YScalar) and bias.value is not None else True,
            fused)
        name = self.fresh_name(scope, "downsample", None)
        return self.prop.add(name, bound, [start], "conv", loc, scope.context, scope.path)

    def branches(self, kind: str, args: YMap | None, branches: YSeq, kloc: Loc, cur: str,
                 scope: _Scope) -> str:
        start = cur
        if args is not None:
            inputs = self.live_inputs(args, cur, scope, kind)
            if inputs is None or not self.condition(args.get("if"), scope,
                                                    self.shapes[inputs[0]][0]):
                self._skip(scope, args.get("id"))
                return cur
            start = inputs[0]
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
        check_keys(args, ("branches", *_GROUP_KEYS), "concat")
        branches = args.get("branches")
        if not isinstance(branches, YSeq) or not branches.items:
            raise self.fail("concat `branches` must be a list of layer lists", args.loc, scope,
                            "concat", hint=_COMPOSITE_HINTS["concat"])
        return self.branches("concat", args, branches, kloc, cur, scope)

    def sequential(self, args: YMap, kloc: Loc, cur: str, scope: _Scope) -> str:
        check_keys(args, ("layers", *_GROUP_KEYS), "sequential")
        inputs = self.live_inputs(args, cur, scope, "sequential")
        layers = args.get("layers")
        if not isinstance(layers, YSeq):
            raise self.fail("sequential needs a `layers` list", args.loc, scope, "sequential",
                            hint=_COMPOSITE_HINTS["sequential"])
        if inputs is None or not self.condition(args.get("if"), scope,
                                                self.shapes[inputs[0]][0]):
            self._skip(scope, args.get("id"))
            return cur
        return self.sequence(layers.items, inputs[0], scope)

    def repeat(self, args: YMap, kloc: Loc, cur: str, scope: _Scope) -> str:
        check_keys(args, ("n", "layers", *_GROUP_KEYS), "repeat")
        n_node = args.get("n")
        layers = args.get("layers")
        if n_node is None or not isinstance(layers, YSeq) or not layers.items:
            raise self.fail("repeat needs `n` and a non-empty `layers` list", args.loc, scope,
                            "repeat", hint=_COMPOSITE_HINTS["repeat"])
        inputs = self.live_inputs(args, cur, scope, "repeat")
        if inputs is None or not self.condition(args.get("if"), scope,
                                                self.shapes[inputs[0]][0]):
            self._skip(scope, args.get("id"))
            return cur
        cur = inputs[0]
        n = self.number(n_node, scope, self.shapes[cur][0], "n")
        self._check_count(n, n_node.loc, scope)
        base = self.fresh_name(scope, "repeat", args.get("id"))
        nodes0, steps0 = len(self.prop.nodes), self.steps
        for i in range(n):
            child = _Scope(f"{base}.{i}.", scope.vars, scope.defaults, {}, scope,
                           _join(scope.context, f"repeat {i + 1}/{n}"), scope.stack,
                           block_input=cur, path=(*scope.path, base, f"{base}.{i}"),
                           share=scope.share)
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
        per_node, per_step = len(self.prop.nodes) - nodes0, self.steps - steps0
        if len(self.prop.nodes) + per_node * (n - 1) > MAX_NODES:
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
        check_keys(args, ("block", "columns", "rows", "args", "count", *_GROUP_KEYS),
                   "stages")
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
        inputs = self.live_inputs(args, cur, scope, "stages")
        if inputs is None or not self.condition(args.get("if"), scope,
                                                self.shapes[inputs[0]][0]):
            self._skip(scope, args.get("id"))
            return cur
        cur = inputs[0]
        prefix_node = args.get("id")
        prefix = str(prefix_node.value) if isinstance(prefix_node, YScalar) else "stage"
        count = self._count_column(args.get("count"), columns, scope)
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
            if count is not None:
                n = self.number(cells.pop(count), scope, self.shapes[cur][0], count, "int+")
                depth = scope.vars.get("depth")
                if depth is not None:  # depth multiplier, rounded up (EfficientNet)
                    try:
                        n = scaled_count(n, depth)
                    except LayerArgError as exc:
                        raise self.fail(exc.what, row.loc, scope, "stages", exc.hint) from None
                self._check_count(n, row.loc, scope)
            for key, cell in cells.items():
                if isinstance(cell, YMap):
                    check_keys(cell, ("first", "rest"), f"stage row {r} column {key!r}")
                    if "first" not in cell.entries or "rest" not in cell.entries:
                        raise self.fail(
                            f"stage row {r} column {key!r}: a mapping cell needs `first` and "
                            "`rest`", cell.loc, scope, "stages",
                            hint="write e.g. `{first: 1, rest: 2}`: the first block of the row "
                            "takes `first`, the others `rest`")
            stage_name = f"{scope.prefix}{prefix}{r}"
            nodes0, steps0 = len(self.prop.nodes), self.steps
            for i in range(n):
                call = {key: cell.entries["first" if i == 0 else "rest"]
                        if isinstance(cell, YMap) else cell for key, cell in cells.items()}
                if i > 0 and "s" in call and not isinstance(cells["s"], YMap):
                    call["s"] = YScalar(1, call["s"].loc)  # only the first block takes the stride
                if extra is not None:
                    call = {**extra.entries, **call}
                ctx = f"stage row {r}, block {i + 1}/{n}"
                cur = self.expand(block, call, row.loc, cur, scope, f"{stage_name}.{i}.", ctx,
                                  (*scope.path, stage_name, f"{stage_name}.{i}"))
                if i == 0:
                    self._check_growth(n, nodes0, steps0, row.loc, scope)
        return cur

    def _count_column(self, node: YNode | None, columns: list[str], scope: _Scope) -> str | None:
        """The column that holds each row's number of blocks: ``count: NAME``, default ``n``
        (None: every row is one block). ``count: none`` lets a block take a parameter ``n``."""
        if node is None:
            return "n" if "n" in columns else None
        if isinstance(node, YScalar) and node.value in (None, "none"):
            return None
        if isinstance(node, YScalar) and isinstance(node.value, str) and node.value in columns:
            return node.value
        raise self.fail(f"stages `count` must name one of the columns {columns} or be none, got "
                        f"{node.describe() if not isinstance(node, YScalar) else node.value!r}",
                        node.loc, scope, "stages",
                        hint="`count: blocks` takes each row's number of blocks from the column "
                        "`blocks`; `count: none` makes every row one block")

    def block_call(self, block: Block, value: YNode | None, kloc: Loc, cur: str,
                   scope: _Scope) -> str:
        args = value if isinstance(value, YMap) else None
        if value is not None and args is None:
            raise self.fail(f"the arguments of block {block.name!r} must be a mapping, got "
                            f"{value.describe()}", value.loc, scope, block.name,
                            hint=f"write `- {block.name}: {{{', '.join(block.params[:2])}: ...}}`"
                            if block.params else f"write `- {block.name}`")
        inputs = self.live_inputs(args, cur, scope, block.name)
        if inputs is None or (args is not None and not self.condition(
                args.get("if"), scope, self.shapes[inputs[0]][0])):
            self._skip(scope, args.get("id") if args else None)
            return cur
        cur = inputs[0]
        call = {k: v for k, v in (args.entries.items() if args else ()) if k not in COMMON_KEYS}
        ident = args.get("id") if args else None
        base = self.fresh_name(scope, block.name, ident)
        share = self._shared_call(args.get("share") if args else None, base, scope, block)
        out = self.expand(block, call, kloc, cur, scope, base + ".", "", (*scope.path, base),
                          share)
        self._name_output(ident, out, scope)
        if isinstance(ident, YScalar) and isinstance(ident.value, str):
            if scope.calls is None:
                scope.calls = {}
            scope.calls[ident.value] = base
        return out

    def _shared_call(self, node: YNode | None, base: str, scope: _Scope,
                     block: Block) -> tuple[str, str] | None:
        """``share: OTHER`` on a block call: every layer of this call uses the weights of the
        layer with the same name in the earlier call OTHER (Siamese towers, an RPN head on each
        FPN level). Returns (this call's prefix, OTHER's prefix)."""
        if node is None:
            return None  # a call inside a shared call shares by its full name (`primitive`)
        if not (isinstance(node, YScalar) and isinstance(node.value, str) and node.value):
            raise self.fail(f"share must name an earlier call of block {block.name!r}, got "
                            f"{node.describe()}", node.loc, scope, block.name,
                            hint="write e.g. `share: left` where `left` is an earlier call's id")
        word = node.value
        s: _Scope | None = scope
        while s is not None:
            if s.calls is not None and word in s.calls:
                return base + ".", s.calls[word] + "."
            if s.skipped is not None and word in s.skipped:
                raise self.fail(f"`share: {word}` refers to a block call its `if:` skipped "
                                f"(line {s.skipped[word].line})", node.loc, scope, block.name,
                                hint="share the weights of a call that is built")
            s = s.parent
        near = suggest(word, [k for sc in _chain(scope) for k in (sc.calls or ())])
        raise self.fail(f"`share: {word}` names no earlier block call", node.loc, scope,
                        block.name, hint=(f"did you mean {near!r}? " if near else "") +
                        "give the first call an `id:` and name it in `share:`")

    def expand(self, block: Block, call: Mapping[str, YNode], loc: Loc, cur: str, scope: _Scope,
               prefix: str, ctx: str, path: tuple[str, ...],
               share: tuple[str, str] | None = None) -> str:
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
                       (*scope.stack, block.name), block_input=cur, path=path,
                       share=share if share is not None else scope.share)
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
    def run(self, scale: Mapping[str, Number],
            input_shape: Shape | Mapping[str, Shape] | None) -> Graph:
        """Expand the whole spec; the graph as the propagate stage shaped it. ``input_shape``
        replaces every input's shape (one shape) or the named ones (a mapping)."""
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
        inputs: list[tuple[str, Shape]] = []
        for name, seq in spec.inputs or ((INPUT, spec.input),):
            given = input_shape.get(name) if isinstance(input_shape, Mapping) else input_shape
            if given is None:
                what = "input" if len(spec.inputs) < 2 else f"input {name!r}"
                given = tuple(self.number(n, top, None, what, "int+") for n in seq.items)
            inputs.append((name, tuple(given)))
            self.all_names.add(name)
        self.prop = Propagator(inputs)
        self.shapes = self.prop.shapes
        out = self.sequence(spec.layers.items, inputs[0][0], top)
        if not self.prop.nodes:
            raise SpecError("the spec has no layers left (every layer was skipped by `if:`)",
                            loc=spec.layers.loc, hint="check the `if:` conditions")
        outputs = self.outputs(spec.outputs, top) if spec.outputs is not None else [Output(out)]
        return self.prop.graph(spec.name, spec.file, outputs, scale, spec.freeze)

    def outputs(self, items: YSeq, top: _Scope) -> list[Output]:
        """The ``outputs:`` list: layer names (or ids of block calls and repeats, which name
        their last layer), each optionally ``{layer: NAME, training: true}``."""
        found: list[Output] = []
        for item in items.items:
            training = False
            ref: YNode = item
            if isinstance(item, YMap):
                check_keys(item, ("layer", "training"), "an output")
                ref = item.get("layer") or YScalar(None, item.loc)
                flag = item.get("training")
                if flag is not None and not (isinstance(flag, YScalar)
                                             and isinstance(flag.value, bool)):
                    raise SpecError(f"`training` must be true or false, got {flag.describe()}",
                                    loc=flag.loc, hint="`training: true` marks an output used "
                                    "only in training (an auxiliary classifier)")
                training = bool(flag.value) if isinstance(flag, YScalar) else False
            if not (isinstance(ref, YScalar) and isinstance(ref.value, str) and ref.value):
                raise SpecError(f"an output must name a layer, got {ref.describe()}",
                                loc=ref.loc, hint="write `outputs: [boxes, scores]` or "
                                "`{layer: aux, training: true}`")
            try:
                name = self.resolve(ref, top, None)
            except _Skipped as gone:
                raise SpecError(f"output {gone.word!r} was skipped by its `if:` (line "
                                f"{gone.at.line})", loc=ref.loc,
                                hint="give an output that is built") from None
            if name in self.prop.shapes and self.prop.index_of(name) is None:
                raise SpecError(f"output {ref.value!r} is an input of the network", loc=ref.loc,
                                hint="outputs name layers")
            if any(o.name == name for o in found):
                raise SpecError(f"output {ref.value!r} is listed twice", loc=ref.loc,
                                hint="list each output once")
            found.append(Output(name, training))
        if all(o.training for o in found):
            raise SpecError("every output is training-only", loc=items.loc,
                            hint="at least one output must be used at inference")
        if len(found) > MAX_OUTPUTS:
            raise SpecError(f"{len(found)} outputs; the limit is {MAX_OUTPUTS}", loc=items.loc,
                            hint="concatenate outputs of one kind (every level's boxes)")
        return found


def _located(value: Any, loc: Loc) -> YNode:
    """A value a class derived from a reference (a size, a kernel), as YAML located at the
    reference: the bind stage checks it like a written argument and points there."""
    if isinstance(value, (list, tuple)):
        return YSeq(tuple(_located(v, loc) for v in value), loc)
    return YScalar(value, loc)


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
