"""The questions users ask backwards: which parameters give this size, which output_padding undoes
that conv, how a layer behaves over a range of input sizes. Every size comes from ``shapes``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, assert_never

from convcalc.errors import ConvcalcError, MalformedInputError
from convcalc.ops import Param, SizeRule
from convcalc.shapes import (
    AdaptiveShape,
    AnyShape,
    DimShape,
    FoldShape,
    blocks_dim,
    conv_dim,
    conv_transpose_dim,
    dilated_kernel_extent,
    layer_shape,
    pool_dim,
    transposed_size,
)
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
    def same(self) -> bool:
        """PyTorch's padding='same' with its odd extra pixel after (symmetric pads are p=N)."""
        return self.dim.pad_before != self.dim.pad_after

    @property
    def label(self) -> str:
        d = self.dim
        pad = "padding='same'" if self.same else f"p{d.pad_before}"
        text = f"k{d.kernel} s{d.stride} {pad}"
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
    centred = p == (dim.kernel_extent - 1) // 2
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
    if kind.family.rule in (SizeRule.ADAPTIVE, SizeRule.FOLD):
        raise MalformedInputError(
            f"solve: {kind.torch_name} gives the output size it is asked for "
            f"(output_size={target}); nothing to solve"
        )
    takes = kind.family.takes_param
    dilations = [1] if not takes(Param.DILATION) else _choices(dilation, bounds.dilation)
    kernels, strides = _choices(kernel, bounds.kernel), _choices(stride, bounds.stride)
    _check_search(kernels, strides, dilations, padding, bounds)
    found: list[Candidate] = []
    near: dict[int, Candidate] = {}
    searched = 0
    for k in kernels:
        for s in strides:
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


def _check_search(
    kernels: range,
    strides: range,
    dilations: range | list[int],
    padding: int | None,
    bounds: Bounds,
) -> None:
    """Refuse a search of more than MAX_SOLVE_COMBINATIONS combinations before it starts (the
    paddings tried for a kernel are at most its dilated extent)."""
    from convcalc.boundary import MAX_SOLVE_COMBINATIONS

    widest = max(dilations) * (kernels[-1] - 1) + 1
    paddings = 1 if padding is not None else min(widest, (bounds.padding or widest - 1) + 1)
    count = len(kernels) * len(strides) * len(dilations) * paddings
    if count > MAX_SOLVE_COMBINATIONS:
        raise MalformedInputError(
            f"solve: up to {count:,} combinations of kernel, stride, dilation and padding; "
            f"convcalc searches at most {MAX_SOLVE_COMBINATIONS:,} (see Limits in the README): "
            "lower --k-max, --s-max, --d-max or --p-max, or fix one with --k, --s, --d or --p"
        )


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
    if not kind.family.takes_param(Param.PADDING):
        top = 0
    elif kind.is_pool:
        top = k // 2 if bounds.padding is None else min(bounds.padding, k // 2)
    else:
        top = dilated_kernel_extent(k, d) - 1 if bounds.padding is None else bounds.padding
    dims = []
    total = dilated_kernel_extent(k, d) - 1
    if kind is OpKind.CONV and s == 1 and padding is None and total % 2 and total // 2 <= top:
        # padding='same' with an odd total: the extra pixel after, as PyTorch pads it
        try:
            dims.append(conv_dim(size, k, s, (total // 2, total - total // 2), d))
        except ConvcalcError:
            pass
    for p in _choices(padding, top, 0):
        try:
            match kind.family.rule:
                case SizeRule.CONV:
                    dims.append(conv_dim(size, k, s, p, d))
                case SizeRule.TRANSPOSED:
                    # output_padding is whatever closes the gap, if torch allows it
                    base = transposed_size(size, k, s, (p, p), d)
                    ops = (
                        [output_padding]
                        if output_padding is not None
                        else [min(max(target - base, 0), max(s, d) - 1)]
                    )
                    dims.extend(conv_transpose_dim(size, k, s, p, d, op) for op in ops)
                case SizeRule.POOL:
                    dims.append(pool_dim(size, k, s, p, d, ceil_mode, kind=kind))
                case SizeRule.BLOCKS:
                    dims.append(blocks_dim(size, k, s, (p, p), d))
                case SizeRule.ADAPTIVE | SizeRule.FOLD:
                    raise AssertionError("solve() turns adaptive pools and fold away first")
                case _:
                    assert_never(kind.family.rule)
        except ConvcalcError:
            continue
    return dims


# --- inverting a layer ----------------------------------------------------------------------


@dataclass
class DimInversion:
    """One dimension: the sizes that the layer maps to the same output, and how to undo it."""

    forward: DimShape
    preimage: range  # every input size giving the same output (ascending)
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
    >>> [(list(d.preimage), d.output_padding) for d in inv.dims]
    [([7, 8], 0), ([7, 8], 1)]
    """
    if spec.kind.is_adaptive or not spec.kind.family.dimensioned:
        hint = (
            "the inverse of Unfold is Fold (convcalc shape fold --out SIZE --k K)"
            if spec.kind is OpKind.UNFOLD
            else "it has no transposed counterpart in PyTorch"
        )
        raise MalformedInputError(f"invert: {spec.kind.torch_name}: {hint}")
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
        base = dim.inverse_output
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


def _preimage(spec: LayerSpec, axis: int, dim: DimShape) -> range:
    """Every input size that the rule maps to the same output as this one: an interval, since
    the output size never falls as the input grows; its ends found by bisection on the rule
    itself (a stride of 10**9 costs some 60 evaluations, not 10**9)."""
    from convcalc.shapes import dim_shape

    def output(candidate: int) -> int:
        """The output for an input size; 0 where the rule rejects it (too small)."""
        try:
            return dim_shape(spec, axis, candidate).output
        except ConvcalcError:
            return 0

    reach = dim.stride * max(dim.dilation, 1) + dim.kernel_extent + 2
    # the smallest size in [input - reach, input] whose output is this one
    low, high = max(1, dim.input - reach), dim.input
    while low < high:
        middle = (low + high) // 2
        if output(middle) >= dim.output:
            high = middle
        else:
            low = middle + 1
    first = low
    # the largest size in [input, input + reach] whose output is this one
    low, high = dim.input, dim.input + reach
    while low < high:
        middle = (low + high + 1) // 2
        if output(middle) <= dim.output:
            low = middle
        else:
            high = middle - 1
    return range(first, low + 1)


# --- sweeping the input size ----------------------------------------------------------------


class SweepRow(NamedTuple):
    """One input size of a sweep: exactly what the single-size query answers for it.

    ``output`` holds one size per spatial dimension; ``unread``, ``roundtrip`` and
    ``needs_output_padding`` are those of dimension 0 (a sweep gives every dimension the same size).
    """

    input: int
    output: tuple[int, ...] | None
    error: str | None = None
    unread: int = 0  # trailing input elements no window reads
    roundtrip: int | None = None  # the inverse op's output with output_padding 0
    needs_output_padding: int | None = None


def sweep_row(size: int, shape: AnyShape) -> SweepRow:
    """The marks a reviewer looks for, from the single-size answer."""
    if isinstance(shape, AdaptiveShape | FoldShape):  # no window left unread, no inverse
        return SweepRow(size, shape.output)
    dim = shape.dims[0]
    output = shape.output
    if dim.kind is OpKind.CONVTRANSPOSE:
        try:
            back = conv_dim(
                dim.output, dim.kernel, dim.stride, (dim.pad_before, dim.pad_after), dim.dilation
            ).output
        except ConvcalcError:
            back = None
        return SweepRow(size, output, roundtrip=back)
    back = dim.inverse_output
    return SweepRow(
        size,
        output,
        unread=dim.unread_input,
        roundtrip=back,
        needs_output_padding=None if back == size else size - back,
    )


# A sweep computes this many sizes (at least) one by one before it extrapolates.
_SWEEP_HEAD = 256
# ... and checks the extrapolation against this many sizes computed one by one across the range.
_SWEEP_CHECKS = 48
# Periods (in rows) up to this are looked for; a longer one is computed size by size.
_SWEEP_MAX_PERIOD = 64


def sweep(
    at: Callable[[int], AnyShape],
    sizes: range,
    progress: Callable[[int, int], None] | None = None,
) -> list[SweepRow]:
    """The layer over every input size: ``at(size)`` is the single-size query (it raises
    ConvcalcError for an invalid layer), so every row is exactly what that query answers.

    Output sizes are floor/ceil divisions of affine functions of the input, so past the sizes
    that are invalid the rows repeat with the period P of the strides (lcm over dimensions), each
    number shifted by a constant per period. The first sizes are computed one by one; once two
    periods agree the rest is extrapolated, then checked against sizes computed one by one
    across the range (the last two periods and evenly spaced ones). A disagreement, which the
    tests have never seen, falls back to computing every size.
    """

    def one(size: int) -> SweepRow:
        try:
            return sweep_row(size, at(size))
        except ConvcalcError as error:
            return SweepRow(size, None, str(error))

    count = len(sizes)
    head = min(count, _SWEEP_HEAD)
    rows = [one(sizes[i]) for i in range(head)]
    if head == count:
        return rows
    first = 1 + max((i for i, row in enumerate(rows) if row.error is not None), default=-1)
    for period in range(1, _SWEEP_MAX_PERIOD + 1):
        if head - first < 3 * period:
            break
        deltas = _deltas(rows, first, period)
        if deltas is None:
            continue
        extended = _extend(rows, sizes, period, deltas)
        checks = set(range(max(head, count - 2 * period), count))
        checks |= {head + (count - head) * k // _SWEEP_CHECKS for k in range(_SWEEP_CHECKS)}
        if all(one(sizes[i]) == extended[i] for i in sorted(checks)):
            return extended
        break
    return _explicit(rows, sizes, one, progress)


def _deltas(rows: list[SweepRow], first: int, period: int) -> dict[int, tuple[Any, ...]] | None:
    """Per residue of the row index, the constant shift over one period, if the rows obey one."""
    deltas: dict[int, tuple[Any, ...]] = {}
    for i in range(first, len(rows) - period):
        delta = _delta(rows[i], rows[i + period])
        if delta is None or deltas.setdefault(i % period, delta) != delta:
            return None
    return deltas


def _delta(a: SweepRow, b: SweepRow) -> tuple[Any, ...] | None:
    """How row b's numbers differ from row a's, or None where they cannot be compared."""
    if a.error is not None or b.error is not None or a.output is None or b.output is None:
        return None
    diffs: list[Any] = [y - x for x, y in zip(a.output, b.output)]
    for x, y in (
        (a.unread, b.unread),
        (a.roundtrip, b.roundtrip),
        (a.needs_output_padding, b.needs_output_padding),
    ):
        if (x is None) != (y is None):
            return None
        diffs.append(None if x is None or y is None else y - x)
    return tuple(diffs)


def _extend(
    rows: list[SweepRow], sizes: range, period: int, deltas: dict[int, tuple[Any, ...]]
) -> list[SweepRow]:
    """Rows past the head, each residue class of the period an arithmetic progression from its
    last computed row (built column by column in C loops: 100,000 rows in milliseconds)."""
    head, count = len(rows), len(sizes)
    extended: list[SweepRow] = rows + [rows[0]] * (count - head)
    for i in range(head, min(head + period, count)):
        source = rows[i - period]
        assert source.output is not None
        delta = deltas[i % period]
        ndim = len(source.output)
        steps = len(range(i, count, period))
        columns = [
            _column(value, change, steps)
            for value, change in zip(
                (*source.output, source.unread, source.roundtrip, source.needs_output_padding),
                delta,
            )
        ]
        extended[i::period] = list(
            map(
                SweepRow._make,
                zip(
                    sizes[i::period],
                    zip(*columns[:ndim]),
                    itertools.repeat(None, steps),
                    *columns[ndim:],
                ),
            )
        )
    return extended


def _column(value: int | None, change: int | None, steps: int) -> Iterable[Any]:
    """value + change, value + 2*change, ... (steps of them); None stays None."""
    if value is None or change is None or change == 0:
        return itertools.repeat(value, steps)
    return range(value + change, value + change * steps + (1 if change > 0 else -1), change)


def _explicit(
    rows: list[SweepRow],
    sizes: range,
    one: Callable[[int], SweepRow],
    progress: Callable[[int, int], None] | None,
) -> list[SweepRow]:
    rows = list(rows)
    for i in range(len(rows), len(sizes)):
        rows.append(one(sizes[i]))
        if progress is not None and i % 1024 == 0:
            progress(i, len(sizes))
    return rows


@dataclass(frozen=True)
class SweepRun:
    """Sizes that behave alike: an arithmetic progression of inputs whose outputs progress
    with them, with the same marks (or the same kind of error)."""

    first: SweepRow
    last: SweepRow
    step: int  # between consecutive inputs of the run
    count: int

    @property
    def inputs(self) -> str:
        return _progression(self.first.input, self.last.input, self.step, self.count)

    @property
    def outputs(self) -> str:
        if self.first.output is None or self.last.output is None:
            return "-"
        texts = []
        for a, z in zip(self.first.output, self.last.output):
            step = (z - a) // (self.count - 1) if self.count > 1 else 0
            texts.append(_progression(a, z, step, self.count))
        return texts[0] if len(set(texts)) == 1 else " x ".join(texts)


def _progression(a: int, z: int, step: int, count: int) -> str:
    if count == 1 or a == z:
        return str(a)
    if count == 2 and abs(step) != 1:
        return f"{a}, {z}"
    return f"{a}..{z}" if step == 1 else f"{a}..{z} step {step}"


def _marks(row: SweepRow) -> tuple[Any, ...]:
    if row.error is not None:
        # the messages name the size; their rule (the text before the first number) is the mark
        return ("error", row.error.split(":")[0])
    back = None if row.roundtrip is None else row.roundtrip - row.input
    return ("ok", row.unread, row.needs_output_padding, back)


def summarise(rows: list[SweepRow]) -> list[SweepRun]:
    """Runs of sizes that behave alike, in the order of their first size: each run is an
    arithmetic progression of inputs with the same marks whose outputs are arithmetic too.
    A period-2 layer over 1..100000 is three runs (the invalid sizes, odd, even), not 100,000."""
    by_marks: dict[tuple[Any, ...], list[int]] = {}
    for i, row in enumerate(rows):
        by_marks.setdefault(_marks(row), []).append(i)
    runs: list[SweepRun] = []
    for indices in by_marks.values():
        start = 0
        while start < len(indices):
            end = start + 1
            if end < len(indices):
                gap = indices[end] - indices[start]
                delta = _run_delta(rows[indices[start]], rows[indices[end]])
                while (
                    end + 1 < len(indices)
                    and indices[end + 1] - indices[end] == gap
                    and _run_delta(rows[indices[end]], rows[indices[end + 1]]) == delta
                ):
                    end += 1
                end += 1
            first, last = rows[indices[start]], rows[indices[end - 1]]
            step = (last.input - first.input) // (end - start - 1) if end - start > 1 else 0
            runs.append(SweepRun(first, last, step, end - start))
            start = end
    return sorted(runs, key=lambda run: run.first.input)


def _run_delta(a: SweepRow, b: SweepRow) -> tuple[int, ...] | None:
    if a.output is None or b.output is None:
        return None
    return tuple(y - x for x, y in zip(a.output, b.output))


def parse_range(text: str) -> range | None:
    """``1..64`` or ``a..b:step`` (inclusive); None when the text is not a range.

    >>> list(parse_range("2..10:4"))
    [2, 6, 10]
    """
    import re

    match = re.fullmatch(r"\s*(\d+)\s*\.\.\s*(\d+)\s*(?::\s*(\d+))?\s*", text)
    if not match:
        if ".." in text:
            raise MalformedInputError(
                f"input size (--in): {text!r}: a sweep takes one range a..b (or a..b:step), "
                "which every spatial dimension takes; per-dimension ranges are for "
                "`convcalc net --in 3,16..64,16..64`"
            )
        return None
    start, stop, step = int(match.group(1)), int(match.group(2)), int(match.group(3) or 1)
    if start < 1 or stop < start or step < 1:
        raise MalformedInputError(f"input size: {text!r} must be a..b with 1 <= a <= b, step >= 1")
    if (stop - start) // step > 100_000:
        raise MalformedInputError(f"input size: {text!r} has more than 100,000 sizes")
    return range(start, stop + 1, step)
