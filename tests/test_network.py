"""`convcalc net`: the network core, the shipped examples and the CLI formats."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc import ConvcalcError, MalformedInputError
from convcalc.cli import app
from convcalc.neteval import upsample_size
from convcalc.network import load_network, parse_inline, run_network

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_vgg16_features() -> None:
    """VGG-16's feature stack on 224x224: 512x7x7, 13 convs with 14,714,688 parameters."""
    result = run_network(load_network(str(EXAMPLES / "vgg16_features.toml")))
    assert result.output_shape == (1, 512, 7, 7)
    convs = [layer for layer in result.layers if layer.type == "conv2d"]
    assert len(convs) == 13
    assert sum(layer.params for layer in convs) == result.total_params == 14_714_688
    assert not result.mismatches
    # The classic receptive field of VGG-16: 212 pixels at pool5 with a jump of 32.
    assert result.layers[-1].rf is not None
    assert result.layers[-1].rf.size == (212, 212) and result.layers[-1].rf.jump == (32, 32)


def test_dcgan_generator_shapes() -> None:
    """The DCGAN generator goes 100 -> 4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128 -> 64x64x3."""
    result = run_network(load_network(str(EXAMPLES / "dcgan_generator.toml")))
    stages = [layer.output_shape[1:] for layer in result.layers if layer.type.startswith("conv")]
    assert stages == [(1024, 4, 4), (512, 8, 8), (256, 16, 16), (128, 32, 32), (3, 64, 64)]
    assert not result.mismatches and len([x for x in result.layers if x.expect]) == 5
    first = result.layers[0].rf
    assert first is not None and result.layers[3].rf.jump == (Fraction(1, 2),) * 2  # type: ignore[union-attr]


def test_unet_check_depends_on_output_padding(tmp_path: Path, runner: CliRunner) -> None:
    """The U-Net example passes --check only with output_padding = 1."""
    good = EXAMPLES / "unet_small.toml"
    assert runner.invoke(app, ["net", str(good), "--check"]).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("output_padding = 1", "output_padding = 0"))
    result = runner.invoke(app, ["net", str(bad), "--check"])
    assert result.exit_code == 1
    assert (
        'layer 6 "dec2" (convtranspose2d): output (1, 16, 31, 31), expected enc2.input'
        in " ".join(result.stdout.split())
    )
    as_json = runner.invoke(app, ["net", str(bad), "--check", "--json"])
    assert as_json.exit_code == 1
    assert len(json.loads(as_json.stdout)["mismatches"]) == 2
    assert "expect failed" in as_json.stderr
    assert runner.invoke(app, ["net", str(bad)]).exit_code == 0  # shown, not gating


def test_inline_resnet_stem(runner: CliRunner) -> None:
    """The inline form with --in: ResNet's stem, parameters and MACs by hand."""
    result = run_network(
        parse_inline("conv2d k7 s2 p3 c64 nobias; batchnorm2d; relu; maxpool2d k3 s2 p1"),
        (3, 224, 224),
        2,
    )
    assert result.output_shape == (2, 64, 56, 56)
    assert result.layers[0].params == 64 * 3 * 49
    assert result.layers[0].macs == 2 * 64 * 112 * 112 * 3 * 49
    assert result.layers[1].params == 128
    assert result.layers[3].rf is not None and result.layers[3].rf.size == (11, 11)


def test_head_layers() -> None:
    """Adaptive pools, flatten, linear, upsample and dropout chain as in torch."""
    result = run_network(
        parse_inline(
            "conv2d k3 c8 -> upsample x2 -> adaptiveavgpool2d out3x2 -> dropout -> flatten -> "
            "linear f10"
        ),
        (1, 9, 9),
    )
    shapes = [layer.output_shape for layer in result.layers]
    assert shapes == [(1, 8, 7, 7), (1, 8, 14, 14), (1, 8, 3, 2), (1, 8, 3, 2), (1, 48), (1, 10)]
    assert result.layers[-1].params == 48 * 10 + 10
    assert result.layers[-1].macs == 480
    assert upsample_size(7, 1.5) == 10 and upsample_size(3, 0.5) == 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("conv2d k3 c8; conv2d k7 c8", "layer 2 (conv2d): kernel_size: kernel_size 7 is larger"),
        ("conv2d k3 c8 g3", "layer 1 (conv2d): groups: out_channels=8 must be divisible"),
        ("conv2d k3 c8 cin4", "layer 1 (conv2d): in_channels: 4 given, but the input has 3"),
        ("conv2d k3 c8 name=a; linear f3", "layer 2 (linear): in_features"),
        ("maxpool2d k3 p2", "layer 1 (maxpool2d): padding: 2 must be at most half"),
        ("conv1d k3 c4", "layer 1 (conv1d): input: conv1d expects"),
    ],
)
def test_invalid_layers_name_the_layer(spec: str, message: str) -> None:
    """A layer invalid for its input stops the run with its index, name and the rule."""
    with pytest.raises(ConvcalcError, match=message.replace("(", r"\(").replace(")", r"\)")):
        network = parse_inline(spec)
        if "name=a; linear" in spec:
            network.layers[1]["in_features"] = 99
        run_network(network, (3, 8, 8))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("conv2d k3 c8 zz4", "cannot read 'zz4'"),
        ("conv9d k3", "unknown layer"),
        ("conv2d k3 c8 expect=nothing.output", "expect"),
        ("", "no layers"),
    ],
)
def test_malformed_specs(spec: str, message: str) -> None:
    """Malformed inline specs are usage errors naming the problem."""
    with pytest.raises(MalformedInputError, match=message):
        run_network(parse_inline(spec), (3, 16, 16))


def test_toml_errors(tmp_path: Path) -> None:
    """TOML typos (unknown keys, bad syntax) are reported with the layer."""
    path = tmp_path / "bad.toml"
    path.write_text(
        'input = [3, 8, 8]\n[[layer]]\nlayer = "conv2d"\nout_channels = 4\nkernal_size = 3\n'
    )
    with pytest.raises(MalformedInputError, match=r"layer 1 \(conv2d\): unknown parameter"):
        run_network(load_network(str(path)))
    path.write_text("input = [3, 8\n")
    with pytest.raises(MalformedInputError, match="not valid TOML"):
        load_network(str(path))
    with pytest.raises(MalformedInputError, match="no such file"):
        load_network(str(tmp_path / "missing.toml"))


def test_two_hundred_layers() -> None:
    """A 200-layer spec runs (timed in the note; not asserted here)."""
    spec = "; ".join(["conv2d k3 p1 c16", "relu"] * 100)
    result = run_network(parse_inline(spec), (16, 32, 32))
    assert len(result.layers) == 200 and result.output_shape == (1, 16, 32, 32)


def test_formats(runner: CliRunner) -> None:
    """Table, markdown, csv and json carry the same numbers."""
    spec = str(EXAMPLES / "unet_small.toml")
    md = runner.invoke(app, ["net", spec, "--format", "markdown"]).stdout
    assert md.startswith("| # | name | layer |") and "**19,395**" in md
    rows = list(
        csv.DictReader(io.StringIO(runner.invoke(app, ["net", spec, "--format", "csv"]).stdout))
    )
    assert rows[-1]["index"] == "total" and rows[-1]["params"] == "19395"
    data = json.loads(runner.invoke(app, ["net", spec, "--json"]).stdout)
    assert data["total_params"] == 19395 and data["layers"][5]["expect_ok"] is True
    assert data["layers"][0]["receptive_field"]["exact"]["jump"] == ["2", "2"]
    table = runner.invoke(app, ["net", spec]).stdout
    assert "19,395" in table and "\x1b[" not in table


def test_cli_errors(runner: CliRunner) -> None:
    """CLI: invalid layer exits 1 naming the layer; malformed spec exits 2; JSON errors."""
    bad = runner.invoke(app, ["net", "--in", "3,8,8", "conv2d k3 c8; conv2d k9 c8"])
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: layer 2 (conv2d):")
    assert runner.invoke(app, ["net", "--in", "3,8,8", "conv2d k3 q8"]).exit_code == 2
    assert runner.invoke(app, ["net", "conv2d k3 c8"]).exit_code == 2  # no input shape
    as_json = runner.invoke(app, ["net", "--in", "3,8,8", "conv2d k9 c8", "--json"])
    assert as_json.exit_code == 1 and "layer 1" in json.loads(as_json.stdout)["error"]


def test_directory_is_not_a_spec(runner: CliRunner, tmp_path: Path) -> None:
    """A directory given as the spec is a usage error naming it."""
    result = runner.invoke(app, ["net", str(tmp_path), "--in", "3,8,8"])
    assert result.exit_code == 2 and "is a directory" in result.stderr


def _table_rows(text: str) -> list[list[str]]:
    """Read a rich table back: rows start where the first column is not empty; a cell's
    wrapped or folded lines are joined (whitespace dropped, so wraps and folds read alike)."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(("├", "└")):  # the footer (totals) or the end
            break
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if cells[0] or not rows:
            rows.append(["".join(cell.split()) for cell in cells])
        else:
            rows[-1] = [a + "".join(b.split()) for a, b in zip(rows[-1], cells)]
    return rows


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_network_table_never_drops_data(render: Any, width: int) -> None:
    """Every cell of the net table is shown whole at any width (wrapped, never cut): the RF
    column's exact fractions included (`s-13/4`)."""
    from convcalc.memory import NetworkReport, human_bytes, memory
    from convcalc.neteval import rf_text
    from convcalc.netview import human
    from convcalc.network import load_network, run_network
    from convcalc.render import print_network

    result = run_network(
        load_network(
            "conv2d k7 s2 p3 c64 name=stem; maxpool2d k3 s2 p1; convtranspose2d k4 s2 p1 c32; "
            "upsample x3; conv2d k5 p4 d2 c16; adaptiveavgpool2d out3"
        ),
        (3, 225, 223),
    )
    report = NetworkReport(result, memory(result))
    text = render(print_network, report, width=width)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= max(width, 80)
    rows = _table_rows(text)
    for layer, output_bytes, row in zip(
        result.layers, report.memory.output_bytes, rows, strict=False
    ):
        expected = [
            str(layer.index),
            (layer.summary if layer.name == str(layer.index) else f"{layer.name}: {layer.summary}"),
            "×".join(map(str, layer.output_shape[1:])),
            human_bytes(output_bytes),
            f"{layer.params:,}",
            human(layer.macs),
            rf_text(layer.rf),
        ]
        assert row == ["".join(cell.split()) for cell in expected], (width, row)
    assert any("/" in rf_text(layer.rf) for layer in result.layers)


def test_matmul_shape_is_numpys() -> None:
    """The matmul layer's shape rule is numpy's (and torch's) matmul: 1-d operands, batch
    dimensions broadcast, every shape pair of up to 4 dimensions over sizes 1-3; a pair numpy
    refuses is refused with both shapes named."""
    import itertools

    import numpy as np

    from convcalc import ConvcalcError
    from convcalc.tensorops import matmul_shape

    shapes = [s for rank in range(1, 5) for s in itertools.product((1, 2, 3), repeat=rank)][::3]
    for a, b in itertools.product(shapes, repeat=2):
        try:
            want = np.matmul(np.empty(a), np.empty(b)).shape
        except ValueError:
            with pytest.raises(ConvcalcError, match="matmul|multiplied"):
                matmul_shape(a, b)
            continue
        assert matmul_shape(a, b) == want, (a, b)


ATTENTION = """
input = [16, 6, 6]
[[layer]]
name = "tokens"
layer = "flatten"
start_dim = 2
[[layer]]
name = "kt"
layer = "permute"
dims = [0, 2, 1]
[[layer]]
name = "scores"
layer = "matmul"
from = ["kt", "tokens"]
[[layer]]
name = "attn"
layer = "softmax"
[[layer]]
name = "mixed"
layer = "matmul"
from = ["tokens", "attn"]
"""


def test_matmul_layer_in_a_spec(tmp_path: Path) -> None:
    """`layer = "matmul"` of two tensors: torch.matmul's shape, no params and no MACs, its
    products in matmul_macs; it needs exactly two inputs; --format toml reads back the same,
    --format torch writes torch.matmul; any input size runs."""
    from typer.testing import CliRunner

    from convcalc.cli import app

    path = tmp_path / "attention.toml"
    path.write_text(ATTENTION)
    result = run_network(load_network(str(path)))
    by_name = {layer.name: layer for layer in result.layers}
    assert by_name["scores"].output_shape == (1, 36, 36)
    assert by_name["mixed"].output_shape == (1, 16, 36)
    assert by_name["scores"].matmul_macs == 36 * 36 * 16
    assert by_name["mixed"].matmul_macs == 16 * 36 * 36
    assert result.total_params == 0 and result.total_macs == 0
    assert result.output_shape == (1, 16, 36)
    assert run_network(load_network(str(path)), (16, 5, 7)).output_shape == (1, 16, 35)
    runner = CliRunner()
    written = runner.invoke(app, ["net", str(path), "--format", "toml"])
    again = tmp_path / "again.toml"
    again.write_text(written.stdout)
    assert [r.output_shape for r in run_network(load_network(str(again))).layers] == [
        r.output_shape for r in result.layers
    ]
    code = runner.invoke(app, ["net", str(path), "--format", "torch"]).stdout
    assert "torch.matmul(" in code
    compile(code, "attention.py", "exec")
    one = ATTENTION.replace('from = ["kt", "tokens"]', 'from = "kt"')
    path.write_text(one)
    with pytest.raises(ConvcalcError, match="multiplies two tensors"):
        run_network(load_network(str(path)))
    bad = ATTENTION.replace('from = ["kt", "tokens"]', 'from = ["tokens", "tokens"]')
    path.write_text(bad)
    with pytest.raises(ConvcalcError, match=r"cannot be multiplied \(36 against 16\)"):
        run_network(load_network(str(path)))


def test_expand_shape_is_numpys_broadcast() -> None:
    """`layer = "expand"` broadcasts as ONNX's Expand (numpy's rule): every pair of shapes of up
    to 3 dimensions over sizes 1-3; a pair numpy refuses is refused."""
    import itertools

    import numpy as np

    from convcalc.tensorops import ExpandLayer, tensor_op_shape

    shapes = [s for rank in range(1, 4) for s in itertools.product((1, 2, 3), repeat=rank)]
    for a, b in itertools.product(shapes[::2], repeat=2):
        try:
            want = np.broadcast_shapes(a, b)
        except ValueError:
            with pytest.raises(ConvcalcError, match="do not broadcast"):
                tensor_op_shape(ExpandLayer(b), a)
            continue
        assert tensor_op_shape(ExpandLayer(b), a) == want, (a, b)


NORMALIZE = """
input = [8, 5, 5]
[[layer]]
name = "x"
layer = "identity"
[[layer]]
name = "norm"
layer = "reducel2"
dims = [1]
keepdim = true
[[layer]]
name = "wide"
layer = "expand"
shape = [1, 8, 5, 5]
[[layer]]
layer = "div"
from = ["x", "wide"]
"""


def test_l2_norm_and_expand_in_a_spec(tmp_path: Path) -> None:
    """F.normalize as ONNX writes it (ReduceL2, Expand, Div): the shapes, and --format torch
    writes torch.linalg.vector_norm and expand."""
    path = tmp_path / "normalize.toml"
    path.write_text(NORMALIZE)
    result = run_network(load_network(str(path)))
    assert [layer.output_shape for layer in result.layers] == [
        (1, 8, 5, 5),
        (1, 1, 5, 5),
        (1, 8, 5, 5),
        (1, 8, 5, 5),
    ]
    assert result.layers[1].summary == "l2 [1] keepdim"
    code = CliRunner().invoke(app, ["net", str(path), "--format", "torch"]).stdout
    assert "torch.linalg.vector_norm(" in code and ".expand(1, 8, 5, 5)" in code
    compile(code, "normalize.py", "exec")
