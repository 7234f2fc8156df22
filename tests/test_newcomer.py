"""Issue 19: what a newcomer hit. Gates that pass on nothing, --check reasons on stderr, pictures
that show nothing without animation, completion, messages, op names, word-boundary tables, and
trace --json streamed in bounded memory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_hardening import convcalc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


# --- gates that pass on nothing ------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    ["", "\n\n", "# only a comment\n", "input = [3, 8, 8]\n"],
    ids=["empty", "blank", "comment", "input-only"],
)
def test_a_spec_without_layers_exits_2(content: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(content)
    for extra in ([], ["--check"], ["--json"]):
        result = convcalc("net", str(spec), "--in", "3,8,8", *extra)
        assert result.returncode == 2, (content, extra, result.stdout)
        assert "spec.toml" in (result.stderr + result.stdout)


def test_empty_stdin_exits_2() -> None:
    result = convcalc("net", "-", "--check", input="")
    assert result.returncode == 2 and "standard input is empty" in result.stderr


def test_failed_check_says_why_on_stderr_in_every_format(tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(
        'input = [3, 16, 16]\n[[layer]]\nlayer = "conv2d"\nout_channels = 4\nkernel_size = 3\n'
        "expect = [4, 16, 16]\n"
    )
    for fmt in ([], ["--plain"], ["--json"], ["--format", "csv"], ["--format", "markdown"]):
        result = convcalc("net", str(spec), "--check", *fmt)
        assert result.returncode == 1
        assert "expect failed: layer 1" in result.stderr, fmt
        assert result.stdout  # the result itself stays on stdout


def test_failed_sweep_check_says_why_on_stderr() -> None:
    result = convcalc("net", str(EXAMPLES / "unet.toml"), "--in", "3,16..40", "--check")
    assert result.returncode == 1
    assert "check failed: 23 of 25 input sizes fail; the first, 3x17x17" in result.stderr
    near = convcalc("net", str(EXAMPLES / "unet.toml"), "--in", "3", "--near", "100", "--check")
    assert near.returncode == 1 and "100 is not valid" in near.stderr


# --- pictures ------------------------------------------------------------------------------------


def _static(svg: str) -> str:
    """The SVG as a viewer without animation sees it: animate elements dropped, hidden groups
    removed."""
    svg = re.sub(r"<animate [^>]*/>", "", svg)
    return re.sub(r'<g [^>]*visibility="hidden"[^>]*>.*?</g>', "", svg, flags=re.S)


def test_svg_without_animation_is_the_finished_figure() -> None:
    """The seed-000 trace: every output value is in the still document (411 first), the last
    window drawn, and the animation plays over it."""
    result = convcalc(
        "trace", "conv2d", "--x", "arange:5x5", "--w", "arange:3x3", "--format", "svg"
    )
    assert result.returncode == 0
    still = _static(result.stdout)
    for value in ("411", "456", "501", "636", "681", "726", "861", "906", "951"):
        assert f">{value}</text>" in still
    assert 'class="now"' in still  # the last window stands
    assert "<animate " in result.stdout  # and it still animates


def test_legend_lists_only_what_is_drawn() -> None:
    plain = convcalc("shape", "conv2d", "--in", "5", "--k", "3", "--format", "svg").stdout
    assert ">padding</text>" not in plain and "padding dashed" not in plain
    padded = convcalc("shape", "conv2d", "--in", "5", "--k", "3", "--p", "1", "--format", "svg")
    assert ">padding</text>" in padded.stdout
    transposed = convcalc(
        "shape", "convtranspose1d", "--in", "4", "--k", "3", "--s", "2", "--format", "svg"
    )
    assert ">inserted zero</text>" in transposed.stdout


def test_frame_needs_a_picture() -> None:
    result = convcalc("shape", "conv2d", "--in", "5", "--k", "3", "--frame", "1,1")
    assert result.returncode == 2 and "add --format svg" in result.stderr


def test_long_network_picture_is_laid_out_in_columns() -> None:
    result = convcalc("net", str(EXAMPLES / "resnet18.toml"), "--format", "svg")
    match = re.search(r'width="(\d+)" height="(\d+)"', result.stdout)
    assert match is not None
    width, height = int(match.group(1)), int(match.group(2))
    assert height < 2000 and width / height < 3  # was 780 x 4150


# --- completion and messages ---------------------------------------------------------------------


def complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_CONVCALC_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    result = subprocess.run(
        [sys.executable, "-m", "convcalc"], capture_output=True, text=True, env=env, timeout=60
    )
    return result.stdout.split()


def test_completion_offers_ops_and_each_commands_formats() -> None:
    assert "conv2d" in complete("convcalc shape con")
    assert "maxpool1d" in complete("convcalc trace max")
    offered = complete("convcalc shape conv2d --format ")
    assert offered == ["table", "json", "plain", "svg"]
    assert {"toml", "torch"} <= set(complete("convcalc net spec.toml --format "))


def test_near_miss_short_flag_is_suggested() -> None:
    result = convcalc("shape", "conv2d", "--in", "5", "-k", "3")
    assert result.returncode == 2 and "did you mean --k?" in result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [("--s", "0", "stride (--s)"), ("--d", "0", "dilation (--d)"), ("--k", "0", "(--k)")],
)
def test_every_size_message_names_its_flag(flag: str, value: str, named: str) -> None:
    args = {"--in": "5", "--k": "3", flag: value}
    result = convcalc("shape", "conv2d", *[a for pair in args.items() for a in pair])
    assert result.returncode == 2 and named in result.stderr


def test_a_sweep_of_two_ranges_is_explained() -> None:
    result = convcalc("shape", "conv2d", "--in", "1..1000x1..1000", "--k", "3")
    assert result.returncode == 2 and "a sweep takes one range" in result.stderr


@pytest.mark.parametrize(
    ("name", "content", "said"),
    [
        ("hello.txt", b"hello world\n", "it begins 'hello world'"),
        ("model.bin", b"\x08\x07\x12\x07pytorch\x00\x00", "ONNX model without the .onnx"),
        ("model.pt", b"PK\x03\x04rest", "a zip archive"),
        ("weights.h5", b"\x89HDF\r\n", "an HDF5 file"),
    ],
)
def test_each_file_type_is_named(name: str, content: bytes, said: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = convcalc("net", str(path))
    assert result.returncode == 2 and said in result.stderr
    assert "convcalc net reads a TOML spec" in result.stderr
    assert "Usage:" not in result.stderr


@pytest.mark.parametrize(
    ("op", "out"),
    [
        ("Conv2DTranspose", "9x9"),  # Keras
        ("conv2d_transpose", "9x9"),  # TensorFlow
        ("ConvTranspose2d", "9x9"),  # PyTorch
        ("MaxPooling2D", "4x4"),
        ("MaxPool2D", "4x4"),
        ("AveragePooling1D", "4"),
        ("AveragePool", "4"),  # ONNX (dimensions from --in)
    ],
)
def test_op_names_of_every_framework(op: str, out: str) -> None:
    sizes = "8" if out.count("x") == 0 else "8x8"
    result = convcalc("shape", op, "--in", sizes, "--k", "2", "--plain")
    assert result.returncode == 0 and result.stdout.strip() == out, result.stderr


def test_no_silent_prefix_completion() -> None:
    result = convcalc("shape", "conv2", "--in", "8", "--k", "3")
    assert result.returncode == 2 and "did you mean conv2d?" in result.stderr


def test_compare_piped_says_differs_without_colour_words() -> None:
    result = convcalc("compare", "conv1d", "--in", "10", "--k", "3", "--s", "2", "--p", "1")
    assert "yellow" not in result.stdout
    differing = convcalc("compare", "maxpool1d", "--in", "9", "--k", "2", "--ceil")
    assert "yellow" not in differing.stdout and "*: differs from torch" in differing.stdout


def test_tables_fold_at_word_boundaries() -> None:
    result = convcalc("net", str(EXAMPLES / "unet.toml"))
    assert "convtranspose2d" in result.stdout
    assert "convtranspo\n" not in result.stdout and "│ se2d" not in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines())


# --- trace --json streams ------------------------------------------------------------------------


def test_trace_json_streams_in_bounded_memory(tmp_path: Path) -> None:
    """800k multiply-accumulates, 88 MB of JSON: the same bytes as the whole object written at
    once, under 300 MB, and faster than Python reading and rewriting that JSON."""
    out = tmp_path / "trace.json"
    argv = ["trace", "conv2d", "--x", "arange:300x300", "--w", "ones:3x3", "--json"]
    # a fresh process runs convcalc, so that its children's peak is convcalc's alone
    measure = (
        "import resource, subprocess, sys, time\n"
        "start = time.monotonic()\n"
        "with open(sys.argv[1], 'wb') as out:\n"
        "    subprocess.run([sys.executable, '-m', 'convcalc', *sys.argv[2:]], stdout=out,"
        " check=True)\n"
        "print(time.monotonic() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", measure, str(out), *argv],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seconds, peak_kib = process.stdout.split()
    ours = float(seconds)
    assert int(peak_kib) < 300 * 1024, peak_kib
    started = time.monotonic()
    data = json.loads(out.read_text())
    (tmp_path / "again.json").write_text(json.dumps(data, separators=(",", ":")))
    round_trip = time.monotonic() - started
    assert len(data["steps"]) == data["steps_total"] == 298 * 298
    assert data["steps"][0]["value"] == sum(range(1, 4)) + sum(range(301, 304)) + sum(
        range(601, 604)
    )
    assert data["output"][0][0] == data["steps"][0]["value"]
    # no slower than a Python JSON round trip of the same output (with room for a noisy machine)
    assert ours < 2.5 * round_trip + 5, (ours, round_trip)


def test_trace_json_with_gradients_streams_too(tmp_path: Path) -> None:
    """--grad-out: both step lists streamed, the whole object valid JSON with both lists."""
    result = convcalc(
        "trace",
        "conv2d",
        "--x",
        "arange:30x30",
        "--w",
        "ones:3x3",
        "--grad-out",
        "ones:28x28",
        "--json",
    )
    data = json.loads(result.stdout)
    assert len(data["steps"]) == 28 * 28 and len(data["grad_input_steps"]) == 30 * 30
    assert data["grad_input_steps_total"] == 30 * 30
    assert data["grad_input"][0][0] == 1 and data["grad_input"][15][15] == 9
