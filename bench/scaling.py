"""Scaling: synthetic specs of 1k, 10k and 100k layers — sequential, residual and dense-concat.

Each is written out layer by layer (no `repeat`), so YAML parsing is measured too. Reports
parse vs analysis time, peak memory (RSS growth) and the ratios between sizes (linear → ~10×).
Target (issue 8): 100k layers analyse in <= 2 s.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import time

from common import as_the_cli, save, table

import archcalc
from archcalc.engine import analyze_graph
from archcalc.graph import build

SIZES = (1_000, 10_000, 100_000)


def sequential(n: int) -> str:
    lines = ["archcalc: 1", "name: seq", "input: [8, 16, 16]", "layers:"]
    lines += ["  - conv: {out: 8, k: 3, p: 1, act: relu}"] * n
    return "\n".join(lines) + "\n"


def residual(n: int) -> str:
    lines = ["archcalc: 1", "name: res", "input: [8, 16, 16]", "layers:",
             "  - conv: {id: x0, out: 8, k: 3, p: 1}"]
    for i in range(1, n // 2 + 1):
        lines.append(f"  - conv: {{id: c{i}, out: 8, k: 3, p: 1, act: relu}}")
        lines.append(f"  - add: {{id: x{i}, in: [x{i - 1}, c{i}]}}")
    return "\n".join(lines) + "\n"


def dense(n: int) -> str:
    """DenseNet-style: x_i = concat(x_{i-1}, conv(x_{i-1})) with 1 new channel, reset every 64
    layers by a 1x1 transition so the channel count stays bounded."""
    lines = ["archcalc: 1", "name: dense", "input: [8, 8, 8]", "layers:",
             "  - conv: {id: x0, out: 8, k: 1}"]
    prev = "x0"
    i = 0
    while len(lines) - 4 < n:
        i += 1
        lines.append(f"  - conv: {{id: c{i}, out: 1, k: 3, p: 1, in: {prev}}}")
        lines.append(f"  - concat: {{id: x{i}, in: [{prev}, c{i}]}}")
        prev = f"x{i}"
        if i % 64 == 0:
            lines.append(f"  - conv: {{id: t{i}, out: 8, k: 1, in: {prev}}}")
            prev = f"t{i}"
    return "\n".join(lines) + "\n"


def sequential_repeat(n: int) -> str:
    """The same sequential graph written compactly: one `repeat` (parsing is then free)."""
    return ("archcalc: 1\nname: seq-r\ninput: [8, 16, 16]\nlayers:\n"
            f"  - repeat: {{n: {n}, layers: [{{conv: {{out: 8, k: 3, p: 1, act: relu}}}}]}}\n")


def residual_repeat(n: int) -> str:
    return ("archcalc: 1\nname: res-r\ninput: [8, 16, 16]\nlayers:\n"
            f"  - repeat: {{n: {n // 2}, layers: [{{conv: {{id: c, out: 8, k: 3, p: 1, "
            "act: relu}}, {add: {in: [input, c]}}]}\n")


def dense_repeat(n: int) -> str:
    """Dense units (conv + concat) in groups of 64 with a 1x1 transition, as in `dense`."""
    groups = max(1, n // 129)
    return ("archcalc: 1\nname: dense-r\ninput: [8, 8, 8]\nlayers:\n"
            f"  - repeat:\n      n: {groups}\n      layers:\n"
            "        - repeat: {n: 64, layers: [{conv: {id: c, out: 1, k: 3, p: 1}}, "
            "{concat: {in: [input, c]}}]}\n"
            "        - conv: {out: 8, k: 1}\n")


KINDS = {"sequential": sequential, "residual": residual, "dense": dense,
         "sequential (repeat)": sequential_repeat, "residual (repeat)": residual_repeat,
         "dense (repeat)": dense_repeat}


def measure_here(kind: str, n: int, collector: bool = False) -> dict[str, float]:
    """One measurement in this (fresh) process: times without tracing, memory as peak RSS.
    The process runs as the `archcalc` command does, without the cyclic collector, unless
    ``collector`` (a library caller that leaves it on)."""
    if collector:
        gc.enable()
    else:
        as_the_cli()
    text = KINDS[kind](n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    spec = archcalc.load_spec(text)
    t1 = time.perf_counter()
    graph = build(spec)
    t2 = time.perf_counter()
    report = analyze_graph(graph)
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"layers": len(report.layers), "yaml_bytes": len(text), "parse_s": t1 - t0,
            "build_s": t2 - t1, "cost_s": t3 - t2, "analysis_s": t3 - t1, "total_s": t3 - t0,
            "peak_mib": (peak - base) / 1024}


def measure(kind: str, n: int, runs: int, collector: bool = False) -> dict[str, float]:
    """Each size in a fresh interpreter, so one run's heap does not slow the next; the best of
    ``runs`` (by analysis time), as a burst of load on a shared machine spoils single runs."""
    best: dict[str, float] | None = None
    for _ in range(runs):
        args = [sys.executable, __file__, "--one", kind, str(n), *(["--gc"] if collector else [])]
        out = subprocess.run(args, check=True, capture_output=True, text=True)
        result: dict[str, float] = json.loads(out.stdout)
        if best is None or result["analysis_s"] < best["analysis_s"]:
            best = result
    assert best is not None
    best["runs"] = runs
    return best


def measure_size(kind: str, n: int, previous: dict[str, float] | None) -> dict[str, float]:
    """Best of two below 100k layers (cheap). At 100k (a written-out spec takes 5 s to parse
    and analyse) one run, and a second only if the first grew more than 12x over the previous
    size: a linear graph grows 10x, so the first run likely met a burst of load."""
    if n < 100_000:
        return measure(kind, n, 2)
    m = measure(kind, n, 1)
    if previous and m["analysis_s"] > 12 * previous["analysis_s"]:
        again = measure(kind, n, 1)
        m = min(m, again, key=lambda r: r["analysis_s"])
        m["runs"] = 2
    return m


def main(sizes: tuple[int, ...] = SIZES) -> dict[str, object]:
    results: dict[str, object] = {}
    rows = []
    for kind in KINDS:
        previous: dict[str, float] | None = None
        for n in sizes:
            m = measure_size(kind, n, previous)
            ratio = f"{m['analysis_s'] / previous['analysis_s']:.1f}x" if previous else "–"
            mem_ratio = (f"{m['peak_mib'] / previous['peak_mib']:.1f}x"
                         if previous and previous['peak_mib'] > 0 else "–")
            results[f"{kind}-{n}"] = m
            rows.append([kind, m["layers"], f"{m['parse_s']:.3f}", f"{m['build_s']:.3f}",
                         f"{m['cost_s']:.3f}", f"{m['analysis_s']:.3f}", ratio,
                         f"{m['total_s']:.3f}", f"{m['peak_mib']:.0f}", mem_ratio])
            previous = m
    if sizes[-1] >= 100_000:  # the library with the collector on (a caller's default)
        m = measure("sequential (repeat)", 100_000, 1, collector=True)
        results["sequential (repeat)-100000-collector-on"] = m
        rows.append(["seq. (repeat), gc on", m["layers"], f"{m['parse_s']:.3f}",
                     f"{m['build_s']:.3f}", f"{m['cost_s']:.3f}", f"{m['analysis_s']:.3f}", "–",
                     f"{m['total_s']:.3f}", f"{m['peak_mib']:.0f}", "–"])
    print("scaling (seconds; analysis = build + costs; ratios against the previous size, 10x "
          "more layers; fresh processes as the CLI runs, without the cyclic collector, except "
          "the 'gc on' row; best of 2 below 100k; see measure_size)")
    print(table(["graph", "layers", "parse", "build", "costs", "analysis", "ratio", "total",
                 "peak MiB", "mem ratio"], rows))
    save("scaling", results)
    return results


if __name__ == "__main__":
    if len(sys.argv) in (4, 5) and sys.argv[1] == "--one":
        print(json.dumps(measure_here(sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["--gc"])))
    else:
        main()
