"""Exact output-size rules, one per op, per spatial dimension.

Every rule lives here once; the CLI, the trace evaluator, the network checker and the solver all
call it. Standard library only, Python ints only (no float division anywhere), so sizes of 10**9
and beyond are exact.

>>> conv_output_size(5, 3, stride=2)
2
>>> conv_transpose_output_size(2, 2, stride=2, padding=1, output_padding=1)
3
>>> pool_output_size(5, 2, ceil_mode=True)
3
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union, assert_never

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.ops import Param, SizeRule
from convcalc.specs import (
    LayerSpec,
    OpKind,
    OutputPaddingLimit,
    PoolPadLimit,
    dimension_names,
)


def dilated_kernel_extent(kernel: int, dilation: int = 1) -> int:
    """How many input positions one (dilated) kernel window spans: ``d*(k-1) + 1``."""
    return dilation * (kernel - 1) + 1


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` on integers (exact at any size; no float division anywhere).

    >>> ceil_div(7, 2), ceil_div(-7, 2)
    (4, -3)
    """
    return -(-a // b)


def transposed_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """The transposed-conv rule, unchecked: ``(in - 1)*s - p_before - p_after + d*(k-1) +
    output_padding + 1`` (the full scatter result, ``padding`` (0, 0), is the size before the
    crop). Every transposed size in convcalc comes from here.

    >>> transposed_size(2, 2, stride=2, padding=(1, 1), output_padding=1)
    3
    """
    return (
        (size - 1) * stride
        - padding[0]
        - padding[1]
        + dilated_kernel_extent(kernel, dilation)
        + output_padding
    )


def zero_inserted_size(size: int, stride: int) -> int:
    """The input of a transposed conv with ``stride - 1`` zeros between neighbours."""
    return (size - 1) * stride + 1


@dataclass(frozen=True)
class DimShape:
    """One spatial dimension of one layer: its parameters, its output and how it was found."""

    kind: OpKind
    input: int
    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int
    output_padding: int
    ceil_mode: bool
    output: int
    floor_output: int
    ceil_dropped_last: bool = False
    label: str = ""

    @property
    def kernel_extent(self) -> int:
        return dilated_kernel_extent(self.kernel, self.dilation)

    @property
    def transposed(self) -> bool:
        """Sized by the transposed rule (its working is the zero-insertion form)."""
        return self.kind.family.rule is SizeRule.TRANSPOSED

    @property
    def paddable(self) -> bool:
        """A family without padding (LPPool) writes no padding term."""
        return self.kind.family.takes_param(Param.PADDING)

    @property
    def undilated(self) -> bool:
        """A family without dilation writes its window as ``k``."""
        return not self.kind.family.takes_param(Param.DILATION)

    @property
    def padded_input(self) -> int:
        return self.input + self.pad_before + self.pad_after

    @property
    def symmetric(self) -> bool:
        return self.pad_before == self.pad_after

    @property
    def zero_inserted_input(self) -> int:
        """Transposed conv: the input with ``stride-1`` zeros between neighbours."""
        return zero_inserted_size(self.input, self.stride)

    @property
    def effective_padding(self) -> tuple[int, int]:
        """Transposed conv: padding ``d*(k-1) - p`` of the zero-inserted input, before and after.

        The far side also gets ``output_padding``. A negative value means that many elements are
        cropped instead.
        """
        span = self.kernel_extent - 1
        return span - self.pad_before, span - self.pad_after + self.output_padding

    @property
    def inverse_output(self) -> int:
        """Conv/pool: what the transposed conv with the same k, s, p, d and output_padding 0
        gives back from this output (the size a decoder restores)."""
        return transposed_size(
            self.output, self.kernel, self.stride, (self.pad_before, self.pad_after), self.dilation
        )

    @property
    def unused_trailing(self) -> int:
        """Conv/pool: padded-input elements after the last window (negative: it hangs past)."""
        last_window_end = (self.output - 1) * self.stride + self.kernel_extent
        return self.padded_input - last_window_end

    @property
    def unread_input(self) -> int:
        """Conv/pool: real input elements after the last window's end (floor mode drops them)."""
        last_window_end = (self.output - 1) * self.stride + self.kernel_extent
        return max(0, self.input + self.pad_before - last_window_end)

    @property
    def formula(self) -> str:
        """The rule in symbols, PyTorch's notation."""
        pad = "2*p" if self.symmetric else "p_before + p_after"
        if self.transposed:
            pad = "2*p" if self.symmetric else "p_before - p_after"
            pad_term = "- 2*p" if self.symmetric else "- p_before - p_after"
            return f"(in - 1)*s {pad_term} + d*(k-1) + output_padding + 1"
        span = "k" if self.undilated else "d*(k-1) - 1"
        rounding = "ceil" if self.ceil_mode else "floor"
        padded = f" + {pad}" if self.paddable else ""
        return f"{rounding}((in{padded} - {span}) / s) + 1"

    @property
    def substituted(self) -> str:
        """The rule with this dimension's numbers put in, and its value."""
        if self.symmetric:
            pad = f"2*{self.pad_before}"
        else:
            pad = f"{self.pad_before} + {self.pad_after}"
        if self.transposed:
            pads = f"- {pad}" if self.symmetric else f"- {self.pad_before} - {self.pad_after}"
            return (
                f"({self.input} - 1)*{self.stride} {pads} + {self.dilation}*({self.kernel}-1)"
                f" + {self.output_padding} + 1 = {self.output}"
            )
        if self.undilated:
            span = f"{self.kernel}"
        else:
            span = f"{self.dilation}*({self.kernel}-1) - 1"
        rounding = "ceil" if self.ceil_mode else "floor"
        raw = self.floor_output
        if self.ceil_mode:
            raw = self.output + 1 if self.ceil_dropped_last else self.output
        padded = f" + {pad}" if self.paddable else ""
        text = f"{rounding}(({self.input}{padded} - {span}) / {self.stride}) + 1 = {raw}"
        if self.ceil_dropped_last:
            text += f" - 1 = {self.output}"
        return text

    @property
    def working(self) -> tuple[str, ...]:
        """The steps a person would write down, ending in the substituted formula."""
        lines = []
        if self.transposed:
            before, after = self.effective_padding
            lines.append(
                f"zero-inserted input (in - 1)*s + 1 = ({self.input} - 1)*{self.stride} + 1 = "
                f"{self.zero_inserted_input}"
            )
            if self.symmetric:
                lines.append(
                    f"effective padding d*(k-1) - p = {self.dilation}*({self.kernel}-1) - "
                    f"{self.pad_before} = {before}"
                    + (f"; + op {self.output_padding} at the end" if self.output_padding else "")
                    + (" (negative: crop)" if min(before, after) < 0 else "")
                )
            else:
                lines.append(
                    f"effective padding d*(k-1) - p: {before} before, "
                    f"{self.dilation * (self.kernel - 1) - self.pad_after} after"
                    + (f" + op {self.output_padding}" if self.output_padding else "")
                    + (" (negative: crop)" if min(before, after) < 0 else "")
                )
            lines.append(
                f"stride-1 conv: {self.zero_inserted_input} + {before} + {after} - "
                f"{self.kernel_extent} + 1 = {self.output}"
            )
        else:
            if self.dilation != 1:
                lines.append(
                    f"dilated kernel extent d*(k-1) + 1 = {self.dilation}*({self.kernel}-1) + 1"
                    f" = {self.kernel_extent}"
                )
            if self.pad_before or self.pad_after:
                lines.append(
                    f"padded input {self.input} + {self.pad_before} + {self.pad_after}"
                    f" = {self.padded_input}"
                )
        lines.append(self.substituted)
        return tuple(lines)

    @property
    def notes(self) -> tuple[str, ...]:
        """What a reviewer should know: dropped ceil windows, unread trailing input."""
        notes = []
        if self.transposed:
            return ()
        if self.ceil_mode and self.ceil_dropped_last:
            start = self.output * self.stride
            notes.append(
                f"ceil_mode: the extra window would start at {start} >= in + p = "
                f"{self.input + self.pad_before} (all right padding), so PyTorch drops it"
            )
        elif self.ceil_mode and self.output > self.floor_output:
            notes.append(
                f"ceil_mode: the last window hangs {-self.unused_trailing} past the padded input "
                f"(floor mode gives {self.floor_output})"
            )
        if self.unread_input > 0:
            notes.append(
                f"the last {self.unread_input} input element(s) are never read (the windows "
                "stop short of the end)"
            )
        return tuple(notes)


def _where(label: str) -> str:
    return f" in dimension {label}" if label else ""


def _check_ranges(
    size: int, kernel: int, stride: int, pads: tuple[int, int], dilation: int, output_padding: int
) -> None:
    for name, value, minimum in (
        ("input size", size, 1),
        ("kernel_size", kernel, 1),
        ("stride", stride, 1),
        ("dilation", dilation, 1),
        ("padding", min(pads), 0),
        ("output_padding", output_padding, 0),
    ):
        if value < minimum:
            rule = "positive" if minimum else "non-negative"
            raise MalformedInputError(f"{name} must be {rule}, got {value}")


def conv_dim(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    *,
    label: str = "",
) -> DimShape:
    """Convolution output size in one dimension, as ``torch.nn.ConvNd`` computes it.

    Raises ConvcalcError where torch raises "Kernel size can't be greater than actual input size".

    >>> conv_dim(5, 3, padding=1).substituted
    'floor((5 + 2*1 - 1*(3-1) - 1) / 1) + 1 = 5'
    """
    pads = padding if isinstance(padding, tuple) else (padding, padding)
    _check_ranges(size, kernel, stride, pads, dilation, 0)
    extent = dilated_kernel_extent(kernel, dilation)
    padded = size + pads[0] + pads[1]
    if padded < extent:
        what = (
            f"kernel_size {kernel}"
            if dilation == 1
            else f"dilated kernel extent {extent} (kernel_size={kernel}, dilation={dilation})"
        )
        raise ConvcalcError(
            f"kernel_size: {what} is larger than the padded input {padded} (input {size} + "
            f"padding {pads[0]}+{pads[1]}){_where(label)}; torch: \"Kernel size can't be greater "
            'than actual input size"'
        )
    out = (padded - extent) // stride + 1
    return DimShape(
        OpKind.CONV,
        size,
        kernel,
        stride,
        pads[0],
        pads[1],
        dilation,
        0,
        False,
        out,
        out,
        label=label,
    )


def conv_transpose_dim(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    output_padding: int = 0,
    *,
    label: str = "",
    limit: OutputPaddingLimit = OutputPaddingLimit.STRIDE_OR_DILATION,
) -> DimShape:
    """Transposed-convolution output size in one dimension (``torch.nn.ConvTransposeNd``).

    ``limit``: torch allows ``output_padding < max(stride, dilation)``; Keras and
    onnxruntime (whose conv-back check rejects more) need ``output_padding < stride``.

    >>> conv_transpose_dim(2, 2, stride=3, padding=1).output
    3
    """
    pads = padding if isinstance(padding, tuple) else (padding, padding)
    _check_ranges(size, kernel, stride, pads, dilation, output_padding)
    # torch: "output padding must be smaller than either stride or dilation"
    if limit is OutputPaddingLimit.STRIDE and output_padding >= stride:
        raise ConvcalcError(
            f"output_padding: {output_padding} must be smaller than stride ({stride})"
            f"{_where(label)}"
        )
    if output_padding >= max(stride, dilation):
        raise ConvcalcError(
            f"output_padding: {output_padding} must be smaller than either stride ({stride}) or "
            f"dilation ({dilation}){_where(label)}"
        )
    out = transposed_size(size, kernel, stride, pads, dilation, output_padding)
    if out < 1:
        raise ConvcalcError(
            f"padding: output size {out} is not positive{_where(label)}: (in - 1)*s - 2*p + "
            f"d*(k-1) + output_padding + 1 with in={size}, s={stride}, p={pads[0]}, "
            f"d={dilation}, k={kernel}, output_padding={output_padding}; torch: "
            '"Output size is too small"'
        )
    return DimShape(
        OpKind.CONVTRANSPOSE,
        size,
        kernel,
        stride,
        pads[0],
        pads[1],
        dilation,
        output_padding,
        False,
        out,
        out,
        label=label,
    )


def pool_dim(
    size: int,
    kernel: int,
    stride: int | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
    *,
    kind: OpKind = OpKind.MAXPOOL,
    label: str = "",
    unpadded_must_fit: bool = False,
    pad_limit: PoolPadLimit = PoolPadLimit.HALF_KERNEL,
    truncate: bool = False,
) -> DimShape:
    """Max/avg pool output size in one dimension (torch's ``pooling_output_shape_pad_lr``).

    The stride defaults to the kernel size. With ceil_mode the last window must start inside the
    input or the left padding (torch, and onnxruntime alike). ``unpadded_must_fit`` is AvgPool3d's
    extra rule (torch's ``pool3d_shape_check(..., check_input_size=true)``): the unpadded input
    must hold the kernel. ``pad_limit``: torch's ``p <= k // 2``, onnxruntime's ``p < k``, or none
    for paddings a framework computes itself (TF's SAME).
    ``truncate``: onnxruntime divides in C++, rounding a negative span toward zero, so a window
    that overhangs the padded input by less than a stride still gives one output.

    >>> pool_dim(5, 3, 2, 1, ceil_mode=True, kind=OpKind.AVGPOOL).output
    3
    """
    stride = kernel if stride is None else stride
    pads = padding if isinstance(padding, tuple) else (padding, padding)
    # onnxruntime's SAME pools can compute a negative padding: it trims the input instead
    _check_ranges(size, kernel, stride, (0, 0) if truncate else pads, dilation, 0)
    # torch pool{1,2,3}d_shape_check: "pad should be smaller than or equal to half of kernel size"
    if pad_limit is PoolPadLimit.HALF_KERNEL and max(pads) > kernel // 2:
        raise ConvcalcError(
            f"padding: {max(pads)} must be at most half the kernel size, kernel_size // 2 = "
            f"{kernel // 2} (kernel_size={kernel}){_where(label)}"
        )
    # onnxruntime PoolAttributes: "Pad should be smaller than kernel."
    if pad_limit is PoolPadLimit.BELOW_KERNEL and max(pads) >= kernel:
        raise ConvcalcError(
            f"padding: {max(pads)} must be smaller than kernel_size {kernel}{_where(label)} "
            '(onnxruntime: "Pad should be smaller than kernel")'
        )
    if unpadded_must_fit and size < kernel:
        raise ConvcalcError(
            f"kernel_size: {kernel} is larger than the unpadded input {size}{_where(label)}; "
            "PyTorch's AvgPool3d requires input >= kernel_size in every dimension "
            '("input image smaller than kernel size")'
        )
    extent = dilated_kernel_extent(kernel, dilation)
    span = size + pads[0] + pads[1] - extent
    floor_out = (span // stride if span >= 0 or not truncate else -(-span // stride)) + 1
    out, dropped = floor_out, False
    if ceil_mode:
        out = ceil_div(span, stride) + 1
        # torch: "ensure that the last pooling starts inside the image"
        if (out - 1) * stride >= size + pads[0]:
            out, dropped = out - 1, True
    if out < 1:
        raise ConvcalcError(
            f"kernel_size: output size {out} is not positive{_where(label)}: the window extent "
            f"{extent} (kernel_size={kernel}, dilation={dilation}) does not fit the padded input "
            f'{size + pads[0] + pads[1]}; torch: "Output size is too small"'
        )
    return DimShape(
        kind,
        size,
        kernel,
        stride,
        pads[0],
        pads[1],
        dilation,
        0,
        ceil_mode,
        out,
        floor_out,
        dropped,
        label=label,
    )


def conv_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1
) -> int:
    """``floor((in + 2p - d(k-1) - 1) / s) + 1``, or ConvcalcError where torch raises."""
    return conv_dim(size, kernel, stride, padding, dilation).output


def conv_transpose_output_size(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    output_padding: int = 0,
) -> int:
    """``(in - 1)s - 2p + d(k-1) + output_padding + 1``, or ConvcalcError where torch raises."""
    return conv_transpose_dim(size, kernel, stride, padding, dilation, output_padding).output


def pool_output_size(
    size: int,
    kernel: int,
    stride: int | None = None,
    padding: int = 0,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Max/avg pool output size, or ConvcalcError where torch raises."""
    return pool_dim(size, kernel, stride, padding, dilation, ceil_mode).output


def dim_shape(spec: LayerSpec, axis: int, size: int, label: str = "") -> DimShape:
    """Apply the spec's rule to one spatial dimension, under its framework's rules."""
    kernel, stride = spec.kernel_size[axis], spec.stride[axis]
    pads, dilation, rules = spec.padding[axis], spec.dilation[axis], spec.rules
    family = spec.kind.family
    match family.rule:
        case SizeRule.CONV:
            return conv_dim(size, kernel, stride, pads, dilation, label=label)
        case SizeRule.TRANSPOSED:
            return conv_transpose_dim(
                size,
                kernel,
                stride,
                pads,
                dilation,
                spec.output_padding[axis],
                label=label,
                limit=rules.output_padding_limit,
            )
        case SizeRule.POOL:
            if rules.symmetric_pool_padding and pads[0] != pads[1]:
                raise ConvcalcError("padding: PyTorch pools take symmetric padding only")
            return pool_dim(
                size,
                kernel,
                stride,
                pads,
                dilation,
                spec.ceil_mode,
                kind=spec.kind,
                label=label,
                unpadded_must_fit=rules.avgpool3d_input_holds_kernel
                and family.averaging
                and spec.ndim == 3,
                pad_limit=rules.pool_pad_limit,
                truncate=rules.truncating_division,
            )
        case SizeRule.BLOCKS | SizeRule.FOLD:
            return blocks_dim(size, kernel, stride, pads, dilation, label=label, kind=spec.kind)
        case SizeRule.ADAPTIVE:
            raise AssertionError("an adaptive pool has no sliding window: see adaptive_dim")
        case _:
            assert_never(family.rule)


def blocks_dim(
    size: int,
    kernel: int,
    stride: int,
    padding: tuple[int, int],
    dilation: int,
    *,
    label: str = "",
    kind: OpKind = OpKind.UNFOLD,
) -> DimShape:
    """Unfold/Fold: the number of sliding blocks in one dimension, the conv rule
    ``floor((in + 2p - d*(k-1) - 1) / s) + 1``, which must be at least one (torch's
    im2col_shape_check)."""
    from dataclasses import replace

    try:
        dim = conv_dim(size, kernel, stride, padding, dilation, label=label)
    except MalformedInputError:
        raise
    except ConvcalcError:
        span = size + padding[0] + padding[1] - dilated_kernel_extent(kernel, dilation)
        raise ConvcalcError(
            f"kernel_size: the number of sliding blocks is {span // stride + 1} in dimension "
            f"{label or 'L'} (input {size} + padding {padding[0]}+{padding[1]}, dilated kernel "
            f'{dilated_kernel_extent(kernel, dilation)}); torch: "calculated shape of the array '
            'of sliding blocks ... but its components must be at least one"'
        ) from None
    return replace(dim, kind=kind)


# The most windows of one dimension that are listed (JSON ``windows``, the working).
MAX_LISTED_WINDOWS = 100_000


@dataclass(frozen=True)
class AdaptiveDim:
    """One dimension of an adaptive pool: output element i reads the input window
    ``[floor(i*in/out), ceil((i+1)*in/out))`` (PyTorch's AdaptivePooling.h)."""

    kind: OpKind
    input: int
    output: int
    label: str = ""

    def window(self, i: int) -> tuple[int, int]:
        """``[start, end)`` of output element i."""
        return (i * self.input) // self.output, ceil_div((i + 1) * self.input, self.output)

    @property
    def windows(self) -> tuple[tuple[int, int], ...] | None:
        """Every window, or None past MAX_LISTED_WINDOWS."""
        if self.output > MAX_LISTED_WINDOWS:
            return None
        return tuple(self.window(i) for i in range(self.output))

    @property
    def lengths(self) -> tuple[int, ...]:
        """The window lengths that occur (the pattern repeats: the first 8192 windows tell)."""
        return tuple(
            sorted({z - a for a, z in (self.window(i) for i in range(min(self.output, 8192)))})
        )

    @property
    def overlapping(self) -> bool:
        """Neighbouring windows share input elements (in % out != 0, out > 1)."""
        return self.output > 1 and self.input % self.output != 0

    @property
    def formula(self) -> str:
        return "window i = [floor(i*in/out), ceil((i+1)*in/out))"

    @property
    def working(self) -> tuple[str, ...]:
        shown = min(self.output, 8)
        spans = ", ".join(
            f"{i}: [{a}, {z})" for i, (a, z) in ((i, self.window(i)) for i in range(shown))
        )
        more = f", ... ({self.output - shown} more)" if self.output > shown else ""
        lines = [f"in {self.input} -> out {self.output}: {spans}{more}"]
        if self.output > self.input:
            lines.append(
                f"out > in: windows repeat input elements ({self.output} windows over "
                f"{self.input} elements)"
            )
        elif self.overlapping:
            lengths = " and ".join(map(str, self.lengths))
            lines.append(
                f"in % out = {self.input % self.output}: neighbouring windows overlap; "
                f"window length{'s' if len(self.lengths) > 1 else ''} {lengths}"
            )
        elif self.output:
            lines.append(
                f"in % out = 0: windows of {self.input // self.output} tile the input, "
                f"a pool with kernel_size = stride = {self.input // self.output}"
            )
        return tuple(lines)


class _PerDimension:
    """Input and output sizes read off per-dimension results (``dims``)."""

    dims: tuple[DimShape, ...] | tuple[AdaptiveDim, ...]

    @property
    def input(self) -> tuple[int, ...]:
        return tuple(dim.input for dim in self.dims)

    @property
    def output(self) -> tuple[int, ...]:
        return tuple(dim.output for dim in self.dims)


@dataclass(frozen=True)
class AdaptiveShape(_PerDimension):
    """An adaptive pool applied to an input: the windows of each dimension."""

    spec: LayerSpec
    dims: tuple[AdaptiveDim, ...]
    batch: int | None = None

    def tensor_shape(self, side: str) -> tuple[int, ...] | None:
        channels = self.spec.in_channels
        if channels is None:
            return None
        spatial = self.input if side == "input" else self.output
        lead = (self.batch,) if self.batch is not None else ()
        return (*lead, channels, *spatial)


def adaptive_shape(
    spec: LayerSpec, input_size: tuple[int, ...], batch: int | None = None
) -> AdaptiveShape:
    """The windows of an adaptive pool for a spatial input size.

    >>> from convcalc.specs import build_spec
    >>> shape = adaptive_shape(build_spec("adaptiveavgpool1d", output_size=(3,)), (5,))
    >>> shape.dims[0].windows
    ((0, 2), (1, 4), (3, 5))
    """
    _check_rank(spec, input_size)
    labels = dimension_names(spec.ndim) if spec.ndim > 1 else ("",)
    for size in input_size:
        if size < 1:
            raise MalformedInputError(f"input size must be positive, got {size}")
    dims = tuple(
        AdaptiveDim(spec.kind, size, out, labels[axis])
        for axis, (size, out) in enumerate(zip(input_size, spec.output_size))
    )
    return AdaptiveShape(spec, dims, batch)


@dataclass(frozen=True)
class FoldShape:
    """Fold (col2im) answers the inverse question: for an output size, the sliding blocks per
    dimension (``blocks``: the unfold of that output), so the L its input must have, and the
    channels: the input's C*prod(k) rows, C of them after the fold."""

    spec: LayerSpec
    blocks: LayerShape  # the unfold of the output: input = output_size, output = blocks
    given: int | None  # L as given (--in), checked against the blocks
    batch: int | None = None

    @property
    def required(self) -> int:
        """The L the input must have: the product of the blocks per dimension."""
        return math.prod(self.blocks.output)

    @property
    def input(self) -> tuple[int, ...]:
        return (self.required,)

    @property
    def output(self) -> tuple[int, ...]:
        return self.spec.output_size

    @property
    def kernel_elements(self) -> int:
        return math.prod(self.spec.kernel_size)

    def tensor_shape(self, side: str) -> tuple[int, ...] | None:
        rows = self.spec.in_channels
        if rows is None:
            return None
        lead = (self.batch,) if self.batch is not None else ()
        if side == "input":
            return (*lead, rows, self.required)
        return (*lead, rows // self.kernel_elements, *self.output)


def fold_shape(spec: LayerSpec, given: int | None = None, batch: int | None = None) -> FoldShape:
    """The blocks a Fold's output size holds; the input's L must equal their product.

    >>> from convcalc.specs import build_spec
    >>> fold_shape(build_spec("fold", kernel_size=(2,), output_size=(4,))).required
    9
    """
    labels = dimension_names(spec.ndim)
    dims = []
    for axis, size in enumerate(spec.output_size):
        dims.append(
            blocks_dim(
                size,
                spec.kernel_size[axis],
                spec.stride[axis],
                spec.padding[axis],
                spec.dilation[axis],
                label=labels[axis],
                kind=OpKind.FOLD,
            )
        )
    blocks = LayerShape(spec, tuple(dims), batch)
    shape = FoldShape(spec, blocks, given, batch)
    if given is not None and given != shape.required:
        counts = " * ".join(map(str, blocks.output))
        raise ConvcalcError(
            f"input size: the input's L must be the number of sliding blocks {counts} = "
            f"{shape.required} for output_size={list(spec.output_size)}, got {given}; torch: "
            "\"expected size of input's dimension 2 to match the calculated number of sliding "
            'blocks"'
        )
    return shape


AnyShape = Union["LayerShape", AdaptiveShape, FoldShape]


def shape_of(spec: LayerSpec, input_size: tuple[int, ...], batch: int | None = None) -> AnyShape:
    """The output of any layer: sliding windows (``layer_shape``), adaptive ones, or a Fold's
    blocks (``input_size`` is then its L, or empty)."""
    match spec.kind.family.rule:
        case SizeRule.ADAPTIVE:
            return adaptive_shape(spec, input_size, batch)
        case SizeRule.FOLD:
            return fold_shape(spec, input_size[0] if input_size else None, batch)
        case SizeRule.CONV | SizeRule.TRANSPOSED | SizeRule.POOL | SizeRule.BLOCKS:
            return layer_shape(spec, input_size, batch)
        case _:
            assert_never(spec.kind.family.rule)


def _check_rank(spec: LayerSpec, input_size: tuple[int, ...]) -> None:
    if len(input_size) != spec.ndim:
        raise MalformedInputError(
            f"input size: got {len(input_size)} values {tuple(input_size)} for a "
            f"{spec.ndim}-d {spec.kind.value}; give {spec.ndim}"
        )


@dataclass(frozen=True)
class LayerShape(_PerDimension):
    """A layer applied to an input: per-dimension results and, when known, full tensor shapes."""

    spec: LayerSpec
    dims: tuple[DimShape, ...]
    batch: int | None = None

    @property
    def blocks(self) -> bool:
        """An Unfold: the output is (C*prod(k), L)."""
        return self.spec.kind.family.rule is SizeRule.BLOCKS

    @property
    def out_channels(self) -> int | None:
        if self.spec.kind.is_pool:
            return self.spec.in_channels
        if self.blocks and self.spec.in_channels is not None:
            return self.spec.in_channels * math.prod(self.spec.kernel_size)
        return self.spec.out_channels

    def tensor_shape(self, side: str) -> tuple[int, ...] | None:
        """``(N, C, *spatial)`` for side 'input' or 'output', when the channels are known; an
        Unfold's output is ``(N, C*prod(k), L)``."""
        channels = self.spec.in_channels if side == "input" else self.out_channels
        if channels is None:
            return None
        spatial = self.input if side == "input" else self.output
        if self.blocks and side == "output":
            spatial = (math.prod(self.output),)
        lead = (self.batch,) if self.batch is not None else ()
        return (*lead, channels, *spatial)


def layer_shape(
    spec: LayerSpec,
    input_size: tuple[int, ...],
    batch: int | None = None,
    known: dict[tuple[int, int], DimShape] | None = None,
) -> LayerShape:
    """Output shape of a layer for a spatial input size (one int per dimension). ``known``
    keeps the dimensions already computed for this spec, by (axis, size): a size sweep's
    memo (a dimension that fails raises every time, so it is never kept).

    >>> from convcalc.specs import build_spec
    >>> layer_shape(build_spec("conv2d", kernel_size=(3,), stride=(2,)), (5, 5)).output
    (2, 2)
    """
    _check_rank(spec, input_size)
    labels = dimension_names(spec.ndim) if spec.ndim > 1 else ("",)
    if known is None:
        dims = tuple(
            dim_shape(spec, axis, size, labels[axis]) for axis, size in enumerate(input_size)
        )
        return LayerShape(spec, dims, batch)
    found = []
    for axis, size in enumerate(input_size):
        dim = known.get((axis, size))
        if dim is None:
            dim = known[(axis, size)] = dim_shape(spec, axis, size, labels[axis])
        found.append(dim)
    return LayerShape(spec, tuple(found), batch)
