"""The JSON Schema of the spec format: a valid draft-07 schema, generated from the layer classes,
accepting every bundled spec and rejecting what the reader rejects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # in the test and dev extras
import pytest
import yaml
from click.testing import CliRunner

import archcalc
from archcalc import builder as b
from archcalc.cli import cli
from archcalc.graph import COMMON_KEYS, COMPOSITES
from archcalc.layers import ALIASES, LAYER_TYPES, REQUIRED, layer_args
from archcalc.schema import json_schema, kind_schema
from archcalc.spec import BLOCK_KEYS, TOP_KEYS, specs_dirs

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)
SPEC_FILES = sorted({p.name: p for d in specs_dirs() for p in d.glob("*.yaml")}.values())


def errors(doc: Any) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(doc)]


def test_schema_is_valid_draft7() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_cli_prints_the_schema(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == SCHEMA
    target = tmp_path / "archcalc.schema.json"
    assert CliRunner().invoke(cli, ["schema", "-o", str(target)]).exit_code == 0
    assert json.loads(target.read_text()) == SCHEMA


def test_there_are_bundled_specs() -> None:
    assert len(SPEC_FILES) >= 1 and "alexnet.yaml" in [p.name for p in SPEC_FILES]


@pytest.mark.parametrize("path", SPEC_FILES, ids=lambda p: p.stem)
def test_bundled_spec_validates(path: Path) -> None:
    assert errors(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


# ------------------------------------------------------------- generated, not written twice --

def test_keys_follow_the_reader() -> None:
    assert list(SCHEMA["properties"]) == list(TOP_KEYS)
    assert list(SCHEMA["definitions"]["block"]["properties"]) == list(BLOCK_KEYS)
    entry = SCHEMA["definitions"]["layer_entry"]["properties"]
    assert set(entry) == {*LAYER_TYPES, *ALIASES, *COMPOSITES}


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_layer_arguments_follow_the_class(kind: str) -> None:
    cls = LAYER_TYPES[kind][0]
    props = SCHEMA["definitions"][f"layer.{kind}"]["properties"]
    assert set(props) == {*(a.name for a in layer_args(kind)), *cls.POST_ARGS, *cls.REFS,
                          *COMMON_KEYS}


def example_value(kind: str) -> Any:
    """A value the reader accepts for an argument kind."""
    return {"int": 1, "int+": 2, "int0": 0, "ints+": [2, 2], "ints0": 1, "pad": [[0, 1], 1],
            "float": 0.5, "prob": 0.25, "bool": True, "shape": [-1], "conn": [[0, 1]],
            "name": "x"}.get(kind, kind[len("choice:"):].split("|")[0])


@pytest.mark.parametrize("kind", sorted({*LAYER_TYPES, *ALIASES}))
def test_every_argument_kind_accepts_a_plain_value(kind: str) -> None:
    canonical = ALIASES.get(kind, kind)
    args = {a.name: example_value(a.kind) for a in layer_args(canonical)}
    doc = b.spec("x", [3, 8, 8], [{kind: args}, kind if all(
        a.default is not REQUIRED for a in layer_args(canonical)) else {kind: args}])
    assert errors(doc) == []


def test_numeric_kinds_accept_expressions_and_reject_words() -> None:
    for kind in ("int", "int+", "int0", "ints+", "float", "prob"):
        instance = jsonschema.Draft7Validator({**kind_schema(kind),
                                               "definitions": SCHEMA["definitions"]})
        assert instance.is_valid("$cin * 2"), kind
        assert not instance.is_valid(True), kind
        assert not instance.is_valid({"a": 1}), kind
    assert not jsonschema.Draft7Validator(kind_schema("bool")).is_valid("yes")


# ------------------------------------------------------------ agreement with the reader --

GOOD = b.spec("good", [3, 32, 32], [
    b.conv(16, 3, p="same", bn=True, act="relu", id="stem"),
    b.residual([b.conv(16, 3, p=1), b.conv(16, 3, p=1, act="none")], shortcut="project",
               act="relu"),
    b.concat([b.conv(8, 1)], [b.conv(8, 1), b.conv(8, 3, p=1)], b.maxpool(3, s=1, p=1)),
    b.concat([b.conv(4, 1)], [b.conv(4, 1)], id="cat2"),
    b.repeat(2, [b.conv("$cin", 3, p=1)]),
    b.sequential([b.conv(8, 1, if_="$width > 0.5")]),
    b.stages("unit", ["c", "n", "s"], [[8, 2, 2], [16, 1, 1]]),
    b.call("unit", c=16, s=1, id="extra"),
    b.add("extra.conv1", "extra.conv1"),  # a layer inside the block instance `extra`
    b.global_avgpool(),
    b.flatten(),
    b.dropout(0.5),
    b.fc(10, in_="flatten1"),
], scale={"width": 1.0}, variants={"half": {"width": 0.5}}, let={"base": "$width * 16"},
   defaults={"conv": {"bias": False}},
   blocks={"unit": b.block({"c": None, "s": 1}, [b.conv("$c", 3, s="$s", p=1, act="relu")],
                           doc="a conv")})


def test_a_spec_using_every_construct_validates_and_builds() -> None:
    assert errors(GOOD) == []
    report = archcalc.analyze(GOOD)
    assert report.layers[-1].output_shape == (10,)


def mutated(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc: Any = json.loads(json.dumps(GOOD))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    result: dict[str, Any] = doc
    return result


BAD = {
    "unknown argument": mutated(("layers", 0), {"conv": {"out": 16, "k": 3, "stride": 2}}),
    "kernel as a word list": mutated(("layers", 0), {"conv": {"out": 16, "k": [True]}}),
    "bias as text": mutated(("layers", 0), {"conv": {"out": 16, "k": 3, "bias": "yes"}}),
    "unknown activation": mutated(("layers", 0), {"conv": {"out": 16, "k": 3, "act": "relu7"}}),
    "two types in one layer": mutated(("layers", 0), {"conv": {"out": 4, "k": 1}, "bn": None}),
    "ceil_mode as text": mutated(("layers", 0), {"maxpool": {"k": 2, "ceil_mode": "yes"}}),
    "format version": mutated(("archcalc",), 2),
    "unknown top-level key": mutated(("layer",), []),
    "input too long": mutated(("input",), [3, 1, 2, 3, 4]),
    "residual without body": mutated(("layers", 1), {"residual": {"shortcut": "identity"}}),
    "bad shortcut": mutated(("layers", 1), {"residual": {"body": [{"conv": {"out": 4, "k": 1}}],
                                                         "shortcut": "skip"}}),
    "repeat without n": mutated(("layers", 4), {"repeat": {"layers": [{"relu": None}]}}),
    "unknown block key": mutated(("blocks", "unit", "body"), []),
    "defaults for a missing argument": mutated(("defaults",), {"conv": {"stride": 2}}),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_schema_rejects_what_the_reader_rejects(name: str) -> None:
    doc = BAD[name]
    assert errors(doc) != []
    with pytest.raises(archcalc.ArchcalcError):
        archcalc.analyze(doc)
