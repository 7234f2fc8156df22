"""ONNX read benchmark (issue 18): `convcalc net MODEL.onnx --json` over a zoo of models
exported here from torch (weights random, never downloaded), as wall time and peak memory per
file, and as ratios against a bare interpreter in one run.

    python benchmarks/onnx_read.py [--runs 5] [--keep DIR]

Needs torch and onnx (the oracles); the zoo is a VGG16 (553 MB of weights: where reading cost
most), a ResNet-style stack, a MobileNet-style depthwise stack and the U-Net example.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import entry, report

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def zoo(folder: Path) -> dict[str, Path]:
    """Export the models (once per folder)."""
    import warnings

    import torch
    from torch import nn

    warnings.filterwarnings("ignore")
    cfg: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]
    cfg += [512, 512, 512, "M", 512, 512, 512, "M"]
    layers: list[nn.Module] = []
    channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            assert isinstance(v, int)
            layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU(True)]
            channels = v
    vgg16 = nn.Sequential(
        *layers,
        nn.AdaptiveAvgPool2d(7),
        nn.Flatten(),
        nn.Linear(512 * 49, 4096),
        nn.ReLU(True),
        nn.Linear(4096, 4096),
        nn.ReLU(True),
        nn.Linear(4096, 1000),
    )
    stack = nn.Sequential(
        *[
            m
            for c in (64, 128, 256, 512)
            for m in (nn.Conv2d(c // 2 if c > 64 else 3, c, 3, 2, 1), nn.BatchNorm2d(c), nn.ReLU())
        ],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(512, 1000),
    )
    depthwise = nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1),
        *[
            m
            for _ in range(12)
            for m in (nn.Conv2d(32, 32, 3, 1, 1, groups=32), nn.Conv2d(32, 32, 1), nn.ReLU6())
        ],
    )
    paths = {}
    for name, model in (("vgg16", vgg16), ("stack", stack), ("depthwise", depthwise)):
        path = folder / f"{name}.onnx"
        if not path.exists():
            torch.onnx.export(model.eval(), torch.zeros(1, 3, 224, 224), str(path), dynamo=False)
        paths[name] = path
    paths["tiny_unet"] = EXAMPLES / "tiny_unet.onnx"
    return paths


def peak_mib(command: list[str]) -> float:
    """The peak resident memory of one run of ``command``, through a fresh parent."""
    code = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True)
    return int(out.stdout) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="export the zoo here (reused on later runs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        paths = zoo(folder)
        rows = {
            f"net {name}.onnx --json": entry() + ["net", str(p), "--json"]
            for name, p in paths.items()
        }
        report(rows, args.runs)
        for label, command in rows.items():
            print(f"{label:44s} peak {peak_mib(command):8.1f} MiB")


if __name__ == "__main__":
    main()
