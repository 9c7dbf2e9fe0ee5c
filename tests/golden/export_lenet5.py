"""LeNet-5: written by `archcalc export --to pytorch` from lenet5.

Input [1, 32, 32] (channels first, no batch axis). Every row of `archcalc table` is
the submodule of the same name (`model.get_submodule("…")`); fused bn/act are nn.Sequential
members after the layer. Needs only torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SHAPE = (1, 32, 32)


class PartialConv(nn.Module):
    """A convolution whose output map i sees only the input maps ``connections[i]`` (LeNet-5's
    C3): one kernel of len(connections[i]) × k × k per output map, plus a bias each."""

    def __init__(self, connections: tuple[tuple[int, ...], ...], kernel_size: int,
                 bias: bool = True) -> None:
        super().__init__()
        self.connections = connections
        self.weight = nn.ParameterList(
            nn.Parameter(torch.randn(1, len(maps), kernel_size, kernel_size) * 0.1)
            for maps in connections)
        self.bias = nn.Parameter(torch.zeros(len(connections))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [F.conv2d(x[:, list(c)], w) for c, w in zip(self.connections, self.weight)]
        y = torch.cat(maps, dim=1)
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)


class Subsample(nn.Module):
    """LeNet-5's subsampling: the sum of each k×k window times a trainable coefficient plus a
    trainable bias, per map. The coefficient multiply is a depthwise 1×1 convolution, so
    FlopCounterMode counts its C·H′·W′ multiply-accumulates as archcalc does."""

    def __init__(self, channels: int, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.coefficient = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        window_sum = F.avg_pool2d(x, k, self.stride) * (k * k)
        weight = self.coefficient.view(-1, 1, 1, 1)
        return F.conv2d(window_sum, weight, self.bias, groups=x.shape[1])


class LeNet5(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.C1 = nn.Sequential(nn.Conv2d(1, 6, kernel_size=5), nn.Tanh())
        self.S2 = nn.Sequential(Subsample(6, 2, 2), nn.Tanh())
        self.C3 = nn.Sequential(
            PartialConv(
                (
                    (0, 1, 2),
                    (1, 2, 3),
                    (2, 3, 4),
                    (3, 4, 5),
                    (0, 4, 5),
                    (0, 1, 5),
                    (0, 1, 2, 3),
                    (1, 2, 3, 4),
                    (2, 3, 4, 5),
                    (0, 3, 4, 5),
                    (0, 1, 4, 5),
                    (0, 1, 2, 5),
                    (0, 1, 3, 4),
                    (1, 2, 4, 5),
                    (0, 2, 3, 5),
                    (0, 1, 2, 3, 4, 5),
                ),
                5,
                bias=True,
            ),
            nn.Tanh(),
        )
        self.S4 = nn.Sequential(Subsample(16, 2, 2), nn.Tanh())
        self.C5 = nn.Sequential(nn.Conv2d(16, 120, kernel_size=5), nn.Tanh())
        self.F6 = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), nn.Tanh())
        self.output = nn.Linear(84, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        C1 = self.C1(x)
        S2 = self.S2(C1)
        C3 = self.C3(S2)
        S4 = self.S4(C3)
        C5 = self.C5(S4)
        F6 = self.F6(C5)
        output = self.output(F6)
        return output


if __name__ == "__main__":
    model = LeNet5().train(False)  # inference mode
    y = model(torch.zeros(1, 1, 32, 32))
    params = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__}: output {list(y.shape)}, {params:,} params")
