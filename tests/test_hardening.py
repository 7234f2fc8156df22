"""Issue 8: a tool people put in scripts. Malformed input is exit 2 with the accepted forms,
ordinary bad input never an "internal error", a closed pipe is not a failure, a full disk is one
line, and no input eats the machine. Real processes where pipes and file descriptors matter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def convcalc(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **kwargs,  # type: ignore[arg-type]
    )


# --- 2. malformed input ---------------------------------------------------------------------

MALFORMED = ["3x", "x3", "5,,5", "2.5", "1e3", "+3", "3 x", "(3", "٣", "3_0", "0xA", ""]


@pytest.mark.parametrize("value", MALFORMED)
@pytest.mark.parametrize("option", ["--in", "--k", "--s", "--d", "--p", "--op"])
def test_size_options_accept_only_documented_forms(
    runner: CliRunner, option: str, value: str
) -> None:
    """Every size option: exit 2, the option named, the accepted forms said; never a result."""
    args = {"--in": "5", "--k": "3", "--s": "1", "--d": "1", "--p": "0", "--op": "0"}
    args[option] = value
    op = "convtranspose2d" if option == "--op" else "conv2d"
    argv = ["shape", op] + [a for pair in args.items() for a in pair]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2, (argv, result.stdout)
    assert f"(--{option[2:]})" in result.stderr, result.stderr
    assert "one integer, or one per dimension" in result.stderr or "before:after" in (
        result.stderr
    ), result.stderr
    as_json = runner.invoke(app, [*argv, "--json"])
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["exit_code"] == 2


@pytest.mark.parametrize("value", ["1e3", "2.5", "3x", "+3", "0", "-1"])
@pytest.mark.parametrize(
    "argv",
    [
        ["shape", "conv2d", "--in", "5", "--k", "3", "--groups"],
        ["shape", "conv2d", "--in", "5", "--k", "3", "--batch"],
        ["shape", "conv2d", "--in", "5", "--k", "3", "--cin"],
        ["solve", "conv2d", "--in", "8", "--out", "4", "--k"],
        ["solve", "conv2d", "--in", "8", "--out", "4", "--k-max"],
    ],
)
def test_integer_options_are_strict(runner: CliRunner, argv: list[str], value: str) -> None:
    """Integer options take digits only; zero and negative are malformed (exit 2) like sizes."""
    result = runner.invoke(app, [*argv, value])
    assert result.exit_code == 2, result.stdout
    assert argv[-1] in result.stderr


def test_zero_and_negative_sizes_are_malformed_everywhere(runner: CliRunner) -> None:
    """One rule: a size that must be positive given as 0 or less is exit 2, in every command and
    in net's inline tokens and TOML values."""
    for argv in (
        ["shape", "conv2d", "--in", "0", "--k", "3"],
        ["shape", "conv2d", "--in", "5", "--k", "0"],
        ["shape", "conv2d", "--in", "5", "--k", "3", "--s", "-1"],
        ["shape", "conv2d", "--in", "5", "--k", "3", "--p", "-1"],
        ["solve", "conv2d", "--in", "0", "--out", "3"],
        ["invert", "conv2d", "--in", "5", "--k", "0"],
        ["trace", "conv2d", "--x", "arange:0x3", "--w", "1"],
        ["net", "--in", "3,0,8", "conv2d k3 c8"],
        ["net", "--in", "3,8,8", "conv2d k0 c8"],
        ["net", "--in", "3,8,8", "conv2d k3 c0"],
    ):
        result = runner.invoke(app, argv)
        assert result.exit_code == 2, (argv, result.stdout, result.stderr)


@pytest.mark.parametrize("token", ["k3x", "kx3", "k5,,5", "k2.5", "s1e3", "c8x"])
def test_net_inline_tokens_are_strict(runner: CliRunner, token: str) -> None:
    result = runner.invoke(app, ["net", "--in", "3,16,16", f"conv2d k3 c8 {token}"])
    assert result.exit_code == 2 and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "line",
    [
        "kernel_size = 2.5",
        'kernel_size = "3x"',
        "groups = 1.5",
        "groups = true",
        'bias = "false"',
        "out_channels = 0",
        "stride = [1, 0]",
    ],
)
def test_net_toml_values_are_strict(tmp_path: Path, runner: CliRunner, line: str) -> None:
    spec = tmp_path / "net.toml"
    layer = {"kernel_size": "3", "out_channels": "8"}
    key = line.split("=")[0].strip()
    layer.pop(key, None)
    body = "\n".join(f"{k} = {v}" for k, v in layer.items())
    spec.write_text(f'input = [3, 16, 16]\n[[layer]]\nlayer = "conv2d"\n{body}\n{line}\n')
    result = runner.invoke(app, ["net", str(spec)])
    assert result.exit_code == 2, (line, result.stdout)
    assert key in result.stderr


def test_toml_expect_takes_the_inline_shape_form(tmp_path: Path, runner: CliRunner) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text(
        'input = [3, 58, 58]\n[[layer]]\nlayer = "conv2d"\nkernel_size = 3\nout_channels = 64\n'
        'expect = "64x56x56"\n'
    )
    result = runner.invoke(app, ["net", str(spec), "--check", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["layers"][0]["expect_ok"] is True


def test_huge_numbers_are_refused_not_crashed() -> None:
    """A 5,000-digit size (Python refuses to read 4,300) and a 1e999999999 data value."""
    digits = "9" * 5000
    for argv in (
        ["shape", "conv2d", "--in", digits, "--k", "3"],
        ["shape", "conv2d", "--in", "5", "--k", "3", "--groups", digits],
        ["net", "--in", f"3,{digits},8", "conv2d k3 c8"],
        ["trace", "conv1d", "--x", "[1e999999999]", "--w", "1"],
        ["trace", "conv1d", "--x", f"[{digits}]", "--w", "1"],
    ):
        result = convcalc(*argv)
        assert result.returncode == 2, (argv[:3], result.stderr)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()[-1]) < 300


def test_exact_at_ten_to_the_twenty(runner: CliRunner) -> None:
    result = runner.invoke(app, ["shape", "conv1d", "--in", str(10**20), "--k", "3", "--plain"])
    assert result.stdout.strip() == str(10**20 - 2)


# --- 2. ordinary bad input is not an internal error ------------------------------------------


def test_binary_spec_file(tmp_path: Path) -> None:
    spec = tmp_path / "model.toml"
    spec.write_bytes(b"\xff\xfe\x00\x81binary")
    result = convcalc("net", str(spec))
    assert result.returncode == 2 and "not a UTF-8 text file" in result.stderr
    as_json = convcalc("net", str(spec), "--json")
    assert json.loads(as_json.stdout)["exit_code"] == 2


def test_binary_tensor_file_and_stdin(tmp_path: Path) -> None:
    data = tmp_path / "x.json"
    data.write_bytes(b"\xff\xfe\x00\x81")
    result = convcalc("trace", "conv1d", "--x", f"@{data}", "--w", "1")
    assert result.returncode == 2 and "UTF-8" in result.stderr
    piped = convcalc("trace", "conv1d", "--x", "-", "--w", "1", input="\x00\x01")
    assert piped.returncode == 2 and "internal error" not in piped.stderr


def test_closed_stdin() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convcalc", "trace", "conv2d", "--x", "-", "--w", "1"],
        stdin=subprocess.DEVNULL if False else None,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(0),
    )
    assert result.returncode == 2, result.stderr
    assert "standard input is closed" in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "argv",
    [
        ["shape", "conv2d", "--in", "5", "--k", "3", "--json"],
        ["shape", "conv2d", "--in", "5", "--k", "3"],
        ["net", str(EXAMPLES / "vgg16_features.toml")],
    ],
)
def test_full_disk_is_one_line(argv: list[str]) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "convcalc", *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0], result.stderr


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["net", str(EXAMPLES / "vgg16_features.toml")], 0),
        (["net", str(EXAMPLES / "vgg16_features.toml"), "--format", "csv"], 0),
        (["shape", "conv1d", "--in", "1..100000", "--k", "3", "--plain"], 0),
        (["trace", "conv2d", "--x", "arange:30x30", "--w", "ones:3x3", "--json"], 0),
        (["net", "--in", "3,8,8", "conv2d k3 c8 expect=1x1x1 -> relu", "--check"], 1),
    ],
)
def test_closed_pipe_keeps_the_exit_status(argv: list[str], code: int) -> None:
    """`set -o pipefail; convcalc ... | head -1`: a reader that stops early is not a failure
    (exit 0), and a failed --check still exits 1. Five runs each: the race is the point."""
    for _ in range(5):
        with subprocess.Popen(
            [sys.executable, "-m", "convcalc", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "COLUMNS": "80"},
        ) as process:
            assert process.stdout is not None and process.stderr is not None
            process.stdout.readline()
            process.stdout.close()
            stderr = process.stderr.read().decode()
            assert process.wait(timeout=60) == code, stderr
        assert "Traceback" not in stderr and "BrokenPipe" not in stderr


# --- 2. messages that say what is wrong ------------------------------------------------------


def test_output_size_out_of_reach_says_which_sizes_are(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        ["shape", "convtranspose2d", "--in", "32", "--k", "3", "--s", "2", "--p", "1"]
        + ["--output-size", "65"],
    )
    assert result.exit_code == 1
    assert "63..64" in result.stderr and "output_padding: 2" not in result.stderr


def test_invert_of_transposed_conv_gives_no_output_size_advice(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["invert", "convtranspose2d", "--in", "32", "--k", "3", "--s", "2", "--p", "1"]
    )
    assert result.exit_code == 0
    assert "output_size=" not in result.stdout and "Conv2d takes no" in " ".join(
        result.stdout.split()
    )
    conv = runner.invoke(app, ["invert", "conv2d", "--in", "7", "--k", "3", "--s", "2"])
    assert "ConvTranspose2d(...)(x, output_size=[7, 7])" in " ".join(conv.stdout.split())


def test_unknown_net_layer_lists_every_layer(runner: CliRunner) -> None:
    result = runner.invoke(app, ["net", "--in", "3,8,8", "conv2d k3 c8; swizzle"])
    assert result.exit_code == 2
    for name in ("conv1d/2d/3d", "batchnorm1d/2d/3d", "linear", "flatten", "upsample", "relu"):
        assert name in result.stderr


@pytest.mark.parametrize("spec", ["missing.toml", "models/missing.txt", "missing.onnx"])
def test_missing_spec_file(runner: CliRunner, spec: str) -> None:
    result = runner.invoke(app, ["net", spec])
    assert result.exit_code == 2 and "no such file" in result.stderr
    assert "input shape" not in result.stderr


def test_empty_spec(runner: CliRunner) -> None:
    result = runner.invoke(app, ["net", ""])
    assert result.exit_code == 2 and "empty" in result.stderr and "directory" not in result.stderr


def test_exit_status_three_is_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "**3**" in readme and "internal error" in readme


# --- 3. no input may eat the machine ---------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["trace", "conv2d", "--x", "arange:2000x2000", "--w", "ones:3x3"],
        ["trace", "convtranspose2d", "--x", "ones:10x10", "--w", "ones:3x3", "--s", "100000"],
        ["trace", "conv2d", "--x", "ones:1000x1000", "--w", "ones:3x3", "--json"],
    ],
)
def test_huge_traces_are_refused_up_front(argv: list[str]) -> None:
    start = time.perf_counter()
    result = convcalc(*argv)
    assert result.returncode == 2, result.stderr
    message = json.loads(result.stdout)["error"] if "--json" in argv else result.stderr
    assert "--at" in message and "--max-steps" in message
    assert time.perf_counter() - start < 20


def test_big_npy_is_refused_before_reading(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    path = tmp_path / "big.npy"
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(2000, 2000)).flush()
    result = convcalc("trace", "conv2d", "--x", f"@{path}", "--w", "ones:3x3")
    assert result.returncode == 2 and "1,000,000" in result.stderr


def test_at_on_a_huge_layer_is_one_element(runner: CliRunner) -> None:
    """--at computes the one element: a 1000x1000 input and a 100000-stride transposed conv."""
    result = runner.invoke(
        app, ["trace", "conv2d", "--x", "arange:1000x1000", "--w", "ones:3x3", "--at", "5,5"]
    )
    assert result.exit_code == 0, result.stderr
    assert " ".join(result.stdout.split()).count("│ [5,5] │") == 1
    # x[5:8, 5:8] of arange (1-based, row-major, 1000 wide)
    expected = sum((i * 1000 + j + 1) for i in range(5, 8) for j in range(5, 8))
    data = json.loads(
        runner.invoke(
            app,
            ["trace", "conv2d", "--x", "arange:1000x1000", "--w", "ones:3x3", "--at", "5,5"]
            + ["--json"],
        ).stdout
    )
    assert data["steps"][0]["value"] == expected and data["output"] is None
    assert data["steps_total"] == 998 * 998
    far = runner.invoke(
        app,
        ["trace", "convtranspose2d", "--x", "ones:10x10", "--w", "ones:3x3", "--s", "100000"]
        + ["--at", "100000,200001", "--json"],
    )
    assert far.exit_code == 0, far.stderr
    assert json.loads(far.stdout)["steps"][0]["value"] == 1


def test_table_trace_shows_what_it_computes(runner: CliRunner) -> None:
    result = runner.invoke(app, ["trace", "conv2d", "--x", "arange:600x600", "--w", "ones:3x3"])
    assert result.exit_code == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert f"{598 * 598 - 64:,} more step(s) not shown" in text
    assert "too large to draw (--plain prints the output values" in text


def test_json_steps_are_capped_but_max_steps_chooses(runner: CliRunner) -> None:
    args = ["trace", "conv2d", "--x", "ones:700x700", "--w", "ones:3x3", "--json"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "--max-steps" in json.loads(refused.stdout)["error"]
    some = json.loads(runner.invoke(app, [*args, "--max-steps", "3"]).stdout)
    assert len(some["steps"]) == 3 and some["steps_total"] == 698 * 698
    assert some["output"][0][:2] == [9, 9]
