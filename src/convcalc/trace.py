"""The step-by-step evaluator: every multiply-accumulate of a conv, transposed conv or pool.

``explain(spec, x, w, b)`` returns a ``Trace``: plain data (steps, output array), no printing.
Element by element on purpose, so that it can be checked against the vectorised implementations
in ``reference.py`` and against PyTorch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.shapes import LayerShape, layer_shape
from convcalc.specs import LayerSpec, OpKind
from convcalc.tensors import Number, normalise, pad

NEG_INF = float("-inf")


@dataclass(frozen=True, slots=True)
class Term:
    """One element of a window: the input element, the weight it meets and their product.

    ``input_index`` is (channel, *position) in unpadded input coordinates (a padding position lies
    outside the input and has ``padding=True``). Pools have no weight.
    """

    input_index: tuple[int, ...]
    input_value: Number | float
    weight_index: tuple[int, ...] | None
    weight_value: Number | None
    product: Number | float
    padding: bool = False


@dataclass(frozen=True, slots=True)
class Step:
    """How one output element was computed."""

    index: tuple[int, ...]  # (out channel, *position)
    terms: tuple[Term, ...]
    value: Number | float
    bias: Number | None = None
    total: Number | float | None = None  # sum of products (conv) or of the window (avg pool)
    divisor: int | None = None
    divisor_reason: str | None = None
    winner: int | None = None  # position in terms of the max-pool winner
    window: tuple[tuple[int, int], ...] = ()  # per dimension [start, stop) in input coordinates


@dataclass
class Trace:
    """A traced layer: the data, the parameters, every step and the output."""

    spec: LayerSpec
    shape: LayerShape
    x: np.ndarray  # (C_in, *spatial)
    w: np.ndarray | None
    b: np.ndarray | None
    output: np.ndarray  # (C_out, *spatial_out)
    steps: list[Step]
    plain: bool = True  # the input was a plain matrix: show the output without a channel axis
    notes: list[str] = field(default_factory=list)

    @property
    def display_output(self) -> np.ndarray:
        return self.output[0] if self.plain and self.output.shape[0] == 1 else self.output


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
    if kind.is_pool:
        if w is not None or b is not None:
            raise MalformedInputError("weight/bias: pools have no weights")
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
) -> Trace:
    """Trace a layer on arranged data (see ``arrange``): every step and the output.

    >>> from convcalc.specs import build_spec
    >>> from convcalc.tensors import generate
    >>> x, w = generate("arange:1x5x5", "x"), generate("arange:1x1x3x3", "w")
    >>> t = explain(build_spec("conv2d", kernel_size=(3,)), x, w)
    >>> t.output[0, 0, :2].tolist()
    [411, 456]
    """
    shape = layer_shape(spec, tuple(x.shape[1:]))
    steps = list(_steps(spec, shape, x, w, b))
    c_out = steps[-1].index[0] + 1
    output = np.empty((c_out, *shape.output), dtype=object)
    for step in steps:
        output[step.index] = step.value
    return Trace(spec, shape, x, w, b, output, steps, plain)


def _steps(
    spec: LayerSpec, shape: LayerShape, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
) -> Iterator[Step]:
    if spec.kind is OpKind.CONV:
        assert w is not None
        yield from _conv_steps(spec, shape, x, w, b)
    elif spec.kind is OpKind.CONVTRANSPOSE:
        assert w is not None
        yield from _conv_transpose_steps(spec, shape, x, w, b)
    else:
        yield from _pool_steps(spec, shape, x)


def _positions(sizes: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    return itertools.product(*(range(n) for n in sizes))


def _conv_steps(
    spec: LayerSpec, shape: LayerShape, x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> Iterator[Step]:
    c_out, groups = w.shape[0], spec.groups
    cin_g, cout_g = x.shape[0] // groups, c_out // groups
    windows = _window_cells(spec, shape, tuple(x.shape[1:]))
    for o in range(c_out):
        group = o // cout_g
        for pos, (starts, cells) in windows.items():
            # y[o, j] = b[o] + sum_c sum_m x[c, j*s + m*d - p] * w[o, c, m]  (no kernel flip)
            terms = []
            for c in range(cin_g):
                channel = group * cin_g + c
                for at, inside, m in cells:
                    value = x[(channel, *at)] if inside else 0
                    weight = w[(o, c, *m)]
                    terms.append(
                        Term((channel, *at), value, (o, c, *m), weight, value * weight, not inside)
                    )
            yield _sum_step((o, *pos), terms, b, o, _window(starts, spec))


def _window_cells(
    spec: LayerSpec, shape: LayerShape, in_size: tuple[int, ...]
) -> dict[tuple[int, ...], tuple[list[int], list[tuple[tuple[int, ...], bool, tuple[int, ...]]]]]:
    """For each output position: its window's start and, per kernel offset m, the input
    coordinate it reads and whether that lies inside the input (else padding). Shared by every
    channel, so computed once."""
    offsets = list(_positions(spec.kernel_size))
    windows = {}
    for pos in _positions(shape.output):
        starts = [j * s - p for j, s, (p, _) in zip(pos, spec.stride, spec.padding)]
        cells = []
        for m in offsets:
            at = tuple(st + mi * d for st, mi, d in zip(starts, m, spec.dilation))
            inside = all(0 <= a < n for a, n in zip(at, in_size))
            cells.append((at, inside, m))
        windows[pos] = (starts, cells)
    return windows


def _window(starts: list[int], spec: LayerSpec) -> tuple[tuple[int, int], ...]:
    return tuple(
        (st, st + d * (k - 1) + 1) for st, d, k in zip(starts, spec.dilation, spec.kernel_size)
    )


def _sum_step(
    index: tuple[int, ...],
    terms: list[Term],
    b: np.ndarray | None,
    o: int,
    window: tuple[tuple[int, int], ...] = (),
) -> Step:
    total = sum((t.product for t in terms), 0)
    bias = b[o] if b is not None else None
    value = total + bias if bias is not None else total
    return Step(index, tuple(terms), value, bias, total, window=window)


def _conv_transpose_steps(
    spec: LayerSpec, shape: LayerShape, x: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> Iterator[Step]:
    """Gather form of the scatter: output j collects x[i]*w[m] wherever i*s + m*d - p == j."""
    in_size = x.shape[1:]
    groups = spec.groups
    cin_g, cout_g = x.shape[0] // groups, w.shape[1]
    for o in range(cout_g * groups):
        group, oc = divmod(o, cout_g)
        for pos in _positions(shape.output):
            per_dim = []
            for j, n, k, s, d, (p, _) in zip(
                pos, in_size, spec.kernel_size, spec.stride, spec.dilation, spec.padding
            ):
                pairs = []
                for m in range(k):
                    t = j + p - m * d
                    if t % s == 0 and 0 <= t // s < n:
                        pairs.append((t // s, m))
                per_dim.append(pairs)
            terms = []
            for c in range(cin_g):
                channel = group * cin_g + c
                for combo in itertools.product(*per_dim):
                    at = tuple(pair[0] for pair in combo)
                    taps = tuple(pair[1] for pair in combo)
                    value, weight = x[(channel, *at)], w[(channel, oc, *taps)]
                    terms.append(
                        Term((channel, *at), value, (channel, oc, *taps), weight, value * weight)
                    )
            yield _sum_step((o, *pos), terms, b, o)


def _pool_steps(spec: LayerSpec, shape: LayerShape, x: np.ndarray) -> Iterator[Step]:
    in_size = x.shape[1:]
    max_pool = spec.kind is OpKind.MAXPOOL
    offsets = list(_positions(spec.kernel_size))
    for c in range(x.shape[0]):
        for pos in _positions(shape.output):
            starts = [j * s - p for j, s, (p, _) in zip(pos, spec.stride, spec.padding)]
            terms = []
            for m in offsets:
                at = tuple(st + mi * d for st, mi, d in zip(starts, m, spec.dilation))
                # A ceil_mode window hanging past the right padding: those positions are not
                # counted. (onnxruntime's negative SAME padding trims an average's input; a max
                # only ever reads the real input, so padding there changes nothing.)
                if any(
                    a >= n + (max(p, 0) if max_pool else p)
                    for a, n, (_, p) in zip(at, in_size, spec.padding)
                ):
                    continue
                inside = all(0 <= a < n for a, n in zip(at, in_size))
                value = x[(c, *at)] if inside else (NEG_INF if spec.kind is OpKind.MAXPOOL else 0)
                terms.append(Term((c, *at), value, None, None, value, not inside))
            if spec.kind is OpKind.MAXPOOL:
                yield _max_step((c, *pos), terms, _window(starts, spec))
            else:
                yield _avg_step(spec, (c, *pos), terms, starts, in_size)


def _max_step(index: tuple[int, ...], terms: list[Term], window: Any) -> Step:
    # torch scans the window in order and keeps the first maximum; padding never wins.
    winner = None
    for n, term in enumerate(terms):
        if term.padding:
            continue
        if winner is None or term.input_value > terms[winner].input_value:
            winner = n
    value = terms[winner].input_value if winner is not None else NEG_INF
    return Step(index, tuple(terms), value, winner=winner, window=window)


def _avg_step(
    spec: LayerSpec,
    index: tuple[int, ...],
    terms: list[Term],
    starts: list[int],
    in_size: tuple[int, ...],
) -> Step:
    total = sum((t.input_value for t in terms if not t.padding), 0)
    real = sum(1 for t in terms if not t.padding)
    window_size = math.prod(spec.kernel_size)
    if spec.count_include_pad:
        divisor = len(terms)
        if divisor == window_size:
            reason = f"the whole {'x'.join(map(str, spec.kernel_size))} window (count_include_pad)"
        else:
            reason = (
                f"{divisor} of {window_size} window positions: clipped at the padded edge "
                "(ceil_mode)"
            )
    else:
        divisor = real
        reason = "real input elements only (count_include_pad=False)"
    value = normalise(Fraction(total) / divisor)
    return Step(
        index,
        tuple(terms),
        value,
        total=total,
        divisor=divisor,
        divisor_reason=reason,
        window=_window(starts, spec),
    )


# --- transposed convolution, the other views ----------------------------------------------------


@dataclass
class ScatterView:
    """Each input element times the whole kernel, added at stride offsets, then cropped."""

    contributions: list[tuple[tuple[int, ...], Number, np.ndarray, tuple[int, ...]]]
    full: np.ndarray  # (C_out, *full) before cropping, with room for output_padding
    crop: tuple[tuple[int, int], ...]  # per dimension [start, stop) kept
    output: np.ndarray


def scatter_view(trace: Trace) -> ScatterView:
    """The transposed conv as scatter-add: x[c,i]*w[c,o] placed at i*s, crop p, output_padding."""
    spec, x, w = trace.spec, trace.x, trace.w
    assert w is not None and spec.kind is OpKind.CONVTRANSPOSE
    groups = spec.groups
    cin_g, cout_g = x.shape[0] // groups, w.shape[1]
    in_size = x.shape[1:]
    full_size = tuple(
        (n - 1) * s + d * (k - 1) + 1 + op
        for n, s, d, k, op in zip(
            in_size, spec.stride, spec.dilation, spec.kernel_size, spec.output_padding
        )
    )
    full = np.zeros((cout_g * groups, *full_size), dtype=object)
    contributions = []
    for c in range(x.shape[0]):
        group = c // cin_g
        for i in _positions(in_size):
            value = x[(c, *i)]
            block = value * w[c]  # (C_out/groups, *k)
            origin = tuple(ii * s for ii, s in zip(i, spec.stride))
            for oc in range(cout_g):
                for m in _positions(spec.kernel_size):
                    at = tuple(o + mi * d for o, mi, d in zip(origin, m, spec.dilation))
                    full[(group * cout_g + oc, *at)] += block[(oc, *m)]
            contributions.append(((c, *i), value, block, origin))
    crop = tuple((p, p + o) for (p, _), o in zip(spec.padding, trace.shape.output))
    output = full[(slice(None), *(slice(a, z) for a, z in crop))].copy()
    if trace.b is not None:
        output += trace.b.reshape((-1,) + (1,) * len(in_size))
    return ScatterView(contributions, full, crop, output)


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
    z_size = tuple((n - 1) * s + 1 for n, s in zip(in_size, spec.stride))
    zero_inserted = np.zeros((x.shape[0], *z_size), dtype=object)
    zero_inserted[(slice(None), *(slice(None, None, s) for s in spec.stride))] = x
    pads = tuple(
        (d * (k - 1) - p, d * (k - 1) - q + op)
        for d, k, (p, q), op in zip(
            spec.dilation, spec.kernel_size, spec.padding, spec.output_padding
        )
    )
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
    inner = explain(conv_spec, padded, kernel, trace.b, trace.plain)
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
    rows = list(_positions(in_size))
    cols = {pos: n for n, pos in enumerate(_positions(out_size))}
    matrix = np.zeros((len(rows), len(cols)), dtype=object)
    for r, i in enumerate(rows):
        for m in _positions(spec.kernel_size):
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


def choose_view(trace: Trace, view: str = "auto") -> tuple[str | None, Any]:
    """The view of a transposed conv to show ("auto", "scatter", "conv", "matrix" or "steps"),
    computed and checked against the steps: a view that disagreed would never be printed.
    Other ops have only their steps."""
    if trace.spec.kind is not OpKind.CONVTRANSPOSE:
        if view not in ("auto", "steps"):
            raise MalformedInputError("--view applies to transposed convolutions only")
        return None, None
    name = default_view(trace.spec) if view == "auto" else view
    if name == "steps":
        return None, None
    data: Any
    if name == "conv":
        data = conv_view(trace)
        produced = data.trace.output
    elif name == "matrix":
        data = matrix_view(trace)
        produced = data.y_flat.reshape(trace.output.shape)
    else:
        data = scatter_view(trace)
        produced = data.output
    if not (produced == trace.output).all():
        raise ConvcalcError(f"internal check failed: the {name} view disagrees with the steps")
    return name, data


def default_view(spec: LayerSpec) -> str:
    """The view that teaches best: scatter when the padding crops more than the kernel overlaps
    (negative effective padding), else the zero-insertion convolution PyTorch's docs describe."""
    if any(
        d * (k - 1) - p < 0 for d, k, (p, _) in zip(spec.dilation, spec.kernel_size, spec.padding)
    ):
        return "scatter"
    return "conv" if any(s > 1 for s in spec.stride) else "scatter"


def trace_layer(
    op: str,
    x: np.ndarray,
    w: np.ndarray | None = None,
    b: np.ndarray | None = None,
    *,
    kernel_size: tuple[int, ...] | None = None,
    stride: tuple[int, ...] | None = None,
    padding: Any = (0,),
    dilation: tuple[int, ...] = (1,),
    output_padding: tuple[int, ...] | None = None,
    ceil_mode: bool = False,
    groups: int = 1,
    count_include_pad: bool | None = None,
    convention: str = "torch",
    output_shape: tuple[int, ...] | None = None,
) -> Trace:
    """Resolve the layer from the data and the options, check both, and trace it.

    The kernel size of a conv comes from its weight; ``kernel_size``, when given too, must agree.
    An op without 1d/2d/3d takes its dimensions from a plain input matrix.

    >>> from convcalc.tensors import load_tensor
    >>> t = trace_layer("convtranspose2d", load_tensor("1,2;3,4", "x"),
    ...                 load_tensor("1,0;0,1", "w"), stride=(2,), padding=(1,))
    >>> t.display_output.tolist()
    [[1, 0], [0, 4]]
    """
    from convcalc.conventions import resolve
    from convcalc.specs import parse_op

    name = parse_op(op)
    ndim = name.ndim or x.ndim
    if ndim not in (1, 2, 3):
        raise MalformedInputError(f"input: a plain matrix with {x.ndim} axes gives no 1d/2d/3d op")
    if not name.kind.is_pool:
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
    spec = resolve(
        convention,
        str(name) if name.ndim else f"{name}{ndim}d",
        spatial,
        kernel_size=None if kernel_size is None else tuple(kernel_size),
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
        ceil_mode=ceil_mode,
        groups=groups,
        count_include_pad=count_include_pad,
        output_shape=output_shape,
    ).spec
    arranged_x, arranged_w, arranged_b, plain = arrange(ndim, spec.kind, x, w, b, groups)
    c_out = arranged_x.shape[0]
    if arranged_w is not None:
        c_out = arranged_w.shape[0] if spec.kind is OpKind.CONV else arranged_w.shape[1] * groups
    spec = replace(
        spec, in_channels=arranged_x.shape[0], out_channels=c_out, bias=arranged_b is not None
    )
    return explain(spec, arranged_x, arranged_w, arranged_b, plain)
