"""Nasty inputs never produce a traceback: every command exits 0, 1 or 2."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convcalc.cli import app

values = st.one_of(
    st.integers(-3, 12).map(str),
    st.sampled_from(
        [
            "same",
            "valid",
            "causal",
            "same_lower",
            "1:2",
            "0:3,1:1",
            "3x5",
            "2,3,4",
            "",
            "x",
            "-1",
            "1e3",
            "99999999999999999999",
            "1..5",
            "0x0",
            "1:",
            ":",
        ]
    ),
)
ops = st.sampled_from(
    [
        "conv1d",
        "conv2d",
        "conv3d",
        "convtranspose2d",
        "maxpool2d",
        "avgpool3d",
        "conv",
        "maxpool",
        "deconv2d",
        "pool",
        "Conv2d",
        "adaptiveavgpool2d",
        "adaptivemaxpool1d",
        "unfold",
        "fold",
        "im2col",
    ]
)
conventions = st.sampled_from(["torch", "tf", "keras", "onnx", "caffe"])


def _ok(result: object) -> None:
    exit_code = result.exit_code
    exception = result.exception
    assert exit_code in (0, 1, 2), (exit_code, exception)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)


@settings(max_examples=300)
@given(ops, values, values, values, values, values, values, conventions, st.booleans())
def test_shape_never_crashes(
    op: str, size: str, k: str, s: str, p: str, d: str, op_pad: str, convention: str, ceil: bool
) -> None:
    """Random shape arguments end in a result or a clean error."""
    args = [
        "shape",
        op,
        "--in",
        size,
        "--k",
        k,
        "--s",
        s,
        "--p",
        p,
        "--d",
        d,
        "--op",
        op_pad,
        "--convention",
        convention,
    ]
    if ceil:
        args.append("--ceil")
    _ok(CliRunner().invoke(app, args))
    _ok(CliRunner().invoke(app, [*args, "--out", k]))


@settings(max_examples=150)
@given(
    ops,
    st.sampled_from(
        [
            "1,2;3,4",
            "arange:4x4",
            "[1,2,3]",
            "1,2;3",
            "[[1]]",
            "ones:2x2x2",
            "eye:3",
            "zeros:1",
            "[]",
            "0.5,-1",
        ]
    ),
    st.sampled_from(["1,0;0,1", "ones:3", "[[[[1]]]]", "2", "arange:2x2x2", "x"]),
    values,
    values,
    conventions,
)
def test_trace_never_crashes(op: str, x: str, w: str, s: str, p: str, convention: str) -> None:
    """Random trace arguments end in a result or a clean error (views, --out, --grad-out too)."""
    args = [
        "trace",
        op,
        "--x",
        x,
        "--w",
        w,
        "--s",
        s,
        "--p",
        p,
        "--k",
        "2",
        "--convention",
        convention,
    ]
    _ok(CliRunner().invoke(app, args))
    for extra in (["--out", s], ["--view", "im2col"], ["--grad-out", x], ["--plain"]):
        _ok(CliRunner().invoke(app, [*args, *extra]))


@settings(max_examples=150)
@given(
    st.lists(
        st.sampled_from(
            [
                "conv2d k3 c4",
                "convtranspose2d k2 s2 c2",
                "maxpool2d k2",
                "linear f3",
                "flatten",
                "upsample x2",
                "batchnorm2d",
                "relu",
                "adaptiveavgpool2d out1",
                "conv1d k3 c2",
                "nonsense",
                "conv2d k9 c1",
                "conv2d k3 g2 c3",
            ]
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from(["3,16,16", "1,1,1", "4,7", "2,5,5,5", "x"]),
)
def test_net_never_crashes(layers: list[str], shape: str) -> None:
    """Random inline networks end in a table or a clean error naming the layer."""
    _ok(CliRunner().invoke(app, ["net", "--in", shape, "; ".join(layers)]))
