"""Two networks side by side, for the design review of a change (``convcalc diff A B``).

Layers are paired by name where the names match, otherwise by sequence alignment on their
signatures (kind and main parameters), so that an inserted block shows as added rather than as
every later layer changed. Each pair is ``same`` or ``changed`` (naming what: kind, kernel,
stride, padding, dilation, channels, output shape, params, MACs, inputs), a layer of one side
only is ``added`` or ``removed``. Totals are compared with their deltas; ``Budget`` is one
``--fail-on`` rule (``params>+5%``). Plain data, no typer or rich.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, assert_never

from convcalc.errors import MalformedInputError

if TYPE_CHECKING:
    from convcalc.memory import NetworkReport
    from convcalc.netlayers import LayerResult
    from convcalc.netsizes import SizeSweep


class Status(enum.StrEnum):
    SAME = "same"
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class LayerDiff:
    """One row of the alignment: a layer of A, of B, or of both."""

    status: Status
    a: LayerResult | None
    b: LayerResult | None
    changes: tuple[str, ...] = ()  # what differs, for a changed pair: "params", "kernel", ...


@dataclass(frozen=True)
class Delta:
    """One total on both sides."""

    a: int
    b: int

    @property
    def delta(self) -> int:
        return self.b - self.a

    @property
    def ratio(self) -> Fraction | None:
        """The change relative to A (None where A is 0)."""
        return Fraction(self.delta, self.a) if self.a else None


class Metric(enum.StrEnum):
    """The totals compared, in the order shown; the names ``--fail-on`` takes."""

    PARAMS = "params"
    NON_TRAINABLE_PARAMS = "non_trainable_params"
    MACS = "macs"
    FLOPS = "flops"
    MATMUL_MACS = "matmul_macs"  # between two activations (attention), apart from macs
    ACTIVATION_BYTES = "activation_bytes"
    PEAK_ACTIVATION_BYTES = "peak_activation_bytes"
    TRAINING_BYTES = "training_bytes"


# Short names --fail-on accepts beside the metrics' own
_METRIC_ALIASES = {
    "peak": Metric.PEAK_ACTIVATION_BYTES,
    "activations": Metric.ACTIVATION_BYTES,
    "training": Metric.TRAINING_BYTES,
    "non_trainable": Metric.NON_TRAINABLE_PARAMS,
}


def metric_value(report: NetworkReport, metric: Metric) -> int:
    result, memory = report.result, report.memory
    match metric:
        case Metric.PARAMS:
            return result.total_params
        case Metric.NON_TRAINABLE_PARAMS:
            return result.total_non_trainable_params
        case Metric.MACS:
            return result.total_macs
        case Metric.FLOPS:
            return result.total_flops
        case Metric.MATMUL_MACS:
            return result.total_matmul_macs
        case Metric.ACTIVATION_BYTES:
            return memory.total_activation_bytes
        case Metric.PEAK_ACTIVATION_BYTES:
            return memory.peak_activation_bytes
        case Metric.TRAINING_BYTES:
            return memory.training_bytes
        case _:
            assert_never(metric)


@dataclass(frozen=True)
class SizesDiff:
    """With a range of input sizes: the sizes one network accepts and the other does not."""

    only_a: tuple[int | tuple[int, ...], ...]
    only_b: tuple[int | tuple[int, ...], ...]
    tried: int


@dataclass(frozen=True)
class NetworkDiff:
    a: NetworkReport
    b: NetworkReport
    layers: tuple[LayerDiff, ...]
    totals: tuple[tuple[Metric, Delta], ...]
    sizes: SizesDiff | None = None

    @property
    def identical(self) -> bool:
        return (
            all(row.status is Status.SAME for row in self.layers)
            and all(delta.delta == 0 for _, delta in self.totals)
            and self.a.result.output_shape == self.b.result.output_shape
            and (self.sizes is None or not (self.sizes.only_a or self.sizes.only_b))
        )

    def count(self, status: Status) -> int:
        return sum(row.status is status for row in self.layers)

    def total(self, metric: Metric) -> Delta:
        return dict(self.totals)[metric]

    @property
    def shown_totals(self) -> tuple[tuple[Metric, Delta], ...]:
        """The totals a table shows: the MatMul MACs only where either network has some."""
        return tuple(
            (metric, delta)
            for metric, delta in self.totals
            if metric is not Metric.MATMUL_MACS or delta.a or delta.b
        )


def diff_networks(
    a: NetworkReport,
    b: NetworkReport,
    sizes_a: SizeSweep | None = None,
    sizes_b: SizeSweep | None = None,
) -> NetworkDiff:
    """Align the layers of two runs and compare them and their totals."""
    layers = align(a.result.layers, b.result.layers)
    totals = tuple((m, Delta(metric_value(a, m), metric_value(b, m))) for m in Metric)
    sizes = None
    if sizes_a is not None and sizes_b is not None:
        valid_a, valid_b = set(sizes_a.valid_sizes), set(sizes_b.valid_sizes)
        sizes = SizesDiff(
            tuple(s for s in sizes_a.valid_sizes if s not in valid_b),
            tuple(s for s in sizes_b.valid_sizes if s not in valid_a),
            len(sizes_a.records),
        )
    return NetworkDiff(a, b, tuple(layers), totals, sizes)


def _named(layer: LayerResult) -> bool:
    return layer.name != str(layer.index)


def _key(layer: LayerResult) -> tuple[str, str]:
    """What aligns a layer: its name where it has one, else its signature."""
    return ("name", layer.name) if _named(layer) else ("layer", layer.summary)


def align(a: tuple[LayerResult, ...], b: tuple[LayerResult, ...]) -> list[LayerDiff]:
    """The layers of A and B in one sequence: pairs (same or changed) and one-sided layers.

    Layers align by name where both are named the same; otherwise by sequence alignment on their
    signatures; inside a block that differs, layers of the same kind pair up in order. The
    common start and end are paired first (a change is usually local), and what is left is
    aligned only within MAX_ALIGNMENT cells (sequence alignment is quadratic on long runs of
    alike layers); past that, in order.
    """
    keys_a, keys_b = [_key(x) for x in a], [_key(y) for y in b]
    start = 0
    while start < min(len(a), len(b)) and keys_a[start] == keys_b[start]:
        start += 1
    end = 0
    while end < min(len(a), len(b)) - start and keys_a[-1 - end] == keys_b[-1 - end]:
        end += 1
    middle = _align_keys(a[start : len(a) - end], b[start : len(b) - end], _key)
    pairs = (
        list(zip(a[:start], b[:start])) + middle + list(zip(a[len(a) - end :], b[len(b) - end :]))
    )
    names = {x.name: y.name for x, y in pairs if x is not None and y is not None}
    names["input"] = "input"
    rows = []
    for x, y in pairs:
        if x is None:
            rows.append(LayerDiff(Status.ADDED, None, y))
        elif y is None:
            rows.append(LayerDiff(Status.REMOVED, x, None))
        else:
            changes = _changes(x, y, names)
            rows.append(LayerDiff(Status.CHANGED if changes else Status.SAME, x, y, changes))
    return rows


# Cells (layers of A x layers of B) a sequence alignment may take; a larger block that differs
# is paired in order instead (a diff of two 100,000-layer models stays linear).
MAX_ALIGNMENT = 4_000_000

Pairs = list[tuple["LayerResult | None", "LayerResult | None"]]


def _align_keys(
    a: tuple[LayerResult, ...], b: tuple[LayerResult, ...], key: Callable[[LayerResult], object]
) -> Pairs:
    """Pairs of a sequence alignment of ``a`` and ``b`` on ``key``: runs of equal keys pair up;
    inside a block that differs, layers of one kind pair in order (when aligning on signatures),
    the rest are one-sided."""
    import difflib

    if not a or not b or len(a) * len(b) > MAX_ALIGNMENT:
        return _in_order(a, b)
    pairs: Pairs = []
    matcher = difflib.SequenceMatcher(None, [key(x) for x in a], [key(y) for y in b], False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pairs.extend(zip(a[i1:i2], b[j1:j2]))
        elif tag == "replace" and key is _key:  # pair the layers of one kind in order
            pairs.extend(_align_keys(a[i1:i2], b[j1:j2], _kind))
        else:
            pairs.extend((x, None) for x in a[i1:i2])
            pairs.extend((None, y) for y in b[j1:j2])
    return pairs


def _kind(layer: LayerResult) -> object:
    return layer.type


def _in_order(a: tuple[LayerResult, ...], b: tuple[LayerResult, ...]) -> Pairs:
    """Past the alignment budget: the layers paired in order, the longer side's rest one-sided."""
    pairs: Pairs = list(zip(a, b))
    pairs.extend((x, None) for x in a[len(b) :])
    pairs.extend((None, y) for y in b[len(a) :])
    return pairs


def _window(layer: LayerResult, attribute: str) -> tuple[object, ...] | None:
    if layer.shape is None:
        return None
    dims = layer.shape.dims
    if attribute == "padding":
        return tuple((d.pad_before, d.pad_after) for d in dims)
    return tuple(getattr(d, attribute) for d in dims)


def _changes(x: LayerResult, y: LayerResult, names: dict[str, str]) -> tuple[str, ...]:
    """What differs between two paired layers (their names aside)."""
    changes = []
    if x.type != y.type:
        changes.append("kind")
    for attribute in ("kernel", "stride", "padding", "dilation"):
        if _window(x, attribute) != _window(y, attribute):
            changes.append(attribute)
    if len(x.output_shape) > 1 and len(y.output_shape) > 1:
        if x.output_shape[1] != y.output_shape[1]:
            changes.append("channels")
    if x.output_shape != y.output_shape:
        changes.append("output shape")
    if x.params != y.params:
        changes.append("params")
    if x.non_trainable_params != y.non_trainable_params:
        changes.append("non-trainable params")
    if x.macs != y.macs:
        changes.append("MACs")
    wired = x.explicit_from or y.explicit_from or x.is_merge or y.is_merge
    if wired and tuple(names.get(s, s) for s in x.sources) != y.sources:
        # a layer that reads the one before it reads whatever was inserted before it: only an
        # explicit `from` (a skip, a merge) is wiring that can change
        changes.append("inputs")
    if not changes and x.summary != y.summary:
        changes.append("settings")  # what the summary says (bias, ceil_mode, ...)
    return tuple(changes)


# --- budgets (--fail-on) ------------------------------------------------------------------------

_SUFFIXES = {
    "": 1,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
    "ki": 2**10,
    "mi": 2**20,
    "gi": 2**30,
    "ti": 2**40,
}
_BUDGET = re.compile(
    r"^\s*(?P<metric>[a-z_]+)\s*>\s*(?P<sign>[+-]?)\s*(?P<number>[0-9]+(?:\.[0-9]+)?)"
    r"\s*(?P<unit>%|[kmgt]i?b?|b)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Budget:
    """``METRIC>+AMOUNT``: B may exceed A by at most AMOUNT (a count, or a percentage of A)."""

    text: str
    metric: Metric
    amount: Fraction
    percent: bool

    def exceeded(self, diff: NetworkDiff) -> str | None:
        """Why the budget is exceeded, or None."""
        delta = diff.total(self.metric)
        if self.percent:
            if delta.a == 0:
                over = delta.delta > 0
            else:
                over = Fraction(delta.delta * 100, delta.a) > self.amount
        else:
            over = delta.delta > self.amount
        if not over:
            return None
        change = f"{delta.delta:+,}"
        if delta.ratio is not None:
            change += f" ({float(delta.ratio) * 100:+.2f}%)"
        return f"{self.text}: {self.metric.value} {delta.a:,} -> {delta.b:,}, {change}"


def parse_budget(text: str) -> Budget:
    """``params>+5%``, ``peak>+0``, ``macs>+1G``, ``training_bytes>+512MiB``.

    >>> parse_budget("macs>+1G").amount, parse_budget("params>+5%").percent
    (Fraction(1000000000, 1), True)
    """
    match = _BUDGET.match(text)
    if match is None:
        raise MalformedInputError(
            f"--fail-on: {text!r}: write METRIC>+AMOUNT, e.g. params>+5%, peak>+0, macs>+1G "
            f"(metrics: {', '.join(m.value for m in Metric)}; also peak, activations, training)"
        )
    name = match.group("metric").lower()
    metric = _METRIC_ALIASES.get(name) or next((m for m in Metric if m.value == name), None)
    if metric is None:
        raise MalformedInputError(
            f"--fail-on: {text!r}: unknown metric {name!r} (metrics: "
            f"{', '.join(m.value for m in Metric)}; also peak, activations, training)"
        )
    unit = (match.group("unit") or "").lower()
    number = Fraction(match.group("number"))
    if match.group("sign") == "-":
        number = -number
    if unit == "%":
        return Budget(text.strip(), metric, number, True)
    scale = _SUFFIXES.get(unit.removesuffix("b"))
    if scale is None:
        raise MalformedInputError(f"--fail-on: {text!r}: unknown unit {unit!r} (K, M, G, KiB, %)")
    return Budget(text.strip(), metric, number * scale, False)
