"""JSON Schema (draft-07) of the spec format, generated from the code that reads specs.

Nothing is written twice: each layer type's arguments come from its class's ``ARGS`` (with their
kinds, defaults and docs) and ``POST_ARGS`` in :mod:`archcalc.layers` (``LAYER_TYPES``,
``ALIASES``), the top-level and block keys from :mod:`archcalc.spec` (``TOP_KEYS``,
``BLOCK_KEYS``), the keys every layer takes and the composite names from :mod:`archcalc.graph`
(``COMMON_KEYS``, ``COMPOSITES``). A new layer type or argument appears in the schema without an
edit here; a new argument *kind* or composite makes :func:`json_schema` fail until it is described.

Editors validate and complete specs with it (yaml-language-server: a first line
``# yaml-language-server: $schema=archcalc.schema.json``). The schema checks structure and
types; what needs the data flow (shapes, ``$cin``, expressions, block parameters) is checked when
the spec is built, with located messages. Because ``defaults:`` may supply any argument, no layer
argument is marked required here (the description says which ones are).

>>> schema = json_schema()
>>> schema["required"]
['archcalc', 'layers']
>>> schema["definitions"]["layer_entry"]["properties"]["maxpool"]
{'$ref': '#/definitions/layer.maxpool'}
>>> sorted(schema["definitions"]["layer.maxpool"]["properties"])[:3]
['ceil_mode', 'd', 'id']
"""

from __future__ import annotations

import json
from typing import Any

from .args import kind_text
from .graph import COMMON_KEYS, COMPOSITES
from .layers import ACTIVATION_OPS, ALIASES, LAYER_TYPES, REQUIRED, Arg, layer_args
from .spec import BLOCK_KEYS, FORMAT_VERSION, TOP_KEYS

DRAFT = "http://json-schema.org/draft-07/schema#"
Schema = dict[str, Any]

_EXPR: Schema = {"$ref": "#/definitions/expression"}
_LAYERS: Schema = {"$ref": "#/definitions/layers"}
_ACT: Schema = {"$ref": "#/definitions/act"}
_DEFAULTS: Schema = {"$ref": "#/definitions/defaults"}
#: a block variable holding a word (``act: $nl``), accepted where a word is expected
_WORD_VAR: Schema = {"type": "string", "pattern": "^\\$[A-Za-z_][A-Za-z0-9_]*$"}


#: a ``freeze:`` entry ``{until: NAME}``
_FREEZE_UNTIL: dict[str, Any] = {
    "type": "object", "required": ["until"], "additionalProperties": False,
    "properties": {"until": {"type": "string", "minLength": 1}}}


def _integer(minimum: int | None) -> Schema:
    base: Schema = {"type": "integer"}
    if minimum is not None:
        base["minimum"] = minimum
    return {"anyOf": [base, _EXPR]}


def _per_axis(minimum: int) -> Schema:
    one = _integer(minimum)
    return {"anyOf": [one, {"type": "array", "minItems": 1, "items": one}]}


def kind_schema(kind: str) -> Schema:
    """The schema of one argument kind of :func:`archcalc.args.coerce` (numbers also accept an
    expression string, as the builder evaluates them)."""
    if kind in ("int", "int+", "int0"):
        return _integer({"int": None, "int+": 1, "int0": 0}[kind])
    if kind in ("ints+", "ints0"):
        return _per_axis(1 if kind == "ints+" else 0)
    if kind == "pad":
        pair = {"type": "array", "minItems": 2, "maxItems": 2, "items": _integer(0)}
        return {"anyOf": [
            {"enum": ["same", "valid"]},
            _integer(0),
            {"type": "array", "minItems": 1, "items": {"anyOf": [_integer(0), pair]}},
        ]}
    if kind == "float":
        return {"anyOf": [{"type": "number"}, _EXPR]}
    if kind == "prob":
        return {"anyOf": [{"type": "number", "minimum": 0, "exclusiveMaximum": 1}, _EXPR]}
    if kind == "bool":
        return {"type": "boolean"}
    if kind.startswith("choice:"):
        return {"anyOf": [{"enum": kind[len("choice:"):].split("|")}, _WORD_VAR]}
    if kind == "shape":
        return {"type": "array", "minItems": 1, "items": _integer(-1)}
    if kind == "conn":
        return {"type": "array", "items": {"type": "array", "items": _integer(0)}}
    if kind == "name":
        return {"type": "string", "minLength": 1}
    raise ValueError(f"the JSON Schema has no rule for argument kind {kind!r}")


def arg_schema(arg: Arg) -> Schema:
    """One layer argument: its kind's schema, its doc and default; optional ones may be null."""
    schema = dict(kind_schema(arg.kind))
    required = arg.default is REQUIRED
    doc = f"{arg.doc} ({kind_text(arg.kind)}"
    if required:
        doc += "; required"
    elif isinstance(arg.default, (bool, int, float, str)):
        doc += f"; default {json.dumps(arg.default)}"
        schema["default"] = arg.default
    schema["description"] = doc + ")"
    if not required:
        schema = _nullable(schema)
    return schema


def _nullable(schema: Schema) -> Schema:
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    rest = {k: v for k, v in schema.items() if k in ("description", "default")}
    core = {k: v for k, v in schema.items() if k not in rest}
    return {"anyOf": [core, {"type": "null"}], **rest}


def _common() -> dict[str, Schema]:
    described: dict[str, Schema] = {
        "id": {"type": "string", "minLength": 1, "description": "the layer's name"},
        "in": {
            "anyOf": [{"type": "string"}, {"type": "array", "minItems": 1,
                                           "items": {"type": "string"}}],
            "description": "input name(s); default: the previous layer",
        },
        "if": {
            "anyOf": [{"type": "boolean"}, {"type": "number"}, _EXPR],
            "description": "skip the layer when false, e.g. $t != 1",
        },
        "share": {
            "type": "string", "minLength": 1,
            "description": "use the weights of this earlier layer (or, on a block call, of "
                           "the earlier call's layers): counted once, the work per use",
        },
    }
    missing = set(COMMON_KEYS) - set(described)
    if missing:
        raise ValueError(f"the JSON Schema does not describe the common keys {sorted(missing)}")
    return {key: described[key] for key in COMMON_KEYS}


def _post(name: str) -> Schema:
    if name == "bn":
        return {"type": "boolean", "description": "fused batch norm after the layer"}
    if name == "act":
        return {"description": "fused activation after the layer (none: no activation)",
                "allOf": [_ACT]}
    raise ValueError(f"the JSON Schema has no rule for the fused argument {name!r}")


def _layer_args(kind: str) -> dict[str, Schema]:
    cls = LAYER_TYPES[kind][0]
    props = {a.name: arg_schema(a) for a in layer_args(kind)}
    props.update({name: _post(name) for name in cls.POST_ARGS})
    props.update({name: {"type": "string", "minLength": 1, "description": doc}
                  for name, doc in cls.REFS.items()})
    return props


def layer_schema(kind: str) -> Schema:
    """The arguments of layer type ``kind`` (canonical name) as written in a spec (the
    schema's ``definitions/layer.KIND``)."""
    cls = LAYER_TYPES[kind][0]
    required = [a.name for a in layer_args(kind) if a.default is REQUIRED]
    doc = cls.doc + (f"; requires {', '.join(required)}" if required else "")
    return {
        "description": doc,
        "type": ["object", "null"],
        "properties": {**_layer_args(kind), **_common()},
        "additionalProperties": False,
    }


def _composites() -> dict[str, Schema]:
    common = {k: v for k, v in _common().items() if k != "share"}  # for layers and block calls
    branch: Schema = {"anyOf": [{"type": "array", "items": {"$ref": "#/definitions/layer"}},
                                {"$ref": "#/definitions/layer"}]}
    branches = {"type": "array", "minItems": 1, "items": branch,
                "description": "parallel branches: each a list of layers (or one layer)"}
    described: dict[str, Schema] = {
        "residual": {
            "description": "add(body(x), shortcut(x)), then an optional activation",
            "type": "object",
            "required": ["body"],
            "properties": {
                "body": _LAYERS,
                "shortcut": {"anyOf": [{"enum": ["identity", "project", "if_match"]}, _LAYERS],
                             "description": "identity, project (1x1 conv), if_match (add only "
                                            "when shapes match) or a list of layers"},
                "act": _post("act"),
                **common,
            },
            "additionalProperties": False,
        },
        "concat": {
            "description": "concatenate along channels: a list of branches, "
                           "{branches: [...]}, or {in: [a, b]}",
            "anyOf": [
                branches,
                {"type": ["object", "null"],
                 "properties": {"branches": branches, **common},
                 "additionalProperties": False},
            ],
        },
        "repeat": {
            "description": "the layers n times in sequence",
            "type": "object",
            "required": ["n", "layers"],
            "properties": {"n": kind_schema("int0"), "layers": _LAYERS, **common},
            "additionalProperties": False,
        },
        "stages": {
            "description": "a paper's stage table: one row per stage, column n repeats the "
                           "block, column s strides its first block",
            "type": "object",
            "required": ["block", "columns", "rows"],
            "properties": {
                "block": {"type": "string", "description": "a block defined under blocks:"},
                "columns": {"type": "array", "items": {"type": "string"}},
                "rows": {"type": "array", "minItems": 1, "items": {"type": "array"}},
                "args": {"type": "object", "description": "block parameters for every row"},
                "count": {"anyOf": [{"type": "string"}, {"type": "null"}],
                          "description": "the column with each row's number of blocks "
                                         "(default n; none: one block per row)"},
                **common,
            },
            "additionalProperties": False,
        },
        "sequential": {
            "description": "a list of layers as one entry",
            "type": "object",
            "required": ["layers"],
            "properties": {"layers": _LAYERS, **common},
            "additionalProperties": False,
        },
    }
    missing = set(COMPOSITES) - set(described)
    if missing:
        raise ValueError(f"the JSON Schema does not describe the composites {sorted(missing)}")
    return {name: described[name] for name in COMPOSITES}


def _layer_entry() -> Schema:
    props: dict[str, Schema] = {kind: _ref(f"layer.{kind}") for kind in LAYER_TYPES}
    for alias, target in ALIASES.items():
        props[alias] = {"description": f"alias of {target}", "allOf": [_ref(f"layer.{target}")]}
    props.update(_composites())
    return {
        "description": "a layer `type: {arguments}`, a merge, or a call of a block",
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": props,
        "additionalProperties": {
            "type": ["object", "null"],
            "description": "a call of a block defined under blocks: (its parameters, id, in, if)",
        },
    }


def _bare_words() -> list[str]:
    """Layer types that need no argument, so they may be written as a bare word (``- relu``)."""
    names = [kind for kind in LAYER_TYPES
             if all(a.default is not REQUIRED for a in layer_args(kind))]
    return names + [a for a, t in ALIASES.items() if t in names]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/definitions/{name}"}


def _number_map() -> Schema:
    return {"type": ["object", "null"], "additionalProperties": {"type": "number"}}


def _let() -> Schema:
    return {"type": ["object", "null"], "additionalProperties": {"anyOf": [{"type": "number"},
                                                                           _EXPR]},
            "description": "named constants or expressions, used as $name"}


def _defaults() -> Schema:
    props = {
        kind: {"type": "object", "properties": _layer_args(kind), "additionalProperties": False}
        for kind in LAYER_TYPES
    }
    return {
        "description": "default arguments per layer type (conv defaults also apply to dwconv, "
                       "pwconv and conv1d/2d/3d)",
        "type": ["object", "null"],
        "properties": props,
        "additionalProperties": {"type": "object"},
    }


def _block() -> Schema:
    described: dict[str, Schema] = {
        "params": {
            "anyOf": [
                {"type": "array", "items": {"type": "string"}},
                {"type": "object",
                 "additionalProperties": {"type": ["number", "string", "boolean", "null"]}},
            ],
            "description": "parameter names, or a mapping name → default",
        },
        "let": _let(),
        "defaults": _DEFAULTS,
        "layers": _LAYERS,
        "doc": {"type": "string"},
    }
    _same_keys(described, BLOCK_KEYS, "block")
    return {
        "description": "a reusable block, called as `- NAME: {param: value}`",
        "type": "object",
        "required": ["layers"],
        "properties": {key: described[key] for key in BLOCK_KEYS},
        "additionalProperties": False,
    }


def _same_keys(described: dict[str, Schema], keys: tuple[str, ...], what: str) -> None:
    if set(described) != set(keys):
        raise ValueError(
            f"the JSON Schema's {what} keys {sorted(described)} differ from the reader's "
            f"{sorted(keys)}"
        )


def _shape() -> Schema:
    return {"type": "array", "minItems": 1, "maxItems": 4, "items": _integer(1),
            "description": "input shape, channels first, no batch: [C], [C, L], [C, H, W] or "
                           "[C, D, H, W]"}


def json_schema() -> Schema:
    """The JSON Schema (draft-07) of a spec, as a JSON-ready dict."""
    described: dict[str, Schema] = {
        "archcalc": {"const": FORMAT_VERSION, "description": "format version"},
        "name": {"type": ["string", "number"], "description": "shown in reports"},
        "description": {"type": "string", "description": "one line for `archcalc list`"},
        "input": _shape(),
        "inputs": {
            "type": "object", "minProperties": 1, "additionalProperties": _shape(),
            "description": "several inputs by name, each with its shape (instead of input:)",
        },
        "outputs": {
            "type": "array", "minItems": 1,
            "items": {"anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "object", "required": ["layer"], "additionalProperties": False,
                 "properties": {"layer": {"type": "string", "minLength": 1},
                                "training": {"type": "boolean",
                                             "description": "used only in training (an "
                                                            "auxiliary classifier)"}}},
            ]},
            "description": "the layers that are outputs (default: the last layer)",
        },
        "freeze": {
            "anyOf": [{"type": "string", "minLength": 1}, _FREEZE_UNTIL,
                      {"type": "array", "minItems": 1, "items": {"anyOf": [
                          {"type": "string", "minLength": 1}, _FREEZE_UNTIL]}}],
            "description": "layers and groups frozen in training (no weight gradient), and "
                           "`until: NAME`: every layer before NAME (docs/training.md)",
        },
        "scale": {**_number_map(), "description": "scale parameters (width, resolution, ...)"},
        "variants": {
            "type": ["object", "null"],
            "additionalProperties": _number_map(),
            "description": "named scale settings, selected as NAME_variant",
        },
        "let": _let(),
        "defaults": _DEFAULTS,
        "blocks": {"type": ["object", "null"], "additionalProperties": _ref("block")},
        "layers": _LAYERS,
    }
    _same_keys(described, TOP_KEYS, "top-level")
    return {
        "$schema": DRAFT,
        "title": "archcalc spec",
        "description": "A CNN architecture for archcalc: input shape and layers in data-flow "
                       "order (see docs/spec-format.md).",
        "type": "object",
        "required": ["archcalc", "layers"],
        "oneOf": [{"required": ["input"]}, {"required": ["inputs"]}],
        "properties": {key: described[key] for key in TOP_KEYS},
        "additionalProperties": False,
        "definitions": {
            "expression": {
                "type": "string",
                "minLength": 1,
                "description": "an expression: $name variables, + - * / // % **, comparisons, "
                               "round ceil floor int min max abs log log2 exp ch div, $cin",
            },
            "layers": {"type": "array", "minItems": 1, "items": {"$ref": "#/definitions/layer"}},
            "layer": {"anyOf": [
                {"enum": _bare_words(), "description": "a layer type without arguments"},
                {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_.]*$",
                 "description": "a block called without arguments"},
                {"$ref": "#/definitions/layer_entry"},
            ]},
            "layer_entry": _layer_entry(),
            **{f"layer.{kind}": layer_schema(kind) for kind in LAYER_TYPES},
            "act": {"anyOf": [
                {"enum": [*ACTIVATION_OPS, "none"]}, {"enum": [False, None]}, _WORD_VAR,
                # {leaky_relu: {slope: 0.1}}: one activation with its own arguments only
                {"type": "object", "minProperties": 1, "maxProperties": 1,
                 "additionalProperties": False,
                 "properties": {kind: {"type": ["object", "null"],
                                       "properties": _layer_args(kind),
                                       "additionalProperties": False}
                                for kind in ACTIVATION_OPS if kind in LAYER_TYPES}}]},
            "defaults": _defaults(),
            "block": _block(),
        },
    }


def schema_text() -> str:
    """:func:`json_schema` as indented JSON text (what ``archcalc schema`` prints)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
