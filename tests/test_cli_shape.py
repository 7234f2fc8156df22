"""`convcalc shape` through Typer's CliRunner, and the installed entry point in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from convcalc import __version__
from convcalc.cli import app


def flat(text: str) -> str:
    """Whitespace folded, so assertions do not depend on where rich wrapped a line."""
    return " ".join(text.split())


def test_table_shows_working(runner: CliRunner) -> None:
    """The default output has the table, the formula in symbols and with numbers."""
    result = runner.invoke(app, ["shape", "conv2d", "--in", "5", "--k", "3", "--s", "2"])
    assert result.exit_code == 0
    assert "conv2d: input 5x5 -> output 2x2" in result.stdout
    assert "out = floor((in + 2*p - d*(k-1) - 1) / s) + 1" in result.stdout
    assert "H, W: floor((5 + 2*0 - 1*(3-1) - 1) / 2) + 1 = 2" in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: no colour codes


def test_json_output(runner: CliRunner) -> None:
    """--json gives one object with op, input, output, params and per-dimension steps."""
    result = runner.invoke(
        app,
        [
            "shape",
            "convtranspose2d",
            "--in",
            "2",
            "--k",
            "2",
            "--s",
            "2",
            "--p",
            "1",
            "--op",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["op"] == "convtranspose2d"
    assert data["input"] == [2, 2] and data["output"] == [3, 3]
    assert data["params"]["output_padding"] == [1, 1]
    assert data["params"]["padding"] == [[1, 1], [1, 1]]
    assert data["dims"][0]["effective_padding"] == [0, 1]
    assert data["dims"][0]["substituted"].endswith("= 3")


def test_plain_output(runner: CliRunner) -> None:
    """--plain prints just the spatial size for $(...)."""
    result = runner.invoke(app, ["shape", "maxpool", "--in", "7x9", "--k", "2", "--plain"])
    assert (result.exit_code, result.stdout) == (0, "3x4\n")


def test_per_dimension_values(runner: CliRunner) -> None:
    """Per-dimension values in 5x7 and 5,7 forms."""
    result = runner.invoke(
        app, ["shape", "conv2d", "--in", "5,7", "--k", "3x1", "--s", "1x2", "--plain"]
    )
    assert result.stdout == "3x4\n"


def test_long_option_names(runner: CliRunner) -> None:
    """Long option names work as well as the short ones."""
    result = runner.invoke(
        app,
        [
            "shape",
            "conv2d",
            "--input-size",
            "8",
            "--kernel-size",
            "3",
            "--stride",
            "2",
            "--padding",
            "1",
            "--dilation",
            "1",
            "--in-channels",
            "3",
            "--out-channels",
            "16",
            "--batch",
            "2",
            "--json",
        ],
    )
    data = json.loads(result.stdout)
    assert data["output_shape"] == [2, 16, 4, 4]
    assert data["input_shape"] == [2, 3, 8, 8]


def test_same_padding_sides_are_shown(runner: CliRunner) -> None:
    """padding='same' says which side gets the odd extra pixel."""
    result = runner.invoke(app, ["shape", "conv1d", "--in", "5", "--k", "4", "--p", "same"])
    assert result.exit_code == 0
    assert "'same' resolves to L 1 before, 2 after" in flat(result.stdout)


def test_ceil_mode_explains_dropped_window(runner: CliRunner) -> None:
    """ceil_mode says when the last window was dropped and why."""
    result = runner.invoke(
        app, ["shape", "maxpool1d", "--in", "5", "--k", "2", "--p", "1", "--ceil"]
    )
    assert result.exit_code == 0
    assert "(all right padding), so PyTorch drops it" in flat(result.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["conv2d", "--in", "2", "--k", "5"],
            "kernel_size (--k): kernel_size 5 is larger than the padded input 2",
        ),
        (
            ["convtranspose2d", "--in", "5", "--k", "3", "--s", "2", "--op", "2"],
            "output_padding (--op): 2 must be smaller than either stride (2) or dilation (1)",
        ),
        (
            ["maxpool2d", "--in", "5", "--k", "3", "--p", "2"],
            "padding (--p): 2 must be at most half",
        ),
        (["convtranspose1d", "--in", "1", "--k", "1", "--p", "1"], "is not positive"),
        (["conv2d", "--in", "8", "--k", "3", "--s", "2", "--p", "same"], "strided"),
        (
            ["conv2d", "--in", "8", "--k", "3", "--groups", "2", "--cin", "3"],
            "groups (--groups): in_channels=3 must be divisible by groups=2",
        ),
        (["maxpool1d", "--in", "5", "--k", "3", "--s", "3", "--p", "1", "--d", "4"], "output size"),
    ],
)
def test_invalid_layer_exits_1(runner: CliRunner, args: list[str], message: str) -> None:
    """An invalid layer exits 1 with one line on stderr naming the parameter and rule."""
    result = runner.invoke(app, ["shape", *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["conv2d", "--in", "abc", "--k", "3"],
        ["conv2d", "--in", "5", "--k", "0"],
        ["conv2d", "--in", "-5", "--k", "3"],
        ["conv2d", "--in", "5x5x5", "--k", "3"],
        ["conv2d", "--in", "5", "--k", "3x3x3"],
        ["conv5d", "--in", "5", "--k", "3"],
        ["conv2d", "--in", "5"],
        ["conv2d", "--in", "5", "--k", "3", "--p", "1:"],
        ["conv2d", "--in", "5", "--k", "3", "--format", "json", "--plain", "--table"],
        ["conv2d", "--in", "5", "--k", "3", "--plain", "--format", "table"],
        ["avgpool2d", "--in", "5", "--k", "3", "--d", "2"],
        ["conv2d", "--in", "5", "--k", "3", "--op", "1"],
        ["conv2d", "--in", "5", "--k", "3", "--groups", "x"],
    ],
)
def test_malformed_arguments_exit_2(runner: CliRunner, args: list[str]) -> None:
    """Malformed arguments exit 2 with a usage message and no traceback."""
    result = runner.invoke(app, ["shape", *args])
    assert result.exit_code == 2
    assert "Usage:" in result.stderr and "Error" in result.stderr
    assert "Traceback" not in result.stderr


def test_json_errors(runner: CliRunner) -> None:
    """With --json an error is a JSON object with an error key; the exit status stays."""
    result = runner.invoke(app, ["shape", "conv2d", "--in", "2", "--k", "5", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["kind"] == "invalid_configuration" and "kernel_size" in data["error"]
    result = runner.invoke(app, ["shape", "conv2d", "--in", "x", "--k", "5", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["kind"] == "usage"
    result = runner.invoke(app, ["shape", "conv2d", "--in", "5", "--k", "3", "--json", "--plain"])
    assert result.exit_code == 2
    assert "choose one output format" in json.loads(result.stdout)["error"]


def test_huge_input(runner: CliRunner) -> None:
    """--in 1000000000 works exactly."""
    result = runner.invoke(
        app, ["shape", "conv1d", "--in", "1000000000", "--k", "3", "--s", "2", "--plain"]
    )
    assert result.stdout == "499999999\n"


def test_version(runner: CliRunner) -> None:
    """--version prints the one version there is."""
    from importlib import metadata

    result = runner.invoke(app, ["--version"])
    assert result.stdout == f"convcalc {__version__}\n"
    assert metadata.version("convcalc") == __version__


def test_every_command_has_help() -> None:
    """Every command carries help text."""
    import typer

    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help, name


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *args], capture_output=True, text=True, timeout=60
    )


def test_module_entry_point_help() -> None:
    """python -m convcalc --help works in a fresh process."""
    result = run_cli("--help")
    assert result.returncode == 0 and "shape" in result.stdout


def test_usage_errors_as_json_in_subprocess() -> None:
    """Unknown options are usage errors (exit 2), JSON with --json, plain text without."""
    result = run_cli("shape", "conv2d", "--in", "5", "--kk", "3", "--json")
    assert result.returncode == 2
    assert "No such option" in json.loads(result.stdout)["error"]
    result = run_cli("shape", "conv2d", "--in", "5", "--kk", "3")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "No such option: --kk" in result.stderr


def test_shape_json_keeps_typer_rich_and_numpy_out() -> None:
    """`shape --json` never imports typer, rich or numpy (start-up is a feature): the console
    script's fast path (entry.py) reads the option table without typer."""
    code = (
        "import sys; from convcalc.entry import main; sys.argv = ['convcalc', 'shape', 'conv2d', "
        "'--in', '5', '--k', '3', '--s', '2', '--json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('typer', 'click', 'rich', 'numpy') if m in sys.modules]\n"
        "print('LOADED', bad, file=sys.stderr)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert "LOADED []" in result.stderr
    assert json.loads(result.stdout)["output"] == [2, 2]


def test_table_golden(render: Callable[..., str], golden: Callable[[str, str], None]) -> None:
    """The rendered table of a transposed conv at 80 columns (golden file), and its data."""
    from convcalc import build_spec, layer_shape
    from convcalc.render import print_shape

    result = layer_shape(
        build_spec(
            "convtranspose2d",
            kernel_size=(3,),
            stride=(2,),
            padding=(1,),
            output_padding=(1,),
            in_channels=64,
            out_channels=3,
        ),
        (112, 112),
        batch=1,
    )
    assert result.output == (224, 224)
    golden("shape_convtranspose2d", render(print_shape, result))


def test_no_four_dimensional_layers(runner: CliRunner) -> None:
    """An unsuffixed op with four sizes is a usage error: torch has 1d, 2d and 3d layers."""
    result = runner.invoke(app, ["shape", "conv", "--in", "5x5x5x5", "--k", "3"])
    assert result.exit_code == 2 and "1d, 2d and 3d" in result.stderr


def test_subcommand_entry_point() -> None:
    """The entry point builds only the command being run; its help and errors still work."""
    result = run_cli("shape", "--help")
    assert result.returncode == 0 and "--kernel-size" in result.stdout
    result = run_cli("shap", "conv2d")
    assert result.returncode == 2 and "No such command 'shap'" in result.stderr
    result = run_cli("shape", "conv2d", "--in", "5", "--k", "3", "--s", "2", "--plain")
    assert (result.returncode, result.stdout) == (0, "2x2\n")
