"""Sweep benchmark: `shape --in 1..100000`, as ratios against a bare interpreter in one run.

    python benchmarks/sweep.py [--runs 7]

Target (issue 8): the JSON sweep within 30x `python -c pass`. The table summarises (a screenful),
--plain lists every size.
"""

from __future__ import annotations

import argparse

from _timing import entry, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    base = entry() + ["shape", "conv1d", "--in", "1..100000", "--k", "3", "--s", "2"]
    report(
        {
            "shape conv1d --in 1..100000 --json": base + ["--json"],
            "shape conv1d --in 1..100000 --plain": base + ["--plain"],
            "shape conv1d --in 1..100000 (table)": base,
            "... --convention onnx --p same_upper --json": base
            + ["--convention", "onnx", "--p", "same_upper", "--json"],
            "shape conv2d --in 1..100000 --s 3x2 --json": entry()
            + ["shape", "conv2d", "--in", "1..100000", "--k", "3", "--s", "3x2", "--json"],
        },
        args.runs,
    )


if __name__ == "__main__":
    main()
