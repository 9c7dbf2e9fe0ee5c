"""The HTML report page: its content and self-containment (always), and its behaviour in a real
browser — headless Chromium driven over the DevTools protocol (tools/chromium.py) clicks the
headers, the toggles, the rows and the diagram, and the tests read the DOM. Browser tests skip
when Chromium or Graphviz is absent; `make test-browser` installs both and runs them."""

from __future__ import annotations

import html
import os
import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc import page as pages
from archcalc.cli import cli
from archcalc.explain import explain
from tools.chromium import Browser, find_chromium

#: `make test-browser` sets it: there a missing tool fails the tests instead of skipping them
REQUIRED = bool(os.environ.get("ARCHCALC_REQUIRE_BROWSER"))
MISSING = find_chromium() is None or shutil.which("dot") is None
needs_browser = pytest.mark.skipif(
    MISSING and not REQUIRED, reason="needs Chromium and Graphviz (make test-browser)")

RESNET50_ROWS = 72
# ResNet-50's groups: the stem and head runs, layer1 … layer4, and 3 + 4 + 6 + 3 blocks
RESNET50_GROUPS = 2 + 4 + 16


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def resnet50_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("page") / "resnet50.html"
    code, output = invoke("report", "resnet50", "-o", str(target))
    assert code == 0, output
    return target


# ------------------------------------------------------------------------------- content --

def test_page_holds_every_row_group_and_total() -> None:
    graph = archcalc.to_graph("resnet50")
    report = archcalc.analyze(graph)
    text = pages.render_page(graph, report)
    assert text.count('<tr class="layer"') == RESNET50_ROWS
    assert text.count('<tr class="group"') == RESNET50_GROUPS
    # header: exact totals (torchvision's ResNet-50: 25,557,032 params, 53,120 BN buffers,
    # 4,089,184,256 MACs) with readable units, and the convention in full
    assert "25,557,032 (25.6 M) + 53,120 buffers" in text
    assert "4,089,184,256 (4.09 G)" in text
    assert html.escape(report.convention_text) in text
    # a group row carries its subtotal: layer1 = 215,808 params (see test_plot's derivation)
    layer1 = re.search(r'<tr class="group"[^>]*>.*?<b title="layer1">.*?</tr>', text)
    assert layer1 is not None and ">215,808<" in layer1[0]


def test_every_derivation_is_embedded() -> None:
    graph = archcalc.to_graph("alexnet")
    report = archcalc.analyze(graph)
    text = pages.render_page(graph, report)
    data = re.search(r'<script type="application/json" id="archcalc-data">(.*?)</script>', text)
    assert data is not None
    import json

    embedded = json.loads(data[1])
    assert embedded["rows"] == 12
    assert embedded["explain"][0] == explain(graph, "conv1", report=report).to_text()
    assert embedded["explain"][0].startswith("conv1: conv+relu")


def test_self_contained(resnet50_page: Path) -> None:
    text = resnet50_page.read_text()
    assert "<link" not in text and "@import" not in text
    assert not re.search(r"<script[^>]+src=", text)
    for source in re.findall(r'\ssrc="([^"]*)"', text):
        assert source.startswith("data:image/svg+xml;base64,")  # the charts
    for address in re.findall(r"""(?:href|src|url\()\s*=?\s*["']?(https?:[^"' )]+)""", text):
        pytest.fail(f"the page refers to the network: {address}")
    # the diagram inline (when Graphviz is there to draw it); the charts are images
    assert text.count("<svg") == (0 if shutil.which("dot") is None else 1)


def test_script_json_cannot_close_the_script_element() -> None:
    assert pages._json_for_script({"x": "</script><b>"}) == '{"x":"<\\/script><b>"}'


@pytest.mark.parametrize(("spec", "depth", "boxes"), [
    ("resnet50", None, None),  # 72 rows: every layer
    # DenseNet-264 at depth 2: stem 2 + (6 + 12 + 64 + 48) dense layers + 3 transitions × 4
    # layers + head 4 = 148 boxes ≤ 150 (depth 1 would be 9)
    ("densenet264", 2, 148),
])
def test_diagram_depth(spec: str, depth: int | None, boxes: int | None) -> None:
    report = archcalc.analyze(spec)
    assert pages.diagram_depth(report) == depth
    if depth is not None:
        assert pages.boxes_at(report.hierarchy, depth) == boxes


def test_without_graphviz_the_page_says_so(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot here
    target = tmp_path / "net.html"
    code, output = invoke("report", "alexnet", "-o", str(target), "--no-charts")
    assert code == 0, output
    assert "warning: the diagram is left out: drawing a diagram needs Graphviz's `dot`" in output
    text = target.read_text()
    assert "apt-get install graphviz" in text and "<svg" not in text


def test_without_matplotlib_the_page_says_so(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    target = tmp_path / "net.html"
    code, output = invoke("report", "alexnet", "-o", str(target), "--no-diagram")
    assert code == 0, output
    assert "the charts are left out" in output
    assert "pip install &#x27;archcalc[plot]&#x27;" in target.read_text()


def test_report_wants_an_html_file(tmp_path: Path) -> None:
    code, output = invoke("report", "alexnet", "-o", str(tmp_path / "net.pdf"))
    assert code == 1
    assert "does not end in .html" in output
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------- browser --

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if MISSING and not REQUIRED:
        pytest.skip("needs Chromium and Graphviz (make test-browser installs them)")
    with Browser() as opened:
        yield opened


VISIBLE = ("[...document.querySelectorAll('#layers tbody tr')]"
           ".filter(tr => getComputedStyle(tr).display !== 'none')")


def visible(browser: Browser, what: str = "tr.dataset.id") -> list[Any]:
    result: list[Any] = browser.evaluate(f"{VISIBLE}.map(tr => {what})")
    return result


def status(browser: Browser) -> str:
    text: str = browser.evaluate("document.getElementById('status').textContent")
    return text


@needs_browser
def test_loads_with_every_row_and_the_totals(browser: Browser, resnet50_page: Path) -> None:
    browser.open(resnet50_page)
    assert len(visible(browser)) == RESNET50_ROWS + RESNET50_GROUPS
    assert status(browser) == "72 of 72 layers shown"
    totals = browser.evaluate("[...document.querySelectorAll('#layers tfoot td')]"
                              ".map(td => td.textContent)")
    assert totals[4:6] == ["25,557,032", "4,089,184,256"]
    # the diagram is drawn: one box per layer, the input and the legend
    assert browser.evaluate("document.querySelectorAll('#diagram g.node').length") == 72 + 2


@needs_browser
def test_sorting_by_a_column(browser: Browser, resnet50_page: Path) -> None:
    browser.open(resnet50_page)
    browser.click("th[data-key=params] button")
    params = [int(v) for v in visible(browser, "tr.cells[4].dataset.v")]
    assert params == sorted(params) and len(params) == RESNET50_ROWS  # layers only, flat
    browser.click("th[data-key=params] button")
    top = visible(browser, "tr.cells[1].textContent")[:3]
    # layer4's 3×3 convs: 512·512·3·3 + 2·512 BN = 2,360,320, the most of any layer (fc has
    # 2048·1000 + 1000 = 2,049,000); ties keep network order
    assert [t.strip() for t in top] == ["conv2", "conv2", "conv2"]
    assert visible(browser, "tr.cells[4].textContent")[0] == "2,360,320"
    assert visible(browser, "tr.cells[1].querySelector('span[title]').title")[0] == \
        "layer4.0.conv2"
    assert status(browser) == "72 of 72 layers shown · sorted by params descending"
    browser.click("th[data-key=params] button")  # the third click: network order again
    assert visible(browser)[:3] == ["g0", "n0", "n1"]  # stem, conv1, maxpool
    browser.click("th[data-key=name] button")  # text columns sort too
    names = visible(browser, "tr.cells[1].dataset.v")
    assert names == sorted(names, key=str.lower)


@needs_browser
def test_collapse_by_block_and_depth(browser: Browser, resnet50_page: Path) -> None:
    browser.open(resnet50_page)
    browser.click("button[data-depth='1']")
    shown = visible(browser, "tr.cells[1].textContent.trim()")
    assert [s.split()[0] for s in shown] == ["stem", "layer1", "layer2", "layer3", "layer4",
                                             "head"]
    assert status(browser) == "0 of 72 layers shown"
    browser.click("tr[data-id='g1'] button.toggle")  # open layer1: its three blocks, closed
    shown = [s.split()[0] for s in visible(browser, "tr.cells[1].textContent.trim()")]
    assert shown[1:5] == ["layer1", "layer1.0", "layer1.1", "layer1.2"]
    assert browser.evaluate("document.querySelector(\"tr[data-id='g1'] button.toggle\")"
                            ".getAttribute('aria-expanded')") == "true"
    browser.click("button[data-depth='all']")
    assert len(visible(browser)) == RESNET50_ROWS + RESNET50_GROUPS


@needs_browser
def test_filter(browser: Browser, resnet50_page: Path) -> None:
    browser.open(resnet50_page)
    browser.type_text("#filter", "downsample")
    names = visible(browser, "tr.cells[1].querySelector('span[title]').title")
    assert names == [f"layer{i}.0.downsample1" for i in (1, 2, 3, 4)]


@needs_browser
def test_derivation_on_click(browser: Browser, resnet50_page: Path) -> None:
    browser.open(resnet50_page)
    graph = archcalc.to_graph("resnet50")
    browser.click("#layers tbody tr[data-id='n3']")  # layer1.0.conv2
    shown = browser.evaluate("document.getElementById('explain').textContent")
    assert shown == explain(graph, "layer1.0.conv2").to_text()
    assert "MACs = C_out·H′·W′·C_in·K·K = 64·56·56·64·3·3 = 115,605,504" in shown
    assert browser.evaluate("document.querySelector('tr.selected').dataset.id") == "n3"
    # the row's box in the diagram is marked
    assert browser.evaluate("document.querySelector('#diagram g.node.selected title')"
                            ".textContent") == "n3"


@needs_browser
def test_diagram_click_selects_the_row(browser: Browser, resnet50_page: Path) -> None:
    browser.open(resnet50_page)
    browser.click("button[data-depth='1']")  # the row is inside a collapsed stage
    index = [row.name for row in archcalc.analyze("resnet50").layers].index("layer3.2.conv1")
    browser.click_element("[...document.querySelectorAll('#diagram g.node')]"
                          f".find(g => g.querySelector('title').textContent === 'n{index}')")
    assert browser.evaluate("document.querySelector('tr.selected').dataset.id") == f"n{index}"
    # its stage was opened to show it
    assert f"n{index}" in visible(browser)
    assert browser.evaluate("document.getElementById('explain').textContent").startswith(
        "layer3.2.conv1: conv+bn+relu")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@needs_browser
def test_densenet264_stays_usable(browser: Browser, tmp_path: Path) -> None:
    target = tmp_path / "densenet264.html"
    code, output = invoke("report", "densenet264", "-o", str(target))
    assert code == 0, output
    browser.open(target, width=1600, height=1000)
    # collapsed at depth 2 to start: 9 top-level rows (stem, 4 dense blocks, 3 transitions,
    # head), their 130 dense layers as closed rows, and the 2 + 3·4 + 4 = 18 layers of the
    # stem, the transitions and the head
    assert len(visible(browser)) == 9 + 130 + 18
    assert status(browser) == "18 of 928 layers shown"
    browser.click("th[data-key=macs] button")
    browser.click("th[data-key=macs] button")
    first = visible(browser, "tr.cells[1].querySelector('span[title]').title")[0]
    # transition3's 1×1 conv: 2304 = 256 + 64·32 channels in, 1152 out, at 14×14:
    # 1152·14·14·2304 = 520,224,768 MACs, more than any other layer
    assert first == "transition3.conv"
    assert visible(browser, "tr.cells[5].textContent")[0] == "520,224,768"
    assert len(visible(browser)) == 928
    png = browser.screenshot()
    assert png_size(png) == (1600, 1000)
    assert len(png) > 50_000  # drawn, not a blank page (a white 1600×1000 PNG is ~7 KB)


def test_a_page_is_bounded(tmp_path: Path) -> None:
    spec_file = tmp_path / "long.yaml"
    from archcalc import builder as b

    spec_file.write_text(b.to_yaml(b.spec("long", [3, 4, 4],
                                          [b.repeat(pages.MAX_ROWS + 1, [b.act("relu")])])))
    target = tmp_path / "long.html"
    code, output = invoke("report", str(spec_file), "-o", str(target))
    assert code == 1
    assert "long has 10,001 layers; a report page holds at most 10,000" in output
    assert not target.exists()
