"""The ops added through the op table, through every command (no framework needed): shape,
trace, compare, invert, solve and net answer, or refuse with a clear exit 2, never exit 3."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from convcalc.cli import app


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["shape", "adaptiveavgpool2d", "--in", "7x10", "--out", "3x4"], 0),
        (["shape", "adaptivemaxpool1d", "--in", "1..50", "--out", "4"], 0),
        (["shape", "unfold", "--in", "5x6", "--k", "2x3", "--p", "1", "--cin", "3"], 0),
        (["shape", "fold", "--out", "4x4", "--k", "2", "--cin", "8"], 0),
        (["shape", "fold", "--in", "8", "--out", "4x4", "--k", "2"], 1),
        (["shape", "unfold", "--in", "2", "--k", "3"], 1),
        (["shape", "adaptiveavgpool2d", "--in", "7", "--out", "3", "--convention", "onnx"], 1),
        (["shape", "adaptiveavgpool2d", "--in", "7", "--out", "3", "--convention", "keras"], 0),
        (["shape", "adaptiveavgpool2d", "--in", "7", "--k", "3", "--out", "3"], 2),
        (["shape", "adaptiveavgpool2d", "--in", "7"], 2),
        (["shape", "unfold", "--in", "5x5x5", "--k", "2"], 2),
        (["shape", "maxpool2d", "--in", "5", "--k", "2", "--out", "3"], 2),
        (["compare", "adaptiveavgpool2d", "--in", "7", "--out", "3"], 0),
        (["compare", "fold", "--in", "9", "--out", "4x4", "--k", "2"], 0),
        (["invert", "unfold", "--in", "7", "--k", "3"], 2),
        (["solve", "adaptiveavgpool2d", "--in", "7", "--out", "3"], 2),
        (["solve", "unfold", "--in", "8", "--out", "4"], 0),
        (["net", "--in", "3,8,8", "unfold k3"], 2),
        (["trace", "unfold", "--x", "arange:4x4", "--k", "2", "--s", "2"], 0),
        (["trace", "fold", "--x", "arange:4x9", "--k", "2", "--out", "4x4"], 0),
        (["trace", "fold", "--x", "arange:4x8", "--k", "2", "--out", "4x4"], 1),
        (["trace", "fold", "--x", "arange:4x4x4", "--k", "2", "--out", "4x4"], 2),
        (["trace", "adaptivemaxpool2d", "--x", "arange:4x5", "--out", "2x3"], 0),
        (["trace", "conv2d", "--x", "arange:4x4", "--w", "1,2;3,4", "--view", "im2col"], 0),
        (["trace", "maxpool2d", "--x", "arange:4x4", "--k", "2", "--view", "im2col"], 2),
        (["trace", "maxpool2d", "--x", "arange:4x4", "--k", "2", "--grad-out", "1"], 2),
        (["trace", "conv2d", "--x", "arange:3x3", "--w", "1,1;1,1", "--grad-out", "1,1"], 2),
    ],
)
def test_new_ops_answer_or_refuse_cleanly(argv: list[str], code: int) -> None:
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == code, (argv, result.stdout, result.stderr)
    assert "internal error" not in result.stderr
    as_json = CliRunner().invoke(app, [*argv, "--json"])
    assert as_json.exit_code == code
    data = json.loads(as_json.stdout)
    assert ("error" in data) == (code != 0)


def test_adaptive_windows_json() -> None:
    data = json.loads(
        CliRunner()
        .invoke(app, ["shape", "adaptiveavgpool1d", "--in", "10", "--out", "4", "--json"])
        .stdout
    )
    assert data["windows"] == [[[0, 3], [2, 5], [5, 8], [7, 10]]]
    assert data["dims"][0]["overlapping"] is True


def test_unfold_json_output_is_blocks_and_tensor() -> None:
    args = ["shape", "unfold", "--in", "5x6", "--k", "2x3", "--s", "1", "--p", "1", "--d", "1"]
    data = json.loads(CliRunner().invoke(app, [*args, "--cin", "3", "--json"]).stdout)
    assert data["output"] == [6, 6] and data["output_shape"] == [18, 36]
    assert data["input_shape"] == [3, 5, 6]


def test_backward_json_layouts() -> None:
    """A plain matrix in, a plain matrix out; the bias a list."""
    data = json.loads(
        CliRunner()
        .invoke(
            app,
            ["trace", "conv2d", "--x", "arange:3x3", "--w", "1,2;3,4", "--b", "1"]
            + ["--grad-out", "1,0;0,1", "--json"],
        )
        .stdout
    )
    assert data["grad_input"] == [[1, 2, 0], [3, 5, 2], [0, 3, 4]]
    assert data["grad_weight"] == [[6, 8], [12, 14]]
    assert data["grad_bias"] == [2]
    assert data["grad_input_op"].startswith("conv_transpose2d(dY, w")
