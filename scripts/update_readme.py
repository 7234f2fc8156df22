"""Re-run every ``$ convcalc ...`` example in README.md's console blocks and paste its real output.

    python scripts/update_readme.py          # rewrite README.md
    python scripts/update_readme.py --check  # exit 1 if any example's output is stale

Commands run with COLUMNS=80 and stdout piped (so no colour), stderr merged into the output, and
the exit status shown as ``[exit N]`` when it is not 0. tests/test_readme.py runs the check. An
example that reads an .onnx file keeps its pasted output where the onnx extra is not installed.
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


def pasted(body: str) -> dict[str, str]:
    """The output pasted under each command of a block, by command."""
    outputs: dict[str, str] = {}
    command = None
    for line in body.splitlines(keepends=True):
        if line.startswith("$ "):
            command = line[2:].rstrip("\n")
            outputs[command] = ""
        elif command is not None:
            outputs[command] += line
    return outputs


def needs_missing_extra(command: str) -> bool:
    """An example reading ONNX needs the onnx extra; without it the pasted output stands."""
    import importlib.util

    return ".onnx" in command and importlib.util.find_spec("onnx") is None


def render_block(body: str, cwd: Path) -> str:
    out = []
    before = pasted(body)
    for line in body.splitlines():
        if line.startswith("$ "):
            command = line[2:]
            output = before[command] if needs_missing_extra(command) else run(command, cwd)
            out.append(line + "\n" + output)
    return "".join(out)


PICTURE = re.compile(r"<!-- picture: (?P<path>\S+): (?P<command>convcalc [^\n]*?) -->")


def pictures(text: str, cwd: Path) -> dict[Path, str]:
    """The committed pictures the README shows (``<!-- picture: FILE: convcalc ... -->``), each
    as its command draws it now."""
    return {
        cwd / match.group("path"): run(match.group("command"), cwd)
        for match in PICTURE.finditer(text)
    }


def updated(text: str, cwd: Path) -> str:
    return BLOCK.sub(lambda m: "```console\n" + render_block(m.group(1), cwd) + "```", text)


def main() -> int:
    text = README.read_text(encoding="utf-8")
    new = updated(text, README.parent)
    drawn = pictures(text, README.parent)
    if "--check" in sys.argv:
        if new != text:
            print("README.md examples are stale: run python scripts/update_readme.py")
            return 1
        for path, picture in drawn.items():
            if not path.exists() or path.read_text(encoding="utf-8") != picture:
                print(f"{path.name} is stale: run python scripts/update_readme.py")
                return 1
        return 0
    README.write_text(new, encoding="utf-8")
    for path, picture in drawn.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(picture, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
