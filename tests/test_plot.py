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
    ("memory", "100", (640, 480)),   # one 6.4 × 4.8 in panel at 100 dpi
    ("all", "100", (1920, 480)),     # three panels side by side
    ("params", "50", (320, 240)),
])
def test_cli_png_has_the_expected_size(mpl: None, tmp_path: Path, metric: str, dpi: str,
                                       size: tuple[int, int]) -> None:
    target = tmp_path / "chart.png"
    code, output = invoke("plot", "alexnet", "--metric", metric, "--dpi", dpi, "-o", str(target))
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
    assert [ax.get_title() for ax in fig.axes] == ["Memory (KB)", "Params (k)",
                                                   "FLOPs (M, lecture)"]
    assert [len(ax.patches) for ax in fig.axes] == [ALEXNET_LAYERS] * 3
    memory, params, flops = (heights(ax) for ax in fig.axes)
    assert memory[0] == pytest.approx(64 * 56 * 56 * 4 / 1024)  # conv1 output, KB = 784
    assert params[9] == pytest.approx((9216 * 4096 + 4096) / 1000)  # fc6
    assert flops[0] == pytest.approx(64 * 56 * 56 * 3 * 11 * 11 / 1e6)  # conv1 MACs
    # the slide's observations: memory peaks in the first conv, params in fc6, FLOPs in conv2
    assert max(range(12), key=memory.__getitem__) == 0
    assert max(range(12), key=params.__getitem__) == 9
    assert max(range(12), key=flops.__getitem__) == 2
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[:3] == ["conv1", "pool1", "conv2"]


def test_overlay_of_two_specs(mpl: None, alexnet: archcalc.Report) -> None:
    small = archcalc.analyze(SMALL)
    fig = plot.figure([alexnet, small], "params")
    (ax,) = fig.axes
    assert len(ax.patches) == ALEXNET_LAYERS + 4
    legend = ax.get_legend()
    assert legend is not None
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[1] == f"small: total {(8 * 3 * 3 * 3 + 8 + 128 * 10 + 10) / 1000:,.1f} k"
    expected = [(8 * 27 + 8) / 1000, 0, 0, (128 * 10 + 10) / 1000]  # conv, pool, flatten, fc
    assert heights(ax)[ALEXNET_LAYERS:] == pytest.approx(expected)


def test_cli_overlay_png(mpl: None, tmp_path: Path) -> None:
    spec_file = tmp_path / "small.yaml"
    spec_file.write_text(b.to_yaml(SMALL))
    target = tmp_path / "cmp.png"
    code, output = invoke("plot", "alexnet", str(spec_file), "-o", str(target))
    assert code == 0, output
    assert png_size(target.read_bytes()) == (1920, 480)


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


def test_many_layers_are_numbered(mpl: None) -> None:
    # 70 layers (> 60): bars numbered 1, 5, 10, …, 70 instead of 70 names
    report = archcalc.analyze(b.spec("deep", [3, 8, 8], [b.act("relu")] * 70))
    (ax,) = plot.figure(report, "memory").axes
    assert len(ax.patches) == 70
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["1", *(str(n) for n in range(5, 71, 5))]
