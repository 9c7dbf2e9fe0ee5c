"""In-process training analysis against the plain (inference) analysis, alternated.

Target (issue 18): in-process ResNet-50 `--training` ≤ 2× the plain analysis; linear in the
graph (ResNet-152 and DenseNet-264 as the larger graphs). Two measurements, both medians of
alternated runs (A, B, A, B, …) so that the machine's load falls on both alike:

* **from the spec** (what `archcalc table SPEC` and `table SPEC --training` compute in
  process): load + build + analyse, against load + build + analyse + the training analysis;
* **from the built graph**: ``analyze_graph`` against ``analyze_training`` (which includes an
  ``analyze_graph``: the forward figures are part of its report);
* **the command in process**: ``archcalc table NAME`` against ``archcalc table NAME --training``
  run through the CLI's entry point in this process (no interpreter start-up), the rendered
  table written to a string — what a user waits for beyond Python's start.
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


def command(args: list[str]) -> str:
    """Run ``archcalc ARGS`` in this process; what it printed."""
    import contextlib
    import io

    from archcalc.cli import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli.main(args, standalone_mode=False)
    return out.getvalue()


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
        spec_plain, spec_train = alternated(
            lambda n=name: analyze_graph(archcalc.to_graph(n)),
            lambda n=name: analyze_training(archcalc.to_graph(n)), RUNS)
        plain, train = alternated(lambda g=graph: analyze_graph(g),
                                  lambda g=graph: analyze_training(g), RUNS)
        cmd_plain, cmd_train = alternated(lambda n=name: command(["table", n]),
                                          lambda n=name: command(["table", n, "--training"]),
                                          RUNS)
        results[name] = {"layers": len(graph.nodes), "spec_plain_ms": spec_plain * 1e3,
                         "spec_training_ms": spec_train * 1e3,
                         "spec_ratio": spec_train / spec_plain, "graph_plain_ms": plain * 1e3,
                         "graph_training_ms": train * 1e3, "graph_ratio": train / plain,
                         "command_plain_ms": cmd_plain * 1e3,
                         "command_training_ms": cmd_train * 1e3,
                         "command_ratio": cmd_train / cmd_plain}
        rows.append([name, len(graph.nodes), f"{spec_train / spec_plain:.2f}",
                     f"{plain * 1e3:.2f}", f"{train * 1e3:.2f}", f"{train / plain:.2f}",
                     f"{cmd_plain * 1e3:.1f}", f"{cmd_train * 1e3:.1f}",
                     f"{cmd_train / cmd_plain:.2f}"])
    # linear in the graph: synthetic residual nets of 1k, 10k, 100k layers (bench/scaling.py)
    from scaling import residual

    scale_rows = []
    for n in (1_000, 10_000, 100_000):
        graph = archcalc.to_graph(archcalc.load_spec(residual(n)))
        plain, train = alternated(lambda g=graph: analyze_graph(g),
                                  lambda g=graph: analyze_training(g), 3 if n > 10_000 else 7)
        results[f"residual_{n}"] = {"layers": len(graph.nodes), "graph_plain_ms": plain * 1e3,
                                    "graph_training_ms": train * 1e3,
                                    "us_per_layer": train * 1e6 / len(graph.nodes)}
        scale_rows.append([f"residual {n:,}", len(graph.nodes), f"{plain * 1e3:.1f}",
                           f"{train * 1e3:.1f}", f"{train * 1e6 / len(graph.nodes):.1f}"])
    print(f"training analysis vs plain (ms, medians of {RUNS} alternated runs)")
    print(table(["model", "layers", "spec ratio", "graph: plain", "training", "ratio",
                 "command: plain", "--training", "ratio"], rows))
    print("\nlinear in the graph (ms; µs per layer of the training analysis)")
    print(table(["graph", "layers", "plain", "training", "µs/layer"], scale_rows))
    save("training", results)
    return results


if __name__ == "__main__":
    main()
