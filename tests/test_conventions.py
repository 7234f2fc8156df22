"""Framework conventions: hand-checked against TensorFlow/Keras 3 and onnxruntime outputs
(see test_frameworks.py for the live differential tests)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from convcalc import ConvcalcError, MalformedInputError, layer_shape
from convcalc.cli import app
from convcalc.conventions import compare, resolve, same_pads, torch_equivalent
from convcalc.specs import LayerArgs
from convcalc.tensors import load_tensor
from convcalc.trace import trace_layer


def test_tf_same_puts_the_extra_pixel_after() -> None:
    """TF/Keras SAME: out = ceil(in/s); the odd padding pixel goes after (SAME_LOWER: before)."""
    assert same_pads(5, 2, 1, 1) == (0, 1)
    assert same_pads(224, 3, 2, 1) == (0, 1)
    assert same_pads(225, 3, 2, 1) == (1, 1)
    assert same_pads(5, 2, 1, 1, extra_before=True) == (1, 0)
    resolved = resolve("keras", "conv2d", (224, 224), kernel_size=(3,), stride=(2,), padding="same")
    assert layer_shape(resolved.spec, (224, 224)).output == (112, 112)


@pytest.mark.parametrize(
    ("size", "k", "s", "mode", "op", "expected"),
    [  # read off keras.layers.Conv1DTranspose (Keras 3.15, TF 2.21)
        (5, 3, 2, "same", None, 10),
        (5, 3, 2, "valid", None, 11),
        (5, 1, 3, "same", None, 15),
        (5, 1, 3, "valid", None, 15),
        (5, 3, 2, "same", 1, 10),
        (5, 3, 2, "valid", 1, 12),
        (5, 4, 2, "same", 1, 9),
        (4, 2, 3, "same", None, 12),
        (4, 2, 3, "same", 2, 11),
    ],
)
def test_keras_conv_transpose_lengths(
    size: int, k: int, s: int, mode: str, op: int | None, expected: int
) -> None:
    """Keras Conv1DTranspose output lengths, with and without output_padding."""
    resolved = resolve(
        "keras",
        "convtranspose1d",
        (size,),
        kernel_size=(k,),
        stride=(s,),
        padding=mode,
        output_padding=(op,) if op is not None else None,
    )
    assert layer_shape(resolved.spec, (size,)).output == (expected,)


@pytest.mark.parametrize(
    ("convention", "padding", "expected"),
    [  # values read off Keras / onnxruntime for x = 1,2,3 and a kernel of ones
        ("keras", "same", [1, 1, 3, 2, 5, 3]),
        ("onnx", "same_upper", [1, 1, 3, 2, 5, 3]),
        ("onnx", "same_lower", [1, 3, 2, 5, 3, 3]),
        ("onnx", "0", [1, 1, 3, 2, 5, 3, 3]),
    ],
)
def test_conv_transpose_values(convention: str, padding: str, expected: list[int]) -> None:
    """Where each framework crops a transposed conv's odd extra element."""
    from convcalc.specs import parse_padding

    t = trace_layer(
        "convtranspose1d",
        load_tensor("1,2,3", "x"),
        load_tensor("1,1,1", "w"),
        stride=(2,),
        padding=parse_padding(padding),
        convention=convention,
    )
    assert t.display_output.tolist() == expected


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((6,), [1, 3, 2, 5, 3, 3]), ((7,), [1, 1, 3, 2, 5, 3, 3]), ((8,), [1, 1, 3, 2, 5, 3, 3, 0])],
)
def test_onnx_output_shape(shape: tuple[int, ...], expected: list[int]) -> None:
    """ONNX ConvTranspose output_shape: crop total - total//2 at the start; zeros past the end."""
    t = trace_layer(
        "convtranspose1d",
        load_tensor("1,2,3", "x"),
        load_tensor("1,1,1", "w"),
        stride=(2,),
        convention="onnx",
        output_shape=shape,
    )
    assert t.display_output.tolist() == expected


def test_pools_ignore_padding_in_tf() -> None:
    """TF SAME pools: the average divides by the real elements only."""
    t = trace_layer(
        "avgpool1d",
        load_tensor("1,2,3,4,5", "x"),
        kernel_size=(2,),
        padding="same",
        convention="tf",
    )
    assert [float(v) for v in t.display_output.tolist()] == [1.5, 3.5, 5.0]
    t = trace_layer(
        "avgpool1d",
        load_tensor("1,2,3,4,5,6", "x"),
        kernel_size=(3,),
        stride=(2,),
        padding="same",
        convention="keras",
    )
    assert [float(v) for v in t.display_output.tolist()] == [2.0, 4.0, 5.5]


def test_onnx_pool_rules() -> None:
    """onnxruntime: pads below the kernel (not torch's half), ceil drops a padding-only window."""
    ok = resolve("onnx", "maxpool1d", (5,), kernel_size=(3,), stride=(1,), padding=(2,))
    assert layer_shape(ok.spec, (5,)).output == (7,)
    with pytest.raises(ConvcalcError, match="smaller than kernel_size"):
        layer_shape(resolve("onnx", "maxpool1d", (5,), kernel_size=(3,), padding=(3,)).spec, (5,))
    dropped = resolve("onnx", "maxpool1d", (5,), kernel_size=(2,), padding=(1,), ceil_mode=True)
    assert layer_shape(dropped.spec, (5,)).output == (3,)


@pytest.mark.parametrize(
    ("convention", "op", "kwargs", "error", "match"),
    [
        (
            "keras",
            "conv1d",
            dict(kernel_size=(3,), stride=(2,), dilation=(2,), padding="same"),
            ConvcalcError,
            "dilation > 1 together with stride > 1",
        ),
        (
            "keras",
            "conv1d",
            dict(kernel_size=(3,), padding=(1,)),
            MalformedInputError,
            "'same' or 'valid'",
        ),
        (
            "keras",
            "convtranspose1d",
            dict(kernel_size=(3,), stride=(2,), padding="same", output_padding=(2,)),
            ConvcalcError,
            "smaller than stride",
        ),
        (
            "onnx",
            "convtranspose1d",
            dict(kernel_size=(3,), stride=(1,), dilation=(2,), output_padding=(1,)),
            ConvcalcError,
            "smaller than stride",
        ),
        (
            "tf",
            "maxpool1d",
            dict(kernel_size=(2,), ceil_mode=True),
            MalformedInputError,
            "no ceil_mode",
        ),
        (
            "torch",
            "conv1d",
            dict(kernel_size=(3,), padding=((0, 1),)),
            ConvcalcError,
            "pad both sides equally",
        ),
        ("caffe", "conv1d", dict(kernel_size=(3,)), MalformedInputError, "convention"),
    ],
)
def test_framework_limits(
    convention: str,
    op: str,
    kwargs: dict,
    error: type,  # type: ignore[type-arg]
    match: str,
) -> None:
    """Each framework's own limits are enforced with a message naming the parameter."""
    with pytest.raises(error, match=match):
        resolved = resolve(convention, op, (9,), **kwargs)
        layer_shape(resolved.spec, (9,))


def test_torch_equivalents() -> None:
    """The torch code that reproduces another framework's layer."""
    conv = resolve("keras", "conv2d", (225, 225), kernel_size=(2,), stride=(2,), padding="same")
    assert torch_equivalent(conv) == (
        "F.pad(x, (0, 1, 0, 1)) then torch.nn.Conv2d(kernel_size=2, stride=2, padding=0)"
    )
    pool = resolve("keras", "maxpool2d", (225, 225), kernel_size=(2,), padding="same")
    assert torch_equivalent(pool) == "torch.nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True)"
    up = resolve(
        "keras", "convtranspose2d", (112, 112), kernel_size=(3,), stride=(2,), padding="same"
    )
    assert "then y[..., 0:-1, 0:-1]" in torch_equivalent(up)


def test_compare_rows() -> None:
    """compare: Keras gives 113 where torch's default MaxPool2d(2) gives 112."""
    rows = {
        r.convention.value: r for r in compare("maxpool2d", (225,), LayerArgs(kernel_size=(2,)))
    }
    assert rows["torch"].output == (112, 112) and rows["keras"].output == (112, 112)
    same = {
        r.convention.value: r
        for r in compare("maxpool2d", (225,), LayerArgs(kernel_size=(2,), padding="same"))
    }
    assert same["torch"].error and same["keras"].output == (113, 113)
    assert same["onnx"].output == (113, 113)


def test_cli_conventions(runner: CliRunner) -> None:
    """shape/trace/compare take --convention; JSON carries the resolution."""
    data = json.loads(
        runner.invoke(
            app,
            [
                "shape",
                "conv2d",
                "--in",
                "224",
                "--k",
                "3",
                "--s",
                "2",
                "--p",
                "same",
                "--convention",
                "keras",
                "--json",
            ],
        ).stdout
    )
    assert data["convention"] == "keras" and data["output"] == [112, 112]
    assert data["params"]["padding"] == [[0, 1], [0, 1]]
    assert "Conv2D" in data["framework_call"]
    table = runner.invoke(
        app, ["compare", "convtranspose2d", "--in", "112", "--k", "3", "--s", "2", "--p", "same"]
    )
    assert table.exit_code == 0 and "224x224" in table.stdout
    cmp_json = json.loads(
        runner.invoke(
            app,
            ["compare", "conv2d", "--in", "224", "--k", "3", "--s", "2", "--p", "same", "--json"],
        ).stdout
    )
    assert {c["convention"]: c["output"] for c in cmp_json["conventions"]} == {
        "torch": None,
        "tf": [112, 112],
        "keras": [112, 112],
        "onnx": [112, 112],
    }
    bad = runner.invoke(
        app, ["shape", "conv2d", "--in", "9", "--k", "3", "--p", "1", "--convention", "keras"]
    )
    assert bad.exit_code == 2
    out = runner.invoke(
        app,
        [
            "shape",
            "convtranspose2d",
            "--in",
            "112",
            "--k",
            "3",
            "--s",
            "2",
            "--p",
            "1",
            "--output-shape",
            "224",
            "--plain",
        ],
    )
    assert out.stdout == "224x224\n"


@pytest.mark.parametrize(
    ("stride", "dilation", "expected"),
    [(1, 1, [3, 8, 14, 20, 26]), (1, 2, [3, 6, 11, 16, 22]), (2, 1, [3, 14, 26])],
)
def test_keras_causal_conv1d(stride: int, dilation: int, expected: list[int]) -> None:
    """Keras Conv1D(padding='causal'): d*(k-1) zeros before, none after (values read off Keras)."""
    t = trace_layer(
        "conv1d",
        load_tensor("1,2,3,4,5", "x"),
        load_tensor("1,2,3", "w"),
        stride=(stride,),
        dilation=(dilation,),
        padding="causal",
        convention="keras",
    )
    assert t.display_output.tolist() == expected
    with pytest.raises(MalformedInputError, match="causal"):
        resolve("keras", "conv2d", (5, 5), kernel_size=(3,), padding="causal")


@pytest.mark.parametrize(
    ("padding", "shape", "expected"),
    [  # tf.nn.conv1d_transpose(x=1,2,3, ones(3), output_shape, strides=2) on TF 2.21
        ("valid", 7, [1, 1, 3, 2, 5, 3, 3]),
        ("valid", 8, [1, 1, 3, 2, 5, 3, 3, 0]),
        ("valid", 9, None),
        ("valid", 6, None),
        ("same", 6, [1, 1, 3, 2, 5, 3]),
        ("same", 5, [1, 3, 2, 5, 3]),
        ("same", 4, None),
        ("same", 7, None),
    ],
)
def test_tf_conv_transpose_output_shape(
    padding: str, shape: int, expected: list[int] | None
) -> None:
    """tf.nn.conv_transpose with an explicit output_shape: crops, zeros and rejections."""
    try:
        t = trace_layer(
            "convtranspose1d",
            load_tensor("1,2,3", "x"),
            load_tensor("1,1,1", "w"),
            stride=(2,),
            padding=padding,
            convention="tf",
            output_shape=(shape,),
        )
        got = t.display_output.tolist()
    except ConvcalcError:
        got = None
    assert got == expected


def test_onnx_ceil_mode_is_for_pools() -> None:
    """--ceil on an ONNX ConvTranspose is a usage error, not silently ignored."""
    with pytest.raises(
        MalformedInputError,
        match=r"ceil_mode \(--ceil\): PyTorch.s ConvTranspose takes no ceil_mode; it applies to "
        "maxpool, avgpool, lppool only",
    ):
        resolve("onnx", "convtranspose1d", (3,), kernel_size=(3,), ceil_mode=True)
