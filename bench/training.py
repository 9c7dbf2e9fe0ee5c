"""In-process training analysis against the plain (inference) analysis, same graph, alternated.

Target (issue 18): ResNet-50 `--training` analysis ≤ 2× the plain analysis; linear in the graph
(ResNet-152 and DenseNet-264 as the larger graphs). Both figures are medians of alternated runs
(A, B, A, B, …) so that the machine's load falls on both alike.
"""

from __future__ import annotations

import statistics
import time

from common import as_the_cli, save, table

import archcalc
from archcalc.engine import analyze_graph
from archcalc.training import analyze_training

MODELS = ["resnet50", "resnet152", "densenet264", "efficientnet_b0", "vgg16"]
RUNS = 41


def alternated(a: object, b: object, runs: int) -> tuple[float, float]:
    """Medians (seconds) of ``runs`` calls of ``a`` and of ``b``, interleaved."""
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(runs):
        for fn, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            out.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def main() -> dict[str, object]:
    as_the_cli()
    results: dict[str, object] = {}
    rows = []
    for name in MODELS:
        try:
            graph = archcalc.to_graph(name)
        except archcalc.ArchcalcError:
            results[name] = "not bundled"
            continue
        plain, train = alternated(lambda g=graph: analyze_graph(g),
                                  lambda g=graph: analyze_training(g), RUNS)
        results[name] = {"layers": len(graph.nodes), "plain_ms": plain * 1e3,
                         "training_ms": train * 1e3, "ratio": train / plain}
        rows.append([name, len(graph.nodes), f"{plain * 1e3:.2f}", f"{train * 1e3:.2f}",
                     f"{train / plain:.2f}"])
    print(f"training analysis vs plain (ms, medians of {RUNS} alternated runs)")
    print(table(["model", "layers", "plain", "training", "ratio"], rows))
    save("training", results)
    return results


if __name__ == "__main__":
    main()
