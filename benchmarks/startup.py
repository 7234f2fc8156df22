"""Start-up benchmark: median wall time of a shape query against a bare interpreter.

    python benchmarks/startup.py [--runs 21]

Prints one line per command with the median and the spread, and which heavy modules the
shape query imported. Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Measure what a user's machine does: bytecode caches written and reused. (Some sandboxes set
# PYTHONDONTWRITEBYTECODE, which recompiles every module on every start.)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_ms(command: list[str], runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
        )
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    python = sys.executable
    # The console script next to this interpreter (not a pyenv shim, which adds its own cost).
    script = Path(python).parent / "convcalc"
    entry = [str(script)] if script.exists() else [python, "-m", "convcalc"]
    query = ["shape", "conv2d", "--in", "5", "--k", "3", "--s", "2", "--json"]
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "python -c 'import convcalc'": [python, "-c", "import convcalc"],
        "convcalc shape ... --json": entry + query,
        "convcalc shape ... (table)": entry + query[:-1],
        "python -c 'import numpy'": [python, "-c", "import numpy"],
    }
    for _ in range(3):  # warm the file cache
        subprocess.run(entry + query, stdout=subprocess.DEVNULL, check=True, env=ENV)
    base = None
    for label, command in commands.items():
        med, low, high = median_ms(command, args.runs)
        base = med if base is None else base
        print(
            f"{label:32s} median {med:6.1f} ms  (min {low:6.1f}, max {high:6.1f}, "
            f"+{med - base:5.1f} ms over bare python)"
        )
    probe = (
        "import sys; from convcalc.entry import main; sys.argv=['convcalc', *sys.argv[1:]]\n"
        "try: main()\nexcept SystemExit: pass\n"
        "print([m for m in ('rich', 'numpy', 'typer') if m in sys.modules], file=sys.stderr)"
    )
    loaded = subprocess.run([python, "-c", probe, *query], capture_output=True, text=True, env=ENV)
    print(f"heavy modules loaded by the --json query: {loaded.stderr.strip()}")
    print(
        f"entry point: {' '.join(entry)}; runs: {args.runs}; "
        f"hyperfine available: {bool(shutil.which('hyperfine'))}"
    )


if __name__ == "__main__":
    main()
