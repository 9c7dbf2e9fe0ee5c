"""In-process analysis time of bundled networks (spec already loaded vs load + analyse).

Targets (issue 8): ResNet-50 <= 5 ms; ResNet-152, DenseNet-264, EfficientNet-B7 <= 20 ms each.
"""

from __future__ import annotations

from common import as_the_cli, best_of, save, table

import archcalc
from archcalc.engine import analyze_graph
from archcalc.graph import build

MODELS = ["alexnet", "vgg16", "resnet50", "resnet152", "densenet264", "mobilenet_v2",
          "efficientnet_b0", "efficientnet_b7", "inception_v3", "unet"]


def main() -> dict[str, object]:
    as_the_cli()
    results: dict[str, object] = {}
    rows = []
    for name in MODELS:
        try:
            spec = archcalc.load_spec(name)
        except archcalc.ArchcalcError:
            results[name] = "not bundled"
            continue
        parse, _ = best_of(lambda n=name: archcalc.load_spec(n), 20)  # type: ignore[misc]
        graph_t, _ = best_of(lambda s=spec: build(s), 20)  # type: ignore[misc]
        graph = build(spec)
        cost_t, _ = best_of(lambda g=graph: analyze_graph(g), 20)  # type: ignore[misc]
        total, median = best_of(lambda n=name: archcalc.analyze(n), 20)  # type: ignore[misc]
        results[name] = {"layers": len(graph.nodes), "parse_ms": parse * 1e3,
                         "build_ms": graph_t * 1e3, "cost_ms": cost_t * 1e3,
                         "total_ms": total * 1e3, "total_median_ms": median * 1e3}
        rows.append([name, len(graph.nodes), f"{parse * 1e3:.2f}", f"{graph_t * 1e3:.2f}",
                     f"{cost_t * 1e3:.2f}", f"{total * 1e3:.2f}"])
    print("in-process analysis (ms, best of 20)")
    print(table(["model", "layers", "parse", "build+shapes", "costs", "total"], rows))
    save("analysis", results)
    return results


if __name__ == "__main__":
    main()
