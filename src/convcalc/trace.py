"""The step-by-step evaluator: every multiply-accumulate of a conv, transposed conv or pool.

``explain(spec, x, w, b)`` returns a ``Trace``: plain data (steps, output array), no printing.
Element by element on purpose, so that it can be checked against the vectorised implementations
in ``reference.py`` and against PyTorch.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import assert_never

import numpy as np

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.families import family
from convcalc.reference import unfold_columns
from convcalc.shapes import (
    LayerShape,
    dilated_kernel_extent,
    shape_of,
    zero_inserted_size,
)
from convcalc.specs import LayerArgs, LayerSpec, OpKind, OpName, PaddingArg, ViewName
from convcalc.steps import (
    AT_OUTPUT_ELEMENTS,
    MAX_OUTPUT_ELEMENTS,
    Trace,
    positions,
    window_of,
)
from convcalc.tensors import Number, pad


def arrange(
    spec_ndim: int,
    kind: OpKind,
    x: np.ndarray,
    w: np.ndarray | None,
    b: np.ndarray | None,
    groups: int,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, bool]:
    """Bring data into PyTorch's layouts (C, *spatial) and full weight layout, or say why not."""
    plain = x.ndim == spec_ndim
    if x.ndim not in (spec_ndim, spec_ndim + 1):
        raise MalformedInputError(
            f"input: a {spec_ndim}-d op takes a {spec_ndim}-d matrix or (C_in, *spatial) with "
            f"{spec_ndim + 1} axes, got shape {list(x.shape)}"
        )
    if plain:
        x = x.reshape((1, *x.shape))
    c_in = x.shape[0]
    if not kind.has_weight:
        if w is not None or b is not None:
            raise MalformedInputError(f"weight/bias: {kind.torch_name} has no weights")
        return x, None, None, plain
    if w is None:
        raise MalformedInputError("weight: convolutions need --w")
    if w.ndim == spec_ndim:
        # A plain kernel serves one input channel per group (a single channel, or depthwise).
        if c_in != groups:
            raise MalformedInputError(
                f"weight: a plain {spec_ndim}-d kernel fits one input channel per group; the "
                f"input has {c_in} channels and groups={groups}, so give the full weight "
                + (
                    "(C_out, C_in/groups, *k)"
                    if kind is OpKind.CONV
                    else "(C_in, C_out/groups, *k)"
                )
            )
        w = np.stack([w] * c_in).reshape((c_in, 1, *w.shape))
    elif w.ndim != spec_ndim + 2:
        raise MalformedInputError(
            f"weight: a {spec_ndim}-d {kind.value} takes a {spec_ndim}-d kernel or a weight with "
            f"{spec_ndim + 2} axes, got shape {list(w.shape)}"
        )
    _check_weight(kind, x, w, groups)
    c_out = w.shape[0] if kind is OpKind.CONV else w.shape[1] * groups
    if b is not None:
        b = b.reshape(-1)
        if b.shape[0] != c_out:
            raise MalformedInputError(f"bias: needs {c_out} value(s) (C_out), got {b.shape[0]}")
    return x, w, b, plain


def _check_weight(kind: OpKind, x: np.ndarray, w: np.ndarray, groups: int) -> None:
    c_in = x.shape[0]
    if c_in % groups:
        raise ConvcalcError(f"groups: in_channels={c_in} must be divisible by groups={groups}")
    if kind is OpKind.CONV:
        if w.shape[1] * groups != c_in:
            raise MalformedInputError(
                f"weight: shape {list(w.shape)} is (C_out, C_in/groups, *k) with C_in/groups = "
                f"{w.shape[1]}, but the input has C_in/groups = {c_in}/{groups} = {c_in // groups}"
            )
        if w.shape[0] % groups:
            raise ConvcalcError(
                f"groups: out_channels={w.shape[0]} must be divisible by groups={groups}"
            )
    elif w.shape[0] != c_in:
        raise MalformedInputError(
            f"weight: shape {list(w.shape)} is (C_in, C_out/groups, *k) but the input has "
            f"{c_in} channel(s)"
        )


def explain(
    spec: LayerSpec,
    x: np.ndarray,
    w: np.ndarray | None = None,
    b: np.ndarray | None = None,
    plain: bool = True,
    *,
    with_output: bool = True,
) -> Trace:
    """Trace a layer on arranged data (see ``arrange``): the output, and the steps on demand.

    >>> from convcalc.specs import build_spec
    >>> from convcalc.tensors import generate
    >>> x, w = generate("arange:1x5x5", "x"), generate("arange:1x1x3x3", "w")
    >>> t = explain(build_spec("conv2d", kernel_size=(3,)), x, w)
    >>> t.output[0, 0, :2].tolist(), t.step_at((0, 0, 1)).value
    ([411, 456], 456)
    """
    evaluator = family(spec.kind)
    shape = shape_of(spec, tuple(x.shape[1:]))
    trace = Trace(spec, shape, x, w, b, None, evaluator, plain)
    if with_output:
        if trace.step_count > MAX_OUTPUT_ELEMENTS:
            raise MalformedInputError(
                f"output: {spec.name} gives an output of {trace.step_count:,} elements "
                f"{list(trace.output_shape)}; a trace computes at most {MAX_OUTPUT_ELEMENTS:,}. "
                "--at i,j shows one element of any size (--max-steps N cannot help: the output "
                "grid is the whole layer)"
            )
        trace.output = evaluator.reference(spec, x, w, b)
    return trace


# --- transposed convolution, the other views ----------------------------------------------------


# The scatter view lists the contributions of the first input elements only.
SCATTER_SHOWN = 64
# The matrix view draws a (len(x) x len(y)) matrix: at most this many cells.
MAX_MATRIX_CELLS = 4096


@dataclass
class ScatterView:
    """Each input element times the whole kernel, added at stride offsets, then cropped."""

    contributions: list[tuple[tuple[int, ...], Number, np.ndarray, tuple[int, ...]]]  # the first
    contribution_count: int  # one per input element
    full: np.ndarray  # (C_out, *full) before cropping, with room for output_padding
    crop: tuple[tuple[int, int], ...]  # per dimension [start, stop) kept
    output: np.ndarray


def scatter_view(trace: Trace) -> ScatterView:
    """The transposed conv as scatter-add: x[c,i]*w[c,o] placed at i*s, crop p, output_padding."""
    from convcalc.reference import conv_transpose_canvas

    spec, x, w = trace.spec, trace.x, trace.w
    assert w is not None and spec.kind is OpKind.CONVTRANSPOSE
    in_size = x.shape[1:]
    full = conv_transpose_canvas(spec, x, w)
    contributions = []
    for c, *i in itertools.islice(positions(tuple(x.shape)), SCATTER_SHOWN):
        value = x[(c, *i)]
        origin = tuple(ii * s for ii, s in zip(i, spec.stride))
        contributions.append(((c, *i), value, value * w[c], origin))
    crop = tuple((p, p + o) for (p, _), o in zip(spec.padding, trace.shape.output))
    output = full[(slice(None), *(slice(a, z) for a, z in crop))].copy()
    if trace.b is not None:
        output += trace.b.reshape((-1,) + (1,) * len(in_size))
    return ScatterView(contributions, x.size, full, crop, output)


@dataclass
class ConvView:
    """The transposed conv as a stride-1 convolution of the zero-inserted, padded input."""

    zero_inserted: np.ndarray  # (C_in, *z) with s-1 zeros between elements
    padded: np.ndarray  # after padding d*(k-1)-p (+ output_padding at the end); negative crops
    pads: tuple[tuple[int, int], ...]
    kernel: np.ndarray  # rotated 180°, channels swapped: (C_out, C_in/groups, *k)
    trace: Trace  # the stride-1 conv traced step by step


def conv_view(trace: Trace) -> ConvView:
    """Zero-insert, pad by d*(k-1) - p, and convolve with the 180°-rotated kernel at stride 1.

    This is also the gradient of a conv with respect to its input.
    """
    from convcalc.specs import build_spec

    spec, x, w = trace.spec, trace.x, trace.w
    assert w is not None and spec.kind is OpKind.CONVTRANSPOSE
    groups, in_size = spec.groups, x.shape[1:]
    z_size = tuple(zero_inserted_size(n, s) for n, s in zip(in_size, spec.stride))
    zero_inserted = np.zeros((x.shape[0], *z_size), dtype=object)
    zero_inserted[(slice(None), *(slice(None, None, s) for s in spec.stride))] = x
    assert isinstance(trace.shape, LayerShape)
    pads = tuple(dim.effective_padding for dim in trace.shape.dims)
    padded = pad(zero_inserted, [(0, 0)] + [(max(a, 0), max(z, 0)) for a, z in pads])
    crop = tuple(
        slice(max(-a, 0), padded.shape[i + 1] - max(-z, 0)) for i, (a, z) in enumerate(pads)
    )
    padded = padded[(slice(None), *crop)]
    cin_g, cout_g = x.shape[0] // groups, w.shape[1]
    flipped = w[(slice(None), slice(None), *(slice(None, None, -1),) * len(in_size))]
    kernel = np.empty((cout_g * groups, cin_g, *spec.kernel_size), dtype=object)
    for g in range(groups):
        block = flipped[g * cin_g : (g + 1) * cin_g]  # (C_in/g, C_out/g, *k)
        kernel[g * cout_g : (g + 1) * cout_g] = np.swapaxes(block, 0, 1)
    conv_spec = build_spec(
        f"conv{spec.ndim}d", kernel_size=spec.kernel_size, dilation=spec.dilation, groups=groups
    )
    inner = explain(conv_spec, padded, kernel, trace.b, trace.plain, with_output=False)
    inner.output = trace.output
    return ConvView(zero_inserted, padded, pads, kernel, inner)


@dataclass
class MatrixView:
    """y = Cᵀ x: C is the matrix of the conv with the same k, s, p, d (rows: its outputs)."""

    matrix: np.ndarray  # (len(x flat), len(y flat))
    x_flat: np.ndarray
    y_flat: np.ndarray


def matrix_view(trace: Trace) -> MatrixView:
    """Only for one input and one output channel and a conv that maps the output size back."""
    spec, x, w = trace.spec, trace.x, trace.w
    assert w is not None and spec.kind is OpKind.CONVTRANSPOSE
    if x.shape[0] != 1 or w.shape[1] != 1:
        raise ConvcalcError("view: the matrix view needs one input and one output channel")
    in_size, out_size = x.shape[1:], trace.shape.output
    cells = math.prod(in_size) * math.prod(out_size)
    if cells > MAX_MATRIX_CELLS:
        raise MalformedInputError(
            f"--view matrix: the matrix of this layer has {cells:,} cells; it is drawn up to "
            f"{MAX_MATRIX_CELLS:,} (--view conv or scatter, or --at i,j for one element)"
        )
    rows = list(positions(in_size))
    cols = {pos: n for n, pos in enumerate(positions(out_size))}
    matrix = np.zeros((len(rows), len(cols)), dtype=object)
    for r, i in enumerate(rows):
        for m in positions(spec.kernel_size):
            j = tuple(
                ii * s + mi * d - p
                for ii, s, mi, d, (p, _) in zip(i, spec.stride, m, spec.dilation, spec.padding)
            )
            if j in cols:
                matrix[r, cols[j]] += w[(0, 0, *m)]
    x_flat = x.reshape(-1)
    y_flat = matrix.T.dot(x_flat)
    if trace.b is not None:
        y_flat = y_flat + trace.b[0]
    return MatrixView(matrix, x_flat, y_flat)


@dataclass
class Im2colView:
    """A convolution as one matrix product (im2col): every window of the padded input laid out
    as a column, the kernels as rows, output = weight_matrix @ columns (+ bias), reshaped.

    ``columns`` is ``torch.nn.functional.unfold(x)[0]``: rows ordered (channel, *kernel offset),
    columns the output positions in row-major order. With groups the weight matrix is block
    diagonal: each output channel reads only its group's rows.
    """

    columns: np.ndarray  # (C_in * prod(k), L)
    weight_matrix: np.ndarray  # (C_out, C_in * prod(k))
    product: np.ndarray  # (C_out, L), bias included
    rows: list[tuple[int, tuple[int, ...]]]  # (channel, kernel offset) of each row
    windows: list[tuple[tuple[int, int], ...]]  # [start, stop) per dimension of each column


def im2col_view(trace: Trace) -> Im2colView:
    """Lay out every window as a column (the padding as zeros) and every kernel as a row."""
    spec, x, w = trace.spec, trace.x, trace.w
    assert w is not None and spec.kind is OpKind.CONV
    shape = trace.shape
    assert isinstance(shape, LayerShape)
    c_in, c_out, groups = x.shape[0], w.shape[0], spec.groups
    offsets = list(positions(spec.kernel_size))
    spots = list(positions(shape.output))
    rows = [(c, m) for c in range(c_in) for m in offsets]
    cells = len(rows) * len(spots)
    if cells > MAX_OUTPUT_ELEMENTS:
        raise MalformedInputError(
            f"--view im2col: the column matrix has {cells:,} cells; it is built up to "
            f"{MAX_OUTPUT_ELEMENTS:,} (--at i,j shows one element's steps)"
        )
    columns = unfold_columns(x, spec)
    windows = [
        window_of([j * s - p for j, s, (p, _) in zip(pos, spec.stride, spec.padding)], spec)
        for pos in spots
    ]
    cin_g, cout_g = c_in // groups, c_out // groups
    per_channel = len(offsets)
    weight_matrix = np.zeros((c_out, len(rows)), dtype=object)
    for o in range(c_out):
        group = o // cout_g
        block = w[o].reshape(-1)  # (C_in/groups * prod(k)), (channel, offset) order
        start = group * cin_g * per_channel
        weight_matrix[o, start : start + len(block)] = block
    product = weight_matrix.dot(columns)
    if trace.b is not None:
        product = product + trace.b.reshape(-1, 1)
    view = Im2colView(columns, weight_matrix, product, rows, windows)
    expected = trace.output
    if expected is None:
        expected = family(spec.kind).reference(spec, x, w, trace.b)
    if not (product.reshape(expected.shape) == expected).all():
        raise ConvcalcError("internal check failed: the im2col product disagrees with the output")
    return view


# the views of a convolution and a transposed convolution
View = ScatterView | ConvView | MatrixView | Im2colView


def view_name(view: View) -> ViewName:
    match view:
        case ScatterView():
            return ViewName.SCATTER
        case ConvView():
            return ViewName.CONV
        case MatrixView():
            return ViewName.MATRIX
        case Im2colView():
            return ViewName.IM2COL
        case _:
            assert_never(view)


def choose_view(trace: Trace, view: ViewName = ViewName.AUTO) -> View | None:
    """The view to show (None: the steps), computed and checked against the output: a view that
    disagreed would never be printed. A transposed conv has scatter, conv and matrix; a conv
    has im2col (asked for; its steps are the default); other ops only their steps; without a
    computed output (``--at`` on a large layer) there are only steps too."""
    if trace.spec.kind is OpKind.CONV and view is ViewName.IM2COL:
        if trace.output is None:
            raise MalformedInputError(
                f"--view im2col: the output has {trace.step_count:,} elements, too many to lay "
                "out; --at shows the element's steps"
            )
        return im2col_view(trace)
    if trace.spec.kind is not OpKind.CONVTRANSPOSE:
        if view not in (ViewName.AUTO, ViewName.STEPS):
            which = "convolutions" if view is ViewName.IM2COL else "transposed convolutions"
            raise MalformedInputError(f"--view {view}: applies to {which} only")
        return None
    if trace.output is None:
        if view not in (ViewName.AUTO, ViewName.STEPS):
            raise MalformedInputError(
                f"--view {view}: the output has {trace.step_count:,} elements, too many to draw "
                "the view; --at shows the element's steps"
            )
        return None
    name = default_view(trace.spec) if view is ViewName.AUTO else view
    data: View
    match name:
        case ViewName.STEPS:
            return None
        case ViewName.CONV:
            data = conv_view(trace)
            produced = reference_output(data)
        case ViewName.MATRIX:
            data = matrix_view(trace)
            produced = data.y_flat.reshape(trace.output.shape)
        case ViewName.SCATTER:
            data = scatter_view(trace)
            produced = data.output
        case ViewName.AUTO:
            raise AssertionError("default_view never answers auto")
        case ViewName.IM2COL:
            raise MalformedInputError(
                "--view im2col: applies to convolutions (a transposed conv: --view matrix)"
            )
        case _:
            assert_never(name)
    if not (produced == trace.output).all():
        raise ConvcalcError(f"internal check failed: the {name} view disagrees with the output")
    return data


def reference_output(view: ConvView) -> np.ndarray:
    """The stride-1 convolution of the conv view, computed on its own."""
    inner = view.trace
    return family(inner.spec.kind).reference(inner.spec, inner.x, inner.w, inner.b)


def default_view(spec: LayerSpec) -> ViewName:
    """The view that teaches best: scatter when the padding crops more than the kernel overlaps
    (negative effective padding), else the zero-insertion convolution PyTorch's docs describe."""
    if any(
        dilated_kernel_extent(k, d) - 1 < p
        for d, k, (p, _) in zip(spec.dilation, spec.kernel_size, spec.padding)
    ):
        return ViewName.SCATTER
    return ViewName.CONV if any(s > 1 for s in spec.stride) else ViewName.SCATTER


def trace_layer(
    op: str,
    x: np.ndarray,
    w: np.ndarray | None = None,
    b: np.ndarray | None = None,
    *,
    kernel_size: tuple[int, ...] | None = None,
    stride: tuple[int, ...] | None = None,
    padding: PaddingArg = (0,),
    dilation: tuple[int, ...] = (1,),
    output_padding: tuple[int, ...] | None = None,
    ceil_mode: bool = False,
    groups: int = 1,
    count_include_pad: bool | None = None,
    convention: str = "torch",
    output_shape: tuple[int, ...] | None = None,
    for_at: bool = False,
) -> Trace:
    """``trace_args`` with the arguments as keywords (the Python API).

    >>> from convcalc.tensors import load_tensor
    >>> t = trace_layer("convtranspose2d", load_tensor("1,2;3,4", "x"),
    ...                 load_tensor("1,0;0,1", "w"), stride=(2,), padding=(1,))
    >>> t.display_output.tolist()
    [[1, 0], [0, 4]]
    """
    args = LayerArgs(
        kernel_size=kernel_size,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
        ceil_mode=ceil_mode,
        count_include_pad=count_include_pad,
        output_shape=output_shape,
        groups=groups,
    )
    return trace_args(op, x, w, b, args, convention=convention, for_at=for_at)


def trace_args(
    op: str,
    x: np.ndarray,
    w: np.ndarray | None,
    b: np.ndarray | None,
    args: LayerArgs,
    *,
    convention: str = "torch",
    for_at: bool = False,
) -> Trace:
    """Resolve the layer from the data and the arguments, check both, and trace it.

    ``for_at``: the caller wants single elements (``--at``); the output is computed only when it
    is small (AT_OUTPUT_ELEMENTS), and any size is allowed.

    The kernel size of a conv comes from its weight; ``kernel_size``, when given too, must agree.
    An op without 1d/2d/3d takes its dimensions from a plain input matrix.
    """
    kernel_size, groups = args.kernel_size, args.groups
    from convcalc.conventions import resolve_args
    from convcalc.specs import parse_op

    name = parse_op(op)
    if name.kind is OpKind.FOLD:
        return _fold_trace(name, x, w, b, args, convention)
    dims = name.kind.family.ndims
    ndim = name.ndim or (dims[0] if len(dims) == 1 else x.ndim)
    if ndim not in (1, 2, 3):
        raise MalformedInputError(f"input: a plain matrix with {x.ndim} axes gives no 1d/2d/3d op")
    if name.kind.has_weight:
        if w is None:
            raise MalformedInputError("weight: convolutions need --w")
        if w.ndim < ndim:
            raise MalformedInputError(
                f"weight: a {ndim}-d {name.kind.value} needs a kernel with {ndim} axes, got shape "
                f"{list(w.shape)}"
            )
        from_weight = tuple(w.shape[-ndim:])
        if kernel_size is not None and tuple(kernel_size) not in (from_weight, from_weight[:1]):
            if not (len(kernel_size) == 1 and all(k == kernel_size[0] for k in from_weight)):
                raise MalformedInputError(
                    f"kernel_size: --k {list(kernel_size)} disagrees with the weight's kernel "
                    f"{list(from_weight)}"
                )
        kernel_size = from_weight
    spatial = tuple(x.shape[-ndim:])
    spec = resolve_args(
        convention,
        OpName(name.kind, ndim),
        spatial,
        replace(args, kernel_size=None if kernel_size is None else tuple(kernel_size)),
    ).spec
    arranged_x, arranged_w, arranged_b, plain = arrange(ndim, spec.kind, x, w, b, groups)
    c_out = arranged_x.shape[0]
    if arranged_w is not None:
        c_out = arranged_w.shape[0] if spec.kind is OpKind.CONV else arranged_w.shape[1] * groups
    spec = replace(
        spec, in_channels=arranged_x.shape[0], out_channels=c_out, bias=arranged_b is not None
    )
    trace = explain(spec, arranged_x, arranged_w, arranged_b, plain, with_output=False)
    if not for_at or trace.step_count <= AT_OUTPUT_ELEMENTS:
        trace = explain(spec, arranged_x, arranged_w, arranged_b, plain)
    trace.weight_plain = w is not None and w.ndim == ndim
    return trace


def _fold_trace(
    name: OpName,
    x: np.ndarray,
    w: np.ndarray | None,
    b: np.ndarray | None,
    args: LayerArgs,
    convention: str,
) -> Trace:
    """Fold's input is the column matrix (C*prod(k), L) itself, not an image."""
    from convcalc.conventions import resolve_args

    if w is not None or b is not None:
        raise MalformedInputError("weight/bias: Fold has no weights")
    if x.ndim != 2:
        raise MalformedInputError(
            f"input: Fold takes the column matrix (C*prod(k), L), 2 axes; got shape {list(x.shape)}"
        )
    rows = replace(args, in_channels=int(x.shape[0]))
    spec = resolve_args(convention, name, (int(x.shape[1]),), rows).spec
    return explain(spec, x, None, None, plain=spec.out_channels == 1)
