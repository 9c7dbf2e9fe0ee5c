"""Regenerate the pictures of the README under docs/img/ (`make docs-img`).

One picture of each kind archcalc draws:

* ``diagram-alexnet.png`` — `archcalc draw alexnet --color macs` (Graphviz): the heat scale
  on MACs, conv2 darkest as on the AlexNet slide;
* ``diagram-googlenet.png`` — GoogLeNet's first Inception modules, every layer, by kind;
* ``chart-alexnet-vs-vgg16.png`` — `archcalc plot alexnet vgg16` (bars aligned by layer name);
* ``chart-resnet-stages.png`` — `archcalc plot resnet50 resnet101 resnext50_32x4d --depth 1`;
* ``report-page.png`` — the HTML page of `archcalc report resnet50`, in headless Chromium,
  with layer1.0.conv2's derivation open.

Needs Graphviz, Chromium (`make browser-tools`) and matplotlib (the dev extra).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.chromium import Browser  # noqa: E402

OUT = ROOT / "docs" / "img"
ARCHCALC = [sys.executable, "-m", "archcalc"]


def run(*args: str) -> None:
    print("archcalc", " ".join(args))
    subprocess.run([*ARCHCALC, *args], check=True, cwd=ROOT)


def googlenet_excerpt(target: Path) -> None:
    """GoogLeNet from the stem through inception3b: the concats of four branches."""
    import archcalc
    from archcalc.diagram import render, to_dot

    spec = archcalc.load_spec("googlenet")
    graph = archcalc.to_graph(spec)
    keep = next(i for i, node in enumerate(graph.nodes) if node.name == "maxpool3")
    short = dataclasses.replace(graph, name=graph.name + " (stem to inception3b)",
                                nodes=graph.nodes[:keep], output=graph.nodes[keep - 1].name)
    target.write_bytes(render(to_dot(short), "png").data)
    print("wrote", target)


def page_screenshot(target: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "resnet50.html"
        run("report", "resnet50", "-o", str(page))
        with Browser() as browser:
            browser.open(page, width=1600, height=1000)
            browser.click("#layers tbody tr[data-id='n3']")  # layer1.0.conv2: its derivation
            top = browser.evaluate(
                "document.getElementById('table-section').getBoundingClientRect().top"
                " + window.scrollY")
            target.write_bytes(browser.screenshot((0, top - 8, 1600, 900)))
    print("wrote", target)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    run("draw", "alexnet", "--color", "macs", "-o", str(OUT / "diagram-alexnet.png"))
    googlenet_excerpt(OUT / "diagram-googlenet.png")
    run("plot", "alexnet", "vgg16", "-o", str(OUT / "chart-alexnet-vs-vgg16.png"))
    run("plot", "resnet50", "resnet101", "resnext50_32x4d", "--depth", "1", "-o",
        str(OUT / "chart-resnet-stages.png"))
    page_screenshot(OUT / "report-page.png")


if __name__ == "__main__":
    main()
