"""Re-run every ``$ convcalc ...`` example in README.md's console blocks and paste its real output.

    python scripts/update_readme.py          # rewrite README.md
    python scripts/update_readme.py --check  # exit 1 if any example's output is stale

Commands run with COLUMNS=80 and stdout piped (so no colour), stderr merged into the output, and
the exit status shown as ``[exit N]`` when it is not 0. tests/test_readme.py runs the check.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def run(command: str, cwd: Path) -> str:
    argv = shlex.split(command)
    assert argv[0] == "convcalc", command
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    result = subprocess.run(
        [sys.executable, "-m", "convcalc", *argv[1:]],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
    )
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    if result.returncode:
        lines.append(f"[exit {result.returncode}]")
    return "\n".join(lines) + "\n"


def render_block(body: str, cwd: Path) -> str:
    out = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append(line + "\n" + run(line[2:], cwd))
    return "".join(out)


def updated(text: str, cwd: Path) -> str:
    return BLOCK.sub(lambda m: "```console\n" + render_block(m.group(1), cwd) + "```", text)


def main() -> int:
    text = README.read_text(encoding="utf-8")
    new = updated(text, README.parent)
    if "--check" in sys.argv:
        if new != text:
            print("README.md examples are stale: run python scripts/update_readme.py")
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
