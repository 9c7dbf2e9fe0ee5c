"""GoogLeNet stem (lecture): written by `archcalc export --to pytorch` from googlenet_stem.

Input [3, 224, 224] (channels first, no batch axis). Every row of `archcalc table` is
the submodule of the same name (`model.get_submodule("…")`); fused bn/act are nn.Sequential
members after the layer. Needs only torch."""

from __future__ import annotations

import torch
from torch import nn

INPUT_SHAPE = (3, 224, 224)


class GoogLeNetStemLecture(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3), nn.ReLU())
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2_reduce = nn.Sequential(nn.Conv2d(64, 64, kernel_size=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(64, 192, kernel_size=3, padding=1), nn.ReLU())
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1 = self.conv1(x)
        pool1 = self.pool1(conv1)
        conv2_reduce = self.conv2_reduce(pool1)
        conv2 = self.conv2(conv2_reduce)
        pool2 = self.pool2(conv2)
        return pool2


if __name__ == "__main__":
    model = GoogLeNetStemLecture().train(False)  # inference mode
    y = model(torch.zeros(1, 3, 224, 224))
    params = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__}: output {list(y.shape)}, {params:,} params")
