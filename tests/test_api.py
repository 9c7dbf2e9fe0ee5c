"""The public library API, used the way lecture tooling uses it: only ``archcalc`` and its
documented modules (``archcalc.builder``, ``archcalc.export``, ``archcalc.plot``) are imported.

The ``python`` code blocks of README.md and every page of docs/ run here, in order, in a
temporary directory, so the documentation cannot rot; so do the doctests in the modules'
docstrings. (The command lines of the docs run in tests/test_docs.py.)
"""

from __future__ import annotations

import dataclasses
import doctest
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import archcalc
import archcalc.builder
import archcalc.diagram
import archcalc.export
import archcalc.hierarchy
import archcalc.page
import archcalc.plot
import archcalc.schema
import archcalc.textable
import archcalc.units

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")
                              if "```python" in p.read_text(encoding="utf-8")))
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    return FENCE.findall(text)


#: files each document's code writes (in the temporary directory)
#: files a document's code reads, copied into the temporary directory first
READS: dict[str, dict[str, str]] = {
    "docs/compare-explain-sweep.md": {"slide.tsv": "tests/fixtures/slides/003_alexnet.txt"},
}
WRITES: dict[str, list[str]] = {
    "README.md": [],
    "docs/compare-explain-sweep.md": ["slide.tsv"],
    "docs/executor.md": [],
    "docs/api.md": ["alexnet.csv", "alexnet.md", "alexnet.png", "alexnet.tex",
                    "alexnet_vs_vgg16.svg"],
}


@pytest.mark.parametrize("doc", DOCS)
def test_documented_code_runs(doc: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert blocks, f"{doc} has no python code block"
    assert text.count("```python") == len(blocks)  # every python fence was found
    monkeypatch.chdir(tmp_path)
    for name, source in READS.get(doc, {}).items():
        (tmp_path / name).write_bytes((ROOT / source).read_bytes())
    namespace: dict[str, Any] = {"__name__": "__doc__"}
    for i, block in enumerate(blocks, start=1):
        if "archcalc.plot" in block:
            pytest.importorskip("matplotlib")  # in the test and dev extras
        exec(compile(block, f"{doc} (python block {i})", "exec"), namespace)
    assert sorted(p.name for p in tmp_path.iterdir()) == WRITES[doc]
    if "alexnet.png" in WRITES[doc]:
        assert (tmp_path / "alexnet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("module", [archcalc.builder, archcalc.export, archcalc.plot,
                                    archcalc.schema, archcalc.diagram, archcalc.units,
                                    archcalc.textable, archcalc.hierarchy])
def test_doctests(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# ------------------------------------------------------------------------------ the API --

def test_public_names_are_documented() -> None:
    for name in archcalc.__all__:
        obj = getattr(archcalc, name)
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            doc = inspect.getdoc(obj) or ""
            assert doc and not doc.startswith(f"{name}("), f"archcalc.{name} has no docstring"
    for module in (archcalc.builder, archcalc.export, archcalc.plot, archcalc.diagram,
                   archcalc.page):
        for name, obj in vars(module).items():
            if inspect.isfunction(obj) and obj.__module__ == module.__name__ \
                    and not name.startswith("_"):
                assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"


def test_package_ships_py_typed() -> None:
    assert (Path(archcalc.__file__).parent / "py.typed").is_file()


def test_load_spec_accepts_name_path_text_and_mapping(tmp_path: Path) -> None:
    spec = archcalc.builder.spec("t", [3, 16, 16], [archcalc.builder.conv(8, 3, id="c")])
    text = archcalc.builder.to_yaml(spec)
    path = tmp_path / "t.yaml"
    path.write_text(text)
    expected = 8 * 3 * 3 * 3 + 8
    for source in (spec, text, str(path), path):
        assert archcalc.analyze(archcalc.load_spec(source)).totals.params == expected
        assert archcalc.analyze(source).totals.params == expected
    assert archcalc.analyze("alexnet").totals.params == 61_100_840  # torchvision alexnet


def test_report_is_typed_and_immutable() -> None:
    report = archcalc.analyze("alexnet")
    assert isinstance(report.layers, tuple) and isinstance(report.totals, archcalc.Totals)
    assert all(isinstance(row, archcalc.LayerRow) for row in report.layers)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.totals.params = 0  # type: ignore[misc]
    with pytest.raises(KeyError):
        report.layer("conv9")


def test_analyze_options() -> None:
    base = archcalc.analyze("alexnet")
    # batch 4 in int8: activations ×4 ×(1/4 bytes), MACs ×4, params unchanged
    other = archcalc.analyze("alexnet", batch=4, dtype="int8", convention="macs")
    assert other.totals.activation_bytes == base.totals.activation_bytes
    assert other.totals.macs == 4 * base.totals.macs
    assert other.totals.flops == other.totals.macs  # the macs convention
    assert other.totals.params == base.totals.params
    # width multiplier as a keyword (torchvision mobilenet_v2(width_mult=0.75), exact counts)
    three_quarters = archcalc.analyze("mobilenet_v2", width=0.75)
    assert (three_quarters.totals.params, three_quarters.totals.macs) == (2_636_424, 209_069_792)
    with pytest.raises(archcalc.SpecError, match="no scale parameter 'widht'"):
        archcalc.analyze("mobilenet_v2", widht=0.5)


# -------------------------------------------------------------------------------- builder --

b = archcalc.builder


def test_builder_returns_plain_dicts_and_drops_unset_arguments() -> None:
    assert b.conv(64, 11, s=4, p=2, act="relu", id="conv1") == {
        "conv": {"out": 64, "k": 11, "s": 4, "p": 2, "act": "relu", "id": "conv1"}}
    assert b.maxpool(3, s=None) == {"maxpool": {"k": 3}}
    assert b.flatten() == {"flatten": None}
    assert b.fc(10, in_="pool", if_="$n > 1") == {"fc": {"out": 10, "in": "pool",
                                                         "if": "$n > 1"}}
    assert b.add("a", "b") == {"add": {"in": ["a", "b"]}}
    assert b.concat(in_=["a", "b"]) == {"concat": {"in": ["a", "b"]}}
    assert b.concat([b.flatten()], b.flatten()) == {"concat": [[{"flatten": None}],
                                                               {"flatten": None}]}


def test_builder_checks_names_at_the_call() -> None:
    with pytest.raises(archcalc.SpecError, match="conv has no argument 'stride'") as info:
        b.conv(64, 3, stride=2)
    assert info.value.hint == "did you mean 's'?"
    with pytest.raises(archcalc.SpecError, match="did you mean 'maxpool'"):
        b.layer("maxpol", k=2)
    with pytest.raises(archcalc.SpecError, match="is a layer type, not a block name"):
        b.call("conv", out=3)


def test_builder_defaults_still_apply() -> None:
    # conv defaults bias: false → 16·3·3·3 weights only; an explicit bias=True wins
    spec = b.spec("d", [3, 8, 8], [b.conv(16, 3, id="a"), b.conv(16, 3, bias=True, id="c")],
                  defaults={"conv": {"bias": False}})
    report = archcalc.analyze(spec)
    assert report.layer("a").params == 16 * 3 * 3 * 3
    assert report.layer("c").params == 16 * 16 * 3 * 3 + 16


def test_builder_blocks_and_stages_match_hand_counts() -> None:
    # a basic residual block, stride on the first block of a stage (ResNet-style)
    unit = b.block(["c", "s"], [b.residual([
        b.conv("$c", 3, s="$s", p=1, act="relu"),
        b.conv("$c", 3, p=1),
    ], shortcut="project", act="relu")])
    # conv defaults with BN: the projection shortcut gets BN too (the documented ResNet rule)
    spec = b.spec("mini resnet", [16, 8, 8], [
        b.stages("unit", ["c", "n", "s"], [[16, 2, 1], [32, 1, 2]]),
    ], defaults={"conv": {"bias": False, "bn": True}}, blocks={"unit": unit})
    report = archcalc.analyze(spec)

    def conv(cin: int, cout: int) -> int:
        return cin * cout * 3 * 3 + 2 * cout  # 3×3 weights (no bias) + BN γ, β

    stage1 = 2 * (conv(16, 16) + conv(16, 16))
    stage2 = conv(16, 32) + conv(32, 32) + (16 * 32 + 2 * 32)  # + 1×1 projection with BN
    assert report.totals.params == stage1 + stage2
    assert report.layers[-1].output_shape == (32, 4, 4)
    assert archcalc.analyze(b.to_yaml(spec)).totals == report.totals


def test_to_yaml_is_readable() -> None:
    spec = b.spec("y", [3, 8, 8], [b.conv(4, 3, p=1), b.act("relu"), b.flatten()])
    assert b.to_yaml(spec) == (
        "archcalc: 1\n"
        "name: y\n"
        "input: [3, 8, 8]\n"
        "layers:\n"
        "- conv: {out: 4, k: 3, p: 1}\n"
        "- relu\n"
        "- flatten\n"
    )


# ------------------------------------------------------------------------------- notebooks --

def test_jupyter_reprs() -> None:
    report = archcalc.analyze("alexnet")
    assert report._repr_markdown_() == report.to_markdown()
    html = report._repr_html_()
    assert html.startswith('<div class="archcalc-report">')
    assert "<th" in html and "conv1" in html



def test_node_and_row_paths_name_the_enclosing_groups() -> None:
    """A node's ``path`` lists the block calls, stage blocks and repeats around it, outermost
    first; layers outside every group have an empty path (ResNet-50's stem and head)."""
    graph = archcalc.build(archcalc.load_spec("resnet50"))
    paths = {n.name: n.path for n in graph.nodes}
    assert paths["conv1"] == ()
    assert paths["layer1.0.conv1"] == ("layer1", "layer1.0")
    assert paths["layer1.0.downsample1"] == ("layer1", "layer1.0")  # the projection shortcut
    assert paths["layer4.2.add"] == ("layer4", "layer4.2")
    assert paths["fc"] == ()
    report = archcalc.analyze(graph)
    assert {r.name: r.path for r in report.layers} == paths
    text = """
archcalc: 1
name: groups
input: [3, 8, 8]
blocks:
  unit:
    params: [c]
    layers:
      - repeat: {n: 2, layers: [{conv: {out: $c, k: 3, p: 1}}]}
layers:
  - unit: {id: u, c: 4}
"""
    names = {n.name: n.path for n in archcalc.build(archcalc.load_spec(text)).nodes}
    assert names == {"u.repeat1.0.conv1": ("u", "u.repeat1", "u.repeat1.0"),
                     "u.repeat1.1.conv1": ("u", "u.repeat1", "u.repeat1.1")}
