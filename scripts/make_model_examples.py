"""Write the model files in examples/ that come from PyTorch: a small U-Net exported to ONNX
(with dynamic height and width) and the printed text of a VGG-11 and a ResNet-18 (torchvision's
layouts).

    python scripts/make_model_examples.py    # needs torch and onnx

The files are committed; this script says how they were made.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


class TinyUNet(nn.Module):
    """Two levels, a ConvTranspose2d up step and two `cat` skips."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Conv2d(3, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 16, 3, padding=1)
        self.bottom = nn.Conv2d(16, 16, 3, padding=1)
        self.up2 = nn.ConvTranspose2d(16, 16, 2, 2)
        self.dec2 = nn.Conv2d(32, 8, 3, padding=1)
        self.up1 = nn.ConvTranspose2d(8, 8, 2, 2)
        self.dec1 = nn.Conv2d(16, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = F.relu(self.enc1(x))
        e2 = F.relu(self.enc2(F.max_pool2d(e1, 2)))
        b = F.relu(self.bottom(F.max_pool2d(e2, 2)))
        d2 = F.relu(self.dec2(torch.cat([e2, self.up2(b)], 1)))
        return self.dec1(torch.cat([e1, self.up1(d2)], 1))


def vgg11() -> nn.Module:
    """torchvision.models.vgg11(weights=None)'s modules (torchvision does not import beside the
    CPU build of torch here)."""
    layers: list[nn.Module] = []
    channels = 3
    for width in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"):
        if width == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(width), 3, padding=1), nn.ReLU(inplace=True)]
            channels = int(width)

    class VGG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(True),
                nn.Dropout(p=0.5),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(p=0.5),
                nn.Linear(4096, 1000),
            )

    return VGG()


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock's modules."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )


class ResNet(nn.Module):
    """torchvision.models.resnet18(weights=None)'s modules."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        planes = 64
        for index, (width, stride) in enumerate(((64, 1), (128, 2), (256, 2), (512, 2)), 1):
            blocks = nn.Sequential(BasicBlock(planes, width, stride), BasicBlock(width, width))
            setattr(self, f"layer{index}", blocks)
            planes = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, 1000)


def main() -> None:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            TinyUNet().eval(),
            torch.zeros(1, 3, 64, 64),
            str(EXAMPLES / "tiny_unet.onnx"),
            dynamo=False,
            input_names=["image"],
            output_names=["mask"],
            dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}, "mask": {0: "N", 2: "H", 3: "W"}},
        )
    (EXAMPLES / "vgg11_print.txt").write_text(str(vgg11()) + "\n")
    (EXAMPLES / "resnet18_print.txt").write_text(str(ResNet()) + "\n")


if __name__ == "__main__":
    main()
