"""What a trace is made of, as data: the terms of one output element, the step that combines
them, and the traced layer that builds its steps on demand through its family's evaluator
(``families``). The shared helpers of the evaluators live here too: window positions, the
window a step reads, a sum of products, a max that keeps the first winner, the scatter's
landing places. numpy only for types; no printing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Protocol

from convcalc.errors import MalformedInputError
from convcalc.shapes import AnyShape, dilated_kernel_extent
from convcalc.specs import LayerSpec

if TYPE_CHECKING:
    import numpy as np

    from convcalc.tensors import Number

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


# Caps that keep a trace from eating the machine, checked before any work (README "Limits"):
# the whole output is computed (vectorised) only up to MAX_OUTPUT_ELEMENTS; beyond that only
# --at works, which computes the one element asked for. The steps listed (every one with
# --json, or --max-steps N) cost their multiply-accumulates plus STEP_WORK each (the step's own
# bookkeeping): at most MAX_LISTED_WORK in one run (some 15 s); --max-steps or --at choose fewer.
MAX_OUTPUT_ELEMENTS = 10**6
MAX_LISTED_WORK = 1_500_000
STEP_WORK = 3
# --at computes the whole output too when it is at most this large (it costs milliseconds).
AT_OUTPUT_ELEMENTS = 4096


class Evaluator(Protocol):
    """What a trace asks of its op family (``families.base.Family`` is one)."""

    @property
    def columns(self) -> bool:
        """The output is shown as a (rows, L) column matrix (Unfold)."""
        ...

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        """How output element (o, *pos) is computed."""
        ...

    def trace_channels(self, trace: Trace) -> int:
        """The output's channel count for this data."""
        ...


@dataclass
class Trace:
    """A traced layer: the data, the parameters, the output, and each step on demand.

    Steps are built only when asked for (``step_at``, ``iter_steps``): a table shows 64 of
    them and ``--at`` one element, so their cost is what is shown, not the layer's size.
    ``output`` is computed vectorised (``reference.py``); None when the layer is traced for
    ``--at`` only and its output is larger than AT_OUTPUT_ELEMENTS.
    """

    spec: LayerSpec
    shape: AnyShape
    x: np.ndarray  # (C_in, *spatial)
    w: np.ndarray | None
    b: np.ndarray | None
    output: np.ndarray | None  # (C_out, *spatial_out)
    evaluator: Evaluator  # the family: how one output element is computed
    plain: bool = True  # the input was a plain matrix: show the output without a channel axis
    weight_plain: bool = False  # the weight was a plain kernel (one channel per group)

    @property
    def out_channels(self) -> int:
        return self.evaluator.trace_channels(self)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """(C_out, *spatial_out)."""
        return (self.out_channels, *self.shape.output)

    @property
    def step_count(self) -> int:
        return math.prod(self.output_shape)

    @property
    def terms_per_step(self) -> int:
        """At most this many multiply-accumulates (or window elements) make one step."""
        window = math.prod(self.spec.kernel_size)
        if self.w is None:
            return window
        return window * (int(self.x.shape[0]) // self.spec.groups)

    @property
    def display_shape(self) -> tuple[int, ...]:
        """The output's shape as the user's layout has it (see display_output)."""
        shape = self.output_shape
        if self.evaluator.columns:
            return (shape[0], math.prod(shape[1:]))
        return shape[1:] if self.plain and shape[0] == 1 else shape

    @property
    def display_output(self) -> np.ndarray | None:
        """The output as the user's layout has it: no channel axis for a plain matrix; an
        Unfold's as torch's (C*prod(k), L) column matrix."""
        if self.output is None:
            return None
        if self.evaluator.columns:
            return self.output.reshape(self.output.shape[0], -1)
        return self.output[0] if self.plain and self.output.shape[0] == 1 else self.output

    def step_at(self, index: tuple[int, ...]) -> Step:
        """How output element ``index`` = (channel, *position) is computed."""
        if len(index) != len(self.output_shape) or not all(
            0 <= i < n for i, n in zip(index, self.output_shape)
        ):
            raise MalformedInputError(
                f"--at: {list(index)} is outside the output of shape {list(self.output_shape)}"
            )
        return self.evaluator.step(self, index[0], tuple(index[1:]))

    def iter_steps(self) -> Iterator[Step]:
        """Every step in output order (channel first), built one at a time."""
        for o in range(self.output_shape[0]):
            for pos in positions(self.shape.output):
                yield self.evaluator.step(self, o, pos)

    def all_steps(self) -> list[Step]:
        """Every step at once: for tests and small layers only."""
        return list(self.iter_steps())


def positions(sizes: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    return itertools.product(*(range(n) for n in sizes))


def window_of(starts: list[int], spec: LayerSpec) -> tuple[tuple[int, int], ...]:
    return tuple(
        (st, st + dilated_kernel_extent(k, d))
        for st, d, k in zip(starts, spec.dilation, spec.kernel_size)
    )


def sum_step(
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


def max_step(index: tuple[int, ...], terms: list[Term], window: Any) -> Step:
    # torch scans the window in order and keeps the first maximum; padding never wins.
    winner = None
    for n, term in enumerate(terms):
        if term.padding:
            continue
        if winner is None or term.input_value > terms[winner].input_value:
            winner = n
    value = terms[winner].input_value if winner is not None else NEG_INF
    return Step(index, tuple(terms), value, winner=winner, window=window)


def landing(
    spec: LayerSpec, pos: tuple[int, ...], sources: tuple[int, ...]
) -> list[list[tuple[int, int]]]:
    """Scatter read backwards, per dimension: the (source index i, kernel tap m) pairs with
    ``i*s + m*d - p == pos``, i.e. every place a scatter-add writes to output ``pos`` (a
    transposed conv's input elements, a fold's blocks)."""
    per_dim = []
    for j, n, k, s, d, (p, _) in zip(
        pos, sources, spec.kernel_size, spec.stride, spec.dilation, spec.padding
    ):
        pairs = []
        for m in range(k):
            t = j + p - m * d
            if t % s == 0 and 0 <= t // s < n:
                pairs.append((t // s, m))
        per_dim.append(pairs)
    return per_dim


# --- the working of a step, as plain text (render lays it out) ---------------------------------


def num(value: object) -> str:
    """A value in a working: negative numbers in parentheses."""
    from convcalc.tensors import number_text

    text = number_text(value)
    return f"({text})" if text.startswith("-") and text != "-inf" else text


def approx(value: object) -> str:
    """A fraction with its decimal: ``7/2 ≈ 3.5``."""
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator} ≈ {float(value):.4g}"
    return num(value)


def products_text(step: Step) -> str:
    """``1·1 + 2·2 + …``; with several input channels one line per channel and its partial sum."""
    channels: dict[int, list[Term]] = {}
    for term in step.terms:
        channels.setdefault(term.input_index[0], []).append(term)
    if not step.terms:
        text = "0 (no input element reaches it)"
    elif len(channels) == 1:
        text = " + ".join(f"{num(t.input_value)}·{num(t.weight_value)}" for t in step.terms)
    else:
        lines = []
        for channel, terms in channels.items():
            partial = sum((t.product for t in terms), 0)
            body = " + ".join(f"{num(t.input_value)}·{num(t.weight_value)}" for t in terms)
            lines.append(f"c{channel}: {body} = {num(partial)}")
        text = "\n".join(lines)
    if step.bias is not None:
        text += f"\n+ bias {num(step.bias)}" if len(channels) > 1 else f" + b {num(step.bias)}"
    return text


def pool_text(step: Step, include_pad: bool) -> str:
    if step.winner is not None or step.divisor is None:
        parts = []
        for n, term in enumerate(step.terms):
            text = "pad" if term.padding else num(term.input_value)
            parts.append(f"[{text}]" if n == step.winner else text)
        at = step.terms[step.winner].input_index[1:] if step.winner is not None else ()
        return f"max({', '.join(parts)}) at x[{','.join(map(str, at))}]"
    counted = [t for t in step.terms if not t.padding or include_pad]
    parts = ["0" if t.padding else num(t.input_value) for t in counted]
    total = num(step.total)
    return (
        f"({' + '.join(parts)}) / {step.divisor} = {total}/{step.divisor}\n÷{step.divisor}: "
        f"{step.divisor_reason}"
    )
