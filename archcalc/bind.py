"""Bind: one layer entry's arguments (with the ``defaults:`` in scope) → a typed, validated layer
and its fused post-ops. The second of the builder's stages (expand → bind → propagate).

A :class:`Binder` lives for one build. It memoises what the spec repeats — a written-out spec
repeats ``- conv: {out: 8, k: 3}`` on thousands of lines, a stage repeats its block's layers —
by the literal argument values, so each distinct layer is validated and made once per build;
equal layers made from expressions are one shared instance (:meth:`Binder.intern`), so the
later stages can key their memos by identity. Nothing outlives the build.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from .args import INT_FLOOR, coerce, suggest
from .errors import LayerArgError, Loc, SpecError, quote
from .expr import MAX_INT, evaluate
from .graph import where
from .layers import ALIASES, LAYER_TYPES, REQUIRED, SIGNATURES, Activation, Conv, Layer
from .layers.registry import Signature
from .ytree import YMap, YNode, YScalar, YSeq

_VAR = re.compile(r"^\$([A-Za-z_][A-Za-z_0-9]*)$")
#: PyTorch/Keras argument names → ours, for did-you-mean hints
ARG_SYNONYMS = {"stride": "s", "strides": "s", "kernel": "k", "kernel_size": "k", "pool_size": "k",
                "padding": "p", "dilation": "d", "dilation_rate": "d", "filters": "out",
                "out_channels": "out", "channels": "out", "units": "out", "out_features": "out",
                "features": "out", "activation": "act", "use_bias": "bias", "rate": "p",
                "scale_factor": "scale", "axis": "over"}
#: the keys every layer entry takes besides its arguments (handled by the expand stage)
_PLACE_KEYS = ("id", "in", "if", "share")


class Bound(NamedTuple):
    """A bound layer entry: the main layer and its fused post-ops (``bn: true``, ``act: …``)."""

    op: Layer
    post: tuple[Layer, ...]


class Call:
    """What the bind stage needs of one layer entry, from the expand stage (made only when the
    entry is bound anew)."""

    __slots__ = ("args", "canonical", "cin", "context", "defaults", "kloc", "label", "vars",
                 "written")

    def __init__(self, canonical: str, written: str, args: YMap | None, kloc: Loc,
                 defaults: tuple[YMap, ...], variables: Mapping[str, Any], cin: int,
                 context: str, label: Callable[[], str]) -> None:
        self.canonical = canonical  # the registered name (``fc`` for a written ``linear``)
        self.written = written  # as the spec spells it (messages)
        self.args = args
        self.kloc = kloc  # the type key's location
        self.defaults = defaults  # the ``defaults:`` maps in scope, outermost first
        self.vars = variables  # the scope's variables ($x)
        self.cin = cin  # channels entering the layer ($cin)
        self.context = context  # the blocks, stages and repeats around the entry (messages)
        self.label = label  # "layer 'conv3' (conv)", computed only for a message

    def where(self, layer: str | None) -> str | None:
        return where(self.context, layer)


class Binder:
    """The bind stage of one build (see the module docstring)."""

    def __init__(self) -> None:
        self._defaults: dict[tuple[object, ...], list[tuple[str, YNode, bool]]] = {}
        self._plain_defaults: dict[tuple[object, ...], bool] = {}
        self._literal: dict[tuple[int, str], tuple[YNode, Any]] = {}
        self._bound: dict[tuple[object, ...], Bound] = {}  # by literal arguments
        self._layers: dict[tuple[object, ...], Layer] = {}  # by the values given
        self._values: dict[Layer, Layer] = {}  # equal layers: one instance
        self._pairs: dict[tuple[int, ...], Bound] = {}  # equal (op, post): one Bound

    # ------------------------------------------------------------------------- defaults --
    def defaults_for(self, canonical: str, defaults: tuple[YMap, ...]
                     ) -> list[tuple[str, YNode, bool]]:
        """(key, value, inherited) from the defaults chain, outermost first (memoised per
        chain: every layer of a type in the same scope asks the same question)."""
        key = (canonical, *map(id, defaults))
        found = self._defaults.get(key)
        if found is None:
            found = self._defaults[key] = _defaults_for(canonical, defaults)
        return found

    # ---------------------------------------------------------------------------- bind --
    def known(self, canonical: str, args: YMap | None,
              defaults: tuple[YMap, ...]) -> Bound | tuple[object, ...] | None:
        """The bound layer of an entry whose arguments are literal values that were bound
        before in this build; else the entry's literal key (for :meth:`bind`), or None when its
        arguments need the scope.

        The key is what the bound layer depends on, when that is only literal values: the type,
        the defaults in scope and each argument's value and type (1, 1.0 and true are equal in
        Python but not as arguments); ``$x`` or a call (``ch()``, ``div()`` read the scope)
        make an entry not literal. Written-out specs repeat ``- conv: {out: 8, k: 3}`` on
        thousands of lines, stages and repeats expand the same entry many times: each distinct
        literal layer is validated and made once per build, its copies are one lookup."""
        dkey = (canonical, *map(id, defaults))
        plain = self._plain_defaults.get(dkey)
        if plain is None:
            fused_bn = self.defaults_for("bn", defaults) if "bn" in SIGNATURES[
                canonical].post else []  # a fused BN takes the `bn:` defaults
            plain = self._plain_defaults[dkey] = all(
                _literal(node) is not None
                for _, node, _ in (*self.defaults_for(canonical, defaults), *fused_bn))
        if not plain:
            return None
        key: list[object] = [dkey]
        if args is not None:
            for name, node in args.entries.items():
                if name in _PLACE_KEYS:
                    continue
                if type(node) is YScalar:  # the common case, inline
                    value = node.value
                    if type(value) is str and ("$" in value or "(" in value):
                        return None
                    key += (name, type(value), value)
                    continue
                found = _literal(node)
                if found is None:
                    return None
                key += (name, found)
        literal = tuple(key)
        return self._bound.get(literal, literal)

    def bind(self, canonical: str, written: str, args: YMap | None, kloc: Loc,
             defaults: tuple[YMap, ...], variables: Mapping[str, Any], cin: int, context: str,
             label: Callable[[], str], key: tuple[object, ...] | None) -> Bound:
        """The typed layer of an entry :meth:`known` did not know (``key``: what it returned);
        raises :class:`SpecError` located at the argument."""
        bound = self._bind(Call(canonical, written, args, kloc, defaults, variables, cin,
                                context, label))
        if key is not None:  # literal: every later entry with these values shares it
            self._bound[key] = bound
        return bound

    def _bind(self, call: Call) -> Bound:
        canonical, written = call.canonical, call.written
        sig = SIGNATURES[canonical]
        values = self._collect(call, sig)
        env = {**call.vars, "cin": call.cin}
        ev = lambda t: evaluate(t, env)  # noqa: E731
        typed: dict[str, Any] = {}
        for name, given in values.items():  # only the arguments given, not every possible one
            arg = sig.args.get(name)
            if arg is None:
                continue  # bn / act: post-ops, below
            if isinstance(given, YScalar) and given.value is None:
                if arg.default is REQUIRED:  # `k:` left empty: null is not a kernel size
                    raise SpecError(
                        f"{written} needs the argument {name!r} ({arg.doc}), got nothing (null)",
                        loc=given.loc, layer=call.where(call.label()),
                        hint=f"give a value: `{name}: ...`")
                refused = sig.cls.NULL_ARGS.get(name)
                if refused is not None:  # null means something else there (bn momentum)
                    raise SpecError(f"{written} {name}: null is not supported",
                                    loc=given.loc, layer=call.where(call.label()), hint=refused)
                continue
            if type(given) is YScalar and type(given.value) is int:
                floor = INT_FLOOR.get(arg.kind)  # a plain in-range integer: taken as it is
                if floor is not None and floor <= given.value <= MAX_INT:
                    typed[name] = given.value
                    continue
            typed[name] = self._coerce(given, name, arg.kind, ev, call,
                                       sig.cls.ARG_HINTS.get(name))
        for name in sig.required:
            if name not in values:
                raise SpecError(f"{written} needs the argument {name!r} ({sig.args[name].doc})",
                                loc=call.kloc, layer=call.where(call.label()),
                                hint=f"add `{name}:` to the layer")
        post: list[Layer] = []
        bn_node = values.get("bn")
        if bn_node is not None and self._coerce(bn_node, "bn", "bool", ev, call):
            post.append(self._fused_bn(call, ev))
        act_node = values.get("act")
        if act_node is not None:
            act = self._activation(act_node, call)
            if act is not None:
                post.append(act)
        try:
            op = self.make(canonical, typed)
        except LayerArgError as exc:
            raise exc.located(call.kloc, call.where(call.label())) from None
        return self.pair(op, tuple(post))

    def _collect(self, call: Call, sig: Signature) -> dict[str, YNode]:
        """The argument nodes in force: the defaults chain, then the entry's own arguments,
        each checked against what the type takes; ``$word`` variables substituted where a word
        is expected (``act: $nl``)."""
        canonical, written, args = call.canonical, call.written, call.args
        values: dict[str, YNode] = {}
        for key, node, inherited in self.defaults_for(canonical, call.defaults):
            if key in sig.args or key in sig.post:
                values[key] = node
            elif not inherited:
                near = suggest(key, sig.allowed)
                raise SpecError(
                    f"defaults for {canonical} set {key!r}, which {canonical} does not take",
                    loc=node.loc, layer=call.where(None),
                    hint=f"did you mean {near!r}?" if near else
                    f"did you mean {ARG_SYNONYMS[key]!r}?" if ARG_SYNONYMS.get(key) in
                    sig.allowed else f"{canonical} takes: " + ", ".join(sig.allowed),
                )
        if args is not None:
            for key in args:
                if key not in sig.allowed_keys:
                    near = suggest(key, sig.allowed)
                    if near is None and ARG_SYNONYMS.get(key) in sig.allowed:
                        near = ARG_SYNONYMS[key]  # PyTorch/Keras spellings: stride → s
                    raise SpecError(
                        f"{written} has no argument {quote(key)}", loc=args.keyloc(key),
                        layer=call.where(call.label()),
                        hint=f"did you mean {near!r}?" if near else
                        (f"{written} takes: " + ", ".join(sig.allowed)),
                    )
                if key not in _PLACE_KEYS:
                    values[key] = args.entries[key]
        for key, node in values.items():  # `act: $nl` where $nl holds a word
            if not (type(node) is YScalar and type(node.value) is str
                    and node.value[:1] == "$"):
                continue
            wordy = key == "act" or (key in sig.args and sig.args[key].kind.startswith(
                ("choice:", "name")))
            if wordy and isinstance(node, YScalar) and isinstance(node.value, str):
                word = _VAR.match(node.value)
                if word and isinstance(call.vars.get(word.group(1)), str):
                    values[key] = YScalar(call.vars[word.group(1)], node.loc)
        return values

    def _coerce(self, node: YNode, name: str, kind: str, ev: Any, call: Call,
                hint: str | None = None) -> Any:
        # A literal (no expression, no $variable) means the same wherever its layer is expanded:
        # coerce it once per YAML node (a block's layers are expanded once per block instance).
        literal = isinstance(node, YScalar) and not isinstance(node.value, str)
        if literal:
            found = self._literal.get((id(node), kind))
            if found is not None:
                return found[1]
        try:
            value = coerce(node, name, kind, ev)
        except LayerArgError as exc:
            raise SpecError(exc.what, loc=node.loc, layer=call.where(call.label()),
                            hint=hint or exc.hint) from None
        if literal:  # the node is kept too: its id stays its own while the build lasts
            self._literal[(id(node), kind)] = (node, value)
        return value

    def fused_bn(self, call: Call) -> Layer:
        """The fused BN of a layer made by the builder itself (a projection shortcut), with the
        ``bn:`` defaults in scope."""
        env = {**call.vars, "cin": call.cin}
        return self._fused_bn(call, lambda t: evaluate(t, env))

    def _fused_bn(self, call: Call, ev: Any) -> Layer:
        """The batch norm of ``bn: true``, with the ``bn:`` defaults in scope (``frozen``,
        ``eps``): a fused BN is a ``bn`` layer."""
        sig = SIGNATURES["bn"]
        typed = {key: self._coerce(node, key, sig.args[key].kind, ev, call,
                                   sig.cls.NULL_ARGS.get(key))
                 for key, node, _ in self.defaults_for("bn", call.defaults) if key in sig.args}
        return self.make("bn", typed)

    def _activation(self, node: YNode, call: Call) -> Layer | None:
        if isinstance(node, YScalar) and (node.value is None or node.value is False
                                          or node.value == "none"):
            return None
        if isinstance(node, YScalar) and isinstance(node.value, str):
            fn = node.value
            if LAYER_TYPES.get(fn, (None,))[0] is Activation:
                return self.make(fn, {})
            options = [k for k, (c, _) in LAYER_TYPES.items() if c is Activation]
            near = suggest(fn, options)
            raise SpecError(
                f"unknown activation {fn!r}", loc=node.loc, layer=call.where(call.label()),
                hint=f"did you mean {near!r}?" if near else "choose one of " + ", ".join(options),
            )
        if isinstance(node, YMap) and len(node.entries) == 1:
            # `act: {leaky_relu: {slope: 0.1}}`: the activation with its own arguments, bound as
            # the layer `- leaky_relu: {slope: 0.1}` is (the same checks, messages, locations)
            ((fn, given),) = node.entries.items()
            options = [k for k, (c, _) in LAYER_TYPES.items() if c is Activation]
            if LAYER_TYPES.get(fn, (None,))[0] is not Activation:
                near = suggest(fn, options)
                raise SpecError(
                    f"unknown activation {fn!r}", loc=node.keyloc(fn),
                    layer=call.where(call.label()),
                    hint=f"did you mean {near!r}?" if near else "choose one of "
                    + ", ".join(options))
            # `act: {leaky_relu: }` (null): its defaults
            empty = isinstance(given, YScalar) and given.value is None
            if not empty and not isinstance(given, YMap):
                raise SpecError(f"act: {{{fn}: …}} takes a mapping of the activation's arguments, "
                                f"got {given.describe()}", loc=given.loc,
                                layer=call.where(call.label()),
                                hint=f"write e.g. `act: {{{fn}: {{slope: 0.1}}}}`")
            inner = given if isinstance(given, YMap) else None
            own = SIGNATURES[fn].args
            # id, in, if and share place a layer: a fused one has none
            stray = [k for k in inner if k not in own] if inner is not None else []
            if stray and inner is not None:
                near = suggest(stray[0], list(own))
                raise SpecError(
                    f"act: {{{fn}: …}} takes {fn}'s own arguments "
                    f"({', '.join(own) or 'none'}), not {stray[0]!r}",
                    loc=inner.keyloc(stray[0]), layer=call.where(call.label()),
                    hint=f"did you mean {near!r}?" if near else "a fused activation runs in "
                    "place on the layer's output: it has no id, in, if or share of its own")
            sub = Call(fn, fn, inner, node.keyloc(fn), (), call.vars, call.cin, call.context,
                       call.label)
            bound = self._bind(sub)
            return bound.op
        raise SpecError(f"act must be an activation name, none, or {{NAME: {{its arguments}}}}, "
                        f"got {node.describe()}", loc=node.loc, layer=call.where(call.label()),
                        hint="write e.g. `act: relu`, `act: none` or "
                             "`act: {leaky_relu: {slope: 0.1}}`")

    # ---------------------------------------------------------------------- instances --
    def make(self, kind: str, values: Mapping[str, Any]) -> Layer:
        """Layer ``kind`` from coerced values; equal layers are one instance per build (a
        network repeats the same conv many times: less memory, and the later stages compare
        layers by identity). Argument values are ints, floats, bools, strings and tuples of
        them — all hashable."""
        key = (kind, *values.items())
        found = self._layers.get(key)
        if found is None:
            cls, preset = LAYER_TYPES[kind]
            made = cls(**{**preset, **{k: v for k, v in values.items()
                                       if v is not None or k in preset}})
            # `k: 1, s: 1` and `k: 1` make equal layers: one instance
            found = self._layers[key] = self._values.setdefault(made, made)
        return found

    def pair(self, op: Layer, post: tuple[Layer, ...]) -> Bound:
        """One :class:`Bound` per distinct (layer, post-ops) of the build."""
        key = (id(op), *map(id, post))
        found = self._pairs.get(key)
        if found is None:
            found = self._pairs[key] = Bound(op, post)
        return found

    def projection(self, out: int, strides: tuple[int, ...], bias: bool,
                   bn: Layer | None) -> Bound:
        """ResNet's projection shortcut: a 1×1 conv with the body's stride, then ``bn`` (the
        fused BN of the conv defaults, if they have one; no activation)."""
        op = self.make("conv", {"out": out, "k": 1, "s": strides, "bias": bias})
        assert isinstance(op, Conv)
        return self.pair(op, (bn,) if bn is not None else ())


def _defaults_for(canonical: str, defaults: tuple[YMap, ...]) -> list[tuple[str, YNode, bool]]:
    out: list[tuple[str, YNode, bool]] = []
    parents = SIGNATURES[canonical].inherits
    for dmap in defaults:
        for kind_name, inherited in [*((p, True) for p in parents), (canonical, False)]:
            for written, dnode in dmap.entries.items():  # `linear:` defaults apply to fc
                if ALIASES.get(written, written) == kind_name and isinstance(dnode, YMap):
                    out.extend((k, v, inherited) for k, v in dnode.entries.items())
    return out


def _literal(node: YNode) -> object | None:
    """A key for a value that means the same in every scope — a number, a bool, a word, or a
    list of those — or None: a ``$x`` or a call (``ch()`` and ``div()`` read the width and
    divisor in scope) needs the scope, and a mapping is never a literal argument."""
    if type(node) is YScalar:
        value = node.value
        if type(value) is str and ("$" in value or "(" in value):
            return None
        return (type(value), value)
    if type(node) is YSeq:
        items = tuple(_literal(item) for item in node.items)
        return None if None in items else ("list", items)
    return None
