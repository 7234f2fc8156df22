"""Start-up benchmark: a shape query, as a ratio against a bare interpreter in the same run.

    python benchmarks/startup.py [--runs 21]

Target (issue 8): `convcalc shape conv2d --in 5 --k 3 --s 2 --json` within 6x `python -c pass`.
Also prints which heavy modules that query imported (none: typer, rich and numpy stay out).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _timing import ENV, entry, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    query = ["shape", "conv2d", "--in", "5", "--k", "3", "--s", "2"]
    report(
        {
            "python -c 'import convcalc'": [sys.executable, "-c", "import convcalc"],
            "convcalc shape ... --json": entry() + query + ["--json"],
            "convcalc shape ... --plain": entry() + query + ["--plain"],
            "convcalc shape ... (table)": entry() + query,
            "convcalc shape ... --k 3x (usage error)": entry() + query + ["--k", "3x"],
            "python -c 'import typer'": [sys.executable, "-c", "import typer"],
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
        },
        args.runs,
    )
    probe = (
        "import sys; from convcalc.entry import main; sys.argv=['convcalc', *sys.argv[1:]]\n"
        "try: main()\nexcept SystemExit: pass\n"
        "print([m for m in ('rich', 'numpy', 'typer') if m in sys.modules], file=sys.stderr)"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe, *query, "--json"], capture_output=True, text=True, env=ENV
    )
    print(f"heavy modules loaded by the --json query: {loaded.stderr.strip()}")


if __name__ == "__main__":
    main()
