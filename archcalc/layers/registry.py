"""The registry, derived from the layer classes: YAML names, aliases, argument signatures and
inherited defaults. Nothing here is written by hand per type — a class defined in one of the
:data:`FAMILIES` modules is a layer type, under the names it declares.

Everything is computed once at import and never changes (plain tuples and read-only mappings).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Any, NamedTuple

from . import activation, conv, lenet, linear, merge, norm, pool, resample, reshape
from .base import REQUIRED, Arg, Layer

#: the family modules, in the order of the layer reference
FAMILIES: tuple[ModuleType, ...] = (conv, pool, lenet, linear, reshape, resample, norm, merge,
                                    activation)


def _family_classes(module: ModuleType) -> list[type[Layer]]:
    """The layer types a family module defines, in definition order (its bases excluded)."""
    return [value for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Layer)
            and value.__module__ == module.__name__ and value.kind]


#: Every concrete class (the executor, the reference and the tests iterate these).
LAYER_CLASSES: tuple[type[Layer], ...] = tuple(
    cls for module in FAMILIES for cls in _family_classes(module))


def _names() -> tuple[dict[str, tuple[type[Layer], dict[str, Any]]], dict[str, str]]:
    types: dict[str, tuple[type[Layer], dict[str, Any]]] = {}
    aliases: dict[str, str] = {}
    for cls in LAYER_CLASSES:
        for name, preset in cls.spellings().items():
            if name in types:
                raise RuntimeError(f"layer type {name!r} is defined by both "
                                   f"{types[name][0].__name__} and {cls.__name__}")
            types[name] = (cls, dict(preset))
    for cls in LAYER_CLASSES:
        for alias in cls.own("ALIASES"):
            if alias in types or alias in aliases:
                raise RuntimeError(f"alias {alias!r} of {cls.__name__} is taken")
            aliases[alias] = cls.kind
    return types, aliases


_TYPES, _ALIASES = _names()
#: YAML name → (class, preset fields); every spelling of a class (conv1d, relu, …) included
LAYER_TYPES: Mapping[str, tuple[type[Layer], dict[str, Any]]] = MappingProxyType(_TYPES)
#: Other spellings accepted for convenience → the canonical YAML name.
ALIASES: Mapping[str, str] = MappingProxyType(_ALIASES)


class Signature(NamedTuple):
    """What a spec may write under one canonical layer name."""

    cls: type[Layer]
    preset: Mapping[str, Any]
    args: Mapping[str, Arg]  # the layer's own arguments, by name
    post: tuple[str, ...]  # fused post-op arguments (bn, act)
    allowed: tuple[str, ...]  # every key, in the order hints list them
    allowed_keys: frozenset[str]
    required: tuple[str, ...]
    #: the types whose ``defaults:`` apply too (a dwconv takes the conv defaults it accepts)
    inherits: tuple[str, ...]


def _signature(name: str, common: tuple[str, ...]) -> Signature:
    cls, preset = LAYER_TYPES[name]
    args = {a.name: a for a in cls.args_for(name)}
    allowed = (*args, *cls.POST_ARGS, *cls.REFS, *common)
    parents = cls.own("INHERITS")
    if name != cls.kind and cls.KIND_IS_NAME:  # conv1d: the conv defaults apply
        parents = (cls.kind, *parents)
    return Signature(cls, MappingProxyType(preset), MappingProxyType(args), cls.POST_ARGS,
                     allowed, frozenset(allowed),
                     tuple(n for n, a in args.items() if a.default is REQUIRED), parents)


#: the keys every layer entry takes besides its arguments
COMMON_KEYS = ("id", "in", "if", "share")
#: canonical name → :class:`Signature`
SIGNATURES: Mapping[str, Signature] = MappingProxyType(
    {name: _signature(name, COMMON_KEYS) for name in LAYER_TYPES})


def layer_args(kind: str) -> tuple[Arg, ...]:
    """The arguments a spec may give to layer type ``kind`` (canonical name)."""
    return tuple(SIGNATURES[kind].args.values())


def post_arg_names(kind: str) -> tuple[str, ...]:
    return SIGNATURES[kind].post


def make_layer(kind: str, values: Mapping[str, Any]) -> Layer:
    """Instantiate ``kind`` from already-coerced argument values (defaults filled by the class;
    a None value leaves the default, unless the spelling presets that field)."""
    cls, preset = LAYER_TYPES[kind]
    return cls(**{**preset, **{k: v for k, v in values.items() if v is not None or k in preset}})
