"""`make crosscheck`: every bundled spec and every variant, exported to PyTorch and verified
row by row against it (`archcalc verify SPEC --against torch`: counts, and every row's values
against the NumPy executor's on the same weights and input), as one Markdown table; the
column `max Δ` is the largest difference of a row's output over the magnitude it reads or
writes (the tolerance is 1e-4).

Needs torch (the crosscheck environment `make crosscheck` builds). Exit status 1 when any
spec disagrees; the table says which row and how.
"""

from __future__ import annotations

import sys
import time

from archcalc import bundled_names, load_spec, to_graph
from archcalc.torch_check import REL_TOL, check_against_torch


def names() -> list[str]:
    """Each bundled spec, then each of its variants as `spec_variant`."""
    found = []
    for name in bundled_names():
        found.append(name)
        found.extend(f"{name}_{v}" for v in load_spec(name).variants)
    return found


def main() -> int:
    import torch

    torch.set_num_threads(2)
    started = time.perf_counter()
    print(f"PyTorch {torch.__version__}; per row: output shape (forward hooks), params and "
          "buffers (numel, num_batches_tracked excluded), MACs (FlopCounterMode forward / 2), "
          "values (the NumPy executor's weights and input; max Δ = max |torch − NumPy| / "
          f"max |x, y|, tolerance {REL_TOL:g})\n")
    print("| spec | rows | params | buffers | MACs | max Δ | s | verdict |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    failed = 0
    worst = 0.0
    for name in names():
        result = check_against_torch(to_graph(load_spec(name)))
        delta = result.max_rel_diff
        worst = max(worst, delta or 0.0)
        bad = result.failures
        verdict = "agree" if result.ok else (
            f"{bad[0].name}: {'; '.join(bad[0].problems)}" if bad else "totals differ")
        if result.notes:
            verdict += f" ({len(result.notes)} counter notes)"
        failed += not result.ok
        print(f"| {name} | {len(result.rows)} | {result.torch_params:,} | "
              f"{result.torch_buffers:,} | {result.torch_macs:,} | "
              f"{'—' if delta is None else f'{delta:.1e}'} | {result.seconds:.1f} | {verdict} |",
              flush=True)
    total = len(names())
    print(f"\n{total - failed} of {total} specs and variants agree in every row; largest "
          f"value difference {worst:.1e} of the row's magnitude "
          f"({time.perf_counter() - started:.0f} s).")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
