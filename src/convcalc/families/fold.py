"""Unfold (im2col) and Fold (col2im), torch.nn.Unfold and Fold: every sliding block as a
column, and the columns summed back; their trace steps, references and working. Unfold's size
rule is the blocks rule (``shapes.blocks_dim``), Fold's ``shapes.fold_shape``."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

from convcalc.families.base import Family
from convcalc.ops import OpKind
from convcalc.shapes import FoldShape
from convcalc.specs import LayerSpec

if TYPE_CHECKING:
    import numpy as np

    from convcalc.steps import Step, Trace


class Unfold(Family):
    columns = True

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        return unfold_step(trace, o, pos)

    def trace_channels(self, trace: Trace) -> int:
        return int(trace.x.shape[0]) * math.prod(trace.spec.kernel_size)

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        from convcalc.reference import unfold_columns
        from convcalc.shapes import layer_shape

        blocks = layer_shape(spec, tuple(x.shape[1:])).output
        return unfold_columns(x, spec).reshape(-1, *blocks)

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        from convcalc.steps import num

        term = step.terms[0]
        at = ",".join(map(str, term.input_index[1:] if trace.plain else term.input_index))
        work = f"padding ({at}) -> 0" if term.padding else f"x[{at}]"
        return work, num(step.value)

    def params(self, spec: LayerSpec) -> dict[str, object]:
        return {
            "kernel_size": list(spec.kernel_size),
            "stride": list(spec.stride),
            "padding": [list(pair) for pair in spec.padding],
            "dilation": list(spec.dilation),
            "groups": spec.groups,
        }


class Fold(Unfold):
    columns = False

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        return fold_step(trace, o, pos)

    def trace_channels(self, trace: Trace) -> int:
        return int(trace.x.shape[0]) // math.prod(trace.spec.kernel_size)

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        from convcalc.reference import fold

        return fold(spec, x)

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        from convcalc.steps import num

        parts = [
            f"col[{r},{c}] {num(t.input_value)}" for t in step.terms for r, c in [t.input_index]
        ]
        count = len(step.terms)
        work = (
            " + ".join(parts) + f"  ({count} contribution{'s' if count != 1 else ''})"
            if parts
            else "0 (no block reaches it)"
        )
        return work, num(step.value)


UNFOLD = Unfold(OpKind.UNFOLD)
FOLD = Fold(OpKind.FOLD)


def unfold_step(trace: Trace, row: int, block: tuple[int, ...]) -> Step:
    """Column matrix element (row, block): row = (channel, kernel offset), block = the window's
    position; a copy of one input element (0 where the window reads padding)."""
    import numpy as np

    from convcalc.steps import Step, Term, window_of

    spec, x = trace.spec, trace.x
    offsets = math.prod(spec.kernel_size)
    c, flat = divmod(row, offsets)
    m = np.unravel_index(flat, spec.kernel_size)
    starts = [j * s - p for j, s, (p, _) in zip(block, spec.stride, spec.padding)]
    at = tuple(st + int(mi) * d for st, mi, d in zip(starts, m, spec.dilation))
    inside = all(0 <= a < n for a, n in zip(at, x.shape[1:]))
    value = x[(c, *at)] if inside else 0
    term = Term((c, *at), value, None, None, value, not inside)
    return Step((row, *block), (term,), value, window=window_of(starts, spec))


def fold_step(trace: Trace, c: int, pos: tuple[int, ...]) -> Step:
    """Output pixel ``pos`` of channel c: the sum of every column element that lands on it
    (block j, kernel offset m with j*s + m*d - p == pos, per dimension): overlaps are added."""
    import numpy as np

    from convcalc.steps import Step, Term, landing

    spec, x = trace.spec, trace.x
    shape = trace.shape
    assert isinstance(shape, FoldShape)
    blocks = shape.blocks.output
    per_dim = landing(spec, pos, blocks)
    offsets = math.prod(spec.kernel_size)
    terms = []
    for combo in itertools.product(*per_dim):
        block = [pair[0] for pair in combo]
        taps = [pair[1] for pair in combo]
        row = c * offsets + int(np.ravel_multi_index(taps, spec.kernel_size))
        column = int(np.ravel_multi_index(block, blocks))
        value = x[row, column]
        terms.append(Term((row, column), value, None, None, value))
    total = sum((t.product for t in terms), 0)
    return Step((c, *pos), tuple(terms), total, total=total, divisor=len(terms))
