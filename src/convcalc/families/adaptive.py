"""Adaptive pools, torch.nn.AdaptiveAvgPoolNd and AdaptiveMaxPoolNd: windows
``[floor(i*in/out), ceil((i+1)*in/out))`` from the output size asked for (``shapes.AdaptiveDim``);
their trace step, reference and working."""

from __future__ import annotations

import itertools
from fractions import Fraction
from typing import TYPE_CHECKING

from convcalc.families.base import Family
from convcalc.ops import OpKind
from convcalc.shapes import AdaptiveShape
from convcalc.specs import LayerSpec

if TYPE_CHECKING:
    import numpy as np

    from convcalc.steps import Step, Trace


class Adaptive(Family):
    net_keys = frozenset({"output_size", "return_indices"})
    printed_positional = ("output_size",)

    def step(self, trace: Trace, o: int, pos: tuple[int, ...]) -> Step:
        return adaptive_step(trace, o, pos)

    def reference(
        self, spec: LayerSpec, x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None
    ) -> np.ndarray:
        from convcalc.reference import adaptive_pool

        return adaptive_pool(spec, x)

    def step_text(self, trace: Trace, step: Step) -> tuple[str, str]:
        from convcalc.steps import approx, pool_text

        return pool_text(step, trace.spec.count_include_pad), approx(step.value)

    def params(self, spec: LayerSpec) -> dict[str, object]:
        return {"output_size": list(spec.output_size)}


ADAPTIVEAVGPOOL = Adaptive(OpKind.ADAPTIVEAVGPOOL)
ADAPTIVEMAXPOOL = Adaptive(OpKind.ADAPTIVEMAXPOOL)


def adaptive_step(trace: Trace, c: int, pos: tuple[int, ...]) -> Step:
    """Output element ``pos`` of an adaptive pool: its window ``[floor(i*in/out),
    ceil((i+1)*in/out))`` per dimension, all of it read (no padding)."""
    from convcalc.steps import Step, Term, max_step
    from convcalc.tensors import normalise

    shape = trace.shape
    assert isinstance(shape, AdaptiveShape)
    window = tuple(dim.window(i) for dim, i in zip(shape.dims, pos))
    terms = [
        Term((c, *at), trace.x[(c, *at)], None, None, trace.x[(c, *at)])
        for at in itertools.product(*(range(a, z) for a, z in window))
    ]
    if trace.spec.kind is OpKind.ADAPTIVEMAXPOOL:
        return max_step((c, *pos), terms, window)
    total = sum((t.input_value for t in terms), 0)
    spans = " x ".join(f"[{a}, {z})" for a, z in window)
    return Step(
        (c, *pos),
        tuple(terms),
        normalise(Fraction(total) / len(terms)),
        total=total,
        divisor=len(terms),
        divisor_reason=f"the window {spans}: {len(terms)} element(s)",
        window=window,
    )
