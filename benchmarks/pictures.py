"""Picture benchmark (issue 12): a 32x32 trace as an HTML page, as ratios against a bare
interpreter in one run; `import numpy` alone is timed beside it, since a trace needs it.

    python benchmarks/pictures.py [--runs 7]

Target: the 32x32 trace page within 10x `python -c pass`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _timing import entry, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    out = str(Path(tempfile.mkdtemp()) / "page.html")
    trace = entry() + ["trace", "conv2d", "--w", "arange:3x3", "-o", out]
    report(
        {
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
            "trace conv2d 32x32 --format html": trace + ["--x", "arange:32x32", "--format", "html"],
            "trace conv2d 6x6 --format html": trace + ["--x", "arange:6x6", "--format", "html"],
            "trace conv2d 32x32 --format svg": trace + ["--x", "arange:32x32", "--format", "svg"],
            "shape conv2d --in 32 --format svg": entry()
            + ["shape", "conv2d", "--in", "32", "--k", "3", "--format", "svg", "-o", out],
        },
        args.runs,
    )


if __name__ == "__main__":
    main()
