"""The questions users ask backwards: which parameters give this size, which output_padding undoes
that conv, how a layer behaves over a range of input sizes. Every size comes from ``shapes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.shapes import DimShape, conv_dim, conv_transpose_dim, layer_shape, pool_dim
from convcalc.specs import LayerSpec, OpKind


@dataclass(frozen=True)
class Bounds:
    """Search bounds; ``padding`` None means "up to what the op sensibly allows"."""

    kernel: int = 11
    stride: int = 8
    dilation: int = 4
    padding: int | None = None


@dataclass(frozen=True)
class Candidate:
    """One parameter combination and the dimension it produces."""

    dim: DimShape
    score: tuple[int, ...]

    @property
    def label(self) -> str:
        d = self.dim
        text = f"k{d.kernel} s{d.stride} p{d.pad_before}"
        if d.dilation != 1:
            text += f" d{d.dilation}"
        if d.kind is OpKind.CONVTRANSPOSE:
            text += f" op{d.output_padding}"
        return text


@dataclass
class Solution:
    """Every combination that maps ``size`` to ``target`` (best first) or the nearest misses."""

    kind: OpKind
    size: int
    target: int
    candidates: list[Candidate]
    below: Candidate | None = None
    above: Candidate | None = None
    searched: int = 0


def _choices(fixed: int | None, upper: int, lower: int = 1) -> range:
    return range(fixed, fixed + 1) if fixed is not None else range(lower, upper + 1)


def _score(dim: DimShape) -> tuple[int, ...]:
    """Smaller is more conventional (see solve's docstring)."""
    k, s, p, d = dim.kernel, dim.stride, dim.pad_before, dim.dilation
    if dim.kind is OpKind.CONVTRANSPOSE:
        # k = 2s, p = s/2 (DCGAN's k4 s2 p1) or k = s, p = 0; no output_padding; no checkerboard
        return (d != 1, d, dim.output_padding > 0, k % s != 0, k < s, abs(k - 2 * s), p, k)
    if dim.kind.is_pool:
        return (d != 1, d, k < s, dim.unread_input > 0, k != s, p, k, s)
    centred = p == d * (k - 1) // 2
    return (d != 1, d, not centred, k < s, dim.unread_input > 0, k % 2 == 0, abs(k - 3), s, p, k)


def solve(
    kind: OpKind,
    size: int,
    target: int,
    *,
    kernel: int | None = None,
    stride: int | None = None,
    padding: int | None = None,
    dilation: int | None = None,
    output_padding: int | None = None,
    ceil_mode: bool = False,
    bounds: Bounds = Bounds(),
) -> Solution:
    """Every (k, s, p, d[, output_padding]) within bounds whose output for ``size`` is ``target``.

    Ranked so that the conventional choice comes first: dilation 1; for convs a centred window
    (p = d*(k-1)/2), a kernel at least the stride, no unread input, odd and small kernels; for
    pools kernel == stride; for transposed convs no output_padding, a kernel divisible by the
    stride (no checkerboard) and k = 2s.

    >>> [c.label for c in solve(OpKind.CONV, 224, 112).candidates[:2]]
    ['k3 s2 p1', 'k5 s2 p2']
    """
    if size < 1 or target < 1:
        raise MalformedInputError("solve: input and output sizes must be positive")
    dilations = [1] if kind is OpKind.AVGPOOL else _choices(dilation, bounds.dilation)
    found: list[Candidate] = []
    near: dict[int, Candidate] = {}
    searched = 0
    for k in _choices(kernel, bounds.kernel):
        for s in _choices(stride, bounds.stride):
            for d in dilations:
                for dim in _dims(
                    kind, size, target, k, s, d, padding, output_padding, ceil_mode, bounds
                ):
                    searched += 1
                    candidate = Candidate(dim, _score(dim))
                    if dim.output == target:
                        found.append(candidate)
                    elif dim.output not in near or candidate.score < near[dim.output].score:
                        near[dim.output] = candidate
    found.sort(key=lambda c: c.score)
    solution = Solution(kind, size, target, found, searched=searched)
    if not found:
        below = [o for o in near if o < target]
        above = [o for o in near if o > target]
        solution.below = near[max(below)] if below else None
        solution.above = near[min(above)] if above else None
    return solution


def _dims(
    kind: OpKind,
    size: int,
    target: int,
    k: int,
    s: int,
    d: int,
    padding: int | None,
    output_padding: int | None,
    ceil_mode: bool,
    bounds: Bounds,
) -> list[DimShape]:
    if kind.is_pool:
        top = k // 2 if bounds.padding is None else min(bounds.padding, k // 2)
    else:
        top = d * (k - 1) if bounds.padding is None else bounds.padding
    dims = []
    for p in _choices(padding, top, 0):
        try:
            if kind is OpKind.CONV:
                dims.append(conv_dim(size, k, s, p, d))
            elif kind is OpKind.CONVTRANSPOSE:
                # output_padding is whatever closes the gap, if torch allows it
                base = (size - 1) * s - 2 * p + d * (k - 1) + 1
                ops = (
                    [output_padding]
                    if output_padding is not None
                    else [min(max(target - base, 0), max(s, d) - 1)]
                )
                dims.extend(conv_transpose_dim(size, k, s, p, d, op) for op in ops)
            else:
                dims.append(pool_dim(size, k, s, p, d, ceil_mode, kind=kind))
        except ConvcalcError:
            continue
    return dims


# --- inverting a layer ----------------------------------------------------------------------


@dataclass
class DimInversion:
    """One dimension: the sizes that the layer maps to the same output, and how to undo it."""

    forward: DimShape
    preimage: list[int]  # every input size giving the same output (ascending)
    output_padding: int | None  # for the inverse op to return exactly this input size
    inverse_output: int | None  # the inverse op's output with output_padding 0
    note: str = ""


@dataclass
class Inversion:
    spec: LayerSpec
    dims: list[DimInversion] = field(default_factory=list)

    @property
    def output_size(self) -> tuple[int, ...]:
        """What to pass as ``output_size=`` to the inverse's forward() (the original input)."""
        return tuple(d.forward.input for d in self.dims)


def invert(spec: LayerSpec, size: tuple[int, ...]) -> Inversion:
    """The op that maps the layer's output back to ``size``, and why output_padding exists: the
    list of input sizes that the layer sends to the same output.

    For a conv or a pool the inverse is the transposed conv (for a max pool, MaxUnpool) with the
    same kernel_size, stride, padding and dilation; for a transposed conv it is the conv.

    >>> inv = invert(__import__("convcalc").build_spec("conv2d", kernel_size=(3,), stride=(2,),
    ...              padding=(1,)), (7, 8))
    >>> [(d.preimage, d.output_padding) for d in inv.dims]
    [([7, 8], 0), ([7, 8], 1)]
    """
    forward = layer_shape(spec, size)
    inversion = Inversion(spec)
    for axis, dim in enumerate(forward.dims):
        preimage = _preimage(spec, axis, dim)
        if spec.kind is OpKind.CONVTRANSPOSE:
            back = conv_dim(
                dim.output, dim.kernel, dim.stride, (dim.pad_before, dim.pad_after), dim.dilation
            )
            note = (
                ""
                if back.output == dim.input
                else (
                    f"the conv of {dim.output} gives {back.output}, not {dim.input}: "
                    f"output_padding {dim.output_padding} >= stride {dim.stride} cannot be undone"
                )
            )
            inversion.dims.append(DimInversion(dim, preimage, None, back.output, note))
            continue
        base = (
            (dim.output - 1) * dim.stride
            - dim.pad_before
            - dim.pad_after
            + dim.dilation * (dim.kernel - 1)
            + 1
        )
        op = dim.input - base
        note = ""
        if op < 0 or op >= max(dim.stride, dim.dilation):
            note = (
                f"no output_padding reaches {dim.input}: the transposed conv gives {base} "
                f"and output_padding must be in [0, {max(dim.stride, dim.dilation)})"
            )
            op = None  # type: ignore[assignment]
        inversion.dims.append(DimInversion(dim, preimage, op, base, note))
    return inversion


def _preimage(spec: LayerSpec, axis: int, dim: DimShape) -> list[int]:
    """Input sizes (around this one) that the rule maps to the same output, found by the rule."""
    from convcalc.shapes import dim_shape

    reach = dim.stride * max(dim.dilation, 1) + dim.kernel_extent + 2
    sizes = []
    for candidate in range(max(1, dim.input - reach), dim.input + reach + 1):
        try:
            if dim_shape(spec, axis, candidate).output == dim.output:
                sizes.append(candidate)
        except ConvcalcError:
            continue
    return sizes


# --- sweeping the input size ----------------------------------------------------------------


@dataclass
class SweepRow:
    """One input size of a sweep."""

    input: int
    output: int | None
    error: str | None = None
    unread: int = 0  # trailing input elements no window reads
    roundtrip: int | None = None  # the inverse op's output with output_padding 0
    needs_output_padding: int | None = None


def parse_range(text: str) -> range | None:
    """``1..64`` or ``a..b:step`` (inclusive); None when the text is not a range.

    >>> list(parse_range("2..10:4"))
    [2, 6, 10]
    """
    import re

    match = re.fullmatch(r"\s*(\d+)\s*\.\.\s*(\d+)\s*(?::\s*(\d+))?\s*", text)
    if not match:
        return None
    start, stop, step = int(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
    if start < 1 or stop < start or step < 1:
        raise MalformedInputError(f"input size: {text!r} must be a..b with 1 <= a <= b, step >= 1")
    if (stop - start) // step > 100_000:
        raise MalformedInputError(f"input size: {text!r} has more than 100,000 sizes")
    return range(start, stop + 1, step)


def sweep(spec: LayerSpec, sizes: range) -> list[SweepRow]:
    """The layer over every input size (the same size in every dimension; dimension 0 shown)."""
    rows = []
    for size in sizes:
        try:
            dim = layer_shape(spec, (size,) * spec.ndim).dims[0]
        except ConvcalcError as error:
            rows.append(SweepRow(size, None, str(error)))
            continue
        row = SweepRow(size, dim.output)
        if spec.kind is OpKind.CONVTRANSPOSE:
            try:
                row.roundtrip = conv_dim(
                    dim.output,
                    dim.kernel,
                    dim.stride,
                    (dim.pad_before, dim.pad_after),
                    dim.dilation,
                ).output
            except ConvcalcError:
                row.roundtrip = None
        else:
            row.unread = dim.unread_input
            row.roundtrip = (
                (dim.output - 1) * dim.stride
                - dim.pad_before
                - dim.pad_after
                + dim.dilation * (dim.kernel - 1)
                + 1
            )
            if row.roundtrip != size:
                row.needs_output_padding = size - row.roundtrip
        rows.append(row)
    return rows
