"""PyTorch's running statistics after one training step (archcalc needs none of this).

The values tests/test_running_stats.py holds archcalc's training forward to were measured by
this script: ``nn.BatchNorm2d`` and ``nn.InstanceNorm2d(track_running_stats=True)`` in
float64, ``train()``, given deterministic running statistics and one deterministic batch
(``det`` and ``positive`` of bench/backward_reference.py: 2·sin(1.7·i + phase) over the flat
index i, the formula the test uses too), one forward; it prints ``running_mean`` and
``running_var`` afterwards. Run it with any PyTorch (measured with 2.14.1, CPU):

    python bench/running_stats_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from backward_reference import det, literal, positive

C = 3
#: name → (module, momentum); every case gets x = det((2, C, 2, 2), 0.3) and the running
#: statistics det((C,), 1.9, 0.5) and positive((C,), 0.6) before its one training forward
CASES = {
    "bn": (nn.BatchNorm2d, 0.1),
    "bn momentum 0.3": (nn.BatchNorm2d, 0.3),
    "instancenorm tracked": (lambda c, momentum: nn.InstanceNorm2d(
        c, momentum=momentum, affine=True, track_running_stats=True), 0.1),
}


def main() -> None:
    print(f"# torch {torch.__version__}, float64, train mode, one forward")
    for name, (make, momentum) in CASES.items():
        module = make(C, momentum=momentum).double().train()
        with torch.no_grad():
            module.running_mean.copy_(det((C,), 1.9, 0.5))
            module.running_var.copy_(positive((C,), 0.6))
        module(det((2, C, 2, 2), 0.3))
        print(f"    {name!r}: {{")
        print(literal("running_mean", module.running_mean) + ",")
        print(literal("running_var", module.running_var) + ",")
        print("    },")


if __name__ == "__main__":
    main()
