"""Trace benchmark: a table trace costs what it shows, as ratios against a bare interpreter and
against a 6x6 trace, all timed in one run.

    python benchmarks/trace.py [--runs 5]

Targets (issue 8): a 600x600 table trace within 3x the time of a 6x6 one, memory flat; --at on
any size in milliseconds (beyond start-up). Peak memory (max RSS) is printed per command.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _timing import ENV, entry, median_ms, report


def max_rss_mb(command: list[str]) -> float:
    """Peak memory of one run: measured by a fresh wrapper process, whose only child it is."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, env=ENV
    )
    return int(out.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    conv = entry() + ["trace", "conv2d", "--w", "ones:3x3"]
    rows = {
        "trace conv2d 6x6 (table)": conv + ["--x", "arange:6x6"],
        "trace conv2d 600x600 (table)": conv + ["--x", "arange:600x600"],
        "trace conv2d 1000x1000 --at 5,5": conv + ["--x", "arange:1000x1000", "--at", "5,5"],
        "trace conv2d 600x600 --plain": conv + ["--x", "arange:600x600", "--plain"],
        "trace convtranspose2d s=100000 --at": entry()
        + ["trace", "convtranspose2d", "--x", "ones:10x10", "--w", "ones:3x3", "--s", "100000"]
        + ["--at", "100000,200001"],
        "trace conv2d 32x32x3 -> 16 filters --json": entry()
        + ["trace", "conv2d", "--x", "arange:3x32x32", "--w", "ones:16x3x3x3", "--p", "1"]
        + ["--json"],
    }
    report(rows, args.runs)
    small, _, _ = median_ms(rows["trace conv2d 6x6 (table)"], args.runs)
    large, _, _ = median_ms(rows["trace conv2d 600x600 (table)"], args.runs)
    print(f"600x600 table trace / 6x6 table trace: {large / small:.2f}x (target: within 3x)")
    for label, command in rows.items():
        print(f"max RSS {label:44s} {max_rss_mb(command):7.0f} MB")
    print(f"(python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
