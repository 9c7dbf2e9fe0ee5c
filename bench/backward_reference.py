"""PyTorch's gradients of the element-wise, normalisation and merge layers (archcalc needs none).

The values tests/test_backward_pointwise.py compares archcalc's NumPy backwards with were
measured by this script: each case runs PyTorch's module or function in float64, train mode, on
deterministic inputs (``det``: 2·sin(1.7·i + phase) over the flat index i, the same formula the
test uses), and prints ∂L/∂input and ∂L/∂weight for L = Σ y·g with a deterministic g. Run it with
any PyTorch (measured with 2.14.1, CPU):

    python bench/backward_reference.py
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def det(shape: tuple[int, ...], phase: float, scale: float = 2.0) -> torch.Tensor:
    n = math.prod(shape)
    values = [scale * math.sin(1.7 * i + phase) for i in range(n)]
    return torch.tensor(values, dtype=torch.float64).reshape(shape)


def positive(shape: tuple[int, ...], phase: float) -> torch.Tensor:
    """In [0.5, 1.5]: scales (γ)."""
    return 1.0 + 0.5 * det(shape, phase, 1.0)


class LayerNorm2d(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(c, dtype=torch.float64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _maxout(x: torch.Tensor) -> torch.Tensor:
    b, c = x.shape[:2]
    return x.reshape(b, c // 2, 2, *x.shape[2:]).max(dim=2).values


def cases() -> dict[str, tuple[nn.Module | None, object, list[tuple[int, ...]],
                              dict[str, torch.Tensor]]]:
    """name → (module, function when no module, input shapes, the module's parameters)."""
    c = 3
    bn = nn.BatchNorm2d(c, dtype=torch.float64)
    ln = LayerNorm2d(c)
    lna = nn.LayerNorm((c, 2, 2), dtype=torch.float64)
    gn = nn.GroupNorm(2, 4, dtype=torch.float64)
    inn = nn.InstanceNorm2d(c, affine=True, dtype=torch.float64)
    prelu = nn.PReLU(c, dtype=torch.float64)
    gamma, beta = positive((c,), 0.4), det((c,), 1.1, 0.5)
    return {
        "bn": (bn, None, [(2, c, 2, 2)], {"weight": gamma, "bias": beta}),
        "layernorm channels": (ln, None, [(2, c, 2, 2)], {"ln.weight": gamma, "ln.bias": beta}),
        "layernorm all": (lna, None, [(2, c, 2, 2)], {"weight": positive((c, 2, 2), 0.4),
                                                      "bias": det((c, 2, 2), 1.1, 0.5)}),
        "groupnorm": (gn, None, [(2, 4, 3)], {"weight": positive((4,), 0.4),
                                              "bias": det((4,), 1.1, 0.5)}),
        "instancenorm": (inn, None, [(2, c, 2, 2)], {"weight": gamma, "bias": beta}),
        "prelu": (prelu, None, [(2, c, 2, 2)], {"weight": det((c,), 0.9, 0.3)}),
        "l2norm": (None, lambda x, w: F.normalize(x, dim=1) * w.view(1, -1, 1, 1),
                   [(2, c, 2, 2)], {"weight": positive((c,), 0.4)}),
        "lrn": (nn.LocalResponseNorm(3, 0.5, 0.75, 1.0), None, [(2, 4, 2, 2)], {}),
        "softmax": (nn.Softmax(dim=1), None, [(2, c, 2, 2)], {}),
        "gelu": (nn.GELU(), None, [(2, c, 2, 2)], {}),
        "elu": (nn.ELU(0.7), None, [(2, c, 2, 2)], {}),
        "hardswish": (nn.Hardswish(), None, [(2, c, 2, 2)], {}),
        "silu": (nn.SiLU(), None, [(2, c, 2, 2)], {}),
        "maxout": (None, lambda x: _maxout(x), [(2, 4, 3)], {}),
        "multiply gate": (None, lambda a, b: a * b, [(2, c, 2, 2), (2, c, 1, 1)], {}),
    }


def measure(name: str) -> tuple[torch.Tensor, list[torch.Tensor], dict[str, torch.Tensor]]:
    module, fn, shapes, params = cases()[name]
    xs = [det(s, 0.3 + i).requires_grad_(True) for i, s in enumerate(shapes)]
    if module is not None:
        module.train()
        with torch.no_grad():
            for key, value in params.items():
                module.get_parameter(key).copy_(value)
        y = module(*xs)
        weights = dict(module.named_parameters())
    else:
        weights = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        y = fn(*xs, *weights.values())  # type: ignore[operator]
    g = det(tuple(y.shape), 2.2, 1.0)
    (y * g).sum().backward()
    grads = {k: v.grad for k, v in weights.items()}
    return y.detach(), [x.grad for x in xs], grads  # type: ignore[misc]


def literal(key: str, t: torch.Tensor, indent: int = 12) -> str:
    """``key: [values]``, 12 significant digits, wrapped at 100 columns."""
    lines, line = [], " " * (indent - 4) + f"{key!r}: ["
    for v in t.reshape(-1).tolist():
        item = f"{v:.12g}, "
        if len(line) + len(item) > 99 - (indent if lines else 0):
            lines.append(line.rstrip())
            line = ""
        line += item
    lines.append(line.rstrip(", ") + "]")
    return ("\n" + " " * indent).join(lines)


def main() -> None:
    print(f"# torch {torch.__version__}, float64, train mode")
    for name in cases():
        y, dxs, dws = measure(name)
        print(f"    {name!r}: {{")
        print(literal("y", y) + ",")
        for i, dx in enumerate(dxs):
            print(literal(f"dx{i}", dx) + ",")
        for key, dw in dws.items():
            print(literal(key, dw) + ",")
        print("    },")


if __name__ == "__main__":
    main()
