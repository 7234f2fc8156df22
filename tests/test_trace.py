"""The trace evaluator: the reference articles' worked examples, laws, and data parsing."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from convcalc import ConvcalcError, MalformedInputError
from convcalc.families import family
from convcalc.tensors import load_tensor
from convcalc.trace import conv_view, matrix_view, scatter_view, trace_layer


def test_article_conv_411_456() -> None:
    """conv2d of arange:5x5 with arange:3x3: output[0][0] = 411 and output[0][1] = 456."""
    t = trace_layer("conv2d", load_tensor("arange:5x5", "x"), load_tensor("arange:3x3", "w"))
    assert t.display_output.tolist()[0][:2] == [411, 456]
    first = t.all_steps()[0]
    assert [(term.input_value, term.weight_value) for term in first.terms] == [
        (1, 1),
        (2, 2),
        (3, 3),
        (6, 4),
        (7, 5),
        (8, 6),
        (11, 7),
        (12, 8),
        (13, 9),
    ]
    assert first.value == 411


@pytest.mark.parametrize(
    ("stride", "padding", "output_padding", "expected"),
    [
        (2, 1, 0, "1,0;0,4"),
        (3, 1, 0, "1,0,0;0,0,0;0,0,4"),
        (2, 0, 0, "1,0,2,0;0,1,0,2;3,0,4,0;0,3,0,4"),
        (2, 1, 1, "1,0,2;0,4,0;3,0,4"),
    ],
)
def test_article_conv_transpose(
    stride: int, padding: int, output_padding: int, expected: str
) -> None:
    """The reference article's four ConvTranspose2d tensors, in every view."""
    t = trace_layer(
        "convtranspose2d",
        load_tensor("1,2;3,4", "x"),
        load_tensor("1,0;0,1", "w"),
        stride=(stride,),
        padding=(padding,),
        output_padding=(output_padding,),
    )
    want = load_tensor(expected, "expected")
    assert (t.display_output == want).all()
    assert (scatter_view(t).output == t.output).all()
    assert (conv_view(t).trace.output == t.output).all()
    assert (matrix_view(t).y_flat.reshape(t.output.shape) == t.output).all()


@pytest.mark.parametrize(
    ("op", "kwargs", "expected"),
    [
        ("avgpool1d", dict(kernel_size=(2,), stride=(2,), ceil_mode=True), ["3/2", "7/2", "5"]),
        (
            "avgpool1d",
            dict(kernel_size=(3,), stride=(2,), padding=(1,), ceil_mode=True),
            ["1", "3", "3"],
        ),
        (
            "avgpool1d",
            dict(
                kernel_size=(3,), stride=(2,), padding=(1,), ceil_mode=True, count_include_pad=False
            ),
            ["3/2", "3", "9/2"],
        ),
        ("maxpool1d", dict(kernel_size=(2,), ceil_mode=True), ["2", "4", "5"]),
    ],
)
def test_pools_on_1_to_5(op: str, kwargs: dict[str, object], expected: list[str]) -> None:
    """Pools of 1..5 as checked against torch (avg pools give exact fractions)."""
    t = trace_layer(op, load_tensor("1,2,3,4,5", "x"), **kwargs)  # type: ignore[arg-type]
    assert [str(v) for v in t.display_output.tolist()] == expected


def test_avg_divisor_reasons() -> None:
    """Each avg step carries its divisor and why."""
    t = trace_layer(
        "avgpool1d",
        load_tensor("1,2,3,4,5", "x"),
        kernel_size=(3,),
        stride=(2,),
        padding=(1,),
        count_include_pad=False,
    )
    assert t.all_steps()[0].divisor == 2 and "count_include_pad=False" in (
        t.all_steps()[0].divisor_reason or ""
    )
    assert t.all_steps()[0].value == Fraction(3, 2)


def test_max_winner_is_first_maximum() -> None:
    """The max-pool winner is the first maximum in window order, never padding."""
    t = trace_layer(
        "maxpool1d", load_tensor("-5,-1,-1", "x"), kernel_size=(3,), stride=(1,), padding=(1,)
    )
    step = t.all_steps()[1]
    assert step.value == -1 and step.winner is not None
    assert step.terms[step.winner].input_index == (0, 1)
    assert t.all_steps()[0].value == -1  # padding (-inf) never wins


def test_groups_bias_and_channels() -> None:
    """Multi-channel input, grouped weight and bias use PyTorch's layouts."""
    x = load_tensor("[[[1,2],[3,4]],[[5,6],[7,8]]]", "x")  # (2, 2, 2)
    w = load_tensor("[[[[1]]],[[[10]]]]", "w")  # (2, 1, 1, 1): depthwise 1x1
    t = trace_layer("conv2d", x, w, load_tensor("100,200", "b"), groups=2)
    assert t.output.tolist() == [[[101, 102], [103, 104]], [[250, 260], [270, 280]]]
    assert not t.plain


def test_plain_kernel_depthwise() -> None:
    """A plain kernel with groups == channels is one kernel per channel."""
    x = load_tensor("[[1,2,3],[4,5,6]]", "x")
    t = trace_layer("conv1d", x, load_tensor("1,1", "w"), groups=2)
    assert t.output.tolist() == [[3, 5], [9, 11]]


def test_exact_fractions_in_data() -> None:
    """Decimal data stays exact: 0.1 + 0.2 is 3/10."""
    t = trace_layer("conv1d", load_tensor("0.1,0.2", "x"), load_tensor("1,1", "w"))
    assert t.output.tolist() == [[Fraction(3, 10)]]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: load_tensor("1,2;3", "x"), "ragged"),
        (lambda: load_tensor("1,a;3,4", "x"), "not a number"),
        (lambda: load_tensor("[[1,2],[3]]", "x"), "ragged"),
        (lambda: load_tensor("[1, 2", "x"), "not valid JSON"),
        (lambda: load_tensor("@/nonexistent.json", "x"), "no such file"),
        (
            lambda: trace_layer(
                "conv1d", load_tensor("1,2,3,4,5", "x"), load_tensor("arange:4x4", "w")
            ),
            "weight",
        ),
        (
            lambda: trace_layer(
                "conv2d",
                load_tensor("[[[1,2],[3,4]],[[1,2],[3,4]]]", "x"),
                load_tensor("[[[[1]]]]", "w"),
            ),
            "C_in/groups",
        ),
        (lambda: trace_layer("conv2d", load_tensor("1,2;3,4", "x"), None), "need --w"),
        (
            lambda: trace_layer(
                "conv2d",
                load_tensor("1,2;3,4", "x"),
                load_tensor("1;1", "w"),
                load_tensor("1,2", "b"),
            ),
            "bias",
        ),
        (
            lambda: trace_layer(
                "conv2d", load_tensor("1,2;3,4", "x"), load_tensor("1;1", "w"), kernel_size=(3,)
            ),
            "disagrees",
        ),
    ],
)
def test_bad_data_is_malformed(call: object, error: str) -> None:
    """Bad data is a clear MalformedInputError (exit 2)."""
    with pytest.raises(MalformedInputError, match=error):
        call()  # type: ignore[operator]


def test_invalid_layer_on_data() -> None:
    """A layer invalid for the data raises ConvcalcError (exit 1)."""
    with pytest.raises(ConvcalcError, match="kernel_size"):
        trace_layer("conv2d", load_tensor("1,2;3,4", "x"), load_tensor("arange:3x3", "w"))


def test_files_and_generators(tmp_path: Path) -> None:
    """@file .json/.csv/.npy and the generators load the same data."""
    (tmp_path / "x.json").write_text("[[1, 2], [3, 4]]")
    (tmp_path / "x.csv").write_text("1,2\n3,4\n")
    np.save(tmp_path / "x.npy", np.array([[1, 2], [3, 4]]))
    want = load_tensor("1,2;3,4", "x")
    for name in ("x.json", "x.csv", "x.npy"):
        assert (load_tensor(f"@{tmp_path / name}", "x") == want).all()
    assert load_tensor("eye:2", "x").tolist() == [[1, 0], [0, 1]]
    assert load_tensor("full:2:7", "x").tolist() == [7, 7]
    assert load_tensor("ones:2x2", "x").tolist() == [[1, 1], [1, 1]]
    assert json.dumps(load_tensor("zeros:2", "x").tolist()) == "[0, 0]"


# --- laws: every trace equals the vectorised reference; the views agree -----------------------

small = st.integers(-3, 3)


@st.composite
def layers(draw: st.DrawFn) -> tuple[str, dict[str, object], np.ndarray, np.ndarray | None]:
    kind = draw(st.sampled_from(["conv", "convtranspose", "maxpool", "avgpool"]))
    ndim = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, 2])) if kind.startswith("conv") else 1
    c_in = groups * draw(st.integers(1, 2))
    size = tuple(draw(st.integers(1, 6)) for _ in range(ndim))
    k = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    x = np.array(
        draw(
            st.lists(small, min_size=c_in * int(np.prod(size)), max_size=c_in * int(np.prod(size)))
        ),
        dtype=object,
    )
    x = x.reshape((c_in, *size))
    kwargs: dict[str, object] = {
        "stride": (draw(st.integers(1, 3)),),
        "padding": (draw(st.integers(0, 2)),),
    }
    w = None
    if kind == "conv":
        c_out = groups * draw(st.integers(1, 2))
        shape = (c_out, c_in // groups, *k)
        kwargs["dilation"] = (draw(st.integers(1, 2)),)
        kwargs["groups"] = groups
    elif kind == "convtranspose":
        shape = (c_in, draw(st.integers(1, 2)), *k)
        kwargs["dilation"] = (draw(st.integers(1, 2)),)
        kwargs["output_padding"] = (draw(st.integers(0, 1)),)
        kwargs["groups"] = groups
    else:
        kwargs["kernel_size"] = k
        kwargs["ceil_mode"] = draw(st.booleans())
        if kind == "maxpool":
            kwargs["dilation"] = (draw(st.integers(1, 2)),)
        else:
            kwargs["count_include_pad"] = draw(st.booleans())
        shape = ()
    if shape:
        w = np.array(
            draw(st.lists(small, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))),
            dtype=object,
        ).reshape(shape)
    return f"{kind}{ndim}d", kwargs, x, w


@settings(max_examples=150, deadline=None)
@given(layers())
def test_trace_equals_vectorised_reference(case: tuple) -> None:  # type: ignore[type-arg]
    """Every step of a valid trace (element by element) equals the output computed by the
    independent vectorised implementation, and so does every view of a transposed conv."""
    op, kwargs, x, w = case
    try:
        t = trace_layer(op, x, w, **kwargs)
    except ConvcalcError:
        reject()
    assert t.output is not None
    steps = t.all_steps()
    assert len(steps) == t.output.size
    assert all(step.value == t.output[step.index] for step in steps)
    assert (family(t.spec.kind).reference(t.spec, t.x, t.w, t.b) == t.output).all()
    if t.spec.kind.value == "convtranspose":
        assert (scatter_view(t).output == t.output).all()
        inner = conv_view(t).trace
        assert all(step.value == t.output[step.index] for step in inner.all_steps())
        if t.x.shape[0] == 1 and t.w is not None and t.w.shape[1] == 1:
            try:
                matrix = matrix_view(t)
            except ConvcalcError:
                return
            assert (matrix.y_flat.reshape(t.output.shape) == t.output).all()


def test_steps_equal_output_under_every_convention() -> None:
    """600 generated layers (all ops, 1-d and 2-d, torch/tf/keras/onnx paddings, ceil_mode,
    count_include_pad): each step computed element by element equals the vectorised output."""
    import random

    rng = random.Random("steps-vs-output")
    traced = 0
    for _ in range(600):
        kind = rng.choice(["conv", "convtranspose", "maxpool", "avgpool"])
        ndim = rng.randint(1, 2)
        convention = rng.choice(["torch", "torch", "tf", "keras", "onnx"])
        size = tuple(rng.randint(1, 7) for _ in range(ndim))
        k = tuple(rng.randint(1, 4) for _ in range(ndim))
        kw: dict[str, object] = {
            "stride": tuple(rng.randint(1, 3) for _ in range(ndim)),
            "dilation": tuple(rng.randint(1, 2) for _ in range(ndim))
            if kind != "avgpool"
            else (1,),
            "convention": convention,
        }
        if convention == "torch":
            kw["padding"] = tuple(rng.randint(0, 2) for _ in range(ndim))
        elif convention == "onnx":
            kw["padding"] = rng.choice(
                ["same_upper", "same_lower", "valid"]
                + [tuple((rng.randint(0, 2), rng.randint(0, 2)) for _ in range(ndim))]
            )
        else:
            kw["padding"] = rng.choice(["same", "valid"])
        x = np.empty(size, dtype=object)
        x.reshape(-1)[:] = [rng.randint(-5, 5) for _ in range(x.size)]
        w = None
        if kind.startswith("conv"):
            w = np.empty(k, dtype=object)
            w.reshape(-1)[:] = [rng.randint(-3, 3) for _ in range(w.size)]
        else:
            kw["kernel_size"] = k
            kw["ceil_mode"] = rng.random() < 0.3
            if kind == "avgpool":
                kw["count_include_pad"] = rng.choice([None, True, False])
        try:
            t = trace_layer(f"{kind}{ndim}d", x, w, **kw)  # type: ignore[arg-type]
        except ConvcalcError:
            continue
        traced += 1
        assert t.output is not None
        for step in t.iter_steps():
            assert step.value == t.output[step.index], (kind, convention, size, kw, step.index)
    assert traced > 300
