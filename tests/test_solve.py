"""solve, invert and sweeps: answers checked against the forward rule and by hand."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc import (
    ConvcalcError,
    build_spec,
    conv_output_size,
    conv_transpose_output_size,
    layer_shape,
)
from convcalc.cli import app
from convcalc.solve import Bounds, invert, parse_range, solve, sweep
from convcalc.specs import LayerSpec, OpKind


def test_conventional_choice_first() -> None:
    """224 -> 112: k3 s2 p1 comes before k5 s2 p2; 112 -> 224 transposed: k4 s2 p1 first."""
    labels = [c.label for c in solve(OpKind.CONV, 224, 112).candidates]
    assert labels[:2] == ["k3 s2 p1", "k5 s2 p2"]
    assert labels.index("k3 s2 p1") < labels.index("k2 s2 p0") < labels.index("k1 s2 p0")
    up = [c.label for c in solve(OpKind.CONVTRANSPOSE, 112, 224).candidates]
    assert up[0] == "k4 s2 p1 op0" and "k3 s2 p1 op1" in up
    assert [c.label for c in solve(OpKind.MAXPOOL, 112, 56).candidates][0] == "k2 s2 p0"


def test_fixed_parameters_are_respected() -> None:
    """Fixing k and s leaves only the paddings (and dilations) that work."""
    labels = [
        c.label for c in solve(OpKind.CONV, 224, 112, kernel=7, stride=2, dilation=1).candidates
    ]
    assert labels == ["k7 s2 p3"]
    labels = [c.label for c in solve(OpKind.CONV, 9, 3, kernel=3, stride=3, dilation=1).candidates]
    assert labels == ["k3 s3 p1", "k3 s3 p0"]  # the centred window first


def test_nothing_fits_reports_nearest() -> None:
    """When nothing fits, the nearest sizes below and above are given with a config each."""
    result = solve(OpKind.CONV, 5, 9, kernel=3, dilation=1)
    assert not result.candidates
    assert result.below is not None and result.below.dim.output == 7 and result.above is None
    result = solve(OpKind.MAXPOOL, 10, 4, kernel=2, stride=2, dilation=1)
    assert result.below is None and result.above is not None and result.above.dim.output == 5


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(1, 60),
    st.sampled_from([k for k in OpKind if not k.is_adaptive and k is not OpKind.FOLD]),
)
def test_every_candidate_really_gives_the_target(size: int, target: int, kind: OpKind) -> None:
    """Each candidate reproduces the target through the forward rule; none is missed by the
    bounded search (checked for convs by brute force over the same bounds)."""
    bounds = Bounds(kernel=5, stride=3, dilation=2)
    result = solve(kind, size, target, bounds=bounds)
    for candidate in result.candidates:
        assert candidate.dim.output == target
    if kind is OpKind.CONV:
        brute = {
            (k, s, p, d)
            for k in range(1, 6)
            for s in range(1, 4)
            for d in range(1, 3)
            for p in range(0, d * (k - 1) + 1)
            if d * (k - 1) + 1 <= size + 2 * p and conv_output_size(size, k, s, p, d) == target
        }
        found = {
            (c.dim.kernel, c.dim.stride, c.dim.pad_before, c.dim.dilation)
            for c in result.candidates
            if not c.same
        }
        assert found == brute
        # padding='same' with an odd total d*(k-1): offered exactly when it keeps the size
        same = {(c.dim.kernel, c.dim.dilation) for c in result.candidates if c.same}
        expected = {
            (k, d) for k in range(1, 6) for d in range(1, 3) if d * (k - 1) % 2 and size == target
        }
        assert same == expected


def test_invert_lists_colliding_sizes() -> None:
    """A k3 s2 p1 conv sends 7 and 8 to 4; output_padding picks 8."""
    spec = build_spec("conv2d", kernel_size=(3,), stride=(2,), padding=(1,))
    inversion = invert(spec, (7, 8))
    assert [list(d.preimage) for d in inversion.dims] == [[7, 8], [7, 8]]
    assert [d.output_padding for d in inversion.dims] == [0, 1]
    assert inversion.output_size == (7, 8)
    for item in inversion.dims:
        back = conv_transpose_output_size(item.forward.output, 3, 2, 1, 1, item.output_padding)
        assert back == item.forward.input


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 5),
    st.integers(1, 4),
    st.integers(0, 2),
    st.integers(1, 2),
    st.sampled_from(["conv1d", "maxpool1d", "avgpool1d"]),
    st.booleans(),
)
def test_invert_round_trips(size: int, k: int, s: int, p: int, d: int, op: str, ceil: bool) -> None:
    """Whenever invert gives an output_padding, the transposed conv restores the input size, and
    every listed input really maps to the same output."""
    try:
        spec = build_spec(
            op,
            kernel_size=(k,),
            stride=(s,),
            padding=(min(p, k // 2),),
            dilation=(1 if op == "avgpool1d" else d,),
            ceil_mode=ceil and op != "conv1d",
        )
        inversion = invert(spec, (size,))
    except ConvcalcError:  # invalid layer for this size: nothing to invert
        assume(False)
        return
    item = inversion.dims[0]
    assert size in item.preimage
    for other in item.preimage:
        assert layer_shape(spec, (other,)).output == (item.forward.output,)
    if item.output_padding is not None:
        dim = item.forward
        assert (
            conv_transpose_output_size(
                dim.output,
                dim.kernel,
                dim.stride,
                dim.pad_before,
                dim.dilation,
                item.output_padding,
            )
            == size
        )


def test_sweep_marks() -> None:
    """Sweeps mark ignored trailing input and sizes a decoder cannot restore without op."""

    def at(spec: LayerSpec) -> Any:
        return lambda n: layer_shape(spec, (n,))

    rows = sweep(at(build_spec("conv1d", kernel_size=(2,), stride=(3,))), parse_range("6..8"))
    assert [(r.input, r.output, r.unread) for r in rows] == [
        (6, (2,), 1),
        (7, (2,), 2),
        (8, (3,), 0),
    ]
    spec = build_spec("conv1d", kernel_size=(3,), stride=(2,), padding=(1,))
    rows = sweep(at(spec), range(10, 12))
    assert [r.needs_output_padding for r in rows] == [1, None]
    assert list(parse_range("1..64:16") or []) == [1, 17, 33, 49]


def test_cli(runner: CliRunner) -> None:
    """solve/invert/sweep through the CLI: tables, JSON, exit 1 when nothing fits."""
    result = runner.invoke(app, ["solve", "conv2d", "--in", "224", "--out", "112"])
    assert result.exit_code == 0 and "k3 s2 p1" in result.stdout
    data = json.loads(
        runner.invoke(
            app, ["solve", "conv2d", "--in", "224x100", "--out", "112x50", "--json"]
        ).stdout
    )
    assert (
        len(data["solutions"]) == 2 and data["solutions"][0]["candidates"][0]["label"] == "k3 s2 p1"
    )
    none = runner.invoke(
        app, ["solve", "conv1d", "--in", "5", "--out", "9", "--k", "3", "--d", "1"]
    )
    assert none.exit_code == 1 and "nearest below: 7" in none.stdout
    inv = json.loads(
        runner.invoke(
            app, ["invert", "conv2d", "--in", "7", "--k", "3", "--s", "2", "--p", "1", "--json"]
        ).stdout
    )
    assert inv["inverse"] == "ConvTranspose2d" and inv["output_size"] == [7, 7]
    assert inv["dims"][0]["inputs_with_same_output"] == [7, 8]
    table = runner.invoke(
        app, ["invert", "conv2d", "--in", "7", "--k", "3", "--s", "2", "--p", "1"]
    )
    assert "output_size=[7, 7]" in table.stdout
    sweep_json = json.loads(
        runner.invoke(
            app, ["shape", "conv1d", "--in", "10..12", "--k", "3", "--s", "2", "--p", "1", "--json"]
        ).stdout
    )
    assert [r["output"] for r in sweep_json["rows"]] == [5, 6, 6]
    bad = runner.invoke(app, ["shape", "conv1d", "--in", "12..10", "--k", "3"])
    assert bad.exit_code == 2
    swept_errors = runner.invoke(app, ["shape", "conv1d", "--in", "1..4", "--k", "3"])
    assert swept_errors.exit_code == 0 and "kernel_size" in swept_errors.stdout


@pytest.mark.parametrize(
    "bad",
    [
        ["--in", "0", "--out", "3"],
        ["--in", "5", "--out", "x"],
        ["--in", "5", "--out", "3", "--k-max", "0"],
    ],
)
def test_solve_malformed(runner: CliRunner, bad: list[str]) -> None:
    """Malformed solve arguments exit 2."""
    assert runner.invoke(app, ["solve", "conv1d", *bad]).exit_code == 2
