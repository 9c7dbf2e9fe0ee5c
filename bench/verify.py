"""Whole-process `archcalc verify -r`: VGG-16 at 224×224 and ResNet-50 at 480×480, start-up,
seeded weights, the checked forward and the receptive field by one backward pass included.

Targets (issue 18): VGG-16 <= 5 s and ResNet-50 at 480 <= 10 s wall; docs/executor.md aims
VGG-16 at <= 2.5 s on a quiet machine and <= 5 s at load 2-4. Each run is a fresh process; its
wall time is a monotonic clock around it, its user and system seconds the kernel's accounting
of that child (``os.wait4``), its peak RSS its own high-water mark (see :data:`CHILD`). With
``--baseline SRC`` (a checkout of another revision, run by this interpreter with
``PYTHONPATH=SRC``) the runs alternate — this tree, the baseline, this tree, … — and the ratio
is taken pair by pair, so that a machine whose speed drifts (other processes) moves both sides
alike; medians and ranges are printed.
Numbers only: nothing here asserts.

    python bench/verify.py [--runs 7] [--baseline /path/to/checkout]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import save, table

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "vgg16 -r": ["verify", "vgg16", "-r"],
    "resnet50 -r --input 3x480x480": ["verify", "resnet50", "-r", "--input", "3x480x480"],
}


#: ``python -m archcalc ARGS`` that also writes, at exit, its own peak RSS (``VmHWM`` of
#: /proc/self/status, kB) to the file named by $ARCHCALC_BENCH_HWM. The kernel's ``ru_maxrss``
#: of a child cannot serve: Linux carries the high-water mark across ``execve``, and a child
#: spawned with vfork (as subprocess does) inherits the parent's — under `make bench`, the
#: earlier benchmarks' gigabytes
CHILD = """
import atexit, os, runpy, sys

def hwm():
    try:
        with open("/proc/self/status") as status:
            kb = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return
    with open(os.environ["ARCHCALC_BENCH_HWM"], "w") as out:
        out.write(kb)

atexit.register(hwm)
sys.argv[0] = "archcalc"
runpy.run_module("archcalc", run_name="__main__", alter_sys=True)
"""


def run_once(args: list[str], source: Path | None) -> dict[str, float]:
    """Wall, user + system seconds and peak RSS (MiB) of one fresh ``python -m archcalc``
    (its own high-water mark where /proc has it, else the kernel's ``ru_maxrss``)."""
    import tempfile

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # a user's install has its bytecode caches
    if source is not None:
        env["PYTHONPATH"] = str(source)
    with tempfile.TemporaryDirectory() as scratch:
        env["ARCHCALC_BENCH_HWM"] = hwm_file = os.path.join(scratch, "hwm")
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 cwd=source or ROOT)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(args)} exited {child.returncode}")
        try:
            with open(hwm_file) as found:
                rss = int(found.read()) / 1024
        except (OSError, ValueError):  # no /proc: the kernel's figure, maybe the parent's
            rss = usage.ru_maxrss / 1024
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime,
            "sys": usage.ru_stime, "rss": rss}


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}–{fmt.format(max(values))})")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs (pairs) per command")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of another revision to alternate with")
    opts = parser.parse_args(argv if argv is not None else [])
    sides: list[tuple[str, Path | None]] = [("this tree", None)]
    if opts.baseline is not None:
        sides.append(("baseline", opts.baseline.resolve()))
    results: dict[str, Any] = {"load_before": os.getloadavg()[0], "runs": opts.runs}
    rows = []
    for label, args in COMMANDS.items():
        for _, source in sides:  # one warm-up each: bytecode and the page cache
            run_once(args, source)
        runs: dict[str, list[dict[str, float]]] = {side: [] for side, _ in sides}
        for _ in range(opts.runs):
            for side, source in sides:
                runs[side].append(run_once(args, source))
        results[label] = runs
        for side, _ in sides:
            got = runs[side]
            rows.append([label, side, spread([r["wall"] for r in got]),
                         spread([r["cpu"] for r in got]), spread([r["sys"] for r in got]),
                         f"{max(r['rss'] for r in got):.0f}"])
        if opts.baseline is not None:
            pairs = list(zip(runs["this tree"], runs["baseline"], strict=True))
            rows.append([label, "ratio", spread([x["wall"] / y["wall"] for x, y in pairs]),
                         spread([x["cpu"] / y["cpu"] for x, y in pairs]), "", ""])
    results["load_after"] = os.getloadavg()[0]
    print(f"archcalc verify -r, whole process: median (min–max) of {opts.runs} runs"
          + (", alternated with the baseline" if opts.baseline is not None else "")
          + f"; 1-minute load {results['load_before']:.1f} → {results['load_after']:.1f}")
    print(table(["command", "side", "wall s", "user+sys s", "sys s", "peak MiB"], rows))
    save("verify", results)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
