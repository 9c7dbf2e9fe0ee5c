"""Build specs in Python, without YAML.

Each helper returns the plain dicts and lists of the YAML format, so a spec built here goes
through exactly the same validation as a file (:func:`archcalc.load_spec` accepts the mapping),
and :func:`to_yaml` turns it into a file a student can edit. Arguments left out (``None``) are
left out of the spec, so ``defaults:`` still apply. Python keywords get a trailing underscore:
``in_=`` for ``in``, ``if_=`` for ``if``. Argument *names* are checked at once against the layer
type (a typo fails at the call, with a suggestion); values are checked when the spec is built.

>>> import archcalc
>>> from archcalc import builder as b
>>> net = b.spec("tiny", [3, 32, 32], [
...     b.conv(16, 3, p=1, act="relu", id="conv1"),
...     b.maxpool(2),
...     b.flatten(),
...     b.fc(10, id="fc"),
... ])
>>> net["layers"][0]
{'conv': {'out': 16, 'k': 3, 'p': 1, 'act': 'relu', 'id': 'conv1'}}
>>> report = archcalc.analyze(net)
>>> report.totals.params == (16 * 3 * 3 * 3 + 16) + (16 * 16 * 16 * 10 + 10)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .args import suggest
from .errors import SpecError
from .graph import COMMON_KEYS, COMPOSITES
from .layers import ALIASES, LAYER_TYPES, layer_args
from .spec import FORMAT_VERSION

#: one layer entry (``{"conv": {...}}``) and a whole spec mapping; a layer list may also hold
#: bare words (``"relu"``, ``"flatten"``) as YAML does
LayerDict = dict[str, Any]
Entry = LayerDict | str
SpecDict = dict[str, Any]
Number = int | float
#: a numeric field: a number or an expression string such as ``"$cin * 2"`` or ``"ch(32)"``
Num = int | float | str
PerAxis = int | str | Sequence[int | str]


#: PyTorch/Keras argument names → the spec's, for did-you-mean hints
_SYNONYMS = {
    "stride": "s", "strides": "s", "padding": "p", "kernel_size": "k", "kernel": "k",
    "dilation": "d", "out_channels": "out", "filters": "out", "out_features": "out",
    "activation": "act", "name": "id", "inputs": "in",
}


def _keywords(args: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values and map ``in_``/``if_`` to the spec's ``in``/``if``."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        if value is None:
            continue
        key = key[:-1] if key in ("in_", "if_") else key
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def layer(kind: str, /, **args: Any) -> LayerDict:
    """One layer entry ``{kind: {args}}`` of any type in :data:`archcalc.layers.LAYER_TYPES`
    (or an alias). Unknown types and argument names raise :class:`~archcalc.SpecError`."""
    canonical = ALIASES.get(kind, kind)
    if canonical not in LAYER_TYPES:
        options = [*LAYER_TYPES, *ALIASES]
        near = suggest(kind, options)
        raise SpecError(
            f"unknown layer type {kind!r}",
            hint=f"did you mean {near!r}?" if near else
            "composites have their own helpers (residual, concat, repeat, stages, sequential); "
            "call blocks with call()",
        )
    values = _keywords(args)
    allowed = [a.name for a in layer_args(canonical)]
    allowed += [*LAYER_TYPES[canonical][0].POST_ARGS, *COMMON_KEYS]
    for key in values:
        if key not in allowed:
            near = _SYNONYMS.get(key) if _SYNONYMS.get(key) in allowed else suggest(key, allowed)
            raise SpecError(
                f"{kind} has no argument {key!r}",
                hint=f"did you mean {near!r}?" if near else f"{kind} takes: " + ", ".join(allowed),
            )
    return {kind: values or None}


def conv(out: Num, k: PerAxis, /, **args: Any) -> LayerDict:
    """A convolution: ``out`` filters of size ``k``; ``s``, ``p``, ``d``, ``groups``, ``bias``,
    ``bn``, ``act``, ``id``, ``in_`` as keywords."""
    return layer("conv", out=out, k=k, **args)


def dwconv(k: PerAxis, /, **args: Any) -> LayerDict:
    """A depthwise convolution (one ``k`` filter per input channel)."""
    return layer("dwconv", k=k, **args)


def pwconv(out: Num, /, **args: Any) -> LayerDict:
    """A pointwise (1×1) convolution."""
    return layer("pwconv", out=out, **args)


def deconv(out: Num, k: PerAxis, /, **args: Any) -> LayerDict:
    """A transposed convolution."""
    return layer("deconv", out=out, k=k, **args)


def maxpool(k: PerAxis, /, **args: Any) -> LayerDict:
    """Max pooling with a ``k`` window (stride defaults to ``k``)."""
    return layer("maxpool", k=k, **args)


def avgpool(k: PerAxis, /, **args: Any) -> LayerDict:
    """Average pooling with a ``k`` window (stride defaults to ``k``)."""
    return layer("avgpool", k=k, **args)


def global_avgpool(**args: Any) -> LayerDict:
    """Global average pooling: ``[C, H, W]`` → ``[C, 1, 1]``."""
    return layer("global_avgpool", **args)


def fc(out: Num, /, **args: Any) -> LayerDict:
    """A fully connected layer with ``out`` features."""
    return layer("fc", out=out, **args)


def flatten(**args: Any) -> LayerDict:
    """Flatten to a vector."""
    return layer("flatten", **args)


def dropout(p: Num | None = None, /, **args: Any) -> LayerDict:
    """Dropout (identity at inference: no cost)."""
    return layer("dropout", p=p, **args)


def bn(**args: Any) -> LayerDict:
    """A batch normalisation layer (or write ``bn=True`` on a conv to fuse it)."""
    return layer("bn", **args)


def act(fn: str, /, **args: Any) -> LayerDict:
    """An activation layer: ``act("relu")``, ``act("leaky_relu", slope=0.1)``."""
    return layer(fn, **args)


def add(*inputs: str, **args: Any) -> LayerDict:
    """An element-wise sum of the named layers: ``add("conv3", "shortcut")``."""
    return layer("add", in_=list(inputs) or None, **args)


def residual(body: Iterable[Entry], /, *, shortcut: str | Iterable[Entry] | None = None,
             act: str | None = None, **args: Any) -> LayerDict:
    """``add(body(x), shortcut(x))``; ``shortcut`` is ``identity`` (default), ``project``,
    ``if_match`` or a list of layers; ``act`` an activation after the add."""
    sc = shortcut if shortcut is None or isinstance(shortcut, str) else list(shortcut)
    return {"residual": _keywords({"body": list(body), "shortcut": sc, "act": act, **args})}


def concat(*branches: Iterable[Entry] | LayerDict, **args: Any) -> LayerDict:
    """Parallel branches concatenated along channels (Inception): ``concat([...], [...])``.
    Without branches, ``concat(in_=["a", "b"])`` concatenates named layers."""
    items = [b if isinstance(b, Mapping) else list(b) for b in branches]
    values = _keywords(args)
    if not items:
        return {"concat": values or None}
    if not values:
        return {"concat": items}
    return {"concat": {"branches": items, **values}}


def repeat(n: Num, layers: Iterable[Entry], /, **args: Any) -> LayerDict:
    """The ``layers`` ``n`` times in sequence."""
    return {"repeat": _keywords({"n": n, "layers": list(layers), **args})}


def sequential(layers: Iterable[Entry], /, **args: Any) -> LayerDict:
    """A list of layers as one entry (useful with ``in_=`` or ``if_=``)."""
    return {"sequential": _keywords({"layers": list(layers), **args})}


def stages(block_name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], /,
           **args: Any) -> LayerDict:
    """A paper's stage table: one row per stage for block ``block_name``; column ``n`` repeats
    the block, column ``s`` strides only its first instance."""
    return {"stages": _keywords({"block": block_name, "columns": list(columns),
                                 "rows": [list(r) for r in rows], **args})}


def call(block_name: str, /, **args: Any) -> LayerDict:
    """A call of a block defined under ``blocks=``: ``call("bottleneck", mid=64, out=256)``."""
    if block_name in LAYER_TYPES or block_name in ALIASES or block_name in COMPOSITES:
        raise SpecError(
            f"{block_name!r} is a layer type, not a block name",
            hint=f"use layer({block_name!r}, ...) or its helper",
        )
    return {block_name: _keywords(args) or None}


def block(params: Sequence[str] | Mapping[str, Any], layers: Iterable[Entry], /, *,
          let: Mapping[str, Num] | None = None, defaults: Mapping[str, Any] | None = None,
          doc: str | None = None) -> dict[str, Any]:
    """A block definition for ``spec(blocks={"name": block([...], [...])})``: parameter names
    (or a mapping name → default) and its layers, using the parameters as ``"$name"``."""
    ps = dict(params) if isinstance(params, Mapping) else list(params)
    return _keywords({"params": ps, "let": dict(let) if let else None,
                      "defaults": dict(defaults) if defaults else None, "layers": list(layers),
                      "doc": doc})


def spec(name: str, input: Sequence[Num], layers: Iterable[Entry], /, *,
         description: str | None = None, scale: Mapping[str, Number] | None = None,
         variants: Mapping[str, Mapping[str, Number]] | None = None,
         let: Mapping[str, Num] | None = None, defaults: Mapping[str, Any] | None = None,
         blocks: Mapping[str, Any] | None = None) -> SpecDict:
    """A whole spec mapping: ``archcalc.analyze(spec(...))`` or ``load_spec(spec(...))``."""
    return _keywords({
        "archcalc": FORMAT_VERSION,
        "name": name,
        "description": description,
        "input": list(input),
        "scale": dict(scale) if scale else None,
        "variants": {k: dict(v) for k, v in variants.items()} if variants else None,
        "let": dict(let) if let else None,
        "defaults": {k: dict(v) for k, v in defaults.items()} if defaults else None,
        "blocks": dict(blocks) if blocks else None,
        "layers": list(layers),
    })


def to_yaml(spec_dict: Mapping[str, Any]) -> str:
    """The spec as YAML text, one flow-style line per layer (``- conv: {out: 64, k: 3}``)."""
    import yaml

    def plain(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [_bare(plain(v)) for v in value]
        return value

    def _bare(item: Any) -> Any:  # a layer without arguments as a bare word: `- flatten`
        if isinstance(item, dict) and len(item) == 1 and next(iter(item.values())) is None:
            return next(iter(item))
        return item

    text: str = yaml.safe_dump(plain(spec_dict), sort_keys=False, default_flow_style=None,
                               allow_unicode=True, width=100)
    return text
