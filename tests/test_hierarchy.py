"""The group tree (archcalc.hierarchy): groups from the rows' paths, subtotals, depth views,
ranges, run groups and lookups.

Reference figures: per-stage and per-block parameter counts of torchvision's resnet50 and
densenet121 as printed by torchinfo 1.8.0 (``summary(model, (1, 3, 224, 224), depth=2)``, run in
the scratch PyTorch 2.14.1 / torchvision 0.29.1 environment), and hand arithmetic below.
"""

from __future__ import annotations

import pytest

import archcalc
from archcalc import ArchcalcError, LayerRow
from archcalc.hierarchy import Group, Hierarchy, NotFound

# torchinfo depth=2, resnet50: Bottleneck 2-1 … 2-16 parameters
RESNET50_BLOCKS = {
    "layer1": [75_008, 70_400, 70_400],
    "layer2": [379_392, 280_064, 280_064, 280_064],
    "layer3": [1_512_448] + [1_117_184] * 5,
    "layer4": [6_039_552, 4_462_592, 4_462_592],
}
# by hand: the first bottleneck of layer1, 64 → 64 → 64 → 256 with a 64 → 256 projection,
# every conv bias-free and followed by BN (γ, β per channel)
assert RESNET50_BLOCKS["layer1"][0] == (64 * 64 + 128) + (64 * 64 * 9 + 128) \
    + (64 * 256 + 512) + (64 * 256 + 512)
STEM_PARAMS = 64 * 3 * 7 * 7 + 2 * 64  # conv1 9,408 + bn1 128 (torchinfo 1-1, 1-2)
HEAD_PARAMS = 2048 * 1000 + 1000  # fc 2,049,000 (torchinfo 1-10)


@pytest.fixture(scope="module")
def resnet50() -> archcalc.Report:
    return archcalc.analyze("resnet50")


def test_resnet50_depth_one_reads_like_the_paper(resnet50: archcalc.Report) -> None:
    tree = resnet50.hierarchy
    top = tree.top_groups()
    assert [g.name for g in top] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert [g.synthetic for g in top] == [True, False, False, False, False, True]
    assert [g.totals.params for g in top] == [
        STEM_PARAMS, *(sum(v) for v in RESNET50_BLOCKS.values()), HEAD_PARAMS]
    assert sum(g.totals.params for g in top) == resnet50.totals.params == 25_557_032
    # paper Table 1: conv2_x 56×56 … conv5_x 7×7 output sizes, 256 … 2048 channels
    assert [g.output_shape for g in top[1:5]] == [(256, 56, 56), (512, 28, 28),
                                                 (1024, 14, 14), (2048, 7, 7)]
    assert top[0].first == "conv1" and top[0].last == "maxpool"
    assert (top[-1].first, top[-1].last) == ("avgpool", "fc")
    for key in ("buffers", "macs", "flops", "activation_bytes"):
        assert sum(getattr(g.totals, key) for g in top) == getattr(resnet50.totals, key)
    assert sum(g.totals.layers for g in top) == len(resnet50.layers)


def test_resnet50_blocks(resnet50: archcalc.Report) -> None:
    tree = resnet50.hierarchy
    for stage, blocks in RESNET50_BLOCKS.items():
        group = tree.group(stage)
        assert group.level == 1 and group.parent is None
        assert [c.totals.params for c in group.children if isinstance(c, Group)] == blocks
        assert [c.name for c in group.children if isinstance(c, Group)] == [
            f"{stage}.{i}" for i in range(len(blocks))]
    block = tree.group("layer1.0")
    assert block.level == 2 and block.parent == "layer1"
    # conv1, conv2, conv3, downsample1 and the add: five rows, none in a smaller group
    assert block.totals.layers == 5
    assert all(isinstance(c, int) for c in block.children)
    assert resnet50.layers[block.stop - 1].name == "layer1.0.add"
    # MACs of layer1.0 by hand: three convs and the projection at 56×56, no pooling
    hw = 56 * 56
    assert block.totals.macs == hw * (64 * 64 + 64 * 64 * 9 + 64 * 256 + 64 * 256)
    assert tree.max_level == 2


def test_views_at_each_depth(resnet50: archcalc.Report) -> None:
    tree = resnet50.hierarchy
    one = tree.view(1)
    assert [e.group.name if e.group else "" for e in one] == [
        "stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert not any(e.expanded for e in one)
    two = tree.view(2)
    # 6 expanded top-level headers, 2 + 2 layers of stem and head, 16 collapsed bottlenecks
    assert len(two) == 6 + 4 + 16
    assert [(e.indent, e.expanded) for e in two[:4]] == [(0, True), (1, False), (1, False),
                                                        (0, True)]
    assert two[1].group is None and resnet50.layers[two[1].row].name == "conv1"
    assert two[4].group is not None and two[4].group.name == "layer1.0"
    full = tree.view()
    assert len(full) == len(resnet50.layers) + len(tree.groups) == 72 + 6 + 16
    assert [resnet50.layers[e.row].name for e in full if e.group is None] == [
        r.name for r in resnet50.layers]
    assert tree.view(3) == full  # deeper than the tree: everything


def test_ranges_by_layer_and_group_names(resnet50: archcalc.Report) -> None:
    tree = resnet50.hierarchy
    span = tree.span("layer2", "layer3")
    assert span.totals.params == sum(RESNET50_BLOCKS["layer2"]) + sum(RESNET50_BLOCKS["layer3"])
    assert span.output_shape == (1024, 14, 14)
    view = tree.view(1, span.start, span.stop)
    assert [e.group.name for e in view if e.group] == ["layer2", "layer3"]
    # a range that cuts a group shows it expanded and partial
    cut = tree.span("layer1.1.conv1", "layer2.0.add")
    view = tree.view(1, cut.start, cut.stop)
    assert [(e.group.name, e.partial) for e in view if e.group and e.expanded] == [
        ("layer1", True), ("layer2", True)]
    assert [e.group.name for e in view if e.group and not e.expanded] == [
        "layer1.1", "layer1.2", "layer2.0"]
    assert cut.totals.params == 70_400 * 2 + 379_392
    with pytest.raises(ArchcalcError, match="comes before"):
        tree.span("layer3", "layer2")


def test_vgg16_up_to_28_range() -> None:
    """The lecture's "VGG-16 (224 → 28)": conv1_1 … pool3, 1,735,488 params (the hand sum of
    the conv rows in test_lecture_tables)."""
    tree = archcalc.analyze("vgg16").hierarchy
    span = tree.span("conv1_1", "pool3")
    assert span.output_shape == (256, 28, 28)
    assert span.totals.params == 1_792 + 36_928 + 73_856 + 147_584 + 295_168 + 2 * 590_080
    assert span.totals.layers == 10  # 7 convs and 3 pools
    assert tree.span(None, "pool3") == span


def test_densenet_blocks_are_one_level_with_their_repeat() -> None:
    tree = archcalc.analyze("densenet121").hierarchy
    block = tree.group("denseblock1")
    assert tree.group("denseblock1.denselayer") is block
    assert block.aliases == ("denseblock1.denselayer",)
    layers = [c for c in block.children if isinstance(c, Group)]
    assert len(layers) == 6 and layers[0].name == "denseblock1.denselayer.0"  # 6-12-24-16
    assert layers[0].level == 2 and layers[0].parent == "denseblock1"
    # torchinfo depth=2, densenet121: _DenseBlock 2-5, 2-7, 2-9, 2-11 and _Transition 2-6 …
    assert [tree.group(f"denseblock{i}").totals.params for i in range(1, 5)] == [
        335_040, 919_680, 2_837_760, 2_158_080]
    assert [tree.group(f"transition{i}").totals.params for i in range(1, 4)] == [
        33_280, 132_096, 526_336]
    # by hand, transition1: BN(256) then 1×1 conv 256 → 128 without bias
    assert tree.group("transition1").totals.params == 2 * 256 + 256 * 128
    assert tree.top_groups()[0].name == "stem"
    assert tree.top_groups()[-1].name == "head"


def test_single_ungrouped_layers_stay_layers() -> None:
    report = archcalc.analyze("googlenet")
    tree = report.hierarchy
    names = [e.group.name if e.group else report.layers[e.row].name for e in tree.view(1)]
    assert names[:4] == ["stem", "inception3a", "inception3b", "maxpool3"]
    assert tree.group("stem").totals.layers == 5  # conv1, maxpool1, conv2, conv3, maxpool2
    assert tree.innermost(report.layers.index(report.layer("maxpool3"))) is None


def test_run_group_names_never_clash() -> None:
    # EfficientNet's run after stage7 starts with a layer called `head`
    tree = archcalc.analyze("efficientnet_b0").hierarchy
    assert tree.top_groups()[-1].name == "head…classifier"
    assert tree.top_groups()[0].name == "stage1"  # the stem is one layer, `stem`: no run
    # UNet: runs between groups are named after their first and last layers
    unet = archcalc.analyze("unet").hierarchy
    assert "up3…cat3" in [g.name for g in unet.top_groups()]


def test_no_groups_no_runs() -> None:
    report = archcalc.analyze("alexnet")
    tree = report.hierarchy
    assert tree.groups == () and tree.max_level == 0
    assert [e.row for e in tree.view(1)] == list(range(12))
    with pytest.raises(NotFound, match="no group named 'conv1'") as info:
        tree.group("conv1")
    assert info.value.hint == "'conv1' is a layer, not a group"
    with pytest.raises(NotFound) as info:
        tree.group("block9")
    assert info.value.hint == "this network has no groups; name a layer"


def test_lookups_and_ancestors(resnet50: archcalc.Report) -> None:
    tree = resnet50.hierarchy
    i = tree.index("layer3.2.conv2")
    assert [g.name for g in tree.ancestors(i)] == ["layer3", "layer3.2"]
    assert tree.at_depth(i, 1) is tree.group("layer3")
    assert tree.at_depth(i, 2) is tree.group("layer3.2")
    assert tree.at_depth(i, 3) is None
    assert tree.innermost(tree.index("conv1")) is tree.group("stem")
    assert tree.find("layer4") == (tree.group("layer4").start, tree.group("layer4").stop)
    with pytest.raises(NotFound) as info:
        tree.index("layer3.2.conv4")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ArchcalcError)
    assert "did you mean" in str(info.value) and not str(info.value).startswith("'")
    assert resnet50.group("layer2.1") is tree.group("layer2.1")
    assert len(tree) == 22 and list(tree) == list(tree.groups)


def test_nested_repeat_in_a_block() -> None:
    text = """
archcalc: 1
name: groups
input: [3, 8, 8]
blocks:
  twin:
    params: [width]
    layers:
      - repeat:
          n: 3
          layers: [{conv: {out: $width, k: 3, p: 1}}, {conv: {out: $width, k: 1}}]
layers:
  - conv: {id: first, out: 4, k: 1}
  - twin: {id: u, width: 4}
"""
    tree = archcalc.analyze(text).hierarchy
    u = tree.group("u")
    assert u.aliases == ("u.repeat1",) and tree.group("u.repeat1") is u
    assert [c.name for c in u.children if isinstance(c, Group)] == [
        "u.repeat1.0", "u.repeat1.1", "u.repeat1.2"]
    assert u.totals.params == 3 * ((4 * 4 * 9 + 4) + (4 * 4 + 4))  # 3 × (3×3 conv + 1×1 conv)
    assert u.totals.layers == 6
    assert tree.top == (0, u)  # one ungrouped layer before the group: no run group


def test_merged_chains_below_the_top() -> None:
    """A chain of single-member groups inside another group (a repeat whose body is one
    repeat): the chain is one member of its parent."""
    rows = [_row(f"r.{i}.inner.{j}.c", ("r", f"r.{i}", f"r.{i}.inner", f"r.{i}.inner.{j}"))
            for i in range(3) for j in range(2)]
    tree = Hierarchy(rows)
    r = tree.group("r")
    blocks = [c for c in r.children if isinstance(c, Group)]
    assert [b.name for b in blocks] == ["r.0", "r.1", "r.2"]
    assert blocks[0].aliases == ("r.0.inner",) and tree.group("r.0.inner") is blocks[0]
    assert [c.name for c in blocks[0].children if isinstance(c, Group)] == [
        "r.0.inner.0", "r.0.inner.1"]
    assert [g.level for g in tree.groups] == [1, 2, 3, 3, 2, 3, 3, 2, 3, 3]
    assert tree.group("r.2.inner.1").parent == "r.2"
    assert [g.name for g in tree.ancestors(5)] == ["r", "r.2", "r.2.inner.1"]


def _row(name: str, path: tuple[str, ...]) -> LayerRow:
    return LayerRow(name, "conv", (), (1,), 1, 0, 1, 1, 4, None, (), path)


def test_groups_must_be_contiguous() -> None:
    rows = [_row("a", ("g",)), _row("b", ()), _row("c", ("g",))]
    with pytest.raises(ArchcalcError, match="'g' is not one run of consecutive layers"):
        Hierarchy(rows)


def test_linear_pass_on_a_deep_and_long_tree() -> None:
    # 20,000 rows in 2,000 groups of 10, each inside one of 20 stages: every figure adds up
    rows = [_row(f"s{s}.{b}.l{i}", (f"s{s}", f"s{s}.{b}"))
            for s in range(20) for b in range(100) for i in range(10)]
    tree = Hierarchy(rows)
    assert len(tree.groups) == 20 + 2000
    assert [g.totals.layers for g in tree.top_groups()] == [1000] * 20
    assert tree.group("s7.42").totals.params == 10
    assert len(tree.view(1)) == 20 and len(tree.view(2)) == 20 + 2000
