"""The output-size core: hand-checked tables, brute force and laws."""

from __future__ import annotations

import pytest
from hypothesis import given, reject
from hypothesis import strategies as st

from convcalc import (
    ConvcalcError,
    MalformedInputError,
    build_spec,
    conv_dim,
    conv_output_size,
    conv_transpose_dim,
    conv_transpose_output_size,
    layer_shape,
    pool_dim,
    pool_output_size,
)
from convcalc.specs import OpKind, parse_op, parse_padding, parse_size_list

# (input, kernel, stride, padding, dilation, expected) -- hand-checked, the first three from the
# reference articles (5x5 input, 3x3 kernel).
CONV_TABLE = [
    (5, 3, 1, 0, 1, 3),
    (5, 3, 2, 0, 1, 2),
    (5, 3, 1, 1, 1, 5),
    (224, 7, 2, 3, 1, 112),
    (224, 3, 2, 1, 1, 112),
    (7, 3, 1, 0, 2, 3),
    (10, 3, 3, 0, 1, 3),
    (1, 1, 1, 0, 1, 1),
]

# (input, kernel, stride, padding, output_padding, expected) -- the reference articles' four
# ConvTranspose2d tensors and the 2/k2 basics.
CONVT_TABLE = [
    (2, 2, 1, 0, 0, 3),
    (2, 2, 2, 1, 0, 2),
    (2, 2, 3, 1, 0, 3),
    (2, 2, 2, 0, 0, 4),
    (2, 2, 2, 1, 1, 3),
    (4, 4, 2, 1, 0, 8),
    (112, 3, 2, 1, 1, 224),
]

# (input, kernel, stride, padding, ceil_mode, expected), checked against torch by hand.
POOL_TABLE = [
    (5, 2, 2, 0, False, 2),
    (5, 2, 2, 0, True, 3),
    (5, 3, 2, 1, True, 3),
    (5, 2, 2, 1, True, 3),  # ceil would give 4, but that window starts in the right padding
    (112, 3, 2, 1, False, 56),
    (7, 3, 3, 1, True, 3),
]


@pytest.mark.parametrize(("size", "k", "s", "p", "d", "expected"), CONV_TABLE)
def test_conv_table(size: int, k: int, s: int, p: int, d: int, expected: int) -> None:
    """Conv output sizes match the hand-checked table."""
    assert conv_output_size(size, k, s, p, d) == expected


@pytest.mark.parametrize(("size", "k", "s", "p", "op", "expected"), CONVT_TABLE)
def test_conv_transpose_table(size: int, k: int, s: int, p: int, op: int, expected: int) -> None:
    """Transposed-conv output sizes match the reference articles."""
    assert conv_transpose_output_size(size, k, s, p, output_padding=op) == expected


@pytest.mark.parametrize(("size", "k", "s", "p", "ceil", "expected"), POOL_TABLE)
def test_pool_table(size: int, k: int, s: int, p: int, ceil: bool, expected: int) -> None:
    """Pool output sizes, floor and ceil mode, match the table."""
    assert pool_output_size(size, k, s, p, ceil_mode=ceil) == expected


def test_ceil_mode_drop_is_reported() -> None:
    """A ceil-mode window that would start in the right padding is dropped and explained."""
    dim = pool_dim(5, 2, 2, 1, ceil_mode=True)
    assert dim.ceil_dropped_last and dim.output == 3
    assert "drops it" in dim.notes[0]
    assert dim.substituted == "ceil((5 + 2*1 - 1*(2-1) - 1) / 2) + 1 = 4 - 1 = 3"


def test_huge_sizes_are_exact() -> None:
    """Sizes of 10**9 and far beyond stay exact Python ints."""
    assert conv_output_size(10**9, 3, 2, 1) == 500_000_000
    assert conv_output_size(10**30 + 1, 3, 2) == 5 * 10**29
    assert conv_transpose_output_size(10**18, 4, 2, 1) == 2 * 10**18


def test_working_shows_numbers() -> None:
    """The working puts the numbers into the formula, as the issue's example does."""
    assert conv_dim(5, 3, 2).substituted == "floor((5 + 2*0 - 1*(3-1) - 1) / 2) + 1 = 2"
    dim = conv_transpose_dim(2, 2, 2, 1, output_padding=1)
    assert dim.effective_padding == (0, 1)
    assert dim.zero_inserted_input == 3
    assert dim.working[-1] == "(2 - 1)*2 - 2*1 + 1*(2-1) + 1 + 1 = 3"


def test_unused_trailing_input() -> None:
    """A strided conv that cannot reach the end says how much input it never reads."""
    dim = conv_dim(6, 3, 2)
    assert dim.output == 2 and dim.unread_input == 1
    assert "never read" in dim.notes[0]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: conv_dim(2, 5), "kernel_size: kernel_size 5 is larger than the padded input 2"),
        (lambda: conv_dim(5, 3, dilation=3), "dilated kernel extent 7"),
        (lambda: conv_transpose_dim(5, 3, 2, output_padding=2), "output_padding: 2 must be"),
        (lambda: conv_transpose_dim(1, 1, 1, 1), "padding: output size -1 is not positive"),
        (lambda: pool_dim(5, 3, padding=2), "padding: 2 must be at most half"),
        (lambda: pool_dim(2, 3, 1), "output size 0 is not positive"),
    ],
)
def test_invalid_layers_raise(call: object, match: str) -> None:
    """Every configuration torch rejects raises ConvcalcError naming the parameter."""
    with pytest.raises(ConvcalcError, match=match) as info:
        call()  # type: ignore[operator]
    assert not isinstance(info.value, MalformedInputError)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(size=0, kernel=3),
        dict(size=5, kernel=0),
        dict(size=5, kernel=3, stride=0),
        dict(size=5, kernel=3, padding=-1),
        dict(size=5, kernel=3, dilation=0),
    ],
)
def test_out_of_range_values_are_malformed(kwargs: dict[str, int]) -> None:
    """Zero or negative sizes are malformed input (exit 2), not invalid layers."""
    with pytest.raises(MalformedInputError):
        conv_dim(**kwargs)


def test_output_padding_may_reach_dilation() -> None:
    """torch allows output_padding >= stride when it is below the dilation."""
    assert conv_transpose_output_size(3, 3, 1, 0, dilation=3, output_padding=2) == 11


def test_same_padding_puts_extra_after() -> None:
    """padding='same' with an even kernel puts the odd pixel on the right, like torch."""
    spec = build_spec("conv1d", kernel_size=(4,), padding="same")
    assert spec.padding == ((1, 2),)
    assert layer_shape(spec, (5,)).output == (5,)
    with pytest.raises(ConvcalcError, match="strided"):
        build_spec("conv1d", kernel_size=(3,), stride=(2,), padding="same")


def test_avgpool3d_needs_unpadded_fit() -> None:
    """AvgPool3d (only) rejects an unpadded input smaller than the kernel, as torch does."""
    with pytest.raises(ConvcalcError, match="AvgPool3d"):
        layer_shape(build_spec("avgpool3d", kernel_size=(3,), padding=(1,)), (2, 5, 5))
    assert layer_shape(
        build_spec("maxpool3d", kernel_size=(3,), padding=(1,)), (2, 5, 5)
    ).output == (1, 2, 2)


def test_groups_must_divide_channels() -> None:
    """in_channels and out_channels must both divide by groups."""
    with pytest.raises(ConvcalcError, match="out_channels=6 must be divisible by groups=4"):
        build_spec("conv2d", kernel_size=(3,), groups=4, in_channels=8, out_channels=6)


def test_tensor_shapes() -> None:
    """With channels and batch the full (N, C, *spatial) shapes are known."""
    spec = build_spec("conv2d", kernel_size=(3,), padding=(1,), in_channels=3, out_channels=8)
    result = layer_shape(spec, (32, 32), batch=4)
    assert result.tensor_shape("input") == (4, 3, 32, 32)
    assert result.tensor_shape("output") == (4, 8, 32, 32)
    pool = layer_shape(build_spec("maxpool2d", kernel_size=(2,), in_channels=8), (32, 32))
    assert pool.tensor_shape("output") == (8, 16, 16)


@pytest.mark.parametrize(
    ("name", "kind", "ndim"),
    [
        ("conv2d", OpKind.CONV, 2),
        ("Conv_Transpose2d", OpKind.CONVTRANSPOSE, 2),
        ("deconv3d", OpKind.CONVTRANSPOSE, 3),
        ("max_pool1d", OpKind.MAXPOOL, 1),
        ("nn.AvgPool2d", OpKind.AVGPOOL, 2),
        ("conv", OpKind.CONV, None),
        ("transposed-conv", OpKind.CONVTRANSPOSE, None),
    ],
)
def test_op_aliases(name: str, kind: OpKind, ndim: int | None) -> None:
    """Common spellings of the op names are understood."""
    parsed = parse_op(name)
    assert (parsed.kind, parsed.ndim) == (kind, ndim)


@pytest.mark.parametrize("bad", ["conv4d", "pool", "", "convv2d"])
def test_unknown_op(bad: str) -> None:
    """Unknown op names are malformed input."""
    with pytest.raises(MalformedInputError, match="unknown op"):
        parse_op(bad)


def test_size_lists() -> None:
    """Sizes parse from 5, 5x7, 5,7 and (5, 7); junk is malformed."""
    assert parse_size_list("(5, 7)", "x") == (5, 7)
    assert parse_size_list("5×7", "x") == (5, 7)
    assert parse_padding("1:2x0") == ((1, 2), (0, 0))
    for bad in ("abc", "5.5", "", "x", "5x-1"):
        with pytest.raises(MalformedInputError):
            parse_size_list(bad, "input", minimum=1)


# --- brute force and laws --------------------------------------------------------------------

sizes = st.integers(1, 60)
kernels = st.integers(1, 7)
strides = st.integers(1, 5)
dilations = st.integers(1, 3)


@given(sizes, kernels, strides, st.integers(0, 4), dilations)
def test_conv_counts_window_starts(size: int, k: int, s: int, p: int, d: int) -> None:
    """The conv formula equals the number of window starts that fit in the padded input."""
    extent = d * (k - 1) + 1
    starts = [i for i in range(0, size + 2 * p, s) if i + extent <= size + 2 * p]
    if not starts:
        with pytest.raises(ConvcalcError):
            conv_output_size(size, k, s, p, d)
    else:
        assert conv_output_size(size, k, s, p, d) == len(starts)


@given(sizes, kernels, strides, st.integers(0, 4), dilations)
def test_conv_then_transpose_restores_size(size: int, k: int, s: int, p: int, d: int) -> None:
    """A conv followed by the transposed conv with the same k, s, p, d and output_padding
    (in + 2p - d(k-1) - 1) mod s returns the input size."""
    try:
        out = conv_output_size(size, k, s, p, d)
    except ConvcalcError:
        reject()
    op = (size + 2 * p - d * (k - 1) - 1) % s
    assert conv_transpose_output_size(out, k, s, p, d, op) == size


@given(sizes, kernels, strides, st.integers(0, 3), dilations)
def test_ceil_never_fewer_than_floor(size: int, k: int, s: int, p: int, d: int) -> None:
    """ceil_mode gives the floor-mode size or one more, never fewer."""
    p = min(p, k // 2)
    try:
        floor = pool_output_size(size, k, s, p, d)
    except ConvcalcError:
        reject()
    ceil = pool_output_size(size, k, s, p, d, ceil_mode=True)
    assert floor <= ceil <= floor + 1


@given(sizes, kernels, strides, st.integers(0, 4), dilations)
def test_output_grows_with_input(size: int, k: int, s: int, p: int, d: int) -> None:
    """A conv's output never shrinks when its input grows."""
    try:
        out = conv_output_size(size, k, s, p, d)
    except ConvcalcError:
        reject()
    assert conv_output_size(size + 1, k, s, p, d) >= out
