"""Bar charts: PNG/SVG images (size from the PNG header, bar count and heights from the Axes),
the overlay of two specs, the terminal fallback, and the message when matplotlib is missing."""

from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
import archcalc.plot as plot
from archcalc import builder as b
from archcalc.cli import cli

ALEXNET_LAYERS = 12  # conv1 pool1 conv2 pool2 conv3 conv4 conv5 pool5 flatten fc6 fc7 fc8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# a 4-layer network to overlay: conv 8×8×8 (8·3·3·3 + 8 params), pool, flatten, fc 128 → 10
SMALL = b.spec("small", [3, 8, 8], [b.conv(8, 3, p=1, id="c"), b.maxpool(2, id="p"),
                                     b.flatten(id="f"), b.fc(10, id="fc")])


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must follow the signature."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def heights(ax: Any) -> list[float]:
    """Bar heights of an Axes, in drawing order."""
    from matplotlib.patches import Rectangle

    return [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]


@pytest.fixture(scope="module")
def alexnet() -> archcalc.Report:
    return archcalc.analyze("alexnet")


@pytest.fixture
def mpl() -> None:
    pytest.importorskip("matplotlib")  # in the test and dev extras, so CI runs these


def invoke(*args: str) -> tuple[int, str]:
    plain = {name: None for name in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "COLUMNS")}
    result = CliRunner().invoke(cli, list(args), env=plain)
    return result.exit_code, result.output


# ------------------------------------------------------------------------ images (matplotlib) --

@pytest.mark.parametrize(("metric", "dpi", "size"), [
    ("memory", None, (1920, 1080)),  # 16 × 9 inches at the default 120 dpi: a 1080p slide
    ("all", None, (1920, 1080)),     # the three panels stacked, same size
    ("params", "100", (1600, 900)),
    ("flops", "50", (800, 450)),
])
def test_cli_png_is_16_by_9(mpl: None, tmp_path: Path, metric: str, dpi: str | None,
                            size: tuple[int, int]) -> None:
    target = tmp_path / "chart.png"
    code, output = invoke("plot", "alexnet", "--metric", metric, *(["--dpi", dpi] if dpi else []),
                          "-o", str(target))
    assert code == 0, output
    assert png_size(target.read_bytes()) == size


def test_svg_from_the_extension(mpl: None, tmp_path: Path) -> None:
    target = tmp_path / "chart.svg"
    code, output = invoke("plot", "alexnet", "-m", "flops", "-o", str(target))
    assert code == 0, output
    text = target.read_text()
    assert text.startswith("<?xml") and "<svg" in text


def test_three_panels_one_bar_per_layer(mpl: None, alexnet: archcalc.Report) -> None:
    fig = plot.figure(alexnet, "all")
    # memory KB per row (lecture table): 784 + 182.25 + 546.75 + 126.75 + 253.5 + 169 + 169 + 36
    # + 36 + 16 + 16 + 3.90625 = 2,339.16; params 61,100,840 / 1000; FLOPs 717,581,952 … / 10^6
    assert [ax.get_title(loc="left") for ax in fig.axes] == [
        "Memory (KB) — total 2,339.2 KB", "Params (k) — total 61,100.8 k",
        f"FLOPs (M, lecture) — total {alexnet.totals.flops / 1e6:,.1f} M"]
    assert fig.get_suptitle() == "AlexNet (lecture variant) — input 3×227×227, batch 1, float32"
    assert [len(ax.patches) for ax in fig.axes] == [ALEXNET_LAYERS] * 3
    memory, params, flops = (heights(ax) for ax in fig.axes)
    assert memory[0] == pytest.approx(64 * 56 * 56 * 4 / 1024)  # conv1 output, KB = 784
    assert params[9] == pytest.approx((9216 * 4096 + 4096) / 1000)  # fc6
    assert flops[0] == pytest.approx(64 * 56 * 56 * 3 * 11 * 11 / 1e6)  # conv1 MACs
    # the slide's observations: memory peaks in the first conv, params in fc6, FLOPs in conv2
    assert max(range(12), key=memory.__getitem__) == 0
    assert max(range(12), key=params.__getitem__) == 9
    assert max(range(12), key=flops.__getitem__) == 2
    # AlexNet keeps the slide's linear axes: of its 8 layers with params only 4 (conv1 23.3 k,
    # conv2 307 k, conv3 664 k, conv5 590 k) are under 1/50 of fc6's 37,752.8 k — not most
    assert [ax.get_yscale() for ax in fig.axes] == ["linear"] * 3
    # every bar named, on the bottom panel only (shared axis); 12 short names lie flat
    labels = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert labels == ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5",
                      "flatten", "fc6", "fc7", "fc8"]
    assert fig.axes[-1].get_xticklabels()[0].get_rotation() == 0


@pytest.mark.parametrize(("heights_", "log"), [
    ([100, 1, 1, 1], True),         # 3 of 4 under 100/50 = 2
    ([100, 1, 1, 50], False),       # 2 of 4: half, not most
    ([100, 0, 0, 0, 1, 1], True),   # zeros are not bars: 2 of the 3 non-zero
    ([100, 2, 2, 2], False),        # 2 is not under 100/50
    ([5], False),                   # one bar: nothing to compare
])
def test_use_log(heights_: list[float], log: bool) -> None:
    assert plot.use_log(heights_) == log


def test_log_scale_when_most_bars_would_be_flat(mpl: None) -> None:
    # three 1×1 convs of 4·4 + 4 = 20 params and an fc of 64 → 1000: 20 < 65,000/50 for 3 of 4
    spec = b.spec("wide-head", [4, 4, 4], [b.conv(4, 1, id="a"), b.conv(4, 1, id="b"),
                                           b.conv(4, 1, id="c"), b.flatten(id="f"),
                                           b.fc(1000, id="fc")])
    (ax,) = plot.figure(archcalc.analyze(spec), "params").axes
    assert ax.get_yscale() == "log"
    assert ax.get_title(loc="left").startswith("Params (k, log scale)")
    (ax,) = plot.figure(archcalc.analyze(spec), "params", scale="linear").axes
    assert ax.get_yscale() == "linear"


def test_compare_aligns_bars_by_layer_name(mpl: None, alexnet: archcalc.Report) -> None:
    vgg16 = archcalc.analyze("vgg16")
    names = plot.align([[r.name for r in alexnet.layers], [r.name for r in vgg16.layers]])
    # shared names once, in both orders: AlexNet's conv1 before VGG's conv1_1, pool1 shared
    assert names[:5] == ("conv1", "conv1_1", "conv1_2", "pool1", "conv2")
    assert names[-4:] == ("flatten", "fc6", "fc7", "fc8")
    assert len(names) == 12 + 22 - 7  # shared: pool1 pool2 pool5 flatten fc6 fc7 fc8
    fig = plot.figure([alexnet, vgg16], "params")
    (ax,) = fig.axes
    fc6 = names.index("fc6")
    a_bar, v_bar = (c.patches[-3] for c in ax.containers)  # fc6 is third from the end in each
    assert a_bar.get_x() + a_bar.get_width() == pytest.approx(fc6)  # side by side at fc6
    assert v_bar.get_x() == pytest.approx(fc6)
    assert a_bar.get_height() == pytest.approx(v_bar.get_height() * (9216 * 4096 + 4096)
                                               / (25088 * 4096 + 4096))
    assert ax.get_xticklabels()[fc6].get_text() == "fc6"


def test_overlay_of_two_specs(mpl: None, alexnet: archcalc.Report) -> None:
    small = archcalc.analyze(SMALL)
    fig = plot.figure([alexnet, small], "params")
    (ax,) = fig.axes
    assert len(ax.patches) == ALEXNET_LAYERS + 4
    (legend,) = fig.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts == ["AlexNet (lecture variant): input 3×227×227, batch 1, float32",
                     "small: input 3×8×8, batch 1, float32"]
    assert legend.get_title().get_text() == "AlexNet (lecture variant) vs small"
    total = (8 * 3 * 3 * 3 + 8 + 128 * 10 + 10) / 1000
    assert ax.get_title(loc="left").endswith(f"· small {total:,.1f} k")
    expected = [(8 * 27 + 8) / 1000, 0, 0, (128 * 10 + 10) / 1000]  # conv, pool, flatten, fc
    assert heights(ax)[ALEXNET_LAYERS:] == pytest.approx(expected)


def test_cli_overlay_png(mpl: None, tmp_path: Path) -> None:
    spec_file = tmp_path / "small.yaml"
    spec_file.write_text(b.to_yaml(SMALL))
    target = tmp_path / "cmp.png"
    code, output = invoke("plot", "alexnet", str(spec_file), "-o", str(target))
    assert code == 0, output
    assert png_size(target.read_bytes()) == (1920, 1080)


def test_per_stage_bars(mpl: None) -> None:
    resnet50 = archcalc.analyze("resnet50")
    found = plot.bars(resnet50, depth=1)
    assert [bar.name for bar in found] == ["stem", "layer1", "layer2", "layer3", "layer4",
                                           "head"]
    # stem: conv1 64·3·7·7 + BN 2·64 = 9,536; layer1: block 0 (4,224 + 36,992 + 16,896 +
    # 16,896) + 2 blocks (16,512 + 36,992 + 16,896) = 215,808; head: fc 2048·1000 + 1000
    assert [found[i].counts.params for i in (0, 1, 5)] == [9536, 215_808, 2_049_000]
    assert sum(bar.counts.params for bar in found) == resnet50.totals.params
    fig = plot.figure(resnet50, "params", depth=1)
    (ax,) = fig.axes
    assert heights(ax) == pytest.approx([bar.counts.params / 1000 for bar in found])
    assert [t.get_text() for t in ax.get_xticklabels()] == [bar.name for bar in found]
    assert fig.get_suptitle().endswith("· per stage")


def test_compare_by_stage(mpl: None, tmp_path: Path) -> None:
    target = tmp_path / "stages.png"
    code, output = invoke("plot", "resnet50", "resnet101", "--depth", "1", "-o", str(target))
    assert code == 0, output
    assert png_size(target.read_bytes()) == (1920, 1080)
    fig = plot.figure([archcalc.analyze("resnet50"), archcalc.analyze("resnet101")], "flops",
                      depth=1)
    (ax,) = fig.axes
    assert len(ax.patches) == 2 * 6  # the same six stages, side by side


def test_stages_shaded_and_named_above_the_layers(mpl: None) -> None:
    fig = plot.figure(archcalc.analyze("resnet50"), "memory")
    (ax,) = fig.axes
    # stem, layer1 … layer4, head: every other stage shaded (stem, layer2, layer4)
    assert len(ax.collections) == 3
    (top,) = ax.child_axes
    # the stem's and the head's 2 bars are too narrow for their names
    assert [t.get_text() for t in top.get_xticklabels()] == ["layer1", "layer2", "layer3",
                                                             "layer4"]


def test_unknown_image_extension(mpl: None, tmp_path: Path) -> None:
    code, output = invoke("plot", "alexnet", "-o", str(tmp_path / "chart.gif"))
    assert code == 1
    assert "cannot write a chart as 'gif'" in output
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------- without matplotlib --

@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import matplotlib` fail as if it were not installed."""
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_missing_matplotlib_says_how_to_install(no_matplotlib: None, tmp_path: Path) -> None:
    target = tmp_path / "chart.png"
    code, output = invoke("plot", "alexnet", "-o", str(target))
    assert code == 1
    assert "needs matplotlib, which is not installed" in output
    assert "pip install 'archcalc[plot]'" in output
    assert not target.exists()
    with pytest.raises(plot.PlotUnavailable):
        plot.figure(archcalc.analyze("alexnet"))


def test_terminal_bars_without_matplotlib(no_matplotlib: None) -> None:
    code, output = invoke("plot", "alexnet", "--metric", "params")
    assert code == 0, output
    fc6 = next(line for line in output.splitlines() if line.strip().startswith("fc6"))
    assert "█" * 40 in fc6  # the largest bar fills the 40 cells
    assert f"{(9216 * 4096 + 4096) / 1000:,.1f}" in fc6
    assert "pip install 'archcalc[plot]'" in output  # the hint, on stderr


# -------------------------------------------------------------------------- pure helpers --

@pytest.mark.parametrize(("value", "top", "width", "bar"), [
    (8, 8, 5, "█████"),
    (1, 8, 1, "▏"),         # 1/8 of a cell
    (4, 8, 3, "█▌"),        # 1.5 cells: one full, one half
    (0, 8, 5, ""),
    (3, 0, 5, ""),
])
def test_bar_text(value: float, top: float, width: int, bar: str) -> None:
    assert plot.bar_text(value, top, width) == bar


def test_terminal_bars_share_one_scale(alexnet: archcalc.Report) -> None:
    from rich.console import Console

    small = archcalc.analyze(SMALL)
    console = Console(width=120, record=True)
    console.print(plot.terminal_bars([alexnet, small], "params", width=40))
    text = console.export_text()
    small_fc = next(line for line in text.splitlines() if line.strip().startswith("fc "))
    assert "█" not in small_fc  # 1.29 k against AlexNet's 37,752.8 k: under one eighth of a cell


def test_values_and_metric_errors(alexnet: archcalc.Report) -> None:
    assert plot.values("memory", alexnet)[0] == ("conv1", 64 * 56 * 56 * 4 / 1024)
    with pytest.raises(archcalc.ArchcalcError, match="unknown metric 'mem'"):
        plot.values("mem", alexnet)
    with pytest.raises(archcalc.ArchcalcError, match="nothing to plot"):
        plot.terminal_bars([])


def test_unwritable_target_is_a_clean_error(mpl: None, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "chart.png"
    code, output = invoke("plot", "alexnet", "-o", str(target))
    assert code == 1
    assert f"cannot write {target}: No such file or directory" in output


def test_many_layers_are_all_named(mpl: None) -> None:
    # 70 bars on a 16-inch axis: 16·72·0.9/70 = 14.8 pt per bar, room for 13 pt names
    report = archcalc.analyze(b.spec("deep", [3, 8, 8], [b.act("relu")] * 70))
    (ax,) = plot.figure(report, "memory").axes
    assert len(ax.patches) == 70
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [f"relu{i}" for i in range(1, 71)]


def test_very_many_layers_name_every_kth(mpl: None) -> None:
    # 500 bars: 1036.8/500 · 0.9 = 1.87 pt per name < 9 pt; every 5th (9.33 pt) is readable
    report = archcalc.analyze(b.spec("deep", [3, 8, 8], [b.repeat(500, [b.act("relu")])]))
    (ax,) = plot.figure(report, "memory").axes
    names = [row.name for row in report.layers]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == [plot._layer_label(n, "") for n in names[::5]]
    assert ax.get_xlabel() == "layer (every 5th name written)"
    ticks = {*ax.xaxis.get_majorticklocs(), *ax.xaxis.get_minorticklocs()}
    assert ticks == set(range(500))  # every bar keeps its tick mark


@pytest.mark.parametrize(("count", "plan"), [
    # points per bar on a 16-inch axis: 16·72·0.9 = 1036.8 pt / count, 0.9 of it for the text
    (12, (1, 13.0)),   # 77.8 pt: capped at 13
    (70, (1, 13.0)),   # 13.3 pt: capped at 13
    (200, (2, 9.0)),   # 4.67 pt < 9: every 2nd name has 9.33
    (500, (5, 9.0)),   # 1.87 pt: every 2nd 3.7, every 5th 9.33
    (1000, (10, 9.0)),  # 0.93 pt: every 10th 9.33
])
def test_name_plan(count: int, plan: tuple[int, float]) -> None:
    step, points = plot.name_plan(count, 16 * 72 * 0.9)
    assert (step, points) == (plan[0], pytest.approx(plan[1]))


def test_chart_errors(alexnet: archcalc.Report) -> None:
    with pytest.raises(archcalc.ArchcalcError, match="unknown scale 'ln'"):
        plot.figure(alexnet, scale="ln")
    with pytest.raises(archcalc.ArchcalcError, match="depth must be at least 1"):
        plot.bars(alexnet, depth=0)


def test_too_many_bars_is_a_clear_error(mpl: None) -> None:
    report = archcalc.analyze(b.spec("huge", [3, 4, 4], [b.repeat(5001, [b.act("relu")])]))
    with pytest.raises(archcalc.ArchcalcError, match="5,001 bars are more than a chart can"):
        plot.figure(report, "memory")


def test_terminal_bars_per_stage() -> None:
    from rich.console import Console

    console = Console(width=100, record=True)
    console.print(plot.terminal_bars(archcalc.analyze("resnet50"), "params", depth=1))
    text = console.export_text()
    layer1 = next(line for line in text.splitlines() if line.strip().startswith("layer1"))
    assert "215.8" in layer1  # 215,808 params / 1000


def test_dollar_signs_are_plain_text(mpl: None, tmp_path: Path) -> None:
    # matplotlib reads $…$ as mathtext; an unbalanced brace inside would fail the drawing
    report = archcalc.analyze(b.spec("cost $x^{$", [3, 8, 8], [b.conv(4, 3, id="c")]))
    target = tmp_path / "chart.png"
    plot.save(report, target, "params")
    assert png_size(target.read_bytes()) == (1920, 1080)
