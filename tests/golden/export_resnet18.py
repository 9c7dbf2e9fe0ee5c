"""ResNet-18: written by `archcalc export --to pytorch` from resnet18.

Input [3, 224, 224] (channels first, no batch axis). Every row of `archcalc table` is
the submodule of the same name (`model.get_submodule("…")`); fused bn/act are nn.Sequential
members after the layer. Needs only torch."""

from __future__ import annotations

import torch
from torch import nn

INPUT_SHAPE = (3, 224, 224)


class Basic(nn.Module):
    """Used by layer1.0, layer1.1, layer2.1, layer3.1, layer4.1."""

    def __init__(self, conv1_in_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(conv1_in_channels, conv1_in_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(conv1_in_channels),
            nn.ReLU(),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(conv1_in_channels, conv1_in_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(conv1_in_channels),
        )
        self.add = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1 = self.conv1(x)
        conv2 = self.conv2(conv1)
        add = self.add(x + conv2)
        return add


class Basic2(nn.Module):
    """Used by layer2.0, layer3.0, layer4.0."""

    def __init__(self, conv1_in_channels: int, conv1_out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(
                conv1_in_channels,
                conv1_out_channels,
                kernel_size=3,
                stride=2,
                padding=1,
                bias=False,
            ),
            nn.BatchNorm2d(conv1_out_channels),
            nn.ReLU(),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(conv1_out_channels, conv1_out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(conv1_out_channels),
        )
        self.downsample1 = nn.Sequential(
            nn.Conv2d(conv1_in_channels, conv1_out_channels, kernel_size=1, stride=2, bias=False),
            nn.BatchNorm2d(conv1_out_channels),
        )
        self.add = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1 = self.conv1(x)
        conv2 = self.conv2(conv1)
        downsample1 = self.downsample1(x)
        add = self.add(downsample1 + conv2)
        return add


class ResNet18(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        )
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(Basic(conv1_in_channels=64), Basic(conv1_in_channels=64))
        self.layer2 = nn.Sequential(
            Basic2(conv1_in_channels=64, conv1_out_channels=128),
            Basic(conv1_in_channels=128),
        )
        self.layer3 = nn.Sequential(
            Basic2(conv1_in_channels=128, conv1_out_channels=256),
            Basic(conv1_in_channels=256),
        )
        self.layer4 = nn.Sequential(
            Basic2(conv1_in_channels=256, conv1_out_channels=512),
            Basic(conv1_in_channels=512),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(512, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv1 = self.conv1(x)
        maxpool = self.maxpool(conv1)
        layer1 = self.layer1(maxpool)
        layer2 = self.layer2(layer1)
        layer3 = self.layer3(layer2)
        layer4 = self.layer4(layer3)
        avgpool = self.avgpool(layer4)
        fc = self.fc(avgpool)
        return fc


if __name__ == "__main__":
    model = ResNet18().train(False)  # inference mode
    y = model(torch.zeros(1, 3, 224, 224))
    params = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__}: output {list(y.shape)}, {params:,} params")
