"""Shared timing for the benchmarks: median wall time of a command, as a ratio against a bare
interpreter (``python -c pass``) timed in the same run, with the machine state printed."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# Measure what a user's machine does: bytecode caches written and reused. (Some sandboxes set
# PYTHONDONTWRITEBYTECODE, which recompiles every module on every start.)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["COLUMNS"] = "80"


def entry() -> list[str]:
    """The console script next to this interpreter (not a pyenv shim, which adds its own cost)."""
    script = Path(sys.executable).parent / "convcalc"
    return [str(script)] if script.exists() else [sys.executable, "-m", "convcalc"]


def median_ms(command: list[str], runs: int) -> tuple[float, float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
        )
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times), max(times)


def machine_state() -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return (
        f"machine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} "
        f"{load[2]:.2f}; python {sys.version.split()[0]}; bytecode caches on"
    )


def report(rows: dict[str, list[str]], runs: int) -> None:
    """Time a bare interpreter, then each command; print medians and ratios."""
    for _ in range(3):  # warm the file cache and write the bytecode
        for command in rows.values():
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    bare, _, _ = median_ms([sys.executable, "-c", "pass"], runs)
    print(machine_state())
    print(f"{'python -c pass':44s} median {bare:8.1f} ms   1.0x")
    for label, command in rows.items():
        med, low, high = median_ms(command, runs)
        print(
            f"{label:44s} median {med:8.1f} ms {med / bare:5.1f}x  (min {low:.1f}, max {high:.1f})"
        )
