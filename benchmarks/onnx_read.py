"""ONNX read benchmark (issue 18): `convcalc net MODEL.onnx --json` over a zoo of models
exported here from torch (weights random, never downloaded), as wall time and peak memory per
file, and as ratios against a bare interpreter in one run.

    python benchmarks/onnx_read.py [--runs 5] [--keep DIR]

Needs torch and onnx (the oracles); the zoo is a VGG16 (553 MB of weights: where reading cost
most), a ResNet-style stack, a MobileNet-style depthwise stack and the U-Net example.

Against a peer profiler, over a folder of ONNX files (your own zoo: timm, torchvision, smp
exports), paired and interleaved so that the machine's drift falls on both alike:

    python benchmarks/onnx_read.py --zoo DIR --peer /path/to/venv/bin/python [--runs 5]

The peer is onnx-tool (`pip install onnx-tool` in that venv), whose `model_profile` reads a
file and prints its per-node table; convcalc runs as users run it, the table at 80 columns and
`--json`. Printed: each file's median times and ratio, then the median ratio over the files.
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


PEER = (
    "import contextlib, io, sys, onnx_tool\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    onnx_tool.model_profile(sys.argv[1])\n"
)


def against_peer(folder: Path, peer: str, runs: int) -> None:
    """Each file of ``folder``: convcalc's table and JSON against the peer, runs interleaved."""
    import statistics
    import time

    from _timing import ENV, machine_state

    def once(command: list[str]) -> float:
        start = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        return time.perf_counter() - start

    files = sorted(folder.glob("*.onnx"))
    print(machine_state())
    print(f"{'file':34s} {'table':>7s} {'json':>7s} {'peer':>7s}  table/peer json/peer")
    ratios: dict[str, list[float]] = {"table": [], "json": []}
    for path in files:
        commands = {
            "table": entry() + ["net", str(path)],
            "json": entry() + ["net", str(path), "--json"],
            "peer": [peer, "-c", PEER, str(path)],
        }
        for command in commands.values():  # warm the file cache and the bytecode
            once(command)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, command in commands.items():
                times[name].append(once(command))
        med = {name: statistics.median(t) for name, t in times.items()}
        for name in ratios:
            ratios[name].append(med[name] / med["peer"])
        print(
            f"{path.name[:34]:34s} {med['table']:7.3f} {med['json']:7.3f} {med['peer']:7.3f}"
            f"  {med['table'] / med['peer']:10.2f} {med['json'] / med['peer']:9.2f}"
        )
    for name, values in ratios.items():
        print(
            f"{name} / peer over {len(values)} files: median {statistics.median(values):.2f}, "
            f"worst {max(values):.2f}, best {min(values):.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="export the zoo here (reused on later runs)")
    parser.add_argument("--zoo", type=Path, help="a folder of ONNX files, timed against --peer")
    parser.add_argument("--peer", help="a Python with onnx-tool installed")
    args = parser.parse_args()
    if args.zoo is not None or args.peer is not None:
        if args.zoo is None or args.peer is None:
            parser.error("--zoo and --peer go together")
        against_peer(args.zoo, args.peer, args.runs)
        return
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
