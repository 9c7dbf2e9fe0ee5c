"""Output: rendering a 100k-layer report — JSON, CSV, the group tree and the text table.

Target (issue 14): the JSON of a 100k-layer report in <= 1 s (it took 4.8 s: `indent=` forces
Python's pure-Python encoder, and `to_dict` ran with the cyclic collector on). Each measurement
runs in a fresh interpreter on a report built from `repeat` (so the rows carry groups), best of
three; the library's default (collector on) and the CLI's (collector off, see cli.main) are
both reported. No test asserts a time: numbers only.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from collections.abc import Callable

from common import save, table

import archcalc

LAYERS = 100_000


def spec_text(n: int) -> str:
    """``n`` layers as ResNet is written: a block call (three convs and the residual add, 4
    rows) repeated 25 times per stage, stages repeated: every row has a four-level path
    (stage repeat, stage, block repeat, block call) and there is a group per 2 rows."""
    stages = max(1, n // 100)
    return ("archcalc: 1\nname: out-bench\ninput: [8, 16, 16]\n"
            "blocks:\n  unit:\n    layers:\n      - residual:\n          body:\n"
            "            - conv: {out: 8, k: 1, act: relu}\n"
            "            - conv: {out: 8, k: 3, p: 1, act: relu}\n"
            "            - conv: {out: 8, k: 1}\n"
            f"layers:\n  - repeat:\n      n: {stages}\n      layers:\n"
            "        - repeat: {n: 25, layers: [unit]}\n")


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_here(n: int, collector: bool) -> dict[str, float]:
    """One process: the JSON (which builds the group tree first, as the contract carries the
    group subtotals), then, on a fresh report, the group tree alone, CSV and the text table.
    Older versions without a piece are measured on what they have."""
    text = spec_text(n)
    if not collector:
        gc.disable()
    report = archcalc.analyze(text)
    out: dict[str, float] = {"layers": len(report.layers)}
    out["json_s"] = _time(report.to_json)
    out["json_bytes"] = len(report.to_json())
    fresh = archcalc.analyze(text)
    if hasattr(fresh, "hierarchy"):
        from archcalc.hierarchy import Hierarchy

        out["hierarchy_s"] = _time(lambda: Hierarchy(fresh.layers))
        out["groups"] = len(fresh.hierarchy.groups)
    out["csv_s"] = _time(report.to_csv)
    if hasattr(report, "to_text"):
        out["text_s"] = _time(lambda: report.to_text(width=80))
        out["text_depth1_s"] = _time(lambda: report.to_text(width=80, depth=1))
    return out


def measure(n: int, collector: bool, runs: int = 3) -> dict[str, float]:
    best: dict[str, float] = {}
    for _ in range(runs):
        done = subprocess.run([sys.executable, __file__, "--one", str(n), str(int(collector))],
                              check=True, capture_output=True, text=True)
        result: dict[str, float] = json.loads(done.stdout)
        for key, value in result.items():
            best[key] = min(best.get(key, value), value) if key.endswith("_s") else value
    return best


def main() -> dict[str, object]:
    results: dict[str, object] = {}
    rows = []
    for collector in (True, False):
        m = measure(LAYERS, collector)
        label = "collector on (library)" if collector else "collector off (CLI)"
        results[label] = m
        rows.append([label, int(m["layers"]), f"{m['json_s']:.3f}",
                     f"{m['json_bytes'] / 2**20:.1f}", f"{m['csv_s']:.3f}",
                     f"{m.get('hierarchy_s', float('nan')):.3f}",
                     f"{m.get('text_s', float('nan')):.3f}",
                     f"{m.get('text_depth1_s', float('nan')):.3f}"])
    print("output of a 100k-layer report (seconds, best of 3 fresh processes; target: JSON "
          "<= 1 s)")
    print(table(["", "layers", "to_json", "JSON MiB", "to_csv", "hierarchy", "text 80 col",
                 "text depth 1"], rows))
    save("output", results)
    return results


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure_here(int(sys.argv[2]), bool(int(sys.argv[3])))))
    else:
        main()
