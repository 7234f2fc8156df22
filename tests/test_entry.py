"""The start-up fast path of `convcalc shape` (entry.py) answers exactly what the typer app
(cli.py) answers: same stdout, stderr and exit status, over well-formed and broken command lines.
And the layering: core modules import neither typer nor rich."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from convcalc import options

FAST = "from convcalc.entry import main; main()"
TYPER = "from convcalc.cli import main; main()"


def run(code: str, argv: list[str]) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=60
    )
    return result.returncode, result.stdout, result.stderr


def generated_command_lines(count: int) -> list[list[str]]:
    rng = random.Random("fast-path")
    lines = []
    for _ in range(count):
        op = rng.choice(["conv2d", "convtranspose1d", "maxpool2d", "avgpool3d", "deconv2d", "conv"])
        argv = ["shape", op, "--in", rng.choice(["5", "7x9", "1..9", "0", "3x", "2", "10**3"])]
        for flag, values in (
            ("--k", ["3", "2x3", "5", "3x"]),
            ("--s", ["1", "2", "1x2"]),
            ("--p", ["0", "1", "same", "1:2"]),
            ("--d", ["1", "2"]),
            ("--op", ["0", "1"]),
            ("--groups", ["1", "2", "1e3"]),
            ("--cin", ["4", "3"]),
            ("--convention", ["torch", "onnx", "keras", "tf"]),
        ):
            if rng.random() < 0.45:
                value = rng.choice(values)
                argv += [f"{flag}={value}"] if rng.random() < 0.2 else [flag, value]
        argv += rng.choice(
            [[], ["--json"], ["--plain"], ["--format", "json"], ["--format", "csv"], ["--ceil"]]
        )
        lines.append(argv)
    return lines


@pytest.mark.parametrize("argv", generated_command_lines(24))
def test_fast_path_equals_typer(argv: list[str]) -> None:
    assert run(FAST, argv) == run(TYPER, argv)


def generated_net_lines(count: int) -> list[list[str]]:
    rng = random.Random("fast-net")
    unet = os.path.join(os.path.dirname(__file__), "..", "examples", "unet_small.toml")
    lines = []
    for _ in range(count):
        spec = rng.choice([unet, "conv2d k3 c8; maxpool2d k2", "conv2d k9 c4", "conv2d q3", ""])
        argv = ["net", spec]
        if rng.random() < 0.7:
            argv += ["--in", rng.choice(["3,16,16", "3,8..20", "3,64,64", "3x", "3,0..4", "3"])]
        for flag, values in (
            ("--dtype", ["float16", "int8", "float128"]),
            ("--optimizer", ["sgd", "adam", "rmsprop"]),
            ("--near", ["20", "x"]),
            ("--batch", ["2", "0"]),
        ):
            if rng.random() < 0.3:
                argv += [flag, rng.choice(values)]
        argv += rng.choice([[], ["--json"], ["--plain"], ["--check"], ["--format", "csv"]])
        lines.append(argv)
    return lines


def generated_trace_lines(count: int) -> list[list[str]]:
    rng = random.Random("fast-trace")
    lines = []
    for _ in range(count):
        op = rng.choice(["conv2d", "convtranspose2d", "maxpool1d", "conv"])
        argv = ["trace", op, "--x", rng.choice(["1,2;3,4", "arange:4x4", "1,2,3", "1,,2"])]
        if op != "maxpool1d" or rng.random() < 0.3:
            argv += ["--w", rng.choice(["1,0;0,1", "1", "2,1"])]
        for flag, values in (
            ("--s", ["1", "2"]),
            ("--k", ["2", "3"]),
            ("--view", ["auto", "scatter", "im2col", "nope"]),
            ("--at", ["0,0", "9,9"]),
            ("--frame", ["0,0", "1"]),
        ):
            if rng.random() < 0.3:
                argv += [flag, rng.choice(values)]
        argv += rng.choice([[], ["--json"], ["--plain"], ["--format", "svg"], ["--format", "html"]])
        lines.append(argv)
    return lines


@pytest.mark.parametrize("argv", generated_trace_lines(16))
def test_fast_trace_equals_typer(argv: list[str]) -> None:
    """`trace` takes the same fast path (pictures included)."""
    assert run(FAST, argv) == run(TYPER, argv)


@pytest.mark.parametrize("argv", generated_net_lines(16))
def test_fast_net_equals_typer(argv: list[str]) -> None:
    """`net` takes the same fast path: byte for byte what typer answers."""
    assert run(FAST, argv) == run(TYPER, argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["shape", "conv2d", "--in", "5", "--k", "3", "-h"],
        ["shape", "conv2d", "--in", "5", "--kk", "3"],
        ["shape", "conv2d", "--in", "5", "--k", "3", "--k", "5"],
        ["shape", "--in", "5", "--k", "3"],
        ["shape", "conv2d", "conv2d", "--in", "5", "--k", "3"],
        ["shape", "conv2d", "--in", "5", "--k"],
        ["shape", "conv2d", "--in", "5", "--k", "3", "--json=1"],
        ["shape", "conv2d", "--in", "5", "--k", "3", "--format", "yaml"],
    ],
)
def test_unusual_command_lines_go_to_typer(argv: list[str]) -> None:
    assert options.parse_fast(argv[1:], options.SHAPE) is None
    assert run(FAST, argv) == run(TYPER, argv)


def test_missing_input_size_is_the_same_usage_error() -> None:
    """--in is optional in the table (a fold needs none); every other op asks for it, exit 2
    with the usage lines, on both paths."""
    argv = ["shape", "conv2d", "--k", "3"]
    code, out, err = run(FAST, argv)
    assert (code, out, err) == run(TYPER, argv)
    assert code == 2 and "input size (--in)" in err and "Usage:" in err


def test_option_table_builds_the_typer_command() -> None:
    """Every flag of the shape table is an option of the typer command, and nothing else."""
    import typer

    from convcalc.cli import app

    command = typer.main.get_command(app).commands["shape"]  # type: ignore[attr-defined]
    flags = {flag for param in command.params for flag in param.opts if flag.startswith("-")}
    table = {flag for opt in options.SHAPE for flag in opt.flags}
    assert flags - {"-h", "--help"} == table


CORE = [
    "convcalc",
    "convcalc.shapes",
    "convcalc.specs",
    "convcalc.conventions",
    "convcalc.solve",
    "convcalc.network",
    "convcalc.trace",
    "convcalc.reference",
    "convcalc.tensors",
    "convcalc.serialize",
    "convcalc.options",
    "convcalc.output",
    "convcalc.commands",
    "convcalc.entry",
]


def test_core_modules_import_neither_typer_nor_rich() -> None:
    """The layering, proven in a fresh interpreter: rich is for render.py, typer for cli.py."""
    code = (
        "import importlib, sys\n"
        f"for name in {CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in ('typer', 'click', 'rich') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
