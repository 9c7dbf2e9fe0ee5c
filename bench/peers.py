"""Peers on the same models: torchinfo, fvcore, ptflops (model construction + analysis).

They need PyTorch, which archcalc does not. The peer code runs in a separate interpreter: the
one in $ARCHCALC_PEER_PYTHON (e.g. a scratch venv with torch + torchvision + the peers), else
this one. Whatever is not installed is reported as skipped; nothing here is required.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from common import save, table

import archcalc

PEER_SCRIPT = r"""
import json, sys, time, resource
t0 = time.perf_counter()
try:
    import torch, torchvision
except Exception as exc:
    print(json.dumps({"error": f"torch/torchvision not importable: {exc}"})); sys.exit(0)
import_s = time.perf_counter() - t0
name, size = sys.argv[1], int(sys.argv[2])
out = {"import_torch_s": import_s}

def run(tool, name=name, size=size):
    t = time.perf_counter()
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.zeros(1, 3, size, size)
    if tool == "torchinfo":
        import torchinfo
        torchinfo.summary(model, input_data=x, verbose=0)
    elif tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis
        FlopCountAnalysis(model, x).total()
    elif tool == "ptflops":
        from ptflops import get_model_complexity_info
        get_model_complexity_info(model, (3, size, size), print_per_layer_stat=False,
                                  as_strings=False)
    return time.perf_counter() - t

for tool in ("torchinfo", "fvcore", "ptflops"):
    try:
        __import__(tool)
    except Exception:
        out[tool] = "not installed"
        continue
    try:
        run(tool, "resnet18", 64)  # warm-up on a small model: the tool's lazy imports
        out[tool] = run(tool)
    except Exception as exc:
        out[tool] = f"failed: {type(exc).__name__}: {exc}"[:200]
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

MODELS = [("resnet50", 224), ("efficientnet_b7", 600)]


def main() -> dict[str, object]:
    python = os.environ.get("ARCHCALC_PEER_PYTHON", sys.executable)
    results: dict[str, object] = {"peer_python": python}
    rows = []
    for name, size in MODELS:
        try:
            spec = archcalc.load_spec(name)
        except archcalc.ArchcalcError:
            results[name] = "not bundled"
            continue
        t = time.perf_counter()
        archcalc.analyze(spec)
        ours = time.perf_counter() - t
        proc = subprocess.run([python, "-c", PEER_SCRIPT, name, str(size)], capture_output=True,
                              text=True, timeout=600)
        try:
            peer = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            peer = {"error": (proc.stderr or "no output")[-300:]}
        results[name] = {"archcalc_s": ours, **peer}
        if "error" in peer:
            rows.append([name, f"{ours * 1e3:.1f} ms", "skipped: " + str(peer["error"])[:60]])
            continue
        for tool in ("torchinfo", "fvcore", "ptflops"):
            value = peer.get(tool)
            if isinstance(value, float):
                rows.append([name, f"{ours * 1e3:.1f} ms",
                             f"{tool} {value:.2f} s = {value / ours:,.0f}x archcalc"])
            else:
                rows.append([name, f"{ours * 1e3:.1f} ms", f"{tool} skipped ({value})"])
    print("peers (model construction + analysis, in-process, one run after a warm-up)")
    print(table(["model", "archcalc", "peer"], rows))
    save("peers", results)
    return results


if __name__ == "__main__":
    main()
