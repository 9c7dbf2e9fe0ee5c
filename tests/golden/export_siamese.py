"""Siamese network (Koch et al. 2015): written by `archcalc export --to pytorch` from siamese.

Inputs left [1, 105, 105], right [1, 105, 105] (channels first, no batch axis; forward takes
them in this order). Every row of `archcalc table` is
the submodule of the same name (`model.get_submodule("…")`); fused bn/act are nn.Sequential
members after the layer. Needs only torch."""

from __future__ import annotations

import torch
from torch import nn

INPUT_SHAPES = {'left': (1, 105, 105), 'right': (1, 105, 105)}


class Abs(nn.Module):
    """|x|, element-wise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.abs()


class Tower(nn.Module):
    """Used by left_tower."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=10), nn.ReLU())
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Sequential(nn.Conv2d(64, 128, kernel_size=7), nn.ReLU())
        self.pool2 = nn.MaxPool2d(2)
        self.conv3 = nn.Sequential(nn.Conv2d(128, 128, kernel_size=4), nn.ReLU())
        self.pool3 = nn.MaxPool2d(2)
        self.conv4 = nn.Sequential(nn.Conv2d(128, 256, kernel_size=4), nn.ReLU())
        self.flatten = nn.Flatten()
        self.fc = nn.Sequential(nn.Linear(9216, 4096), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1 = self.conv1(x)
        pool1 = self.pool1(conv1)
        conv2 = self.conv2(pool1)
        pool2 = self.pool2(conv2)
        conv3 = self.conv3(pool2)
        pool3 = self.pool3(conv3)
        conv4 = self.conv4(pool3)
        flatten = self.flatten(conv4)
        fc = self.fc(flatten)
        return fc


class SiameseNetworkKochEtAl2015(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.left_tower = Tower()
        self.l1 = Abs()
        self.score = nn.Sequential(nn.Linear(4096, 1), nn.Sigmoid())

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        left_tower = self.left_tower(left)
        right_tower = self.left_tower(right)
        diff = left_tower - right_tower
        l1 = self.l1(diff)
        score = self.score(l1)
        return score


if __name__ == "__main__":
    model = SiameseNetworkKochEtAl2015().train(False)  # inference mode
    y = model(*(torch.zeros(1, *s) for s in INPUT_SHAPES.values()))
    params = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__}: output {list(y.shape)}, {params:,} params")
