"""`convcalc trace` through CliRunner: tables, JSON, views, --at, --max-steps, errors."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from convcalc.cli import app


def flat(text: str) -> str:
    return " ".join(text.split())


WORKING_411 = "1·1 + 2·2 + 3·3 + 6·4 + 7·5 + 8·6 + 11·7 + 12·8 + 13·9"


def test_conv_trace_table(runner: CliRunner) -> None:
    """The textbook 5x5 / 3x3 example prints each product and 411, 456: on one line where the
    terminal is wide, wrapped (never cut) at 80 columns."""
    args = ["trace", "conv2d", "--x", "arange:5x5", "--w", "arange:3x3"]
    wide = runner.invoke(app, args, env={"COLUMNS": "160"})
    assert wide.exit_code == 0, wide.stderr
    row = next(line for line in wide.stdout.splitlines() if line.startswith("│ [0,0]"))
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[1:5] == ["[0,0]", "x[0:3,0:3]", WORKING_411, "411"]
    assert any(
        line.startswith("│ [0,1]") and line.rstrip().endswith("456 │")
        for line in wide.stdout.splitlines()
    )
    narrow = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    # the first step's working column, read back from its wrapped lines, is the whole sum
    lines = narrow.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("│ [0,0]"))
    cells = []
    for line in lines[start:]:
        if line.startswith("│ [0,1]"):
            break
        cells.append(line.split("│")[3].strip())
    assert " ".join(cells) == WORKING_411
    assert lines[start].split("│")[4].strip() == "411"


def test_conv_trace_json(runner: CliRunner) -> None:
    """--json gives op, params, output and steps with terms (index, value, weight, product)."""
    result = runner.invoke(
        app, ["trace", "conv2d", "--x", "arange:5x5", "--w", "arange:3x3", "--json"]
    )
    data = json.loads(result.stdout)
    assert data["op"] == "conv2d"
    assert data["output"][0][:2] == [411, 456]
    first = data["steps"][0]
    assert first["index"] == [0, 0] and first["value"] == 411
    assert first["terms"][3] == {
        "input_index": [1, 0],
        "input_value": 6,
        "weight_index": [0, 0, 1, 0],
        "weight_value": 4,
        "product": 24,
    }
    assert data["steps_total"] == 9 == len(data["steps"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--s", "2", "--p", "1"], [[1, 0], [0, 4]]),
        (["--s", "3", "--p", "1"], [[1, 0, 0], [0, 0, 0], [0, 0, 4]]),
        (["--s", "2"], [[1, 0, 2, 0], [0, 1, 0, 2], [3, 0, 4, 0], [0, 3, 0, 4]]),
        (["--s", "2", "--p", "1", "--op", "1"], [[1, 0, 2], [0, 4, 0], [3, 0, 4]]),
    ],
)
@pytest.mark.parametrize("view", ["auto", "scatter", "conv", "matrix", "steps"])
def test_conv_transpose_views(
    runner: CliRunner, args: list[str], expected: list[list[int]], view: str
) -> None:
    """Every view of the article's transposed convs gives the article's output."""
    result = runner.invoke(
        app,
        [
            "trace",
            "convtranspose2d",
            "--x",
            "1,2;3,4",
            "--w",
            "1,0;0,1",
            *args,
            "--view",
            view,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["output"] == expected
    table = runner.invoke(
        app, ["trace", "convtranspose2d", "--x", "1,2;3,4", "--w", "1,0;0,1", *args, "--view", view]
    )
    assert table.exit_code == 0
    # the table ends with the output grid: its rows are the expected values
    lines = table.stdout.splitlines()
    grid = lines[lines.index("output") + 2 :]
    assert [[int(v) for v in line.split()[1:]] for line in grid] == expected
    plain = runner.invoke(
        app,
        ["trace", "convtranspose2d", "--x", "1,2;3,4", "--w", "1,0;0,1", *args, "--plain"],
    )
    assert [[int(v) for v in line.split()] for line in plain.stdout.splitlines()] == expected


def test_conv_view_says_gradient(runner: CliRunner) -> None:
    """The conv view explains zero-insertion, padding and the 180° kernel as a gradient."""
    result = runner.invoke(
        app,
        [
            "trace",
            "convtranspose2d",
            "--x",
            "1,2;3,4",
            "--w",
            "1,2;3,4",
            "--s",
            "2",
            "--view",
            "conv",
        ],
    )
    text = flat(result.stdout)
    assert "rotated 180°" in text and "gradient of a conv" in text
    data = json.loads(
        runner.invoke(
            app,
            [
                "trace",
                "convtranspose2d",
                "--x",
                "1,2;3,4",
                "--w",
                "1,2;3,4",
                "--s",
                "2",
                "--view",
                "conv",
                "--json",
            ],
        ).stdout
    )
    assert data["view_data"]["kernel_rotated"] == [[[[4, 3], [2, 1]]]]
    assert data["view_data"]["zero_inserted"] == [[[1, 0, 2], [0, 0, 0], [3, 0, 4]]]


def test_avg_pool_fraction(runner: CliRunner) -> None:
    """Averages are exact fractions in the table and numbers in JSON."""
    args = ["trace", "avgpool2d", "--x", "arange:3x3", "--k", "2", "--s", "1"]
    result = runner.invoke(app, args, env={"COLUMNS": "160"})
    first = next(line for line in result.stdout.splitlines() if line.startswith("│ [0,0]"))
    assert "(1 + 2 + 4 + 5) / 4 = 12/4" in first and first.rstrip().endswith("3 │")
    fraction = runner.invoke(app, ["trace", "avgpool1d", "--x", "1,2", "--k", "2", "--s", "1"])
    assert "3/2 ≈ 1.5" in fraction.stdout
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert data["output"] == [[3, 4], [6, 7]]
    assert data["steps"][0]["divisor"] == 4
    odd = json.loads(
        runner.invoke(
            app, ["trace", "avgpool1d", "--x", "1,2", "--k", "2", "--s", "1", "--json"]
        ).stdout
    )
    assert odd["output"] == [1.5]


def test_at_and_max_steps(runner: CliRunner) -> None:
    """--at shows one element; --max-steps caps the rows and says what was left out."""
    base = ["trace", "conv2d", "--x", "arange:5x5", "--w", "arange:3x3"]
    one = json.loads(runner.invoke(app, [*base, "--at", "0,1", "--json"]).stdout)
    assert [s["index"] for s in one["steps"]] == [[0, 1]] and one["steps"][0]["value"] == 456
    capped = runner.invoke(app, [*base, "--max-steps", "2"])
    assert "7 more step(s) not shown" in flat(capped.stdout)
    bad = runner.invoke(app, [*base, "--at", "5,5"])
    assert bad.exit_code == 2 and "outside the output" in bad.stderr


def test_large_trace_is_summarised(runner: CliRunner) -> None:
    """A large trace prints 64 steps and points at --at / --max-steps."""
    result = runner.invoke(app, ["trace", "conv2d", "--x", "ones:20x20", "--w", "ones:3x3"])
    assert result.exit_code == 0
    assert "260 more step(s) not shown: --at i,j" in flat(result.stdout)


def test_multichannel_json_shapes(runner: CliRunner) -> None:
    """Multi-channel input gives (C_out, *spatial) output; bias is added."""
    result = runner.invoke(
        app,
        [
            "trace",
            "conv1d",
            "--x",
            "[[1,2,3],[4,5,6]]",
            "--w",
            "[[[1,0],[0,1]],[[1,1],[1,1]]]",
            "--b",
            "10,20",
            "--json",
        ],
    )
    data = json.loads(result.stdout)
    assert data["output_shape"] == [2, 2]
    assert data["output"] == [[16, 18], [32, 36]]
    assert data["steps"][0]["bias"] == 10


def test_trace_3d_from_json(runner: CliRunner) -> None:
    """3-d data goes in as JSON and traces like the rest."""
    x = json.dumps([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])
    result = runner.invoke(app, ["trace", "maxpool3d", "--x", x, "--k", "2", "--json"])
    assert json.loads(result.stdout)["output"] == [[[8]]]
    table = runner.invoke(app, ["trace", "maxpool3d", "--x", x, "--k", "2"])
    assert table.exit_code == 0 and "3-d data" in table.stdout


def test_stdin_input(runner: CliRunner) -> None:
    """--x - reads JSON from stdin."""
    result = runner.invoke(
        app, ["trace", "maxpool1d", "--x", "-", "--k", "2", "--json"], input="[1, 5, 2, 3]"
    )
    assert json.loads(result.stdout)["output"] == [5, 3]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["conv2d", "--x", "1,2;3", "--w", "1"], 2, "ragged"),
        (["conv2d", "--x", "1,x;3,4", "--w", "1"], 2, "not a number"),
        (["conv1d", "--x", "1,2,3,4,5", "--w", "arange:4x4"], 2, "weight"),
        (["conv2d", "--x", "[[[1,2],[3,4]],[[1,2],[3,4]]]", "--w", "[[[[1]]]]"], 2, "C_in"),
        (["conv2d", "--x", "1,2;3,4", "--w", "arange:3x3"], 1, "kernel_size"),
        (["maxpool2d", "--x", "1,2;3,4"], 2, "kernel size"),
        (["conv2d", "--x", "1,2;3,4", "--w", "1;1", "--view", "scatter"], 2, "--view"),
        (
            ["convtranspose2d", "--x", "1,2;3,4", "--w", "1,1;1,1", "--s", "2", "--op", "2"],
            1,
            "output_padding",
        ),
    ],
)
def test_trace_errors(runner: CliRunner, args: list[str], code: int, message: str) -> None:
    """Bad data exits 2, an invalid layer exits 1; one clear message, no traceback."""
    result = runner.invoke(app, ["trace", *args])
    assert result.exit_code == code, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    as_json = runner.invoke(app, ["trace", *args, "--json"])
    assert as_json.exit_code == code and message in json.loads(as_json.stdout)["error"]


def test_trace_golden(render: Callable[..., str], golden: Callable[[str, str], None]) -> None:
    """The scatter view of the article's stride-2 padding-1 case, at 80 columns."""
    from convcalc.render import print_trace
    from convcalc.tensors import load_tensor
    from convcalc.trace import scatter_view, trace_layer

    t = trace_layer(
        "convtranspose2d",
        load_tensor("1,2;3,4", "x"),
        load_tensor("1,0;0,1", "w"),
        stride=(2,),
        padding=(1,),
    )
    assert t.display_output.tolist() == [[1, 0], [0, 4]]
    golden(
        "trace_convtranspose2d_scatter",
        render(print_trace, t, t.all_steps(), scatter_view(t), 0),
    )
