"""Valid-input-size benchmark (issue 10): `net examples/unet.toml --in 3,16..1024`, as ratios
against a bare interpreter in one run.

    python benchmarks/net_sizes.py [--runs 7]

Target: the U-Net over 16..1024 (1009 sizes, 67 layers each) within 30x `python -c pass`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _timing import entry, report

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    unet = entry() + ["net", str(EXAMPLES / "unet.toml")]
    resnet = entry() + ["net", str(EXAMPLES / "resnet18.toml")]
    report(
        {
            "net unet.toml --in 3,16..1024 --json": unet + ["--in", "3,16..1024", "--json"],
            "net unet.toml --in 3,16..1024 (table)": unet + ["--in", "3,16..1024"],
            "net unet.toml --in 3,16..1024 --plain": unet + ["--in", "3,16..1024", "--plain"],
            "net unet.toml --near 1000": unet + ["--in", "3", "--near", "1000"],
            "net resnet18.toml --in 3,32..1024 --json": resnet + ["--in", "3,32..1024", "--json"],
            "net unet.toml (one size, table)": unet,
            "net resnet18.toml --json (one size)": resnet + ["--json"],
        },
        args.runs,
    )


if __name__ == "__main__":
    main()
