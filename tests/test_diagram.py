"""Architecture diagrams: the DOT text (boxes, labels with hand-derived figures, clusters,
merges, depth collapse, heat colours), rendering through Graphviz (skipped when `dot` is
absent: `make test-browser` installs it), and the `draw` / `table --format dot` commands."""

from __future__ import annotations

import html
import os
import re
import shutil
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import archcalc
from archcalc import builder as b
from archcalc import diagram
from archcalc.cli import cli

#: `make test-browser` sets it: there a missing Graphviz fails the tests instead of skipping
REQUIRED = bool(os.environ.get("ARCHCALC_REQUIRE_BROWSER"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not REQUIRED,
                               reason="Graphviz's dot is not installed (make test-browser)")

NODE = re.compile(r"^\s*(\w+) \[label=<(.*)>, (.*)\];$")
EDGE = re.compile(r"^\s*(\w+) -> (\w+);$")


def parse(dot: str) -> tuple[dict[str, tuple[list[str], str]], list[tuple[str, str]]]:
    """Node id → (label lines as plain text, attributes) and the edges, from our DOT text."""
    nodes: dict[str, tuple[list[str], str]] = {}
    edges: list[tuple[str, str]] = []
    for line in dot.splitlines():
        if m := EDGE.match(line):
            edges.append((m[1], m[2]))
        elif (m := NODE.match(line)) and m[1] != "legend":
            text = re.sub(r"<[^>]+>", "", m[2].replace("<BR/>", "\n"))
            nodes[m[1]] = (html.unescape(text).split("\n"), m[3])
    return nodes, edges


def by_name(nodes: dict[str, tuple[list[str], str]]) -> dict[str, list[str]]:
    """Label lines keyed by the full layer or group name (the tooltip)."""
    out = {}
    for lines, attributes in nodes.values():
        m = re.search(r'tooltip="([^"]*)"', attributes)
        out[m[1] if m else lines[0]] = lines
    return out


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def alexnet_dot() -> str:
    return diagram.to_dot(archcalc.to_graph("alexnet"))


# -------------------------------------------------------------------------------- labels --

def test_alexnet_boxes_carry_the_table_figures(alexnet_dot: str) -> None:
    nodes, edges = parse(alexnet_dot)
    assert len(nodes) == 13  # input + conv1 … fc8
    assert len(edges) == 12  # a chain
    labels = by_name(nodes)
    # conv1: 64 filters 11×11 stride 4 pad 2 on 3×227×227 → ⌊(227 + 4 − 11)/4⌋ + 1 = 56
    # params 64·3·11·11 + 64 = 23,296; MACs 64·56·56·3·11·11 = 72,855,552
    assert labels["conv1"] == ["conv1", "conv+relu 11×11 s4 p2", "64×56×56",
                               "23.3 k params · 72.9 M MACs"]
    # pool1: 3×3 stride 2, no weights, no MACs: no cost line
    assert labels["pool1"] == ["pool1", "maxpool 3×3 s2", "64×27×27"]
    # fc6: 9216·4096 + 4096 = 37,752,832 params, 9216·4096 = 37,748,736 MACs
    assert labels["fc6"] == ["fc6", "fc+relu", "4096", "37.8 M params · 37.7 M MACs"]
    # the name already says the type: not written twice
    assert labels["flatten"] == ["flatten", "9216"]
    assert nodes["input"][0] == ["input", "3×227×227"]


def test_title_states_what_was_analysed_and_the_convention(alexnet_dot: str) -> None:
    title = re.search(r"label=<(<B>AlexNet.*?)>\];", alexnet_dot)
    assert title is not None
    text = html.unescape(re.sub(r"<[^>]+>", " ", title[1]))
    # 61,100,840 params; lecture FLOPs 717,581,952 MACs + 1,655,808 … pooling reads (README)
    assert "input 3×227×227 · batch 1 · float32 · 61.1 M params" in text
    assert "FLOPs (lecture)" in text


@pytest.mark.parametrize(("layer", "shape", "text"), [
    (b.conv(64, 11, s=4, p=2), (3, 227, 227), "11×11 s4 p2"),
    (b.conv(8, [3, 1], p=[1, 0]), (3, 9, 9), "3×1 p1×0"),  # per-axis kernel and padding
    (b.conv(8, 3, s=[1, 1]), (3, 9, 9), "3×3"),  # a default written per axis is a default
    (b.conv(64, 3, groups=32), (64, 9, 9), "3×3 g32"),
    (b.conv(8, 3, d=2, p="same"), (3, 9, 9), "3×3 p=same d2"),
    (b.conv(8, 3), (3, 9), "3"),  # 1D: one kernel size
    (b.conv(8, 3), (3, 5, 9, 9), "3×3×3"),  # 3D
    (b.maxpool(3, s=2, ceil_mode=True), (3, 9, 9), "3×3 s2 ceil_mode"),
])
def test_geometry_text(layer: dict[str, object], shape: tuple[int, ...], text: str) -> None:
    net = archcalc.to_graph(b.spec("g", list(shape), [layer]))
    node = net.nodes[0]
    assert diagram.geometry_text(node.op, node.in_shapes[0]) == text


def test_depthwise_and_upsample_geometry() -> None:
    net = archcalc.to_graph(b.spec("g", [8, 9, 9], [b.dwconv(5, p=2, id="dw"),
                                                     b.layer("upsample", scale=2,
                                                             mode="bilinear")]))
    assert diagram.geometry_text(net.nodes[0].op, net.nodes[0].in_shapes[0]) == "5×5 p2 dw"
    assert diagram.geometry_text(net.nodes[1].op, net.nodes[1].in_shapes[0]) == \
        "scale=2 bilinear"


# ------------------------------------------------------------------ structure: merges, clusters --

def test_resnet50_residuals_and_clusters() -> None:
    dot = diagram.to_dot(archcalc.to_graph("resnet50"))
    nodes, edges = parse(dot)
    assert len(nodes) == 1 + 72
    ids = {re.search(r'tooltip="([^"]*)"', a)[1]: k  # type: ignore[index]
           for k, (_, a) in nodes.items() if "tooltip" in a}
    add = ids["layer1.0.add"]
    # the residual merge: an ellipse fed by the main path (conv3) and the shortcut (downsample1)
    assert "shape=ellipse" in nodes[add][1]
    assert nodes[add][0][0] == "+ add"
    assert sorted(src for src, dst in edges if dst == add) == sorted(
        [ids["layer1.0.conv3"], ids["layer1.0.downsample1"]])
    # layer1.1's add takes layer1.0's output directly: the identity shortcut is an edge too
    assert (ids["layer1.0.add"], ids["layer1.1.add"]) in edges
    # stages and blocks are nested clusters, the stem and head (runs of ungrouped layers) too
    clusters = re.findall(r'subgraph "cluster_([^"]+)"', dot)
    assert clusters[:4] == ["stem", "layer1", "layer1.0", "layer1.1"]
    assert len(clusters) == 2 + 4 + (3 + 4 + 6 + 3)  # stem, head, 4 stages, 16 blocks
    # a layer inside a cluster is named relative to it
    assert nodes[ids["layer1.0.conv1"]][0][0] == "conv1"


def test_googlenet_concat_takes_four_branches() -> None:
    nodes, edges = parse(diagram.to_dot(archcalc.to_graph("googlenet")))
    ids = {re.search(r'tooltip="([^"]*)"', a)[1]: k  # type: ignore[index]
           for k, (_, a) in nodes.items() if "tooltip" in a}
    cat = ids["inception3a.cat"]
    assert nodes[cat][0] == ["‖ cat", "concat · 256×28×28"]  # 64 + 128 + 32 + 32 channels
    sources = {src for src, dst in edges if dst == cat}
    assert sources == {ids[f"inception3a.branch{i}"] for i in (1, 2, 3, 4)}


def test_multiply_merge_is_an_ellipse() -> None:
    spec = b.spec("se", [8, 4, 4], [b.conv(8, 1, id="x"), b.global_avgpool(id="gap"),
                                    b.layer("multiply", in_=["x", "gap"], id="scale")])
    nodes, _ = parse(diagram.to_dot(archcalc.to_graph(spec)))
    scale = next(v for v in nodes.values() if v[0][0] == "× scale")
    assert "shape=ellipse" in scale[1]


# ------------------------------------------------------------------------------------- depth --

def test_resnet50_at_depth_1_is_the_stage_table() -> None:
    net = archcalc.to_graph("resnet50")
    nodes, edges = parse(diagram.to_dot(net, depth=1))
    labels = by_name(nodes)
    assert sorted(labels) == sorted(["input", "stem", "layer1", "layer2", "layer3", "layer4",
                                     "head"])
    assert len(edges) == 6  # a chain of stages: the edges inside a box vanish, none twice
    # layer1 = block 0 (conv1 64·64 + 128 BN, conv2 64·64·9 + 128, conv3 and the shortcut
    # 64·256 + 512 each: 75,008) + 2 blocks (256·64 + 128, 36,992, 16,896: 70,400) = 215,808;
    # MACs at 56×56: 56²·64·(64 + 576 + 256 + 256) + 2·56²·64·(256 + 576 + 256) = 667,942,912
    assert labels["layer1"] == ["layer1", "3 blocks · 13 layers", "256×56×56",
                                "216 k params · 668 M MACs"]
    assert "shape=box3d" in next(a for lines, a in nodes.values() if lines[0] == "layer1")


def test_resnet50_at_depth_2_keeps_stages_as_clusters() -> None:
    dot = diagram.to_dot(archcalc.to_graph("resnet50"), depth=2)
    nodes, edges = parse(dot)
    labels = by_name(nodes)
    # the 16 blocks are boxes; the stem and head (level-1 runs) are clusters of their layers
    blocks = [n for n in labels if re.fullmatch(r"layer\d\.\d", n)]
    assert len(blocks) == 3 + 4 + 6 + 3
    assert labels["layer1.0"][1] == "5 layers"  # conv1, conv2, conv3, downsample1, add
    assert re.findall(r'subgraph "cluster_([^"]+)"', dot) == [
        "stem", "layer1", "layer2", "layer3", "layer4", "head"]
    # every block feeds the next once, though each holds an edge from its input twice
    assert len(edges) == len(set(edges))


def test_depth_must_be_positive() -> None:
    with pytest.raises(archcalc.ArchcalcError, match="depth must be at least 1"):
        diagram.to_dot(archcalc.to_graph("alexnet"), depth=0)


# -------------------------------------------------------------------------------- colours --

@pytest.mark.parametrize(("value", "level"), [
    (0, 1), (1, 2), (100, 2),  # up to 1/8 of the largest → 2
    (101, 3), (400, 5), (701, 9), (800, 9),
])
def test_heat_level(value: int, level: int) -> None:
    assert diagram.heat_level(value, 800) == level  # 1 + ⌈8·value/800⌉, 1 for zero


def test_heat_scale_on_macs_marks_the_expensive_layer() -> None:
    nodes, _ = parse(diagram.to_dot(archcalc.to_graph("alexnet"), color="macs"))
    fills = {lines[0]: re.search(r'fillcolor="([^"]+)"', a)[1]  # type: ignore[index]
             for lines, a in nodes.values() if lines[0] != "input"}
    # conv2 has the most MACs (192·27·27·64·25 = 223,948,800) → the darkest colour
    assert fills["conv2"] == "/ylorrd9/9"
    # conv1 72,855,552 / 223,948,800 = 0.325 → ⌈8·0.325⌉ = 3 → colour 4
    assert fills["conv1"] == "/ylorrd9/4"
    assert fills["pool1"] == "/ylorrd9/1"  # no MACs


def test_heat_legend_states_the_scale_in_units() -> None:
    dot = diagram.to_dot(archcalc.to_graph("alexnet"), color="macs")
    legend = next(line for line in dot.splitlines() if line.strip().startswith("legend"))
    text = html.unescape(re.sub(r"<[^>]+>", "|", legend))
    assert "MACs per box" in text
    # the top colour reaches the largest, conv2's 223,948,800 MACs; colour 2 an eighth of it
    assert "≤ 224 M" in text and "≤ 28.0 M" in text


def test_kind_colours_and_legend(alexnet_dot: str) -> None:
    nodes, _ = parse(alexnet_dot)
    fills = {lines[0]: re.search(r'fillcolor="([^"]+)"', a)[1]  # type: ignore[index]
             for lines, a in nodes.values() if lines[0] != "input"}
    colours = diagram.family_colors()
    assert fills["conv1"] == colours["conv"] and fills["pool1"] == colours["pool"]
    assert fills["fc8"] == colours["fc"] and fills["flatten"] == colours["shape"]
    legend = next(line for line in alexnet_dot.splitlines() if "legend [" in line)
    assert [m for m in re.findall(r">([a-z]+)</TD>", legend)] == ["conv", "pool", "fc", "shape"]


@pytest.mark.parametrize(("kind", "args", "family"), [
    ("groupnorm", {"groups": 2}, "norm"), ("instancenorm", {}, "norm"), ("elu", {}, "activation"),
    ("prelu", {}, "activation"), ("adaptive_maxpool", {"out": 2}, "pool"),
    ("maxout", {"pieces": 2}, "pool"), ("dropout", {}, "shape"), ("identity", {}, "shape"),
    ("pixel_shuffle", {"r": 2}, "shape"),
])
def test_every_family_module_has_its_colour(kind: str, args: dict[str, object],
                                            family: str) -> None:
    # issue 15's types are coloured by the family module they are defined in (norm.py,
    # activation.py, pool.py); identity and dropout pass values on and read as shape operations
    net = archcalc.to_graph(b.spec("f", [8, 4, 4], [b.layer(kind, **args)]))
    assert diagram.family(net.nodes[0].op) == family


def test_subtract_is_a_merge_with_its_sign() -> None:
    spec = b.spec("d", [8, 4, 4], [b.conv(8, 1, id="x"), b.conv(8, 1, id="y", in_="input"),
                                   b.layer("subtract", in_=["x", "y"], id="diff")])
    nodes, _ = parse(diagram.to_dot(archcalc.to_graph(spec)))
    diff = next(v for v in nodes.values() if v[0][0] == "− diff")
    assert "shape=ellipse" in diff[1]


def test_bad_options_are_errors() -> None:
    net = archcalc.to_graph("alexnet")
    with pytest.raises(archcalc.ArchcalcError, match="unknown colouring 'heat'"):
        diagram.to_dot(net, color="heat")
    with pytest.raises(archcalc.ArchcalcError, match="unknown direction 'BT'"):
        diagram.to_dot(net, direction="BT")


def test_names_with_quotes_are_escaped() -> None:
    spec = b.spec('quote "this" <net>', [3, 8, 8], [b.conv(4, 3, id="c")])
    dot = diagram.to_dot(archcalc.to_graph(spec))
    assert dot.startswith('digraph "quote \\"this\\" <net>" {')
    assert "&lt;net&gt;" in dot  # inside the HTML-like title label


# ------------------------------------------------------------------------ commands, Graphviz --

def test_table_format_dot_needs_no_graphviz(tmp_path: Path) -> None:
    code, output = invoke("table", "alexnet", "--format", "dot")
    assert code == 0, output
    assert output.startswith('digraph "AlexNet')
    target = tmp_path / "net.gv"
    code, output = invoke("table", "alexnet", "-o", str(target))  # format from the extension
    assert code == 0, output
    assert target.read_text().startswith("digraph")


def test_draw_writes_dot_text_without_graphviz(tmp_path: Path) -> None:
    target = tmp_path / "net.dot"
    code, output = invoke("draw", "resnet50", "--depth", "1", "-o", str(target))
    assert code == 0, output
    nodes, _ = parse(target.read_text())
    assert len(nodes) == 7


def test_table_format_dot_takes_the_depth_of_the_table() -> None:
    """`table --format dot --depth 1` is the depth-1 diagram: ResNet-50's stem, layer1 … layer4
    and head as boxes, plus the input (7 nodes), the same text `draw -o x.dot --depth 1`
    writes; `--depth full` draws every layer (72 layers + the input)."""
    code, output = invoke("table", "resnet50", "--format", "dot", "--depth", "1")
    assert code == 0, output
    nodes, _ = parse(output)
    assert len(nodes) == 7
    assert output == diagram.to_dot(archcalc.to_graph("resnet50"), depth=1)
    code, output = invoke("table", "resnet50", "--format", "dot", "--depth", "full")
    assert code == 0, output
    assert len(parse(output)[0]) == 73


def test_draw_unknown_extension(tmp_path: Path) -> None:
    code, output = invoke("draw", "alexnet", "-o", str(tmp_path / "net.gif"))
    assert code == 1
    assert "cannot draw a diagram as '.gif'" in output
    assert list(tmp_path.iterdir()) == []


def _fake_dot(tmp_path: Path, script: str) -> str:
    """A directory holding a `dot` that runs ``script`` (a shell script), for PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    dot = folder / "dot"
    dot.write_text("#!/bin/sh\n" + script + "\n")
    dot.chmod(dot.stat().st_mode | stat.S_IEXEC)
    return str(folder)


def test_missing_graphviz_names_the_package(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    target = tmp_path / "net.svg"
    code, output = invoke("draw", "alexnet", "-o", str(target))
    assert code == 1
    assert "needs Graphviz's `dot`, which is not on PATH" in output
    assert "apt-get install graphviz" in output
    assert not target.exists()


def test_graphviz_failure_is_quoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _fake_dot(tmp_path, "echo 'Error: syntax error in line 3' >&2;"
                                                   " exit 1") + os.pathsep + "/bin")
    with pytest.raises(archcalc.ArchcalcError, match="dot failed: Error: syntax error"):
        diagram.render("digraph {}", "svg")


def test_graphviz_is_stopped_after_the_time_limit(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", _fake_dot(tmp_path, "exec sleep 30") + os.pathsep + "/bin")
    with pytest.raises(archcalc.ArchcalcError, match=r"did not finish within 0.5 s"):
        diagram.render("digraph {}", "png", timeout=0.5)


def _boxes(svg: bytes) -> list[tuple[str, float, float, float, float]]:
    """(title, x0, y0, x1, y1) of every node's outline in a Graphviz SVG."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    out = []
    for g in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        if g.get("class") != "node":
            continue
        title = g.find("s:title", ns)
        coords: list[float] = []
        for shape in g.iter():
            for attribute in ("points", "d"):
                if shape.get(attribute):
                    coords += [float(v) for v in re.findall(r"-?\d+\.?\d*",
                                                            shape.get(attribute, ""))]
            if shape.tag.endswith("ellipse"):
                cx, cy = float(shape.get("cx", 0)), float(shape.get("cy", 0))
                rx, ry = float(shape.get("rx", 0)), float(shape.get("ry", 0))
                coords += [cx - rx, cy - ry, cx + rx, cy + ry]
        xs, ys = coords[0::2], coords[1::2]
        out.append((title.text or "" if title is not None else "", min(xs), min(ys),
                    max(xs), max(ys)))
    return out


@needs_dot
@pytest.mark.parametrize(("spec", "depth", "color"), [
    ("alexnet", None, "macs"), ("resnet50", 1, "kind"), ("resnet50", None, "memory"),
    ("googlenet", None, "kind"), ("unet", None, "kind"), ("mobilenet_v2", 2, "macs"),
])
def test_rendered_boxes_do_not_overlap(spec: str, depth: int | None, color: str) -> None:
    svg = diagram.render(diagram.to_dot(archcalc.to_graph(spec), depth=depth, color=color),
                         "svg").data
    boxes = _boxes(svg)
    assert len(boxes) >= 7
    for i, (a, ax0, ay0, ax1, ay1) in enumerate(boxes):
        for c, cx0, cy0, cx1, cy1 in boxes[i + 1:]:
            overlap = min(ax1, cx1) - max(ax0, cx0) > 0.5 and min(ay1, cy1) - max(ay0, cy0) > 0.5
            assert not overlap, f"{a} overlaps {c}"


@needs_dot
def test_draw_png_svg_pdf(tmp_path: Path) -> None:
    for name, magic in (("net.png", b"\x89PNG\r\n\x1a\n"), ("net.pdf", b"%PDF"),
                        ("net.svg", b"<?xml")):
        target = tmp_path / name
        code, output = invoke("draw", "resnet50", "--depth", "1", "--color", "macs", "-o",
                              str(target))
        assert code == 0, output
        assert target.read_bytes().startswith(magic)
    svg = (tmp_path / "net.svg").read_text()
    assert svg.count('class="node"') == 1 + 6 + 1  # input, 6 boxes, the legend


@needs_dot
def test_draw_left_to_right(tmp_path: Path) -> None:
    target = tmp_path / "net.svg"
    code, output = invoke("draw", "alexnet", "--direction", "LR", "-o", str(target))
    assert code == 0, output
    boxes = {t: (x0, y0) for t, x0, y0, _, _ in _boxes(target.read_bytes())}
    assert boxes["n11"][0] > boxes["n0"][0]  # fc8 right of conv1
    assert abs(boxes["n11"][1] - boxes["n0"][1]) < 40  # on one row


@needs_dot
def test_oversized_png_warns(tmp_path: Path) -> None:
    target = tmp_path / "net.png"
    code, output = invoke("draw", "densenet264", "-o", str(target))  # 928 boxes in a column
    assert code == 0, output
    assert "warning: Graphviz: graph is too large for cairo-renderer bitmaps" in output
    assert "an .svg has no size limit" in output


def _long_spec(tmp_path: Path) -> Path:
    spec_file = tmp_path / "long.yaml"
    spec_file.write_text(b.to_yaml(b.spec("long", [3, 4, 4],
                                          [b.repeat(diagram.MAX_BOXES + 1, [b.act("relu")])])))
    return spec_file


def test_the_dot_text_is_not_bounded_an_image_is(tmp_path: Path) -> None:
    spec_file = _long_spec(tmp_path)
    net = archcalc.to_graph(archcalc.load_spec(str(spec_file)))
    with pytest.raises(archcalc.ArchcalcError, match="5,001 boxes are more than a diagram can "
                                                     "show"):
        diagram.to_dot(net, max_boxes=diagram.MAX_BOXES)
    assert diagram.to_dot(net).count(" -> ") == diagram.MAX_BOXES + 1
    code, output = invoke("draw", str(spec_file), "-o", str(tmp_path / "long.dot"))
    assert code == 0, output


@needs_dot
def test_draw_refuses_an_image_of_too_many_boxes(tmp_path: Path) -> None:
    target = tmp_path / "long.svg"
    code, output = invoke("draw", str(_long_spec(tmp_path)), "-o", str(target))
    assert code == 1
    assert "5,001 boxes are more than a diagram can show (at most 5,000)" in output
    assert "--depth 1 or 2 draws each block as one box" in output
    assert not target.exists()
