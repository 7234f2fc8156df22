"""Which input sizes a network accepts: run a planned network over a range of spatial sizes
(``convcalc net SPEC --in 3,16..512``) and say which are valid, as progressions, with the first
layer that fails for every run of invalid sizes. Standard library only.

A size is valid when every layer accepts its input, every merge lines up and every ``expect``
holds. The plan is made once; layer shapes are memoised by input shape across the sweep.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from convcalc.errors import MalformedInputError
from convcalc.neteval import Failure, Memo
from convcalc.netlayers import Plan, Shape
from convcalc.netrun import check_shapes

MAX_SIZES = 100_000  # input shapes one sweep may run
NEAR_REACH = 4096  # how far --near looks on each side when no range bounds it

_ITEM = re.compile(
    r"^(?:(?P<one>-?[0-9]+)|(?P<lo>-?[0-9]+)\.\.(?P<hi>-?[0-9]+)(?::(?P<step>[0-9]+))?)$"
)


@dataclass(frozen=True)
class InputRanges:
    """``--in C,LO..HI`` or per dimension: the channels and, per spatial dimension, the sizes.
    ``square``: one range given for every spatial dimension (they take the same value)."""

    channels: int
    dims: tuple[tuple[int, int, int], ...]  # (lo, hi, step) per dimension, or one when square
    square: bool

    def sizes(self, ndim: int) -> list[Shape]:
        if self.square:
            lo, hi, step = self.dims[0]
            return [(size,) * ndim for size in range(lo, hi + 1, step)]
        return list(itertools.product(*(range(lo, hi + 1, step) for lo, hi, step in self.dims)))

    def count(self) -> int:
        total = 1
        for lo, hi, step in self.dims:
            total *= len(range(lo, hi + 1, step))
        return total


def parse_ranges(text: str, ndim: int | None, name: str = "--in") -> InputRanges:
    """``3,16..512`` (every spatial dimension takes each size), ``3,224,16..512`` or
    ``3,16..64,16..64`` (per dimension; every combination runs).

    >>> parse_ranges("3,16..64", 2)
    InputRanges(channels=3, dims=((16, 64, 1),), square=True)
    """
    items = re.split(r"[,x×\s]+", text.strip())
    form = f"{name}: {text!r}: expected C,LO..HI[:STEP] or C,H,LO..HI (positive integers, LO <= HI)"
    parsed: list[tuple[int, int, int]] = []
    for item in items:
        match = _ITEM.match(item)
        if not match or len(item) > 130:
            raise MalformedInputError(form)
        if match.group("one"):
            value = int(match.group("one"))
            parsed.append((value, value, 1))
        else:
            step = int(match.group("step") or 1)
            parsed.append((int(match.group("lo")), int(match.group("hi")), step))
    if len(parsed) < 2 or parsed[0][0] != parsed[0][1] or parsed[0][2] != 1:
        raise MalformedInputError(form)
    if any(lo < 1 or hi < lo or step < 1 for lo, hi, step in parsed):
        raise MalformedInputError(form)
    channels, dims = parsed[0][0], tuple(parsed[1:])
    square = len(dims) == 1 and (ndim is None or ndim > 1)
    if not square and ndim is not None and len(dims) != ndim:
        raise MalformedInputError(
            f"{name}: {text!r}: the network takes {ndim} spatial dimension(s); give one range "
            f"for all of them or one value or range per dimension"
        )
    ranges = InputRanges(channels, dims, square or (ndim == 1 and len(dims) == 1))
    if ranges.count() > MAX_SIZES:
        raise MalformedInputError(
            f"{name}: {text!r} is {ranges.count():,} input shapes; a sweep runs at most "
            f"{MAX_SIZES:,}"
        )
    return ranges


@dataclass(frozen=True)
class SizeRecord:
    """One input size: valid (with the output shape) or the first failure."""

    spatial: Shape
    input: Shape  # (C, *spatial)
    output: Shape | None
    failure: Failure | None

    @property
    def valid(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class FailedRun:
    """Consecutive sizes (in sweep order) that fail at the same layer; the reason at the first."""

    first: SizeRecord
    last: SizeRecord
    count: int


@dataclass(frozen=True)
class Near:
    """The valid sizes nearest to ``size`` (every spatial dimension taking the value)."""

    size: int
    valid: bool
    below: int | None
    above: int | None
    reach: int = NEAR_REACH  # how many sizes either side were tried at most


@dataclass(frozen=True)
class SizeSweep:
    """Every size run, in order."""

    source: str
    channels: int
    ndim: int
    square: bool
    records: tuple[SizeRecord, ...]
    batch: int
    near: Near | None = None

    @property
    def valid_sizes(self) -> list[int] | list[Shape]:
        if self.square:
            return [r.spatial[0] for r in self.records if r.valid]
        return [r.spatial for r in self.records if r.valid]

    @property
    def failed_runs(self) -> list[FailedRun]:
        runs: list[FailedRun] = []
        current: list[SizeRecord] = []
        for record in (*self.records, None):
            same = (
                record is not None
                and record.failure is not None
                and current
                and current[0].failure is not None
                and current[0].failure.layer.number == record.failure.layer.number
            )
            if same:
                assert record is not None
                current.append(record)
                continue
            if current:
                runs.append(FailedRun(current[0], current[-1], len(current)))
            current = [record] if record is not None and record.failure is not None else []
        return runs

    def failures_by_layer(self) -> list[tuple[Failure, list[FailedRun]]]:
        """The failing runs grouped by the layer that fails, in order of first appearance;
        each with the failure at its first size."""
        groups: dict[int, tuple[Failure, list[FailedRun]]] = {}
        for run in self.failed_runs:
            failure = run.first.failure
            assert failure is not None, "a failed run holds failures"
            groups.setdefault(failure.layer.number, (failure, []))[1].append(run)
        return list(groups.values())

    def summary(self) -> str:
        """``valid: 16k+0 for 16..512`` (or the list, or none)."""
        if not self.square:
            valid = [r.spatial for r in self.records if r.valid]
            if not valid:
                return "valid: none"
            return f"valid: {len(valid)} of {len(self.records)} shapes"
        lo, hi = self.records[0].spatial[0], self.records[-1].spatial[0]
        return "valid: " + progressions([int(v) for v in self.valid_sizes], lo, hi)  # type: ignore[arg-type]


def progressions(valid: list[int], lo: int, hi: int) -> str:
    """The sizes of ``lo..hi`` in ``valid`` as residues of the smallest period that repeats
    from the first of them on (consecutive residues as a range), or as a list when no period
    repeats at least twice.

    >>> progressions(list(range(16, 513, 16)), 16, 512)
    '16k+0 for 16..512'
    >>> progressions([5, 6, 7, 8, 9], 1, 9)
    'every size from 5 to 9'
    >>> progressions([7, 8, 11, 12, 15, 16], 1, 16)
    '4k+0 or 4k+3 for 7..16'
    >>> progressions([s for s in range(24, 100) if s % 16 >= 8], 16, 99)
    '16k+(8..15) for 24..95'
    >>> progressions([3, 10], 1, 12)
    '3, 10'
    """
    if not valid:
        return "none"
    first, last = valid[0], valid[-1]
    if valid == list(range(first, last + 1)) and last == hi:
        return f"every size from {first} to {hi}" if first > lo else f"every size {lo}..{hi}"
    chosen = set(valid)
    span = hi - first + 1
    for period in range(1, span // 2 + 1):
        if all(
            (size in chosen) == (size + period in chosen) for size in range(first, hi - period + 1)
        ):
            residues = sorted(
                size % period for size in range(first, first + period) if size in chosen
            )
            return f"{_residues(period, residues)} for {first}..{last}"
    if len(valid) <= 40:
        return ", ".join(map(str, valid))
    return f"{len(valid)} sizes: " + ", ".join(map(str, valid[:20])) + ", ..."


def _residues(period: int, residues: list[int]) -> str:
    """``16k+0``, ``4k+0 or 4k+3``, ``16k+(8..15)``."""
    groups: list[list[int]] = []
    for residue in residues:
        if groups and residue == groups[-1][-1] + 1:
            groups[-1].append(residue)
        else:
            groups.append([residue])
    texts = []
    for group in groups:
        if len(group) > 2:
            texts.append(f"{period}k+({group[0]}..{group[-1]})")
        else:
            texts.extend(f"{period}k+{r}" for r in group)
    return " or ".join(texts)


def sweep_sizes(
    plan: Plan,
    ranges: InputRanges | None,
    batch: int | None = None,
    near: int | None = None,
    *,
    channels: int | None = None,
    ndim: int | None = None,
) -> SizeSweep:
    """Run the plan for every size of ``ranges`` and, with ``near``, around that size (within
    a square range, or NEAR_REACH either side)."""
    ndim = ndim or plan.spatial_ndim()
    if ndim is None:
        if ranges is None or ranges.square:
            raise MalformedInputError(
                "--in: the spec does not say how many spatial dimensions it takes; give one "
                "range or value per dimension (3,16..64,16..64)"
            )
        ndim = len(ranges.dims)
    if channels is None:
        assert ranges is not None, "the channels come from the ranges or the caller"
        channels = ranges.channels
    n = batch or plan.batch or 1
    memo = Memo()
    records: tuple[SizeRecord, ...] = ()
    if ranges is not None:
        _check_work(ranges.count(), len(plan.layers))
        records = tuple(_record(plan, channels, spatial, n, memo) for spatial in ranges.sizes(ndim))
    found = None
    if near is not None:
        if ranges is not None and not ranges.square:
            raise MalformedInputError(
                "--near: every spatial dimension takes N; give one range for all of them "
                "(3,16..512) or --in C"
            )
        lo, hi = (ranges.dims[0][0], ranges.dims[0][1]) if ranges else (1, near + NEAR_REACH)
        found = nearest(plan, channels, ndim, n, near, lo, hi, memo)
    square = ranges.square if ranges is not None else True
    return SizeSweep(plan.source, channels, ndim, square, records, n, found)


def _check_work(sizes: int, layers: int) -> None:
    """Refuse a sweep of more than MAX_SWEEP_WORK layer evaluations before it starts."""
    from convcalc.boundary import MAX_SWEEP_WORK

    if sizes * layers > MAX_SWEEP_WORK:
        raise MalformedInputError(
            f"--in: {sizes:,} input shapes x {layers:,} layers = {sizes * layers:,} layer "
            f"evaluations; a sweep runs at most {MAX_SWEEP_WORK:,} (see Limits in the README): "
            "narrow the range or give it a step (16..4096:16)"
        )


def _record(plan: Plan, channels: int, spatial: Shape, n: int, memo: Memo) -> SizeRecord:
    outcome = check_shapes(plan, (n, channels, *spatial), memo)
    if isinstance(outcome, Failure):
        return SizeRecord(spatial, (channels, *spatial), None, outcome)
    return SizeRecord(spatial, (channels, *spatial), outcome, None)


def nearest(
    plan: Plan, channels: int, ndim: int, n: int, size: int, lo: int, hi: int, memo: Memo
) -> Near:
    """The closest valid sizes below and above ``size`` within ``lo..hi``, at most NEAR_REACH
    either side and fewer for a long network (at most MAX_SWEEP_WORK layer evaluations)."""
    from convcalc.boundary import MAX_SWEEP_WORK

    def ok(value: int) -> bool:
        return _record(plan, channels, (value,) * ndim, n, memo).valid

    reach = min(NEAR_REACH, max(1, MAX_SWEEP_WORK // (2 * max(1, len(plan.layers)))))
    lo, hi = max(lo, size - reach), min(hi, size + reach)
    below = next((v for v in range(min(size - 1, hi), lo - 1, -1) if ok(v)), None)
    above = next((v for v in range(max(size + 1, lo), hi + 1) if ok(v)), None)
    return Near(size, ok(size), below, above, reach)
